//! [`run`]: `Commands::run` for deciders whose future must be `Send` (every HTTP handler's).
//!
//! `Commands::run` takes an `AsyncFnMut`; the future of such a closure borrows the closure
//! and the unit of work under a higher-ranked lifetime, and today's compiler cannot prove
//! that future `Send` inside an axum handler ("implementation of `Send` is not general
//! enough", rust-lang/rust#110338 and its duplicates). Here the decision is a plain closure
//! that returns a boxed `Send` future borrowing only the unit of work: it clones what it
//! needs from its captures into the future. The locking, retry and commit are
//! `Commands::run`'s, unchanged.

use futures_util::future::BoxFuture;
use tillroll_events::StreamId;

use crate::commands::unit::UnitOfWork;
use crate::commands::{CommandContext, CommandError, Commands, MAX_ATTEMPTS, Outcome};

/// A decision: everything it keeps across an `.await` is owned, except the unit of work.
pub type Decision<'u, T> = BoxFuture<'u, Result<T, CommandError>>;

pub async fn run<T, F>(
    commands: &Commands,
    ctx: &CommandContext,
    lock: &[StreamId],
    mut decide: F,
) -> Result<Outcome<T>, CommandError>
where
    F: for<'u, 'w> FnMut(&'u mut UnitOfWork<'w>) -> Decision<'u, T>,
{
    let names: Vec<String> = lock.iter().map(|s| s.as_str().to_owned()).collect();
    let _guards = commands.cache.lock_streams(&names).await;
    let mut attempt = 0;
    loop {
        attempt += 1;
        let mut unit = UnitOfWork::new(&commands.store, &commands.cache, ctx);
        let value = decide(&mut unit).await?;
        match unit.commit().await {
            Ok(committed) => {
                commands.after_commit(&committed.snapshots).await;
                return Ok(Outcome {
                    value,
                    position: committed.position,
                    event_ids: committed.event_ids,
                });
            }
            Err(CommandError::Conflict(stream)) if attempt < MAX_ATTEMPTS => {
                tracing::debug!(%stream, attempt, "version conflict; deciding again");
            }
            Err(error) => return Err(error),
        }
    }
}
