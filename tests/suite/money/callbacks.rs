//! Daraja's callback: duplicates, unknown ids, wrong amounts, late successes (with and without
//! stock), malformed bodies and wrong tokens.

use serde_json::{Value, json};
use tillroll::payments::fake::{FakeDaraja, FakeMode, FakeOutcome};
use tillroll::payments::{CallbackOutcome, CallbackResult, build_callback};
use uuid::Uuid;

use super::{PHONE, customer, order_events, order_until, product, stock, with_fake};
use crate::support::TestApp;

fn callback_path(app: &TestApp) -> String {
    format!("/payments/mpesa/callback/{}", app.state.callback_token)
}

fn paid(checkout_request_id: &str, shillings: i64) -> Value {
    build_callback(&CallbackResult {
        merchant_request_id: "29115-34620561-1".into(),
        checkout_request_id: checkout_request_id.into(),
        outcome: CallbackOutcome::Paid {
            amount_shillings: shillings,
            receipt: "SKP4XG7T2B".into(),
            transaction_date: Some(chrono::Utc::now()),
            phone: Some("254712345678".into()),
        },
    })
}

/// An order whose STK push the fake accepted but did not answer; its CheckoutRequestID.
async fn waiting_order(app: &TestApp, token: &str, product_id: Uuid) -> (String, String) {
    let order = super::checkout_one(app, token, product_id, PHONE).await;
    let order_id = order["id"].as_str().unwrap().to_owned();
    let accepted = order_until(app, token, &order_id, |o| {
        o["payment"]["checkout_request_id"].is_string()
    })
    .await;
    let id = accepted["payment"]["checkout_request_id"].as_str().unwrap();
    (order_id, id.to_owned())
}

async fn quiet_fake(configure: impl FnOnce(&mut tillroll::Config)) -> (TestApp, FakeDaraja) {
    let (app, fake) = with_fake(configure).await;
    fake.set_mode(FakeMode::NoCallback);
    (app, fake)
}

#[tokio::test]
async fn duplicate_callbacks_confirm_once_and_unknown_ones_change_nothing() {
    let (app, _fake) = quiet_fake(|_| {}).await;
    let (_, token) = customer(&app);
    let product_id = product(&app, "Radio", 120_000, 4).await;
    let (order_id, checkout_id) = waiting_order(&app, &token, product_id).await;

    let body = paid(&checkout_id, 1200);
    let path = callback_path(&app);
    let (first, second) = tokio::join!(
        app.post(&path, None, body.clone()),
        app.post(&path, None, body.clone())
    );
    for reply in [&first, &second] {
        assert_eq!(
            reply.ok(200),
            &json!({"ResultCode": 0, "ResultDesc": "Accepted"})
        );
    }
    let order = order_until(&app, &token, &order_id, |o| o["status"] == "paid").await;
    assert_eq!(order["payment"]["mpesa_receipt"], "SKP4XG7T2B");
    app.post(&path, None, body).await.ok(200);
    let events = order_events(&app, &order_id).await;
    assert_eq!(
        events.iter().filter(|t| *t == "PaymentConfirmed").count(),
        1
    );
    assert_eq!(stock(&app, product_id).await, (3, 0));

    let before = order_events(&app, &order_id).await;
    let unknown = app
        .post(&path, None, paid("ws_CO_000000000000000000", 1200))
        .await;
    assert_eq!(unknown.ok(200)["ResultCode"], 0);
    assert_eq!(order_events(&app, &order_id).await, before);
    assert_eq!(stock(&app, product_id).await, (3, 0));
    app.stop().await;
}

#[tokio::test]
async fn malformed_callbacks_are_400_and_wrong_tokens_404() {
    let app = TestApp::spawn().await;
    let path = callback_path(&app);
    let missing = json!({"Body": {"stkCallback": {"MerchantRequestID": "1", "ResultCode": 0}}});
    let reply = app.post(&path, None, missing).await;
    assert_eq!(
        reply.problem(400)["errors"][0]["field"],
        "Body.stkCallback.CheckoutRequestID"
    );
    let not_json = app
        .client
        .post(app.url(&path))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    TestApp::read(not_json).await.problem(400);
    let no_amount = json!({"Body": {"stkCallback": {
        "MerchantRequestID": "1", "CheckoutRequestID": "ws_CO_1", "ResultCode": 0,
        "ResultDesc": "ok", "CallbackMetadata": {"Item": [{"Name": "MpesaReceiptNumber", "Value": "X"}]}}}});
    app.post(&path, None, no_amount).await.problem(400);
    let wrong = app
        .post(
            "/payments/mpesa/callback/not-the-token",
            None,
            paid("ws_CO_1", 1),
        )
        .await;
    wrong.problem(404);
    app.stop().await;
}

