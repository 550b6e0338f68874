//! The rules around the money path: cart edits, checkout refusals, who may cancel, ship and
//! deliver what, ownership, the admin lists, idempotent checkout.

use reqwest::Method;
use serde_json::json;

use super::{PHONE, admin, customer, order_until, product, stock};
use crate::support::{Reply, TestApp};

/// How many items a list answered.
fn count(reply: &Reply) -> usize {
    reply.ok(200)["items"].as_array().expect("a list").len()
}

/// The simulator never answers this phone: orders stay pending.
const SILENT: &str = "0700000003";

#[tokio::test]
async fn cart_edits_check_the_catalog_and_stock() {
    let app = TestApp::spawn().await;
    let (_, token) = customer(&app);
    let product_id = product(&app, "Mixer", 30_000, 4).await;
    let items = "/cart/items";
    let unknown = json!({"product_id": uuid::Uuid::now_v7(), "quantity": 1});
    app.post(items, Some(&token), unknown).await.problem(404);
    let zero = app
        .post(
            items,
            Some(&token),
            json!({"product_id": product_id, "quantity": 0}),
        )
        .await;
    assert_eq!(zero.problem(400)["errors"][0]["field"], "quantity");
    let too_many = app
        .post(
            items,
            Some(&token),
            json!({"product_id": product_id, "quantity": 5}),
        )
        .await;
    too_many.problem(409);
    app.post(
        items,
        Some(&token),
        json!({"product_id": product_id, "quantity": 1}),
    )
    .await
    .ok(200);
    let line = format!("/cart/items/{product_id}");
    let changed = app
        .call(
            Method::PATCH,
            &line,
            Some(&token),
            Some(json!({"quantity": 3})),
        )
        .await;
    assert_eq!(changed.ok(200)["items"][0]["quantity"], 3);
    assert_eq!(changed.body["total"], 90_000);
    let removed = app
        .call(
            Method::PATCH,
            &line,
            Some(&token),
            Some(json!({"quantity": 0})),
        )
        .await;
    assert_eq!(removed.ok(200)["items"], json!([]));
    app.call(Method::DELETE, &line, Some(&token), None)
        .await
        .problem(404);
    app.post(
        items,
        Some(&token),
        json!({"product_id": product_id, "quantity": 2}),
    )
    .await
    .ok(200);
    let deleted = app.call(Method::DELETE, &line, Some(&token), None).await;
    assert_eq!(deleted.ok(200)["total"], 0);
    app.post(
        items,
        Some(&token),
        json!({"product_id": product_id, "quantity": 2}),
    )
    .await
    .ok(200);
    let cleared = app.call(Method::DELETE, "/cart", Some(&token), None).await;
    assert_eq!(cleared.status, 204);
    let cart = app
        .get_after("/cart", Some(&token), cleared.position().unwrap())
        .await;
    assert_eq!(cart.ok(200)["items"], json!([]));
    let empty = app
        .post("/checkout", Some(&token), json!({"phone": PHONE}))
        .await;
    empty.problem(409);
    app.get("/cart", None).await.problem(401);
    assert_eq!(stock(&app, product_id).await, (4, 0));
    app.stop().await;
}

