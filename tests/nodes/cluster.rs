//! A cluster of `tillroll serve` child processes on one database, paying through one fake
//! Daraja, with the faults a real deployment sees: kill -9, SIGSTOP, a terminated session.

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use chrono::Utc;
use reqwest::Method;
use serde_json::{Value, json};
use sqlx::PgPool;
use tillroll::auth::Role;
use tillroll::auth::jwt::JwtKeys;
use tillroll::payments::fake::{FakeConfig, FakeDaraja, FakeMode};
use uuid::Uuid;

/// The lease time of the nodes under test (the default is 5 s): takeovers are bounded by it.
pub const LEASE_TTL: Duration = Duration::from_secs(2);
/// A phone the fake lets pay.
pub const PHONE: &str = "0712345678";
pub const WAIT: Duration = Duration::from_secs(40);

pub struct Node {
    child: Child,
    pub base: String,
    pub pid: u32,
    log: PathBuf,
}

pub struct Cluster {
    pub database_url: String,
    pub pool: PgPool,
    pub fake: FakeDaraja,
    pub nodes: Vec<Node>,
    pub client: reqwest::Client,
    jwt: Option<JwtKeys>,
    logs: PathBuf,
    extra_env: Vec<(String, String)>,
    /// The nodes pay through their built-in simulator, not the fake (no Daraja variables).
    simulated: bool,
}

/// A response: status and JSON body (Null when none), or `None` when the node did not answer.
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    pub body: Value,
    pub position: Option<i64>,
    pub retry_after: bool,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

