//! Daraja down, and the server restarting with orders in flight.

use std::time::Duration;

use serde_json::json;
use tillroll::payments::fake::{FakeMode, FakeOutcome};

use super::{PHONE, customer, order_until, product, stock, with_fake};

#[tokio::test]
async fn daraja_down_leaves_the_order_payable_with_its_stock_held() {
    let (app, fake) = with_fake(|_| {}).await;
    fake.set_mode(FakeMode::Down);
    let (_, token) = customer(&app);
    let product_id = product(&app, "Blender", 70_000, 3).await;
    let order = super::checkout_one(&app, &token, product_id, PHONE).await;
    let order_id = order["id"].as_str().unwrap().to_owned();

    let failed = order_until(&app, &token, &order_id, |o| {
        o["payment"]["status"] == "failed"
    })
    .await;
    assert_eq!(failed["status"], "pending_payment");
    let reason = failed["payment"]["failure_reason"].as_str().unwrap();
    assert!(reason.contains("could not be reached"), "{reason}");
    assert_eq!(stock(&app, product_id).await, (3, 1));

    // Daraja is back: the owner asks again and pays.
    fake.set_mode(FakeMode::Callback(FakeOutcome::Success));
    app.post(
        &format!("/orders/{order_id}/payment"),
        Some(&token),
        json!({}),
    )
    .await
    .ok(202);
    order_until(&app, &token, &order_id, |o| o["status"] == "paid").await;
    assert_eq!(stock(&app, product_id).await, (2, 0));
    app.stop().await;
}

#[tokio::test]
async fn daraja_down_then_expiry_releases_the_reservation() {
    let (app, fake) = with_fake(|c| c.reservation_ttl = Duration::from_secs(2)).await;
    fake.set_mode(FakeMode::Down);
    let (_, token) = customer(&app);
    let product_id = product(&app, "Toaster", 90_000, 1).await;
    let order = super::checkout_one(&app, &token, product_id, PHONE).await;
    let order_id = order["id"].as_str().unwrap().to_owned();
    let expired = order_until(&app, &token, &order_id, |o| {
        o["status"] == "expired" && o["payment"]["status"] == "failed"
    })
    .await;
    assert!(expired["payment"]["failure_reason"].is_string());
    assert_eq!(stock(&app, product_id).await, (1, 0));
    let tracking = app
        .get(&format!("/orders/{order_id}/tracking"), Some(&token))
        .await;
    let history = tracking.ok(200)["history"].as_array().unwrap().clone();
    assert!(history.iter().any(|s| s["status"] == "expired"));
    app.stop().await;
}