#[tokio::test]
async fn a_wrong_amount_is_recorded_and_flagged_not_accepted() {
    let (app, _fake) = quiet_fake(|_| {}).await;
    let (_, token) = customer(&app);
    let product_id = product(&app, "Iron", 300_000, 2).await;
    let (order_id, checkout_id) = waiting_order(&app, &token, product_id).await;
    app.post(&callback_path(&app), None, paid(&checkout_id, 1))
        .await
        .ok(200);
    let order = order_until(&app, &token, &order_id, |o| o["refund_due"] == true).await;
    assert_eq!(order["status"], "pending_payment");
    assert_eq!(order["payment"]["status"], "failed");
    let reason = order["payment"]["failure_reason"].as_str().unwrap();
    assert!(reason.contains("amount mismatch"), "{reason}");
    assert_eq!(stock(&app, product_id).await, (2, 1));
    let events = order_events(&app, &order_id).await;
    assert!(events.contains(&"PaymentAmountMismatch".to_owned()));
    assert!(!events.contains(&"PaymentConfirmed".to_owned()));
    app.stop().await;
}

#[tokio::test]
async fn a_success_after_expiry_resells_when_stock_allows() {
    let (app, fake) = quiet_fake(|c| c.reservation_ttl = std::time::Duration::from_secs(3)).await;
    let (_, token) = customer(&app);
    let product_id = product(&app, "Fan", 400_000, 1).await;
    let (order_id, checkout_id) = waiting_order(&app, &token, product_id).await;
    order_until(&app, &token, &order_id, |o| o["status"] == "expired").await;
    assert_eq!(stock(&app, product_id).await, (1, 0));

    let status = fake
        .send_callback(&checkout_id, FakeOutcome::Success)
        .await
        .expect("callback delivered");
    assert_eq!(status, 200);
    let order = order_until(&app, &token, &order_id, |o| o["status"] == "paid").await;
    assert_eq!(order["refund_due"], false);
    assert_eq!(stock(&app, product_id).await, (0, 0));
    app.stop().await;
}

#[tokio::test]
async fn a_success_after_expiry_without_stock_is_flagged_for_refund() {
    let (app, fake) = quiet_fake(|c| c.reservation_ttl = std::time::Duration::from_secs(3)).await;
    let (_, token) = customer(&app);
    let product_id = product(&app, "Heater", 500_000, 1).await;
    let (order_id, checkout_id) = waiting_order(&app, &token, product_id).await;
    order_until(&app, &token, &order_id, |o| o["status"] == "expired").await;

    let (_, other) = customer(&app);
    super::checkout_one(&app, &other, product_id, PHONE).await;
    assert_eq!(stock(&app, product_id).await, (1, 1));

    fake.send_callback(&checkout_id, FakeOutcome::Success)
        .await
        .expect("callback delivered");
    let order = order_until(&app, &token, &order_id, |o| o["refund_due"] == true).await;
    assert_eq!(order["status"], "expired");
    // The money arrived: the payment keeps its receipt, and the refund is due.
    assert_eq!(order["payment"]["status"], "succeeded");
    assert!(order["payment"]["mpesa_receipt"].is_string(), "{order}");
    assert_eq!(stock(&app, product_id).await, (1, 1));
    app.stop().await;
}

#[tokio::test]
async fn an_unreachable_phone_is_settled_by_a_query() {
    let (app, fake) = quiet_fake(|_| {}).await;
    let (_, token) = customer(&app);
    let admin = super::admin(&app);
    let product_id = product(&app, "Torch", 20_000, 1).await;
    let (order_id, checkout_id) = waiting_order(&app, &token, product_id).await;

    let unreachable = build_callback(&CallbackResult {
        merchant_request_id: "1".into(),
        checkout_request_id: checkout_id.clone(),
        outcome: CallbackOutcome::NotPaid {
            result_code: "1037".into(),
            description: "DS timeout user cannot be reached".into(),
        },
    });
    app.post(&callback_path(&app), None, unreachable)
        .await
        .ok(200);
    let path = format!("/orders/{order_id}/payment/reconcile");
    // Daraja still has no answer: nothing changes.
    let pending = app.post(&path, Some(&admin), json!({})).await;
    assert_eq!(pending.ok(200)["payment"]["status"], "requested");
    // The customer did pay after all, and Daraja sends no second callback: only a query
    // learns the real outcome, which replaces the 1037.
    fake.decide_silently(&checkout_id, FakeOutcome::Success)
        .expect("the fake knows the push");
    let queries_before = fake.queries().len();
    let settled = app.post(&path, Some(&admin), json!({})).await;
    assert_eq!(settled.ok(200)["status"], "paid", "{}", settled.text);
    assert_eq!(settled.body["payment"]["status"], "succeeded");
    assert!(
        fake.queries().len() > queries_before,
        "no STK query was sent"
    );
    let order = order_until(&app, &token, &order_id, |o| o["status"] == "paid").await;
    assert_eq!(order["payment"]["status"], "succeeded");
    let (_, stranger) = customer(&app);
    app.post(&path, Some(&stranger), json!({}))
        .await
        .problem(403);
    app.stop().await;
}