pub fn signal(pid: u32, signal: &str) {
    let status = Command::new("kill")
        .args([format!("-{signal}"), pid.to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success(), "kill -{signal} {pid}");
}

impl Cluster {
    /// `n` nodes on the database at `database_url` (migrated by the nodes themselves, all
    /// starting at once), paying through a fresh fake Daraja in `mode`.
    pub async fn start(database_url: String, pool: PgPool, n: usize, mode: FakeMode) -> Self {
        Self::start_with(database_url, pool, n, mode, Vec::new()).await
    }

    /// `n` nodes paying through their built-in simulator (its state in the database).
    pub async fn start_simulated(
        database_url: String,
        pool: PgPool,
        n: usize,
        extra_env: Vec<(String, String)>,
    ) -> Self {
        let mode = FakeMode::NoCallback;
        Self::start_inner(database_url, pool, n, mode, extra_env, true).await
    }

    pub async fn start_with(
        database_url: String,
        pool: PgPool,
        n: usize,
        mode: FakeMode,
        extra_env: Vec<(String, String)>,
    ) -> Self {
        Self::start_inner(database_url, pool, n, mode, extra_env, false).await
    }

    async fn start_inner(
        database_url: String,
        pool: PgPool,
        n: usize,
        mode: FakeMode,
        extra_env: Vec<(String, String)>,
        simulated: bool,
    ) -> Self {
        let fake = FakeDaraja::start(FakeConfig::default())
            .await
            .expect("fake Daraja");
        fake.set_mode(mode);
        let logs = std::env::temp_dir().join(format!("tillroll-nodes-{}", Uuid::now_v7()));
        std::fs::create_dir_all(&logs).expect("log directory");
        let mut cluster = Self {
            database_url,
            pool,
            fake,
            nodes: Vec::new(),
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .build()
                .expect("HTTP client"),
            jwt: None,
            logs,
            extra_env,
            simulated,
        };
        for _ in 0..n {
            cluster.spawn_node();
        }
        for i in 0..n {
            cluster.wait_ready(i).await;
        }
        let (secret,): (String,) =
            sqlx::query_as("SELECT value FROM settings WHERE name = 'jwt_secret'")
                .fetch_one(&cluster.pool)
                .await
                .expect("the nodes agreed on one JWT secret");
        cluster.jwt = Some(JwtKeys::new(secret.as_bytes()));
        cluster
    }

    /// Starts one more node; its index.
    pub fn spawn_node(&mut self) -> usize {
        self.spawn_on(free_port())
    }

    /// Starts a node in place of node `i` (stopped or killed), on its port: the same server
    /// restarted.
    pub fn respawn_node(&mut self, i: usize) -> usize {
        let port = self.nodes[i]
            .base
            .rsplit(':')
            .next()
            .and_then(|p| p.parse().ok());
        self.spawn_on(port.expect("a node's base ends with its port"))
    }

    fn spawn_on(&mut self, port: u16) -> usize {
        let index = self.nodes.len();
        let log = self.logs.join(format!("node-{index}.log"));
        let out = std::fs::File::create(&log).expect("node log");
        let config = FakeConfig::default();
        let mut command = Command::new(env!("CARGO_BIN_EXE_tillroll"));
        command
            .arg("serve")
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("DATABASE_URL", &self.database_url)
            .env("TILLROLL_LISTEN", format!("127.0.0.1:{port}"))
            .env("TILLROLL_DB_POOL_SIZE", "4")
            .env("TILLROLL_LEASE_TTL", format!("{}ms", LEASE_TTL.as_millis()))
            .env("TILLROLL_RECONCILE_AFTER", "1s")
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(out);
        if !self.simulated {
            command
                .env("TILLROLL_MPESA_BASE_URL", self.fake.base_url())
                .env("TILLROLL_MPESA_CONSUMER_KEY", &config.consumer_key)
                .env("TILLROLL_MPESA_CONSUMER_SECRET", &config.consumer_secret)
                .env("TILLROLL_MPESA_SHORTCODE", config.shortcode.to_string())
                .env("TILLROLL_MPESA_PASSKEY", &config.passkey)
                .env(
                    "TILLROLL_MPESA_B2C_SHORTCODE",
                    config.b2c_shortcode.to_string(),
                )
                .env("TILLROLL_MPESA_B2C_INITIATOR_NAME", &config.initiator_name)
                .env(
                    "TILLROLL_MPESA_B2C_SECURITY_CREDENTIAL",
                    &config.security_credential,
                );
        }
        for (name, value) in &self.extra_env {
            command.env(name, value);
        }
        let child = command.spawn().expect("the tillroll binary starts");
        self.nodes.push(Node {
            pid: child.id(),
            child,
            base: format!("http://127.0.0.1:{port}"),
            log,
        });
        index
    }

    /// Waits until node `i` answers `/ready` with 200.
    pub async fn wait_ready(&self, i: usize) {
        let url = format!("{}/ready", self.nodes[i].base);
        let deadline = Instant::now() + WAIT;
        loop {
            let answer = self.client.get(&url).send().await;
            if answer.is_ok_and(|r| r.status() == 200) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "node {i} not ready within {WAIT:?}; its log: {}",
                self.nodes[i].log.display()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub fn token(&self, id: Uuid, role: Role) -> String {
        self.jwt
            .as_ref()
            .expect("started")
            .issue(id, role, Utc::now(), Duration::from_secs(3600))
            .expect("token issued")
    }

    pub fn customer(&self) -> (Uuid, String) {
        let id = Uuid::now_v7();
        (id, self.token(id, Role::Customer))
    }

    pub fn admin(&self) -> String {
        self.token(Uuid::now_v7(), Role::Admin)
    }

    /// Sends a request to node `i`; `None` when the node did not answer (killed, frozen).
    pub async fn call(
        &self,
        i: usize,
        method: Method,
        path: &str,
        token: &str,
        body: Option<Value>,
        min_position: Option<i64>,
    ) -> Option<Answer> {
        let mut request = self
            .client
            .request(method, format!("{}{path}", self.nodes[i].base))
            .bearer_auth(token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        if let Some(position) = min_position {
            request = request.header("X-Min-Position", position.to_string());
        }
        let response = request.send().await.ok()?;
        let status = response.status().as_u16();
        let position = response
            .headers()
            .get("x-log-position")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok());
        let retry_after = response.headers().contains_key("retry-after");
        let text = response.text().await.ok()?;
        Some(Answer {
            status,
            body: serde_json::from_str(&text).unwrap_or(Value::Null),
            position,
            retry_after,
        })
    }

    /// A request node `i` must answer.
    pub async fn must(
        &self,
        i: usize,
        method: Method,
        path: &str,
        token: &str,
        body: Option<Value>,
    ) -> Answer {
        self.call(i, method.clone(), path, token, body, None)
            .await
            .unwrap_or_else(|| panic!("node {i} answers {method} {path}"))
    }

    /// Lists a product with `stock` units through node `i`; its id.
    pub async fn product(&self, i: usize, admin: &str, name: &str, stock: i64) -> Uuid {
        let body = json!({"name": name, "category": "kitchen", "price": 10_000,
            "initial_stock": stock});
        let answer = self
            .must(i, Method::POST, "/products", admin, Some(body))
            .await;
        assert_eq!(answer.status, 201, "{answer:?}");
        answer.body["id"].as_str().unwrap().parse().unwrap()
    }

    /// Which node holds `lease` (by the database), and under which epoch.
    pub async fn holder(&self, lease: &str) -> Option<(Option<usize>, i64)> {
        let row: Option<(String, i64)> = sqlx::query_as(
            "SELECT holder, epoch FROM leases WHERE name = $1 AND expires_at > clock_timestamp()",
        )
        .bind(lease)
        .fetch_optional(&self.pool)
        .await
        .expect("leases read");
        row.map(|(holder, epoch)| (self.node_of(&holder), epoch))
    }

    /// The node whose lease holder id is `holder` (`<host>:<pid>:<suffix>`).
    pub fn node_of(&self, holder: &str) -> Option<usize> {
        let pid: u32 = holder.split(':').nth(1)?.parse().ok()?;
        self.nodes.iter().position(|n| n.pid == pid)
    }

    /// Every worker lease (not the nodes' presence) and who holds it, live ones only.
    pub async fn leases(&self) -> HashMap<String, (Option<usize>, i64)> {
        let rows: Vec<(String, String, i64)> = sqlx::query_as(
            "SELECT name, holder, epoch FROM leases WHERE name NOT LIKE 'node:%' \
             AND expires_at > clock_timestamp()",
        )
        .fetch_all(&self.pool)
        .await
        .expect("leases read");
        rows.into_iter()
            .map(|(name, holder, epoch)| (name, (self.node_of(&holder), epoch)))
            .collect()
    }

    /// Waits until every worker lease in `names` is held by a node other than `not`.
    pub async fn wait_leases_away_from(&self, names: &[String], not: usize) -> Duration {
        let started = Instant::now();
        loop {
            let held = self.leases().await;
            let moved = names.iter().all(|name| {
                held.get(name)
                    .is_some_and(|(node, _)| node.is_some_and(|n| n != not))
            });
            if moved {
                return started.elapsed();
            }
            assert!(
                started.elapsed() < WAIT,
                "leases {names:?} not taken over from node {not}: {held:?}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Waits until every worker lease is held by a live node.
    pub async fn wait_all_leases(&self) {
        let names = worker_leases();
        let started = Instant::now();
        loop {
            let held = self.leases().await;
            if names
                .iter()
                .all(|n| held.get(n).is_some_and(|(node, _)| node.is_some()))
            {
                return;
            }
            assert!(started.elapsed() < WAIT, "leases not all held: {held:?}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Stops node `i` gracefully (SIGTERM) and waits for it to exit.
    pub fn stop_node(&mut self, i: usize) {
        let node = &mut self.nodes[i];
        if node.child.try_wait().ok().flatten().is_none() {
            signal(node.pid, "TERM");
            let _ = node.child.wait();
        }
    }

    /// Stops every node gracefully.
    pub fn stop_all(&mut self) {
        for i in 0..self.nodes.len() {
            self.stop_node(i);
        }
    }

    /// Waits until every projector's checkpoint reached the end of the log and nothing is
    /// left to sequence.
    pub async fn wait_projected(&self) {
        let started = Instant::now();
        loop {
            let (behind, queued): (i64, i64) = sqlx::query_as(
                "SELECT (SELECT count(*) FROM checkpoints c \
                         WHERE c.name = ANY($1) AND c.log_index < \
                               (SELECT coalesce(max(log_index), -1) FROM event_log)), \
                        (SELECT count(*) FROM log_queue)",
            )
            .bind(projector_names())
            .fetch_one(&self.pool)
            .await
            .expect("checkpoints read");
            let (present,): (i64,) =
                sqlx::query_as("SELECT count(*) FROM checkpoints WHERE name = ANY($1)")
                    .bind(projector_names())
                    .fetch_one(&self.pool)
                    .await
                    .expect("checkpoints read");
            if behind == 0 && queued == 0 && present == projector_names().len() as i64 {
                return;
            }
            assert!(started.elapsed() < WAIT, "projections did not catch up");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The number of STK pushes the fake received for each order (by account reference).
    pub fn pushes(&self) -> HashMap<String, usize> {
        let mut pushes = HashMap::new();
        for request in self.fake.requests() {
            let reference = request["AccountReference"]
                .as_str()
                .unwrap_or("")
                .to_owned();
            *pushes.entry(reference).or_insert(0) += 1;
        }
        pushes
    }

    /// Where the nodes' logs are (for a failed test's autopsy).
    pub fn logs(&self) -> String {
        self.logs.display().to_string()
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for node in &mut self.nodes {
            // A frozen node cannot die until it is thawed.
            let _ = Command::new("kill")
                .args(["-CONT", &node.pid.to_string()])
                .stderr(Stdio::null())
                .status();
            let _ = node.child.kill();
            let _ = node.child.wait();
        }
    }
}

pub fn projector_names() -> Vec<String> {
    tillroll_projections::all()
        .iter()
        .map(|p| p.name().to_owned())
        .collect()
}

/// Every lease of a once-only worker: each projector and each reactor/checkpointer.
pub fn worker_leases() -> Vec<String> {
    let mut names: Vec<String> = tillroll_projections::all()
        .iter()
        .map(|p| tillroll_projections::lease_name(p.name()))
        .collect();
    names.extend(tillroll::workers::LEASES.iter().map(|l| (*l).to_owned()));
    names
}

/// Each read model table, as its rows in a fixed order.
pub async fn read_models(pool: &PgPool) -> Vec<(String, Vec<String>)> {
    let mut out = Vec::new();
    for projector in tillroll_projections::all() {
        for table in projector.tables() {
            let rows: Vec<(String,)> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "SELECT to_jsonb(t)::text FROM public.{table} t ORDER BY 1"
            )))
            .fetch_all(pool)
            .await
            .expect("read model read");
            out.push((
                (*table).to_owned(),
                rows.into_iter().map(|(r,)| r).collect(),
            ));
        }
    }
    out
}

/// Rebuilds every projector with the real binary (`tillroll projections rebuild`) and asserts
/// each table equals what the nodes built live. The nodes must be stopped and caught up.
pub async fn assert_read_models_equal_rebuild(database_url: &str, pool: &PgPool) {
    let live = read_models(pool).await;
    assert!(
        live.iter().any(|(_, rows)| !rows.is_empty()),
        "there are rows to compare"
    );
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_tillroll"))
        .args(["projections", "rebuild"])
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("DATABASE_URL", database_url)
        .env("RUST_LOG", "warn")
        .output()
        .await
        .expect("the CLI runs");
    assert!(
        output.status.success(),
        "rebuild: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let rebuilt = read_models(pool).await;
    for ((table, live), (_, rebuilt)) in live.iter().zip(&rebuilt) {
        let only_live: Vec<_> = live.iter().filter(|r| !rebuilt.contains(r)).collect();
        let only_rebuilt: Vec<_> = rebuilt.iter().filter(|r| !live.contains(r)).collect();
        assert!(
            only_live.is_empty() && only_rebuilt.is_empty() && live.len() == rebuilt.len(),
            "table {table}: live only {only_live:#?}, rebuilt only {only_rebuilt:#?}"
        );
    }
}

/// Replays each product's stock stream: never negative, never more reserved than on hand;
/// returns units sold per product.
pub async fn assert_no_oversell(pool: &PgPool) -> HashMap<Uuid, i64> {
    use tillroll_events::StockEvent;
    let store = tillroll::store::EventStore::new(pool.clone());
    let streams: Vec<(String,)> =
        sqlx::query_as("SELECT DISTINCT stream_id FROM events WHERE stream_id LIKE 'stock-%'")
            .fetch_all(pool)
            .await
            .expect("stock streams read");
    let mut sold_by_product = HashMap::new();
    for (stream,) in streams {
        let (mut on_hand, mut reserved, mut sold) = (0, 0, 0);
        for event in store.read_stream(&stream, 0).await.expect("stock read") {
            match event.decode::<StockEvent>().expect("stock event") {
                StockEvent::StockLevelSet { on_hand: n, .. } => on_hand = n,
                StockEvent::StockAdjusted { delta, .. } => on_hand += delta,
                StockEvent::StockReserved { quantity, .. } => reserved += quantity,
                StockEvent::StockReservationReleased { quantity, .. } => reserved -= quantity,
                StockEvent::StockSold { quantity, .. } => {
                    reserved -= quantity;
                    on_hand -= quantity;
                    sold += quantity;
                }
            }
            assert!(
                on_hand >= 0 && reserved >= 0 && reserved <= on_hand,
                "{stream} oversold: on hand {on_hand}, reserved {reserved}"
            );
        }
        let id: Uuid = stream
            .trim_start_matches("stock-")
            .parse()
            .expect("stock id");
        sold_by_product.insert(id, sold);
    }
    sold_by_product
}

/// The event types of a stream, in order.
pub async fn stream_types(pool: &PgPool, stream: &str) -> Vec<String> {
    let rows: Vec<(String,)> = sqlx::query_as(
        "SELECT event_type FROM events WHERE stream_id = $1 ORDER BY stream_version",
    )
    .bind(stream)
    .fetch_all(pool)
    .await
    .expect("stream read");
    rows.into_iter().map(|(t,)| t).collect()
}
