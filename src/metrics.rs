//! Prometheus metrics: request latency, appends (count, latency), projection lag, payment
//! outcomes, the request pool, open SSE streams, the process, and the age of the oldest open
//! transaction (which holds every log reader back).
//!
//! Written as OpenMetrics 1.0 for a scraper that asks for it (`Accept:
//! application/openmetrics-text`), else as Prometheus text 0.0.4, where a counter's `# TYPE`
//! line names its `_total` samples and there is no `# EOF`: each parses under the content type
//! it is served with.

use std::sync::{LazyLock, Mutex};
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabels {
    pub method: String,
    pub route: String,
    pub status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct NameLabel {
    pub name: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabel {
    pub outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StateLabel {
    pub state: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StreamLabel {
    pub stream: String,
}

/// What the process counts wherever it happens (the store, the SSE routes): shared by every
/// server in the process and registered in each one's registry.
struct ProcessWide {
    append_seconds: Histogram,
    append_batch: Histogram,
    appended_events: Counter,
    appends: Counter,
    sse_streams: Family<StreamLabel, Gauge>,
}

static PROCESS_WIDE: LazyLock<ProcessWide> = LazyLock::new(|| ProcessWide {
    append_seconds: latency_histogram(),
    append_batch: Histogram::new(exponential_buckets(1.0, 2.0, 10)),
    appended_events: Counter::default(),
    appends: Counter::default(),
    sse_streams: Family::default(),
});

/// A committed append of `events` events that took `took` (decision confirmed, rows written,
/// committed).
pub fn appended(took: Duration, events: usize) {
    PROCESS_WIDE.append_seconds.observe(took.as_secs_f64());
    PROCESS_WIDE.appends.inc();
    PROCESS_WIDE.appended_events.inc_by(events as u64);
}

/// A group commit of `appends` appends in one statement (1: it came alone).
pub fn append_batch(appends: usize) {
    PROCESS_WIDE.append_batch.observe(appends as f64);
}

/// Counts an open SSE stream of `stream` (`orders` or `live`) while it lives.
pub struct SseStream(String);

impl SseStream {
    pub fn open(stream: &str) -> Self {
        PROCESS_WIDE
            .sse_streams
            .get_or_create(&StreamLabel {
                stream: stream.to_owned(),
            })
            .inc();
        Self(stream.to_owned())
    }
}

impl Drop for SseStream {
    fn drop(&mut self) {
        PROCESS_WIDE
            .sse_streams
            .get_or_create(&StreamLabel {
                stream: std::mem::take(&mut self.0),
            })
            .dec();
    }
}

pub struct Metrics {
    registry: Mutex<Registry>,
    pub requests: Family<RouteLabels, Histogram>,
    pub projection_lag: Family<NameLabel, Gauge>,
    pub payments: Family<OutcomeLabel, Counter>,
    pub oldest_transaction_seconds: Gauge,
    pub unsequenced_seconds: Gauge,
    pub leases_held: Gauge,
    pub log_head: Gauge,
    pub pool_connections: Family<StateLabel, Gauge>,
    pub pool_max: Gauge,
    pub events_published: Counter,
    pub publisher_lag: Gauge,
}

fn latency_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.0005, 2.0, 16))
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("tillroll");
        let requests = Family::<RouteLabels, Histogram>::new_with_constructor(latency_histogram);
        registry.register(
            "http_request_duration_seconds",
            "HTTP request latency by route and status",
            requests.clone(),
        );
        let process = &*PROCESS_WIDE;
        registry.register(
            "append_duration_seconds",
            "Latency of a command's append, from its statement to its commit",
            process.append_seconds.clone(),
        );
        registry.register(
            "append_batch_size",
            "Appends committed together by one group commit (one statement, one commit)",
            process.append_batch.clone(),
        );
        registry.register(
            "appends",
            "Committed appends (one per command that changed something)",
            process.appends.clone(),
        );
        registry.register(
            "appended_events",
            "Events committed by those appends",
            process.appended_events.clone(),
        );
        registry.register(
            "sse_streams",
            "Open Server-Sent Events streams by route (orders, live)",
            process.sse_streams.clone(),
        );
        let projection_lag = Family::<NameLabel, Gauge>::default();
        registry.register(
            "projection_lag_events",
            "Events in the log not yet applied by each projector",
            projection_lag.clone(),
        );
        let payments = Family::<OutcomeLabel, Counter>::default();
        registry.register(
            "payment_outcomes",
            "Payment events by outcome: push_accepted, push_rejected, push_unavailable, \
             callback_received, succeeded, failed",
            payments.clone(),
        );
        let oldest_transaction_seconds = Gauge::default();
        registry.register(
            "oldest_transaction_age_seconds",
            "Age of the oldest open transaction on the cluster (delays only its own events)",
            oldest_transaction_seconds.clone(),
        );
        let unsequenced_seconds = Gauge::default();
        registry.register(
            "unsequenced_age_seconds",
            "How long the oldest committed event has waited for its log index",
            unsequenced_seconds.clone(),
        );
        let leases_held = Gauge::default();
        registry.register(
            "leases_held",
            "Worker leases (projectors, reactors, checkpoints) this node holds",
            leases_held.clone(),
        );
        let log_head = Gauge::default();
        registry.register(
            "log_head_position",
            "Log index of the last sequenced event",
            log_head.clone(),
        );
        let pool_connections = Family::<StateLabel, Gauge>::default();
        registry.register(
            "db_pool_connections",
            "Request pool connections by state (idle, in_use)",
            pool_connections.clone(),
        );
        // Every outcome and stream from the start, at 0, so rates and alerts see the series.
        for outcome in [
            "push_accepted",
            "push_rejected",
            "push_unavailable",
            "callback_received",
            "succeeded",
            "failed",
        ] {
            let _ = payments.get_or_create(&OutcomeLabel {
                outcome: outcome.to_owned(),
            });
        }
        for stream in ["orders", "live"] {
            let _ = process.sse_streams.get_or_create(&StreamLabel {
                stream: stream.to_owned(),
            });
        }
        let pool_max = Gauge::default();
        registry.register(
            "db_pool_max_connections",
            "The request pool's size (TILLROLL_DB_POOL_SIZE)",
            pool_max.clone(),
        );
        let events_published = Counter::default();
        registry.register(
            "events_published",
            "Events published to NATS JetStream and acknowledged by it",
            events_published.clone(),
        );
        let publisher_lag = Gauge::default();
        registry.register(
            "publisher_lag_events",
            "Events of the log not yet acknowledged by NATS JetStream (this node's publisher)",
            publisher_lag.clone(),
        );
        Self {
            registry: Mutex::new(registry),
            requests,
            projection_lag,
            payments,
            oldest_transaction_seconds,
            unsequenced_seconds,
            leases_held,
            log_head,
            pool_connections,
            pool_max,
            events_published,
            publisher_lag,
        }
    }
}

