//! The server under test (the real `tillroll` binary as a child process) and the HTTP
//! measures against it.

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde_json::json;

use crate::Flags;
use crate::data::{ADMIN_EMAIL, ADMIN_PASSWORD, BenchDb, Fixture};
use crate::measure::{self, Measure, Outcome};

pub struct Server {
    child: Child,
    base: String,
    pub client: reqwest::Client,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .pool_max_idle_per_host(64)
        .build()
        .expect("HTTP client")
}

impl Server {
    pub async fn start(db: &BenchDb) -> Self {
        let port = free_port();
        let child = Command::new(env!("CARGO_BIN_EXE_tillroll"))
            .arg("serve")
            .env("DATABASE_URL", &db.url)
            .env("TILLROLL_LISTEN", format!("127.0.0.1:{port}"))
            .env("TILLROLL_ADMIN_EMAIL", ADMIN_EMAIL)
            .env("TILLROLL_ADMIN_PASSWORD", ADMIN_PASSWORD)
            .env("TILLROLL_RESERVATION_TTL", "1h")
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .spawn()
            .expect("the tillroll binary starts");
        let server = Self {
            child,
            base: format!("http://127.0.0.1:{port}"),
            client: client(),
        };
        server.wait_ready(Duration::from_secs(60)).await;
        server
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub async fn wait_ready(&self, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        loop {
            if let Ok(r) = self.client.get(self.url("/ready")).send().await
                && r.status().is_success()
            {
                return;
            }
            assert!(Instant::now() < deadline, "the server did not become ready");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub fn rss_mib(&self) -> f64 {
        std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .ok()
            .and_then(|s| {
                s.lines()
                    .find(|l| l.starts_with("VmRSS:"))
                    .and_then(|l| l.split_whitespace().nth(1).map(str::to_owned))
            })
            .and_then(|kb| kb.parse::<f64>().ok())
            .map_or(0.0, |kb| kb / 1024.0)
    }

    pub fn stop(&mut self) {
        if matches!(self.child.try_wait(), Ok(Some(_))) {
            return;
        }
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
    }
}

fn outcome(status: reqwest::StatusCode) -> Outcome {
    if status.is_success() {
        Outcome::Ok
    } else if status == reqwest::StatusCode::CONFLICT {
        Outcome::Conflict
    } else {
        Outcome::Error
    }
}

/// B3: the HTTP ceiling — an axum handler that returns a constant, same client.
pub async fn http_ceiling(flags: &Flags, concurrency: usize) -> Measure {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let app = axum::Router::new().route("/", axum::routing::get(|| async { "ok" }));
    let server = tokio::spawn(async move { axum::serve(listener, app).await });
    let client = client();
    let url = format!("http://{addr}/");
    let m = measure::run(
        "B3",
        "axum handler returning a constant",
        concurrency,
        flags.duration,
        move |_, _| {
            let request = client.get(&url);
            async move {
                match request.send().await {
                    Ok(r) => outcome(r.status()),
                    Err(_) => Outcome::Error,
                }
            }
        },
    )
    .await;
    server.abort();
    m
}

/// P3 (or P7): product by id and products by category.
pub async fn reads(
    srv: &Server,
    fixture: &Fixture,
    flags: &Flags,
    concurrency: usize,
    id: &str,
) -> Vec<Measure> {
    let ids = fixture.product_ids.clone();
    let client = srv.client.clone();
    let base = srv.url("");
    let by_id = measure::run(
        id,
        "HTTP GET /products/{id}",
        concurrency,
        flags.duration,
        move |w, i| {
            let url = format!(
                "{base}/products/{}",
                ids[(w * 7919 + i as usize) % ids.len()]
            );
            let request = client.get(url);
            async move {
                match request.send().await {
                    Ok(r) => {
                        let status = r.status();
                        let _ = r.bytes().await;
                        outcome(status)
                    }
                    Err(_) => Outcome::Error,
                }
            }
        },
    )
    .await;
    let categories = Arc::new(fixture.categories.clone());
    let client = srv.client.clone();
    let base = srv.url("");
    let by_category = measure::run(
        id,
        "HTTP GET /products?category=",
        concurrency,
        flags.duration,
        move |w, i| {
            let url = format!(
                "{base}/products?category={}",
                categories[(w + i as usize) % categories.len()]
            );
            let request = client.get(url);
            async move {
                match request.send().await {
                    Ok(r) => {
                        let status = r.status();
                        let _ = r.bytes().await;
                        outcome(status)
                    }
                    Err(_) => Outcome::Error,
                }
            }
        },
    )
    .await;
    vec![by_id, by_category]
}

/// P2 (or P7): add to cart; also samples the server's RSS under load (P8).
pub async fn add_to_cart(
    srv: &Server,
    fixture: &Fixture,
    flags: &Flags,
    concurrency: usize,
    id: &str,
) -> (Measure, f64) {
    let peak = Arc::new(AtomicU64::new(0));
    let sampler = {
        let peak = peak.clone();
        let pid = srv.child.id();
        tokio::spawn(async move {
            loop {
                let rss = std::fs::read_to_string(format!("/proc/{pid}/status"))
                    .ok()
                    .and_then(|s| {
                        s.lines().find(|l| l.starts_with("VmRSS:")).and_then(|l| {
                            l.split_whitespace()
                                .nth(1)
                                .and_then(|v| v.parse::<u64>().ok())
                        })
                    })
                    .unwrap_or(0);
                peak.fetch_max(rss, Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        })
    };
    let tokens = Arc::new(fixture.customers.clone());
    let ids = fixture.product_ids.clone();
    let client = srv.client.clone();
    let url = srv.url("/cart/items");
    let m = measure::run(
        id,
        "HTTP POST /cart/items",
        concurrency,
        flags.duration,
        move |w, i| {
            let token = &tokens[w % tokens.len()];
            // Each customer adds to a handful of lines, one unit at a time.
            let product = ids[(w * 31 + (i as usize % 8)) % ids.len()];
            let request = client
                .post(&url)
                .bearer_auth(token)
                .json(&json!({"product_id": product, "quantity": 1}));
            async move {
                match request.send().await {
                    Ok(r) => outcome(r.status()),
                    Err(_) => Outcome::Error,
                }
            }
        },
    )
    .await;
    sampler.abort();
    (m, peak.load(Ordering::Relaxed) as f64 / 1024.0)
}

/// P4: checkout of 3 lines over the hot products, one order per call.
pub async fn checkout(
    srv: &Server,
    fixture: &Fixture,
    flags: &Flags,
    concurrency: usize,
) -> Measure {
    let tokens = Arc::new(fixture.customers.clone());
    let ids = fixture.product_ids.clone();
    let client = srv.client.clone();
    let url = srv.url("/orders");
    measure::run("P4", "HTTP POST /orders (3 lines, reservations)", concurrency, flags.duration, move |w, i| {
        let token = &tokens[w % tokens.len()];
        let n = ids.len();
        let pick = |k: usize| ids[(w * 7919 + i as usize * 13 + k * 101) % n];
        let body = json!({
            "items": [{"product_id": pick(0), "quantity": 1}, {"product_id": pick(1), "quantity": 1}, {"product_id": pick(2), "quantity": 1}],
            "phone": "0712345678",
        });
        let request = client.post(&url).bearer_auth(token).json(&body);
        async move {
            match request.send().await {
                Ok(r) => outcome(r.status()),
                Err(_) => Outcome::Error,
            }
        }
    })
    .await
}

/// P5: with half the clients adding to carts, how long after a command's answer its effect
/// is visible in the read model: a GET /cart with X-Min-Position minus a plain GET /cart.
/// The background load is open-loop: `load` workers together send `rate` requests per second
/// (half of P2's measured maximum), so the system is half loaded rather than saturated.
pub async fn projection_lag(
    srv: &Server,
    fixture: &Fixture,
    flags: &Flags,
    load: usize,
    rate: f64,
) -> ((f64, f64), Vec<Measure>) {
    let interval = Duration::from_secs_f64(load as f64 / rate.max(1.0));
    let background = {
        let tokens = Arc::new(fixture.customers.clone());
        let ids = fixture.product_ids.clone();
        let client = srv.client.clone();
        let url = srv.url("/cart/items");
        let flags = flags.clone();
        tokio::spawn(async move {
            measure::run(
                "P5",
                "background load",
                load,
                flags.duration,
                move |w, i| {
                    let token = &tokens[(w + 1) % tokens.len()];
                    let product = ids[(w * 31 + (i as usize % 8)) % ids.len()];
                    let request = client
                        .post(&url)
                        .bearer_auth(token)
                        .json(&json!({"product_id": product, "quantity": 1}));
                    async move {
                        let started = Instant::now();
                        let answer = request
                            .send()
                            .await
                            .map_or(Outcome::Error, |r| outcome(r.status()));
                        tokio::time::sleep(interval.saturating_sub(started.elapsed())).await;
                        answer
                    }
                },
            )
            .await
        })
    };
    let token = &fixture.customers[0];
    let mut lags = Vec::new();
    let deadline = Instant::now() + flags.duration;
    let mut i = 0usize;
    let (mut probes, mut failed) = (0u64, 0u64);
    let succeeded = |reply: &Result<reqwest::Response, reqwest::Error>| {
        reply.as_ref().is_ok_and(|r| r.status().is_success())
    };
    while Instant::now() < deadline {
        let product = fixture.product_ids[i % fixture.product_ids.len()];
        i += 1;
        probes += 1;
        let reply = srv
            .client
            .post(srv.url("/cart/items"))
            .bearer_auth(token)
            .json(&json!({"product_id": product, "quantity": 1}))
            .send()
            .await;
        let position = reply.as_ref().ok().filter(|r| r.status().is_success());
        let Some(position) = position.and_then(|r| {
            r.headers()
                .get("x-log-position")
                .and_then(|v| v.to_str().ok().map(str::to_owned))
        }) else {
            failed += 1;
            continue;
        };
        let t = Instant::now();
        let waited_reply = srv
            .client
            .get(srv.url("/cart"))
            .bearer_auth(token)
            .header("X-Min-Position", &position)
            .send()
            .await;
        let waited = t.elapsed();
        let t = Instant::now();
        let plain_reply = srv
            .client
            .get(srv.url("/cart"))
            .bearer_auth(token)
            .send()
            .await;
        let plain = t.elapsed();
        if !succeeded(&waited_reply) || !succeeded(&plain_reply) {
            failed += 1;
            continue;
        }
        lags.push(waited.saturating_sub(plain).as_secs_f64() * 1000.0);
    }
    let background = background.await.expect("the background load runs");
    // The probes themselves, as a measure a smoke run checks (their latencies are the lags).
    let probes = Measure {
        id: "P5".into(),
        name: "lag probes".into(),
        concurrency: 1,
        operations: probes,
        errors: failed,
        conflicts: 0,
        seconds: flags.duration.as_secs_f64(),
        throughput: probes as f64 / flags.duration.as_secs_f64(),
        p50_ms: 0.0,
        p99_ms: 0.0,
        p999_ms: 0.0,
    };
    lags.sort_by(f64::total_cmp);
    let pick = |p: f64| {
        lags.get(((lags.len() as f64 - 1.0) * p).round() as usize)
            .copied()
            .unwrap_or(f64::NAN)
    };
    ((pick(0.5), pick(0.99)), vec![background, probes])
}