#[tokio::test]
async fn checkout_refusals_name_what_is_wrong_and_reserve_nothing() {
    let app = TestApp::spawn().await;
    let (_, token) = customer(&app);
    let scarce = product(&app, "Scarce", 10_000, 1).await;
    let gone = product(&app, "Gone", 10_000, 0).await;
    let cents = product(&app, "Cents", 10_050, 5).await;
    let both = json!({"items": [
        {"product_id": scarce, "quantity": 2}, {"product_id": gone, "quantity": 1}],
        "phone": PHONE});
    let short = app.post("/orders", Some(&token), both).await;
    let lines = short.problem(409)["short_lines"]
        .as_array()
        .unwrap()
        .clone();
    let reason = "insufficient_stock";
    assert_eq!(
        lines,
        [
            json!({"product_id": scarce, "name": "Scarce", "requested": 2, "available": 1, "reason": reason}),
            json!({"product_id": gone, "name": "Gone", "requested": 1, "available": 0, "reason": reason}),
        ]
    );
    assert_eq!(stock(&app, scarce).await, (1, 0));

    let with_cents = json!({"items": [{"product_id": cents, "quantity": 1}], "phone": PHONE});
    let refused = app.post("/orders", Some(&token), with_cents).await;
    assert!(
        refused.problem(409)["detail"]
            .as_str()
            .unwrap()
            .contains("whole shillings")
    );
    let bad_phone = json!({"items": [{"product_id": scarce, "quantity": 1}], "phone": "12345"});
    let reply = app.post("/orders", Some(&token), bad_phone).await;
    assert_eq!(reply.problem(400)["errors"][0]["field"], "phone");
    let no_items = app
        .post(
            "/orders",
            Some(&token),
            json!({"items": [], "phone": PHONE}),
        )
        .await;
    no_items.problem(400);
    let admin = admin(&app);
    let by_admin = json!({"items": [{"product_id": scarce, "quantity": 1}], "phone": PHONE});
    // An admin orders only on a customer's behalf, naming them (`on_behalf.rs`).
    let reply = app.post("/orders", Some(&admin), by_admin).await;
    assert!(
        reply.problem(403)["detail"]
            .as_str()
            .unwrap()
            .contains("customer_id")
    );
    assert_eq!(stock(&app, cents).await, (5, 0));
    app.stop().await;
}

#[tokio::test]
async fn who_may_cancel_ship_and_deliver() {
    let app = TestApp::spawn().await;
    let (_, owner) = customer(&app);
    let (_, stranger) = customer(&app);
    let admin = admin(&app);
    let product_id = product(&app, "Chair", 80_000, 5).await;

    let body = json!({"items": [{"product_id": product_id, "quantity": 1}], "phone": SILENT});
    let placed = app.post("/orders", Some(&owner), body).await;
    let pending_id = placed.ok(201)["id"].as_str().unwrap().to_owned();
    let placed_at = placed.position().expect("a command's position");
    let order_path = format!("/orders/{pending_id}");
    let tracking_path = format!("{order_path}/tracking");
    // Both reads wait for the order's projection, so the stranger's 404 is the ownership
    // check and not an order not projected yet: its owner and an admin see it at once.
    for (path, who) in [
        (&order_path, &owner),
        (&order_path, &admin),
        (&tracking_path, &owner),
    ] {
        app.get_after(path, Some(who), placed_at).await.ok(200);
    }
    for path in [&order_path, &tracking_path] {
        app.get_after(path, Some(&stranger), placed_at)
            .await
            .problem(404);
    }
    app.post(&format!("{order_path}/cancel"), Some(&stranger), json!({}))
        .await
        .problem(404);
    app.post(&format!("{order_path}/payment"), Some(&stranger), json!({}))
        .await
        .problem(404);
    app.post(&format!("{order_path}/ship"), Some(&owner), json!({}))
        .await
        .problem(403);
    app.post(&format!("{order_path}/ship"), Some(&admin), json!({}))
        .await
        .problem(409);
    app.post(&format!("{order_path}/deliver"), Some(&admin), json!({}))
        .await
        .problem(409);
    assert_eq!(stock(&app, product_id).await, (5, 1));
    let cancelled = app
        .call(
            Method::POST,
            &format!("{order_path}/cancel"),
            Some(&owner),
            None,
        )
        .await;
    assert_eq!(cancelled.ok(200)["status"], "cancelled");
    assert_eq!(stock(&app, product_id).await, (5, 0));
    app.post(&format!("{order_path}/cancel"), Some(&owner), json!({}))
        .await
        .problem(409);
    app.post(&format!("{order_path}/payment"), Some(&owner), json!({}))
        .await
        .problem(409);

    let paid = super::checkout_one(&app, &owner, product_id, PHONE).await;
    let paid_id = paid["id"].as_str().unwrap().to_owned();
    order_until(&app, &owner, &paid_id, |o| o["status"] == "paid").await;
    let paid_path = format!("/orders/{paid_id}");
    app.post(&format!("{paid_path}/cancel"), Some(&owner), json!({}))
        .await
        .problem(409);
    let refunded = app
        .post(
            &format!("{paid_path}/cancel"),
            Some(&admin),
            json!({"reason": "damaged"}),
        )
        .await;
    assert_eq!(refunded.ok(200)["status"], "cancelled");
    assert_eq!(refunded.body["refund_due"], true);
    app.post(&format!("{paid_path}/ship"), Some(&admin), json!({}))
        .await
        .problem(409);
    assert_eq!(stock(&app, product_id).await, (5, 0));

    let shipped = super::checkout_one(&app, &owner, product_id, PHONE).await;
    let shipped_id = shipped["id"].as_str().unwrap().to_owned();
    order_until(&app, &owner, &shipped_id, |o| o["status"] == "paid").await;
    let shipped_path = format!("/orders/{shipped_id}");
    app.post(&format!("{shipped_path}/ship"), Some(&admin), json!({}))
        .await
        .ok(200);
    app.post(&format!("{shipped_path}/cancel"), Some(&admin), json!({}))
        .await
        .problem(409);
    app.stop().await;
}

