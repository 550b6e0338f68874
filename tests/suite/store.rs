//! The event store's guarantees: gap-safe global order, optimistic concurrency, atomic
//! multi-stream appends, hash chains.

use std::collections::HashSet;
use std::sync::Arc;

use serde_json::json;
use tillroll::store::{EventStore, ExpectedVersion, NewEvent, StoreError, StreamAppend};
use tillroll_events::{EncodedEvent, LogPosition, Metadata, StreamId};
use tokio::sync::Barrier;
use uuid::Uuid;

use crate::support::TestDb;

fn event(n: i64) -> NewEvent {
    NewEvent::new(
        EncodedEvent {
            event_type: "TestHappened".into(),
            schema_version: 1,
            data: json!({ "n": n }),
            personal: Default::default(),
        },
        Metadata::system(Uuid::nil()),
    )
}

fn append(stream: &StreamId, expected: ExpectedVersion, events: Vec<NewEvent>) -> StreamAppend {
    StreamAppend {
        stream_id: stream.clone(),
        expected,
        events,
    }
}

fn stream() -> StreamId {
    StreamId::new("test", Uuid::new_v4())
}

/// A transaction that appended first but commits last is never skipped: a reader that went
/// past every event visible before that commit still reads it afterwards (the sequencer gives
/// it its place in the log once it commits), and nothing is read twice.
#[tokio::test]
async fn a_reader_never_skips_a_transaction_that_commits_late() {
    let db = TestDb::new().await;
    let store = EventStore::new(db.pool.clone());
    let (slow, fast) = (stream(), stream());

    let mut slow_tx = db.pool.begin().await.unwrap();
    store
        .append_in_tx(
            &mut slow_tx,
            &[append(&slow, ExpectedVersion::NoStream, vec![event(1)])],
        )
        .await
        .unwrap();
    store
        .append(&[append(&fast, ExpectedVersion::NoStream, vec![event(2)])])
        .await
        .unwrap();

    // The fast event is committed (and may already have its place in the log); the slow
    // transaction's event, not committed, is nowhere to be read.
    let before = store.read_all(LogPosition::START, 100).await.unwrap();
    assert!(
        before.iter().all(|e| e.stream_id == fast.to_string()),
        "read an uncommitted event: {before:?}"
    );
    // A reader that has gone past everything visible so far …
    let after = before
        .last()
        .map_or(LogPosition::START, |e| e.log_position());

    slow_tx.commit().await.unwrap();
    // … still reads the late commit (and the fast event, if it had not seen it), once each.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let mut seen = before.clone();
    loop {
        let from = seen.last().map_or(after, |e| e.log_position()).max(after);
        seen.extend(store.read_all(from, 100).await.unwrap());
        if seen.len() >= 2 || std::time::Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    let mut streams: Vec<_> = seen.iter().map(|e| e.stream_id.clone()).collect();
    streams.sort();
    let mut expected = vec![slow.to_string(), fast.to_string()];
    expected.sort();
    assert_eq!(streams, expected, "each event read once, none skipped");
    db.drop().await;
}

/// Many writers on many streams, some holding their transaction open while others commit,
/// and a reader tailing the log: every event is seen exactly once, in one consistent order.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_appends_are_read_exactly_once_in_a_consistent_order() {
    let db = TestDb::with_pool_size(12).await;
    let store = EventStore::new(db.pool.clone());
    const WRITERS: usize = 8;
    const ROUNDS: usize = 40;
    // One stream per writer per round (rotating), so a writer holding its transaction open
    // never blocks another writer's insert on the same stream across the barrier.
    let streams: Arc<Vec<StreamId>> = Arc::new((0..WRITERS).map(|_| stream()).collect());

    let reader = {
        let store = store.clone();
        tokio::spawn(async move {
            let mut subscription = store.subscribe(LogPosition::START);
            let mut seen = Vec::new();
            while seen.len() < WRITERS * ROUNDS * 2 {
                seen.extend(subscription.next_batch().await.unwrap());
            }
            seen
        })
    };

    let barrier = Arc::new(Barrier::new(WRITERS));
    let writers: Vec<_> = (0..WRITERS)
        .map(|w| {
            let store = store.clone();
            let pool = db.pool.clone();
            let streams = streams.clone();
            let barrier = barrier.clone();
            tokio::spawn(async move {
                let mut written = Vec::new();
                for round in 0..ROUNDS {
                    // Every round, all writers start together; even writers hold their
                    // transaction open across the barrier while odd writers commit.
                    barrier.wait().await;
                    let stream = &streams[(w + round) % streams.len()];
                    let events = vec![event((w * 1000 + round) as i64), event(-1)];
                    written.extend(events.iter().map(|e| e.event_id));
                    let mut tx = pool.begin().await.unwrap();
                    let appended = loop {
                        let r = store
                            .append_in_tx(
                                &mut tx,
                                &[append(stream, ExpectedVersion::Any, events.clone())],
                            )
                            .await;
                        match r {
                            Ok(appended) => break appended,
                            Err(StoreError::Conflict { .. }) => {
                                tx.rollback().await.unwrap();
                                tx = pool.begin().await.unwrap();
                            }
                            Err(e) => panic!("{e}"),
                        }
                    };
                    if w % 2 == 0 {
                        tokio::task::yield_now().await;
                        barrier.wait().await;
                        tx.commit().await.unwrap();
                    } else {
                        tx.commit().await.unwrap();
                        barrier.wait().await;
                    }
                    store.committed(&appended);
                }
                written
            })
        })
        .collect();

    let mut written = HashSet::new();
    for writer in writers {
        written.extend(writer.await.unwrap());
    }
    let seen = tokio::time::timeout(std::time::Duration::from_secs(60), reader)
        .await
        .expect("the reader saw every event")
        .unwrap();

    let ids: Vec<Uuid> = seen.iter().map(|e| e.event_id).collect();
    let unique: HashSet<Uuid> = ids.iter().copied().collect();
    assert_eq!(unique.len(), ids.len(), "an event was delivered twice");
    assert_eq!(unique, written, "an event was lost");
    let positions: Vec<LogPosition> = seen.iter().map(|e| e.log_position()).collect();
    assert!(positions.windows(2).all(|w| w[0] < w[1]), "out of order");
    // And the order is the one any later reader sees.
    let again: Vec<Uuid> = store
        .read_all(LogPosition::START, 10_000)
        .await
        .unwrap()
        .iter()
        .map(|e| e.event_id)
        .collect();
    assert_eq!(again, ids);
    db.drop().await;
}

