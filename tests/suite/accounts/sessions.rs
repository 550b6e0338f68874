//! `POST /auth/login`, `/auth/refresh`, `/auth/logout`: credentials, rate limits, rotation,
//! reuse detection, and accounts that may not hold a session.

use serde_json::json;

use super::{PASSWORD, admin, field_of, login, register, unique_email};
use crate::support::{Reply, TestApp};

async fn refresh(app: &TestApp, token: &str) -> Reply {
    app.post("/auth/refresh", None, json!({"refresh_token": token}))
        .await
}

#[tokio::test]
async fn login_answers_a_session_and_hides_which_part_was_wrong() {
    let app = TestApp::spawn().await;
    let account = register(&app, "login").await;

    let reply = login(&app, &account.email.to_uppercase(), PASSWORD).await;
    let body = reply.ok(200);
    assert_eq!(body["user"], account.body["user"]);
    assert_eq!(body["token_type"], "Bearer");
    assert_ne!(body["refresh_token"], account.body["refresh_token"]);
    let me = app
        .get_after("/me", body["access_token"].as_str(), account.position)
        .await;
    assert_eq!(me.ok(200)["id"], account.id.to_string());

    // Wrong password and unknown e-mail: the same answer. (The unknown e-mail pays for a
    // password hash too: `dummy_verify` hashes with the current parameters, a unit test of
    // `auth::password` checks it; wall-clock comparisons here would be flaky under load.)
    let wrong = login(&app, &account.email, "not the password").await;
    let unknown = login(&app, &unique_email("nobody"), "not the password").await;
    assert_eq!(wrong.problem(401), unknown.problem(401));

    let reply = app
        .post("/auth/login", None, json!({"email": "a@b.co"}))
        .await;
    assert_eq!(field_of(&reply), "password");
    app.stop().await;
}

#[tokio::test]
async fn repeated_failures_are_rate_limited_per_account() {
    let app = TestApp::spawn().await;
    let account = register(&app, "limited").await;
    for _ in 0..5 {
        login(&app, &account.email, "wrong password!")
            .await
            .problem(401);
    }
    // Even the right password waits now.
    let reply = login(&app, &account.email, PASSWORD).await;
    reply.problem(429);
    let retry: u64 = reply.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=15 * 60).contains(&retry), "{retry}");
    app.stop().await;
}

/// Failures from one address spread over many accounts lock out no bystander behind the same
/// address (a NAT, a proxy) until they reach the address's own, higher threshold.
#[tokio::test]
async fn repeated_failures_are_rate_limited_per_client_address() {
    use tillroll::auth::rate_limit::ADDRESS_ATTEMPTS;
    let app = TestApp::spawn().await;
    let account = register(&app, "victim").await;
    for _ in 0..5 {
        login(&app, &unique_email("spray"), "guess guess")
            .await
            .problem(401);
    }
    // Another account, from the same address (127.0.0.1): the spray is not its problem.
    login(&app, &account.email, PASSWORD).await.ok(200);
    let spray = (5..ADDRESS_ATTEMPTS)
        .map(|_| async { login(&app, &unique_email("spray"), "guess guess").await });
    for reply in futures_util::future::join_all(spray).await {
        reply.problem(401);
    }
    // The address has used its budget: now every account waits, from here.
    let reply = login(&app, &account.email, PASSWORD).await;
    reply.problem(429);
    assert!(reply.header("retry-after").is_some());
    login_from(&app, 9, &account.email, PASSWORD).await.ok(200);
    app.stop().await;
}

