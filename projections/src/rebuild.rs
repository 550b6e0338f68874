//! Rebuilding a read model from event 1 into fresh tables beside the live ones (blue/green),
//! then swapping them in, so queries keep answering during the rebuild.
//!
//! The shadow tables live in their own schema and the projector's unqualified table names
//! reach them through `SET LOCAL search_path`. The swap runs in one transaction that first
//! locks the live checkpoint row (waiting out the live batch in flight), applies the last
//! events to the shadow, then replaces the live tables and moves the checkpoint.

use sqlx::{PgConnection, PgPool};
use tillroll_events::LogPosition;

use crate::runner::{load_checkpoint, store_checkpoint};
use crate::{EventFeed, ProjectionError, Projector};

const BATCH: i64 = 5000;

/// Reports progress (events applied so far) to a progress bar or a log.
pub trait RebuildProgress {
    fn advanced(&self, events: u64);
}

impl RebuildProgress for () {
    fn advanced(&self, _: u64) {}
}

fn shadow_schema(projector: &dyn Projector) -> String {
    format!("rebuild_{}", projector.name())
}

async fn use_shadow(conn: &mut PgConnection, schema: &str) -> Result<(), sqlx::Error> {
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "SET LOCAL search_path TO {schema}, public"
    )))
    .execute(conn)
    .await?;
    Ok(())
}

/// Rebuilds one projector's tables; returns the number of events read.
pub async fn rebuild(
    pool: &PgPool,
    feed: &dyn EventFeed,
    projector: &dyn Projector,
    progress: &dyn RebuildProgress,
) -> Result<u64, ProjectionError> {
    let schema = shadow_schema(projector);
    create_shadow(pool, projector, &schema).await?;

    let mut at = LogPosition::START;
    let mut total = 0u64;
    loop {
        let mut tx = pool.begin().await?;
        use_shadow(&mut tx, &schema).await?;
        let events = feed.read_batch(&mut tx, at, BATCH).await?;
        let Some(last) = events.last().map(|e| e.log_position()) else {
            break;
        };
        projector.apply(&mut tx, &events).await?;
        tx.commit().await?;
        at = last;
        total += events.len() as u64;
        progress.advanced(events.len() as u64);
    }

    let mut tx = pool.begin().await?;
    load_checkpoint(&mut tx, projector.name(), true).await?;
    use_shadow(&mut tx, &schema).await?;
    loop {
        let events = feed.read_batch(&mut tx, at, BATCH).await?;
        let Some(last) = events.last().map(|e| e.log_position()) else {
            break;
        };
        projector.apply(&mut tx, &events).await?;
        at = last;
        total += events.len() as u64;
        progress.advanced(events.len() as u64);
    }
    sqlx::query("SET LOCAL search_path TO public")
        .execute(&mut *tx)
        .await?;
    for table in projector.tables() {
        sqlx::query(sqlx::AssertSqlSafe(format!("DROP TABLE public.{table}")))
            .execute(&mut *tx)
            .await?;
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "ALTER TABLE {schema}.{table} SET SCHEMA public"
        )))
        .execute(&mut *tx)
        .await?;
    }
    sqlx::query(sqlx::AssertSqlSafe(format!("DROP SCHEMA {schema}")))
        .execute(&mut *tx)
        .await?;
    store_checkpoint(&mut tx, projector.name(), at).await?;
    tx.commit().await?;
    Ok(total)
}

async fn create_shadow(
    pool: &PgPool,
    projector: &dyn Projector,
    schema: &str,
) -> Result<(), sqlx::Error> {
    let mut tx = pool.begin().await?;
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "DROP SCHEMA IF EXISTS {schema} CASCADE"
    )))
    .execute(&mut *tx)
    .await?;
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
        .execute(&mut *tx)
        .await?;
    for table in projector.tables() {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "CREATE TABLE {schema}.{table} (LIKE public.{table} INCLUDING ALL)"
        )))
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await
}
