//! A node whose database is out of reach answers quickly and honestly: an exhausted pool and a
//! stopped database both give 503 with `Retry-After` within about the pool's 1.5 s acquire
//! timeout (never a 500 after a long wait), `/ready` says why, and the node recovers by itself
//! when the database is back. On a throwaway cluster (the
//! outage stops all of it).

use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::json;
use sqlx::{Connection, PgConnection};
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
async fn an_exhausted_pool_and_a_stopped_database_answer_503_quickly_and_recover() {
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

    // Every request connection busy: two orders (of other products and customers, so nothing
    // in the node serialises them) wait on a table lock held elsewhere, each holding one.
    let mut others = Vec::new();
    for name in ["Plate", "Bowl"] {
        let other = cluster.product(0, &admin, name, 100).await;
        let body = json!({"items": [{"product_id": other, "quantity": 1}], "phone": PHONE});
        others.push((cluster.customer().1, body));
    }
    let mut locker = PgConnection::connect_with(&pg.options("shop"))
        .await
        .unwrap();
    sqlx::query("BEGIN").execute(&mut locker).await.unwrap();
    sqlx::query("LOCK TABLE events IN EXCLUSIVE MODE")
        .execute(&mut locker)
        .await
        .unwrap();
    let stuck: Vec<_> = others
        .into_iter()
        .map(|(token, body)| {
            let client = cluster.client.clone();
            let url = format!("{}/orders", cluster.nodes[0].base);
            tokio::spawn(async move {
                let answer = client.post(url).bearer_auth(token).json(&body).send().await;
                answer.map(|a| a.status().as_u16()).ok()
            })
        })
        .collect();
    let deadline = Instant::now() + WAIT;
    loop {
        let (waiting,): (i64,) = sqlx::query_as(
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' \
             AND application_name LIKE 'tillroll %'",
        )
        .fetch_one(&pool)
        .await
        .unwrap();
        if waiting == 2 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the orders never waited on the lock"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    unavailable_within(&cluster, &customer, order.clone(), Duration::from_secs(3)).await;
    sqlx::query("ROLLBACK").execute(&mut locker).await.unwrap();
    for request in stuck {
        assert_eq!(
            request.await.unwrap(),
            Some(201),
            "the waiting orders go through"
        );
    }
    locker.close().await.unwrap();

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
