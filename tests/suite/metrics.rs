//! `/metrics` as each kind of scraper reads it: Prometheus text 0.0.4 by default, OpenMetrics
//! when asked for; in each, every sample belongs to a family typed under the name its format
//! wants, and the families an operator needs are there.

use std::collections::HashMap;

use crate::money::{PHONE, checkout_one, customer, product};
use crate::support::TestApp;

/// `name → type` of every `# TYPE` line, and the name of every sample.
fn parse(text: &str) -> (HashMap<String, String>, Vec<String>) {
    let mut types = HashMap::new();
    let mut samples = Vec::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').expect("# TYPE name type");
            assert!(
                types.insert(name.to_owned(), kind.to_owned()).is_none(),
                "{name} typed twice"
            );
        } else if !line.starts_with('#') && !line.is_empty() {
            let name = line.split(['{', ' ']).next().unwrap();
            samples.push(name.to_owned());
        }
    }
    (types, samples)
}

async fn scrape(app: &TestApp, accept: Option<&str>) -> (String, String) {
    let mut request = app.client.get(app.url("/metrics"));
    if let Some(accept) = accept {
        request = request.header("accept", accept);
    }
    let response = request.send().await.unwrap();
    assert_eq!(response.status(), 200);
    let content_type = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_owned();
    (content_type, response.text().await.unwrap())
}

#[tokio::test]
async fn metrics_parse_as_prometheus_0_0_4_and_as_openmetrics() {
    let app = TestApp::spawn().await;
    let (_, token) = customer(&app);
    let id = product(&app, "Radio", 5_000, 3).await;
    checkout_one(&app, &token, id, PHONE).await;

    let (content_type, text) = scrape(&app, None).await;
    assert_eq!(content_type, "text/plain; version=0.0.4; charset=utf-8");
    assert!(!text.contains("# EOF"));
    let (types, samples) = parse(&text);
    for sample in &samples {
        let family = ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|s| {
                let base = sample.strip_suffix(s)?;
                (types.get(base).map(String::as_str) == Some("histogram")).then_some(base)
            })
            .unwrap_or(sample);
        assert!(
            types.contains_key(family),
            "0.0.4: {sample} has no # TYPE {family}"
        );
    }
    for (name, kind) in &types {
        if kind == "counter" {
            assert!(name.ends_with("_total"), "0.0.4 counter typed as {name}");
        }
    }
    for family in [
        "tillroll_http_request_duration_seconds",
        "tillroll_append_duration_seconds",
        "tillroll_appends_total",
        "tillroll_appended_events_total",
        "tillroll_payment_outcomes_total",
        "tillroll_db_pool_connections",
        "tillroll_db_pool_max_connections",
        "tillroll_sse_streams",
        "tillroll_projection_lag_events",
        "process_cpu_seconds_total",
        "process_resident_memory_bytes",
        "process_open_fds",
        "process_start_time_seconds",
    ] {
        assert!(types.contains_key(family), "no {family} in\n{text}");
    }
    assert!(samples.iter().any(|s| s == "tillroll_appends_total"));

    let accept = "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5";
    let (content_type, text) = scrape(&app, Some(accept)).await;
    assert!(content_type.starts_with("application/openmetrics-text; version=1.0.0"));
    assert!(text.ends_with("# EOF\n"), "{text}");
    let (types, samples) = parse(&text);
    for (name, kind) in &types {
        if kind == "counter" {
            assert!(
                !name.ends_with("_total"),
                "OpenMetrics counter family {name}"
            );
        }
    }
    for sample in &samples {
        let known = types.contains_key(sample.as_str())
            || ["_total", "_created", "_bucket", "_sum", "_count"]
                .iter()
                .any(|s| {
                    sample
                        .strip_suffix(s)
                        .is_some_and(|b| types.contains_key(b))
                });
        assert!(known, "OpenMetrics: {sample} belongs to no family");
    }
    app.stop().await;
}
