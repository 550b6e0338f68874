//! The whole flow: cart, checkout, STK push, callback, paid, shipped, delivered — against the
//! protocol-checking fake Daraja and against the built-in simulator; and the live feed.

use serde_json::{Value, json};
use tillroll::domain::payment::account_reference;
use tillroll::payments::fake::{FakeMode, FakeOutcome};
use uuid::Uuid;

use super::{PHONE, WAIT, admin, customer, order_events, order_until, product, stock, with_fake};
use crate::support::TestApp;

fn statuses(tracking: &Value) -> Vec<String> {
    let history = tracking["history"].as_array().expect("history");
    let mut out: Vec<String> = Vec::new();
    for step in history {
        let status = step["status"].as_str().unwrap().to_owned();
        if out.last() != Some(&status) {
            out.push(status);
        }
    }
    out
}

async fn ship_and_deliver(app: &TestApp, admin: &str, order_id: &str) {
    let shipped = app
        .post(
            &format!("/orders/{order_id}/ship"),
            Some(admin),
            json!({"carrier": "G4S", "tracking_number": "KE123"}),
        )
        .await;
    assert_eq!(shipped.ok(200)["status"], "shipped");
    let delivered = app
        .post(
            &format!("/orders/{order_id}/deliver"),
            Some(admin),
            json!({}),
        )
        .await;
    assert_eq!(delivered.ok(200)["status"], "delivered");
    let tracking = app
        .get_after(
            &format!("/orders/{order_id}/tracking"),
            Some(admin),
            delivered.position().unwrap(),
        )
        .await;
    let tracking = tracking.ok(200);
    assert_eq!(tracking["status"], "delivered");
    assert_eq!(
        statuses(tracking),
        ["pending_payment", "paid", "shipped", "delivered"]
    );
    let shipped_note = tracking["history"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["status"] == "shipped")
        .unwrap()["note"]
        .clone();
    assert_eq!(shipped_note, "G4S, tracking number KE123");
}

#[tokio::test]
async fn cart_to_delivery_through_the_fake_daraja() {
    let (app, fake) = with_fake(|_| {}).await;
    let (customer_id, token) = customer(&app);
    let admin = admin(&app);
    let phone_id = product(&app, "Phone", 149_900, 5).await;
    let case_id = product(&app, "Case", 50_000, 3).await;

    app.post(
        "/cart/items",
        Some(&token),
        json!({"product_id": phone_id, "quantity": 1}),
    )
    .await
    .ok(200);
    app.post(
        "/cart/items",
        Some(&token),
        json!({"product_id": phone_id, "quantity": 1}),
    )
    .await
    .ok(200);
    let added = app
        .post(
            "/cart/items",
            Some(&token),
            json!({"product_id": case_id, "quantity": 1}),
        )
        .await;
    let cart = added.ok(200);
    assert_eq!(cart["customer_id"], customer_id.to_string());
    assert_eq!(cart["items"][0]["quantity"], 2);
    assert_eq!(cart["items"][0]["name"], "Phone");
    assert_eq!(cart["items"][0]["line_total"], 299_800);
    assert_eq!(cart["total"], 349_800);
    assert_eq!(cart["currency"], "KES");
    let read = app
        .get_after("/cart", Some(&token), added.position().unwrap())
        .await;
    assert_eq!(read.ok(200)["total"], 349_800);
    assert_eq!(read.body["items"].as_array().unwrap().len(), 2);

    let placed = app
        .post(
            "/checkout",
            Some(&token),
            json!({"phone": "+254 712 345 678"}),
        )
        .await;
    let order = placed.ok(201).clone();
    let order_id = order["id"].as_str().unwrap().to_owned();
    assert_eq!(order["status"], "pending_payment");
    assert_eq!(order["total"], 349_800);
    assert_eq!(order["phone"], "254712345678");
    assert_eq!(order["items"].as_array().unwrap().len(), 2);
    assert!(order["expires_at"].is_string());

    let paid = order_until(&app, &token, &order_id, |o| o["status"] == "paid").await;
    assert_eq!(paid["payment"]["status"], "succeeded");
    assert_eq!(paid["payment"]["paid_amount"], 349_800);
    assert!(paid["payment"]["mpesa_receipt"].is_string());
    assert_eq!(paid["payment"]["attempts"], 1);

    assert_eq!(fake.violations(), Vec::<String>::new());
    let pushes = fake.requests();
    assert_eq!(pushes.len(), 1);
    let push = &pushes[0];
    assert_eq!(push["Amount"], 3498);
    assert_eq!(
        push["PhoneNumber"].to_string().trim_matches('"'),
        "254712345678"
    );
    let callback_url = format!(
        "{}/payments/mpesa/callback/{}",
        app.state.public_url, app.state.callback_token
    );
    assert_eq!(push["CallBackURL"], callback_url);
    let reference = push["AccountReference"].as_str().unwrap();
    assert!(reference.len() <= 12);
    assert_eq!(
        reference,
        account_reference(order_id.parse::<Uuid>().unwrap())
    );

    assert_eq!(stock(&app, phone_id).await, (3, 0));
    assert_eq!(stock(&app, case_id).await, (2, 0));
    let cart = app.get("/cart", Some(&token)).await;
    assert_eq!(cart.ok(200)["items"], json!([]));

    ship_and_deliver(&app, &admin, &order_id).await;

    let events = app
        .state
        .store
        .read_correlated(order_id.parse().unwrap())
        .await
        .expect("correlated events");
    let types: Vec<&str> = events.iter().map(|e| e.event_type.as_str()).collect();
    for expected in [
        "OrderPlaced",
        "PaymentRequested",
        "StockReserved",
        "CartCheckedOut",
        "PaymentRequestAccepted",
        "PaymentConfirmed",
        "StockSold",
        "OrderShipped",
        "OrderDelivered",
    ] {
        assert!(
            types.contains(&expected),
            "{expected} not correlated: {types:?}"
        );
    }
    let accepted = events
        .iter()
        .find(|e| e.event_type == "PaymentRequestAccepted")
        .unwrap();
    let requested = events
        .iter()
        .find(|e| e.event_type == "PaymentRequested")
        .unwrap();
    assert_eq!(accepted.metadata.causation_id, Some(requested.event_id));
    app.stop().await;
}

