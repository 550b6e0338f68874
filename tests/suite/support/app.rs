//! The real server on port 0 against a fresh database, and a client for it.

use std::sync::Arc;
use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::Value;
use tillroll::payments::{B2cGateway, MpesaGateway, Simulator};
use tillroll::state::AppState;
use tillroll::{Application, Config};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use super::TestDb;

/// Who holds the leases of a server standing by.
const STANDBY_HOLDER: &str = "test-standby";

pub struct TestApp {
    pub base: String,
    pub client: reqwest::Client,
    pub state: AppState,
    db: Option<TestDb>,
    /// Leases held for another (never running) node, when the app must run none of that
    /// work.
    leader: Option<Vec<String>>,
    stop: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<()>>,
}

/// A response with its body read: status, headers and JSON (or `Value::Null`).
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
    pub text: String,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The `X-Log-Position` of a command's answer.
    pub fn position(&self) -> Option<i64> {
        self.header("x-log-position").and_then(|p| p.parse().ok())
    }

    /// Asserts a problem+json answer with this status; returns its body.
    #[track_caller]
    pub fn problem(&self, status: u16) -> &Value {
        assert_eq!(self.status.as_u16(), status, "{}", self.text);
        assert_eq!(
            self.header("content-type"),
            Some("application/problem+json"),
            "{}",
            self.text
        );
        assert_eq!(self.body["status"], status, "{}", self.text);
        &self.body
    }

    #[track_caller]
    pub fn ok(&self, status: u16) -> &Value {
        assert_eq!(self.status.as_u16(), status, "{}", self.text);
        &self.body
    }
}

/// The simulator, in memory, answering in milliseconds.
fn simulator() -> Simulator {
    Simulator::new(Duration::from_millis(20)).expect("simulator")
}

pub fn test_config() -> Config {
    let mut config = Config::from_lookup(|_| None).expect("defaults parse");
    config.listen = "127.0.0.1:0".parse().unwrap();
    // Tree heads come fast, so tests wait for them little.
    config.audit_tree_head_every = Duration::from_millis(100);
    config
}

impl TestApp {
    /// The server with default configuration and the simulator answering payments fast.
    pub async fn spawn() -> Self {
        Self::spawn_with(test_config(), None).await
    }

    /// The server standing by for reactors: another session leads them (and never runs
    /// them), as a second process would. For tests that write an order's payment events by
    /// hand, which a live payment reactor would race to write as well.
    pub async fn spawn_without_reactors() -> Self {
        Self::spawn_without_reactors_with(None).await
    }

    /// [`TestApp::spawn_without_reactors`], paying through `gateway`.
    pub async fn spawn_without_reactors_with(gateway: Option<Arc<dyn MpesaGateway>>) -> Self {
        let leases: Vec<String> = tillroll::workers::LEASES.map(str::to_owned).to_vec();
        Self::spawn_standing_by(leases, gateway).await
    }

    /// The server standing by for projections: another session holds the projectors' lock,
    /// so no read model moves until [`TestApp::release_lock`].
    pub async fn spawn_without_projectors() -> Self {
        let leases = tillroll_projections::all()
            .iter()
            .map(|p| tillroll_projections::lease_name(p.name()))
            .collect();
        Self::spawn_standing_by(leases, None).await
    }

    /// The server standing by for the sealer: another holder has its lease (epoch 1, for a
    /// day), so nothing seals unless the test does, under that holder's fence.
    pub async fn spawn_without_sealer() -> Self {
        Self::spawn_standing_by(vec![tillroll::workers::SEALER_LEASE.to_owned()], None).await
    }

    async fn spawn_standing_by(
        leases: Vec<String>,
        gateway: Option<Arc<dyn MpesaGateway>>,
    ) -> Self {
        let db = TestDb::with_pool_size(6).await;
        sqlx::query(
            "INSERT INTO leases (name, holder, epoch, expires_at, renewed_at) \
             SELECT name, $2, 1, now() + interval '1 day', now() FROM unnest($1::text[]) name",
        )
        .bind(&leases)
        .bind(STANDBY_HOLDER)
        .execute(&db.pool)
        .await
        .expect("the leases are free in a fresh database");
        let mut app = Self::spawn_on(db, test_config(), gateway).await;
        app.leader = Some(leases);
        app
    }

    /// Gives back the leases another node held: this server takes them over.
    pub async fn release_lock(&mut self) {
        if let Some(leases) = self.leader.take() {
            sqlx::query("DELETE FROM leases WHERE name = ANY($1) AND holder = $2")
                .bind(&leases)
                .bind(STANDBY_HOLDER)
                .execute(self.pool())
                .await
                .expect("the leases are given back");
        }
    }

    pub async fn spawn_with(config: Config, gateway: Option<Arc<dyn MpesaGateway>>) -> Self {
        Self::spawn_on(TestDb::with_pool_size(6).await, config, gateway).await
    }