#[tokio::test]
async fn lists_show_own_orders_to_customers_and_all_to_admins() {
    let app = TestApp::spawn().await;
    let (_, alice) = customer(&app);
    let (_, bob) = customer(&app);
    let admin = admin(&app);
    let product_id = product(&app, "Desk", 40_000, 10).await;
    let mut last = 0;
    for token in [&alice, &alice, &bob] {
        let body = json!({"items": [{"product_id": product_id, "quantity": 1}], "phone": SILENT});
        let reply = app.post("/orders", Some(token), body).await;
        reply.ok(201);
        last = reply.position().unwrap();
    }
    let own = app.get_after("/orders", Some(&alice), last).await;
    assert_eq!(count(&own), 2);
    let all = app.get("/orders", Some(&admin)).await;
    assert_eq!(count(&all), 3);
    let first = app.get("/orders?limit=2", Some(&admin)).await;
    let first = first.ok(200).clone();
    assert_eq!(first["items"].as_array().unwrap().len(), 2);
    let cursor = first["next_cursor"].as_str().unwrap();
    let rest = app
        .get(&format!("/orders?limit=2&cursor={cursor}"), Some(&admin))
        .await;
    assert_eq!(rest.ok(200)["items"].as_array().unwrap().len(), 1);
    assert_eq!(rest.body["next_cursor"], serde_json::Value::Null);
    let newest = first["items"][0]["created_at"].as_str().unwrap().to_owned();
    let next = first["items"][1]["created_at"].as_str().unwrap().to_owned();
    assert!(newest >= next);
    let pending = app
        .get("/orders?status=pending_payment", Some(&admin))
        .await;
    assert_eq!(count(&pending), 3);
    let paid = app.get("/orders?status=paid", Some(&admin)).await;
    assert_eq!(paid.ok(200)["items"], json!([]));
    let bad = app.get("/orders?limit=0", Some(&admin)).await;
    assert_eq!(bad.problem(400)["errors"][0]["field"], "limit");
    let bad = app.get("/orders?status=lost", Some(&admin)).await;
    assert_eq!(bad.problem(400)["errors"][0]["field"], "status");
    app.get("/orders?cursor=nonsense", Some(&admin))
        .await
        .problem(400);

    app.post(
        "/cart/items",
        Some(&bob),
        json!({"product_id": product_id, "quantity": 1}),
    )
    .await
    .ok(200);
    let added = app
        .post(
            "/cart/items",
            Some(&alice),
            json!({"product_id": product_id, "quantity": 2}),
        )
        .await;
    let carts = app
        .get_after("/carts", Some(&admin), added.position().unwrap())
        .await;
    let carts = carts.ok(200)["items"].as_array().unwrap().clone();
    assert_eq!(carts.len(), 2);
    assert_eq!(carts[0]["items"][0]["quantity"], 2);
    app.get("/carts", Some(&alice)).await.problem(403);

    let spec = app.get("/openapi.json", None).await;
    for path in [
        "/cart",
        "/cart/items",
        "/cart/items/{product_id}",
        "/carts",
        "/checkout",
        "/orders",
        "/orders/{id}",
        "/orders/{id}/tracking",
        "/orders/{id}/events",
        "/orders/{id}/cancel",
        "/orders/{id}/payment",
        "/orders/{id}/payment/reconcile",
        "/orders/{id}/ship",
        "/orders/{id}/deliver",
        "/payments/mpesa/callback/{token}",
    ] {
        assert!(
            spec.ok(200)["paths"].get(path).is_some(),
            "{path} not documented"
        );
    }
    app.stop().await;
}