#[tokio::test]
async fn reconcile_answers_paid_failed_409_and_503() {
    let (app, fake) = quiet_fake(|_| {}).await;
    let (_, token) = customer(&app);
    let admin = super::admin(&app);
    let product_id = product(&app, "Fan", 30_000, 5).await;
    let (failing_id, failing) = waiting_order(&app, &token, product_id).await;
    let (paying_id, paying) = waiting_order(&app, &token, product_id).await;
    let reconcile = |id: &str| format!("/orders/{id}/payment/reconcile");

    // Daraja unreachable: 503 with Retry-After, nothing recorded.
    fake.set_mode(FakeMode::Down);
    let down = app
        .post(&reconcile(&failing_id), Some(&admin), json!({}))
        .await;
    down.problem(503);
    assert!(down.header("retry-after").is_some());
    fake.set_mode(FakeMode::NoCallback);
    let unchanged = app
        .get(&format!("/orders/{failing_id}"), Some(&token))
        .await;
    assert_eq!(unchanged.ok(200)["payment"]["status"], "requested");

    // Daraja says the customer cancelled: the attempt failed, the order stays payable.
    fake.decide_silently(
        &failing,
        FakeOutcome::failure("1032", "Request cancelled by user"),
    )
    .expect("the fake knows the push");
    let failed = app
        .post(&reconcile(&failing_id), Some(&admin), json!({}))
        .await;
    assert_eq!(
        failed.ok(200)["payment"]["status"],
        "failed",
        "{}",
        failed.text
    );
    assert_eq!(failed.body["status"], "pending_payment");
    // No attempt awaits an answer any more.
    app.post(&reconcile(&failing_id), Some(&admin), json!({}))
        .await
        .problem(409);

    // Daraja says it was paid: the order is paid, and then there is nothing to reconcile.
    fake.decide_silently(&paying, FakeOutcome::Success)
        .expect("the fake knows the push");
    let paid = app
        .post(&reconcile(&paying_id), Some(&admin), json!({}))
        .await;
    assert_eq!(paid.ok(200)["status"], "paid", "{}", paid.text);
    app.post(&reconcile(&paying_id), Some(&admin), json!({}))
        .await
        .problem(409);
    // One sold, one still reserved by the payable order.
    assert_eq!(stock(&app, product_id).await, (4, 1));
    assert!(fake.violations().is_empty(), "{:?}", fake.violations());
    app.stop().await;
}

