//! Two nodes, refunds by B2C, and the node sending them killed mid-way: each B2C payment is
//! sent at most once (the fake flags a reused OriginatorConversationID), those sent are
//! settled, and the node that takes over never resends one of unknown fate.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::json;
use tillroll::payments::fake::{FakeMode, FakeOutcome};

use crate::cluster::{Cluster, PHONE, WAIT, signal};
use crate::db::TestDb;

const ORDERS: usize = 8;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_b2c_sender_never_pays_a_refund_twice() {
    let db = TestDb::empty().await;
    let cluster = Cluster::start(
        db.url(),
        db.pool.clone(),
        2,
        FakeMode::Callback(FakeOutcome::Success),
    )
    .await;
    let admin = cluster.admin();
    let product = cluster.product(0, &admin, "Kettle", 50).await;
    cluster.wait_all_leases().await;
    let (victim, _) = cluster.holder(tillroll::workers::B2C_LEASE).await.unwrap();
    let victim = victim.unwrap();
    let survivor = 1 - victim;

    let (_, customer) = cluster.customer();
    let mut orders = Vec::new();
    for _ in 0..ORDERS {
        let body = json!({"items": [{"product_id": product, "quantity": 1}], "phone": PHONE});
        let placed = cluster
            .must(survivor, Method::POST, "/orders", &customer, Some(body))
            .await;
        assert_eq!(placed.status, 201, "{placed:?}");
        orders.push(placed.body["id"].as_str().unwrap().to_owned());
    }
    for id in &orders {
        let deadline = Instant::now() + WAIT;
        loop {
            let path = format!("/orders/{id}");
            let order = cluster
                .must(survivor, Method::GET, &path, &customer, None)
                .await;
            if order.body["status"] == "paid" {
                break;
            }
            assert!(Instant::now() < deadline, "order {id} never paid");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let cancel = format!("/orders/{id}/cancel");
        let answer = cluster
            .must(survivor, Method::POST, &cancel, &admin, Some(json!({})))
            .await;
        assert_eq!(answer.status, 200, "{answer:?}");
    }
    // Every refund at once; the B2C sender is killed as soon as the first reaches Daraja.
    for id in &orders {
        let path = format!("/orders/{id}/refunds");
        let body = json!({"reason": "cancelled"});
        let answer = cluster
            .must(survivor, Method::POST, &path, &admin, Some(body))
            .await;
        assert_eq!(answer.status, 202, "{answer:?}");
    }
    let deadline = Instant::now() + WAIT;
    while cluster.fake.b2c_requests().is_empty() {
        assert!(Instant::now() < deadline, "no refund reached Daraja");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    signal(cluster.nodes[victim].pid, "KILL");
    let lease = [tillroll::workers::B2C_LEASE.to_owned()];
    cluster.wait_leases_away_from(&lease, victim).await;

    // Every refund recorded as sent is settled; the others are of unknown fate, never resent.
    let deadline = Instant::now() + WAIT;
    loop {
        let (unsettled,): (i64,) = sqlx::query_as(
            "SELECT count(*) FROM b2c_dispatches d WHERE d.settled_at IS NULL \
             AND d.answered_at IS NOT NULL",
        )
        .fetch_one(&cluster.pool)
        .await
        .unwrap();
        let (dispatched,): (i64,) = sqlx::query_as("SELECT count(*) FROM b2c_dispatches")
            .fetch_one(&cluster.pool)
            .await
            .unwrap();
        if unsettled == 0 && dispatched == ORDERS as i64 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{unsettled} refunds unsettled, {dispatched} dispatched"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let sent = cluster.fake.b2c_requests();
    let ids: HashSet<String> = sent
        .iter()
        .map(|b| b["OriginatorConversationID"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(ids.len(), sent.len(), "a refund was sent twice");
    assert!(sent.len() <= ORDERS);
    assert!(
        cluster.fake.violations().is_empty(),
        "{:?}",
        cluster.fake.violations()
    );
    let (completed,): (i64,) =
        sqlx::query_as("SELECT count(*) FROM events WHERE event_type = 'RefundCompleted'")
            .fetch_one(&cluster.pool)
            .await
            .unwrap();
    assert!(
        completed as usize <= sent.len(),
        "completed refunds were all sent"
    );
    assert!(completed >= 1);
    let mut cluster = cluster;
    cluster.stop_all();
    db.drop().await;
}
