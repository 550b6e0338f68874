//! Refunds by M-Pesa B2C against the fake Daraja (and the simulator): full and partial,
//! more than refundable, concurrent requests, duplicate and late results, failures, queue
//! time-outs settled by a transaction status query.

use std::sync::Arc;

use serde_json::{Value, json};
use tillroll::payments::fake::{B2cMode, FakeConfig, FakeDaraja, FakeOutcome};
use tillroll::payments::{B2cGateway, DarajaClient, MpesaGateway};
use uuid::Uuid;

use super::{PHONE, WAIT, admin, checkout_one, customer, order_events, order_until, product};
use crate::support::TestApp;
use crate::support::app::test_config;

/// KES 1,500.00.
const PRICE: i64 = 150_000;

/// A server paying in and out through a fresh fake Daraja.
async fn with_fake_b2c() -> (TestApp, FakeDaraja) {
    let fake = FakeDaraja::start(FakeConfig::default())
        .await
        .expect("fake Daraja");
    let client = DarajaClient::new(fake.client_config())
        .expect("client")
        .with_b2c(fake.b2c_config());
    let client = Arc::new(client);
    let stk: Arc<dyn MpesaGateway> = client.clone();
    let b2c: Arc<dyn B2cGateway> = client;
    let app = TestApp::spawn_with_b2c(test_config(), Some(stk), b2c).await;
    (app, fake)
}

/// A paid order (cancelled by an admin when `cancel`): its id.
async fn paid_order(app: &TestApp, token: &str, phone: &str, cancel: bool) -> String {
    let product_id = product(app, "Blender", PRICE, 50).await;
    let order = checkout_one(app, token, product_id, phone).await;
    let id = order["id"].as_str().unwrap().to_owned();
    order_until(app, token, &id, |o| o["status"] == "paid").await;
    if cancel {
        let path = format!("/orders/{id}/cancel");
        let admin = admin(app);
        let cancelled = app
            .post(&path, Some(&admin), json!({"reason": "out of stock"}))
            .await;
        assert_eq!(cancelled.ok(200)["refund_due"], true, "{}", cancelled.text);
    }
    id
}

async fn refund(app: &TestApp, order_id: &str, body: Value) -> crate::support::app::Reply {
    let path = format!("/orders/{order_id}/refunds");
    app.post(&path, Some(&admin(app)), body).await
}

/// Polls GET /orders/{id}/refunds until `check` accepts the list.
async fn refunds_until(
    app: &TestApp,
    token: &str,
    order_id: &str,
    check: impl Fn(&[Value]) -> bool,
) -> Vec<Value> {
    let path = format!("/orders/{order_id}/refunds");
    app.eventually(WAIT, || async {
        let reply = app.get(&path, Some(token)).await;
        let list = reply.body.as_array().cloned().unwrap_or_default();
        (reply.status == 200 && check(&list)).then_some(list)
    })
    .await
}

#[tokio::test]
async fn a_cancelled_paid_order_is_refunded_in_full_by_b2c() {
    let (app, fake) = with_fake_b2c().await;
    let (_, token) = customer(&app);
    let order_id = paid_order(&app, &token, PHONE, true).await;

    let reply = refund(&app, &order_id, json!({"reason": "cancelled by the shop"})).await;
    let requested = reply.ok(202);
    assert_eq!(requested["status"], "requested", "{}", reply.text);
    assert_eq!(requested["amount"], PRICE);
    assert_eq!(requested["currency"], "KES");
    assert_eq!(requested["phone"], "254712345678");

    let order = order_until(&app, &token, &order_id, |o| o["status"] == "refunded").await;
    assert_eq!(order["refund_due"], false);
    assert_eq!(order["payment"]["refunded_amount"], PRICE);
    assert_eq!(order["payment"]["status"], "succeeded");
    assert!(order["payment"]["mpesa_receipt"].is_string());

    let refunds = refunds_until(&app, &token, &order_id, |r| {
        r.len() == 1 && r[0]["status"] == "completed"
    })
    .await;
    assert!(refunds[0]["mpesa_receipt"].is_string());
    assert!(refunds[0]["completed_at"].is_string());

    let sent = fake.b2c_requests();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0]["Amount"], PRICE / 100);
    assert_eq!(sent[0]["PartyB"], 254_712_345_678_u64);
    assert_eq!(sent[0]["OriginatorConversationID"], requested["id"]);
    assert!(fake.violations().is_empty(), "{:?}", fake.violations());
    assert!(
        order_events(&app, &order_id)
            .await
            .ends_with(&["RefundCompleted".to_owned(), "OrderRefunded".to_owned()])
    );
    // Only the owner and admins see the refunds.
    let (_, stranger) = customer(&app);
    let path = format!("/orders/{order_id}/refunds");
    app.get(&path, Some(&stranger)).await.problem(404);
    app.stop().await;
}