#[tokio::test]
async fn orders_in_flight_survive_a_restart() {
    let (mut app, fake) = with_fake(|c| {
        c.reservation_ttl = Duration::from_secs(6);
        c.reconcile_after = Duration::from_secs(1);
    })
    .await;
    fake.set_mode(FakeMode::NoCallback);
    let (_, token) = customer(&app);
    let product_id = product(&app, "Speaker", 60_000, 5).await;
    let unpaid = super::checkout_one(&app, &token, product_id, PHONE).await;
    let unpaid_id = unpaid["id"].as_str().unwrap().to_owned();
    let paying = super::checkout_one(&app, &token, product_id, PHONE).await;
    let paying_id = paying["id"].as_str().unwrap().to_owned();
    let accepted = order_until(&app, &token, &paying_id, |o| {
        o["payment"]["checkout_request_id"].is_string()
    })
    .await;
    order_until(&app, &token, &unpaid_id, |o| {
        o["payment"]["checkout_request_id"].is_string()
    })
    .await;
    let checkout_id = accepted["payment"]["checkout_request_id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(stock(&app, product_id).await, (5, 2));

    app.restart().await;
    // The customer pays while the server is away: its callback is lost (it went to the old
    // address, where nothing listens any more), so only the reconciler's query can learn of it.
    let lost = fake.send_callback(&checkout_id, FakeOutcome::Success).await;
    assert!(lost.is_err(), "the callback reached a server: {lost:?}");

    order_until(&app, &token, &paying_id, |o| o["status"] == "paid").await;
    assert!(
        fake.queries()
            .iter()
            .any(|q| q["CheckoutRequestID"] == checkout_id.as_str()),
        "the order was settled without a query for its push"
    );
    order_until(&app, &token, &unpaid_id, |o| o["status"] == "expired").await;
    assert_eq!(stock(&app, product_id).await, (4, 0));
    // The payment reactor resumed from its checkpoint: no push was sent twice.
    assert_eq!(fake.push_calls(), 2);
    app.stop().await;
}

/// The payment reactor crashed after Daraja accepted its push and before it recorded the
/// acceptance (what it had kept: the dispatch and Daraja's answer beside it). The push is not
/// sent again; its callback, arriving while no acceptance is recorded, is kept; the reactors
/// that take over record the acceptance from what was kept and settle the order with that
/// callback's receipt.
#[tokio::test]
async fn a_push_accepted_but_not_recorded_before_a_crash_is_recovered_not_resent() {
    use std::sync::Arc;
    use tillroll::payments::fake::{FakeConfig, FakeDaraja};
    use tillroll::payments::{DarajaClient, MpesaGateway, StkPush};

    let fake = FakeDaraja::start(FakeConfig::default()).await.unwrap();
    fake.set_mode(FakeMode::NoCallback);
    let gateway: Arc<dyn MpesaGateway> = Arc::new(DarajaClient::new(fake.client_config()).unwrap());
    let mut app = crate::support::TestApp::spawn_without_reactors_with(Some(gateway.clone())).await;
    let (_, token) = customer(&app);
    let product_id = product(&app, "Kettle", 50_000, 2).await;
    let order = super::checkout_one(&app, &token, product_id, PHONE).await;
    let order_id: uuid::Uuid = order["id"].as_str().unwrap().parse().unwrap();
    let events = app
        .state
        .store
        .read_stream(&format!("order-{order_id}"), 0)
        .await
        .unwrap();
    let attempt_id = events
        .iter()
        .find(|e| e.event_type == "PaymentRequested")
        .map(|e| {
            e.data["attempt_id"]
                .as_str()
                .unwrap()
                .parse::<uuid::Uuid>()
                .unwrap()
        })
        .expect("an attempt was requested");

    // What the crashed reactor did: recorded the dispatch, pushed, kept Daraja's answer.
    sqlx::query(
        "INSERT INTO stk_dispatches (attempt_id, order_id, holder, epoch) \
         VALUES ($1, $2, 'crashed-node', 1)",
    )
    .bind(attempt_id)
    .bind(order_id)
    .execute(app.pool())
    .await
    .unwrap();
    let push = StkPush {
        phone: "254712345678".into(),
        amount_shillings: 500,
        account_reference: tillroll::domain::payment::account_reference(order_id),
        description: tillroll::domain::payment::transaction_desc(order_id),
        callback_url: format!(
            "{}/payments/mpesa/callback/{}",
            app.state.public_url, app.state.callback_token
        ),
    };
    let accepted = gateway
        .stk_push(&push)
        .await
        .expect("the fake accepts the push");
    sqlx::query(
        "UPDATE stk_dispatches SET checkout_request_id = $2, merchant_request_id = $3, \
             answered_at = now() - interval '1 minute' WHERE attempt_id = $1",
    )
    .bind(attempt_id)
    .bind(&accepted.checkout_request_id)
    .bind(&accepted.merchant_request_id)
    .execute(app.pool())
    .await
    .unwrap();
    // The customer pays; the callback finds no recorded acceptance and is kept.
    let status = fake
        .send_callback(&accepted.checkout_request_id, FakeOutcome::Success)
        .await
        .unwrap();
    assert_eq!(status, 200);
    let (kept,): (bool,) = sqlx::query_as(
        "SELECT processed_at IS NULL FROM mpesa_callbacks WHERE checkout_request_id = $1",
    )
    .bind(&accepted.checkout_request_id)
    .fetch_one(app.pool())
    .await
    .unwrap();
    assert!(kept, "the callback waits in the inbox");

    // The reactors run here now (the crashed node's leases are gone).
    app.release_lock().await;
    let order_id = order_id.to_string();
    let paid = order_until(&app, &token, &order_id, |o| o["status"] == "paid").await;
    assert_eq!(
        paid["payment"]["checkout_request_id"],
        accepted.checkout_request_id.as_str()
    );
    assert!(paid["payment"]["mpesa_receipt"].is_string(), "{paid}");
    assert_eq!(fake.requests().len(), 1, "the push was not sent again");
    assert_eq!(stock(&app, product_id).await, (1, 0));
    app.stop().await;
}
