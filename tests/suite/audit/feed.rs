//! The NDJSON export and the live SSE feed against the log itself.

use std::time::Duration;

use serde_json::{Value, json};
use tillroll::auth::Role;
use tillroll::http::views::event::EventView;
use tillroll_events::{EncodedEvent, LogPosition, Metadata, StreamId};
use uuid::Uuid;

use super::{emit_many, last_appended, readable, token};
use crate::support::{Reply, TestApp};

fn numbered(
    stream: &StreamId,
    from: usize,
    n: usize,
) -> (StreamId, Vec<tillroll::store::NewEvent>) {
    let events = (from..from + n)
        .map(|i| {
            tillroll::store::NewEvent::new(
                EncodedEvent {
                    event_type: if i % 3 == 0 { "Tick" } else { "Tock" }.into(),
                    schema_version: 1,
                    data: json!({ "n": i }),
                    personal: Default::default(),
                },
                Metadata::system(Uuid::now_v7()),
            )
        })
        .collect();
    (stream.clone(), events)
}

async fn log(app: &TestApp) -> Vec<Value> {
    app.state
        .store
        .read_all(LogPosition::START, 1_000_000)
        .await
        .unwrap()
        .iter()
        .map(|e| serde_json::to_value(EventView::from(e)).unwrap())
        .collect()
}

async fn export(app: &TestApp, token: &str, query: &str) -> Vec<Value> {
    let response = app
        .client
        .get(app.url(&format!("/audit/events{query}")))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-type"].to_str().unwrap(),
        "application/x-ndjson"
    );
    let text = response.text().await.unwrap();
    assert!(text.is_empty() || text.ends_with('\n'));
    // Beside the `event`, a line carries what its leaf covers: no personal data here.
    text.lines()
        .map(|l| {
            let mut line: Value = serde_json::from_str(l).unwrap();
            assert_eq!(
                line.as_object_mut().unwrap().remove("pii_subject"),
                Some(Value::Null)
            );
            assert!(line.get("sealed").is_none());
            line
        })
        .collect()
}

#[tokio::test]
async fn the_export_is_the_log_in_order_from_any_position() {
    let app = TestApp::spawn().await;
    let (a, b) = (
        StreamId::new("tally", Uuid::now_v7()),
        StreamId::new("tally", Uuid::now_v7()),
    );
    // More than one export batch, over interleaved streams.
    for round in 0..5 {
        emit_many(
            &app.state.store,
            vec![
                numbered(&a, round * 300, 300),
                numbered(&b, round * 200, 200),
            ],
        )
        .await;
    }
    readable(&app, last_appended(&app).await).await;
    let (_, auditor) = token(&app, Role::Auditor);
    let log = log(&app).await;
    assert_eq!(log.len(), 2500);

    assert_eq!(export(&app, &auditor, "").await, log);
    let after = log[1234]["position"].as_i64().unwrap();
    assert_eq!(
        export(&app, &auditor, &format!("?after={after}")).await,
        log[1235..]
    );
    assert_eq!(
        export(&app, &auditor, &format!("?after={after}&limit=1001")).await,
        log[1235..2236]
    );
    let ticks: Vec<Value> = log
        .iter()
        .filter(|e| e["type"] == "Tick")
        .cloned()
        .collect();
    assert_eq!(export(&app, &auditor, "?type=Tick").await, ticks);
    assert_eq!(
        export(&app, &auditor, "?type=Tick&limit=5").await,
        ticks[..5]
    );

    let unknown = app.get("/audit/events?after=999999", Some(&auditor)).await;
    assert_eq!(unknown.problem(400)["errors"][0]["field"], "after");
    let zero = app.get("/audit/events?limit=0", Some(&auditor)).await;
    assert_eq!(zero.problem(400)["errors"][0]["field"], "limit");
    let junk = app.get("/audit/events?after=abc", Some(&auditor)).await;
    assert_eq!(junk.problem(400)["errors"][0]["field"], "after");

    // One stream's events.
    let stream = app
        .get(&format!("/audit/streams/{a}"), Some(&auditor))
        .await;
    let stream = stream.ok(200).as_array().unwrap().clone();
    assert_eq!(stream.len(), 1500);
    assert!(
        stream
            .iter()
            .enumerate()
            .all(|(i, e)| e["version"] == i as i64 + 1)
    );
    let mine: Vec<&Value> = log
        .iter()
        .filter(|e| e["stream_id"] == a.as_str())
        .collect();
    assert_eq!(stream.iter().collect::<Vec<_>>(), mine);
    app.get(
        &format!("/audit/streams/tally-{}", Uuid::now_v7()),
        Some(&auditor),
    )
    .await
    .problem(404);
    let bad = app.get("/audit/streams/nope", Some(&auditor)).await;
    assert_eq!(bad.problem(400)["errors"][0]["field"], "stream_id");
    app.stop().await;
}

