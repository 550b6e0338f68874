//! Prometheus metrics: request latency, append latency, projection lag, payment outcomes and
//! the age of the oldest open transaction (which holds every log reader back).

use std::sync::Mutex;

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

pub struct Metrics {
    registry: Mutex<Registry>,
    pub requests: Family<RouteLabels, Histogram>,
    pub projection_lag: Family<NameLabel, Gauge>,
    pub payments: Family<NameLabel, Counter>,
    pub oldest_transaction_seconds: Gauge,
    pub unsequenced_seconds: Gauge,
    pub leases_held: Gauge,
    pub log_head: Gauge,
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
        let projection_lag = Family::<NameLabel, Gauge>::default();
        registry.register(
            "projection_lag_events",
            "Events in the log not yet applied by each projector",
            projection_lag.clone(),
        );
        let payments = Family::<NameLabel, Counter>::default();
        registry.register(
            "payment_outcomes",
            "Payment attempts by outcome",
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
            events_published,
            publisher_lag,
        }
    }
}

impl Metrics {
    pub fn payment(&self, outcome: &str) {
        self.payments
            .get_or_create(&NameLabel {
                name: outcome.to_owned(),
            })
            .inc();
    }

    pub fn encode(&self) -> String {
        let mut out = String::new();
        let registry = self.registry.lock().expect("metrics registry");
        prometheus_client::encoding::text::encode(&mut out, &registry)
            .expect("writing to a String cannot fail");
        out
    }
}
