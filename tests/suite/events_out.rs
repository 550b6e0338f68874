//! Events out to NATS JetStream (the NATS server at `TEST_NATS_URL`, default
//! `nats://127.0.0.1:4222`): every event of a run, once, in log order, with its subject and
//! headers; a consumer filtered on one aggregate sees exactly its events. Each test has its
//! own stream and subject prefix.

use std::time::Duration;

use async_nats::jetstream;
use futures_util::StreamExt;
use serde_json::json;

use crate::money::{PHONE, checkout_one, customer, order_until, product};
use crate::support::TestApp;
use crate::support::app::test_config;
use crate::support::nats::{
    assert_stream_is_the_log, delete_stream, fresh_nats, logged, wait_for_log,
};

#[tokio::test]
async fn every_event_reaches_jetstream_once_in_log_order() {
    let nats = fresh_nats();
    let mut config = test_config();
    config.nats = Some(nats.clone());
    let app = TestApp::spawn_with(config, None).await;
    let (_, token) = customer(&app);
    let kettle = product(&app, "Kettle", 150_000, 5).await;
    let paid = checkout_one(&app, &token, kettle, PHONE).await;
    let paid = paid["id"].as_str().unwrap().to_owned();
    order_until(&app, &token, &paid, |o| o["status"] == "paid").await;
    let cancelled = checkout_one(&app, &token, kettle, PHONE).await;
    let cancelled = cancelled["id"].as_str().unwrap().to_owned();
    // Cancelled before it is paid, or paid first: either is an event or two more.
    let _ = app
        .post(
            &format!("/orders/{cancelled}/cancel"),
            Some(&token),
            json!({}),
        )
        .await;
    let body = json!({"product_id": kettle, "quantity": 2});
    app.post("/cart/items", Some(&token), body).await.ok(200);
    // A registration, and an order whose payment the customer declines (phone …0001).
    crate::accounts::register(&app, "nats").await;
    let declined = checkout_one(&app, &token, kettle, "0712340001").await;
    let declined = declined["id"].as_str().unwrap().to_owned();
    order_until(&app, &token, &declined, |o| {
        o["payment"]["status"] == "failed"
    })
    .await;
    // Everything settled: the log stops growing once the payments are done.
    order_until(&app, &token, &cancelled, |o| {
        o["status"] == "cancelled" || o["status"] == "paid"
    })
    .await;
    wait_for_log(&nats, app.pool()).await;
    assert_stream_is_the_log(&nats, app.pool()).await;

    // A consumer filtered on orders sees exactly the order events.
    let client = async_nats::connect(&nats.url).await.unwrap();
    let context = jetstream::new(client);
    let stream = context.get_stream(&nats.stream).await.unwrap();
    let consumer: jetstream::consumer::PullConsumer = stream
        .create_consumer(jetstream::consumer::pull::Config {
            filter_subject: format!("{}.events.order.>", nats.subject_prefix),
            ack_policy: jetstream::consumer::AckPolicy::None,
            ..Default::default()
        })
        .await
        .unwrap();
    let orders: Vec<_> = logged(app.pool())
        .await
        .into_iter()
        .filter(|(_, _, stream, _, _)| stream.starts_with("order-"))
        .map(|(_, id, _, _, _)| id.to_string())
        .collect();
    let mut batch = consumer
        .fetch()
        .max_messages(orders.len() + 10)
        .expires(Duration::from_secs(2))
        .messages()
        .await
        .unwrap();
    let mut seen = Vec::new();
    while let Some(message) = batch.next().await {
        let message = message.unwrap();
        let headers = message.headers.as_ref().unwrap();
        seen.push(headers.get("Nats-Msg-Id").unwrap().as_str().to_owned());
    }
    assert_eq!(seen, orders, "exactly the order events, in log order");
    delete_stream(&nats).await;
    app.stop().await;
}
