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

#[tokio::test]
async fn repeated_failures_are_rate_limited_per_client_address() {
    let app = TestApp::spawn().await;
    let account = register(&app, "victim").await;
    for _ in 0..5 {
        login(&app, &unique_email("spray"), "guess guess")
            .await
            .problem(401);
    }
    // Another account, from the same address (127.0.0.1).
    let reply = login(&app, &account.email, PASSWORD).await;
    reply.problem(429);
    assert!(reply.header("retry-after").is_some());
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