    /// The server paying out (refunds, payouts) through `b2c`; STK through `gateway` or the
    /// simulator.
    pub async fn spawn_with_b2c(
        config: Config,
        gateway: Option<Arc<dyn MpesaGateway>>,
        b2c: Arc<dyn B2cGateway>,
    ) -> Self {
        let db = TestDb::with_pool_size(6).await;
        let gateway = gateway.unwrap_or_else(|| Arc::new(simulator()));
        let (base, state, stop, server) = Self::serve(config, &db.pool, gateway, b2c).await;
        Self::running(db, base, state, stop, server)
    }

    async fn spawn_on(db: TestDb, config: Config, gateway: Option<Arc<dyn MpesaGateway>>) -> Self {
        // One fast simulator for STK and B2C alike, unless a test brings its STK gateway.
        let simulator = Arc::new(simulator());
        let gateway = gateway.unwrap_or_else(|| simulator.clone());
        let (base, state, stop, server) = Self::serve(config, &db.pool, gateway, simulator).await;
        Self::running(db, base, state, stop, server)
    }

    fn running(
        db: TestDb,
        base: String,
        state: AppState,
        stop: oneshot::Sender<()>,
        server: JoinHandle<()>,
    ) -> Self {
        Self {
            base,
            client: reqwest::Client::new(),
            state,
            db: Some(db),
            leader: None,
            stop: Some(stop),
            server: Some(server),
        }
    }

    /// Builds and serves an Application on `pool`.
    async fn serve(
        config: Config,
        pool: &sqlx::PgPool,
        gateway: Arc<dyn MpesaGateway>,
        b2c: Arc<dyn B2cGateway>,
    ) -> (String, AppState, oneshot::Sender<()>, JoinHandle<()>) {
        let app = Application::build_with_gateways(config, pool.clone(), Some(gateway), Some(b2c))
            .await
            .expect("the application builds");
        let base = format!("http://{}", app.local_addr());
        let state = app.state().clone();
        let (stop_tx, stop_rx) = oneshot::channel::<()>();
        let server = tokio::spawn(async move {
            app.run_until(async {
                let _ = stop_rx.await;
            })
            .await
            .expect("the server runs");
        });
        (base, state, stop_tx, server)
    }

    /// Stops the server gracefully, keeps its database, and starts a new Application on it
    /// with the same configuration and payment gateway (on a new port). The pool is replaced
    /// so that no session-level lock of the old server outlives it.
    pub async fn restart(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(server) = self.server.take() {
            let _ = server.await;
        }
        let db = self.db.as_mut().expect("running");
        let options = db.pool.connect_options().as_ref().clone();
        db.pool.close().await;
        db.pool = sqlx::postgres::PgPoolOptions::new()
            .max_connections(6)
            .connect_with(options)
            .await
            .expect("the database answers again");
        let (config, gateway, b2c) = (
            self.state.config.as_ref().clone(),
            self.state.gateway.clone(),
            self.state.b2c.clone(),
        );
        let (base, state, stop, server) = Self::serve(config, &db.pool, gateway, b2c).await;
        self.base = base;
        self.state = state;
        self.stop = Some(stop);
        self.server = Some(server);
    }

    /// A `DATABASE_URL` for this app's database, for a `tillroll` process beside it.
    pub fn database_url(&self) -> String {
        self.db.as_ref().expect("running").url()
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub fn pool(&self) -> &sqlx::PgPool {
        &self.db.as_ref().expect("running").pool
    }

    /// Sends a request; `token` as bearer, `body` as JSON.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Reply {
        let mut request = self.client.request(method, self.url(path));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        Self::read(request.send().await.expect("the server answers")).await
    }

    pub async fn read(response: reqwest::Response) -> Reply {
        let status = response.status();
        let headers = response.headers().clone();
        let text = response.text().await.unwrap_or_default();
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        Reply {
            status,
            headers,
            body,
            text,
        }
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> Reply {
        self.call(Method::GET, path, token, None).await
    }

    /// A GET that waits until the read models have caught up with `position`.
    pub async fn get_after(&self, path: &str, token: Option<&str>, position: i64) -> Reply {
        let mut request = self
            .client
            .get(self.url(path))
            .header("X-Min-Position", position.to_string());
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        Self::read(request.send().await.expect("the server answers")).await
    }

    pub async fn post(&self, path: &str, token: Option<&str>, body: Value) -> Reply {
        self.call(Method::POST, path, token, Some(body)).await
    }

    /// Polls `check` until it returns `Some`, or panics after `timeout`.
    pub async fn eventually<T, F, Fut>(&self, timeout: Duration, mut check: F) -> T
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Option<T>>,
    {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if let Some(value) = check().await {
                return value;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "condition not met within {timeout:?}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Stops the server gracefully and drops the database.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(server) = self.server.take() {
            let _ = server.await;
        }
        self.leader = None;
        if let Some(db) = self.db.take() {
            db.drop().await;
        }
    }
}