#[tokio::test]
async fn partial_refunds_up_to_what_was_paid_and_more_is_a_409() {
    let (app, _fake) = with_fake_b2c().await;
    let (_, token) = customer(&app);
    let order_id = paid_order(&app, &token, PHONE, false).await;

    refund(
        &app,
        &order_id,
        json!({"amount": 50_000, "reason": "a scratch"}),
    )
    .await
    .ok(202);
    let too_much = refund(
        &app,
        &order_id,
        json!({"amount": 100_100, "reason": "more"}),
    )
    .await;
    let problem = too_much.problem(409);
    assert_eq!(problem["refundable"], PRICE - 50_000, "{}", too_much.text);

    let cents = refund(&app, &order_id, json!({"amount": 1_050, "reason": "cents"})).await;
    assert_eq!(
        cents.problem(400)["errors"][0]["field"],
        "amount",
        "{}",
        cents.text
    );
    let small = refund(&app, &order_id, json!({"amount": 900, "reason": "small"})).await;
    small.problem(409);
    let no_reason = refund(&app, &order_id, json!({})).await;
    assert_eq!(
        no_reason.problem(400)["errors"][0]["field"],
        "reason",
        "{}",
        no_reason.text
    );

    let rest = refund(&app, &order_id, json!({"reason": "the rest"})).await;
    assert_eq!(rest.ok(202)["amount"], PRICE - 50_000);
    let refunds = refunds_until(&app, &token, &order_id, |r| {
        r.len() == 2 && r.iter().all(|r| r["status"] == "completed")
    })
    .await;
    assert_eq!(refunds[0]["amount"], 50_000);
    // A paid order refunded in full stays paid: only a cancelled one becomes `refunded`.
    let order = order_until(&app, &token, &order_id, |o| {
        o["payment"]["refunded_amount"] == PRICE
    })
    .await;
    assert_eq!(order["status"], "paid");
    refund(&app, &order_id, json!({"reason": "again"}))
        .await
        .problem(409);
    app.stop().await;
}

#[tokio::test]
async fn twenty_concurrent_refunds_never_refund_more_than_was_paid() {
    let (app, fake) = with_fake_b2c().await;
    fake.set_b2c_mode(B2cMode::NoResult);
    let (_, token) = customer(&app);
    let order_id = paid_order(&app, &token, PHONE, true).await;

    // KES 400 each: three fit in KES 1,500, a fourth does not.
    let requests = (0..20).map(|n| {
        refund(
            &app,
            &order_id,
            json!({"amount": 40_000, "reason": format!("request {n}")}),
        )
    });
    let replies = futures_util::future::join_all(requests).await;
    let accepted = replies.iter().filter(|r| r.status == 202).count();
    let refused = replies.iter().filter(|r| r.status == 409).count();
    assert_eq!(
        (accepted, refused),
        (3, 17),
        "{:?}",
        replies.iter().map(|r| &r.text).collect::<Vec<_>>()
    );
    let requested = order_events(&app, &order_id).await;
    assert_eq!(
        requested.iter().filter(|t| *t == "RefundRequested").count(),
        3
    );
    let sent = app
        .eventually(WAIT, || async {
            (fake.b2c_requests().len() == 3).then_some(())
        })
        .await;
    let () = sent;
    let total: i64 = fake
        .b2c_requests()
        .iter()
        .map(|b| b["Amount"].as_i64().unwrap())
        .sum();
    assert!(total * 100 <= PRICE);
    app.stop().await;
}

#[tokio::test]
async fn duplicate_and_late_results_change_nothing_and_a_failure_is_refundable_again() {
    let (app, fake) = with_fake_b2c().await;
    fake.set_b2c_mode(B2cMode::Result(FakeOutcome::failure(
        "2001",
        "The initiator information is invalid.",
    )));
    let (_, token) = customer(&app);
    let order_id = paid_order(&app, &token, PHONE, true).await;

    let first = refund(&app, &order_id, json!({"reason": "cancelled"})).await;
    let first_id = first.ok(202)["id"].as_str().unwrap().to_owned();
    let refunds = refunds_until(&app, &token, &order_id, |r| {
        r.len() == 1 && r[0]["status"] == "failed"
    })
    .await;
    assert!(
        refunds[0]["failure_reason"]
            .as_str()
            .unwrap()
            .contains("2001")
    );
    let order = order_until(&app, &token, &order_id, |o| o["status"] == "cancelled").await;
    assert_eq!(order["refund_due"], true, "still owed");

    // A late success for the failed refund is a duplicate: the first result stands.
    let status = fake
        .send_b2c_result(&first_id, FakeOutcome::Success)
        .await
        .unwrap();
    assert_eq!(status, 200);

    fake.set_b2c_mode(B2cMode::Result(FakeOutcome::Success));
    let second = refund(&app, &order_id, json!({"reason": "again"})).await;
    assert_eq!(
        second.ok(202)["amount"],
        PRICE,
        "the failed amount is refundable again"
    );
    let second_id = second.body["id"].as_str().unwrap().to_owned();
    order_until(&app, &token, &order_id, |o| o["status"] == "refunded").await;
    let events = order_events(&app, &order_id).await;

    // The same result again, and a late failure: nothing changes.
    for outcome in [FakeOutcome::Success, FakeOutcome::failure("1", "no funds")] {
        let status = fake.send_b2c_result(&second_id, outcome).await.unwrap();
        assert_eq!(status, 200);
    }
    let refunds = refunds_until(&app, &token, &order_id, |r| r.len() == 2).await;
    assert_eq!(refunds[0]["status"], "failed");
    assert_eq!(refunds[1]["status"], "completed");
    assert_eq!(order_events(&app, &order_id).await, events);
    assert_eq!(fake.b2c_requests().len(), 2, "each refund sent once");
    app.stop().await;
}