/// The formats `/metrics` speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    OpenMetrics,
    Prometheus004,
}

impl Format {
    /// OpenMetrics when the scraper accepts it, else Prometheus text 0.0.4.
    pub fn negotiate(accept: Option<&str>) -> Self {
        match accept {
            Some(accept) if accept.contains("application/openmetrics-text") => Self::OpenMetrics,
            _ => Self::Prometheus004,
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            Self::OpenMetrics => "application/openmetrics-text; version=1.0.0; charset=utf-8",
            Self::Prometheus004 => "text/plain; version=0.0.4; charset=utf-8",
        }
    }
}

impl Metrics {
    pub fn payment(&self, outcome: &str) {
        self.payments
            .get_or_create(&OutcomeLabel {
                outcome: outcome.to_owned(),
            })
            .inc();
    }

    pub fn encode(&self, format: Format) -> String {
        let mut out = String::new();
        {
            let registry = self.registry.lock().expect("metrics registry");
            prometheus_client::encoding::text::encode_registry(&mut out, &registry)
                .expect("writing to a String cannot fail");
        }
        out.push_str(&process_metrics());
        match format {
            Format::OpenMetrics => {
                out.push_str("# EOF\n");
                out
            }
            Format::Prometheus004 => to_prometheus_004(&out),
        }
    }
}

