//! A unit of work: the aggregates one command loads, the events it decides, and the rows it
//! must write beside them, all committed in one transaction.

use std::collections::HashMap;
use std::sync::Arc;

use sqlx::Arguments;
use sqlx::postgres::PgArguments;
use tillroll_events::{DomainEvent, StreamId};
use uuid::Uuid;

use super::cache::{AggregateCache, Cached};
use super::{CommandContext, CommandError, Rejection};
use crate::domain::Aggregate;
use crate::store::{AppendResult, EventStore, ExpectedVersion, NewEvent, StreamAppend, snapshot};

/// A row written in the command's transaction (an email reservation, a credential…). A unique
/// violation of `unique_constraint` becomes `on_duplicate` instead of an error.
pub struct SideWrite {
    sql: &'static str,
    args: PgArguments,
    unique_constraint: Option<(&'static str, Rejection)>,
}

impl SideWrite {
    pub fn new(sql: &'static str) -> Self {
        Self {
            sql,
            args: PgArguments::default(),
            unique_constraint: None,
        }
    }

    pub fn bind<'q, T>(mut self, value: T) -> Self
    where
        T: 'q + sqlx::Encode<'q, sqlx::Postgres> + sqlx::Type<sqlx::Postgres> + Send,
    {
        self.args.add(value).expect("argument encodes");
        self
    }

    pub fn on_duplicate(mut self, constraint: &'static str, rejection: Rejection) -> Self {
        self.unique_constraint = Some((constraint, rejection));
        self
    }
}

struct Loaded {
    /// From this process's cache: possibly stale, so confirmed before the command answers.
    from_cache: bool,
    expected: i64,
    version: i64,
    state: Arc<dyn std::any::Any + Send + Sync>,
    state_version: i32,
    to_json: fn(&(dyn std::any::Any + Send + Sync)) -> serde_json::Value,
}

pub struct UnitOfWork<'a> {
    store: &'a EventStore,
    cache: &'a AggregateCache,
    ctx: &'a CommandContext,
    loaded: HashMap<StreamId, Loaded>,
    appends: Vec<StreamAppend>,
    side_writes: Vec<SideWrite>,
}

pub(super) struct Committed {
    pub position: Option<i64>,
    pub event_ids: Vec<Uuid>,
    pub snapshots: Vec<(String, i64, i32, serde_json::Value)>,
}

fn state_json<A: Aggregate>(state: &(dyn std::any::Any + Send + Sync)) -> serde_json::Value {
    let state = state
        .downcast_ref::<A>()
        .expect("state type matches its stream");
    serde_json::to_value(state).expect("aggregate state serialises")
}

impl<'a> UnitOfWork<'a> {
    pub(super) fn new(
        store: &'a EventStore,
        cache: &'a AggregateCache,
        ctx: &'a CommandContext,
    ) -> Self {
        Self {
            store,
            cache,
            ctx,
            loaded: HashMap::new(),
            appends: Vec::new(),
            side_writes: Vec::new(),
        }
    }

    pub fn context(&self) -> &CommandContext {
        self.ctx
    }

    /// The aggregate's current state (with anything already decided in this unit applied)
    /// and its version.
    pub async fn load<A: Aggregate>(
        &mut self,
        stream: &StreamId,
    ) -> Result<(A, i64), CommandError> {
        if let Some(loaded) = self.loaded.get(stream) {
            let state = loaded
                .state
                .downcast_ref::<A>()
                .expect("a stream holds one aggregate type");
            return Ok((state.clone(), loaded.version));
        }
        let (from_cache, version, state) = match self.cache.get(stream.as_str()) {
            Some(Cached { version, state }) if state.is::<A>() => (
                true,
                version,
                state.downcast_ref::<A>().expect("checked").clone(),
            ),
            _ => {
                let (version, state) = load_from_store::<A>(self.store, stream).await?;
                (false, version, state)
            }
        };
        self.loaded.insert(
            stream.clone(),
            Loaded {
                from_cache,
                expected: version,
                version,
                state: Arc::new(state.clone()),
                state_version: A::STATE_VERSION,
                to_json: state_json::<A>,
            },
        );
        Ok((state, version))
    }

    /// Records decided events for a stream loaded earlier in this unit and evolves its state.
    pub fn append<A: Aggregate>(&mut self, stream: &StreamId, events: Vec<A::Event>) {
        if events.is_empty() {
            return;
        }
        let loaded = self
            .loaded
            .get_mut(stream)
            .expect("a stream is loaded before it is appended to");
        let mut state = loaded
            .state
            .downcast_ref::<A>()
            .expect("a stream holds one aggregate type")
            .clone();
        for event in &events {
            state.evolve(event);
        }
        loaded.version += events.len() as i64;
        loaded.state = Arc::new(state);
        let metadata = self.ctx.metadata();
        let new_events = events
            .iter()
            .map(|e| NewEvent::new(e.encode(), metadata.clone()));
        match self.appends.iter_mut().find(|a| &a.stream_id == stream) {
            Some(append) => append.events.extend(new_events),
            None => self.appends.push(StreamAppend {
                stream_id: stream.clone(),
                expected: ExpectedVersion::Exact(loaded.expected),
                events: new_events.collect(),
            }),
        }
    }

    pub fn also(&mut self, write: SideWrite) {
        self.side_writes.push(write);
    }