/// The owner cancels while Daraja's success callback arrives: whichever wins, the money and
/// the stock add up — paid and kept, or cancelled with a refund due; never confirmed twice,
/// never left reserved.
#[tokio::test]
async fn a_cancel_racing_a_success_callback_keeps_money_and_stock_consistent() {
    let (app, _fake) = quiet_fake(|_| {}).await;
    let (_, token) = customer(&app);
    let product_id = product(&app, "Iron", 20_000, 5).await;
    let path = callback_path(&app);
    let mut outcomes = Vec::new();
    for round in 0..4 {
        let (order_id, checkout_id) = waiting_order(&app, &token, product_id).await;
        let cancel_path = format!("/orders/{order_id}/cancel");
        let cancel = app.post(
            &cancel_path,
            Some(&token),
            json!({"reason": "changed my mind"}),
        );
        let callback = app.post(&path, None, paid(&checkout_id, 200));
        // Each goes first in turn.
        let (cancel, callback) = if round % 2 == 0 {
            tokio::join!(cancel, callback)
        } else {
            let (callback, cancel) = tokio::join!(callback, cancel);
            (cancel, callback)
        };
        assert_eq!(callback.ok(200)["ResultCode"], 0);
        // Settled: paid, or cancelled with the late payment flagged for refund.
        let settled = |o: &Value| o["status"] == "paid" || o["refund_due"] == true;
        let order = order_until(&app, &token, &order_id, settled).await;
        let events = order_events(&app, &order_id).await;
        let count = |kind: &str| events.iter().filter(|t| *t == kind).count();
        match cancel.status.as_u16() {
            200 => {
                assert_eq!(order["status"], "cancelled", "round {round}: {order}");
                assert_eq!(order["refund_due"], true, "round {round}: {order}");
                assert_eq!(count("PaymentConfirmed"), 0, "round {round}: {events:?}");
            }
            409 => {
                assert_eq!(order["status"], "paid", "round {round}: {order}");
                assert_eq!(order["refund_due"], false, "round {round}: {order}");
                assert_eq!(order["payment"]["mpesa_receipt"], "SKP4XG7T2B");
                assert_eq!(count("PaymentConfirmed"), 1, "round {round}: {events:?}");
            }
            other => panic!("round {round}: cancel answered {other}: {}", cancel.text),
        }
        outcomes.push((cancel.status.as_u16(), events));
    }
    // Nothing stays reserved; what was sold is what was paid and kept.
    let kept = outcomes.iter().filter(|(status, _)| *status == 409).count() as i64;
    assert_eq!(stock(&app, product_id).await, (5 - kept, 0), "{outcomes:?}");
    app.stop().await;
}

/// A success callback sent the moment the order's reservation runs out, racing the expiry
/// reactor (on this machine the callback usually wins; the expiry-first order is the
/// `a_success_after_expiry_*` tests): with stock to spare, either way the order ends paid,
/// confirmed once, with one unit sold and nothing left reserved.
#[tokio::test]
async fn a_success_at_the_deadline_is_paid_once() {
    let (app, _fake) = quiet_fake(|c| c.reservation_ttl = std::time::Duration::from_secs(1)).await;
    let (_, token) = customer(&app);
    let product_id = product(&app, "Grill", 60_000, 10).await;
    let path = callback_path(&app);
    for round in 0..3 {
        let (order_id, checkout_id) = waiting_order(&app, &token, product_id).await;
        let order = app.get(&format!("/orders/{order_id}"), Some(&token)).await;
        let expires_at: chrono::DateTime<chrono::Utc> = order.ok(200)["expires_at"]
            .as_str()
            .expect("a pending order expires")
            .parse()
            .unwrap();
        // Wait for the deadline itself (not for an event): from then on the expiry may fire.
        app.eventually(super::WAIT, || async {
            (chrono::Utc::now() >= expires_at).then_some(())
        })
        .await;
        let callback = app.post(&path, None, paid(&checkout_id, 600)).await;
        assert_eq!(callback.ok(200)["ResultCode"], 0);
        let order = order_until(&app, &token, &order_id, |o| o["status"] == "paid").await;
        assert_eq!(order["refund_due"], false, "round {round}: {order}");
        let events = order_events(&app, &order_id).await;
        let confirmed = events.iter().filter(|t| *t == "PaymentConfirmed").count();
        assert_eq!(confirmed, 1, "round {round}: {events:?}");
    }
    assert_eq!(stock(&app, product_id).await, (7, 0));
    app.stop().await;
}

