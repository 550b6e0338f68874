//! tillroll's benchmark harness: `cargo bench --bench load -- [--smoke] [--duration S]
//! [--events N] [--products N] [--customers N] [--only SECTIONS] [--no-write]`.
//!
//! Sections (all by default; `--only` takes a comma-separated list): `store` (B1, P1, B3),
//! `http` (B2, P2, P3, P4, P5, P8), `log` (grows the log; P6, P9), `big` (P7: `http`'s
//! reads and writes again on the big log; implies `log`).
//!
//! Starts its own server (the real `tillroll` binary, as a child process) on a fresh database,
//! loads data over the HTTP API, drives load with a built-in generator, measures the
//! baselines in the same run (raw sqlx INSERT and primary-key SELECT against the same
//! Postgres, an axum handler returning a constant), and writes BENCHMARKS.md and
//! BENCHMARKS.json. Every figure is reported as a ratio to its baseline.

mod audit;
mod data;
mod measure;
mod report;
mod server;
mod store;

use std::time::Duration;

use measure::Measure;

#[derive(Debug, Clone)]
pub struct Flags {
    pub smoke: bool,
    pub duration: Duration,
    pub events: u64,
    pub products: usize,
    pub customers: usize,
    pub write: bool,
    sections: Option<Vec<String>>,
}

impl Flags {
    fn runs(&self, section: &str) -> bool {
        self.sections.as_ref().is_none_or(|s| {
            s.iter()
                .any(|x| x == section || (section == "log" && x == "big"))
        })
    }
}

fn flags() -> Flags {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let value = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    let smoke = args.iter().any(|a| a == "--smoke");
    let number = |name: &str, default: u64| {
        value(name)
            .map(|v| {
                v.parse()
                    .unwrap_or_else(|_| panic!("{name} takes a number"))
            })
            .unwrap_or(default)
    };
    Flags {
        smoke,
        duration: Duration::from_secs_f64(
            value("--duration")
                .map(|v| v.parse().expect("--duration takes seconds"))
                .unwrap_or(if smoke { 0.5 } else { 8.0 }),
        ),
        events: number("--events", if smoke { 3_000 } else { 1_000_000 }),
        products: number("--products", if smoke { 30 } else { 1_000 }) as usize,
        customers: number("--customers", if smoke { 4 } else { 32 }) as usize,
        // Cargo passes `--bench` when run by `cargo bench`; a smoke run writes nothing.
        // A partial run writes nothing either: BENCHMARKS.md holds whole runs.
        write: !smoke && !args.iter().any(|a| a == "--no-write") && value("--only").is_none(),
        sections: value("--only").map(|v| v.split(',').map(str::to_owned).collect()),
    }
}

fn main() {
    let flags = flags();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let results = runtime.block_on(run(flags.clone()));
    for m in &results.measures {
        println!("{}", m.line());
    }
    let table = report::table(&results);
    println!("\n{table}");
    if flags.write {
        report::write(&results, &table).expect("BENCHMARKS.md written");
        println!("wrote BENCHMARKS.md and BENCHMARKS.json");
    }
    println!("benchmark harness: {} measures", results.measures.len());
    if flags.smoke {
        let failures = smoke_failures(&results);
        if !failures.is_empty() {
            for failure in &failures {
                eprintln!("smoke run failed: {failure}");
            }
            std::process::exit(1);
        }
    }
}

/// What makes a smoke run fail: a measure (reported or background) that ran nothing or had
/// errors, or a value that could not be measured.
fn smoke_failures(results: &Results) -> Vec<String> {
    let measures = results.measures.iter().chain(&results.background);
    let values = results
        .values
        .iter()
        .filter(|(_, value)| !value.is_finite())
        .map(|(name, value)| format!("{name}: {value}"));
    measures
        .filter_map(Measure::smoke_failure)
        .chain(values)
        .collect()
}

pub struct Results {
    pub flags: Flags,
    pub measures: Vec<Measure>,
    /// Named scalar results (RSS, rebuild rate, lag…).
    pub values: Vec<(String, f64)>,
    /// Load that other measures run under (not reported, but a smoke run checks it).
    pub background: Vec<Measure>,
}

