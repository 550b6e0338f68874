//! BENCHMARKS.md and BENCHMARKS.json: every row with its baseline and goal.

use std::fmt::Write;

use crate::Results;
use crate::measure::Measure;

fn find<'a>(r: &'a Results, id: &str, name_part: &str) -> Option<&'a Measure> {
    r.measures
        .iter()
        .find(|m| m.id == id && m.name.contains(name_part))
}

fn value(r: &Results, name: &str) -> Option<f64> {
    r.values.iter().find(|(n, _)| n == name).map(|(_, v)| *v)
}

fn ratio(a: Option<&Measure>, b: Option<&Measure>) -> Option<f64> {
    Some(a?.throughput / b?.throughput)
}

fn verdict(ok: Option<bool>) -> &'static str {
    match ok {
        Some(true) => "met",
        Some(false) => "not met",
        None => "n/a",
    }
}

pub fn table(r: &Results) -> String {
    let raw_insert = find(r, "B1", "");
    let raw_select = find(r, "B2", "");
    let mut out = String::from(
        "| id | measure | result | baseline ratio | goal | status |\n|---|---|---|---|---|---|\n",
    );
    let mut row =
        |id: &str, what: &str, result: String, ratio: String, goal: &str, ok: Option<bool>| {
            let _ = writeln!(
                out,
                "| {id} | {what} | {result} | {ratio} | {goal} | {} |",
                verdict(ok)
            );
        };
    let fmt_m = |m: Option<&Measure>| {
        m.map_or("—".into(), |m| {
            format!(
                "{:.0} op/s, p50 {:.2} ms, p99 {:.2} ms, p99.9 {:.2} ms",
                m.throughput, m.p50_ms, m.p99_ms, m.p999_ms
            )
        })
    };
    for (id, name) in [
        ("B1", "raw INSERT"),
        ("B2", "raw PK SELECT"),
        ("B3", "HTTP constant"),
    ] {
        let m = find(r, id, "");
        row(
            id,
            m.map_or(name, |m| m.name.as_str()),
            fmt_m(m),
            "1.00 (baseline)".into(),
            "",
            None,
        );
    }
    let p1 = find(r, "P1", "");
    let p1r = ratio(p1, raw_insert);
    row(
        "P1",
        "event store append, 1 event/txn, 16 writers",
        fmt_m(p1),
        p1r.map_or("—".into(), |x| format!("{x:.2}× raw INSERT")),
        "≥ 0.9× raw INSERT",
        p1r.map(|x| x >= 0.9),
    );
    let p2 = find(r, "P2", "");
    let p2r = ratio(p2, raw_insert);
    row(
        "P2",
        "HTTP POST /cart/items, 32 clients",
        fmt_m(p2),
        p2r.map_or("—".into(), |x| format!("{x:.2}× raw INSERT")),
        "≥ 0.7× raw INSERT",
        p2r.map(|x| x >= 0.7),
    );
    for part in ["/products/{id}", "/products?category="] {
        let m = find(r, "P3", part);
        let x = ratio(m, raw_select);
        row(
            "P3",
            &format!("HTTP GET {part}, 32 clients"),
            fmt_m(m),
            x.map_or("—".into(), |x| format!("{x:.2}× raw PK SELECT")),
            "≥ 0.8× raw PK SELECT",
            x.map(|x| x >= 0.8),
        );
    }
    let p4 = find(r, "P4", "");
    let conflict_rate = p4.map(|m| m.conflicts as f64 / m.operations.max(1) as f64);
    row(
        "P4",
        "checkout of 3 lines, 32 clients, hot products",
        fmt_m(p4),
        conflict_rate.map_or("—".into(), |c| {
            format!("{:.2}% 409 from conflicts", c * 100.0)
        }),
        "report; ≤ 1% conflict 409",
        conflict_rate.map(|c| c <= 0.01),
    );
    let (l50, l99) = (value(r, "P5 lag p50 (ms)"), value(r, "P5 lag p99 (ms)"));
    row(
        "P5",
        "projection lag, command ack → read model, half load",
        format!(
            "p50 {:.2} ms, p99 {:.2} ms",
            l50.unwrap_or(f64::NAN),
            l99.unwrap_or(f64::NAN)
        ),
        "—".into(),
        "p99 < 10 ms",
        l99.map(|x| x < 10.0),
    );
    let p6 = value(r, "P6 rebuild (events/s)");
    row(
        "P6",
        &format!(
            "rebuild of all projections, {:.0}-event log",
            value(r, "log size (events)").unwrap_or(0.0)
        ),
        p6.map_or("—".into(), |x| format!("{x:.0} events/s")),
        "—".into(),
        "≥ 100,000 events/s",
        p6.map(|x| x >= 100_000.0),
    );
    for (part, before_id) in [
        ("/products/{id}", "P3"),
        ("/products?category=", "P3"),
        ("/cart/items", "P2"),
    ] {
        let before = find(r, before_id, part).or_else(|| find(r, before_id, ""));
        let after = find(r, "P7", part);
        let change = match (before, after) {
            (Some(b), Some(a)) if b.p50_ms > 0.0 => Some(a.p50_ms / b.p50_ms - 1.0),
            _ => None,
        };
        row(
            "P7",
            &format!("{part} p50 latency, big log vs small"),
            fmt_m(after),
            change.map_or("—".into(), |c| format!("{:+.1}% p50", c * 100.0)),
            "within 10%",
            change.map(|c| c.abs() <= 0.10),
        );
    }
    let (idle, busy) = (
        value(r, "P8 RSS idle (MiB)"),
        value(r, "P8 RSS under P2 (MiB)"),
    );
    row(
        "P8",
        "server RSS idle / under P2 load",
        format!(
            "{:.1} MiB / {:.1} MiB",
            idle.unwrap_or(f64::NAN),
            busy.unwrap_or(f64::NAN)
        ),
        "—".into(),
        "< 64 MiB / < 256 MiB",
        idle.zip(busy).map(|(i, b)| i < 64.0 && b < 256.0),
    );
    let p9 = value(r, "P9 export (events/s)");
    let growth = value(r, "P9 RSS growth during export (MiB)");
    row(
        "P9",
        "export of the log as NDJSON",
        format!(
            "{:.0} events/s, RSS +{:.1} MiB",
            p9.unwrap_or(f64::NAN),
            growth.unwrap_or(f64::NAN)
        ),
        "—".into(),
        "≥ 200,000 events/s, constant memory",
        p9.map(|x| x >= 200_000.0),
    );
    let (lag50, lag_max) = (
        value(r, "P10 seal lag p50 (ms)"),
        value(r, "P10 seal lag max (ms)"),
    );
    row(
        "P10",
        "sealer lag behind the P1 writers (oldest event of a head → its signature)",
        format!(
            "p50 {:.0} ms, max {:.0} ms",
            lag50.unwrap_or(f64::NAN),
            lag_max.unwrap_or(f64::NAN)
        ),
        "—".into(),
        "< 1 s beyond the 1 s interval (max < 2,000 ms)",
        lag_max.map(|x| x < 2_000.0),
    );
    let p11 = value(r, "P11 seal the grown log (events/s)");
    row(
        "P11",
        "sealing the grown log from scratch",
        format!("{:.0} events/s", p11.unwrap_or(f64::NAN)),
        "—".into(),
        "",
        None,
    );
    for id in ["P12", "P13"] {
        let m = find(r, id, "");
        row(
            id,
            m.map_or(id, |m| m.name.as_str()),
            fmt_m(m),
            "—".into(),
            "p99 < 10 ms",
            m.map(|m| m.p99_ms < 10.0),
        );
    }
    out
}

fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let mem = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines().next().map(|l| {
                l.split_whitespace()
                    .nth(1)
                    .unwrap_or("0")
                    .parse::<u64>()
                    .unwrap_or(0)
            })
        })
        .unwrap_or(0);
    let pg = std::process::Command::new("psql")
        .arg("--version")
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default();
    format!(
        "{cpu}, {cores} cores, {:.1} GiB RAM, {pg}",
        mem as f64 / 1024.0 / 1024.0
    )
}

fn commit() -> String {
    std::process::Command::new("git")
        .args(["rev-parse", "--short", "HEAD"])
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default()
}

pub fn write(r: &Results, table: &str) -> std::io::Result<()> {
    let date = chrono::Utc::now().format("%Y-%m-%d %H:%M UTC");
    let f = &r.flags;
    let md = format!(
        "# Benchmarks\n\nRun `cargo bench --bench load` (flags: `--duration S` per measure, `--events N` log size for P6, P7 and P9, \
         `--products N`, `--customers N`, `--only store,http,log,big` for some sections, `--smoke` for a seconds-long run; partial and \
         smoke runs write nothing). Every figure is measured in the same run \
         as its baseline, on the same machine and the same Postgres; the server is the release `tillroll` binary as a child process, \
         the load generator and the baselines run in the harness process, so all three share the 2 cores. P7 compares the log grown \
         to `--events` with the small log of the HTTP measures (the fixture and the load so far: a few thousand events for P3, tens of thousands by P2); `--events 10000000` gives the issue's \
         10,000,000 (a longer run).\n\n\
         - date: {date}\n- commit: {}\n- machine: {}\n- flags: {:.1} s per measure, log of {} events, {} products, {} customers\n\n{table}\n\
         Baselines: B1 = raw sqlx single-row INSERT of an event-shaped row (autocommit) into a plain table (3 indexes; the event \
         store's table has 8 and the append computes the hash chain); B2 = raw sqlx primary-key \
         SELECT of a product row; B3 = an axum handler returning a constant, over the same HTTP client. Raw numbers: BENCHMARKS.json.\n",
        commit(),
        machine(),
        f.duration.as_secs_f64(),
        f.events,
        f.products,
        f.customers
    );
    std::fs::write("BENCHMARKS.md", md)?;
    let json = serde_json::json!({
        "date": date.to_string(), "commit": commit(), "machine": machine(),
        "measures": r.measures, "values": r.values,
    });
    std::fs::write("BENCHMARKS.json", serde_json::to_string_pretty(&json)?)
}
