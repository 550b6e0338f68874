//! Where the simulator keeps what it promised: each request's answer to a later query and the
//! callback still to deliver. In memory (unit tests), or in the database so that a push or a
//! B2C payment in flight when the server stops is still answered, queried and called back
//! after it restarts (`resume`). Several nodes share the table: a delivery is claimed for a
//! while before it is sent, so only one node sends it (a node dying mid-send lets another
//! send it once the claim lapses: callbacks are deduplicated by their receivers).

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::PgPool;

/// One request the simulator took.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Promise {
    pub id: String,
    /// `stk` or `b2c`.
    pub kind: String,
    /// What a query about it answers: Daraja's result code and description.
    pub result_code: String,
    pub result_desc: String,
    pub receipt: Option<String>,
    /// Where the result goes (a B2C payment's ResultURL, answered again to status queries).
    pub url: Option<String>,
    /// The callback still to deliver, if any.
    pub body: Option<Value>,
    pub due_at: DateTime<Utc>,
}

pub enum Memory {
    Local(Mutex<HashMap<String, (Promise, bool)>>),
    Database(PgPool),
}

impl Memory {
    fn local(&self) -> Option<std::sync::MutexGuard<'_, HashMap<String, (Promise, bool)>>> {
        match self {
            // The map stays consistent even if a holder panicked: every write is one insert.
            Self::Local(map) => Some(map.lock().unwrap_or_else(PoisonError::into_inner)),
            Self::Database(_) => None,
        }
    }

    pub async fn keep(&self, promise: &Promise) -> Result<(), sqlx::Error> {
        if let Some(mut map) = self.local() {
            map.insert(promise.id.clone(), (promise.clone(), false));
            return Ok(());
        }
        let Self::Database(pool) = self else {
            return Ok(());
        };
        sqlx::query(
            "INSERT INTO simulator_requests (id, kind, result_code, result_desc, receipt, url, \
                 body, due_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
             ON CONFLICT (id) DO NOTHING",
        )
        .bind(&promise.id)
        .bind(&promise.kind)
        .bind(&promise.result_code)
        .bind(&promise.result_desc)
        .bind(&promise.receipt)
        .bind(&promise.url)
        .bind(&promise.body)
        .bind(promise.due_at)
        .execute(pool)
        .await?;
        Ok(())
    }

    pub async fn find(&self, id: &str) -> Result<Option<Promise>, sqlx::Error> {
        if let Some(map) = self.local() {
            return Ok(map.get(id).map(|(p, _)| p.clone()));
        }
        let Self::Database(pool) = self else {
            return Ok(None);
        };
        sqlx::query_as(
            "SELECT id, kind, result_code, result_desc, receipt, url, body, due_at \
             FROM simulator_requests WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(pool)
        .await
    }

    /// Takes the delivery of `id` for a while; `false` when another node has it or it is done.
    pub async fn claim(&self, id: &str) -> Result<bool, sqlx::Error> {
        if let Some(mut map) = self.local() {
            return Ok(map.get_mut(id).is_some_and(|(_, claimed)| {
                let free = !*claimed;
                *claimed = true;
                free
            }));
        }
        let Self::Database(pool) = self else {
            return Ok(false);
        };
        let claimed = sqlx::query(
            "UPDATE simulator_requests SET claimed_until = now() + interval '30 seconds' \
             WHERE id = $1 AND delivered_at IS NULL \
               AND (claimed_until IS NULL OR claimed_until < now())",
        )
        .bind(id)
        .execute(pool)
        .await?;
        Ok(claimed.rows_affected() == 1)
    }

    pub async fn delivered(&self, id: &str) -> Result<(), sqlx::Error> {
        if let Self::Database(pool) = self {
            sqlx::query("UPDATE simulator_requests SET delivered_at = now() WHERE id = $1")
                .bind(id)
                .execute(pool)
                .await?;
        }
        Ok(())
    }

    /// Deliveries not made yet (in the database: left by a stopped server).
    pub async fn undelivered(&self) -> Result<Vec<Promise>, sqlx::Error> {
        let Self::Database(pool) = self else {
            return Ok(Vec::new());
        };
        sqlx::query_as(
            "SELECT id, kind, result_code, result_desc, receipt, url, body, due_at \
             FROM simulator_requests \
             WHERE delivered_at IS NULL AND body IS NOT NULL \
               AND due_at > now() - interval '1 day' ORDER BY due_at LIMIT 10000",
        )
        .fetch_all(pool)
        .await
    }
}
