//! Accounts: registration, sessions (log-in, refresh-token rotation, log-out), the profile and
//! avatar, and the admin's changes (role, disabling, closing). Every change is an event in the
//! account's stream `customer-<id>`; the secrets and guards beside the events (the e-mail
//! reservation, the password hash, refresh tokens, blocks) are written in the same
//! transaction and never enter the log.

mod admin;
pub mod blocks;
mod create_user;
mod existing;
mod profile;
mod register;
mod session;

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tillroll_events::{CustomerEvent, StreamId};
use uuid::Uuid;

use crate::auth::jwt::JwtKeys;
use crate::auth::rate_limit::RetryAfter;
use crate::commands::{
    CommandContext, CommandError, Commands, Outcome, Rejection, RejectionKind, SideWrite, decision,
};
use crate::domain::customer::{Customer, CustomerError};
use crate::domain::validate::FieldError;
use crate::state::AppState;
use crate::store::{EventStore, StoreError};

pub use admin::{AdminUpdate, close_user, update_user};
pub use create_user::create_user;
pub use existing::existing_customer;
pub use profile::{change_avatar, update_profile};
pub use register::{NewAccount, create_admin, create_with_role, ensure_admin, register};
pub use session::{login, logout, refresh};

/// How long a refresh token (one link of a session's family) may be used.
pub const REFRESH_TOKEN_TTL: Duration = Duration::from_secs(30 * 24 * 3600);

/// Why an account command did not happen.
#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    #[error(transparent)]
    Command(#[from] CommandError),
    /// Request fields that are wrong (400 naming each).
    #[error("{}", fields(.0))]
    Invalid(Vec<FieldError>),
    /// Too many failed log-ins for this account or client (429).
    #[error(transparent)]
    RateLimited(RetryAfter),
    /// Hashing or signing failed (500).
    #[error("{0}")]
    Internal(String),
}

fn fields(errors: &[FieldError]) -> String {
    errors
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

impl From<Rejection> for AccountError {
    fn from(rejection: Rejection) -> Self {
        Self::Command(rejection.into())
    }
}

impl From<sqlx::Error> for AccountError {
    fn from(error: sqlx::Error) -> Self {
        Self::Command(error.into())
    }
}

impl From<StoreError> for AccountError {
    fn from(error: StoreError) -> Self {
        Self::Command(error.into())
    }
}

fn unauthorized(message: &str) -> Rejection {
    Rejection::new(RejectionKind::Unauthorized, message)
}

/// An account as the command side knows it: the aggregate, and when its first event was
/// recorded (the read model's `created_at`, so both sides answer the same `user`).
#[derive(Debug, Clone)]
pub struct Account {
    pub state: Customer,
    pub created_at: DateTime<Utc>,
}

impl Account {
    pub fn id(&self) -> Uuid {
        self.state.customer_id
    }

    async fn of(store: &EventStore, state: Customer) -> Result<Self, sqlx::Error> {
        let stream = StreamId::customer(state.customer_id);
        let recorded: Option<DateTime<Utc>> = sqlx::query_scalar(
            "SELECT recorded_at FROM events WHERE stream_id = $1 AND stream_version = 1",
        )
        .bind(stream.as_str())
        .fetch_optional(store.pool())
        .await?;
        let created_at = recorded.or(state.registered_at).unwrap_or_else(Utc::now);
        Ok(Self { state, created_at })
    }
}

/// What registering or logging in hands the client.
#[derive(Debug, Clone)]
pub struct Session {
    pub account: Account,
    pub access_token: String,
    pub refresh_token: String,
    /// Seconds the access token is valid for.
    pub expires_in: u64,
}

/// The keys and lifetime for access tokens.
#[derive(Clone, Copy)]
pub struct Tokens<'a> {
    pub jwt: &'a JwtKeys,
    pub access_ttl: Duration,
}

impl<'a> Tokens<'a> {
    pub fn of(state: &'a AppState) -> Self {
        Self {
            jwt: &state.jwt,
            access_ttl: state.config.access_token_ttl,
        }
    }
}

/// Runs CPU-heavy password work off the async workers, at most one job per core at a time.
/// The turn goes with the job, not with the request: a client that disconnects (or a timeout
/// that drops the request) leaves the hash running on the blocking pool, and it still counts
/// until it ends.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, AccountError> {
    let turn = PASSWORD_WORK
        .acquire()
        .await
        .map_err(|e| AccountError::Internal(format!("password work: {e}")))?;
    tokio::task::spawn_blocking(move || {
        let _turn = turn;
        work()
    })
    .await
    .map_err(|e| AccountError::Internal(format!("password task failed: {e}")))
}

/// Password hashes computed at once: one per core. An argon2id hash holds 46 MiB while it
/// runs: more at once would only queue on the CPUs, and an unbounded burst of logins or
/// registrations would take that much memory each.
static PASSWORD_WORK: std::sync::LazyLock<tokio::sync::Semaphore> =
    std::sync::LazyLock::new(|| {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        tokio::sync::Semaphore::new(cores)
    });

type Decide = Arc<dyn Fn(&Customer) -> Result<Vec<CustomerEvent>, CustomerError> + Send + Sync>;
type SideWrites = Arc<dyn Fn() -> Vec<SideWrite> + Send + Sync>;

/// Decides on one account and appends the events with `side_writes` in one transaction;
/// answers with the account's new state.
async fn change(
    commands: &Commands,
    ctx: &CommandContext,
    id: Uuid,
    decide: Decide,
    side_writes: SideWrites,
) -> Result<Outcome<Account>, AccountError> {
    let stream = StreamId::customer(id);
    let lock = [stream.clone()];
    let outcome = commands
        .run_boxed(
            ctx,
            &lock,
            decision(move |uow| {
                for write in side_writes() {
                    uow.also(write);
                }
                let (stream, decide) = (stream.clone(), decide.clone());
                Box::pin(async move {
                    let (state, _) = uow.load::<Customer>(&stream).await?;
                    let events = decide(&state).map_err(CommandError::from)?;
                    uow.append::<Customer>(&stream, events);
                    Ok(uow.load::<Customer>(&stream).await?.0)
                })
            }),
        )
        .await?;
    Ok(Outcome {
        value: Account::of(commands.store(), outcome.value).await?,
        position: outcome.position,
        event_ids: outcome.event_ids,
    })
}

#[cfg(test)]
mod password_work_tests {
    use std::time::Duration;

    use super::{PASSWORD_WORK, blocking};

    #[tokio::test]
    async fn a_dropped_request_keeps_its_turn_until_the_hash_ends() {
        let (started, release) = (std::sync::mpsc::channel(), std::sync::mpsc::channel::<()>());
        let (started_tx, started_rx) = started;
        let (release_tx, release_rx) = release;
        let before = PASSWORD_WORK.available_permits();
        let job = blocking(move || {
            started_tx.send(()).unwrap();
            let _ = release_rx.recv_timeout(Duration::from_secs(10));
        });
        // Polled until the job runs, then dropped: the client went away.
        let mut job = Box::pin(job);
        let _ = tokio::time::timeout(Duration::from_millis(20), &mut job).await;
        started_rx
            .recv_timeout(Duration::from_secs(5))
            .expect("the job ran");
        drop(job);
        assert_eq!(PASSWORD_WORK.available_permits(), before - 1);
        release_tx.send(()).unwrap();
        let all = u32::try_from(before).unwrap();
        let back = tokio::time::timeout(Duration::from_secs(5), PASSWORD_WORK.acquire_many(all));
        assert!(
            back.await.is_ok(),
            "the turn was not given back once the job ended"
        );
    }
}