#[tokio::test]
async fn two_writers_with_the_same_expected_version_one_wins() {
    let db = TestDb::new().await;
    let store = EventStore::new(db.pool.clone());
    let s = stream();
    store
        .append(&[append(&s, ExpectedVersion::NoStream, vec![event(1)])])
        .await
        .unwrap();
    let first = [append(&s, ExpectedVersion::Exact(1), vec![event(2)])];
    let second = [append(&s, ExpectedVersion::Exact(1), vec![event(3)])];
    let (a, b) = tokio::join!(store.append(&first), store.append(&second));
    let wins = [&a, &b].iter().filter(|r| r.is_ok()).count();
    assert_eq!(wins, 1, "{a:?} {b:?}");
    let loser = if a.is_err() { a } else { b };
    assert!(matches!(loser, Err(StoreError::Conflict { .. })));
    assert_eq!(store.read_stream(s.as_str(), 0).await.unwrap().len(), 2);

    let stale = store
        .append(&[append(&s, ExpectedVersion::NoStream, vec![event(4)])])
        .await;
    assert!(matches!(stale, Err(StoreError::Conflict { .. })));
    db.drop().await;
}

#[tokio::test]
async fn a_multi_stream_append_with_one_stale_version_appends_nothing() {
    let db = TestDb::new().await;
    let store = EventStore::new(db.pool.clone());
    let (a, b, c) = (stream(), stream(), stream());
    store
        .append(&[append(
            &b,
            ExpectedVersion::NoStream,
            vec![event(1), event(2)],
        )])
        .await
        .unwrap();
    let result = store
        .append(&[
            append(&a, ExpectedVersion::NoStream, vec![event(3)]),
            append(&b, ExpectedVersion::Exact(1), vec![event(4)]),
            append(&c, ExpectedVersion::Any, vec![event(5)]),
        ])
        .await;
    match result {
        Err(StoreError::Conflict { stream_id, .. }) => assert_eq!(stream_id, b.to_string()),
        other => panic!("expected a conflict, got {other:?}"),
    }
    for s in [&a, &c] {
        assert!(store.read_stream(s.as_str(), 0).await.unwrap().is_empty());
    }
    assert_eq!(store.read_stream(b.as_str(), 0).await.unwrap().len(), 2);
    db.drop().await;
}

#[tokio::test]
async fn events_cannot_be_updated_or_deleted_by_sql() {
    let db = TestDb::new().await;
    let store = EventStore::new(db.pool.clone());
    store
        .append(&[append(&stream(), ExpectedVersion::NoStream, vec![event(1)])])
        .await
        .unwrap();
    for sql in [
        "UPDATE events SET data = '{}'",
        "DELETE FROM events",
        "TRUNCATE events",
    ] {
        let error = sqlx::query(sql).execute(&db.pool).await.unwrap_err();
        assert!(error.to_string().contains("immutable"), "{sql}: {error}");
    }
    db.drop().await;
}

