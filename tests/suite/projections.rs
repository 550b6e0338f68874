//! The projection runner: exactly-once under crashes, rebuild equals live.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use tillroll::store::{EventStore, ExpectedVersion, NewEvent, StreamAppend};
use tillroll_events::{
    Currency, DomainEvent, LogPosition, Metadata, ProductEvent, StockEvent, StreamId,
};
use tillroll_projections::{Progress, Projector, Runner, catalog::CatalogProjector};
use tokio::sync::watch;
use uuid::Uuid;

use crate::support::TestDb;

/// Lists `count` products (50 per append) with `n` units of product `n` on hand, and after
/// each 50 moves their stock in `ROUNDS` appends, each adding one unit to each product and
/// reserving one. Unlike a listing or a price, an adjustment or a reservation is not
/// idempotent: a batch of them applied twice, or lost, leaves different numbers; and they
/// run through the whole log, where the runner is killed. Returns the last append's position.
async fn list_products(store: &EventStore, count: usize) -> LogPosition {
    let ids: Vec<Uuid> = (0..count).map(|_| Uuid::new_v4()).collect();
    let mut last = 0;
    for (chunk, ids) in ids.chunks(50).enumerate() {
        let appends: Vec<StreamAppend> = ids
            .iter()
            .enumerate()
            .flat_map(|(i, &id)| {
                let n = chunk * 50 + i;
                let meta = Metadata::system(id);
                let listed = ProductEvent::ProductListed {
                    product_id: id,
                    seller_id: Uuid::nil(),
                    name: format!("Product {n}"),
                    description: "A thing".into(),
                    category: ["phones", "kitchen", "sports"][n % 3].into(),
                    price: 100 * (n as i64 + 1),
                    currency: Currency::kes(),
                    payout_phone: None,
                    listed_at: Utc::now(),
                };
                let stock = StockEvent::StockLevelSet {
                    product_id: id,
                    on_hand: n as i64,
                };
                let renamed = ProductEvent::ProductPriceChanged {
                    product_id: id,
                    price: 5,
                    currency: Currency::kes(),
                    changed_at: Utc::now(),
                };
                [
                    StreamAppend {
                        stream_id: StreamId::product(id),
                        expected: ExpectedVersion::NoStream,
                        events: vec![
                            NewEvent::new(listed.encode(), meta.clone()),
                            NewEvent::new(renamed.encode(), meta.clone()),
                        ],
                    },
                    StreamAppend {
                        stream_id: StreamId::stock(id),
                        expected: ExpectedVersion::NoStream,
                        events: vec![NewEvent::new(stock.encode(), meta)],
                    },
                ]
            })
            .collect();
        last = store.append(&appends).await.unwrap().last;
        for round in 0..ROUNDS {
            let appends: Vec<StreamAppend> = ids
                .iter()
                .map(|&id| {
                    let meta = Metadata::system(id);
                    let adjusted = StockEvent::StockAdjusted {
                        product_id: id,
                        delta: 1,
                        reason: format!("round {round}"),
                    };
                    let reserved = StockEvent::StockReserved {
                        product_id: id,
                        order_id: Uuid::new_v4(),
                        quantity: 1,
                    };
                    StreamAppend {
                        stream_id: StreamId::stock(id),
                        expected: ExpectedVersion::Exact(1 + 2 * round),
                        events: vec![
                            NewEvent::new(adjusted.encode(), meta.clone()),
                            NewEvent::new(reserved.encode(), meta),
                        ],
                    }
                })
                .collect();
            last = store.append(&appends).await.unwrap().last;
        }
    }
    store
        .resolve(last)
        .await
        .unwrap()
        .expect("the last append is in the log")
}

/// Rounds of stock movements after the listings.
const ROUNDS: i64 = 3;

async fn dump(db: &TestDb, tables: &[&str]) -> Vec<String> {
    let mut rows = Vec::new();
    for table in tables {
        let found: Vec<(String,)> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT to_jsonb(t)::text FROM {table} t ORDER BY 1"
        )))
        .fetch_all(&db.pool)
        .await
        .unwrap();
        rows.extend(found.into_iter().map(|(r,)| format!("{table}: {r}")));
    }
    rows
}

fn runner(db: &TestDb, store: &EventStore, progress: &Progress) -> Runner {
    let projectors: Vec<Arc<dyn Projector>> = vec![Arc::new(CatalogProjector)];
    Runner::new(
        db.pool.clone(),
        Arc::new(store.clone()),
        projectors,
        progress.clone(),
    )
}