/// OpenMetrics text without its `# EOF` into 0.0.4: a counter family `x` is typed and
/// described under its sample name `x_total`; `# UNIT` lines (unknown to 0.0.4) go.
fn to_prometheus_004(open_metrics: &str) -> String {
    let counters: std::collections::HashSet<&str> = open_metrics
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|rest| rest.strip_suffix(" counter"))
        .collect();
    let mut out = String::with_capacity(open_metrics.len() + 64);
    for line in open_metrics.lines() {
        if line.starts_with("# UNIT ") || line == "# EOF" {
            continue;
        }
        let renamed = ["# TYPE ", "# HELP "].iter().find_map(|prefix| {
            let rest = line.strip_prefix(prefix)?;
            let (name, tail) = rest.split_once(' ')?;
            counters
                .contains(name)
                .then(|| format!("{prefix}{name}_total {tail}"))
        });
        match renamed {
            Some(line) => out.push_str(&line),
            None => out.push_str(line),
        }
        out.push('\n');
    }
    out
}

/// The standard `process_*` families, from `/proc/self` (Linux; nothing elsewhere), in
/// OpenMetrics form.
fn process_metrics() -> String {
    let mut out = String::new();
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return out;
    };
    // Fields after the command name, which is in parentheses and may hold spaces.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    let field = |n: usize| fields.get(n - 3).and_then(|v| v.parse::<f64>().ok());
    // Clock ticks per second: 100 on every Linux this runs on (USER_HZ).
    const TICKS: f64 = 100.0;
    let mut family = |name: &str, kind: &str, help: &str, value: Option<f64>| {
        if let Some(value) = value {
            let sample = if kind == "counter" {
                format!("{name}_total")
            } else {
                name.to_owned()
            };
            out.push_str(&format!(
                "# HELP {name} {help}\n# TYPE {name} {kind}\n{sample} {value}\n"
            ));
        }
    };
    let cpu = field(14).zip(field(15)).map(|(u, s)| (u + s) / TICKS);
    family(
        "process_cpu_seconds",
        "counter",
        "Total user and system CPU time spent in seconds.",
        cpu,
    );
    let page = 4096.0;
    family(
        "process_resident_memory_bytes",
        "gauge",
        "Resident memory size in bytes.",
        field(24).map(|pages| pages * page),
    );
    family(
        "process_virtual_memory_bytes",
        "gauge",
        "Virtual memory size in bytes.",
        field(23),
    );
    family(
        "process_threads",
        "gauge",
        "Number of OS threads in the process.",
        field(20),
    );
    let fds = std::fs::read_dir("/proc/self/fd")
        .ok()
        .map(|d| d.count() as f64);
    family(
        "process_open_fds",
        "gauge",
        "Number of open file descriptors.",
        fds,
    );
    let boot = std::fs::read_to_string("/proc/stat").ok().and_then(|s| {
        s.lines()
            .find_map(|l| l.strip_prefix("btime "))
            .and_then(|v| v.trim().parse::<f64>().ok())
    });
    let start = boot
        .zip(field(22))
        .map(|(boot, ticks)| boot + ticks / TICKS);
    family(
        "process_start_time_seconds",
        "gauge",
        "Start time of the process since unix epoch in seconds.",
        start,
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_are_typed_by_their_sample_name_in_0_0_4() {
        let metrics = Metrics::default();
        metrics.payment("succeeded");
        let om = metrics.encode(Format::OpenMetrics);
        assert!(
            om.contains("# TYPE tillroll_payment_outcomes counter\n"),
            "{om}"
        );
        assert!(om.contains("tillroll_payment_outcomes_total{outcome=\"succeeded\"} 1"));
        assert!(om.ends_with("# EOF\n"));
        let text = metrics.encode(Format::Prometheus004);
        assert!(
            text.contains("# TYPE tillroll_payment_outcomes_total counter\n"),
            "{text}"
        );
        assert!(
            text.contains("# HELP tillroll_payment_outcomes_total "),
            "{text}"
        );
        assert!(!text.contains("# EOF"));
        assert!(
            text.contains("# TYPE process_cpu_seconds_total counter\nprocess_cpu_seconds_total ")
        );
        assert!(text.contains("process_resident_memory_bytes "));
    }
}