/// The three at once: the reservation runs out (the expiry reactor fires), the owner cancels
/// and Daraja's success callback arrives, each round with cancel or callback sent first. With
/// stock to spare, the order ends paid (one `PaymentConfirmed`, one unit sold: the callback
/// came first, or after the expiry and re-reserved) or cancelled with the late payment
/// flagged for refund (nothing sold); it is cancelled at most once, and nothing stays
/// reserved.
#[tokio::test]
async fn cancel_expiry_and_a_success_callback_at_once_settle_once() {
    let (app, _fake) = quiet_fake(|c| c.reservation_ttl = std::time::Duration::from_secs(1)).await;
    let (_, token) = customer(&app);
    let product_id = product(&app, "Fan", 30_000, 10).await;
    let path = callback_path(&app);
    let mut sold = 0;
    for round in 0..4 {
        let (order_id, checkout_id) = waiting_order(&app, &token, product_id).await;
        let order = app.get(&format!("/orders/{order_id}"), Some(&token)).await;
        let expires_at: chrono::DateTime<chrono::Utc> = order.ok(200)["expires_at"]
            .as_str()
            .expect("a pending order expires")
            .parse()
            .unwrap();
        app.eventually(super::WAIT, || async {
            (chrono::Utc::now() >= expires_at).then_some(())
        })
        .await;
        let cancel_path = format!("/orders/{order_id}/cancel");
        let cancel = app.post(&cancel_path, Some(&token), json!({}));
        let callback = app.post(&path, None, paid(&checkout_id, 300));
        let (cancel, callback) = if round % 2 == 0 {
            tokio::join!(cancel, callback)
        } else {
            let (callback, cancel) = tokio::join!(callback, cancel);
            (cancel, callback)
        };
        assert_eq!(callback.ok(200)["ResultCode"], 0);
        let settled = |o: &Value| o["status"] == "paid" || o["refund_due"] == true;
        let order = order_until(&app, &token, &order_id, settled).await;
        let events = order_events(&app, &order_id).await;
        let count = |kind: &str| events.iter().filter(|t| *t == kind).count();
        assert!(count("OrderCancelled") <= 1, "round {round}: {events:?}");
        match cancel.status.as_u16() {
            200 => {
                assert_eq!(order["status"], "cancelled", "round {round}: {order}");
                assert_eq!(order["refund_due"], true, "round {round}: {order}");
                assert_eq!(count("PaymentConfirmed"), 0, "round {round}: {events:?}");
            }
            409 => {
                assert_eq!(order["status"], "paid", "round {round}: {order}");
                assert_eq!(order["refund_due"], false, "round {round}: {order}");
                assert_eq!(count("PaymentConfirmed"), 1, "round {round}: {events:?}");
                assert_eq!(count("OrderCancelled"), 0, "round {round}: {events:?}");
                sold += 1;
            }
            other => panic!("round {round}: cancel answered {other}: {}", cancel.text),
        }
    }
    assert_eq!(stock(&app, product_id).await, (10 - sold, 0));
    app.stop().await;
}

/// Daraja's callback arrives before the push's acceptance is recorded, and the process that
/// records it does not settle the inbox right after (it stops in between): the timers' inbox
/// sweep settles the kept callback once reactors run.
#[tokio::test]
async fn a_callback_that_came_before_its_push_was_recorded_is_settled_by_the_sweep() {
    use tillroll::commands::CommandContext;
    use tillroll::payments::StkPushAccepted;
    use tillroll_events::OrderEvent;

    let mut app = TestApp::spawn_without_reactors().await;
    let (_, token) = customer(&app);
    let product_id = product(&app, "Clock", 15_000, 2).await;
    let order = super::checkout_one(&app, &token, product_id, PHONE).await;
    let order_id: Uuid = order["id"].as_str().unwrap().parse().unwrap();
    let events = app
        .state
        .store
        .read_stream(&format!("order-{order_id}"), 0)
        .await
        .unwrap();
    let attempt_id = events
        .iter()
        .find_map(|e| match e.decode::<OrderEvent>().ok()? {
            OrderEvent::PaymentRequested { attempt_id, .. } => Some(attempt_id),
            _ => None,
        })
        .expect("the order requested a payment");
    let checkout_id = format!("ws_CO_early{}", Uuid::new_v4().simple());

    // The callback first: kept, answered as Daraja expects, nothing settled.
    let early = app
        .post(&callback_path(&app), None, paid(&checkout_id, 150))
        .await;
    assert_eq!(early.ok(200)["ResultCode"], 0);
    // Then the acceptance, recorded as the payment reactor does, minus its settling step.
    let ctx = CommandContext::system(order_id, chrono::Utc::now());
    let accepted = StkPushAccepted {
        merchant_request_id: "29115-34620561-1".into(),
        checkout_request_id: checkout_id.clone(),
    };
    let recorded = app
        .state
        .commands
        .record_push_accepted(&ctx, order_id, attempt_id, &accepted, super::WAIT * 10)
        .await
        .expect("the acceptance is recorded");
    let at = recorded.position.expect("events were appended");
    let path = format!("/orders/{order_id}");
    let waiting = app.get_after(&path, Some(&token), at).await;
    assert_eq!(waiting.ok(200)["status"], "pending_payment");
    assert_eq!(waiting.body["payment"]["checkout_request_id"], checkout_id);

    // Reactors start here: the sweep finds the kept callback and settles it.
    app.release_lock().await;
    let order = order_until(&app, &token, &order_id.to_string(), |o| {
        o["status"] == "paid"
    })
    .await;
    assert_eq!(order["payment"]["mpesa_receipt"], "SKP4XG7T2B");
    assert_eq!(stock(&app, product_id).await, (1, 0));
    app.stop().await;
}