/// A client of the live feed: SSE messages with their ids.
pub struct Live {
    response: reqwest::Response,
    buffer: String,
}

impl Live {
    pub async fn connect(app: &TestApp, token: &str, last_event_id: Option<i64>) -> Self {
        let mut request = app.client.get(app.url("/events/live")).bearer_auth(token);
        if let Some(id) = last_event_id {
            request = request.header("Last-Event-ID", id.to_string());
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(
            response.headers()["content-type"].to_str().unwrap(),
            "text/event-stream"
        );
        Self {
            response,
            buffer: String::new(),
        }
    }

    /// The next event: (SSE id, data).
    pub async fn next(&mut self) -> (i64, Value) {
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let message: String = self.buffer.drain(..end + 2).collect();
                let (mut id, mut data) = (None, None);
                for line in message.lines() {
                    if let Some(v) = line.strip_prefix("id:") {
                        id = Some(v.trim().parse::<i64>().unwrap());
                    } else if let Some(v) = line.strip_prefix("data:") {
                        data = Some(serde_json::from_str::<Value>(v.trim()).unwrap());
                    }
                }
                match (id, data) {
                    (Some(id), Some(data)) => return (id, data),
                    _ => continue, // a keep-alive comment
                }
            }
            let chunk = tokio::time::timeout(Duration::from_secs(20), self.response.chunk())
                .await
                .expect("the live feed sends within 20 s")
                .unwrap()
                .expect("the live feed stays open");
            self.buffer.push_str(std::str::from_utf8(&chunk).unwrap());
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_live_feed_resumed_with_last_event_id_misses_and_repeats_nothing() {
    let app = TestApp::spawn().await;
    let (_, auditor) = token(&app, Role::Auditor);
    let marker = emit_many(
        &app.state.store,
        vec![numbered(&StreamId::new("tally", Uuid::now_v7()), 0, 1)],
    )
    .await;
    let start = marker.last;

    // Appends keep coming, one transaction each, across several streams, while the client
    // reads, disconnects and resumes.
    const APPENDS: usize = 150;
    let writer = {
        let store = app.state.store.clone();
        tokio::spawn(async move {
            let streams: Vec<StreamId> = (0..3)
                .map(|_| StreamId::new("tally", Uuid::now_v7()))
                .collect();
            let mut last = 0;
            for i in 0..APPENDS {
                last = emit_many(&store, vec![numbered(&streams[i % 3], i, 1)])
                    .await
                    .last;
                if i % 10 == 0 {
                    tokio::task::yield_now().await;
                }
            }
            last
        })
    };

    let mut seen = Vec::new();
    let mut live = Live::connect(&app, &auditor, Some(start)).await;
    for _ in 0..40 {
        seen.push(live.next().await);
    }
    drop(live);
    let resume = seen.last().unwrap().0;
    let mut live = Live::connect(&app, &auditor, Some(resume)).await;
    while seen.len() < APPENDS {
        seen.push(live.next().await);
    }
    let last = writer.await.unwrap();
    drop(live);
    readable(&app, last).await;

    let expected: Vec<Value> = log(&app)
        .await
        .into_iter()
        .skip_while(|e| e["position"].as_i64().unwrap() != start)
        .skip(1)
        .collect();
    assert_eq!(expected.len(), APPENDS);
    let ids: Vec<i64> = seen.iter().map(|(id, _)| *id).collect();
    let data: Vec<Value> = seen.into_iter().map(|(_, d)| d).collect();
    assert_eq!(data, expected, "every event once, in log order");
    assert!(ids.iter().zip(&data).all(|(id, d)| d["position"] == *id));
    app.stop().await;
}

#[tokio::test]
async fn the_live_feed_starts_at_the_head_without_last_event_id() {
    let app = TestApp::spawn().await;
    let (_, auditor) = token(&app, Role::Admin);
    let stream = StreamId::new("tally", Uuid::now_v7());
    let old = emit_many(&app.state.store, vec![numbered(&stream, 0, 3)]).await;
    readable(&app, old.last).await;
    let mut live = Live::connect(&app, &auditor, None).await;
    let fresh = emit_many(&app.state.store, vec![numbered(&stream, 3, 1)]).await;
    let (id, event) = live.next().await;
    assert_eq!(id, fresh.last);
    assert_eq!(event["data"]["n"], 3);
    drop(live);

    let bad = app
        .client
        .get(app.url("/events/live"))
        .bearer_auth(&auditor)
        .header("Last-Event-ID", "999999")
        .send()
        .await
        .unwrap();
    let bad: Reply = TestApp::read(bad).await;
    assert_eq!(bad.problem(400)["errors"][0]["field"], "Last-Event-ID");
    app.stop().await;
}
