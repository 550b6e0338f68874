//! Accounts over HTTP: registration, sessions, tokens, the profile and the admin's changes.

mod addresses;
mod admin;
mod profile;
mod register;
mod sessions;
mod tokens;
mod users;

use serde_json::{Value, json};
use tillroll::commands::accounts::create_admin;
use uuid::Uuid;

use crate::support::{Reply, TestApp};

pub const PASSWORD: &str = "correct horse battery";

/// A registered account, as its registration answered.
pub struct Account {
    pub id: Uuid,
    pub email: String,
    pub access: String,
    pub refresh: String,
    pub position: i64,
    pub body: Value,
}

pub fn unique_email(tag: &str) -> String {
    format!("{tag}-{}@example.co.ke", Uuid::new_v4().simple())
}

/// Registers a customer with a fresh e-mail.
pub async fn register(app: &TestApp, tag: &str) -> Account {
    let email = unique_email(tag);
    let reply = app
        .post(
            "/auth/register",
            None,
            json!({"email": email, "password": PASSWORD, "name": "Wanjiru Kamau"}),
        )
        .await;
    account(email, &reply)
}

fn account(email: String, reply: &Reply) -> Account {
    let body = reply.ok(201).clone();
    Account {
        id: body["user"]["id"].as_str().unwrap().parse().unwrap(),
        email,
        access: body["access_token"].as_str().unwrap().to_owned(),
        refresh: body["refresh_token"].as_str().unwrap().to_owned(),
        position: reply.position().expect("X-Log-Position"),
        body,
    }
}

pub async fn login(app: &TestApp, email: &str, password: &str) -> Reply {
    app.post(
        "/auth/login",
        None,
        json!({"email": email, "password": password}),
    )
    .await
}

/// An admin (created as the CLI does) and their access token.
pub async fn admin(app: &TestApp) -> (Uuid, String) {
    let email = unique_email("admin");
    let id = create_admin(&app.state.commands, &email, PASSWORD, "Admin")
        .await
        .expect("admin created");
    let reply = login(app, &email, PASSWORD).await;
    let token = reply.ok(200)["access_token"].as_str().unwrap().to_owned();
    (id, token)
}

/// The one field a 400 names.
#[track_caller]
pub fn field_of(reply: &Reply) -> String {
    let body = reply.problem(400);
    body["errors"][0]["field"]
        .as_str()
        .unwrap_or_else(|| panic!("no field named: {body}"))
        .to_owned()
}

#[tokio::test]
async fn openapi_lists_the_account_routes() {
    let app = TestApp::spawn().await;
    let spec = app.get("/openapi.json", None).await;
    let paths = &spec.ok(200)["paths"];
    for (path, methods) in [
        ("/auth/register", &["post"][..]),
        ("/auth/login", &["post"]),
        ("/auth/refresh", &["post"]),
        ("/auth/logout", &["post"]),
        ("/me", &["get", "patch"]),
        ("/me/avatar", &["put"]),
        ("/me/addresses", &["get", "post"]),
        ("/me/addresses/{id}", &["patch", "delete"]),
        ("/auth/verify", &["post"]),
        ("/users", &["get", "post"]),
        ("/users/{id}", &["get", "patch", "delete"]),
    ] {
        for method in methods {
            assert!(
                paths[path].get(*method).is_some(),
                "{method} {path} missing from /openapi.json"
            );
        }
    }
    app.stop().await;
}
