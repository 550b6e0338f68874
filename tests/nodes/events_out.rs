//! The JetStream publisher across faults: the publishing node killed (-9) mid-stream and
//! another taking over, and NATS itself stopped under load. Each time the stream ends up
//! holding the log exactly once, in order, and no command waited on NATS.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::json;
use tillroll::config::NatsConfig;
use tillroll::payments::fake::{FakeMode, FakeOutcome};
use tillroll::store::{EventStore, ExpectedVersion, NewEvent, StreamAppend};
use tillroll_events::{Currency, DomainEvent, Metadata, ProductEvent, StreamId};
use uuid::Uuid;

use crate::cluster::{Cluster, PHONE, WAIT, signal};
use crate::db::TestDb;
use crate::nats::{assert_stream_is_the_log, delete_stream, fresh_nats, logged, wait_for_log};

fn nats_env(nats: &NatsConfig) -> Vec<(String, String)> {
    vec![
        ("TILLROLL_NATS_URL".to_owned(), nats.url.clone()),
        ("TILLROLL_NATS_STREAM".to_owned(), nats.stream.clone()),
        (
            "TILLROLL_NATS_SUBJECT_PREFIX".to_owned(),
            nats.subject_prefix.clone(),
        ),
    ]
}

/// Messages in the stream now (0 while it does not exist).
async fn stream_count(nats: &NatsConfig) -> u64 {
    let Ok(client) = async_nats::connect(&nats.url).await else {
        return 0;
    };
    let context = async_nats::jetstream::new(client);
    match context.get_stream(&nats.stream).await {
        Ok(mut stream) => stream.info().await.map_or(0, |i| i.state.messages),
        Err(_) => 0,
    }
}

async fn wait_count(nats: &NatsConfig, count: u64) {
    let deadline = Instant::now() + WAIT;
    while stream_count(nats).await < count {
        assert!(
            Instant::now() < deadline,
            "the stream never got {count} messages"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Lists `products` products straight into the log, 500 to an append.
pub async fn backlog(pool: &sqlx::PgPool, products: usize) {
    let store = EventStore::new(pool.clone());
    let metadata = Metadata::system(Uuid::now_v7());
    for chunk in 0..products.div_ceil(500) {
        let appends: Vec<StreamAppend> = (0..500.min(products - chunk * 500))
            .map(|i| {
                let id = Uuid::now_v7();
                let listed = ProductEvent::ProductListed {
                    product_id: id,
                    seller_id: Uuid::now_v7(),
                    name: format!("Backlog {chunk}-{i}"),
                    description: String::new(),
                    category: "backlog".into(),
                    price: 1_000,
                    currency: Currency::kes(),
                    payout_phone: None,
                    listed_at: chrono::Utc::now(),
                };
                StreamAppend {
                    stream_id: StreamId::product(id),
                    expected: ExpectedVersion::NoStream,
                    events: vec![NewEvent::new(listed.encode(), metadata.clone())],
                }
            })
            .collect();
        store.append(&appends).await.expect("backlog appended");
    }
    store.sequence_pending().await.expect("backlog sequenced");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_publisher_killed_mid_stream_is_taken_over_with_no_gap_and_no_duplicate() {
    let db = TestDb::with_pool_size(4).await;
    let total = 30_000;
    backlog(&db.pool, total).await;
    let nats = fresh_nats();
    let mut cluster = Cluster::start_with(
        db.url(),
        db.pool.clone(),
        1,
        FakeMode::Callback(FakeOutcome::Success),
        nats_env(&nats),
    )
    .await;
    // Killed as soon as it has published some of the backlog (and not all of it).
    let client = async_nats::connect(&nats.url).await.unwrap();
    let context = async_nats::jetstream::new(client);
    let deadline = Instant::now() + WAIT;
    let mut stream = loop {
        if let Ok(stream) = context.get_stream(&nats.stream).await {
            break stream;
        }
        assert!(
            Instant::now() < deadline,
            "the publisher never made its stream"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    let mut seen = Vec::new();
    loop {
        let published = stream.info().await.unwrap().state.messages;
        seen.push((Instant::now(), published));
        if published > 0 {
            break;
        }
        assert!(Instant::now() < deadline, "the publisher never started");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    signal(cluster.nodes[0].pid, "KILL");
    let at_kill = stream.info().await.unwrap().state.messages;
    assert!(
        at_kill < total as u64,
        "published everything before the kill"
    );
    // Another node takes over (once the dead one's lease ran out) and finishes.
    cluster.spawn_node();
    cluster.wait_ready(1).await;
    let admin = cluster.admin();
    cluster.product(1, &admin, "After the kill", 3).await;
    wait_for_log(&nats, &db.pool).await;
    assert_stream_is_the_log(&nats, &db.pool).await;
    let count = logged(&db.pool).await.len();
    eprintln!("publisher killed at {at_kill} of {count} messages; the stream is complete");
    cluster.stop_all();
    delete_stream(&nats).await;
    drop(cluster);
    db.drop().await;
}

/// A private NATS server with JetStream on a free port, its store in a directory of its own.
struct PrivateNats {
    child: Option<Child>,
    port: u16,
    dir: std::path::PathBuf,
}

impl PrivateNats {
    fn start() -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .unwrap()
            .port();
        let dir = std::env::temp_dir().join(format!("tillroll-nats-{}", Uuid::now_v7()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut nats = Self {
            child: None,
            port,
            dir,
        };
        nats.resume();
        nats
    }

    fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    fn resume(&mut self) {
        let child = Command::new("nats-server")
            .args([
                "-js",
                "-a",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-sd",
            ])
            .arg(&self.dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("nats-server runs");
        self.child = Some(child);
        let deadline = Instant::now() + WAIT;
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(Instant::now() < deadline, "nats-server does not answer");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn halt(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for PrivateNats {
    fn drop(&mut self) {
        self.halt();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nats_down_under_load_blocks_no_command_and_the_stream_catches_up() {
    let mut server = PrivateNats::start();
    let mut nats = fresh_nats();
    nats.url = server.url();
    let db = TestDb::empty().await;
    let cluster = Cluster::start_with(
        db.url(),
        db.pool.clone(),
        2,
        FakeMode::Callback(FakeOutcome::Success),
        nats_env(&nats),
    )
    .await;
    let admin = cluster.admin();
    let product = cluster.product(0, &admin, "Torch", 1_000).await;
    let (_, customer) = cluster.customer();
    let order = json!({"items": [{"product_id": product, "quantity": 1}], "phone": PHONE});
    wait_count(&nats, 2).await;
    server.halt();
    // Commands go on while NATS is away, at their usual pace.
    let started = Instant::now();
    for i in 0..20 {
        let placed = cluster
            .must(
                i % 2,
                Method::POST,
                "/orders",
                &customer,
                Some(order.clone()),
            )
            .await;
        assert_eq!(placed.status, 201, "{placed:?}");
    }
    let took = started.elapsed();
    assert!(
        took < Duration::from_secs(10),
        "20 orders took {took:?} with NATS down"
    );
    server.resume();
    // Let the payments settle, then the stream must hold the whole log.
    let deadline = Instant::now() + WAIT;
    loop {
        let (unsettled,): (i64,) =
            sqlx::query_as("SELECT count(*) FROM orders WHERE status = 'pending_payment'")
                .fetch_one(&db.pool)
                .await
                .unwrap();
        if unsettled == 0 {
            break;
        }
        assert!(Instant::now() < deadline, "orders never settled");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    wait_for_log(&nats, &db.pool).await;
    assert_stream_is_the_log(&nats, &db.pool).await;
    drop(cluster);
    db.drop().await;
}
