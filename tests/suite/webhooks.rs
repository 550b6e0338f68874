//! Webhooks through the real router and a local receiver: every event after the subscription,
//! in log order, signed (Standard Webhooks); retried until the receiver succeeds, none twice
//! after; a hanging receiver delays no other subscription; disable and re-enable resume with
//! no gap; internal URLs refused unless allowed; secrets shown once.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::money::{PHONE, admin, checkout_one, customer, order_until, product};
use crate::support::TestApp;
use crate::support::app::test_config;
use crate::support::receiver::{Receiver, signed_by};

async fn app() -> TestApp {
    let mut config = test_config();
    config.webhooks_allow_private = true;
    config.webhooks_first_retry = Duration::from_millis(100);
    TestApp::spawn_with(config, None).await
}

async fn subscribe(app: &TestApp, token: &str, url: &str, types: Value) -> (String, String) {
    let made = app
        .post(
            "/webhooks",
            Some(token),
            json!({"url": url, "event_types": types}),
        )
        .await;
    let body = made.ok(201);
    let id = body["id"].as_str().expect("an id");
    assert_eq!(
        made.header("location"),
        Some(format!("/webhooks/{id}").as_str())
    );
    let secret = body["secret"]
        .as_str()
        .expect("the secret, once")
        .to_owned();
    assert!(secret.starts_with("whsec_"));
    (body["id"].as_str().unwrap().to_owned(), secret)
}

/// The ids of the events after `after` (a log index), of `types` (None: all), in log order.
async fn events_after(app: &TestApp, after: i64, types: Option<&[&str]>) -> Vec<String> {
    let rows: Vec<(uuid::Uuid, String)> = sqlx::query_as(
        "SELECT e.event_id, e.event_type FROM event_log l JOIN events e USING (global_position) \
         WHERE l.log_index > $1 ORDER BY l.log_index",
    )
    .bind(after)
    .fetch_all(app.pool())
    .await
    .unwrap();
    rows.into_iter()
        .filter(|(_, kind)| types.is_none_or(|t| t.contains(&kind.as_str())))
        .map(|(id, _)| id.to_string())
        .collect()
}

async fn head(app: &TestApp) -> i64 {
    app.state.store.sequence_pending().await.unwrap();
    app.state.store.head().await.unwrap().log_index
}

/// A paid order and a cancelled one: a dozen events of several types.
async fn shop(app: &TestApp) {
    let (_, token) = customer(app);
    let kettle = product(app, "Kettle", 150_000, 5).await;
    let paid = checkout_one(app, &token, kettle, PHONE).await;
    let paid = paid["id"].as_str().unwrap().to_owned();
    order_until(app, &token, &paid, |o| o["status"] == "paid").await;
}

