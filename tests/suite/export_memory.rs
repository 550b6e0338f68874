//! `tillroll audit export` streams: the real binary's peak resident memory (`VmHWM`) on a log
//! thirty times its batch is no more than on a log of one batch, give or take a small fraction
//! of the log's size — a copy of the log held in memory anywhere would show as tens of MiB.

use serde_json::json;
use tillroll::store::{EventStore, ExpectedVersion, NewEvent, StreamAppend};
use tillroll_events::{EncodedEvent, Metadata, StreamId};
use tokio::io::AsyncReadExt;
use uuid::Uuid;

use crate::support::TestDb;

/// The export reads the log 1,000 events at a time (`audit::export`).
const BATCH: usize = 1_000;
const PAYLOAD: usize = 2_000;

/// Appends `count` events of about `PAYLOAD` bytes each, 100 to a stream, and sequences them.
async fn fill(db: &TestDb, count: usize) {
    let store = EventStore::new(db.pool.clone());
    let filler = "x".repeat(PAYLOAD);
    for chunk in 0..count.div_ceil(100) {
        let events = (0..100.min(count - chunk * 100))
            .map(|n| {
                NewEvent::new(
                    EncodedEvent {
                        event_type: "TestHappened".into(),
                        schema_version: 1,
                        data: json!({ "n": n, "filler": filler }),
                        personal: Default::default(),
                    },
                    Metadata::system(Uuid::nil()),
                )
            })
            .collect();
        let append = StreamAppend {
            stream_id: StreamId::new("test", Uuid::new_v4()),
            expected: ExpectedVersion::NoStream,
            events,
        };
        store.append(&[append]).await.expect("append");
    }
    store.sequence_pending().await.expect("sequenced");
}

/// `VmHWM` of a live process, in bytes.
fn peak_rss(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

struct Run {
    lines: usize,
    bytes: usize,
    peak: u64,
}

/// Runs the export, reading its output as it comes and sampling the child's peak RSS after
/// every read: the pipe stalls the child while we sample, so its peak up to the last line
/// is seen (`VmHWM` never decreases).
async fn export(db: &TestDb) -> Run {
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_tillroll"))
        .args(["audit", "export"])
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("DATABASE_URL", db.url())
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("the tillroll binary runs");
    let pid = child.id().expect("a pid");
    let mut stdout = child.stdout.take().unwrap();
    let mut buf = vec![0; 64 * 1024];
    let (mut lines, mut bytes, mut peak) = (0, 0, 0);
    loop {
        let n = stdout.read(&mut buf).await.expect("read the export");
        if n == 0 {
            break;
        }
        if let Some(now) = peak_rss(pid) {
            peak = peak.max(now);
        }
        bytes += n;
        lines += buf[..n].iter().filter(|b| **b == b'\n').count();
    }
    let status = child.wait().await.unwrap();
    assert!(status.success(), "audit export exited {status}");
    assert!(peak > 0, "VmHWM was read");
    Run { lines, bytes, peak }
}

#[tokio::test]
async fn the_export_runs_in_the_same_memory_whatever_the_length_of_the_log() {
    let (small_db, large_db) = (TestDb::new().await, TestDb::new().await);
    fill(&small_db, BATCH).await;
    fill(&large_db, 30 * BATCH).await;

    let small = export(&small_db).await;
    let large = export(&large_db).await;
    assert_eq!(small.lines, BATCH);
    assert_eq!(large.lines, 30 * BATCH);
    assert!(
        large.bytes > 60 << 20,
        "the large log is {} bytes",
        large.bytes
    );
    let growth = large.peak.saturating_sub(small.peak);
    assert!(
        growth < (large.bytes / 8) as u64,
        "peak RSS {} MiB for 1 batch, {} MiB for 30 ({} MiB of log)",
        small.peak >> 20,
        large.peak >> 20,
        large.bytes >> 20
    );
    eprintln!(
        "peak RSS {} KiB for 1 batch, {} KiB for 30 ({} MiB of log)",
        small.peak >> 10,
        large.peak >> 10,
        large.bytes >> 20
    );
}
