//! Building and running the server: connect, migrate, load settings, start the projectors and
//! reactors, serve HTTP, and shut everything down gracefully.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use sqlx::PgPool;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::auth::jwt::JwtKeys;
use crate::auth::rate_limit::LoginLimiter;
use crate::commands::Commands;
use crate::config::Config;
use crate::db;
use crate::metrics::Metrics;
use crate::payments::{self, B2cGateway, MpesaGateway, Simulator};
use crate::state::AppState;
use crate::store::EventStore;

/// Connections reserved for the projection runner, so a burst of requests never starves it.
const PROJECTION_CONNECTIONS: u32 = 4;
/// Connections a node opens besides its request pool: the projection pool, the LISTEN session
/// and the lease keeper's session (README, "Running several nodes").
pub const BACKGROUND_CONNECTIONS: u32 = PROJECTION_CONNECTIONS + 2;

/// Login failures allowed per account and per client address within the window.

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error(transparent)]
    Db(#[from] db::DbError),
    #[error("database: {0}")]
    Sql(#[from] sqlx::Error),
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("{0}")]
    Setup(String),
}

pub struct Application {
    listener: TcpListener,
    state: AppState,
}

fn random_secret() -> String {
    use base64::Engine;
    let bytes: [u8; 32] = rand::random();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// The STK and B2C gateways, and the simulator behind either when there is one.
type Gateways = (
    Arc<dyn MpesaGateway>,
    Arc<dyn B2cGateway>,
    Option<Arc<Simulator>>,
);

/// The real Daraja client when credentials are configured, else the simulator (whose state
/// is in the database); B2C likewise, with the initiator's credentials.
fn default_gateways(config: &Config, pool: &PgPool) -> Result<Gateways, AppError> {
    let setup = |e: reqwest::Error| AppError::Setup(format!("HTTP client: {e}"));
    let simulator = match (&config.mpesa, &config.mpesa_b2c) {
        (Some(_), Some(_)) => None,
        _ => Some(Arc::new(
            Simulator::persistent(pool.clone(), Duration::from_secs(1)).map_err(setup)?,
        )),
    };
    let stk: Arc<dyn MpesaGateway> = match (&config.mpesa, &simulator) {
        (Some(daraja), _) => Arc::new(payments::DarajaClient::new(daraja.clone()).map_err(setup)?),
        (None, Some(simulator)) => {
            tracing::info!("no Daraja credentials: payments go to the built-in simulator");
            simulator.clone()
        }
        (None, None) => unreachable!("a simulator exists without Daraja credentials"),
    };
    let b2c: Arc<dyn B2cGateway> = match (&config.mpesa, &config.mpesa_b2c, &simulator) {
        (Some(daraja), Some(b2c), _) => Arc::new(
            payments::DarajaClient::new(daraja.clone())
                .map_err(setup)?
                .with_b2c(b2c.clone()),
        ),
        (_, _, Some(simulator)) => {
            tracing::info!("no B2C initiator: refunds and payouts go to the built-in simulator");
            simulator.clone()
        }
        _ => unreachable!("a simulator exists without B2C credentials"),
    };
    Ok((stk, b2c, simulator))
}

impl Application {
    /// Connects as configured (the embedded default when `DATABASE_URL` is unset), migrates,
    /// and binds the listener.
    pub async fn build(config: Config) -> Result<Self, AppError> {
        let options = db::server_sessions(db::connect_options(&config).await?);
        let pool = db::pool(options, config.db_pool_size).await?;
        Self::build_with(config, pool, None).await
    }

    /// As [`Application::build`] on a given pool, optionally with another payment gateway
    /// (tests pass a client of their fake Daraja).
    pub async fn build_with(
        config: Config,
        pool: PgPool,
        gateway: Option<Arc<dyn MpesaGateway>>,
    ) -> Result<Self, AppError> {
        Self::build_with_gateways(config, pool, gateway, None).await
    }

    /// As [`Application::build_with`], with a B2C gateway too (tests pass their fake's).
    pub async fn build_with_gateways(
        config: Config,
        pool: PgPool,
        gateway: Option<Arc<dyn MpesaGateway>>,
        b2c: Option<Arc<dyn B2cGateway>>,
    ) -> Result<Self, AppError> {
        db::migrate(&pool).await?;
        let jwt_secret = match &config.jwt_secret {
            Some(secret) => secret.expose().to_owned(),
            None => db::shared_setting(&pool, "jwt_secret", random_secret).await?,
        };
        if jwt_secret.len() < crate::auth::jwt::MIN_SECRET_LEN {
            return Err(AppError::Setup(format!(
                "TILLROLL_JWT_SECRET must be at least {} bytes",
                crate::auth::jwt::MIN_SECRET_LEN
            )));
        }
        let callback_token = match &config.callback_token {
            Some(token) => token.expose().to_owned(),
            None => db::shared_setting(&pool, "mpesa_callback_token", random_secret).await?,
        };
        let (default_stk, default_b2c, simulator) = default_gateways(&config, &pool)?;
        let gateway = gateway.unwrap_or(default_stk);
        let b2c = b2c.unwrap_or(default_b2c);
        let listener =
            TcpListener::bind(config.listen)
                .await
                .map_err(|source| AppError::Listen {
                    addr: config.listen,
                    source,
                })?;
        let public_url = config.public_url.clone().unwrap_or_else(|| {
            let addr = listener
                .local_addr()
                .expect("a bound listener has an address");
            format!("http://{addr}")
        });
        let tree_signer = crate::audit::heads::TreeSigner::load(
            &pool,
            config.audit_signing_key.as_ref().map(|k| k.expose()),
        )
        .await
        .map_err(|e| AppError::Setup(e.to_string()))?;
        let webhooks = crate::webhooks::Webhooks::new(
            &pool,
            config.webhooks_key.as_ref().map(|k| k.expose()),
            config.webhooks_allow_private,
            config.webhooks_first_retry,
        )
        .await
        .map_err(AppError::Setup)?;
        let store = EventStore::new(pool.clone());
        let projectors = tillroll_projections::all();
        let leases = tillroll_projections::lease::Leases::new(
            pool.connect_options().as_ref().clone(),
            config.lease_ttl,
        );
        let progress = tillroll_projections::Progress::new(&projectors);
        let (read_pool, read_progress) = match &config.read_database_url {
            Some(url) => {
                let options = db::options_from_url(url)
                    .map_err(|e| AppError::Setup(format!("TILLROLL_READ_DATABASE_URL: {e}")))?;
                let options = db::server_sessions(options);
                let replica = db::lazy_pool(options, config.db_pool_size);
                (replica, tillroll_projections::Progress::new(&[]))
            }
            None => (pool.clone(), progress.clone()),
        };
        let state = AppState {
            progress,
            read_pool,
            read_progress,
            projector_names: Arc::new(projectors.iter().map(|p| p.name()).collect()),
            commands: Commands::new(store.clone()).with_platform_fee(config.platform_fee_bps),
            store,
            pool,
            jwt: Arc::new(JwtKeys::new(jwt_secret.as_bytes())),
            gateway,
            b2c,
            callback_token: Arc::new(callback_token),
            login_limiter: LoginLimiter::default(),
            metrics: Arc::new(Metrics::default()),
            config: Arc::new(config),
            public_url: Arc::new(public_url),
            leases,
            tree_signer,
            webhooks: Arc::new(webhooks),
        };
        // In the background: the server answers meanwhile.
        tokio::task::spawn_blocking(crate::auth::password::prepare_dummy);
        // What the simulator promised before a stop is delivered now (the listener is bound:
        // the callbacks wait in its backlog until the server runs).
        if let Some(simulator) = simulator {
            simulator.resume().await.map_err(|e| {
                AppError::Setup(format!("the simulator's state in the database: {e}"))
            })?;
        }
        crate::commands::accounts::ensure_admin(&state)
            .await
            .map_err(|e| {
                AppError::Setup(format!(
                    "the admin of TILLROLL_ADMIN_EMAIL/TILLROLL_ADMIN_PASSWORD: {e}"
                ))
            })?;
        Ok(Self { listener, state })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("a bound listener has an address")
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves until `shutdown` resolves, then finishes in-flight requests, lets projectors
    /// and reactors finish the batch in hand, and returns.
    pub async fn run_until(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), AppError> {
        let (stop_tx, stop_rx) = watch::channel(false);
        let (keeper_stop, keeper_stopped) = watch::channel(false);
        let keeper = tokio::spawn(self.state.leases.clone().run(keeper_stopped));
        let background = spawn_background(&self.state, stop_rx);
        let router = crate::http::router(self.state.clone());
        let limits = self.state.config.http;
        let served = crate::http::server::serve(self.listener, router, limits, shutdown).await;
        let _ = stop_tx.send(true);
        for task in background {
            let _ = tokio::time::timeout(Duration::from_secs(10), task).await;
        }
        // The leases go back once their work has finished what it had in hand.
        let _ = keeper_stop.send(true);
        let _ = tokio::time::timeout(Duration::from_secs(5), keeper).await;
        served.map_err(|e| AppError::Setup(format!("server error: {e}")))
    }
}

fn spawn_background(state: &AppState, stop: watch::Receiver<bool>) -> Vec<JoinHandle<()>> {
    let listener = state.store.spawn_listener();
    // The projectors get connections of their own, so a burst of requests can never starve
    // them (their lag is what every X-Min-Position query waits on).
    let projection_pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(PROJECTION_CONNECTIONS)
        .connect_lazy_with((*state.pool.connect_options()).clone());
    let runner = tillroll_projections::Runner::new(
        projection_pool,
        Arc::new(state.store.clone()),
        tillroll_projections::all(),
        state.progress.clone(),
    )
    .with_leases(state.leases.clone());
    let mut tasks = vec![tokio::spawn(runner.run(stop.clone()))];
    tasks.extend(crate::workers::spawn(state, &state.leases, stop.clone()));
    // The listener holds no state worth finishing: it stops with the rest.
    let mut stopped = stop;
    tasks.push(tokio::spawn(async move {
        let _ = stopped.wait_for(|s| *s).await;
        listener.abort();
    }));
    tasks
}

/// Resolves on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = terminate => {}
    }
    tracing::info!("shutting down");
}
