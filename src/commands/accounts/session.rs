//! Sessions: log-in, refresh-token rotation with reuse detection, log-out.
//!
//! A session is a family of refresh tokens: each refresh spends the token presented and hands
//! out the next one of the same family. A spent token presented again means a copy leaked, so
//! the whole family is revoked and both the thief and the user must log in again.

use std::net::IpAddr;

use chrono::{DateTime, Utc};
use sqlx::PgConnection;
use tillroll_events::StreamId;
use uuid::Uuid;

use super::{Account, AccountError, REFRESH_TOKEN_TTL, Session, Tokens, blocking, unauthorized};
use crate::auth::password::{dummy_verify, verify_password};
use crate::auth::rate_limit::LoginLimiter;
use crate::auth::refresh::{
    hash_refresh_token, looks_like_refresh_token, new_family_id, new_refresh_token,
};
use crate::commands::{CommandContext, Commands, SideWrite, decision};
use crate::domain::customer::Customer;

/// The one answer for an unknown e-mail and a wrong password alike.
const WRONG_CREDENTIALS: &str = "wrong e-mail or password";
const ACCOUNT_DISABLED: &str = "this account is disabled";
const INVALID_REFRESH: &str = "the refresh token is invalid, expired or revoked";
const REUSED_REFRESH: &str = "this refresh token was already used; the session is revoked";

/// A refresh token about to be handed out, and the row that stores its hash.
pub(super) struct NewRefresh {
    plaintext: String,
    hash: Vec<u8>,
    family: Uuid,
}

impl NewRefresh {
    /// The first token of a new session.
    pub(super) fn start() -> Self {
        Self::in_family(new_family_id())
    }

    fn in_family(family: Uuid) -> Self {
        let (plaintext, hash) = new_refresh_token();
        Self {
            plaintext,
            hash: hash.to_vec(),
            family,
        }
    }