    /// Streams this unit decided on from the cache without appending to them, with the
    /// version it saw: the append confirms them in the same statement.
    fn cached_reads(&self) -> Vec<(String, i64)> {
        self.loaded
            .iter()
            .filter(|(stream, loaded)| {
                loaded.from_cache && !self.appends.iter().any(|a| &a.stream_id == *stream)
            })
            .map(|(stream, loaded)| (stream.as_str().to_owned(), loaded.expected))
            .collect()
    }

    /// For a decision that appends nothing (a rejection, a no-op): `true` when every stream it
    /// decided on from the cache is still at the version it saw (one query; none when nothing
    /// came from the cache). Stale entries are evicted, so the next attempt reads the store.
    pub(super) async fn confirm(&self) -> Result<bool, CommandError> {
        let cached: Vec<(&StreamId, i64)> = self
            .loaded
            .iter()
            .filter(|(_, loaded)| loaded.from_cache)
            .map(|(stream, loaded)| (stream, loaded.expected))
            .collect();
        if cached.is_empty() {
            return Ok(true);
        }
        let names: Vec<String> = cached.iter().map(|(s, _)| s.as_str().to_owned()).collect();
        let versions = self.store.stream_versions(&names).await?;
        let mut fresh = true;
        for ((stream, seen), actual) in cached.iter().zip(versions) {
            if *seen != actual {
                fresh = false;
                self.cache.evict(stream.as_str());
            }
        }
        Ok(fresh)
    }

    pub(super) async fn commit(mut self) -> Result<Committed, CommandError> {
        if self.appends.is_empty() && self.side_writes.is_empty() {
            if !self.confirm().await? {
                return Err(CommandError::Conflict("a cached stream".to_owned()));
            }
            return Ok(Committed {
                position: None,
                event_ids: Vec::new(),
                snapshots: Vec::new(),
            });
        }
        let reads = self.cached_reads();
        let started = std::time::Instant::now();
        let result = if self.side_writes.is_empty() {
            // One statement in the common case (see EventStore::append).
            match self.store.append_confirming(&self.appends, &reads).await {
                Ok(result) => result,
                Err(error) => {
                    self.evict_all();
                    return Err(error.into());
                }
            }
        } else {
            match self.commit_with_side_writes().await {
                Ok(result) => result,
                Err(error) => {
                    self.evict_all();
                    return Err(error);
                }
            }
        };
        crate::metrics::appended(started.elapsed(), result.event_ids.len());

        let erased = self
            .appends
            .iter()
            .flat_map(|a| &a.events)
            .any(|e| e.event.personal.erases);
        if erased {
            // Cached states may hold the person's plaintext (an order's phone).
            self.cache.clear();
            return Ok(Committed {
                position: (!result.event_ids.is_empty()).then_some(result.last),
                event_ids: result.event_ids,
                snapshots: Vec::new(),
            });
        }
        let mut snapshots = Vec::new();
        for (stream, loaded) in &self.loaded {
            self.cache.put(
                stream.as_str(),
                Cached {
                    version: loaded.version,
                    state: loaded.state.clone(),
                },
            );
            if loaded.version / snapshot::EVERY > loaded.expected / snapshot::EVERY {
                snapshots.push((
                    stream.to_string(),
                    loaded.version,
                    loaded.state_version,
                    (loaded.to_json)(loaded.state.as_ref()),
                ));
            }
        }
        Ok(Committed {
            position: (!result.event_ids.is_empty()).then_some(result.last),
            event_ids: result.event_ids,
            snapshots,
        })
    }

    /// The events and the side rows in one transaction.
    async fn commit_with_side_writes(&mut self) -> Result<AppendResult, CommandError> {
        let reads = self.cached_reads();
        let mut tx = self.store.pool().begin().await?;
        let result = match self
            .store
            .append_in_tx_confirming(&mut tx, &self.appends, &reads)
            .await
        {
            Ok(result) => result,
            Err(error) => {
                self.evict_all();
                return Err(error.into());
            }
        };
        for write in std::mem::take(&mut self.side_writes) {
            if let Err(error) = sqlx::query_with(write.sql, write.args)
                .execute(&mut *tx)
                .await
            {
                if let (Some(db), Some((constraint, rejection))) =
                    (error.as_database_error(), write.unique_constraint)
                    && db.constraint() == Some(constraint)
                {
                    return Err(CommandError::Rejected(rejection));
                }
                return Err(error.into());
            }
        }
        tx.commit().await?;
        self.store.committed(&result);
        Ok(result)
    }

    fn evict_all(&self) {
        for stream in self.loaded.keys() {
            self.cache.evict(stream.as_str());
        }
    }
}

/// Snapshot (if any) plus the events after it.
pub async fn load_from_store<A: Aggregate>(
    store: &EventStore,
    stream: &StreamId,
) -> Result<(i64, A), CommandError> {
    let (mut version, mut state) =
        snapshot::load::<A>(store.pool(), stream.as_str(), A::STATE_VERSION)
            .await?
            .unwrap_or_default();
    for recorded in store.read_stream(stream.as_str(), version).await? {
        let event: A::Event = recorded.decode().map_err(crate::store::StoreError::from)?;
        state.evolve(&event);
        version = recorded.version;
    }
    Ok((version, state))
}
