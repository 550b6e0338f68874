//! The admin's routes: `GET /users`, `GET/PATCH/DELETE /users/{id}`, and the admin bootstrap.

use std::collections::HashSet;

use reqwest::Method;
use serde_json::{Value, json};
use tillroll::commands::accounts::{AccountError, create_admin};
use tillroll::config::Secret;

use super::{PASSWORD, admin, field_of, login, register, unique_email};
use crate::support::app::test_config;
use crate::support::{Reply, TestApp};

async fn patch_user(app: &TestApp, token: &str, id: impl std::fmt::Display, body: Value) -> Reply {
    app.call(
        Method::PATCH,
        &format!("/users/{id}"),
        Some(token),
        Some(body),
    )
    .await
}

#[tokio::test]
async fn only_admins_reach_the_user_routes() {
    let app = TestApp::spawn().await;
    let customer = register(&app, "plain").await;
    let path = format!("/users/{}", customer.id);
    let token = Some(customer.access.as_str());
    app.get("/users", token).await.problem(403);
    app.get(&path, token).await.problem(403);
    app.call(Method::PATCH, &path, token, Some(json!({"role": "admin"})))
        .await
        .problem(403);
    app.call(Method::DELETE, &path, token, None)
        .await
        .problem(403);
    app.get("/users", None).await.problem(401);
    app.call(Method::DELETE, &path, None, None)
        .await
        .problem(401);
    app.stop().await;
}

#[tokio::test]
async fn admins_read_and_change_any_account() {
    let app = TestApp::spawn().await;
    let (admin_id, token) = admin(&app).await;
    let customer = register(&app, "managed").await;

    let got = app
        .get_after(
            &format!("/users/{}", customer.id),
            Some(&token),
            customer.position,
        )
        .await;
    assert_eq!(got.ok(200), &customer.body["user"]);
    app.get(&format!("/users/{}", uuid::Uuid::new_v4()), Some(&token))
        .await
        .problem(404);
    app.get("/users/not-a-uuid", Some(&token))
        .await
        .problem(404);

    let reply = patch_user(
        &app,
        &token,
        customer.id,
        json!({"role": "seller", "name": "Duka Ltd", "phone": "0722000111"}),
    )
    .await;
    let user = reply.ok(200).clone();
    assert_eq!(user["role"], "seller");
    assert_eq!(user["name"], "Duka Ltd");
    assert_eq!(user["phone"], "254722000111");
    let got = app
        .get_after(
            &format!("/users/{}", customer.id),
            Some(&token),
            reply.position().unwrap(),
        )
        .await;
    assert_eq!(got.ok(200), &user);
    // A new login carries the new role.
    let session = login(&app, &customer.email, PASSWORD).await;
    assert_eq!(session.ok(200)["user"]["role"], "seller");

    for (body, field) in [
        (json!({"role": "root"}), "role"),
        (json!({"phone": "nope"}), "phone"),
        (json!({"disabled": "yes"}), "disabled"),
    ] {
        let reply = patch_user(&app, &token, customer.id, body).await;
        assert_eq!(field_of(&reply), field, "{}", reply.text);
    }
    patch_user(&app, &token, uuid::Uuid::new_v4(), json!({"name": "Ghost"}))
        .await
        .problem(404);
    // An admin cannot lock themselves out.
    patch_user(&app, &token, admin_id, json!({"disabled": true}))
        .await
        .problem(409);
    patch_user(&app, &token, admin_id, json!({"role": "customer"}))
        .await
        .problem(409);
    app.stop().await;
}

#[tokio::test]
async fn users_are_listed_newest_first_in_pages() {
    let app = TestApp::spawn().await;
    let (admin_id, token) = admin(&app).await;
    let mut expected = vec![admin_id.to_string()];
    let mut last = 0;
    for i in 0..4 {
        let account = register(&app, &format!("list{i}")).await;
        expected.push(account.id.to_string());
        last = account.position;
    }
    expected.reverse();

    let mut seen = Vec::new();
    let mut path = "/users?limit=2".to_owned();
    loop {
        let page = app.get_after(&path, Some(&token), last).await;
        let body = page.ok(200);
        let items = body["items"].as_array().unwrap();
        assert!(items.len() <= 2);
        seen.extend(items.iter().map(|u| u["id"].as_str().unwrap().to_owned()));
        match body["next_cursor"].as_str() {
            Some(cursor) => path = format!("/users?limit=2&cursor={cursor}"),
            None => break,
        }
    }
    assert_eq!(seen, expected);
    assert_eq!(seen.iter().collect::<HashSet<_>>().len(), seen.len());

    let all = app.get("/users", Some(&token)).await;
    assert_eq!(all.ok(200)["items"].as_array().unwrap().len(), 5);
    assert_eq!(all.body["next_cursor"], Value::Null);
    for bad in ["/users?limit=0", "/users?limit=101", "/users?limit=x"] {
        assert_eq!(
            field_of(&app.get(bad, Some(&token)).await),
            "limit",
            "{bad}"
        );
    }
    let reply = app.get("/users?cursor=garbage!", Some(&token)).await;
    assert_eq!(field_of(&reply), "cursor");
    app.stop().await;
}

