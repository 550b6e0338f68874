//! The state every handler shares: cheap to clone.

use std::sync::Arc;
use std::time::Duration;

use sqlx::PgPool;
use tillroll_projections::Progress;

use crate::auth::jwt::JwtKeys;
use crate::auth::rate_limit::LoginLimiter;
use crate::commands::Commands;
use crate::config::Config;
use crate::http::error::ApiError;
use crate::metrics::Metrics;
use crate::payments::MpesaGateway;
use crate::store::EventStore;

#[derive(Clone)]
pub struct AppState {
    pub config: Arc<Config>,
    /// Base of the URLs we hand out (the Daraja CallBackURL): `TILLROLL_PUBLIC_URL` or the
    /// address the server is bound to.
    pub public_url: Arc<String>,
    pub pool: PgPool,
    /// Where queries read the read models: a read replica (`TILLROLL_READ_DATABASE_URL`), or
    /// `pool`.
    pub read_pool: PgPool,
    /// What `X-Min-Position` waits on: this node's projectors' progress, or (reading from a
    /// replica) none, so that only the replica's own checkpoints count.
    pub read_progress: Progress,
    pub store: EventStore,
    pub commands: Commands,
    pub jwt: Arc<JwtKeys>,
    pub progress: Progress,
    pub projector_names: Arc<Vec<&'static str>>,
    pub gateway: Arc<dyn MpesaGateway>,
    /// Refunds and payouts (M-Pesa B2C).
    pub b2c: Arc<dyn crate::payments::B2cGateway>,
    pub callback_token: Arc<String>,
    pub login_limiter: LoginLimiter,
    pub metrics: Arc<Metrics>,
    /// This node's worker leases (projectors, reactors, the sealer).
    pub leases: tillroll_projections::lease::Leases,
    /// The key that signs tree heads.
    pub tree_signer: crate::audit::heads::TreeSigner,
    /// The webhook secrets' key, the outbound client and its rules.
    pub webhooks: Arc<crate::webhooks::Webhooks>,
}

impl AppState {
    /// `Ok(false)` when the read models `names` (every one: `None`) did not reach `position`
    /// within `timeout`.
    pub async fn wait_for_position(
        &self,
        position: i64,
        names: Option<&[&str]>,
        timeout: Duration,
    ) -> Result<bool, ApiError> {
        let deadline = tokio::time::Instant::now() + timeout;
        let Some(target) = self.store.locate_by(position, deadline).await? else {
            return Err(ApiError::field(
                "X-Min-Position",
                "no event has this position",
            ));
        };
        let names = names.unwrap_or(self.projector_names.as_slice());
        Ok(tillroll_projections::wait_for(
            &self.read_pool,
            &self.read_progress,
            names,
            target,
            deadline.saturating_duration_since(tokio::time::Instant::now()),
        )
        .await?)
    }
}
