//! Tampering with the stored log, as an attacker with the database would (immutability
//! triggers off): `GET /audit/verify` reports it (naming stream and version, or the log index),
//! and `tillroll audit verify-export` of an export taken after the tamper fails against a tree
//! head saved before it.

use serde_json::{Value, json};
use tillroll::auth::Role;
use tillroll_events::{EncodedEvent, Metadata, StreamId};
use uuid::Uuid;

use super::{
    Person, emit_many, export_text, order_paid_after_a_failure, register, sealed_head, token,
    verify_export,
};
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
                    personal: Default::default(),
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

const AMANI: Person = Person {
    id: Uuid::from_u128(0x0191_0000_0000_7000_8000_0000_0000_00b1),
    name: "Amani Otieno",
    email: "amani.otieno@example.ke",
    phone: "0722000111",
};

/// A log with a paid order (its customer registered, personal data sealed) and a few other
/// streams, sealed under a tree head that the auditor keeps, with the public key.
struct Kept {
    app: TestApp,
    auditor: String,
    head: Value,
    public_key: Value,
    order_id: Uuid,
}

async fn kept() -> Kept {
    let app = TestApp::spawn_without_reactors().await;
    let store = &app.state.store;
    register(store, &AMANI).await;
    let paid = order_paid_after_a_failure(store, AMANI.id, AMANI.phone).await;
    emit_many(
        store,
        vec![events("ledger", 3), events("other", 2), events("more", 4)],
    )
    .await;
    let (_, auditor) = token(&app, Role::Auditor);
    let head = sealed_head(&app, &auditor).await;
    let public_key = app
        .get("/audit/public-key", Some(&auditor))
        .await
        .ok(200)
        .clone();
    let report = app
        .get("/audit/verify", Some(&auditor))
        .await
        .ok(200)
        .clone();
    assert_eq!(report["ok"], true, "{report}");
    assert!(
        report["tree"]["heads_checked"].as_u64().unwrap() >= 1,
        "{report}"
    );
    // `tillroll audit tree-head` prints the same head, to publish elsewhere.
    let printed = tokio::process::Command::new(env!("CARGO_BIN_EXE_tillroll"))
        .args(["audit", "tree-head"])
        .env_clear()
        .env("DATABASE_URL", app.database_url())
        .env("RUST_LOG", "warn")
        .output()
        .await
        .unwrap();
    assert_eq!(printed.status.code(), Some(0), "{printed:?}");
    let printed: Value = serde_json::from_slice(&printed.stdout).unwrap();
    assert_eq!(printed, head);
    let (code, offline) =
        verify_export(&export_text(&app, &auditor).await, &public_key, &head).await;
    assert_eq!(code, 0, "the untouched export verifies: {offline}");
    assert_eq!(offline["heads_checked"], json!([head["tree_size"]]));
    Kept {
        app,
        auditor,
        head,
        public_key,
        order_id: paid.order_id,
    }
}

impl Kept {
    async fn report(&self) -> Value {
        self.app
            .get("/audit/verify", Some(&self.auditor))
            .await
            .ok(200)
            .clone()
    }

    /// `audit verify` fails, with a failure `matches` accepts; returns that failure.
    async fn assert_caught(&self, matches: impl Fn(&Value) -> bool) -> Value {
        let report = self.report().await;
        assert_eq!(report["ok"], false, "{report}");
        report["failures"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| matches(f))
            .unwrap_or_else(|| panic!("no such failure in {report}"))
            .clone()
    }

    /// An export taken now fails offline against the kept head.
    async fn assert_export_fails(&self) -> Value {
        let export = export_text(&self.app, &self.auditor).await;
        let (code, report) = verify_export(&export, &self.public_key, &self.head).await;
        assert_eq!(code, 1, "{report}");
        assert_eq!(report["ok"], false);
        report
    }

    async fn event(&self, sql_where: &str) -> (Uuid, String, i64, i64) {
        sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT e.event_id, e.stream_id, e.stream_version, l.log_index \
             FROM events e JOIN event_log l USING (global_position) WHERE {sql_where}"
        )))
        .fetch_one(self.app.pool())
        .await
        .unwrap()
    }
}

fn reason(failure: &Value) -> &str {
    failure["reason"].as_str().unwrap()
}