/// A burst of guesses at one account sent at once, the right password among them: each is
/// counted before its password is checked, so at most the account's threshold of them are
/// checked at all and the rest are 429 — from one address or from forty.
#[tokio::test]
async fn concurrent_guesses_cannot_overrun_the_limit() {
    use tillroll::auth::rate_limit::ACCOUNT_ATTEMPTS;
    let app = TestApp::spawn().await;
    let account = register(&app, "burst").await;
    let guesses = (0..100).map(|i| {
        let password = if i == 57 { PASSWORD } else { "wrong password!" };
        let email = account.email.clone();
        let app = &app;
        async move { login(app, &email, password).await }
    });
    let replies = futures_util::future::join_all(guesses).await;
    let count = |status: u16| replies.iter().filter(|r| r.status == status).count();
    let checked = count(401) + count(200);
    assert!(
        checked <= ACCOUNT_ATTEMPTS as usize,
        "{checked} passwords checked"
    );
    assert_eq!(
        checked + count(429),
        100,
        "{:?}",
        replies.iter().map(|r| r.status).collect::<Vec<_>>()
    );

    let other = register(&app, "distributed").await;
    let guesses = (10..50u8).map(|last| {
        let email = other.email.clone();
        let app = &app;
        async move { login_from(app, last, &email, "wrong password!").await }
    });
    let replies = futures_util::future::join_all(guesses).await;
    let refused = replies.iter().filter(|r| r.status == 429).count();
    let wrong = replies.iter().filter(|r| r.status == 401).count();
    assert_eq!(wrong, ACCOUNT_ATTEMPTS as usize);
    assert_eq!(refused, 40 - wrong);
    app.stop().await;
}

/// The counts live in the database: a restarted node (or any other node) still refuses.
#[tokio::test]
async fn the_limit_survives_a_restart() {
    let mut app = TestApp::spawn().await;
    let account = register(&app, "persistent").await;
    for _ in 0..5 {
        login(&app, &account.email, "wrong password!")
            .await
            .problem(401);
    }
    app.restart().await;
    login(&app, &account.email, PASSWORD).await.problem(429);
    app.stop().await;
}

#[tokio::test]
async fn refresh_rotates_and_reuse_revokes_the_family() {
    let app = TestApp::spawn().await;
    let account = register(&app, "rotate").await;
    // A second session of the same user, which the reuse must not touch.
    let other = login(&app, &account.email, PASSWORD).await;
    let other_refresh = other.ok(200)["refresh_token"].as_str().unwrap().to_owned();

    let first = refresh(&app, &account.refresh).await;
    let body = first.ok(200).clone();
    assert_eq!(body["user"]["id"], account.id.to_string());
    assert_eq!(body["token_type"], "Bearer");
    let second_refresh = body["refresh_token"].as_str().unwrap();
    assert_ne!(second_refresh, account.refresh);
    app.get_after("/me", body["access_token"].as_str(), account.position)
        .await
        .ok(200);

    // The spent token again: a leak. The whole family is revoked, the new token included.
    refresh(&app, &account.refresh).await.problem(401);
    refresh(&app, second_refresh).await.problem(401);
    let (family_size, revoked): (i64, i64) = sqlx::query_as(
        "SELECT count(*), count(revoked_at) FROM refresh_tokens WHERE family_id = \
         (SELECT family_id FROM refresh_tokens WHERE customer_id = $1 ORDER BY issued_at LIMIT 1)",
    )
    .bind(account.id)
    .fetch_one(app.pool())
    .await
    .unwrap();
    assert_eq!((family_size, revoked), (2, 2));

    // The other session lives on.
    refresh(&app, &other_refresh).await.ok(200);
    app.stop().await;
}

#[tokio::test]
async fn refresh_refuses_garbage() {
    let app = TestApp::spawn().await;
    refresh(&app, "nope").await.problem(401);
    refresh(&app, &"a".repeat(43)).await.problem(401);
    let reply = app.post("/auth/refresh", None, json!({})).await;
    assert_eq!(field_of(&reply), "refresh_token");
    app.stop().await;
}

#[tokio::test]
async fn logout_ends_the_session() {
    let app = TestApp::spawn().await;
    let account = register(&app, "logout").await;
    let body = json!({"refresh_token": account.refresh});
    app.post("/auth/logout", None, body.clone())
        .await
        .problem(401);
    let reply = app
        .post("/auth/logout", Some(&account.access), body.clone())
        .await;
    assert_eq!(reply.status, 204);
    refresh(&app, &account.refresh).await.problem(401);
    // Twice is fine.
    let again = app.post("/auth/logout", Some(&account.access), body).await;
    assert_eq!(again.status, 204);
    app.stop().await;
}

