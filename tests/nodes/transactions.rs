//! Long transactions on the cluster, on a throwaway cluster of its own (what it does touches
//! every database of its cluster).
//!
//! - A write transaction held open elsewhere holds no reader back any more (readers follow the
//!   sequencer's log index, not the cluster's transaction horizon): commands placed meanwhile
//!   are read back at once; `/ready` and the metric show its age for operators.
//! - What can still hold readers back is the sequencer itself: a session sitting on its lock
//!   (an operator's stray `SELECT … FOR UPDATE`, a hung pass). Then `/ready` answers 503 with the
//!   reason past 5 s and the metric shows the wait; once it ends, readers resume and nothing
//!   committed meanwhile is skipped.

use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::json;
use sqlx::{Connection, PgConnection};
use tillroll::payments::fake::FakeMode;

use crate::cluster::{Cluster, PHONE, WAIT};
use crate::pg::PgCluster;

/// `(status, body)` of node 0's `/ready`.
async fn ready(cluster: &Cluster) -> (u16, serde_json::Value) {
    let answer = cluster
        .client
        .get(format!("{}/ready", cluster.nodes[0].base))
        .send()
        .await
        .expect("the node answers");
    let status = answer.status().as_u16();
    (status, answer.json().await.expect("a JSON body"))
}

/// The value of one gauge in node 0's `/metrics`.
async fn metric(cluster: &Cluster, name: &str) -> f64 {
    let text = cluster
        .client
        .get(format!("{}/metrics", cluster.nodes[0].base))
        .send()
        .await
        .expect("the node answers")
        .text()
        .await
        .unwrap();
    text.lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("{name} in {text}"))
}

/// GET /orders/{id} on node 0 with `X-Min-Position`: its status.
async fn read_order(cluster: &Cluster, customer: &str, id: &str, position: Option<i64>) -> u16 {
    let path = format!("/orders/{id}");
    let read = cluster
        .call(0, Method::GET, &path, customer, None, position)
        .await
        .expect("the node answers");
    read.status
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn long_transactions_are_reported_and_never_hide_or_skip_events() {
    let pg = PgCluster::start();
    pg.create_database("shop").await;
    let pool = pg.pool("shop", 3).await;
    let cluster = Cluster::start(pg.url("shop"), pool.clone(), 1, FakeMode::NoCallback).await;
    let admin = cluster.admin();
    let product = cluster.product(0, &admin, "Jug", 100).await;
    let (_, customer) = cluster.customer();
    let order = json!({"items": [{"product_id": product, "quantity": 1}], "phone": PHONE});

    // 1. A write transaction held open in another database of the cluster.
    pg.create_database("elsewhere").await;
    let mut stray = PgConnection::connect_with(&pg.options("elsewhere"))
        .await
        .unwrap();
    sqlx::query("BEGIN").execute(&mut stray).await.unwrap();
    sqlx::query("CREATE TABLE held (id int)")
        .execute(&mut stray)
        .await
        .unwrap();
    let held_since = Instant::now();
    let mut placed = Vec::new();
    while held_since.elapsed() < Duration::from_secs(6) {
        let answer = cluster
            .must(0, Method::POST, "/orders", &customer, Some(order.clone()))
            .await;
        assert_eq!(answer.status, 201, "{answer:?}");
        let id = answer.body["id"].as_str().unwrap().to_owned();
        // Read back at once: the read models are not held back by the open transaction.
        assert_eq!(
            read_order(&cluster, &customer, &id, answer.position).await,
            200
        );
        placed.push(id);
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let (status, body) = ready(&cluster).await;
    assert_eq!(
        status, 200,
        "an open transaction alone holds nothing back: {body}"
    );
    assert!(
        body["oldest_transaction_seconds"].as_f64().unwrap() >= 5.0,
        "{body}"
    );
    assert!(metric(&cluster, "tillroll_oldest_transaction_age_seconds").await >= 5.0);
    sqlx::query("ROLLBACK").execute(&mut stray).await.unwrap();

    // 2. A session sitting on the sequencer's lock: commands still commit, readers wait.
    let mut blocker = PgConnection::connect_with(&pg.options("shop"))
        .await
        .unwrap();
    sqlx::query("BEGIN").execute(&mut blocker).await.unwrap();
    sqlx::query("SELECT * FROM log_head FOR UPDATE")
        .execute(&mut blocker)
        .await
        .unwrap();
    let blocked_since = Instant::now();
    let mut waiting = Vec::new();
    for _ in 0..5 {
        let answer = cluster
            .must(0, Method::POST, "/orders", &customer, Some(order.clone()))
            .await;
        assert_eq!(answer.status, 201, "{answer:?}");
        waiting.push((
            answer.body["id"].as_str().unwrap().to_owned(),
            answer.position,
        ));
    }
    let deadline = Instant::now() + WAIT;
    let reasons = loop {
        let (status, body) = ready(&cluster).await;
        if status == 503 && blocked_since.elapsed() > Duration::from_secs(5) {
            break body["reasons"].to_string();
        }
        assert!(status == 200 || status == 503, "{body}");
        assert!(Instant::now() < deadline, "/ready never said 503: {body}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(reasons.contains("sequencer"), "{reasons}");
    assert!(metric(&cluster, "tillroll_unsequenced_age_seconds").await >= 5.0);
    // Read-your-writes waits, and says so with a 503 rather than a stale answer.
    let (id, position) = &waiting[0];
    assert_eq!(read_order(&cluster, &customer, id, *position).await, 503);
    sqlx::query("ROLLBACK").execute(&mut blocker).await.unwrap();

    // Readers resume; nothing committed meanwhile is skipped.
    for (id, position) in &waiting {
        assert_eq!(
            read_order(&cluster, &customer, id, *position).await,
            200,
            "{id}"
        );
    }
    let deadline = Instant::now() + WAIT;
    while ready(&cluster).await.0 != 200 {
        assert!(Instant::now() < deadline, "/ready does not recover");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let listed = cluster
        .must(0, Method::GET, "/orders?limit=100", &customer, None)
        .await;
    let listed = listed.body.to_string();
    for id in placed.iter().chain(waiting.iter().map(|(id, _)| id)) {
        assert!(listed.contains(id.as_str()), "order {id} is listed");
    }
    let (indexes, events): (i64, i64) =
        sqlx::query_as("SELECT (SELECT count(*) FROM event_log), (SELECT count(*) FROM events)")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(indexes, events, "every event has its place in the log");
    drop(cluster);
    pool.close().await;
}
