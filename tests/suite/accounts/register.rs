//! `POST /auth/register`: validation, the answer's shape, duplicates (also concurrent ones)
//! and `Idempotency-Key`.

use std::sync::Arc;

use serde_json::json;
use tokio::sync::Barrier;

use super::{PASSWORD, field_of, register, unique_email};
use crate::support::TestApp;

#[tokio::test]
async fn registration_answers_a_session_and_a_customer() {
    let app = TestApp::spawn().await;
    let email = unique_email("Wanjiru");
    let reply = app
        .post(
            "/auth/register",
            None,
            json!({"email": format!("  {email} "), "password": PASSWORD,
                   "name": " Wanjiru Kamau ", "phone": "0712 345 678"}),
        )
        .await;
    let body = reply.ok(201);
    assert!(reply.position().is_some(), "X-Log-Position");
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 900);
    assert_eq!(body["refresh_token"].as_str().unwrap().len(), 43);
    let user = &body["user"];
    let mut keys: Vec<&str> = user
        .as_object()
        .unwrap()
        .keys()
        .map(|k| k.as_str())
        .collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "avatar_url",
            "created_at",
            "disabled",
            "email",
            "gender",
            "id",
            "name",
            "phone",
            "role"
        ]
    );
    assert_eq!(user["email"], email.as_str());
    assert_eq!(user["name"], "Wanjiru Kamau");
    assert_eq!(user["phone"], "254712345678");
    assert_eq!(user["role"], "customer");
    assert_eq!(user["gender"], serde_json::Value::Null);
    assert_eq!(user["avatar_url"], serde_json::Value::Null);

    // The read model answers the same user, registration time included.
    let token = body["access_token"].as_str().unwrap();
    let me = app
        .get_after("/me", Some(token), reply.position().unwrap())
        .await;
    assert_eq!(me.ok(200), user);
    app.stop().await;
}

#[tokio::test]
async fn invalid_fields_are_named() {
    let app = TestApp::spawn().await;
    let good = json!({"email": unique_email("v"), "password": PASSWORD, "name": "Achieng"});
    let cases = [
        ("email", json!("not-an-email")),
        ("password", json!("short")),
        ("password", json!("password123")),
        ("name", json!("   ")),
        ("phone", json!("0212345678")),
    ];
    for (field, value) in cases {
        let mut body = good.clone();
        body[field] = value;
        let reply = app.post("/auth/register", None, body).await;
        assert_eq!(field_of(&reply), field, "{}", reply.text);
    }
    for missing in ["email", "password", "name"] {
        let mut body = good.clone();
        body.as_object_mut().unwrap().remove(missing);
        let reply = app.post("/auth/register", None, body).await;
        assert_eq!(field_of(&reply), missing, "{}", reply.text);
    }
    // Every wrong field at once.
    let reply = app
        .post(
            "/auth/register",
            None,
            json!({"email": "x", "password": "x", "name": "", "phone": "x"}),
        )
        .await;
    let fields: Vec<&str> = reply.problem(400)["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["email", "password", "name", "phone"]);
    // Nothing was registered.
    let (accounts,): (i64,) = sqlx::query_as("SELECT count(*) FROM account_emails")
        .fetch_one(app.pool())
        .await
        .unwrap();
    assert_eq!(accounts, 0);
    app.stop().await;
}

#[tokio::test]
async fn an_email_registers_once_whatever_its_case() {
    let app = TestApp::spawn().await;
    let first = register(&app, "dup").await;
    let reply = app
        .post(
            "/auth/register",
            None,
            json!({"email": first.email.to_uppercase(), "password": PASSWORD, "name": "Other"}),
        )
        .await;
    assert_eq!(reply.problem(409)["detail"], "email already registered");
    app.stop().await;
}

#[tokio::test]
async fn twenty_concurrent_registrations_of_one_email_make_one_account() {
    let app = Arc::new(TestApp::spawn().await);
    let email = unique_email("race");
    let barrier = Arc::new(Barrier::new(20));
    let tasks: Vec<_> = (0..20)
        .map(|i| {
            let (app, barrier) = (app.clone(), barrier.clone());
            // Each task spells the address differently.
            let email = if i % 2 == 0 {
                email.to_uppercase()
            } else {
                email.clone()
            };
            tokio::spawn(async move {
                barrier.wait().await;
                let body = json!({"email": email, "password": PASSWORD, "name": format!("N{i}")});
                app.post("/auth/register", None, body).await
            })
        })
        .collect();
    let mut statuses = Vec::new();
    for task in tasks {
        let reply = task.await.unwrap();
        if reply.status == 409 {
            assert_eq!(reply.problem(409)["detail"], "email already registered");
        }
        statuses.push(reply.status.as_u16());
    }
    statuses.sort_unstable();
    assert_eq!(
        statuses.iter().filter(|s| **s == 201).count(),
        1,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 409).count(),
        19,
        "{statuses:?}"
    );
    let (accounts, registered): (i64, i64) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM account_emails), \
                (SELECT count(*) FROM events WHERE event_type = 'CustomerRegistered')",
    )
    .fetch_one(app.pool())
    .await
    .unwrap();
    assert_eq!((accounts, registered), (1, 1));
    Arc::into_inner(app).expect("tasks done").stop().await;
}

#[tokio::test]
async fn idempotency_key_replays_the_registration() {
    let app = TestApp::spawn().await;
    let key = uuid::Uuid::new_v4().to_string();
    let body = json!({"email": unique_email("idem"), "password": PASSWORD, "name": "Idem"});
    let send = |body: serde_json::Value| {
        app.client
            .post(app.url("/auth/register"))
            .header("Idempotency-Key", &key)
            .json(&body)
            .send()
    };
    let first = TestApp::read(send(body.clone()).await.unwrap()).await;
    let second = TestApp::read(send(body.clone()).await.unwrap()).await;
    first.ok(201);
    assert_eq!(second.status, 201);
    assert_eq!(second.text, first.text);
    assert_eq!(second.header("idempotent-replayed"), Some("true"));
    assert_eq!(first.header("idempotent-replayed"), None);
    assert_eq!(second.position(), first.position());
    let (accounts,): (i64,) = sqlx::query_as("SELECT count(*) FROM account_emails")
        .fetch_one(app.pool())
        .await
        .unwrap();
    assert_eq!(accounts, 1);

    let mut other = body.clone();
    other["name"] = json!("Someone else");
    let third = TestApp::read(send(other).await.unwrap()).await;
    third.problem(409);
    app.stop().await;
}
