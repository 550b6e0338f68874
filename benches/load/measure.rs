//! The load generator: N workers call an operation until a deadline; latencies are kept per
//! worker and merged, so measuring costs no locking on the hot path.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;

#[derive(Debug, Clone, Serialize)]
pub struct Measure {
    pub id: String,
    pub name: String,
    pub concurrency: usize,
    pub operations: u64,
    pub errors: u64,
    /// Operations that failed with a version conflict (409 not caused by business rules).
    pub conflicts: u64,
    pub seconds: f64,
    pub throughput: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub p999_ms: f64,
}

/// What one operation reports.
pub enum Outcome {
    Ok,
    Conflict,
    Error,
}

fn percentile(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index] as f64 / 1000.0
}

/// Runs `op(worker, iteration)` from `concurrency` workers for `duration`.
pub async fn run<F, Fut>(
    id: &str,
    name: &str,
    concurrency: usize,
    duration: Duration,
    op: F,
) -> Measure
where
    F: Fn(usize, u64) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Outcome> + Send,
{
    let op = Arc::new(op);
    let started = Instant::now();
    let deadline = started + duration;
    let workers: Vec<_> = (0..concurrency)
        .map(|worker| {
            let op = op.clone();
            tokio::spawn(async move {
                let mut latencies = Vec::with_capacity(4096);
                let (mut errors, mut conflicts) = (0u64, 0u64);
                let mut i = 0u64;
                while Instant::now() < deadline {
                    let t = Instant::now();
                    match op(worker, i).await {
                        Outcome::Ok => {}
                        Outcome::Conflict => conflicts += 1,
                        Outcome::Error => errors += 1,
                    }
                    latencies.push(t.elapsed().as_micros() as u64);
                    i += 1;
                }
                (latencies, errors, conflicts)
            })
        })
        .collect();
    let mut all = Vec::new();
    let (mut errors, mut conflicts) = (0, 0);
    for worker in workers {
        let (l, e, c) = worker.await.expect("worker");
        all.extend(l);
        errors += e;
        conflicts += c;
    }
    let seconds = started.elapsed().as_secs_f64();
    all.sort_unstable();
    Measure {
        id: id.into(),
        name: name.into(),
        concurrency,
        operations: all.len() as u64,
        errors,
        conflicts,
        seconds,
        throughput: all.len() as f64 / seconds,
        p50_ms: percentile(&all, 0.50),
        p99_ms: percentile(&all, 0.99),
        p999_ms: percentile(&all, 0.999),
    }
}

impl Measure {
    /// Why this measure shows a broken harness or server, if it does: it ran no operation,
    /// or one of them failed. (A smoke run has no thresholds, but it must fail on these.)
    pub fn smoke_failure(&self) -> Option<String> {
        if self.operations == 0 {
            Some(format!("{} {}: no operation ran", self.id, self.name))
        } else if self.errors > 0 {
            Some(format!(
                "{} {}: {} of {} operations failed",
                self.id, self.name, self.errors, self.operations
            ))
        } else {
            None
        }
    }

    pub fn line(&self) -> String {
        format!(
            "{:<4} {:<48} c={:<3} {:>9.0} op/s  p50 {:>7.2} ms  p99 {:>7.2} ms  p99.9 {:>7.2} ms  err {} conflict {}",
            self.id,
            self.name,
            self.concurrency,
            self.throughput,
            self.p50_ms,
            self.p99_ms,
            self.p999_ms,
            self.errors,
            self.conflicts
        )
    }
}
