//! In-process measures against the bench database: the raw baselines, store appends, log
//! generation, rebuild and export.

use std::sync::Arc;
use std::time::Instant;

use chrono::Utc;
use serde_json::json;
use tillroll::http::views::event::EventView;
use tillroll::store::{EventStore, ExpectedVersion, NewEvent, StreamAppend};
use tillroll_events::{
    CartEvent, Currency, DomainEvent, LogPosition, Metadata, ProductEvent, StockEvent, StreamId,
};
use uuid::Uuid;

use crate::Flags;
use crate::data::BenchDb;
use crate::measure::{self, Measure, Outcome};

pub async fn raw_insert(db: &BenchDb, flags: &Flags, concurrency: usize) -> Measure {
    sqlx::query(
        "CREATE TABLE IF NOT EXISTS bench_raw_events (id bigint GENERATED ALWAYS AS IDENTITY \
         PRIMARY KEY, stream_id text NOT NULL, stream_version bigint NOT NULL, event_id uuid \
         NOT NULL UNIQUE, event_type text NOT NULL, data jsonb NOT NULL, metadata jsonb NOT NULL, \
         recorded_at timestamptz NOT NULL, hash bytea NOT NULL, UNIQUE (stream_id, stream_version))",
    )
    .execute(&db.pool)
    .await
    .expect("baseline table");
    let pool = db.pool.clone();
    measure::run(
        "B1",
        "raw sqlx INSERT of an event row",
        concurrency,
        flags.duration,
        move |w, i| {
            let pool = pool.clone();
            async move {
                let r = sqlx::query(
                "INSERT INTO bench_raw_events (stream_id, stream_version, event_id, event_type, \
                 data, metadata, recorded_at, hash) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            )
            .bind(format!("bench-{w}"))
            .bind(i as i64 + 1)
            .bind(Uuid::now_v7())
            .bind("BenchHappened")
            .bind(json!({"n": i}))
            .bind(json!({"actor_role": "system"}))
            .bind(Utc::now())
            .bind([0u8; 32].as_slice())
            .execute(&pool)
            .await;
                if r.is_ok() {
                    Outcome::Ok
                } else {
                    Outcome::Error
                }
            }
        },
    )
    .await
}

pub async fn append(db: &BenchDb, flags: &Flags, concurrency: usize) -> Measure {
    let store = EventStore::new(db.pool.clone());
    // As in the server: other processes are told of the appends (and this one listens).
    let listener = store.spawn_listener();
    let streams: Arc<Vec<StreamId>> = Arc::new(
        (0..concurrency)
            .map(|_| StreamId::new("bench", Uuid::now_v7()))
            .collect(),
    );
    let measure = measure::run(
        "P1",
        "event store append, 1 event/txn",
        concurrency,
        flags.duration,
        move |w, i| {
            let store = store.clone();
            let stream = streams[w].clone();
            async move {
                let event = NewEvent::new(
                    tillroll_events::EncodedEvent {
                        event_type: "BenchHappened".into(),
                        schema_version: 1,
                        data: json!({"n": i}),
                        personal: Default::default(),
                    },
                    Metadata::system(Uuid::nil()),
                );
                let expected = if i == 0 {
                    ExpectedVersion::NoStream
                } else {
                    ExpectedVersion::Exact(i as i64)
                };
                match store
                    .append(&[StreamAppend {
                        stream_id: stream,
                        expected,
                        events: vec![event],
                    }])
                    .await
                {
                    Ok(_) => Outcome::Ok,
                    Err(e) if e.is_conflict() => Outcome::Conflict,
                    Err(_) => Outcome::Error,
                }
            }
        },
    )
    .await;
    listener.abort();
    measure
}

pub async fn raw_select(
    db: &BenchDb,
    flags: &Flags,
    concurrency: usize,
    ids: &Arc<Vec<Uuid>>,
) -> Measure {
    let pool = db.pool.clone();
    let ids = ids.clone();
    measure::run(
        "B2",
        "raw sqlx SELECT product by primary key",
        concurrency,
        flags.duration,
        move |w, i| {
            let pool = pool.clone();
            let id = ids[(w * 7919 + i as usize) % ids.len()];
            async move {
                let r: Result<Option<(Uuid, String, i64)>, _> =
                    sqlx::query_as("SELECT id, name, price FROM products WHERE id = $1")
                        .bind(id)
                        .fetch_optional(&pool)
                        .await;
                if matches!(r, Ok(Some(_))) {
                    Outcome::Ok
                } else {
                    Outcome::Error
                }
            }
        },
    )
    .await
}

/// Appends a realistic mix (products, stock movements, carts) until the log holds `target`
/// events; returns the log size.
pub async fn generate(db: &BenchDb, target: u64) -> u64 {
    let store = EventStore::new(db.pool.clone());
    let started = Instant::now();
    let (mut count,): (i64,) = sqlx::query_as("SELECT count(*) FROM events")
        .fetch_one(&db.pool)
        .await
        .expect("count");
    while (count as u64) < target {
        let mut appends = Vec::new();
        for _ in 0..50 {
            let product_id = Uuid::now_v7();
            let customer_id = Uuid::now_v7();
            let meta = Metadata::system(product_id);
            let mut product = vec![ProductEvent::ProductListed {
                product_id,
                seller_id: Uuid::nil(),
                name: "Generated product".into(),
                description: "Filler for the log".into(),
                category: "generated".into(),
                price: 1_000,
                currency: Currency::kes(),
                payout_phone: None,
                listed_at: Utc::now(),
            }];
            product.push(ProductEvent::ProductPriceChanged {
                product_id,
                price: 1_100,
                currency: Currency::kes(),
                changed_at: Utc::now(),
            });
            let mut stock = vec![StockEvent::StockLevelSet {
                product_id,
                on_hand: 100,
            }];
            for n in 0..8 {
                stock.push(StockEvent::StockAdjusted {
                    product_id,
                    delta: 1,
                    reason: format!("delivery {n}"),
                });
            }
            let cart = [
                CartEvent::ItemAddedToCart {
                    cart_id: customer_id,
                    customer_id,
                    product_id,
                    quantity: 1,
                    unit_price: 1_000,
                    currency: Currency::kes(),
                },
                CartEvent::CartCleared {
                    cart_id: customer_id,
                    customer_id,
                },
            ];
            let to_new = |e: tillroll_events::EncodedEvent| NewEvent::new(e, meta.clone());
            appends.push(StreamAppend {
                stream_id: StreamId::product(product_id),
                expected: ExpectedVersion::NoStream,
                events: product.iter().map(|e| to_new(e.encode())).collect(),
            });
            appends.push(StreamAppend {
                stream_id: StreamId::stock(product_id),
                expected: ExpectedVersion::NoStream,
                events: stock.iter().map(|e| to_new(e.encode())).collect(),
            });
            appends.push(StreamAppend {
                stream_id: StreamId::cart(customer_id),
                expected: ExpectedVersion::NoStream,
                events: cart.iter().map(|e| to_new(e.encode())).collect(),
            });
        }
        store.append(&appends).await.expect("generated append");
        count += 50 * 13;
    }
    eprintln!(
        "generated a log of {count} events in {:.1?}",
        started.elapsed()
    );
    count as u64
}

/// Rebuilds every projector from event 1; events per second over the whole rebuild.
pub async fn rebuild(db: &BenchDb) -> f64 {
    let store = EventStore::new(db.pool.clone());
    let (count,): (i64,) = sqlx::query_as("SELECT count(*) FROM events")
        .fetch_one(&db.pool)
        .await
        .expect("count");
    let projectors = tillroll_projections::all();
    let refs: Vec<&dyn tillroll_projections::Projector> =
        projectors.iter().map(|p| p.as_ref()).collect();
    let started = Instant::now();
    tillroll_projections::rebuild_all(&db.pool, &store, &refs, &())
        .await
        .expect("rebuild");
    eprintln!(
        "rebuilt every projector from {count} events in {:.1?}",
        started.elapsed()
    );
    count as f64 / started.elapsed().as_secs_f64()
}

fn rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1).map(str::to_owned))
        })
        .and_then(|kb| kb.parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

/// Exports the whole log as NDJSON into a sink, the way `tillroll audit export` does;
/// events per second and the RSS growth (constant memory means near zero).
pub async fn export(db: &BenchDb) -> (f64, f64) {
    use std::io::Write;
    let store = EventStore::new(db.pool.clone());
    let before = rss_mib();
    let mut peak = before;
    let started = Instant::now();
    let mut at = LogPosition::START;
    let mut out = std::io::BufWriter::new(std::io::sink());
    let mut count = 0u64;
    loop {
        let batch = store.read_all(at, 5000).await.expect("read");
        let Some(last) = batch.last() else { break };
        at = last.log_position();
        for event in &batch {
            serde_json::to_writer(&mut out, &EventView::from(event)).expect("write");
            out.write_all(b"\n").expect("write");
        }
        count += batch.len() as u64;
        peak = peak.max(rss_mib());
    }
    (
        count as f64 / started.elapsed().as_secs_f64(),
        peak - before,
    )
}
