//! A fresh database per test, a log to append events to, a feed that reads it in the store's
//! gap-safe order, and helpers that drive projectors through the runner's batch protocol or
//! `tillroll_projections::rebuild`.

use std::collections::HashMap;
use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, TimeZone, Utc};
use serde_json::Value;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions, PgRow};
use sqlx::{Connection, PgConnection, PgPool, Row};
use tillroll_events::{DomainEvent, LogPosition, Metadata, RecordedEvent, StreamId};
use tillroll_projections::{EventFeed, ProjectionError, Projector, load_checkpoint, rebuild};
use uuid::Uuid;

/// The time of the first appended event; each append is one second (and a few
/// microseconds, so no two are alike) later.
pub fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 25, 9, 0, 0).unwrap()
}

pub struct TestDb {
    pub pool: PgPool,
    name: String,
    admin: PgConnectOptions,
    versions: HashMap<String, i64>,
    appended: i64,
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
            .max_connections(2)
            .connect_with(admin.clone().database(&name))
            .await
            .expect("connect to the test database");
        sqlx::migrate!("../migrations")
            .run(&pool)
            .await
            .expect("migrations");
        Self {
            pool,
            name,
            admin,
            versions: HashMap::new(),
            appended: 0,
        }
    }

    fn next_time(&mut self) -> DateTime<Utc> {
        self.appended += 1;
        t0() + chrono::Duration::seconds(self.appended)
            + chrono::Duration::microseconds(self.appended * 7)
    }

    /// Appends one event in its own transaction; returns its `recorded_at`.
    pub async fn append<E: DomainEvent>(&mut self, stream: &StreamId, event: E) -> DateTime<Utc> {
        self.append_all(vec![(stream.clone(), event.encode())])
            .await
    }

    /// Appends events of one command (several streams maybe) in one transaction, as the
    /// store does for a checkout; they share one `recorded_at`, which is returned.
    pub async fn append_all(
        &mut self,
        events: Vec<(StreamId, tillroll_events::EncodedEvent)>,
    ) -> DateTime<Utc> {
        let at = self.next_time();
        let mut tx = self.pool.begin().await.expect("begin");
        for (stream, encoded) in events {
            let version = self.versions.entry(stream.as_str().to_owned()).or_default();
            *version += 1;
            let metadata = serde_json::to_value(Metadata::system(Uuid::nil())).unwrap();
            sqlx::query(
                "INSERT INTO events (stream_id, stream_version, event_id, event_type, \
                     schema_version, data, metadata, recorded_at, hash) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, '\\x00')",
            )
            .bind(stream.as_str())
            .bind(*version)
            .bind(Uuid::new_v4())
            .bind(&encoded.event_type)
            .bind(encoded.schema_version)
            .bind(&encoded.data)
            .bind(metadata)
            .bind(at)
            .execute(&mut *tx)
            .await
            .expect("append");
        }
        tx.commit().await.expect("commit");
        at
    }

    /// The position of the last appended event.
    pub async fn head(&self) -> LogPosition {
        let (position,): (i64,) = sqlx::query_as("SELECT max(global_position) FROM events")
            .fetch_one(&self.pool)
            .await
            .expect("head");
        LogPosition {
            log_index: position,
            position,
        }
    }

    /// Catches `projector` up the way the runner does (checkpoint locked, batch read,
    /// applied and checkpoint moved in one transaction), with batches of the given sizes in
    /// turn. Returns the number of events applied.
    pub async fn project(&self, projector: &dyn Projector, batch_sizes: &[i64]) -> usize {
        let mut applied = 0;
        for &limit in batch_sizes.iter().cycle() {
            let mut tx = self.pool.begin().await.expect("begin");
            let from = load_checkpoint(&mut tx, projector.name(), true)
                .await
                .expect("checkpoint");
            let events = TableFeed
                .read_batch(&mut tx, from, limit)
                .await
                .expect("read");
            let Some(last) = events.last().map(RecordedEvent::log_position) else {
                return applied;
            };
            projector.apply(&mut tx, &events).await.expect("apply");
            sqlx::query("UPDATE checkpoints SET log_index = $2, position = $3 WHERE name = $1")
                .bind(projector.name())
                .bind(last.log_index)
                .bind(last.position)
                .execute(&mut *tx)
                .await
                .expect("store checkpoint");
            tx.commit().await.expect("commit");
            applied += events.len();
        }
        unreachable!("batch sizes cycle forever")
    }

    pub async fn rebuild(&self, projector: &dyn Projector) -> u64 {
        rebuild(&self.pool, &TableFeed, projector, &())
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

/// Reads `events` in `global_position` order, standing the position in for the log index.
///
/// The tests append one transaction at a time from one task, so that order is commit order
/// and nothing can appear behind a reader (the store's own sequencer is tested in the suite).
pub struct TableFeed;

#[async_trait]
impl EventFeed for TableFeed {
    async fn read_batch(
        &self,
        conn: &mut PgConnection,
        after: LogPosition,
        limit: i64,
    ) -> Result<Vec<RecordedEvent>, ProjectionError> {
        let rows = sqlx::query(
            "SELECT global_position, stream_id, stream_version, event_id, \
                 event_type, schema_version, data, metadata, recorded_at, hash \
             FROM events \
             WHERE global_position > $1 \
             ORDER BY global_position LIMIT $2",
        )
        .bind(after.log_index.max(0))
        .bind(limit)
        .fetch_all(conn)
        .await?;
        rows.iter()
            .map(recorded)
            .collect::<Result<_, _>>()
            .map_err(|e| ProjectionError::Feed(e.to_string()))
    }

    fn wake_handle(&self) -> std::sync::Arc<tokio::sync::Notify> {
        // Nothing wakes it: readers poll every `idle_poll`.
        std::sync::Arc::new(tokio::sync::Notify::new())
    }

    fn idle_poll(&self) -> Duration {
        Duration::from_millis(10)
    }
}

fn recorded(row: &PgRow) -> Result<RecordedEvent, sqlx::Error> {
    let metadata: Value = row.try_get("metadata")?;
    Ok(RecordedEvent {
        position: row.try_get("global_position")?,
        log_index: Some(row.try_get("global_position")?),
        stream_id: row.try_get("stream_id")?,
        version: row.try_get("stream_version")?,
        event_id: row.try_get("event_id")?,
        event_type: row.try_get("event_type")?,
        schema_version: row.try_get("schema_version")?,
        data: row.try_get("data")?,
        metadata: serde_json::from_value(metadata).map_err(|e| sqlx::Error::Decode(Box::new(e)))?,
        recorded_at: row.try_get("recorded_at")?,
        hash: row.try_get("hash")?,
    })
}
