//! GET /seller/orders (API.md, Sellers): two sellers, an order mixing their products; each
//! sees the order with only their own lines, the buyer's name and phone; filters and pages;
//! a customer is refused.

use serde_json::{Value, json};
use tillroll::auth::Role;

use crate::money::{PHONE, token};
use crate::order_fields::registered;
use crate::support::TestApp;

async fn listed(app: &TestApp, seller: &str, name: &str, price: i64) -> String {
    let body = json!({"name": name, "category": "kitchen", "price": price, "initial_stock": 10});
    let reply = app.post("/products", Some(seller), body).await;
    reply.ok(201)["id"].as_str().unwrap().to_owned()
}

fn names(order: &Value) -> Vec<&str> {
    let items = order["items"].as_array().unwrap();
    items.iter().map(|i| i["name"].as_str().unwrap()).collect()
}

#[tokio::test]
async fn each_seller_sees_only_their_lines_of_a_mixed_order() {
    let app = TestApp::spawn_without_reactors().await;
    let (seller_a, a) = token(&app, Role::Seller);
    let (seller_b, b) = token(&app, Role::Seller);
    let (_, c) = token(&app, Role::Seller);
    let kettle = listed(&app, &a, "Kettle", 100_000).await;
    let mug = listed(&app, &a, "Mug", 20_000).await;
    let lamp = listed(&app, &b, "Lamp", 50_000).await;
    let (buyer_id, buyer) = registered(&app, Some("0712 345 678")).await;

    let mixed = json!({"items": [
        {"product_id": kettle, "quantity": 1}, {"product_id": lamp, "quantity": 2},
        {"product_id": mug, "quantity": 3}]});
    let mixed = app.post("/orders", Some(&buyer), mixed).await;
    let mixed_id = mixed.ok(201)["id"].clone();
    let only_a = json!({"items": [{"product_id": mug, "quantity": 1}], "phone": PHONE});
    let only_a = app.post("/orders", Some(&buyer), only_a).await;
    let only_a_id = only_a.ok(201)["id"].clone();
    let position = only_a.position().unwrap();

    let seen_a = app
        .get_after("/seller/orders?count=true", Some(&a), position)
        .await;
    let seen_a = seen_a.ok(200).clone();
    assert_eq!(seen_a["total"], 2);
    let orders = seen_a["items"].as_array().unwrap();
    // Newest first.
    assert_eq!(orders[0]["id"], only_a_id);
    assert_eq!(orders[1]["id"], mixed_id);
    assert_eq!(names(&orders[1]), ["Kettle", "Mug"]);
    assert_eq!(orders[1]["total"], 160_000);
    assert_eq!(orders[1]["status"], "pending_payment");
    assert_eq!(orders[1]["buyer"]["name"], "Wanjiru");
    assert_eq!(orders[1]["buyer"]["phone"], "254712345678");
    assert_eq!(orders[1]["buyer"]["customer_id"], json!(buyer_id));
    assert_eq!(orders[1]["shipping_address"], Value::Null);
    assert!(
        orders[1]["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|i| i["seller_id"] == json!(seller_a))
    );

    let seen_b = app.get_after("/seller/orders", Some(&b), position).await;
    let orders = seen_b.ok(200)["items"].as_array().unwrap().clone();
    assert_eq!(orders.len(), 1);
    assert_eq!(orders[0]["id"], mixed_id);
    assert_eq!(names(&orders[0]), ["Lamp"]);
    assert_eq!(orders[0]["total"], 100_000);
    assert_eq!(orders[0]["items"][0]["seller_id"], json!(seller_b));

    let none = app.get_after("/seller/orders", Some(&c), position).await;
    assert_eq!(none.ok(200)["items"], json!([]));

    // Pages and filters.
    let first = app.get("/seller/orders?limit=1", Some(&a)).await;
    let first = first.ok(200).clone();
    assert_eq!(first["items"][0]["id"], only_a_id);
    let cursor = first["next_cursor"].as_str().unwrap();
    let next = app
        .get(&format!("/seller/orders?limit=1&cursor={cursor}"), Some(&a))
        .await;
    assert_eq!(next.ok(200)["items"][0]["id"], mixed_id);
    assert_eq!(next.body["next_cursor"], Value::Null);
    let paid = app.get("/seller/orders?status=paid", Some(&a)).await;
    assert_eq!(paid.ok(200)["items"], json!([]));
    let later = app
        .get("/seller/orders?from=2999-01-01T00:00:00Z", Some(&a))
        .await;
    assert_eq!(later.ok(200)["items"], json!([]));
    let inverted = app
        .get(
            "/seller/orders?from=2026-02-01T00:00:00Z&to=2026-01-01T00:00:00Z",
            Some(&a),
        )
        .await;
    assert_eq!(
        inverted.ok(200)["items"],
        json!([]),
        "an inverted range matches nothing"
    );
    let bad = app.get("/seller/orders?status=lost", Some(&a)).await;
    assert_eq!(bad.problem(400)["errors"][0]["field"], "status");

    let refused = app.get("/seller/orders", Some(&buyer)).await;
    refused.problem(403);
    let anonymous = app.get("/seller/orders", None).await;
    anonymous.problem(401);
}