async fn tamper(db: &TestDb, sql: &str) {
    let mut conn = db.pool.acquire().await.unwrap();
    sqlx::query("SET session_replication_role = replica")
        .execute(&mut *conn)
        .await
        .unwrap();
    sqlx::query(sqlx::AssertSqlSafe(sql.to_owned()))
        .execute(&mut *conn)
        .await
        .unwrap();
    sqlx::query("SET session_replication_role = origin")
        .execute(&mut *conn)
        .await
        .unwrap();
}

async fn three_streams(store: &EventStore) -> Vec<StreamId> {
    let streams: Vec<StreamId> = (0..3).map(|_| stream()).collect();
    for s in &streams {
        store
            .append(&[append(
                s,
                ExpectedVersion::NoStream,
                (1..=4).map(event).collect(),
            )])
            .await
            .unwrap();
    }
    streams
}

#[tokio::test]
async fn the_hash_chain_detects_edits_deletions_and_swaps() {
    let db = TestDb::new().await;
    let store = EventStore::new(db.pool.clone());
    let streams = three_streams(&store).await;
    let report = store.verify_chains().await.unwrap();
    assert!(report.ok, "{report:?}");
    assert_eq!((report.streams_checked, report.events_checked), (3, 12));

    // One byte of data.
    tamper(
        &db,
        &format!(
            "UPDATE events SET data = '{{\"n\": 7}}' WHERE stream_id = '{}' AND stream_version = 2",
            streams[0]
        ),
    )
    .await;
    // A middle event deleted.
    tamper(
        &db,
        &format!(
            "DELETE FROM events WHERE stream_id = '{}' AND stream_version = 3",
            streams[1]
        ),
    )
    .await;
    // Two events' contents swapped (versions kept).
    tamper(
        &db,
        &format!(
            "UPDATE events e SET data = o.data, hash = o.hash FROM events o \
             WHERE e.stream_id = '{s}' AND o.stream_id = '{s}' \
               AND e.stream_version IN (1, 2) AND o.stream_version = 3 - e.stream_version",
            s = streams[2]
        ),
    )
    .await;

    let report = store.verify_chains().await.unwrap();
    assert!(!report.ok);
    let mut found: Vec<(String, i64)> = report
        .failures
        .iter()
        .map(|f| (f.stream_id.clone(), f.version))
        .collect();
    found.sort();
    let mut expected = vec![
        (streams[0].to_string(), 2),
        (streams[1].to_string(), 4),
        (streams[2].to_string(), 1),
    ];
    expected.sort();
    assert_eq!(found, expected, "{report:?}");
    db.drop().await;
}

/// Two processes (two stores, two head caches) on one stream: a stale cached head gives the
/// conflict the writer deserves, and the chain stays intact afterwards.
#[tokio::test]
async fn a_stale_head_cache_conflicts_and_never_breaks_the_chain() {
    let db = TestDb::new().await;
    let (a, b) = (
        EventStore::new(db.pool.clone()),
        EventStore::new(db.pool.clone()),
    );
    let s = stream();
    a.append(&[append(&s, ExpectedVersion::NoStream, vec![event(1)])])
        .await
        .unwrap();
    b.append(&[append(&s, ExpectedVersion::Exact(1), vec![event(2)])])
        .await
        .unwrap();
    let stale = a
        .append(&[append(&s, ExpectedVersion::Exact(1), vec![event(3)])])
        .await;
    assert!(
        matches!(stale, Err(StoreError::Conflict { .. })),
        "{stale:?}"
    );
    a.append(&[append(&s, ExpectedVersion::Exact(2), vec![event(4)])])
        .await
        .unwrap();
    a.append(&[append(&s, ExpectedVersion::Any, vec![event(5)])])
        .await
        .unwrap();
    let report = a.verify_chains().await.unwrap();
    assert!(report.ok, "{report:?}");
    assert_eq!(report.events_checked, 4);
    db.drop().await;
}

/// `Any` means "whatever the version": concurrent writers on one stream all get their events
/// in, in some order, and the chain stays intact.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_any_appends_to_one_stream_all_land() {
    let db = TestDb::with_pool_size(10).await;
    let store = EventStore::new(db.pool.clone());
    let s = stream();
    let writers: Vec<_> = (0..8)
        .map(|w| {
            let (store, s) = (store.clone(), s.clone());
            tokio::spawn(async move {
                for n in 0..10 {
                    store
                        .append(&[append(&s, ExpectedVersion::Any, vec![event(w * 100 + n)])])
                        .await
                        .expect("an Any append is retried, not refused");
                }
            })
        })
        .collect();
    for writer in writers {
        writer.await.unwrap();
    }
    assert_eq!(store.read_stream(s.as_str(), 0).await.unwrap().len(), 80);
    assert!(store.verify_chains().await.unwrap().ok);
    db.drop().await;
}