async fn run(flags: Flags) -> Results {
    let mut results = Results {
        flags: flags.clone(),
        measures: Vec::new(),
        values: Vec::new(),
        background: Vec::new(),
    };
    // A smoke run measures nothing: it keeps few connections of a Postgres that others share.
    let db = data::BenchDb::create(if flags.smoke { 8 } else { 40 }).await;
    eprintln!("bench database {}", db.name);

    // Baselines and the store, in-process against the same Postgres.
    if flags.runs("store") {
        results
            .measures
            .push(store::raw_insert(&db, &flags, 16).await);
        results.measures.push(store::append(&db, &flags, 16).await);
        let (lag, writers) = audit::sealer_lag(&db, &flags, 16).await;
        results.background.push(writers);
        results.values.push(("P10 seal lag p50 (ms)".into(), lag.0));
        results.values.push(("P10 seal lag max (ms)".into(), lag.1));
        results
            .measures
            .push(server::http_ceiling(&flags, 32).await);
    }

    let mut srv = server::Server::start(&db).await;
    let fixture = data::Fixture::load(&srv, &flags).await;
    if flags.runs("http") {
        results
            .values
            .push(("P8 RSS idle (MiB)".into(), srv.rss_mib()));
        results
            .measures
            .push(store::raw_select(&db, &flags, 32, &fixture.product_ids).await);
        for m in server::reads(&srv, &fixture, &flags, 32, "P3").await {
            results.measures.push(m);
        }
        let (p2, peak) = server::add_to_cart(&srv, &fixture, &flags, 32, "P2").await;
        let half_load = p2.throughput / 2.0;
        results.measures.push(p2);
        results.values.push(("P8 RSS under P2 (MiB)".into(), peak));
        srv.wait_ready(Duration::from_secs(300)).await;
        let (lag, background) = server::projection_lag(&srv, &fixture, &flags, 16, half_load).await;
        results.background.extend(background);
        results.values.push(("P5 lag p50 (ms)".into(), lag.0));
        results.values.push(("P5 lag p99 (ms)".into(), lag.1));
        // Checkout last: it starts payment flows (STK pushes, callbacks, reconciliation) that
        // keep the server busy for minutes, which would weigh on whatever is measured next.
        if !flags.runs("big") {
            results
                .measures
                .push(server::checkout(&srv, &fixture, &flags, 32).await);
        }
    }
    srv.stop();
    if !flags.runs("log") {
        db.drop().await;
        return results;
    }

    // Grow the log, then rebuild, export, and measure reads and writes again (P7).
    let generated = store::generate(&db, flags.events).await;
    // What an operator does after a bulk load; otherwise autovacuum works through the new
    // rows during the measures that follow.
    sqlx::query("VACUUM ANALYZE")
        .execute(&db.pool)
        .await
        .expect("vacuum after the bulk load");
    results
        .values
        .push(("log size (events)".into(), generated as f64));
    results
        .values
        .push(("P6 rebuild (events/s)".into(), store::rebuild(&db).await));
    let (sealing, inclusion, consistency) = audit::proofs(&db, &flags, 8).await;
    results
        .values
        .push(("P11 seal the grown log (events/s)".into(), sealing));
    results.measures.push(inclusion);
    results.measures.push(consistency);
    let (rate, rss_growth) = store::export(&db).await;
    results.values.push(("P9 export (events/s)".into(), rate));
    results
        .values
        .push(("P9 RSS growth during export (MiB)".into(), rss_growth));
    if !flags.runs("big") {
        db.drop().await;
        return results;
    }
    let srv = server::Server::start(&db).await;
    srv.wait_ready(Duration::from_secs(600)).await;
    for m in server::reads(&srv, &fixture, &flags, 32, "P7").await {
        results.measures.push(m);
    }
    let (p7, _) = server::add_to_cart(&srv, &fixture, &flags, 32, "P7").await;
    results.measures.push(p7);
    if flags.runs("http") {
        results
            .measures
            .push(server::checkout(&srv, &fixture, &flags, 32).await);
    }
    drop(srv);
    db.drop().await;
    results
}
