//! Group commit (issue 16): concurrent appends go in as one statement and one transaction,
//! and a conflict in a batch fails only its own append.

use std::time::{Duration, Instant};

use serde_json::json;
use tillroll::store::{EventStore, ExpectedVersion, GroupHold, NewEvent, StreamAppend};
use tillroll_events::{EncodedEvent, Metadata, StreamId};
use uuid::Uuid;

use crate::support::TestDb;

fn event(n: usize) -> NewEvent {
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

fn one(stream: &StreamId, expected: ExpectedVersion, n: usize) -> Vec<StreamAppend> {
    vec![StreamAppend {
        stream_id: stream.clone(),
        expected,
        events: vec![event(n)],
    }]
}

fn stream() -> StreamId {
    StreamId::new("test", Uuid::new_v4())
}

/// Waits (with a deadline) until `n` appends wait behind the hold.
async fn until_queued(hold: &GroupHold, n: usize) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while hold.queued() < n {
        assert!(
            Instant::now() < deadline,
            "{} of {n} appends queued",
            hold.queued()
        );
        tokio::task::yield_now().await;
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

/// The inserting transaction of each event (`xmin`): one batch, one transaction.
async fn transactions(db: &TestDb, event_ids: &[Uuid]) -> Vec<String> {
    sqlx::query_scalar("SELECT DISTINCT xmin::text FROM events WHERE event_id = ANY($1) ORDER BY 1")
        .bind(event_ids)
        .fetch_all(&db.pool)
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_appends_commit_in_one_transaction_each_with_its_own_answer() {
    let db = TestDb::with_pool_size(6).await;
    let store = EventStore::new(db.pool.clone());
    let hold = store.hold_group_commit().await;
    let streams: Vec<StreamId> = (0..24).map(|_| stream()).collect();
    let appends: Vec<_> = streams
        .iter()
        .enumerate()
        .map(|(n, s)| {
            let (store, appends) = (store.clone(), one(s, ExpectedVersion::NoStream, n));
            tokio::spawn(async move { store.append(&appends).await })
        })
        .collect();
    until_queued(&hold, streams.len()).await;
    drop(hold);

    let mut ids = Vec::new();
    let mut positions = Vec::new();
    for (task, stream) in appends.into_iter().zip(&streams) {
        let result = task.await.unwrap().expect("every append lands");
        assert_eq!(result.version_of(stream), Some(1));
        assert_eq!(result.event_ids.len(), 1);
        ids.extend(result.event_ids);
        positions.push(result.last);
    }
    assert_eq!(
        transactions(&db, &ids).await.len(),
        1,
        "24 appends, one commit"
    );
    // Each answer names its own event's position.
    let stored: Vec<i64> = sqlx::query_scalar(
        "SELECT global_position FROM events e \
         JOIN unnest($1::uuid[]) WITH ORDINALITY AS o(event_id, ord) USING (event_id) \
         ORDER BY o.ord",
    )
    .bind(&ids)
    .fetch_all(&db.pool)
    .await
    .unwrap();
    assert_eq!(stored, positions);
    db.drop().await;
}

/// A batch holding a stale head (another node appended), a second creator of one stream and a
/// decision whose read moved on: those three fail, alone; the rest land, once each.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_conflict_in_a_batch_fails_only_its_own_append() {
    let db = TestDb::with_pool_size(8).await;
    let store = EventStore::new(db.pool.clone());
    let other_node = EventStore::new(db.pool.clone());
    // This store caches the heads of `stale` and `read` at version 1; the other node moves
    // both to version 2.
    let (stale, read) = (stream(), stream());
    for s in [&stale, &read] {
        store
            .append(&one(s, ExpectedVersion::NoStream, 0))
            .await
            .unwrap();
        other_node
            .append(&one(s, ExpectedVersion::Exact(1), 0))
            .await
            .unwrap();
    }

    let hold = store.hold_group_commit().await;
    let fresh: Vec<StreamId> = (0..10).map(|_| stream()).collect();
    let twice = stream();
    let mut tasks = Vec::new();
    let spawn = |appends: Vec<StreamAppend>, reads: Vec<(String, i64)>| {
        let store = store.clone();
        tokio::spawn(async move { store.append_confirming(&appends, &reads).await })
    };
    for (n, s) in fresh.iter().enumerate() {
        tasks.push(spawn(one(s, ExpectedVersion::NoStream, n), vec![]));
    }
    let stale_task = spawn(one(&stale, ExpectedVersion::Exact(1), 100), vec![]);
    let read_task = spawn(
        one(&stream(), ExpectedVersion::NoStream, 101),
        vec![(read.to_string(), 1)],
    );
    let twice_tasks = [
        spawn(one(&twice, ExpectedVersion::NoStream, 102), vec![]),
        spawn(one(&twice, ExpectedVersion::NoStream, 103), vec![]),
    ];
    until_queued(&hold, fresh.len() + 4).await;
    drop(hold);

    for (task, s) in tasks.into_iter().zip(&fresh) {
        let result = task.await.unwrap().expect("a fresh stream lands");
        assert_eq!(result.version_of(s), Some(1));
    }
    let stale_error = stale_task.await.unwrap().expect_err("stale head");
    assert!(stale_error.is_conflict(), "{stale_error}");
    let read_error = read_task.await.unwrap().expect_err("moved read");
    assert!(read_error.is_conflict(), "{read_error}");
    let mut won = 0;
    for task in twice_tasks {
        match task.await.unwrap() {
            Ok(_) => won += 1,
            Err(error) => assert!(error.is_conflict(), "{error}"),
        }
    }
    assert_eq!(won, 1, "one creator of a stream wins");

    // Nothing of the failed appends is stored, everything else exactly once.
    let counts: Vec<(String, i64)> = sqlx::query_as(
        "SELECT stream_id, count(*) FROM events WHERE stream_id = ANY($1) GROUP BY stream_id",
    )
    .bind(
        fresh
            .iter()
            .chain([&stale, &read, &twice])
            .map(|s| s.to_string())
            .collect::<Vec<_>>(),
    )
    .fetch_all(&db.pool)
    .await
    .unwrap();
    assert_eq!(counts.len(), fresh.len() + 3);
    for (stream_id, count) in counts {
        let expected = if stream_id == stale.to_string() || stream_id == read.to_string() {
            2
        } else {
            1
        };
        assert_eq!(count, expected, "{stream_id}");
    }
    // The stale store learnt the head: its next append at the real version lands.
    store
        .append(&one(&stale, ExpectedVersion::Exact(2), 104))
        .await
        .expect("after a conflict the head is read again");
    db.drop().await;
}
