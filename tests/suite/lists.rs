//! API.md's list conventions on every list: `?count=true` adds `total` (the items matching
//! the filter, on every page), and a query parameter a route does not take is a 400 naming
//! it, on every route, with or without a query extractor of its own.

use reqwest::Method;
use serde_json::json;
use tillroll::auth::Role;

use crate::accounts::{admin, register};
use crate::catalog::token;
use crate::support::TestApp;
use crate::support::catalog::list_product_at;

#[track_caller]
fn named(reply: &crate::support::Reply, parameter: &str) {
    let body = reply.problem(400);
    assert_eq!(body["errors"][0]["field"], parameter, "{body}");
}

#[tokio::test]
async fn unknown_query_parameters_are_400_on_every_route() {
    let app = TestApp::spawn().await;
    let customer = register(&app, "params").await;
    let access = Some(customer.access.as_str());
    // Routes with a query of their own, and routes without one.
    named(&app.get("/orders?colour=red", access).await, "colour");
    named(
        &app.get("/products?q=kettle&sortt=name", None).await,
        "sortt",
    );
    named(&app.get("/me?verbose=1", access).await, "verbose");
    named(&app.get("/cart?x=1", access).await, "x");
    named(&app.get("/categories?all=true", None).await, "all");
    named(&app.get("/health?probe=1", None).await, "probe");
    let command = app
        .post(
            "/cart/items?dry_run=true",
            access,
            json!({"product_id": uuid::Uuid::new_v4(), "quantity": 1}),
        )
        .await;
    named(&command, "dry_run");
    let delete = app
        .call(Method::DELETE, "/cart?force=1", access, None)
        .await;
    named(&delete, "force");
    // The parameters a route documents still pass.
    app.get("/products?q=kettle&sort=name&limit=5", None)
        .await
        .ok(200);
    app.get("/orders?status=paid&limit=5", access).await.ok(200);
    app.stop().await;
}

fn total(reply: &crate::support::Reply) -> i64 {
    reply.ok(200)["total"]
        .as_i64()
        .unwrap_or_else(|| panic!("no total: {}", reply.body))
}

#[tokio::test]
async fn count_true_adds_the_total_on_every_list() {
    let app = TestApp::spawn().await;
    let (_, admin_token) = admin(&app).await;
    let admin = Some(admin_token.as_str());
    let (seller_token, seller) = token(&app, Role::Seller);
    let mut position = 0;
    for (name, stock) in [("Kettle", 5), ("Toaster", 0), ("Blender", 2)] {
        position = list_product_at(&app, seller, name, "kitchen", 150_000, stock)
            .await
            .1;
    }
    let first = app
        .get_after("/products?count=true&limit=2", None, position)
        .await;
    assert_eq!(total(&first), 3);
    assert_eq!(first.body["items"].as_array().unwrap().len(), 2);
    let cursor = first.body["next_cursor"].as_str().unwrap().to_owned();
    let second = app
        .get(
            &format!("/products?count=true&limit=2&cursor={cursor}"),
            None,
        )
        .await;
    assert_eq!(
        total(&second),
        3,
        "the total is the filter's, on every page"
    );
    assert_eq!(
        total(&app.get("/products?count=true&in_stock=true", None).await),
        2
    );
    let plain = app.get("/products", None).await;
    assert!(
        plain.ok(200).get("total").is_none(),
        "no total unless asked"
    );
    assert_eq!(
        total(
            &app.get("/stock?count=true&below=1", Some(&seller_token))
                .await
        ),
        1
    );

    let customer = register(&app, "counted").await;
    let users = app
        .get_after("/users?count=true&role=customer", admin, customer.position)
        .await;
    assert_eq!(total(&users), 1);
    assert_eq!(total(&app.get("/users?count=true", admin).await), 2);
    let cart = app
        .post(
            "/cart/items",
            Some(&customer.access),
            json!({"product_id": first.body["items"][0]["id"], "quantity": 1}),
        )
        .await;
    let position = cart.position().unwrap();
    let carts = app.get_after("/carts?count=true", admin, position).await;
    assert_eq!(total(&carts), 1);
    let mine = app
        .get(
            &format!("/carts?count=true&customer_id={}", customer.id),
            admin,
        )
        .await;
    assert_eq!(total(&mine), 1);
    assert_eq!(
        mine.body["items"][0]["customer_id"],
        customer.id.to_string()
    );
    let theirs = app
        .get(&format!("/carts?count=true&customer_id={seller}"), admin)
        .await;
    assert_eq!(
        (total(&theirs), theirs.body["items"].clone()),
        (0, json!([]))
    );
    assert_eq!(
        total(&app.get("/orders?count=true", Some(&customer.access)).await),
        0
    );
    assert_eq!(total(&app.get("/webhooks?count=true", admin).await), 0);
    for list in ["/orders", "/users", "/products", "/carts"] {
        let reply = app.get(&format!("{list}?count=maybe"), admin).await;
        named(&reply, "count");
    }
    app.stop().await;
}