    pub(super) fn row(&self, customer_id: Uuid, now: DateTime<Utc>) -> SideWrite {
        SideWrite::new(
            "INSERT INTO refresh_tokens (token_hash, family_id, customer_id, issued_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(self.hash.clone())
        .bind(self.family)
        .bind(customer_id)
        .bind(now)
        .bind(now + REFRESH_TOKEN_TTL)
    }

    /// Signs the access token that goes with this refresh token.
    pub(super) async fn session(
        self,
        commands: &Commands,
        tokens: Tokens<'_>,
        state: Customer,
        now: DateTime<Utc>,
    ) -> Result<Session, AccountError> {
        let access_token = tokens
            .jwt
            .issue(state.customer_id, state.role, now, tokens.access_ttl)
            .map_err(|e| AccountError::Internal(e.to_string()))?;
        Ok(Session {
            account: Account::of(commands.store(), state).await?,
            access_token,
            refresh_token: self.plaintext,
            expires_in: tokens.access_ttl.as_secs(),
        })
    }
}

/// Checks the password (in as much time for an unknown e-mail as for a wrong password),
/// counts failures per account and per client address, and starts a session.
pub async fn login(
    commands: &Commands,
    ctx: &CommandContext,
    tokens: Tokens<'_>,
    limiter: &LoginLimiter,
    client: IpAddr,
    email: &str,
    password: String,
) -> Result<Session, AccountError> {
    let pool = commands.store().pool();
    // Counted before the password is checked: concurrent guesses cannot overrun the limit.
    let claim = limiter
        .claim(pool, email, client)
        .await?
        .map_err(AccountError::RateLimited)?;

    let found: Option<(Uuid, String, bool)> = sqlx::query_as(
        "SELECT e.customer_id, c.password_hash, \
                EXISTS (SELECT 1 FROM account_blocks b WHERE b.customer_id = e.customer_id) \
         FROM account_emails e JOIN credentials c ON c.customer_id = e.customer_id \
         WHERE e.email_lower = $1",
    )
    .bind(email.trim().to_lowercase())
    .fetch_optional(commands.store().pool())
    .await?;
    let verified = match found {
        Some((id, phc, blocked)) => blocking(move || verify_password(&password, &phc))
            .await?
            .then_some((id, blocked)),
        None => {
            blocking(dummy_verify).await?;
            None
        }
    };
    let Some((id, blocked)) = verified else {
        // The attempt stays counted.
        return Err(unauthorized(WRONG_CREDENTIALS).into());
    };
    // Only someone who knows the password learns that the account is disabled.
    if blocked {
        return Err(unauthorized(ACCOUNT_DISABLED).into());
    }
    limiter.succeeded(pool, &claim).await?;

    let refresh = NewRefresh::start();
    let state = open_account(commands, ctx, id, Some(&refresh)).await?;
    refresh.session(commands, tokens, state, ctx.now).await
}

/// The account's state if it may hold a session, writing `refresh`'s row beside.
async fn open_account(
    commands: &Commands,
    ctx: &CommandContext,
    id: Uuid,
    refresh: Option<&NewRefresh>,
) -> Result<Customer, AccountError> {
    let stream = StreamId::customer(id);
    let lock = [stream.clone()];
    let now = ctx.now;
    let outcome = commands
        .run_boxed(
            ctx,
            &lock,
            decision(move |uow| {
                if let Some(refresh) = refresh {
                    uow.also(refresh.row(id, now));
                }
                let stream = stream.clone();
                Box::pin(async move {
                    let (state, _) = uow.load::<Customer>(&stream).await?;
                    if !state.exists || state.closed || state.disabled {
                        return Err(unauthorized(ACCOUNT_DISABLED).into());
                    }
                    Ok(state)
                })
            }),
        )
        .await?;
    Ok(outcome.value)
}

#[derive(sqlx::FromRow)]
struct TokenRow {
    family_id: Uuid,
    customer_id: Uuid,
    expires_at: DateTime<Utc>,
    spent_at: Option<DateTime<Utc>>,
    /// Revoked, or its account is blocked.
    dead: bool,
}

/// Spends `presented` and hands out the next token of its family with a new access token.
pub async fn refresh(
    commands: &Commands,
    ctx: &CommandContext,
    tokens: Tokens<'_>,
    presented: &str,
) -> Result<Session, AccountError> {
    if !looks_like_refresh_token(presented) {
        return Err(unauthorized(INVALID_REFRESH).into());
    }
    let now = ctx.now;
    let mut tx = commands.store().pool().begin().await?;
    let row: Option<TokenRow> = sqlx::query_as(
        "SELECT t.family_id, t.customer_id, t.expires_at, t.spent_at, \
                t.revoked_at IS NOT NULL \
                  OR EXISTS (SELECT 1 FROM account_blocks b WHERE b.customer_id = t.customer_id) \
                  AS dead \
         FROM refresh_tokens t WHERE t.token_hash = $1 FOR UPDATE OF t",
    )
    .bind(hash_refresh_token(presented).to_vec())
    .fetch_optional(&mut *tx)
    .await?;
    let Some(row) = row else {
        return Err(unauthorized(INVALID_REFRESH).into());
    };
    let (family, customer_id) = (row.family_id, row.customer_id);
    if row.dead || row.expires_at <= now {
        return Err(unauthorized(INVALID_REFRESH).into());
    }
    if row.spent_at.is_some() {
        revoke_family(&mut tx, family, now).await?;
        tx.commit().await?;
        tracing::warn!(%customer_id, %family, "a spent refresh token was presented again; its family is revoked");
        return Err(unauthorized(REUSED_REFRESH).into());
    }
    sqlx::query("UPDATE refresh_tokens SET spent_at = $2 WHERE token_hash = $1")
        .bind(hash_refresh_token(presented).to_vec())
        .bind(now)
        .execute(&mut *tx)
        .await?;
    let next = NewRefresh::in_family(family);
    sqlx::query(
        "INSERT INTO refresh_tokens (token_hash, family_id, customer_id, issued_at, expires_at) \
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(next.hash.clone())
    .bind(family)
    .bind(customer_id)
    .bind(now)
    .bind(now + REFRESH_TOKEN_TTL)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;

    let state = open_account(commands, ctx, customer_id, None).await?;
    next.session(commands, tokens, state, now).await
}

async fn revoke_family(
    conn: &mut PgConnection,
    family: Uuid,
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE refresh_tokens SET revoked_at = $2 WHERE family_id = $1 AND revoked_at IS NULL",
    )
    .bind(family)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(())
}

/// Ends the session `presented` belongs to, if it is the caller's; anything else is a no-op,
/// so logging out twice is fine.
pub async fn logout(
    commands: &Commands,
    user_id: Uuid,
    presented: &str,
    now: DateTime<Utc>,
) -> Result<(), AccountError> {
    sqlx::query(
        "UPDATE refresh_tokens SET revoked_at = $3 \
         WHERE family_id = (SELECT family_id FROM refresh_tokens \
                            WHERE token_hash = $1 AND customer_id = $2) \
           AND revoked_at IS NULL",
    )
    .bind(hash_refresh_token(presented).to_vec())
    .bind(user_id)
    .bind(now)
    .execute(commands.store().pool())
    .await?;
    Ok(())
}

/// Revokes every session of an account (it is being disabled).
pub(super) fn revoke_all(customer_id: Uuid, now: DateTime<Utc>) -> SideWrite {
    SideWrite::new(
        "UPDATE refresh_tokens SET revoked_at = $2 WHERE customer_id = $1 AND revoked_at IS NULL",
    )
    .bind(customer_id)
    .bind(now)
}
