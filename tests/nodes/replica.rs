//! Queries from a read replica (`TILLROLL_READ_DATABASE_URL`): a real streaming standby
//! (`pg_basebackup -R`) of a throwaway primary. A write through the primary, then a query with
//! `X-Min-Position`, returns the write; the queries really read the replica (with it stopped
//! they answer 503 while commands go on), and recover when it is back.

use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::json;
use tillroll::payments::fake::FakeMode;

use crate::cluster::{Cluster, PHONE, WAIT};
use crate::pg::PgCluster;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queries_read_the_replica_and_wait_for_its_position() {
    let primary = PgCluster::start();
    primary.create_database("shop").await;
    let standby = PgCluster::standby_of(&primary);
    let pool = primary.pool("shop", 2).await;
    let env = vec![("TILLROLL_READ_DATABASE_URL".to_owned(), standby.url("shop"))];
    let cluster = Cluster::start_with(
        primary.url("shop"),
        pool.clone(),
        1,
        FakeMode::NoCallback,
        env,
    )
    .await;
    let admin = cluster.admin();
    let product = cluster.product(0, &admin, "Lantern", 100).await;
    let (_, customer) = cluster.customer();
    let order = json!({"items": [{"product_id": product, "quantity": 1}], "phone": PHONE});

    // Read-your-writes through the replica, every time.
    for _ in 0..20 {
        let placed = cluster
            .must(0, Method::POST, "/orders", &customer, Some(order.clone()))
            .await;
        assert_eq!(placed.status, 201, "{placed:?}");
        let id = placed.body["id"].as_str().unwrap().to_owned();
        let read = cluster
            .call(
                0,
                Method::GET,
                &format!("/orders/{id}"),
                &customer,
                None,
                placed.position,
            )
            .await
            .unwrap();
        assert_eq!(read.status, 200, "{read:?}");
        assert_eq!(read.body["id"], id.as_str());
    }
    // Replica read throughput, for the record (one client, debug build).
    let path = format!("/products/{product}");
    let started = Instant::now();
    let reads = 300;
    for _ in 0..reads {
        let read = cluster.must(0, Method::GET, &path, &customer, None).await;
        assert_eq!(read.status, 200);
    }
    let rate = reads as f64 / started.elapsed().as_secs_f64();
    eprintln!("GET /products/{{id}} from the replica: {rate:.0} requests/s (one client)");

    // The replica stops: queries answer 503 quickly (they never fall back to the primary),
    // commands go on, /ready says why.
    standby.halt();
    let started = Instant::now();
    let read = cluster.must(0, Method::GET, &path, &customer, None).await;
    assert_eq!(read.status, 503, "{read:?}");
    assert!(read.retry_after);
    assert!(started.elapsed() < Duration::from_secs(3));
    let placed = cluster
        .must(0, Method::POST, "/orders", &customer, Some(order.clone()))
        .await;
    assert_eq!(placed.status, 201, "{placed:?}");
    let ready = cluster
        .client
        .get(format!("{}/ready", cluster.nodes[0].base))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status(), 503);
    let body: serde_json::Value = ready.json().await.unwrap();
    assert!(body["reasons"].to_string().contains("replica"), "{body}");

    // Back: it replays what it missed, and the write made meanwhile is read from it.
    standby.resume();
    let id = placed.body["id"].as_str().unwrap().to_owned();
    let deadline = Instant::now() + WAIT;
    loop {
        let read = cluster
            .call(
                0,
                Method::GET,
                &format!("/orders/{id}"),
                &customer,
                None,
                placed.position,
            )
            .await
            .unwrap();
        if read.status == 200 {
            assert_eq!(read.body["id"], id.as_str());
            break;
        }
        assert_eq!(read.status, 503, "{read:?}");
        assert!(Instant::now() < deadline, "the replica never caught up");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    drop(cluster);
    pool.close().await;
}
