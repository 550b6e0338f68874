//! The order's own fields (API.md, Checkout and orders): each line names its seller,
//! `shipment` is set by shipping and completed by delivery (the same from the command and from
//! the read model), and `phone` defaults to the customer's profile phone.

use chrono::Utc;
use serde_json::json;
use tillroll::auth::Role;
use tillroll::store::{ExpectedVersion, NewEvent, StreamAppend};
use tillroll_events::{CustomerEvent, DomainEvent, Metadata, StreamId};
use uuid::Uuid;

use crate::money::{PHONE, WAIT, admin, customer, order_until, product, token};
use crate::support::TestApp;

/// A registered customer with `phone` in their profile, and their token.
pub(crate) async fn registered(app: &TestApp, phone: Option<&str>) -> (Uuid, String) {
    let (id, token) = token(app, Role::Customer);
    let event = CustomerEvent::CustomerRegistered {
        customer_id: id,
        email: format!("{id}@example.ke"),
        name: "Wanjiru".into(),
        phone: phone.map(str::to_owned),
        role: "customer".into(),
        registered_at: Utc::now(),
    };
    app.state
        .store
        .append(&[StreamAppend {
            stream_id: StreamId::customer(id),
            expected: ExpectedVersion::NoStream,
            events: vec![NewEvent::new(event.encode(), Metadata::system(id))],
        }])
        .await
        .expect("registered");
    (id, token)
}

#[tokio::test]
async fn lines_name_their_seller_and_shipment_follows_ship_and_deliver() {
    let app = TestApp::spawn().await;
    let (_, buyer) = customer(&app);
    let kettle = product(&app, "Kettle", 100_000, 5).await;
    let seller = app
        .eventually(WAIT, || async {
            let reply = app.get(&format!("/products/{kettle}"), None).await;
            (reply.status == 200).then(|| reply.body["seller_id"].clone())
        })
        .await;
    assert!(seller.is_string());
    let body = json!({"items": [{"product_id": kettle, "quantity": 1}], "phone": PHONE});
    let placed = app.post("/orders", Some(&buyer), body).await;
    let order = placed.ok(201);
    assert_eq!(order["items"][0]["seller_id"], seller);
    assert_eq!(order["shipment"], serde_json::Value::Null);
    let id = order["id"].as_str().unwrap().to_owned();
    order_until(&app, &buyer, &id, |o| o["status"] == "paid").await;

    let admin = admin(&app);
    let ship = format!("/orders/{id}/ship");
    let too_long = app
        .post(&ship, Some(&admin), json!({"note": "x".repeat(501)}))
        .await;
    assert_eq!(too_long.problem(400)["errors"][0]["field"], "note");
    let shipped = app
        .post(
            &ship,
            Some(&admin),
            json!({"carrier": "G4S", "tracking_number": "KE123", "note": "at the gate"}),
        )
        .await;
    let shipment = shipped.ok(200)["shipment"].clone();
    assert_eq!(shipment["carrier"], "G4S");
    assert_eq!(shipment["tracking_number"], "KE123");
    assert!(shipment["shipped_at"].is_string());
    assert_eq!(shipment["delivered_at"], serde_json::Value::Null);
    let read = app
        .get_after(
            &format!("/orders/{id}"),
            Some(&buyer),
            shipped.position().unwrap(),
        )
        .await;
    assert_eq!(read.ok(200)["shipment"], shipment);
    let tracking = app
        .get_after(
            &format!("/orders/{id}/tracking"),
            Some(&buyer),
            shipped.position().unwrap(),
        )
        .await;
    let history = tracking.ok(200)["history"].as_array().unwrap().clone();
    let note = history.iter().find(|s| s["status"] == "shipped").unwrap()["note"].clone();
    assert_eq!(note, "G4S, tracking number KE123: at the gate");

    let delivered = app
        .post(&format!("/orders/{id}/deliver"), Some(&admin), json!({}))
        .await;
    let from_command = delivered.ok(200).clone();
    assert!(from_command["shipment"]["delivered_at"].is_string());
    assert_eq!(
        from_command["shipment"]["shipped_at"],
        shipment["shipped_at"]
    );
    let from_row = app
        .get_after(
            &format!("/orders/{id}"),
            Some(&admin),
            delivered.position().unwrap(),
        )
        .await;
    let from_row = from_row.ok(200);
    assert_eq!(from_row["shipment"], from_command["shipment"]);
    assert_eq!(from_row["items"], from_command["items"]);
}

#[tokio::test]
async fn phone_defaults_to_the_profile_phone_and_is_required_without_one() {
    let app = TestApp::spawn_without_reactors().await;
    let kettle = product(&app, "Kettle", 100_000, 5).await;
    let items = json!([{"product_id": kettle, "quantity": 1}]);

    let (_, with_phone) = registered(&app, Some("0712 345 678")).await;
    let placed = app
        .post("/orders", Some(&with_phone), json!({"items": items}))
        .await;
    assert_eq!(placed.ok(201)["phone"], "254712345678");
    app.post(
        "/cart/items",
        Some(&with_phone),
        json!({"product_id": kettle, "quantity": 1}),
    )
    .await
    .ok(200);
    let checked_out = app.post("/checkout", Some(&with_phone), json!({})).await;
    assert_eq!(checked_out.ok(201)["phone"], "254712345678");

    let (_, without) = registered(&app, None).await;
    let refused = app
        .post("/orders", Some(&without), json!({"items": items}))
        .await;
    assert_eq!(refused.problem(400)["errors"][0]["field"], "phone");
    app.post(
        "/cart/items",
        Some(&without),
        json!({"product_id": kettle, "quantity": 1}),
    )
    .await
    .ok(200);
    let refused = app.post("/checkout", Some(&without), json!({})).await;
    assert_eq!(refused.problem(400)["errors"][0]["field"], "phone");
    // The body's phone still wins over the profile's.
    let (_, other) = registered(&app, Some("0712 345 678")).await;
    let placed = app
        .post(
            "/orders",
            Some(&other),
            json!({"items": items, "phone": "0722000111"}),
        )
        .await;
    assert_eq!(placed.ok(201)["phone"], "254722000111");
}
