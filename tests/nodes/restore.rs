//! A database dumped from one Postgres cluster and restored into a fresh one (whose
//! transaction counter starts far below the old one's): the export, the projections and new
//! commands carry on with nothing hidden and nothing skipped.

use std::process::Stdio;
use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::json;
use tillroll::payments::fake::{FakeMode, FakeOutcome};
use uuid::Uuid;

use crate::cluster::{Cluster, PHONE, WAIT, assert_read_models_equal_rebuild, read_models};
use crate::db::TestDb;
use crate::pg::PgCluster;

/// Places an order of one unit through node 0 and waits until it is paid; its id.
async fn paid_order(cluster: &Cluster, customer: &str, product: Uuid) -> Uuid {
    let body = json!({"items": [{"product_id": product, "quantity": 1}], "phone": PHONE});
    let placed = cluster
        .must(0, Method::POST, "/orders", customer, Some(body))
        .await;
    assert_eq!(placed.status, 201, "{placed:?}");
    let id: Uuid = placed.body["id"].as_str().unwrap().parse().unwrap();
    let deadline = Instant::now() + WAIT;
    loop {
        let order = cluster
            .must(0, Method::GET, &format!("/orders/{id}"), customer, None)
            .await;
        if order.body["status"] == "paid" {
            return id;
        }
        assert!(Instant::now() < deadline, "order {id} not paid: {order:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Every line of `tillroll audit export --after 0` on `database_url`.
async fn export(database_url: &str) -> Vec<serde_json::Value> {
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_tillroll"))
        .args(["audit", "export", "--after", "0"])
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("DATABASE_URL", database_url)
        .env("RUST_LOG", "warn")
        .stderr(Stdio::piped())
        .output()
        .await
        .expect("the CLI runs");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).expect("an NDJSON line"))
        .collect()
}

async fn event_count(pool: &sqlx::PgPool) -> i64 {
    let (n,): (i64,) = sqlx::query_as("SELECT count(*) FROM events")
        .fetch_one(pool)
        .await
        .unwrap();
    n
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dump_restored_into_a_fresh_cluster_hides_and_skips_nothing() {
    // The source: the shared cluster, whose transaction counter has run far ahead.
    let source = TestDb::empty().await;
    let mut cluster = Cluster::start(
        source.url(),
        source.pool.clone(),
        1,
        FakeMode::Callback(FakeOutcome::Success),
    )
    .await;
    let admin = cluster.admin();
    let product = cluster.product(0, &admin, "Thermos", 20).await;
    let (_, customer) = cluster.customer();
    let mut orders = Vec::new();
    for _ in 0..3 {
        orders.push(paid_order(&cluster, &customer, product).await);
    }
    cluster.wait_projected().await;
    cluster.stop_all();
    let before = event_count(&source.pool).await;
    let exported_before = export(&source.url()).await;
    assert_eq!(exported_before.len() as i64, before);
    let models_before = read_models(&source.pool).await;
    drop(cluster);

    // pg_dump | psql into a fresh cluster.
    let target = PgCluster::start();
    target.create_database("restored").await;
    let mut dump = std::process::Command::new(target.binary("pg_dump"))
        .args(["--no-owner", "--no-privileges", "-d", &source.url()])
        .stdout(Stdio::piped())
        .spawn()
        .expect("pg_dump runs");
    let restore = std::process::Command::new(target.binary("psql"))
        .args(["-q", "-v", "ON_ERROR_STOP=1", "-d", &target.url("restored")])
        .stdin(dump.stdout.take().unwrap())
        .stdout(Stdio::null())
        .output()
        .expect("psql runs");
    assert!(dump.wait().unwrap().success(), "pg_dump failed");
    assert!(
        restore.status.success(),
        "psql: {}",
        String::from_utf8_lossy(&restore.stderr)
    );
    let pool = target.pool("restored", 4).await;
    // The fresh cluster's transactions are numbered far below the events' old ones.
    let (xid_here,): (i64,) = sqlx::query_as("SELECT pg_current_xact_id()::text::bigint")
        .fetch_one(&pool)
        .await
        .unwrap();
    let (xid_there,): (i64,) = sqlx::query_as("SELECT max(transaction_id) FROM events")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert!(xid_here < xid_there, "{xid_here} < {xid_there}");

    // Everything is there for the export and the read models, before any node runs.
    let exported = export(&target.url("restored")).await;
    assert_eq!(exported, exported_before, "the export is the same log");
    assert_eq!(read_models(&pool).await, models_before);

    // A node on the restored database carries on: new commands, their projection, the export.
    let mut cluster = Cluster::start(
        target.url("restored"),
        pool.clone(),
        1,
        FakeMode::Callback(FakeOutcome::Success),
    )
    .await;
    let (_, customer) = cluster.customer();
    let new_product = cluster.product(0, &admin, "Flask", 5).await;
    let order = paid_order(&cluster, &customer, new_product).await;
    let old = paid_order(&cluster, &customer, product).await;
    let mine = cluster
        .must(0, Method::GET, "/orders", &customer, None)
        .await;
    assert_eq!(mine.status, 200);
    let listed = mine.body.to_string();
    assert!(listed.contains(&order.to_string()) && listed.contains(&old.to_string()));
    cluster.wait_projected().await;
    cluster.stop_all();
    let after = event_count(&pool).await;
    assert!(after > before);
    let exported = export(&target.url("restored")).await;
    assert_eq!(
        exported.len() as i64,
        after,
        "every event, old and new, is exported"
    );
    let indexes: Vec<i64> = exported
        .iter()
        .map(|e| e["log_index"].as_i64().expect("log_index"))
        .collect();
    assert_eq!(
        indexes,
        (0..after).collect::<Vec<_>>(),
        "one dense log order across the move"
    );
    assert_eq!(&exported[..exported_before.len()], &exported_before[..]);
    assert_read_models_equal_rebuild(&target.url("restored"), &pool).await;
    drop(cluster);
    pool.close().await;
    source.drop().await;
}