async fn caught_up(db: &TestDb, progress: &Progress, head: LogPosition) {
    let ok = tillroll_projections::wait_for(
        &db.pool,
        progress,
        &["catalog"],
        head,
        Duration::from_secs(60),
    )
    .await
    .unwrap();
    assert!(ok, "the projector did not catch up");
}

/// Abort the runner repeatedly while it catches up; after a restart the read model equals a
/// rebuild from zero, i.e. no batch was lost or applied twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_projector_resumes_exactly_where_it_committed() {
    let db = TestDb::new().await;
    let store = EventStore::new(db.pool.clone());
    // The last event appended (`store.head()` may still be behind it while another test's
    // transaction holds the cluster's xmin back).
    let head = list_products(&store, 3000).await;
    let projectors: Vec<Arc<dyn Projector>> = vec![Arc::new(CatalogProjector)];
    let progress = Progress::new(&projectors);

    let mut watcher = progress.subscribe("catalog").unwrap();
    for _ in 0..3 {
        let (_stop_tx, stop) = watch::channel(false);
        let task = tokio::spawn(runner(&db, &store, &progress).run(stop));
        // Kill it as soon as it has committed something more: mid-way through catch-up.
        let before = *watcher.borrow();
        watcher.wait_for(|p| *p > before).await.unwrap();
        task.abort();
        let _ = task.await;
        if *watcher.borrow() >= head {
            break;
        }
    }
    let (stop_tx, stop) = watch::channel(false);
    let task = tokio::spawn(runner(&db, &store, &progress).run(stop));
    caught_up(&db, &progress, head).await;
    stop_tx.send(true).unwrap();
    task.await.unwrap();

    let tables = CatalogProjector.tables();
    let live = dump(&db, tables).await;
    assert_eq!(
        live.iter().filter(|r| r.starts_with("products:")).count(),
        3000
    );
    // Every movement applied exactly once, whatever the rebuild says: product `n` has
    // `n + ROUNDS` on hand and `ROUNDS` reserved.
    let wrong: Vec<(String, i64, i64)> = sqlx::query_as(
        "SELECT name, on_hand, reserved FROM products \
         WHERE on_hand <> substr(name, 9)::bigint + $1 OR reserved <> $1 ORDER BY name",
    )
    .bind(ROUNDS)
    .fetch_all(&db.pool)
    .await
    .unwrap();
    assert_eq!(wrong, [], "stock applied more or less than once");
    tillroll_projections::rebuild(&db.pool, &store, &CatalogProjector, &())
        .await
        .unwrap();
    let rebuilt = dump(&db, tables).await;
    assert_eq!(live, rebuilt);
    db.drop().await;
}

/// The real runner on the real store, following the log live while writers append to it
/// (listings, and stock movements that are not idempotent): once it reaches the last append
/// the read model equals a rebuild from zero, and every movement counted once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_runner_follows_live_appends_exactly_once() {
    let db = TestDb::new().await;
    let store = EventStore::new(db.pool.clone());
    let projectors: Vec<Arc<dyn Projector>> = vec![Arc::new(CatalogProjector)];
    let progress = Progress::new(&projectors);
    let (stop_tx, stop) = watch::channel(false);
    let task = tokio::spawn(runner(&db, &store, &progress).run(stop));

    // Three writers append while the runner follows; each waits for nothing but its own
    // appends.
    let writers: Vec<_> = (0..3)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move { list_products(&store, 200).await })
        })
        .collect();
    let mut head = LogPosition::START;
    for writer in writers {
        head = head.max(writer.await.unwrap());
    }
    caught_up(&db, &progress, head).await;
    stop_tx.send(true).unwrap();
    task.await.unwrap();

    let tables = CatalogProjector.tables();
    let live = dump(&db, tables).await;
    assert_eq!(
        live.iter().filter(|r| r.starts_with("products:")).count(),
        600
    );
    let (wrong,): (i64,) = sqlx::query_as(
        "SELECT count(*) FROM products \
         WHERE on_hand <> substr(name, 9)::bigint + $1 OR reserved <> $1",
    )
    .bind(ROUNDS)
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert_eq!(wrong, 0, "stock applied more or less than once");
    tillroll_projections::rebuild(&db.pool, &store, &CatalogProjector, &())
        .await
        .unwrap();
    assert_eq!(live, dump(&db, tables).await);
    db.drop().await;
}
