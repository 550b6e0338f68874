//! Small things a client trips on (issue 12): a stock 409 names the product, a settled
//! order has no deadline (`Location` on every 201: `webhooks.rs`, `accounts/users.rs`).

use serde_json::json;

use super::{customer, product};
use crate::support::TestApp;

#[tokio::test]
async fn a_short_cart_line_names_the_product() {
    let app = TestApp::spawn().await;
    let (_, token) = customer(&app);
    let kettle = product(&app, "Kettle", 2_000, 1).await;
    let reply = app
        .post(
            "/cart/items",
            Some(&token),
            json!({"product_id": kettle, "quantity": 3}),
        )
        .await;
    assert_eq!(
        reply.problem(409)["short_lines"],
        json!([{"product_id": kettle, "name": "Kettle", "requested": 3, "available": 1,
                "reason": "insufficient_stock"}])
    );
    app.stop().await;
}

#[tokio::test]
async fn a_settled_order_has_no_deadline() {
    let app = TestApp::spawn_without_reactors().await;
    let (_, token) = customer(&app);
    let mug = product(&app, "Mug", 2_000, 5).await;
    let placed = app
        .post(
            "/orders",
            Some(&token),
            json!({"items": [{"product_id": mug, "quantity": 1}], "phone": "0712345678"}),
        )
        .await;
    let order = placed.ok(201).clone();
    assert!(order["expires_at"].is_string(), "pending: a deadline");
    let id = order["id"].as_str().unwrap();
    let cancelled = app
        .post(&format!("/orders/{id}/cancel"), Some(&token), json!({}))
        .await;
    assert!(cancelled.ok(200)["expires_at"].is_null(), "settled: none");
    let read = app
        .get_after(
            &format!("/orders/{id}"),
            Some(&token),
            cancelled.position().unwrap(),
        )
        .await;
    assert!(read.ok(200)["expires_at"].is_null());
    assert_eq!(read.body["created_at"], order["created_at"]);

    app.stop().await;
}
