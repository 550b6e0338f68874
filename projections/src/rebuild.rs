//! Rebuilding read models from event 1 into fresh tables beside the live ones (blue/green),
//! then swapping them in, so queries keep answering during the rebuild.
//!
//! The shadow tables live in one schema per projector and the projectors' unqualified table
//! names reach them through `SET LOCAL search_path` (table names are unique across
//! projectors). Several projectors rebuild in one pass over the log. The swap runs in one
//! transaction that first locks the live checkpoint rows (waiting out a live batch in
//! flight), applies the last events to the shadows, then replaces the live tables and moves
//! the checkpoints.

use sqlx::{PgConnection, PgPool};
use tillroll_events::LogPosition;

use crate::runner::{load_checkpoint, store_checkpoint};
use crate::{EventFeed, ProjectionError, Projector};

const BATCH: i64 = 5000;

/// Reports progress (events read so far) to a progress bar or a log.
pub trait RebuildProgress {
    fn advanced(&self, events: u64);
}

impl RebuildProgress for () {
    fn advanced(&self, _: u64) {}
}

fn shadow_schema(projector: &dyn Projector) -> String {
    format!("rebuild_{}", projector.name())
}

async fn use_shadows(
    conn: &mut PgConnection,
    projectors: &[&dyn Projector],
) -> Result<(), sqlx::Error> {
    let schemas: Vec<String> = projectors.iter().map(|p| shadow_schema(*p)).collect();
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "SET LOCAL search_path TO {}, public",
        schemas.join(", ")
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
    rebuild_all(pool, feed, &[projector], progress).await
}

/// Reads events after `at` on `conn` and applies them to every projector; returns the new
/// position and the number read, or `None` at the end of the log.
async fn apply_batch(
    conn: &mut PgConnection,
    feed: &dyn EventFeed,
    projectors: &[&dyn Projector],
    at: LogPosition,
) -> Result<Option<(LogPosition, u64)>, ProjectionError> {
    let events = feed.read_batch(conn, at, BATCH).await?;
    let Some(last) = events.last().map(|e| e.log_position()) else {
        return Ok(None);
    };
    for projector in projectors {
        projector.apply(conn, &events).await?;
    }
    Ok(Some((last, events.len() as u64)))
}

/// Rebuilds several projectors in one pass over the log; returns the number of events read.
pub async fn rebuild_all(
    pool: &PgPool,
    feed: &dyn EventFeed,
    projectors: &[&dyn Projector],
    progress: &dyn RebuildProgress,
) -> Result<u64, ProjectionError> {
    for projector in projectors {
        create_shadow(pool, *projector).await?;
    }
    let mut at = LogPosition::START;
    let mut total = 0u64;
    loop {
        let mut tx = pool.begin().await?;
        use_shadows(&mut tx, projectors).await?;
        let Some((last, read)) = apply_batch(&mut tx, feed, projectors, at).await? else {
            break;
        };
        tx.commit().await?;
        at = last;
        total += read;
        progress.advanced(read);
    }

    // Fresh tables have no planner statistics: gather them before queries meet the tables.
    for projector in projectors {
        let schema = shadow_schema(*projector);
        for table in projector.tables() {
            sqlx::query(sqlx::AssertSqlSafe(format!("ANALYZE {schema}.{table}")))
                .execute(pool)
                .await?;
        }
    }

    let mut tx = pool.begin().await?;
    for projector in projectors {
        load_checkpoint(&mut tx, projector.name(), true).await?;
    }
    use_shadows(&mut tx, projectors).await?;
    while let Some((last, read)) = apply_batch(&mut tx, feed, projectors, at).await? {
        at = last;
        total += read;
        progress.advanced(read);
    }
    sqlx::query("SET LOCAL search_path TO public")
        .execute(&mut *tx)
        .await?;
    for projector in projectors {
        let schema = shadow_schema(*projector);
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
    }
    tx.commit().await?;
    Ok(total)
}

async fn create_shadow(pool: &PgPool, projector: &dyn Projector) -> Result<(), sqlx::Error> {
    let schema = shadow_schema(projector);
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