#[tokio::test]
async fn checkout_with_an_idempotency_key_happens_once() {
    let app = TestApp::spawn().await;
    let (_, token) = customer(&app);
    let product_id = product(&app, "Bag", 15_000, 5).await;
    app.post(
        "/cart/items",
        Some(&token),
        json!({"product_id": product_id, "quantity": 2}),
    )
    .await
    .ok(200);
    let send = |body: serde_json::Value| {
        app.client
            .post(app.url("/checkout"))
            .bearer_auth(&token)
            .header("Idempotency-Key", "checkout-1")
            .json(&body)
            .send()
    };
    let first = TestApp::read(send(json!({"phone": SILENT})).await.unwrap()).await;
    let again = TestApp::read(send(json!({"phone": SILENT})).await.unwrap()).await;
    assert_eq!(first.ok(201)["id"], again.ok(201)["id"]);
    assert_eq!(stock(&app, product_id).await, (5, 2));
    let other = TestApp::read(send(json!({"phone": PHONE})).await.unwrap()).await;
    other.problem(409);
    app.stop().await;
}

#[tokio::test]
async fn a_paid_order_is_delivered_only_after_it_shipped() {
    let app = TestApp::spawn().await;
    let (_, owner) = customer(&app);
    let admin = admin(&app);
    let product_id = product(&app, "Kettle", 25_000, 3).await;
    let order = super::checkout_one(&app, &owner, product_id, PHONE).await;
    let id = order["id"].as_str().unwrap().to_owned();
    order_until(&app, &owner, &id, |o| o["status"] == "paid").await;
    let path = format!("/orders/{id}");

    app.post(&format!("{path}/deliver"), Some(&admin), json!({}))
        .await
        .problem(409);
    let shipped = app
        .post(
            &format!("{path}/ship"),
            Some(&admin),
            json!({"carrier": "G4S", "tracking_number": "KE123"}),
        )
        .await;
    assert_eq!(shipped.ok(200)["status"], "shipped");
    let delivered = app
        .post(&format!("{path}/deliver"), Some(&admin), json!({}))
        .await;
    assert_eq!(delivered.ok(200)["status"], "delivered");
    let at = delivered.position().expect("a command's position");
    let tracking = app
        .get_after(&format!("{path}/tracking"), Some(&owner), at)
        .await;
    let history: Vec<&str> = tracking.ok(200)["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["status"].as_str().unwrap())
        .collect();
    let tail = &history[history.len().saturating_sub(2)..];
    assert_eq!(tail, ["shipped", "delivered"], "{history:?}");
    app.post(&format!("{path}/deliver"), Some(&admin), json!({}))
        .await
        .problem(409);
    // Paid, shipped and delivered: one unit sold, nothing left reserved.
    assert_eq!(stock(&app, product_id).await, (2, 0));
    app.stop().await;
}

#[tokio::test]
async fn checkout_refuses_a_line_whose_stock_fell_after_it_was_added() {
    let app = TestApp::spawn().await;
    let (_, token) = customer(&app);
    let admin = admin(&app);
    let scarce = product(&app, "Blender", 40_000, 5).await;
    let plenty = product(&app, "Spoon", 5_000, 50).await;
    for (product_id, quantity) in [(scarce, 3), (plenty, 2)] {
        let body = json!({"product_id": product_id, "quantity": quantity});
        app.post("/cart/items", Some(&token), body).await.ok(200);
    }
    let lowered = app
        .call(
            Method::PUT,
            &format!("/products/{scarce}/stock"),
            Some(&admin),
            Some(json!({"on_hand": 1})),
        )
        .await;
    assert_eq!(lowered.ok(200)["available"], 1);

    let reply = app
        .post("/checkout", Some(&token), json!({"phone": SILENT}))
        .await;
    let short = &reply.problem(409)["short_lines"];
    assert_eq!(
        short,
        &json!([{"product_id": scarce, "name": "Blender", "requested": 3, "available": 1,
                 "reason": "insufficient_stock"}]),
        "{}",
        reply.text
    );
    // All or nothing: neither line was reserved, and the cart is still there to fix.
    assert_eq!(stock(&app, scarce).await, (1, 0));
    assert_eq!(stock(&app, plenty).await, (50, 0));
    let fixed = app
        .call(
            Method::PATCH,
            &format!("/cart/items/{scarce}"),
            Some(&token),
            Some(json!({"quantity": 1})),
        )
        .await;
    assert_eq!(fixed.ok(200)["items"].as_array().unwrap().len(), 2);
    let order = app
        .post("/checkout", Some(&token), json!({"phone": SILENT}))
        .await;
    assert_eq!(order.ok(201)["total"], 40_000 + 2 * 5_000);
    assert_eq!(stock(&app, scarce).await, (1, 1));
    app.stop().await;
}

#[tokio::test]
async fn checkout_charges_the_price_of_the_moment_not_of_the_cart() {
    let app = TestApp::spawn().await;
    let (_, token) = customer(&app);
    let admin = admin(&app);
    let product_id = product(&app, "Toaster", 30_000, 5).await;
    let body = json!({"product_id": product_id, "quantity": 2});
    let cart = app.post("/cart/items", Some(&token), body).await;
    assert_eq!(cart.ok(200)["items"][0]["unit_price"], 30_000);
    let changed = app
        .call(
            Method::PATCH,
            &format!("/products/{product_id}"),
            Some(&admin),
            Some(json!({"price": 35_000})),
        )
        .await;
    assert_eq!(changed.ok(200)["price"], 35_000);

    let order = app
        .post("/checkout", Some(&token), json!({"phone": SILENT}))
        .await;
    let order = order.ok(201);
    assert_eq!(order["items"][0]["unit_price"], 35_000);
    assert_eq!(order["items"][0]["line_total"], 70_000);
    assert_eq!(order["total"], 70_000);
    app.stop().await;
}

#[tokio::test]
async fn checkout_refuses_a_product_withdrawn_after_it_was_added() {
    let app = TestApp::spawn().await;
    let (_, token) = customer(&app);
    let admin = admin(&app);
    let kept = product(&app, "Mug", 2_000, 10).await;
    let gone = product(&app, "Teapot", 9_000, 10).await;
    for (product_id, quantity) in [(kept, 1), (gone, 2)] {
        let body = json!({"product_id": product_id, "quantity": quantity});
        app.post("/cart/items", Some(&token), body).await.ok(200);
    }
    let withdrawn = app
        .call(
            Method::DELETE,
            &format!("/products/{gone}"),
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(withdrawn.status, 204, "{}", withdrawn.text);

    let reply = app
        .post("/checkout", Some(&token), json!({"phone": SILENT}))
        .await;
    assert_eq!(
        reply.problem(409)["short_lines"],
        json!([{"product_id": gone, "name": "Teapot", "requested": 2, "available": 0,
                "reason": "withdrawn"}]),
        "{}",
        reply.text
    );
    // Nothing reserved, the cart kept; without the withdrawn line the checkout goes through.
    assert_eq!(stock(&app, kept).await, (10, 0));
    assert_eq!(stock(&app, gone).await, (10, 0));
    let removed = app
        .call(
            Method::DELETE,
            &format!("/cart/items/{gone}"),
            Some(&token),
            None,
        )
        .await;
    assert_eq!(removed.ok(200)["items"].as_array().unwrap().len(), 1);
    let order = app
        .post("/checkout", Some(&token), json!({"phone": SILENT}))
        .await;
    assert_eq!(order.ok(201)["total"], 2_000);
    app.stop().await;
}
