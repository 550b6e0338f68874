//! A fresh database per test, the real event store to append to, and helpers that run the
//! real projection runner over it (catch-up in batches of a chosen size, the lease, the
//! fenced checkpoint) or `tillroll_projections::rebuild`.

use std::collections::HashMap;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use serde_json::Value;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{Connection, PgConnection, PgPool};
use tillroll::store::{EventStore, ExpectedVersion, NewEvent, StreamAppend};
use tillroll_events::{DomainEvent, LogPosition, Metadata, StreamId};
use tillroll_projections::{Progress, Projector, Runner, load_checkpoint, rebuild, wait_for};
use uuid::Uuid;

/// A fixed time for the times events carry in their data (`recorded_at` is the store's).
pub fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 25, 9, 0, 0).unwrap()
}

pub struct TestDb {
    pub pool: PgPool,
    pub store: EventStore,
    name: String,
    admin: PgConnectOptions,
    versions: HashMap<String, i64>,
}

/// The server the tests use: `TEST_DATABASE_URL` if set (any database on it; the same
/// variable as the main suite's), else 127.0.0.1:5432 as `postgres`, then as `root` (trust
/// auth).
async fn admin_options() -> PgConnectOptions {
    if let Ok(url) = std::env::var("TEST_DATABASE_URL") {
        return PgConnectOptions::from_str(&url)
            .expect("a valid database URL")
            .database("postgres");
    }
    for user in ["postgres", "root"] {
        let options = PgConnectOptions::new()
            .host("127.0.0.1")
            .port(5432)
            .username(user)
            .database("postgres")
            // TLS on loopback only costs (a handshake per connection).
            .ssl_mode(sqlx::postgres::PgSslMode::Disable);
        if PgConnection::connect_with(&options).await.is_ok() {
            return options;
        }
    }
    panic!("no Postgres at 127.0.0.1:5432 as postgres or root");
}

impl TestDb {
    pub async fn new() -> Self {
        let admin = admin_options().await;
        let name = format!("tillroll_proj_{}", Uuid::new_v4().simple());
        let mut conn = PgConnection::connect_with(&admin).await.expect("connect");
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut conn)
            .await
            .expect("create database");
        conn.close().await.ok();
        let pool = PgPoolOptions::new()
            .max_connections(4)
            .connect_with(admin.clone().database(&name))
            .await
            .expect("connect to the test database");
        tillroll::db::migrate(&pool).await.expect("migrations");
        Self {
            store: EventStore::new(pool.clone()),
            pool,
            name,
            admin,
            versions: HashMap::new(),
        }
    }

    /// Appends one event through the store; returns its `recorded_at`.
    pub async fn append<E: DomainEvent>(&mut self, stream: &StreamId, event: E) -> DateTime<Utc> {
        self.append_all(vec![(stream.clone(), event.encode())])
            .await
    }

    /// Appends the events of one command (several streams maybe) in one store append, as a
    /// checkout does, each stream at its exact expected version; they share one
    /// `recorded_at`, which is returned.
    pub async fn append_all(
        &mut self,
        events: Vec<(StreamId, tillroll_events::EncodedEvent)>,
    ) -> DateTime<Utc> {
        let mut appends: Vec<StreamAppend> = Vec::new();
        for (stream, encoded) in events {
            let event = NewEvent::new(encoded, Metadata::system(Uuid::nil()));
            match appends.iter_mut().find(|a| a.stream_id == stream) {
                Some(append) => append.events.push(event),
                None => {
                    let version = self.versions.get(stream.as_str()).copied().unwrap_or(0);
                    let expected = match version {
                        0 => ExpectedVersion::NoStream,
                        n => ExpectedVersion::Exact(n),
                    };
                    appends.push(StreamAppend {
                        stream_id: stream,
                        expected,
                        events: vec![event],
                    });
                }
            }
        }
        let result = self.store.append(&appends).await.expect("append");
        for append in &appends {
            let version = result.version_of(&append.stream_id).expect("appended");
            self.versions
                .insert(append.stream_id.as_str().to_owned(), version);
        }
        let (at,): (DateTime<Utc>,) =
            sqlx::query_as("SELECT recorded_at FROM events WHERE event_id = $1")
                .bind(result.event_ids[0])
                .fetch_one(&self.pool)
                .await
                .expect("recorded_at");
        at
    }

    /// The log position of the last appended event, once every event has its log index.
    pub async fn head(&self) -> LogPosition {
        self.store.sequence_pending().await.expect("sequenced");
        self.store.head().await.expect("head")
    }

    /// Runs the real projection runner on `projector` (reading `batch` events at a time)
    /// until it has passed the last appended event, then stops it cleanly.
    pub async fn project(&self, projector: &dyn Projector, batch: i64) {
        let head = self.head().await;
        let projector = tillroll_projections::all()
            .into_iter()
            .find(|p| p.name() == projector.name())
            .expect("a projector the runner knows");
        let projectors = vec![projector];
        let progress = Progress::new(&projectors);
        let runner = Runner::new(
            self.pool.clone(),
            Arc::new(self.store.clone()),
            projectors.clone(),
            progress.clone(),
        )
        .with_batch(batch);
        let (stop, shutdown) = tokio::sync::watch::channel(false);
        let running = tokio::spawn(runner.run(shutdown));
        let names = [projectors[0].name()];
        let caught_up = wait_for(&self.pool, &progress, &names, head, Duration::from_secs(30))
            .await
            .expect("wait for the projector");
        stop.send_replace(true);
        running.await.expect("the runner stops");
        assert!(caught_up, "{} did not reach {head:?}", names[0]);
    }

    pub async fn rebuild(&self, projector: &dyn Projector) -> u64 {
        rebuild(&self.pool, &self.store, projector, &())
            .await
            .expect("rebuild")
    }

    /// Every row of the projector's tables as JSON, in primary-key order.
    pub async fn snapshot(&self, projector: &dyn Projector) -> Vec<(&'static str, Vec<Value>)> {
        let mut tables = Vec::new();
        for &table in projector.tables() {
            let key = primary_key(table);
            let rows: Vec<(Value,)> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "SELECT to_jsonb(t) FROM {table} t ORDER BY {key}"
            )))
            .fetch_all(&self.pool)
            .await
            .expect("snapshot");
            tables.push((table, rows.into_iter().map(|(v,)| v).collect()));
        }
        tables
    }

    pub async fn checkpoint(&self, name: &str) -> LogPosition {
        let mut conn = self.pool.acquire().await.expect("acquire");
        load_checkpoint(&mut conn, name, false)
            .await
            .expect("checkpoint")
    }
}

fn primary_key(table: &str) -> &'static str {
    match table {
        "customers" | "orders" => "id",
        "carts" => "customer_id",
        "cart_items" => "customer_id, product_id",
        "cart_products" => "product_id",
        "order_tracking" => "order_id, seq",
        other => panic!("no primary key known for {other}"),
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        // Runs on a thread of its own so it works inside the test's runtime, and after a
        // failed assertion too.
        let admin = self.admin.clone();
        let name = self.name.clone();
        let dropped = std::thread::spawn(move || {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime")
                .block_on(async move {
                    let mut conn = PgConnection::connect_with(&admin).await?;
                    sqlx::query(sqlx::AssertSqlSafe(format!(
                        "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                    )))
                    .execute(&mut conn)
                    .await?;
                    conn.close().await
                })
        })
        .join();
        if !matches!(dropped, Ok(Ok(()))) {
            eprintln!("could not drop test database {}", self.name);
        }
    }
}
