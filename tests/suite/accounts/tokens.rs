//! Access tokens forged or bent every usual way are refused over HTTP.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{Duration, Utc};
use serde_json::json;
use tillroll::auth::Role;
use tillroll::auth::jwt::JwtKeys;

use super::register;
use crate::support::TestApp;

fn b64(value: &serde_json::Value) -> String {
    URL_SAFE_NO_PAD.encode(value.to_string())
}

#[tokio::test]
async fn forged_and_expired_tokens_are_401() {
    let app = TestApp::spawn().await;
    let account = register(&app, "jwt").await;
    let secret: String = sqlx::query_scalar("SELECT value FROM settings WHERE name = 'jwt_secret'")
        .fetch_one(app.pool())
        .await
        .unwrap();
    let now = Utc::now().timestamp();
    let claims = json!({"sub": account.id, "role": "admin", "iat": now, "exp": now + 600,
                        "jti": uuid::Uuid::new_v4()});

    // The genuine token works (so the refusals below are about the forgery).
    app.get_after("/me", Some(&account.access), account.position)
        .await
        .ok(200);

    let none = format!(
        "{}.{}.",
        b64(&json!({"alg": "none", "typ": "JWT"})),
        b64(&claims)
    );
    let expired = app
        .state
        .jwt
        .issue(
            account.id,
            Role::Customer,
            Utc::now() - Duration::hours(1),
            std::time::Duration::from_secs(60),
        )
        .unwrap();
    let mut parts: Vec<String> = account.access.split('.').map(str::to_owned).collect();
    parts[1] = b64(&claims);
    let tampered = parts.join(".");
    let wrong_key = JwtKeys::new(&[7u8; 32])
        .issue(
            account.id,
            Role::Admin,
            Utc::now(),
            std::time::Duration::from_secs(600),
        )
        .unwrap();
    // Signed by hand with the real secret: the server's JWT crypto signs HS256 only.
    let input = format!(
        "{}.{}",
        b64(&json!({"alg": "HS512", "typ": "JWT"})),
        b64(&claims)
    );
    let mut mac =
        <hmac::Hmac<sha2::Sha512> as hmac::KeyInit>::new_from_slice(secret.as_bytes()).unwrap();
    hmac::Mac::update(&mut mac, input.as_bytes());
    let hs512 = format!(
        "{input}.{}",
        URL_SAFE_NO_PAD.encode(hmac::Mac::finalize(mac).into_bytes())
    );
    let garbage = "not.a.token".to_owned();

    for (what, token) in [
        ("alg none", none),
        ("expired", expired),
        ("tampered payload", tampered),
        ("wrong key", wrong_key),
        ("HS512", hs512),
        ("garbage", garbage),
    ] {
        let reply = app.get("/me", Some(&token)).await;
        assert_eq!(reply.status, 401, "{what}: {}", reply.text);
        reply.problem(401);
        let admin_route = app.get("/users", Some(&token)).await;
        assert_eq!(admin_route.status, 401, "{what} on /users");
    }
    app.get("/me", None).await.problem(401);
    app.stop().await;
}