#[tokio::test]
async fn a_disabled_account_cannot_log_in_refresh_or_use_its_tokens() {
    let app = TestApp::spawn().await;
    let (_, admin_token) = admin(&app).await;
    let account = register(&app, "disabled").await;
    let path = format!("/users/{}", account.id);
    app.call(
        reqwest::Method::PATCH,
        &path,
        Some(&admin_token),
        Some(json!({"disabled": true})),
    )
    .await
    .ok(200);

    let reply = login(&app, &account.email, PASSWORD).await;
    assert_eq!(reply.problem(401)["detail"], "this account is disabled");
    // A wrong password learns nothing about the account.
    let wrong = login(&app, &account.email, "wrong password!").await;
    assert_eq!(wrong.problem(401)["detail"], "wrong e-mail or password");
    refresh(&app, &account.refresh).await.problem(401);
    app.get("/me", Some(&account.access)).await.problem(401);

    let enabled = app
        .call(
            reqwest::Method::PATCH,
            &path,
            Some(&admin_token),
            Some(json!({"disabled": false})),
        )
        .await;
    enabled.ok(200);
    let reply = login(&app, &account.email, PASSWORD).await;
    let token = reply.ok(200)["access_token"].as_str().unwrap().to_owned();
    app.get_after("/me", Some(&token), enabled.position().unwrap())
        .await
        .ok(200);
    // Disabling revoked the old sessions for good.
    refresh(&app, &account.refresh).await.problem(401);
    app.stop().await;
}

#[tokio::test]
async fn an_expired_refresh_token_is_refused() {
    let app = TestApp::spawn().await;
    let account = register(&app, "expiry").await;
    let other = login(&app, &account.email, PASSWORD).await;
    let other_refresh = other.ok(200)["refresh_token"].as_str().unwrap().to_owned();
    // The registration's session reaches its expiry (the clock of the row, not of the test).
    let expired = sqlx::query(
        "UPDATE refresh_tokens SET expires_at = now() - interval '1 second' \
         WHERE token_hash = (SELECT token_hash FROM refresh_tokens \
                             WHERE customer_id = $1 ORDER BY issued_at LIMIT 1)",
    )
    .bind(account.id)
    .execute(app.pool())
    .await
    .unwrap();
    assert_eq!(expired.rows_affected(), 1);
    refresh(&app, &account.refresh).await.problem(401);
    // Its expiry is no reuse: the other session is untouched.
    refresh(&app, &other_refresh).await.ok(200);
    app.stop().await;
}

#[tokio::test]
async fn logout_ends_only_the_callers_own_session() {
    let app = TestApp::spawn().await;
    let alice = register(&app, "alice").await;
    let bob = register(&app, "bob").await;
    let second = login(&app, &alice.email, PASSWORD).await;
    let second_refresh = second.ok(200)["refresh_token"].as_str().unwrap().to_owned();

    // Bob presents Alice's refresh token: answered as a logout, changing nothing.
    let body = json!({"refresh_token": alice.refresh});
    let reply = app.post("/auth/logout", Some(&bob.access), body).await;
    assert_eq!(reply.status, 204, "{}", reply.text);
    let alice_next = refresh(&app, &alice.refresh).await;
    let alice_next = alice_next.ok(200)["refresh_token"]
        .as_str()
        .unwrap()
        .to_owned();
    refresh(&app, &bob.refresh).await.ok(200);

    // Alice logs out of one session: the other lives on.
    let body = json!({"refresh_token": alice_next});
    let reply = app.post("/auth/logout", Some(&alice.access), body).await;
    assert_eq!(reply.status, 204, "{}", reply.text);
    refresh(&app, &alice_next).await.problem(401);
    refresh(&app, &second_refresh).await.ok(200);
    app.stop().await;
}

/// A client whose requests come from `127.0.0.<last>`: the login limiter counts failures per
/// client address too, and this test is about the per-account count.
fn client_from(last: u8) -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(std::net::IpAddr::from([127, 0, 0, last]))
        .build()
        .unwrap()
}

async fn login_from(app: &TestApp, last: u8, email: &str, password: &str) -> Reply {
    let request = client_from(last)
        .post(app.url("/auth/login"))
        .json(&json!({"email": email, "password": password}));
    TestApp::read(request.send().await.expect("the server answers")).await
}