#[tokio::test]
async fn the_simulator_walks_the_whole_flow_and_a_declined_prompt_can_be_retried() {
    let app = TestApp::spawn().await;
    let (_, token) = customer(&app);
    let admin = admin(&app);
    let product_id = product(&app, "Kettle", 250_000, 2).await;

    let order = super::checkout_one(&app, &token, product_id, PHONE).await;
    let order_id = order["id"].as_str().unwrap().to_owned();
    order_until(&app, &token, &order_id, |o| o["status"] == "paid").await;
    assert_eq!(stock(&app, product_id).await, (1, 0));
    ship_and_deliver(&app, &admin, &order_id).await;

    // `…0001`: the customer cancels the prompt (1032); the order stays payable.
    let declined = super::checkout_one(&app, &token, product_id, "0700000001").await;
    let declined_id = declined["id"].as_str().unwrap().to_owned();
    let failed = order_until(&app, &token, &declined_id, |o| {
        o["payment"]["status"] == "failed"
    })
    .await;
    assert_eq!(failed["status"], "pending_payment");
    assert_eq!(
        failed["payment"]["failure_reason"],
        "cancelled on the phone"
    );
    assert_eq!(stock(&app, product_id).await, (1, 1));

    let retry = app
        .post(
            &format!("/orders/{declined_id}/payment"),
            Some(&token),
            json!({"phone": PHONE}),
        )
        .await;
    assert_eq!(retry.ok(202)["payment"]["attempts"], 2);
    let paid = order_until(&app, &token, &declined_id, |o| o["status"] == "paid").await;
    assert_eq!(paid["payment"]["attempts"], 2);
    assert_eq!(stock(&app, product_id).await, (0, 0));
    let again = app
        .post(
            &format!("/orders/{declined_id}/payment"),
            Some(&token),
            json!({}),
        )
        .await;
    again.problem(409);
    let events = order_events(&app, &declined_id).await;
    assert_eq!(
        events.iter().filter(|t| *t == "PaymentConfirmed").count(),
        1
    );
    app.stop().await;
}

