//! A node whose database is out of reach answers quickly and honestly: 503 with `Retry-After`
//! within about the pool's 1.5 s acquire timeout (never a 500 after a long wait), `/ready` says
//! why, and the node recovers by itself when the database is back. On a throwaway cluster (the
//! outage stops all of it).

use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::json;
use tillroll::payments::fake::FakeMode;

use crate::cluster::{Cluster, PHONE, WAIT};
use crate::pg::PgCluster;

/// A request that must be answered 503 with `Retry-After`, within `bound`.
async fn unavailable_within(
    cluster: &Cluster,
    token: &str,
    body: serde_json::Value,
    bound: Duration,
) {
    let started = Instant::now();
    let answer = cluster
        .call(0, Method::POST, "/orders", token, Some(body), None)
        .await
        .expect("the node answers");
    let took = started.elapsed();
    assert_eq!(answer.status, 503, "{answer:?}");
    assert!(answer.retry_after, "{answer:?}");
    assert_eq!(
        answer.body["type"], "https://tillroll.dev/problems/service-unavailable",
        "{answer:?}"
    );
    assert!(took < bound, "answered after {took:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_database_answers_503_quickly_and_the_node_recovers() {
    let pg = PgCluster::start();
    pg.create_database("shop").await;
    let pool = pg.pool("shop", 2).await;
    let env = vec![("TILLROLL_DB_POOL_SIZE".to_owned(), "2".to_owned())];
    let cluster =
        Cluster::start_with(pg.url("shop"), pool.clone(), 1, FakeMode::NoCallback, env).await;
    let admin = cluster.admin();
    let product = cluster.product(0, &admin, "Mug", 100).await;
    let (_, customer) = cluster.customer();
    let order = json!({"items": [{"product_id": product, "quantity": 1}], "phone": PHONE});

    pool.close().await;

    // The database stops.
    pg.halt();
    unavailable_within(&cluster, &customer, order.clone(), Duration::from_secs(3)).await;
    let started = Instant::now();
    let ready = cluster
        .client
        .get(format!("{}/ready", cluster.nodes[0].base))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status(), 503);
    assert!(ready.headers().contains_key("retry-after"));
    let body: serde_json::Value = ready.json().await.unwrap();
    assert!(body["reasons"].to_string().contains("database"), "{body}");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "/ready took {:?}",
        started.elapsed()
    );

    // It comes back: so does the node, on its own.
    pg.resume();
    let deadline = Instant::now() + WAIT;
    loop {
        let answer = cluster
            .call(
                0,
                Method::POST,
                "/orders",
                &customer,
                Some(order.clone()),
                None,
            )
            .await
            .expect("the node answers");
        if answer.status == 201 {
            break;
        }
        assert_eq!(answer.status, 503, "{answer:?}");
        assert!(Instant::now() < deadline, "the node does not recover");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    cluster.wait_ready(0).await;
    drop(cluster);
}
