//! The transparency log under load (issue 11): how far the sealer lags behind the append
//! benchmark's writers (P10), how fast it seals a big log from scratch (P11), and proof
//! latency on that log (P12 inclusion, P13 consistency). In-process, on the bench database,
//! under a sealer lease the harness holds.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tillroll::audit::heads::TreeSigner;
use tillroll::audit::sealer::Sealer;
use tillroll::audit::tree;
use tillroll::store::{EventStore, ExpectedVersion, NewEvent, StreamAppend};
use tillroll_events::{EncodedEvent, Metadata, StreamId};
use tillroll_projections::lease::Fence;
use uuid::Uuid;

use crate::Flags;
use crate::data::BenchDb;
use crate::measure::{self, Measure, Outcome};

/// The sealer's lease, held by the harness for the duration of one measure.
async fn fence(db: &BenchDb) -> Fence {
    let lease = tillroll::workers::SEALER_LEASE;
    let holder = format!("bench:{}", std::process::id());
    let mut conn = db.pool.acquire().await.expect("a connection");
    // A server stopped just before may still hold it until its lease expires (5 s).
    let deadline = Instant::now() + Duration::from_secs(30);
    let epoch = loop {
        let taken = tillroll_projections::lease::acquire(&mut conn, lease, &holder, 3_600_000)
            .await
            .expect("lease query");
        match taken {
            Some(epoch) => break epoch,
            None if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            None => panic!("the sealer's lease stays held by another process"),
        }
    };
    Fence {
        lease: lease.into(),
        holder,
        epoch,
    }
}

async fn release(db: &BenchDb, fence: &Fence) {
    sqlx::query(
        "UPDATE leases SET expires_at = clock_timestamp() - interval '1 ms' \
         WHERE name = $1 AND holder = $2 AND epoch = $3",
    )
    .bind(&fence.lease)
    .bind(&fence.holder)
    .bind(fence.epoch)
    .execute(&db.pool)
    .await
    .expect("lease given back");
}

fn signer() -> TreeSigner {
    TreeSigner::from_seed(rand::random())
}

async fn register(db: &BenchDb, signer: &TreeSigner) {
    sqlx::query(
        "INSERT INTO audit_signing_keys (key_id, public_key) VALUES ($1, $2) \
         ON CONFLICT DO NOTHING",
    )
    .bind(signer.key_id())
    .bind(signer.public().as_bytes().as_slice())
    .execute(&db.pool)
    .await
    .expect("key registered");
}

/// P10: appends as in P1 (16 writers, one event a transaction) while the sealer runs every
/// second, as in the server. Returns the seal lag per head (the oldest newly covered event's
/// wait, p50 and max, ms) and the appends measure (a background load).
pub async fn sealer_lag(db: &BenchDb, flags: &Flags, concurrency: usize) -> ((f64, f64), Measure) {
    let fence = fence(db).await;
    let signer = signer();
    register(db, &signer).await;
    let store = EventStore::new(db.pool.clone());
    let mut sealer = Sealer::default();
    // The backlog of the measures before this one first.
    sealer
        .seal(&db.pool, &signer, &fence)
        .await
        .expect("catch-up seal");
    let streams: Arc<Vec<StreamId>> = Arc::new(
        (0..concurrency)
            .map(|_| StreamId::new("sealbench", Uuid::now_v7()))
            .collect(),
    );
    let writers = {
        let store = store.clone();
        measure::run(
            "P10",
            "appends while the sealer runs",
            concurrency,
            flags.duration,
            move |w, i| {
                let store = store.clone();
                let stream = streams[w].clone();
                async move {
                    let append = StreamAppend {
                        stream_id: stream,
                        expected: ExpectedVersion::Any,
                        events: vec![NewEvent::new(
                            EncodedEvent::new("BenchHappened", 1, serde_json::json!({ "n": i })),
                            Metadata::system(Uuid::now_v7()),
                        )],
                    };
                    match store.append(&[append]).await {
                        Ok(_) => Outcome::Ok,
                        Err(e) if e.is_conflict() => Outcome::Conflict,
                        Err(_) => Outcome::Error,
                    }
                }
            },
        )
    };
    let pool = db.pool.clone();
    let sealing = async {
        let mut lags = Vec::new();
        let deadline = Instant::now() + flags.duration + Duration::from_secs(2);
        while Instant::now() < deadline {
            tokio::time::sleep(Duration::from_secs(1)).await;
            let before = tree::size(&pool).await.ok().flatten().unwrap_or(0);
            let Ok(sealed) = sealer.seal(&pool, &signer, &fence).await else {
                continue;
            };
            if let Some(head) = sealed.head {
                let (oldest,): (Option<chrono::DateTime<chrono::Utc>>,) = sqlx::query_as(
                    "SELECT min(e.recorded_at) FROM event_log l JOIN events e \
                     USING (global_position) WHERE l.log_index >= $1 AND l.log_index < $2",
                )
                .bind(before)
                .bind(head.tree_size)
                .fetch_one(&pool)
                .await
                .expect("oldest newly sealed");
                if let Some(oldest) = oldest {
                    lags.push(
                        (head.timestamp - oldest).num_microseconds().unwrap_or(0) as f64 / 1000.0,
                    );
                }
            }
        }
        lags
    };
    let (measure, mut lags) = tokio::join!(writers, sealing);
    release(db, &fence).await;
    lags.sort_by(f64::total_cmp);
    let p50 = lags.get(lags.len() / 2).copied().unwrap_or(f64::NAN);
    let max = lags.last().copied().unwrap_or(f64::NAN);
    ((p50, max), measure)
}

/// P11–P13 on the grown log: sealing it from where it stands (events/s), then inclusion and
/// consistency proofs of random sizes and indexes.
pub async fn proofs(db: &BenchDb, flags: &Flags, concurrency: usize) -> (f64, Measure, Measure) {
    let fence = fence(db).await;
    let signer = signer();
    register(db, &signer).await;
    let before = tree::size(&db.pool).await.ok().flatten().unwrap_or(0);
    let started = Instant::now();
    let sealed = Sealer::default()
        .seal(&db.pool, &signer, &fence)
        .await
        .expect("the log seals");
    let rate = sealed.leaves as f64 / started.elapsed().as_secs_f64();
    release(db, &fence).await;
    let size = (before + sealed.leaves as i64).max(1) as u64;
    let pool = db.pool.clone();
    let inclusion = measure::run(
        "P12",
        "inclusion proof on the big log",
        concurrency,
        flags.duration,
        move |_, _| {
            let pool = pool.clone();
            async move {
                let index = rand::random::<u64>() % size;
                match tree::inclusion(&pool, index, size).await {
                    Ok(_) => Outcome::Ok,
                    Err(_) => Outcome::Error,
                }
            }
        },
    )
    .await;
    let pool = db.pool.clone();
    let consistency = measure::run(
        "P13",
        "consistency proof on the big log",
        concurrency,
        flags.duration,
        move |_, _| {
            let pool = pool.clone();
            async move {
                let first = 1 + rand::random::<u64>() % size;
                match tree::consistency(&pool, first, size).await {
                    Ok(_) => Outcome::Ok,
                    Err(_) => Outcome::Error,
                }
            }
        },
    )
    .await;
    (rate, inclusion, consistency)
}
