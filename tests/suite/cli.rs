//! The `tillroll` subcommands as an operator runs them: the real binary, with `DATABASE_URL`
//! pointing at this test's fresh database, judged by its exit code and output.

use std::collections::BTreeSet;
use std::process::Output;

use serde_json::Value;

use crate::support::TestDb;

async fn tillroll(db: &TestDb, args: &[&str]) -> Output {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_tillroll"))
        .args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("DATABASE_URL", db.url())
        .env("RUST_LOG", "warn")
        .output()
        .await
        .expect("the tillroll binary runs")
}

#[track_caller]
fn exit_code(output: &Output, args: &str) -> i32 {
    output.status.code().unwrap_or_else(|| {
        panic!(
            "tillroll {args} was killed: {}",
            String::from_utf8_lossy(&output.stderr)
        )
    })
}

fn stdout(output: &Output) -> String {
    String::from_utf8(output.stdout.clone()).expect("UTF-8 on stdout")
}

async fn event_ids(db: &TestDb) -> BTreeSet<String> {
    let rows: Vec<(uuid::Uuid,)> = sqlx::query_as("SELECT event_id FROM events")
        .fetch_all(&db.pool)
        .await
        .unwrap();
    rows.into_iter().map(|(id,)| id.to_string()).collect()
}

#[tokio::test]
async fn demo_verify_export_rebuild_and_a_tampered_log() {
    let db = TestDb::new().await;

    let demo = tillroll(&db, &["demo"]).await;
    assert_eq!(exit_code(&demo, "demo"), 0, "{demo:?}");
    assert!(!stdout(&demo).trim().is_empty(), "demo prints a summary");
    let ids = event_ids(&db).await;
    assert!(ids.len() > 10, "the demo appended {} events", ids.len());

    let verify = tillroll(&db, &["audit", "verify"]).await;
    assert_eq!(exit_code(&verify, "audit verify"), 0, "{verify:?}");
    let report: Value = serde_json::from_str(&stdout(&verify)).expect("a JSON report");
    assert_eq!(report["ok"], true, "{report}");
    assert_eq!(report["events_checked"], ids.len() as u64, "{report}");
    // With no server running, the demo sealed its own events and signed a tree head.
    assert_eq!(report["tree"]["heads_checked"], 1, "{report}");
    let head = tillroll(&db, &["audit", "tree-head"]).await;
    assert_eq!(exit_code(&head, "audit tree-head"), 0, "{head:?}");
    let head: Value = serde_json::from_str(&stdout(&head)).expect("a JSON tree head");
    assert_eq!(head["tree_size"], ids.len() as u64);
    let dir = std::env::temp_dir().join(format!("tillroll-cli-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let head_file = dir.join("head.json");
    std::fs::write(&head_file, head.to_string()).unwrap();
    let (public_key,): (Vec<u8>,) = sqlx::query_as("SELECT public_key FROM audit_signing_keys")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    let public_key = {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD.encode(public_key)
    };
    let offline = |export: &str| {
        let file = dir.join("log.ndjson");
        std::fs::write(&file, export).unwrap();
        let (file, head_file, key) = (file, head_file.clone(), public_key.clone());
        async move {
            // No database: an empty environment.
            tokio::process::Command::new(env!("CARGO_BIN_EXE_tillroll"))
                .arg("audit")
                .arg("verify-export")
                .arg(&file)
                .args(["--public-key", &key, "--tree-head"])
                .arg(&head_file)
                .env_clear()
                .output()
                .await
                .unwrap()
        }
    };

    // The export holds every event once, one JSON object a line.
    let export = tillroll(&db, &["audit", "export"]).await;
    assert_eq!(exit_code(&export, "audit export"), 0, "{export:?}");
    let exported: Vec<String> = stdout(&export)
        .lines()
        .map(|line| {
            let event: Value = serde_json::from_str(line).expect("one JSON event a line");
            event["event_id"].as_str().expect("an event_id").to_owned()
        })
        .collect();
    assert_eq!(exported.len(), ids.len());
    let checked = offline(&stdout(&export)).await;
    assert_eq!(exit_code(&checked, "audit verify-export"), 0, "{checked:?}");
    assert_eq!(exported.into_iter().collect::<BTreeSet<_>>(), ids);
    let nowhere = tillroll(&db, &["audit", "export", "--after", "999999999"]).await;
    assert_eq!(
        exit_code(&nowhere, "audit export --after"),
        2,
        "{nowhere:?}"
    );

    // No server ran, so no read model holds anything; a rebuild fills them from the log.
    let listed: (i64,) = sqlx::query_as(
        "SELECT count(DISTINCT stream_id) FROM events WHERE event_type = 'ProductListed'",
    )
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert!(listed.0 > 0);
    let before: (i64,) = sqlx::query_as("SELECT count(*) FROM products")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert_eq!(before.0, 0);
    let rebuild = tillroll(&db, &["projections", "rebuild"]).await;
    assert_eq!(exit_code(&rebuild, "projections rebuild"), 0, "{rebuild:?}");
    let after: (i64,) = sqlx::query_as("SELECT count(*) FROM products")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert_eq!(after.0, listed.0);
    let unknown = tillroll(&db, &["projections", "rebuild", "nosuch"]).await;
    assert_eq!(exit_code(&unknown, "projections rebuild nosuch"), 2);

    // An attacker with the database edits one event's data: verify exits 1, naming it.
    let (stream_id, version): (String, i64) = sqlx::query_as(
        "SELECT stream_id, stream_version FROM events \
         WHERE event_type = 'ProductListed' ORDER BY stream_id LIMIT 1",
    )
    .fetch_one(&db.pool)
    .await
    .unwrap();
    let mut conn = db.pool.acquire().await.unwrap();
    sqlx::query("SET session_replication_role = replica")
        .execute(&mut *conn)
        .await
        .unwrap();
    let edited = sqlx::query(
        "UPDATE events SET data = jsonb_set(data, '{price}', '1') \
         WHERE stream_id = $1 AND stream_version = $2",
    )
    .bind(&stream_id)
    .bind(version)
    .execute(&mut *conn)
    .await
    .unwrap();
    assert_eq!(edited.rows_affected(), 1);
    sqlx::query("RESET session_replication_role")
        .execute(&mut *conn)
        .await
        .unwrap();
    drop(conn);
    let verify = tillroll(&db, &["audit", "verify"]).await;
    assert_eq!(exit_code(&verify, "audit verify"), 1, "{verify:?}");
    let export = tillroll(&db, &["audit", "export"]).await;
    let checked = offline(&stdout(&export)).await;
    assert_eq!(exit_code(&checked, "audit verify-export"), 1, "{checked:?}");
    std::fs::remove_dir_all(&dir).ok();
    let report: Value = serde_json::from_str(&stdout(&verify)).expect("a JSON report");
    assert_eq!(report["ok"], false);
    let failures = report["failures"].as_array().expect("failures");
    assert!(
        failures
            .iter()
            .any(|f| f["stream_id"] == stream_id.as_str() && f["version"] == version),
        "{report}"
    );
    db.drop().await;
}