/// Waits until `receiver` has had every one of `expected` answered 2xx.
async fn wait_delivered(receiver: &Receiver, expected: &[String]) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while receiver.delivered().len() < expected.len() {
        assert!(
            Instant::now() < deadline,
            "delivered {} of {}",
            receiver.delivered().len(),
            expected.len()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn every_event_is_delivered_in_order_signed_and_retried_until_it_succeeds() {
    let app = app().await;
    let token = admin(&app);
    let healthy = Receiver::start().await;
    let flaky = Receiver::start().await;
    flaky.fail_first(3);
    let orders_only = Receiver::start().await;
    let start = head(&app).await;
    let (_, healthy_secret) = subscribe(&app, &token, &healthy.url, json!(["*"])).await;
    let (flaky_id, flaky_secret) = subscribe(&app, &token, &flaky.url, json!(["*"])).await;
    let types = json!(["OrderPlaced", "PaymentConfirmed"]);
    let (_, orders_secret) = subscribe(&app, &token, &orders_only.url, types).await;
    shop(&app).await;
    let expected = events_after(&app, start, None).await;
    assert!(expected.len() >= 6, "{expected:?}");
    wait_delivered(&healthy, &expected).await;
    wait_delivered(&flaky, &expected).await;
    let paid = events_after(&app, start, Some(&["OrderPlaced", "PaymentConfirmed"])).await;
    wait_delivered(&orders_only, &paid).await;

    assert_eq!(healthy.delivered(), expected, "all, in log order, once");
    assert_eq!(flaky.delivered(), expected, "all, in log order, none twice");
    assert_eq!(
        orders_only.delivered(),
        paid,
        "only the types subscribed to"
    );
    // The flaky one was sent the first event four times (three 500s, then 200), nothing else
    // before it succeeded.
    let tries: Vec<(String, u16)> = flaky
        .received()
        .iter()
        .map(|r| (r.id.clone(), r.status))
        .collect();
    assert_eq!(
        &tries[..4],
        &[
            (expected[0].clone(), 500),
            (expected[0].clone(), 500),
            (expected[0].clone(), 500),
            (expected[0].clone(), 200)
        ]
    );
    for (receiver, secret) in [
        (&healthy, &healthy_secret),
        (&flaky, &flaky_secret),
        (&orders_only, &orders_secret),
    ] {
        for received in receiver.received() {
            assert!(signed_by(&received, secret), "signature of {}", received.id);
            assert_eq!(received.body["event_id"], received.id.as_str());
            assert!((received.timestamp - chrono::Utc::now().timestamp()).abs() < 300);
        }
    }
    // Another subscription's secret does not verify these.
    assert!(!signed_by(&healthy.received()[0], &flaky_secret));

    // The attempts are listed, newest first.
    let deliveries = app
        .get(
            &format!("/webhooks/{flaky_id}/deliveries?limit=100"),
            Some(&token),
        )
        .await;
    let items = deliveries.ok(200)["items"].as_array().unwrap().clone();
    let first: Vec<(i64, Option<i64>)> = items
        .iter()
        .rev()
        .take(4)
        .map(|d| (d["attempt"].as_i64().unwrap(), d["status_code"].as_i64()))
        .collect();
    assert_eq!(
        first,
        [
            (1, Some(500)),
            (2, Some(500)),
            (3, Some(500)),
            (4, Some(200))
        ]
    );
    assert!(
        items
            .iter()
            .rev()
            .take(3)
            .all(|d| d["next_attempt_at"].is_string())
    );
    // Secrets are never listed.
    let listed = app.get("/webhooks", Some(&token)).await;
    assert_eq!(listed.ok(200)["items"].as_array().unwrap().len(), 3);
    assert!(!listed.text.contains("whsec_"), "{}", listed.text);
    app.stop().await;
}

#[tokio::test]
async fn a_hanging_receiver_delays_no_other_and_resumes_with_no_gap_after_reenabling() {
    let app = app().await;
    let token = admin(&app);
    let healthy = Receiver::start().await;
    let stuck = Receiver::start().await;
    stuck.hang(true);
    let start = head(&app).await;
    subscribe(&app, &token, &healthy.url, json!(["*"])).await;
    let (stuck_id, stuck_secret) = subscribe(&app, &token, &stuck.url, json!(["*"])).await;
    shop(&app).await;
    let expected = events_after(&app, start, None).await;
    // The healthy one gets everything while the other hangs on its first event.
    wait_delivered(&healthy, &expected).await;
    assert_eq!(healthy.delivered(), expected);
    assert!(stuck.delivered().is_empty());

    // Disabled, then the receiver recovers and the subscription is enabled again.
    let path = format!("/webhooks/{stuck_id}");
    let off = app
        .call(
            reqwest::Method::PATCH,
            &path,
            Some(&token),
            Some(json!({"disabled": true})),
        )
        .await;
    assert_eq!(off.ok(200)["disabled"], true);
    stuck.hang(false);
    let on = app
        .call(
            reqwest::Method::PATCH,
            &path,
            Some(&token),
            Some(json!({"disabled": false})),
        )
        .await;
    assert_eq!(on.ok(200)["disabled"], false);
    wait_delivered(&stuck, &expected).await;
    assert_eq!(
        stuck.delivered(),
        expected,
        "from the first undelivered event, no gap"
    );
    assert!(stuck.received().iter().all(|r| signed_by(r, &stuck_secret)));

    // A test message reaches it too, and is listed.
    let sent = app
        .post(
            &format!("/webhooks/{stuck_id}/test"),
            Some(&token),
            json!({}),
        )
        .await;
    assert_eq!(sent.status, 202);
    let deadline = Instant::now() + Duration::from_secs(20);
    while !stuck
        .received()
        .iter()
        .any(|r| r.body["type"] == "WebhookTest")
    {
        assert!(Instant::now() < deadline, "no test message");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    app.stop().await;
}

#[tokio::test]
async fn internal_urls_and_bad_subscriptions_are_refused() {
    let app = TestApp::spawn().await;
    let token = admin(&app);
    for url in [
        "http://127.0.0.1:9/hook",
        "http://localhost/x",
        "http://169.254.169.254/",
    ] {
        let refused = app
            .post(
                "/webhooks",
                Some(&token),
                json!({"url": url, "event_types": ["*"]}),
            )
            .await;
        let problem = refused.problem(400);
        assert_eq!(problem["errors"][0]["field"], "url", "{url}: {problem}");
    }
    let bad_type = app
        .post(
            "/webhooks",
            Some(&token),
            json!({"url": "https://example.com/hook", "event_types": ["NoSuchEvent"]}),
        )
        .await;
    assert_eq!(bad_type.problem(400)["errors"][0]["field"], "event_types");
    let (_, customer_token) = customer(&app);
    let forbidden = app
        .post(
            "/webhooks",
            Some(&customer_token),
            json!({"url": "https://example.com/hook", "event_types": ["*"]}),
        )
        .await;
    forbidden.problem(403);
    let (count,): (i64,) = sqlx::query_as("SELECT count(*) FROM webhooks")
        .fetch_one(app.pool())
        .await
        .unwrap();
    assert_eq!(count, 0);
    app.stop().await;
}

#[tokio::test]
async fn a_receiver_failing_for_a_day_is_disabled_and_resumes_when_enabled() {
    let app = app().await;
    let token = admin(&app);
    let failing = Receiver::start().await;
    failing.fail_first(usize::MAX);
    let start = head(&app).await;
    let (id, _) = subscribe(&app, &token, &failing.url, json!(["*"])).await;
    shop(&app).await;
    let expected = events_after(&app, start, None).await;
    let deadline = Instant::now() + Duration::from_secs(20);
    while failing.received().is_empty() {
        assert!(Instant::now() < deadline, "never tried");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // As if it had been failing since yesterday (the change restarts its delivery loop).
    sqlx::query(
        "UPDATE webhooks SET failing_since = now() - interval '25 hours', updated_at = now() \
         WHERE id = $1::uuid",
    )
    .bind(&id)
    .execute(app.pool())
    .await
    .unwrap();
    let path = format!("/webhooks/{id}");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let now = app.get(&path, Some(&token)).await;
        if now.ok(200)["disabled"] == true {
            break;
        }
        assert!(Instant::now() < deadline, "not disabled: {}", now.text);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let tries = failing.received().len();
    tokio::task::yield_now().await;
    assert!(failing.delivered().is_empty());
    // Fixed and enabled again: everything, from the first event, in order.
    failing.fail_first(0);
    let on = app
        .call(
            reqwest::Method::PATCH,
            &path,
            Some(&token),
            Some(json!({"disabled": false})),
        )
        .await;
    assert_eq!(on.ok(200)["disabled"], false);
    wait_delivered(&failing, &expected).await;
    assert_eq!(failing.delivered(), expected);
    assert!(failing.received().len() > tries);
    app.stop().await;
}