#[tokio::test]
async fn deleting_the_last_event_of_a_paid_order_is_caught() {
    let kept = kept().await;
    let stream = format!("order-{}", kept.order_id);
    let (_, _, version, index) = kept
        .event(&format!(
            "stream_id = '{stream}' ORDER BY stream_version DESC LIMIT 1"
        ))
        .await;
    tamper(
        &kept.app,
        &[format!(
            "DELETE FROM events WHERE stream_id = '{stream}' AND stream_version = {version}"
        )],
    )
    .await;
    let failure = kept
        .assert_caught(|f| f["log_index"] == index && reason(f).contains("deleted"))
        .await;
    assert_eq!(failure["stream_id"], "log");
    let offline = kept.assert_export_fails().await;
    assert!(
        offline["failures"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("missing or out of order"),
        "{offline}"
    );
    kept.app.stop().await;
}

#[tokio::test]
async fn swapping_the_log_order_of_order_placed_and_payment_confirmed_is_caught() {
    let kept = kept().await;
    let stream = format!("order-{}", kept.order_id);
    let (_, _, placed_version, placed) = kept
        .event(&format!(
            "stream_id = '{stream}' AND event_type = 'OrderPlaced'"
        ))
        .await;
    let (_, _, paid_version, paid) = kept
        .event(&format!(
            "stream_id = '{stream}' AND event_type = 'PaymentConfirmed'"
        ))
        .await;
    tamper(
        &kept.app,
        &[
            format!("UPDATE event_log SET log_index = 1000000 WHERE log_index = {placed}"),
            format!("UPDATE event_log SET log_index = {placed} WHERE log_index = {paid}"),
            format!("UPDATE event_log SET log_index = {paid} WHERE log_index = 1000000"),
        ],
    )
    .await;
    // Both events now sit where another leaf was sealed.
    for (version, index) in [(placed_version, paid), (paid_version, placed)] {
        kept.assert_caught(|f| {
            f["stream_id"] == stream.as_str()
                && f["version"] == version
                && f["log_index"] == index
                && reason(f).contains("differs from the one sealed")
        })
        .await;
    }
    kept.assert_caught(|f| reason(f).contains("its root differs"))
        .await;
    kept.assert_export_fails().await;
    kept.app.stop().await;
}

#[tokio::test]
async fn changing_an_event_id_is_caught() {
    let kept = kept().await;
    let (id, stream, version, _) = kept.event("e.event_type = 'PaymentConfirmed'").await;
    tamper(
        &kept.app,
        &[format!(
            "UPDATE events SET event_id = '{}' WHERE event_id = '{id}'",
            Uuid::new_v4()
        )],
    )
    .await;
    // The hash chain does not cover the id; the leaf does.
    let failure = kept
        .assert_caught(|f| f["stream_id"] == stream.as_str() && f["version"] == version)
        .await;
    assert!(reason(&failure).contains("sealed"), "{failure}");
    kept.assert_export_fails().await;
    kept.app.stop().await;
}

#[tokio::test]
async fn changing_a_personal_data_subject_is_caught() {
    let kept = kept().await;
    let stream = format!("customer-{}", AMANI.id);
    let (_, _, version, _) = kept
        .event(&format!(
            "stream_id = '{stream}' AND pii_subject IS NOT NULL ORDER BY stream_version LIMIT 1"
        ))
        .await;
    tamper(
        &kept.app,
        &[format!(
            "UPDATE events SET pii_subject = '{}' \
             WHERE stream_id = '{stream}' AND stream_version = {version}",
            Uuid::new_v4()
        )],
    )
    .await;
    kept.assert_caught(|f| f["stream_id"] == stream.as_str() && f["version"] == version)
        .await;
    kept.assert_export_fails().await;
    kept.app.stop().await;
}

#[tokio::test]
async fn truncating_a_stream_and_letting_the_next_head_be_made_is_caught() {
    let kept = kept().await;
    let (_, stream, version, index) = kept
        .event("e.stream_id LIKE 'ledger-%' ORDER BY e.stream_version DESC LIMIT 1")
        .await;
    // The event and its place in the log, both gone; then the log goes on.
    tamper(
        &kept.app,
        &[
            format!("DELETE FROM event_log WHERE log_index = {index}"),
            format!(
                "DELETE FROM events WHERE stream_id = '{stream}' AND stream_version = {version}"
            ),
        ],
    )
    .await;
    emit_many(&kept.app.state.store, vec![events("after", 2)]).await;
    let next = kept
        .app
        .eventually(std::time::Duration::from_secs(20), || async {
            let head = kept
                .app
                .get("/audit/tree-heads/latest", Some(&kept.auditor))
                .await;
            (head.body["tree_size"].as_i64() > kept.head["tree_size"].as_i64())
                .then(|| head.body.clone())
        })
        .await;
    let failure = kept
        .assert_caught(|f| f["log_index"] == index && reason(f).contains("missing"))
        .await;
    assert_eq!(failure["stream_id"], "log");
    kept.assert_export_fails().await;
    // Nor does it pass against the newer head.
    let export = export_text(&kept.app, &kept.auditor).await;
    let (code, report) = verify_export(&export, &kept.public_key, &next).await;
    assert_eq!(code, 1, "{report}");
    kept.app.stop().await;
}

#[tokio::test]
async fn deleting_the_tree_heads_and_the_stored_tree_is_caught() {
    let kept = kept().await;
    tamper(
        &kept.app,
        &[
            "DELETE FROM events WHERE stream_id LIKE 'audit-%'".to_owned(),
            "DELETE FROM audit_tree_heads".to_owned(),
            "DELETE FROM audit_tree_nodes".to_owned(),
        ],
    )
    .await;
    // The log goes on; the sealer signs a head again, but the tree it was grown from is gone.
    emit_many(&kept.app.state.store, vec![events("after", 1)]).await;
    sealed_head(&kept.app, &kept.auditor).await;
    kept.assert_caught(|f| reason(f).contains("missing from the stored tree"))
        .await;
    // The state row too: the sealer stops, and verify says the tree is gone.
    tamper(&kept.app, &["DELETE FROM audit_tree".to_owned()]).await;
    kept.assert_caught(|f| reason(f).contains("state row is gone"))
        .await;
    // The events themselves are untouched: the kept head still proves them.
    let export = export_text(&kept.app, &kept.auditor).await;
    let (code, report) = verify_export(&export, &kept.public_key, &kept.head).await;
    assert_eq!(code, 0, "{report}");
    kept.app.stop().await;
}

#[tokio::test]
async fn edits_deletions_insertions_swaps_and_edited_heads_are_caught() {
    let kept = kept().await;
    let (_, ledger, _, _) = kept.event("e.stream_id LIKE 'ledger-%' LIMIT 1").await;
    let (_, more, _, _) = kept.event("e.stream_id LIKE 'more-%' LIMIT 1").await;
    let (_, other, _, other_index) = kept
        .event("e.stream_id LIKE 'other-%' ORDER BY e.stream_version LIMIT 1")
        .await;
    let forged = format!("forged-{}", Uuid::now_v7());
    tamper(
        &kept.app,
        &[
            // One byte of one event's data.
            format!(
                "UPDATE events SET data = jsonb_set(data, '{{amount}}', '1002') \
                 WHERE stream_id = '{ledger}' AND stream_version = 2"
            ),
            // Two events of a stream swapped.
            format!(
                "UPDATE events SET stream_version = 1000 \
                 WHERE stream_id = '{more}' AND stream_version = 2"
            ),
            format!(
                "UPDATE events SET stream_version = 2 \
                 WHERE stream_id = '{more}' AND stream_version = 3"
            ),
            format!(
                "UPDATE events SET stream_version = 3 \
                 WHERE stream_id = '{more}' AND stream_version = 1000"
            ),
            // A forged event inserted in the middle of the log.
            "UPDATE event_log SET log_index = log_index + 1000000".to_owned(),
            format!(
                "UPDATE event_log SET log_index = log_index - 1000000 \
                 WHERE log_index < {}",
                other_index + 1_000_000
            ),
            format!(
                "UPDATE event_log SET log_index = log_index - 999999 \
                 WHERE log_index >= {}",
                other_index + 1_000_000
            ),
            format!(
                "INSERT INTO events (stream_id, stream_version, event_id, event_type, \
                     schema_version, data, metadata, recorded_at, hash) \
                 VALUES ('{forged}', 1, gen_random_uuid(), 'TestHappened', 1, '{{}}', \
                     '{{\"actor_role\": \"system\", \"correlation_id\": \"{}\"}}', now(), \
                     '\\x00')",
                Uuid::now_v7()
            ),
            format!(
                "INSERT INTO event_log (log_index, global_position) \
                 SELECT {other_index}, global_position FROM events WHERE stream_id = '{forged}'"
            ),
            // And the whole "other" stream deleted.
            format!("DELETE FROM events WHERE stream_id = '{other}'"),
        ],
    )
    .await;
    let report = kept.report().await;
    assert_eq!(report["ok"], false);
    let has = |stream: &str, version: i64| {
        report["failures"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["stream_id"] == stream && f["version"] == version)
    };
    assert!(has(&ledger, 2), "the edit: {report}");
    assert!(has(&more, 2), "the swap: {report}");
    assert!(has(&forged, 1), "the forgery: {report}");
    assert!(
        report["failures"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| reason(f).contains("was deleted")),
        "the deleted stream: {report}"
    );
    kept.assert_export_fails().await;

    // An edited tree head: its signature no longer matches.
    let size = kept.head["tree_size"].as_i64().unwrap();
    tamper(
        &kept.app,
        &[format!(
            "UPDATE audit_tree_heads SET log_position = log_position + 1 WHERE tree_size = {size}"
        )],
    )
    .await;
    kept.assert_caught(|f| {
        reason(f).contains(&format!("tree head of size {size}")) && reason(f).contains("signature")
    })
    .await;
    kept.app.stop().await;
}

#[tokio::test]
async fn deleting_a_kept_tree_head_is_caught() {
    let kept = kept().await;
    let first = kept.head["tree_size"].as_i64().unwrap();
    for n in 0..2 {
        emit_many(&kept.app.state.store, vec![events("later", n + 1)]).await;
        sealed_head(&kept.app, &kept.auditor).await;
    }
    let (middle,): (i64,) = sqlx::query_as(
        "SELECT tree_size FROM audit_tree_heads WHERE tree_size > $1 ORDER BY tree_size LIMIT 1",
    )
    .bind(first)
    .fetch_one(kept.app.pool())
    .await
    .unwrap();
    assert_eq!(kept.report().await["ok"], true);
    tamper(
        &kept.app,
        &[format!(
            "DELETE FROM audit_tree_heads WHERE tree_size = {middle}"
        )],
    )
    .await;
    kept.assert_caught(|f| {
        reason(f).contains(&format!("follows the head of size {middle}"))
            && reason(f).contains("deleted")
    })
    .await;
    kept.app.stop().await;
}