#[tokio::test]
async fn a_successful_login_resets_the_accounts_failure_count() {
    let app = TestApp::spawn().await;
    let account = register(&app, "forgetful").await;
    // Four failures (one short of the limit), a success, four more: no 429, since the
    // success forgot the first four. Each round from its own address.
    for (round, last) in [(0, 2), (1, 4)] {
        for _ in 0..4 {
            login_from(&app, last, &account.email, "wrong password!")
                .await
                .problem(401);
        }
        let reply = login_from(&app, last + 1, &account.email, PASSWORD).await;
        assert_eq!(reply.status, 200, "round {round}: {}", reply.text);
    }
    // And the limit itself still holds: five failures in a row are.
    for _ in 0..5 {
        login_from(&app, 6, &account.email, "wrong password!")
            .await
            .problem(401);
    }
    login_from(&app, 7, &account.email, PASSWORD)
        .await
        .problem(429);
    app.stop().await;
}

#[tokio::test]
async fn two_concurrent_refreshes_of_one_token_issue_one_session() {
    let app = TestApp::spawn().await;
    let account = register(&app, "twice").await;
    let (a, b) = tokio::join!(
        refresh(&app, &account.refresh),
        refresh(&app, &account.refresh)
    );
    let mut statuses = [a.status.as_u16(), b.status.as_u16()];
    statuses.sort_unstable();
    assert_eq!(statuses, [200, 401], "{} / {}", a.text, b.text);
    // The loser presented a spent token, which is what a thief does: the family is revoked,
    // the winner's new token included, and exactly one successor was ever issued.
    let winner = if a.status == 200 { &a } else { &b };
    let next = winner.body["refresh_token"].as_str().unwrap();
    refresh(&app, next).await.problem(401);
    let (issued, live): (i64, i64) = sqlx::query_as(
        "SELECT count(*), count(*) FILTER (WHERE revoked_at IS NULL) FROM refresh_tokens \
         WHERE customer_id = $1",
    )
    .bind(account.id)
    .fetch_one(app.pool())
    .await
    .unwrap();
    assert_eq!((issued, live), (2, 0));
    app.stop().await;
}

/// Another `tillroll` process on the same database: the real binary, as a second node.
struct OtherProcess {
    child: std::process::Child,
    base: String,
}

impl OtherProcess {
    async fn start(app: &TestApp) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .unwrap()
            .port();
        let child = std::process::Command::new(env!("CARGO_BIN_EXE_tillroll"))
            .arg("serve")
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("DATABASE_URL", app.database_url())
            .env("TILLROLL_LISTEN", format!("127.0.0.1:{port}"))
            .env("RUST_LOG", "warn")
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("the tillroll binary starts");
        let other = Self {
            child,
            base: format!("http://127.0.0.1:{port}"),
        };
        app.eventually(std::time::Duration::from_secs(30), || async {
            let answer = app
                .client
                .get(format!("{}/health", other.base))
                .send()
                .await;
            answer.is_ok_and(|r| r.status() == 200).then_some(())
        })
        .await;
        other
    }

    fn stop(mut self) {
        let _ = std::process::Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
    }
}

#[tokio::test]
async fn a_block_made_by_another_process_stops_the_tokens_here() {
    let app = TestApp::spawn().await;
    let (_, admin_token) = admin(&app).await;
    let account = register(&app, "elsewhere").await;
    // This process has seen the account's token work (and remembers it is not blocked).
    app.get_after("/me", Some(&account.access), account.position)
        .await
        .ok(200);

    // The admin disables the account through the other process.
    let other = OtherProcess::start(&app).await;
    let disabled = app
        .client
        .patch(format!("{}/users/{}", other.base, account.id))
        .bearer_auth(&admin_token)
        .json(&json!({"disabled": true}))
        .send()
        .await
        .unwrap();
    let disabled = TestApp::read(disabled).await;
    other.stop();
    assert_eq!(disabled.status, 200, "{}", disabled.text);
    // Here the token stops working soon (README: within 2 s), long before it expires.
    let refused = app
        .eventually(std::time::Duration::from_secs(10), || async {
            let reply = app.get("/me", Some(&account.access)).await;
            (reply.status == 401).then_some(reply)
        })
        .await;
    refused.problem(401);
    app.stop().await;
}