async fn read_until(response: &mut reqwest::Response, seen: &mut String, needle: &str) {
    tokio::time::timeout(WAIT, async {
        while !seen.contains(needle) {
            let chunk = response.chunk().await.expect("stream open").expect("chunk");
            seen.push_str(&String::from_utf8_lossy(&chunk));
        }
    })
    .await
    .unwrap_or_else(|_| panic!("{needle} not streamed; got {seen}"));
}

#[tokio::test]
async fn the_order_feed_pushes_each_change() {
    let (app, fake) = with_fake(|_| {}).await;
    fake.set_mode(FakeMode::NoCallback);
    let (_, token) = customer(&app);
    let product_id = product(&app, "Lamp", 10_000, 1).await;
    let order = super::checkout_one(&app, &token, product_id, PHONE).await;
    let order_id = order["id"].as_str().unwrap().to_owned();
    let waiting = order_until(&app, &token, &order_id, |o| {
        o["payment"]["checkout_request_id"].is_string()
    })
    .await;
    let checkout_request_id = waiting["payment"]["checkout_request_id"]
        .as_str()
        .unwrap()
        .to_owned();

    let (_, stranger) = customer(&app);
    let hidden = app
        .get(&format!("/orders/{order_id}/events"), Some(&stranger))
        .await;
    hidden.problem(404);

    let mut response = app
        .client
        .get(app.url(&format!("/orders/{order_id}/events")))
        .bearer_auth(&token)
        .send()
        .await
        .expect("feed opens");
    assert_eq!(response.status(), 200);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );
    let mut seen = String::new();
    read_until(&mut response, &mut seen, "\"status\":\"pending_payment\"").await;
    let status = fake
        .send_callback(&checkout_request_id, FakeOutcome::Success)
        .await
        .expect("callback delivered");
    assert_eq!(status, 200);
    read_until(&mut response, &mut seen, "\"status\":\"paid\"").await;
    assert!(seen.contains("event: tracking"));
    drop(response);
    app.stop().await;
}

/// Daraja refuses the STK push itself (here: a client configured with the wrong passkey, so
/// the password does not check out): the attempt fails with Daraja's answer, the order stays
/// payable with its stock reserved, and a new attempt can be asked for.
#[tokio::test]
async fn a_push_daraja_refuses_fails_the_attempt_and_leaves_the_order_payable() {
    use std::sync::Arc;
    use tillroll::payments::fake::{FakeConfig, FakeDaraja};
    use tillroll::payments::{DarajaClient, MpesaGateway, Secret};

    let fake = FakeDaraja::start(FakeConfig::default())
        .await
        .expect("fake Daraja");
    let mut client = fake.client_config();
    client.passkey = Secret::new("not the passkey");
    let gateway: Arc<dyn MpesaGateway> = Arc::new(DarajaClient::new(client).expect("client"));
    let app = TestApp::spawn_with(crate::support::app::test_config(), Some(gateway)).await;
    let (_, token) = customer(&app);
    let product_id = product(&app, "Heater", 45_000, 2).await;

    let order = super::checkout_one(&app, &token, product_id, PHONE).await;
    let id = order["id"].as_str().unwrap().to_owned();
    let failed = order_until(&app, &token, &id, |o| o["payment"]["status"] == "failed").await;
    assert_eq!(failed["status"], "pending_payment");
    let reason = failed["payment"]["failure_reason"]
        .as_str()
        .unwrap_or_default();
    assert!(reason.contains("Password"), "{reason}");
    assert!(
        fake.violations().iter().any(|v| v.starts_with("Password")),
        "{:?}",
        fake.violations()
    );
    assert!(fake.requests().is_empty(), "the fake accepted a push");
    assert_eq!(stock(&app, product_id).await, (2, 1));

    // The customer may ask again: a second attempt, refused the same way.
    let retry = app
        .post(&format!("/orders/{id}/payment"), Some(&token), json!({}))
        .await;
    assert_eq!(retry.ok(202)["payment"]["attempts"], 2, "{}", retry.text);
    order_until(&app, &token, &id, |o| {
        o["payment"]["attempts"] == 2 && o["payment"]["status"] == "failed"
    })
    .await;
    app.stop().await;
}