#[tokio::test]
async fn a_queue_time_out_is_settled_by_a_transaction_status_query() {
    let (app, fake) = with_fake_b2c().await;
    fake.set_b2c_mode(B2cMode::Timeout(FakeOutcome::Success));
    let (_, token) = customer(&app);
    let order_id = paid_order(&app, &token, PHONE, true).await;

    refund(&app, &order_id, json!({"reason": "cancelled"}))
        .await
        .ok(202);
    order_until(&app, &token, &order_id, |o| o["status"] == "refunded").await;
    let queries = fake.b2c_queries();
    assert!(!queries.is_empty(), "the reconciler asked M-Pesa");
    assert_eq!(queries[0]["CommandID"], "TransactionStatusQuery");
    assert_eq!(fake.b2c_requests().len(), 1, "never sent again");
    assert!(fake.violations().is_empty(), "{:?}", fake.violations());
    app.stop().await;
}

#[tokio::test]
async fn the_b2c_callbacks_need_the_token_and_a_result() {
    let (app, _fake) = with_fake_b2c().await;
    let token = app.state.callback_token.clone();
    let body = json!({"Result": {"ResultCode": 0, "OriginatorConversationID": Uuid::now_v7()}});
    app.post("/payments/mpesa/b2c/result/wrong", None, body.clone())
        .await
        .problem(404);
    app.post("/payments/mpesa/b2c/timeout/wrong", None, body.clone())
        .await
        .problem(404);
    let path = format!("/payments/mpesa/b2c/result/{token}");
    // A result for no payment is kept and answered; a body that is no result is a 400.
    assert_eq!(app.post(&path, None, body).await.ok(200)["ResultCode"], 0);
    app.post(&path, None, json!({"nope": 1})).await.problem(400);
    app.stop().await;
}

#[tokio::test]
async fn the_idempotency_key_replays_a_refund() {
    let (app, fake) = with_fake_b2c().await;
    let (_, token) = customer(&app);
    let order_id = paid_order(&app, &token, PHONE, true).await;
    let admin = admin(&app);
    let send = || {
        app.client
            .post(app.url(&format!("/orders/{order_id}/refunds")))
            .bearer_auth(&admin)
            .header("Idempotency-Key", "refund-once")
            .json(&json!({"amount": 50_000, "reason": "once"}))
            .send()
    };
    let first = TestApp::read(send().await.unwrap()).await;
    let second = TestApp::read(send().await.unwrap()).await;
    assert_eq!(first.ok(202)["id"], second.ok(202)["id"]);
    refunds_until(&app, &token, &order_id, |r| {
        r.len() == 1 && r[0]["status"] == "completed"
    })
    .await;
    assert_eq!(fake.b2c_requests().len(), 1);
    app.stop().await;
}

#[tokio::test]
async fn the_simulator_fails_b2c_to_phones_ending_0004() {
    let app = TestApp::spawn().await;
    let (_, token) = customer(&app);
    let order_id = paid_order(&app, &token, "0712340004", true).await;
    refund(&app, &order_id, json!({"reason": "cancelled"}))
        .await
        .ok(202);
    let refunds = refunds_until(&app, &token, &order_id, |r| {
        r.len() == 1 && r[0]["status"] == "failed"
    })
    .await;
    assert!(
        refunds[0]["failure_reason"]
            .as_str()
            .unwrap()
            .contains("2001")
    );

    let ok_order = paid_order(&app, &token, PHONE, true).await;
    refund(&app, &ok_order, json!({"reason": "cancelled"}))
        .await
        .ok(202);
    order_until(&app, &token, &ok_order, |o| o["status"] == "refunded").await;
    app.stop().await;
}