#[tokio::test]
async fn closing_an_account_erases_it_and_releases_the_email() {
    let app = TestApp::spawn().await;
    let (admin_id, token) = admin(&app).await;
    let customer = register(&app, "closing").await;
    let path = format!("/users/{}", customer.id);

    let reply = app.call(Method::DELETE, &path, Some(&token), None).await;
    assert_eq!(reply.status, 204, "{}", reply.text);
    let position = reply.position().expect("X-Log-Position");
    app.get_after(&path, Some(&token), position)
        .await
        .problem(404);
    let listed = app.get("/users", Some(&token)).await;
    assert!(
        !listed.ok(200)["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|u| u["id"] == customer.id.to_string())
    );
    app.call(Method::DELETE, &path, Some(&token), None)
        .await
        .problem(404);
    patch_user(&app, &token, customer.id, json!({"name": "Back"}))
        .await
        .problem(404);

    // Gone: no log-in, no refresh, and its access token stops working at once.
    login(&app, &customer.email, PASSWORD).await.problem(401);
    app.post(
        "/auth/refresh",
        None,
        json!({"refresh_token": customer.refresh}),
    )
    .await
    .problem(401);
    app.get("/me", Some(&customer.access)).await.problem(401);
    let (credentials, tokens, emails, blocks): (i64, i64, i64, i64) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM credentials WHERE customer_id = $1), \
                (SELECT count(*) FROM refresh_tokens WHERE customer_id = $1), \
                (SELECT count(*) FROM account_emails WHERE customer_id = $1), \
                (SELECT count(*) FROM account_blocks WHERE customer_id = $1)",
    )
    .bind(customer.id)
    .fetch_one(app.pool())
    .await
    .unwrap();
    assert_eq!((credentials, tokens, emails, blocks), (0, 0, 0, 1));

    // The address is free again, for a new account with a history of its own.
    let again = app
        .post(
            "/auth/register",
            None,
            json!({"email": customer.email, "password": PASSWORD, "name": "New"}),
        )
        .await;
    assert_ne!(again.ok(201)["user"]["id"], customer.id.to_string());

    app.call(
        Method::DELETE,
        &format!("/users/{admin_id}"),
        Some(&token),
        None,
    )
    .await
    .problem(409);
    app.stop().await;
}

#[tokio::test]
async fn the_configured_admin_exists_after_start() {
    let email = unique_email("boss");
    let mut config = test_config();
    config.admin = Some((email.clone(), Secret::new(PASSWORD)));
    let app = TestApp::spawn_with(config, None).await;
    let reply = login(&app, &email, PASSWORD).await;
    assert_eq!(reply.ok(200)["user"]["role"], "admin");
    let token = reply.body["access_token"].as_str().unwrap();
    app.get("/users", Some(token)).await.ok(200);
    app.stop().await;
}

#[tokio::test]
async fn create_admin_promotes_an_existing_account() {
    let app = TestApp::spawn().await;
    let customer = register(&app, "promoted").await;
    let id = create_admin(
        &app.state.commands,
        &customer.email,
        "another password",
        "Ignored",
    )
    .await
    .unwrap();
    assert_eq!(id, customer.id);
    // The password is left as it was.
    let reply = login(&app, &customer.email, PASSWORD).await;
    assert_eq!(reply.ok(200)["user"]["role"], "admin");
    assert_eq!(reply.body["user"]["name"], "Wanjiru Kamau");
    // Twice changes nothing.
    let again = create_admin(&app.state.commands, &customer.email, PASSWORD, "x")
        .await
        .unwrap();
    assert_eq!(again, customer.id);
    // Each bad input is refused for what is wrong with it, and none creates an account.
    let fresh = unique_email("never");
    for (email, password, name, wrong) in [
        ("not-an-email", PASSWORD, "Admin", vec!["email"]),
        (fresh.as_str(), "short", "Admin", vec!["password"]),
        (fresh.as_str(), PASSWORD, "", vec!["name"]),
        (
            "not-an-email",
            "short",
            "",
            vec!["email", "password", "name"],
        ),
    ] {
        match create_admin(&app.state.commands, email, password, name).await {
            Err(AccountError::Invalid(errors)) => {
                let fields: Vec<&str> = errors.iter().map(|e| e.field).collect();
                assert_eq!(fields, wrong, "{email} / {password} / {name:?}");
            }
            other => panic!("{email} / {password} / {name:?}: {other:?}"),
        }
    }
    login(&app, &fresh, PASSWORD).await.problem(401);
    app.stop().await;
}

/// Roles come from the account's current state, not from the token: a demoted admin's token
/// loses admin rights on its next request, and a granted role works with the token the user
/// already holds.
#[tokio::test]
async fn role_changes_apply_to_tokens_already_issued() {
    let app = TestApp::spawn().await;
    let (_, root) = admin(&app).await;
    let (deputy_id, deputy) = admin(&app).await;
    app.get("/users", Some(&deputy)).await.ok(200);
    patch_user(&app, &root, deputy_id, json!({"role": "customer"}))
        .await
        .ok(200);
    app.get("/users", Some(&deputy)).await.problem(403);
    let product = json!({"name": "Kettle", "category": "kitchen", "price": 2_500});
    app.post("/products", Some(&deputy), product.clone())
        .await
        .problem(403);

    let shopper = register(&app, "future-seller").await;
    app.post("/products", Some(&shopper.access), product.clone())
        .await
        .problem(403);
    patch_user(&app, &root, shopper.id, json!({"role": "seller"}))
        .await
        .ok(200);
    app.post("/products", Some(&shopper.access), product)
        .await
        .ok(201);
    app.stop().await;
}
