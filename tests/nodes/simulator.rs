//! The simulator's state is in the database: an STK push and a B2C refund in flight when the
//! server is killed (-9) are still called back and settled after it starts again.

use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{Value, json};

use crate::cluster::{Cluster, PHONE, WAIT, signal};
use crate::db::TestDb;

/// Waits until the simulator has recorded an undelivered request of `kind` and the node has
/// recorded the simulator's acceptance (killed before that, an STK push has no id to match
/// its callback or to query by: the attempt is abandoned, which is another test).
async fn in_flight(cluster: &Cluster, kind: &str) {
    let deadline = Instant::now() + WAIT;
    loop {
        let (waiting,): (i64,) = sqlx::query_as(
            "SELECT count(*) FROM simulator_requests \
             WHERE kind = $1 AND delivered_at IS NULL AND body IS NOT NULL \
               AND CASE $1 WHEN 'stk' THEN EXISTS (SELECT 1 FROM stk_dispatches \
                       WHERE answered_at IS NOT NULL AND abandoned_at IS NULL) \
                   ELSE EXISTS (SELECT 1 FROM b2c_dispatches \
                       WHERE answered_at IS NOT NULL AND settled_at IS NULL) END",
        )
        .bind(kind)
        .fetch_one(&cluster.pool)
        .await
        .expect("simulator state read");
        if waiting > 0 {
            return;
        }
        assert!(Instant::now() < deadline, "no {kind} request in flight");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

async fn order_until(cluster: &Cluster, node: usize, token: &str, id: &str, status: &str) -> Value {
    let deadline = Instant::now() + WAIT;
    let path = format!("/orders/{id}");
    loop {
        if let Some(answer) = cluster
            .call(node, Method::GET, &path, token, None, None)
            .await
            && answer.status == 200
            && answer.body["status"] == status
        {
            return answer.body;
        }
        assert!(Instant::now() < deadline, "order {id} never {status}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Kills the node at once and starts it again (same port, same database).
async fn kill_and_restart(cluster: &mut Cluster, node: usize) -> usize {
    signal(cluster.nodes[node].pid, "KILL");
    let next = cluster.respawn_node(node);
    cluster.wait_ready(next).await;
    next
}

#[tokio::test]
async fn a_push_and_a_refund_in_flight_at_a_kill_settle_after_the_restart() {
    let db = TestDb::empty().await;
    // No reconciler in the way: only the simulator's callbacks can settle the payments.
    let quiet = vec![("TILLROLL_RECONCILE_AFTER".to_owned(), "1h".to_owned())];
    let mut cluster = Cluster::start_simulated(db.url(), db.pool.clone(), 1, quiet).await;
    let admin = cluster.admin();
    let (_, token) = cluster.customer();
    let product = cluster.product(0, &admin, "Kettle", 5).await;

    let body = json!({"items": [{"product_id": product, "quantity": 1}], "phone": PHONE});
    let placed = cluster
        .must(0, Method::POST, "/orders", &token, Some(body))
        .await;
    assert_eq!(placed.status, 201, "{placed:?}");
    let order_id = placed.body["id"].as_str().unwrap().to_owned();
    in_flight(&cluster, "stk").await;
    let node = kill_and_restart(&mut cluster, 0).await;
    let paid = order_until(&cluster, node, &token, &order_id, "paid").await;
    assert!(paid["payment"]["mpesa_receipt"].is_string());

    let cancel = format!("/orders/{order_id}/cancel");
    let cancelled = cluster
        .must(node, Method::POST, &cancel, &admin, Some(json!({})))
        .await;
    assert_eq!(cancelled.status, 200, "{cancelled:?}");
    let refunds = format!("/orders/{order_id}/refunds");
    let body = json!({"reason": "cancelled"});
    let requested = cluster
        .must(node, Method::POST, &refunds, &admin, Some(body))
        .await;
    assert_eq!(requested.status, 202, "{requested:?}");
    in_flight(&cluster, "b2c").await;
    let node = kill_and_restart(&mut cluster, node).await;
    let refunded = order_until(&cluster, node, &token, &order_id, "refunded").await;
    assert_eq!(refunded["payment"]["refunded_amount"], 10_000);

    let (undelivered,): (i64,) = sqlx::query_as(
        "SELECT count(*) FROM simulator_requests WHERE delivered_at IS NULL AND body IS NOT NULL",
    )
    .fetch_one(&cluster.pool)
    .await
    .unwrap();
    assert_eq!(undelivered, 0, "every promised callback was delivered");
    cluster.stop_all();
    db.drop().await;
}
