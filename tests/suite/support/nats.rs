//! A JetStream stream of the test's own, and what it holds (the NATS server at
//! `TEST_NATS_URL`, default `nats://127.0.0.1:4222`).

use std::time::{Duration, Instant};

use async_nats::jetstream;
use tillroll::config::NatsConfig;
use uuid::Uuid;

pub fn nats_url() -> String {
    std::env::var("TEST_NATS_URL").unwrap_or_else(|_| "nats://127.0.0.1:4222".to_owned())
}

/// A stream name and subject prefix no other test uses.
pub fn fresh_nats() -> NatsConfig {
    let tag = Uuid::now_v7().simple().to_string();
    NatsConfig {
        url: nats_url(),
        stream: format!("TEST_{tag}"),
        subject_prefix: format!("t{tag}"),
    }
}

/// Every message of the stream, in stream order: `(subject, headers, body)`.
pub async fn stream_messages(
    config: &NatsConfig,
) -> Vec<(String, async_nats::HeaderMap, serde_json::Value)> {
    let client = async_nats::connect(&config.url)
        .await
        .expect("NATS answers");
    let context = jetstream::new(client);
    let mut stream = context
        .get_stream(&config.stream)
        .await
        .expect("the stream exists");
    let last = stream.info().await.unwrap().state.last_sequence;
    let mut messages = Vec::new();
    for sequence in 1..=last {
        let message = stream.get_raw_message(sequence).await.expect("a message");
        let body = serde_json::from_slice(&message.payload).expect("a JSON body");
        messages.push((message.subject.to_string(), message.headers, body));
    }
    messages
}

pub async fn delete_stream(config: &NatsConfig) {
    let client = async_nats::connect(&config.url)
        .await
        .expect("NATS answers");
    let _ = jetstream::new(client).delete_stream(&config.stream).await;
}

/// Every event of the database, in log order: `(log_index, event_id, stream, version, type)`.
pub async fn logged(pool: &sqlx::PgPool) -> Vec<(i64, Uuid, String, i64, String)> {
    sqlx::query_as(
        "SELECT l.log_index, e.event_id, e.stream_id, e.stream_version, e.event_type \
         FROM event_log l JOIN events e USING (global_position) ORDER BY l.log_index",
    )
    .fetch_all(pool)
    .await
    .unwrap()
}

/// Asserts the stream holds exactly the log, once, in order, with API.md's subjects and
/// headers.
pub async fn assert_stream_is_the_log(config: &NatsConfig, pool: &sqlx::PgPool) {
    let log = logged(pool).await;
    let messages = stream_messages(config).await;
    assert_eq!(messages.len(), log.len(), "one message per event");
    for ((index, id, stream, version, kind), (subject, headers, body)) in log.iter().zip(&messages)
    {
        let header = |name: &str| headers.get(name).map(|v| v.as_str().to_owned());
        let aggregate = stream.split_once('-').unwrap().0;
        assert_eq!(
            subject,
            &format!("{}.events.{aggregate}.{kind}", config.subject_prefix)
        );
        assert_eq!(header("Nats-Msg-Id"), Some(id.to_string()));
        assert_eq!(header("Tillroll-Log-Index"), Some(index.to_string()));
        assert_eq!(header("Tillroll-Stream"), Some(stream.clone()));
        assert_eq!(header("Tillroll-Version"), Some(version.to_string()));
        assert_eq!(body["event_id"], id.to_string());
        assert_eq!(body["log_index"], *index);
        assert_eq!(body["type"], kind.as_str());
    }
}

/// Waits until everything committed is sequenced and the stream holds as many messages as
/// the log has events.
pub async fn wait_for_log(config: &NatsConfig, pool: &sqlx::PgPool) {
    let client = async_nats::connect(&config.url)
        .await
        .expect("NATS answers");
    let context = jetstream::new(client);
    let deadline = Instant::now() + Duration::from_secs(40);
    loop {
        let (queued, logged): (i64, i64) = sqlx::query_as(
            "SELECT (SELECT count(*) FROM log_queue), (SELECT count(*) FROM event_log)",
        )
        .fetch_one(pool)
        .await
        .unwrap();
        let published = match context.get_stream(&config.stream).await {
            Ok(mut stream) => stream.info().await.map_or(0, |i| i.state.messages),
            Err(_) => 0,
        };
        if queued == 0 && published == logged as u64 {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the stream has {published} messages, the log {logged} events ({queued} queued)"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
