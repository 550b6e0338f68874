//! Tampering with stored events is reported by stream and version: hash chains catch edited,
//! deleted and reordered events; the signed checkpoint catches a deleted tail or stream.

use serde_json::json;
use tillroll::audit::checkpoint::{latest, record_if_advanced, spawn_periodic};
use tillroll::auth::Role;
use tillroll_events::{EncodedEvent, Metadata, StreamId};
use uuid::Uuid;

use super::{emit_many, token};
use crate::support::TestApp;

fn events(stream: &str, n: usize) -> (StreamId, Vec<tillroll::store::NewEvent>) {
    let stream = StreamId::new(stream, Uuid::now_v7());
    let events = (0..n)
        .map(|i| {
            tillroll::store::NewEvent::new(
                EncodedEvent {
                    event_type: "TestHappened".into(),
                    schema_version: 1,
                    data: json!({ "n": i, "amount": 1000 + i }),
                },
                Metadata::system(Uuid::now_v7()),
            )
        })
        .collect();
    (stream, events)
}

/// Runs statements with the immutability triggers off, as an attacker with the database would.
async fn tamper(app: &TestApp, statements: &[String]) {
    let mut conn = app.pool().acquire().await.unwrap();
    sqlx::query("SET session_replication_role = replica")
        .execute(&mut *conn)
        .await
        .unwrap();
    for sql in statements {
        sqlx::query(sqlx::AssertSqlSafe(sql.clone()))
            .execute(&mut *conn)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
    }
    sqlx::query("RESET session_replication_role")
        .execute(&mut *conn)
        .await
        .unwrap();
}

