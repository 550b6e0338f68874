//! An admin creates accounts of any role; `GET /users` filters by role, disabled and text;
//! `POST /auth/verify` says whether an access token is live.

use chrono::{Duration, Utc};
use reqwest::Method;
use serde_json::{Value, json};
use tillroll::auth::Role;

use super::{PASSWORD, admin, field_of, login, register, unique_email};
use crate::support::TestApp;

#[tokio::test]
async fn an_admin_creates_accounts_of_any_role() {
    let app = TestApp::spawn().await;
    let (_, admin_token) = admin(&app).await;
    let email = unique_email("seller");
    let reply = app
        .post(
            "/users",
            Some(&admin_token),
            json!({"email": email, "password": PASSWORD, "name": "Otieno Seller",
                   "phone": "0712345678", "role": "seller"}),
        )
        .await;
    let user = reply.ok(201).clone();
    assert_eq!(user["role"], "seller");
    assert_eq!(user["disabled"], false);
    assert_eq!(user["phone"], "254712345678");
    let id = user["id"].as_str().unwrap();
    assert_eq!(
        reply.header("location"),
        Some(format!("/users/{id}").as_str())
    );
    let position = reply.position().expect("X-Log-Position");
    // The read model answers the same user.
    let read = app
        .get_after(&format!("/users/{id}"), Some(&admin_token), position)
        .await;
    assert_eq!(read.ok(200), &user);
    // The new seller logs in with the password the admin set.
    login(&app, &email, PASSWORD).await.ok(200);

    // Without a role: a customer.
    let plain = app
        .post(
            "/users",
            Some(&admin_token),
            json!({"email": unique_email("plain"), "password": PASSWORD, "name": "Plain"}),
        )
        .await;
    assert_eq!(plain.ok(201)["role"], "customer");

    let duplicate = app
        .post(
            "/users",
            Some(&admin_token),
            json!({"email": email, "password": PASSWORD, "name": "Again"}),
        )
        .await;
    duplicate.problem(409);
    let bad_role = app
        .post(
            "/users",
            Some(&admin_token),
            json!({"email": unique_email("x"), "password": PASSWORD, "name": "X", "role": "king"}),
        )
        .await;
    assert_eq!(field_of(&bad_role), "role");
    let customer = register(&app, "nosy").await;
    let refused = app
        .post(
            "/users",
            Some(&customer.access),
            json!({"email": unique_email("y"), "password": PASSWORD, "name": "Y"}),
        )
        .await;
    refused.problem(403);
    app.stop().await;
}

fn emails(page: &Value) -> Vec<String> {
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["email"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn users_filter_by_role_disabled_and_text() {
    let app = TestApp::spawn().await;
    let (_, admin_token) = admin(&app).await;
    let seller_email = unique_email("zawadi-seller");
    let seller = app
        .post(
            "/users",
            Some(&admin_token),
            json!({"email": seller_email, "password": PASSWORD, "name": "Zawadi Mwangi",
                   "role": "seller"}),
        )
        .await;
    let seller_id = seller.ok(201)["id"].as_str().unwrap().to_owned();
    let customer = register(&app, "kamau").await;
    let disabled = app
        .call(
            Method::PATCH,
            &format!("/users/{}", customer.id),
            Some(&admin_token),
            Some(json!({"disabled": true})),
        )
        .await;
    assert_eq!(disabled.ok(200)["disabled"], true);
    let position = disabled.position().unwrap();

    let sellers = app
        .get_after("/users?role=seller", Some(&admin_token), position)
        .await;
    assert_eq!(emails(sellers.ok(200)), std::slice::from_ref(&seller_email));
    let off = app.get("/users?disabled=true", Some(&admin_token)).await;
    assert_eq!(emails(off.ok(200)), std::slice::from_ref(&customer.email));
    assert_eq!(off.body["items"][0]["disabled"], true);
    let on = app.get("/users?disabled=false", Some(&admin_token)).await;
    assert!(!emails(on.ok(200)).contains(&customer.email));
    // `q` matches the name or the e-mail, in any case; LIKE's wildcards are literal.
    let by_name = app.get("/users?q=zAwAdI%20mw", Some(&admin_token)).await;
    assert_eq!(by_name.ok(200)["items"][0]["id"], seller_id.as_str());
    assert_eq!(by_name.body["items"].as_array().unwrap().len(), 1);
    let wildcard = app.get("/users?q=%25", Some(&admin_token)).await;
    assert_eq!(wildcard.ok(200)["items"], json!([]));
    let bad = app.get("/users?role=king", Some(&admin_token)).await;
    assert_eq!(field_of(&bad), "role");
    let bad = app.get("/users?disabled=maybe", Some(&admin_token)).await;
    assert_eq!(field_of(&bad), "disabled");
    app.stop().await;
}

#[tokio::test]
async fn verify_answers_for_live_access_tokens_only() {
    let app = TestApp::spawn().await;
    let (_, admin_token) = admin(&app).await;
    let account = register(&app, "verify").await;
    let verify = |token: &str| app.post("/auth/verify", None, json!({ "token": token }));

    let live = verify(&account.access).await;
    let body = live.ok(200);
    assert_eq!(body["valid"], true);
    assert_eq!(body["user_id"], account.id.to_string());
    assert_eq!(body["role"], "customer");
    let expires_at: chrono::DateTime<Utc> = body["expires_at"].as_str().unwrap().parse().unwrap();
    assert!(expires_at > Utc::now() && expires_at <= Utc::now() + Duration::minutes(16));

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
    for refused in [
        expired.as_str(),
        account.refresh.as_str(),
        "not.a.token",
        "",
    ] {
        let reply = verify(refused).await;
        reply.problem(401);
        assert!(reply.header("www-authenticate").is_some());
    }
    verify_missing_token_is_400(&app).await;

    // A role granted since the token was issued is the role verify reports.
    app.call(
        Method::PATCH,
        &format!("/users/{}", account.id),
        Some(&admin_token),
        Some(json!({"role": "seller"})),
    )
    .await
    .ok(200);
    assert_eq!(verify(&account.access).await.ok(200)["role"], "seller");
    // A disabled account's tokens are not live any more.
    app.call(
        Method::PATCH,
        &format!("/users/{}", account.id),
        Some(&admin_token),
        Some(json!({"disabled": true})),
    )
    .await
    .ok(200);
    verify(&account.access).await.problem(401);
    app.stop().await;
}

async fn verify_missing_token_is_400(app: &TestApp) {
    let reply = app.post("/auth/verify", None, json!({})).await;
    assert_eq!(field_of(&reply), "token");
}