#[tokio::test]
async fn edits_deletions_swaps_and_truncations_are_reported_with_stream_and_version() {
    let app = TestApp::spawn().await;
    let (edited, deleted, swapped, truncated, dropped, intact) = (
        events("edited", 3),
        events("deleted", 3),
        events("swapped", 4),
        events("truncated", 3),
        events("dropped", 2),
        events("intact", 3),
    );
    let names: Vec<StreamId> = [&edited, &deleted, &swapped, &truncated, &dropped, &intact]
        .iter()
        .map(|(s, _)| s.clone())
        .collect();
    emit_many(
        &app.state.store,
        vec![edited, deleted, swapped, truncated, dropped, intact],
    )
    .await;
    let (_, admin) = token(&app, Role::Admin);
    let (_, auditor) = token(&app, Role::Auditor);

    let checkpoint = app
        .post("/audit/checkpoints", Some(&admin), json!({}))
        .await;
    let checkpoint = checkpoint.ok(201).clone();
    assert_eq!(checkpoint["streams"], 6);
    assert_eq!(checkpoint["events"], 18);
    assert_eq!(checkpoint["merkle_root"].as_str().unwrap().len(), 64);
    assert_eq!(checkpoint["algorithm"], "HMAC-SHA256");
    let latest = app.get("/audit/checkpoints/latest", Some(&auditor)).await;
    assert_eq!(latest.ok(200)["checkpoint_id"], checkpoint["checkpoint_id"]);
    // An event after the checkpoint is fine: it only extends a chain.
    emit_many(&app.state.store, vec![events("later", 1)]).await;

    let report = app
        .get("/audit/verify", Some(&auditor))
        .await
        .ok(200)
        .clone();
    assert_eq!(report["ok"], true, "{report}");
    assert_eq!(report["streams_checked"], 8);
    assert_eq!(report["events_checked"], 20);
    assert_eq!(report["checkpoint"]["signature_valid"], true);
    assert_eq!(report["checkpoint"]["root_valid"], true);

    let [edited, deleted, swapped, truncated, dropped, _] =
        std::array::from_fn(|i| names[i].to_string());
    tamper(
        &app,
        &[
            // One byte of one event's data.
            format!(
                "UPDATE events SET data = jsonb_set(data, '{{amount}}', '1002') \
                 WHERE stream_id = '{edited}' AND stream_version = 2"
            ),
            format!("DELETE FROM events WHERE stream_id = '{deleted}' AND stream_version = 2"),
            format!(
                "UPDATE events SET stream_version = 1000 \
                 WHERE stream_id = '{swapped}' AND stream_version = 2"
            ),
            format!(
                "UPDATE events SET stream_version = 2 \
                 WHERE stream_id = '{swapped}' AND stream_version = 3"
            ),
            format!(
                "UPDATE events SET stream_version = 3 \
                 WHERE stream_id = '{swapped}' AND stream_version = 1000"
            ),
            format!("DELETE FROM events WHERE stream_id = '{truncated}' AND stream_version = 3"),
            format!("DELETE FROM events WHERE stream_id = '{dropped}'"),
        ],
    )
    .await;

    let report = app
        .get("/audit/verify", Some(&auditor))
        .await
        .ok(200)
        .clone();
    assert_eq!(report["ok"], false);
    let mut found: Vec<(String, i64)> = report["failures"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            assert!(!f["reason"].as_str().unwrap().is_empty());
            (
                f["stream_id"].as_str().unwrap().to_owned(),
                f["version"].as_i64().unwrap(),
            )
        })
        .collect();
    found.sort();
    let mut expected = vec![
        (edited.clone(), 2),
        (deleted.clone(), 3),
        (swapped.clone(), 2),
        (truncated.clone(), 3),
        (dropped.clone(), 1),
    ];
    expected.sort();
    assert_eq!(found, expected, "{report}");
    let reason_of = |stream: &str| {
        report["failures"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["stream_id"] == stream)
            .unwrap()["reason"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    assert!(reason_of(&truncated).contains("truncated"));
    assert!(reason_of(&dropped).contains("dropped"));
    app.stop().await;
}

#[tokio::test]
async fn a_forged_checkpoint_or_edited_heads_fail_verification() {
    let app = TestApp::spawn().await;
    emit_many(
        &app.state.store,
        vec![events("kept", 2), events("other", 1)],
    )
    .await;
    let (_, admin) = token(&app, Role::Admin);
    app.post("/audit/checkpoints", Some(&admin), json!({}))
        .await
        .ok(201);
    let (_, auditor) = token(&app, Role::Auditor);
    assert_eq!(
        app.get("/audit/verify", Some(&auditor)).await.ok(200)["ok"],
        true
    );

    // Hiding a truncation by lowering the checkpointed head breaks the Merkle root.
    tamper(
        &app,
        &[
            "UPDATE audit_checkpoint_heads SET stream_version = stream_version - 1 \
           WHERE stream_id LIKE 'kept-%'"
                .to_owned(),
        ],
    )
    .await;
    let report = app
        .get("/audit/verify", Some(&auditor))
        .await
        .ok(200)
        .clone();
    assert_eq!(report["ok"], false);
    assert_eq!(report["checkpoint"]["root_valid"], false);
    assert_eq!(report["checkpoint"]["signature_valid"], true);
    assert!(
        report["failures"][0]["stream_id"]
            .as_str()
            .unwrap()
            .starts_with("audit-")
    );

    // A signing key that is not the server's: the signature no longer matches.
    tamper(
        &app,
        &[
            "UPDATE settings SET value = 'not-the-key' WHERE name = 'audit_checkpoint_key'"
                .to_owned(),
        ],
    )
    .await;
    let report = app
        .get("/audit/verify", Some(&auditor))
        .await
        .ok(200)
        .clone();
    assert_eq!(report["checkpoint"]["signature_valid"], false);

    // Deleting the checkpoints themselves leaves their heads behind.
    tamper(
        &app,
        &["DELETE FROM events WHERE stream_id LIKE 'audit-%'".to_owned()],
    )
    .await;
    let report = app
        .get("/audit/verify", Some(&auditor))
        .await
        .ok(200)
        .clone();
    assert_eq!(report["ok"], false);
    assert!(report["checkpoint"].is_null());
    let failure = &report["failures"][0];
    assert!(failure["stream_id"].as_str().unwrap().starts_with("audit-"));
    assert_eq!(failure["version"], 1);
    app.stop().await;
}

#[tokio::test]
async fn the_checkpoint_reactor_records_only_when_the_log_advanced() {
    let app = TestApp::spawn().await;
    let store = &app.state.store;
    assert!(
        record_if_advanced(store).await.unwrap().is_none(),
        "empty log"
    );
    emit_many(store, vec![events("ticking", 2)]).await;
    let first = record_if_advanced(store)
        .await
        .unwrap()
        .expect("a checkpoint");
    assert_eq!((first.streams, first.events), (1, 2));
    assert!(
        record_if_advanced(store).await.unwrap().is_none(),
        "nothing new"
    );

    let (stop_tx, stop) = tokio::sync::watch::channel(false);
    let reactor = spawn_periodic(store.clone(), std::time::Duration::from_millis(50), stop);
    emit_many(store, vec![events("ticking", 1)]).await;
    let second = app
        .eventually(std::time::Duration::from_secs(10), || async {
            latest(store).await.unwrap().filter(|c| c.version == 2)
        })
        .await;
    // The new stream and the audit stream, at the first checkpoint.
    assert_eq!((second.streams, second.events), (3, 4));
    stop_tx.send(true).unwrap();
    reactor.await.unwrap();
    app.stop().await;
}
