//! Appending events to one or many streams in one transaction, with expected versions.

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::{PgConnection, Postgres, Transaction};
use tillroll_events::{EncodedEvent, Metadata, StreamId};
use uuid::Uuid;

use super::hash::{self, GENESIS, HashInput};
use super::heads::{Head, HeadCache};
use super::vault::{self, Sealed};
use super::{EventStore, StoreError};

/// Tries of an append whose `Any` stream was extended by an `Exact` writer under it.
const ANY_ATTEMPTS: u64 = 10;

/// What the writer believes about a stream before appending to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExpectedVersion {
    /// The stream must not exist yet.
    NoStream,
    /// The stream's last version must be exactly this (0 means "no stream").
    Exact(i64),
    /// Append whatever the stream's version; still safe against concurrent appends.
    Any,
}

#[derive(Debug, Clone)]
pub struct NewEvent {
    pub event_id: Uuid,
    pub event: EncodedEvent,
    pub metadata: Metadata,
}

impl NewEvent {
    pub fn new(event: EncodedEvent, metadata: Metadata) -> Self {
        Self {
            event_id: Uuid::now_v7(),
            event,
            metadata,
        }
    }
}

#[derive(Debug, Clone)]
pub struct StreamAppend {
    pub stream_id: StreamId,
    pub expected: ExpectedVersion,
    pub events: Vec<NewEvent>,
}

#[derive(Debug, Clone, Default)]
pub struct AppendResult {
    /// The new version of every stream appended to, in the order given.
    pub versions: Vec<(StreamId, i64)>,
    /// The position of the last event appended (what `X-Log-Position` carries); 0 when
    /// nothing was appended.
    pub last: i64,
    /// The ids of the appended events, in append order (for causation links).
    pub event_ids: Vec<Uuid>,
    /// The new head of every stream appended to, for the head cache once committed.
    pub(crate) heads: Vec<(String, Head)>,
}

impl AppendResult {
    pub fn version_of(&self, stream: &StreamId) -> Option<i64> {
        self.versions
            .iter()
            .find(|(s, _)| s == stream)
            .map(|(_, v)| *v)
    }
}

impl EventStore {
    /// Appends to every stream in `appends` atomically: all events or none.
    ///
    /// The common case is one round trip: stream heads come from the head cache (or need no
    /// read for a new stream), and the rows go in with one multi-row INSERT, which is atomic
    /// on its own. Appends that seal personal data or erase a person need several statements
    /// and run in a transaction.
    ///
    /// Writers appending to a stream with [`ExpectedVersion::Any`] queue on a per-stream
    /// advisory lock (in a transaction), so they never collide with each other, in this
    /// process or another. A writer with an exact version does not queue: if it extends the
    /// stream between our read of the head and our insert, that is no conflict for this
    /// caller, and the append is tried again on the new head.
    pub async fn append(&self, appends: &[StreamAppend]) -> Result<AppendResult, StoreError> {
        self.append_confirming(appends, &[]).await
    }

    /// As [`EventStore::append`], also confirming in the same statement that each of `reads`
    /// (streams a decision read without appending to them) is still at the given version; if
    /// one moved, nothing is appended and the answer is a conflict on it.
    pub async fn append_confirming(
        &self,
        appends: &[StreamAppend],
        reads: &[(String, i64)],
    ) -> Result<AppendResult, StoreError> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            match self.append_once(appends, reads).await {
                Err(StoreError::Conflict {
                    expected: ExpectedVersion::Any,
                    ..
                }) if attempt < ANY_ATTEMPTS => {
                    // A little jitter so writers racing on one stream spread out.
                    let pause = rand::random::<u64>() % (attempt * 500);
                    tokio::time::sleep(std::time::Duration::from_micros(pause)).await;
                }
                other => return other,
            }
        }
    }

    async fn append_once(
        &self,
        appends: &[StreamAppend],
        reads: &[(String, i64)],
    ) -> Result<AppendResult, StoreError> {
        let result = if vault::needs_transaction(appends) || has_any(appends) {
            let mut tx = self.pool().begin().await?;
            let result = append_in(&mut tx, appends, reads, &self.heads).await?;
            tx.commit().await?;
            result
        } else {
            self.append_grouped(appends, reads).await?
        };
        self.committed(&result);
        Ok(result)
    }

    /// An append of plain events to streams at known versions: prepared here, committed with
    /// the other appends waiting at the same moment (`group.rs`).
    async fn append_grouped(
        &self,
        appends: &[StreamAppend],
        reads: &[(String, i64)],
    ) -> Result<AppendResult, StoreError> {
        let heads = match cached_heads(appends, &self.heads) {
            Some(heads) => heads,
            None => {
                let mut conn = self.pool().acquire().await?;
                resolve_heads(&mut conn, appends, &self.heads).await?
            }
        };
        for (append, head) in appends.iter().zip(&heads) {
            check_expected(append, head.as_ref())?;
        }
        let sealed = appends
            .iter()
            .map(|a| {
                a.events
                    .iter()
                    .map(|e| Sealed {
                        subject: None,
                        data: e.event.data.clone(),
                    })
                    .collect()
            })
            .collect();
        let prepared = prepare(appends, heads, sealed);
        if prepared.rows.event_ids.is_empty() {
            return Ok(prepared.into_result(0));
        }
        let Prepared {
            rows,
            versions,
            heads,
        } = prepared;
        let event_ids = rows.event_ids.clone();
        let inserted = self.group.insert(self.pool(), rows, reads.to_vec()).await;
        Ok(AppendResult {
            versions,
            last: inserted_last(inserted, appends, reads, &self.heads)?,
            event_ids,
            heads,
        })
    }

    /// For commands that must write something beside the events in the same transaction
    /// (an email reservation, a credential): the caller commits, then calls
    /// [`EventStore::committed`].
    pub async fn append_in_tx(
        &self,
        tx: &mut Transaction<'_, Postgres>,
        appends: &[StreamAppend],
    ) -> Result<AppendResult, StoreError> {
        append_in(tx, appends, &[], &self.heads).await
    }

    /// As [`EventStore::append_in_tx`], confirming `reads` as
    /// [`EventStore::append_confirming`] does.
    pub async fn append_in_tx_confirming(
        &self,
        tx: &mut Transaction<'_, Postgres>,
        appends: &[StreamAppend],
        reads: &[(String, i64)],
    ) -> Result<AppendResult, StoreError> {
        append_in(tx, appends, reads, &self.heads).await
    }

    /// The current version of each stream (0 for none), in one query.
    pub async fn stream_versions(&self, streams: &[String]) -> Result<Vec<i64>, StoreError> {
        let mut conn = self.pool().acquire().await?;
        let heads = read_heads(&mut conn, streams).await?;
        for (stream, head) in streams.iter().zip(&heads) {
            match head {
                Some(head) => self.heads.put(stream, head.clone()),
                None => self.heads.evict(stream),
            }
        }
        Ok(heads
            .into_iter()
            .map(|h| h.map_or(0, |h| h.version))
            .collect())
    }

    /// After the appends' transaction committed: remembers the new stream heads and asks
    /// the sequencer to give the new events their log index (which then wakes the readers).
    /// Never before the commit: a rolled-back head would poison the cache.
    pub fn committed(&self, result: &AppendResult) {
        for (stream, head) in &result.heads {
            self.heads.put(stream, head.clone());
        }
        if !result.event_ids.is_empty() {
            self.sequencer_kick();
        }
    }
}

fn has_any(appends: &[StreamAppend]) -> bool {
    appends.iter().any(|a| a.expected == ExpectedVersion::Any)
}

/// Takes the transaction-scoped advisory lock of every `Any` stream, in one statement and a
/// global (sorted) order so that two writers can never deadlock. Must run in a transaction.
async fn queue_on_any_streams(
    conn: &mut PgConnection,
    appends: &[StreamAppend],
) -> Result<(), StoreError> {
    let mut streams: Vec<&str> = appends
        .iter()
        .filter(|a| a.expected == ExpectedVersion::Any)
        .map(|a| a.stream_id.as_str())
        .collect();
    if streams.is_empty() {
        return Ok(());
    }
    streams.sort_unstable();
    streams.dedup();
    sqlx::query(
        // A plain function scan yields the array in order: the locks are taken sorted.
        "SELECT pg_advisory_xact_lock(hashtextextended(s, 0)) FROM unnest($1::text[]) AS t(s)",
    )
    .bind(&streams)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

async fn append_in(
    conn: &mut PgConnection,
    appends: &[StreamAppend],
    reads: &[(String, i64)],
    cache: &HeadCache,
) -> Result<AppendResult, StoreError> {
    queue_on_any_streams(conn, appends).await?;
    let heads = resolve_heads(conn, appends, cache).await?;
    for (append, head) in appends.iter().zip(&heads) {
        check_expected(append, head.as_ref())?;
    }
    // Personal fields are sealed before hashing: the chain covers what is stored.
    let sealed = vault::seal(conn, appends).await?;
    let prepared = prepare(appends, heads, sealed);
    if prepared.rows.event_ids.is_empty() {
        return Ok(prepared.into_result(0));
    }
    let inserted = insert_rows(conn, &prepared.rows, reads).await;
    let last = inserted_last(inserted, appends, reads, cache)?;
    // Closing an account erases the person in the same transaction.
    for personal in appends
        .iter()
        .flat_map(|a| &a.events)
        .map(|e| e.event.personal)
        .filter(|p| p.erases)
    {
        if let Some(subject) = personal.subject {
            vault::shred(conn, subject).await?;
        }
    }
    // Subscribers are woken by `EventStore::committed`, after the commit.
    Ok(prepared.into_result(last))
}

/// An append's rows, hashed on the heads it expects, and what they make of its streams.
struct Prepared {
    rows: Rows,
    /// Each stream's new version, in the order the caller gave.
    versions: Vec<(StreamId, i64)>,
    heads: Vec<(String, Head)>,
}

impl Prepared {
    fn into_result(self, last: i64) -> AppendResult {
        AppendResult {
            versions: self.versions,
            last,
            event_ids: self.rows.event_ids,
            heads: self.heads,
        }
    }
}

fn prepare(
    appends: &[StreamAppend],
    heads: Vec<Option<Head>>,
    sealed: Vec<Vec<Sealed>>,
) -> Prepared {
    let recorded_at = hash::truncate_to_micros(Utc::now());
    let mut rows = Rows::default();
    let mut versions = Vec::with_capacity(appends.len());
    let mut new_heads = Vec::with_capacity(appends.len());
    // Rows go in in stream-id order, whatever order the command named its streams in: two
    // appends touching the same streams take their index entries in one global order and
    // cannot deadlock (DESIGN §8).
    let mut ordered: Vec<_> = appends.iter().zip(heads).zip(sealed).collect();
    ordered.sort_by(|((a, _), _), ((b, _), _)| a.stream_id.as_str().cmp(b.stream_id.as_str()));
    for ((append, head), sealed) in ordered {
        let (mut version, mut previous) = match head {
            Some(h) => (h.version, h.hash),
            None => (0, GENESIS.to_vec()),
        };
        for (new, sealed) in append.events.iter().zip(sealed) {
            version += 1;
            let metadata = serde_json::to_value(&new.metadata).expect("metadata serialises");
            let hash = hash::event_hash(
                &previous,
                &HashInput {
                    stream_id: append.stream_id.as_str(),
                    version,
                    event_type: &new.event.event_type,
                    schema_version: new.event.schema_version,
                    data: &sealed.data,
                    metadata: &metadata,
                    recorded_at,
                },
            );
            rows.push(
                append.stream_id.as_str(),
                version,
                new,
                sealed,
                metadata,
                hash.clone(),
                recorded_at,
            );
            previous = hash;
        }
        versions.push((append.stream_id.clone(), version));
        new_heads.push((
            append.stream_id.as_str().to_owned(),
            Head {
                version,
                hash: previous,
            },
        ));
    }
    // Back to the order the caller gave.
    let versions: Vec<(StreamId, i64)> = appends
        .iter()
        .filter_map(|a| versions.iter().find(|(s, _)| *s == a.stream_id).cloned())
        .collect();
    Prepared {
        rows,
        versions,
        heads: new_heads,
    }
}

/// The last position of an insert, or the conflict it met.
fn inserted_last(
    inserted: Result<Option<Vec<i64>>, sqlx::Error>,
    appends: &[StreamAppend],
    reads: &[(String, i64)],
    cache: &HeadCache,
) -> Result<i64, StoreError> {
    match inserted {
        Ok(Some(positions)) => Ok(positions.into_iter().max().unwrap_or_default()),
        Ok(None) => {
            // A stream the decision only read has moved on: decide again.
            let (stream_id, version) = &reads[0];
            Err(StoreError::Conflict {
                stream_id: stream_id.clone(),
                expected: ExpectedVersion::Exact(*version),
                actual: None,
            })
        }
        Err(error) => {
            // A stale cached head is one way to get here: forget what we assumed.
            for append in appends {
                cache.evict(append.stream_id.as_str());
            }
            Err(conflict_from_unique_violation(error, appends))
        }
    }
}

/// Each stream's head as far as the expected version needs it: a new stream needs no read
/// (a concurrent creator makes the insert fail, which is the conflict), an exact version
/// known to the cache needs none either; the rest are read in one query.
async fn resolve_heads(
    conn: &mut PgConnection,
    appends: &[StreamAppend],
    cache: &HeadCache,
) -> Result<Vec<Option<Head>>, StoreError> {
    let mut heads = known_heads(appends, cache);
    let unknown: Vec<String> = appends
        .iter()
        .zip(&heads)
        .filter(|(_, h)| h.is_none())
        .map(|(a, _)| a.stream_id.as_str().to_owned())
        .collect();
    if !unknown.is_empty() {
        let mut read = read_heads(conn, &unknown).await?.into_iter();
        for head in heads.iter_mut().filter(|h| h.is_none()) {
            *head = Some(read.next().flatten());
        }
    }
    Ok(heads.into_iter().map(Option::flatten).collect())
}

/// Each stream's head when it needs no read (`None` where it does).
fn known_heads(appends: &[StreamAppend], cache: &HeadCache) -> Vec<Option<Option<Head>>> {
    appends
        .iter()
        .map(|a| match a.expected {
            ExpectedVersion::NoStream | ExpectedVersion::Exact(0) => Some(None),
            ExpectedVersion::Exact(n) => cache
                .get(a.stream_id.as_str())
                .filter(|h| h.version == n)
                .map(Some),
            ExpectedVersion::Any => None,
        })
        .collect()
}

/// Every stream's head without a database read, when that is possible.
fn cached_heads(appends: &[StreamAppend], cache: &HeadCache) -> Option<Vec<Option<Head>>> {
    known_heads(appends, cache).into_iter().collect()
}

async fn read_heads(
    conn: &mut PgConnection,
    streams: &[String],
) -> Result<Vec<Option<Head>>, StoreError> {
    let found: Vec<(String, Option<i64>, Option<Vec<u8>>)> = sqlx::query_as(
        "SELECT s.stream_id, e.stream_version, e.hash \
         FROM unnest($1::text[]) WITH ORDINALITY AS s(stream_id, ord) \
         LEFT JOIN LATERAL ( \
             SELECT stream_version, hash FROM events \
             WHERE events.stream_id = s.stream_id \
             ORDER BY stream_version DESC LIMIT 1 \
         ) e ON true \
         ORDER BY s.ord",
    )
    .bind(streams)
    .fetch_all(&mut *conn)
    .await?;
    Ok(found
        .into_iter()
        .map(|(_, version, hash)| match (version, hash) {
            (Some(version), Some(hash)) => Some(Head { version, hash }),
            _ => None,
        })
        .collect())
}

fn check_expected(append: &StreamAppend, head: Option<&Head>) -> Result<(), StoreError> {
    let actual = head.map(|h| h.version);
    let ok = match append.expected {
        ExpectedVersion::Any => true,
        ExpectedVersion::NoStream | ExpectedVersion::Exact(0) => actual.is_none(),
        ExpectedVersion::Exact(n) => actual == Some(n),
    };
    if ok {
        Ok(())
    } else {
        Err(StoreError::Conflict {
            stream_id: append.stream_id.to_string(),
            expected: append.expected,
            actual,
        })
    }
}

/// A concurrent writer inserted the same (stream, version) between our read of the head and
/// our insert: that is the optimistic-concurrency conflict, never something to ignore.
fn conflict_from_unique_violation(error: sqlx::Error, appends: &[StreamAppend]) -> StoreError {
    let Some(db) = error.as_database_error() else {
        return StoreError::Database(error);
    };
    if db.constraint() != Some("events_stream_version_key") {
        return StoreError::Database(error);
    }
    let detail = db
        .try_downcast_ref::<sqlx::postgres::PgDatabaseError>()
        .and_then(|pg| pg.detail())
        .unwrap_or_default();
    let append = appends
        .iter()
        .find(|a| detail.contains(a.stream_id.as_str()))
        .unwrap_or(&appends[0]);
    StoreError::Conflict {
        stream_id: append.stream_id.to_string(),
        expected: append.expected,
        actual: None,
    }
}

/// Event rows as the insert binds them: one array per column.
#[derive(Default, Clone)]
pub(crate) struct Rows {
    stream_ids: Vec<String>,
    versions: Vec<i64>,
    event_ids: Vec<Uuid>,
    types: Vec<String>,
    schema_versions: Vec<i32>,
    data: Vec<Value>,
    metadata: Vec<Value>,
    hashes: Vec<Vec<u8>>,
    subjects: Vec<Option<Uuid>>,
    recorded_at: Vec<DateTime<Utc>>,
}

impl Rows {
    #[expect(clippy::too_many_arguments, reason = "one event row's columns")]
    fn push(
        &mut self,
        stream: &str,
        version: i64,
        new: &NewEvent,
        sealed: Sealed,
        metadata: Value,
        hash: Vec<u8>,
        recorded_at: DateTime<Utc>,
    ) {
        self.stream_ids.push(stream.to_owned());
        self.versions.push(version);
        self.event_ids.push(new.event_id);
        self.types.push(new.event.event_type.clone());
        self.schema_versions.push(new.event.schema_version);
        self.data.push(sealed.data);
        self.metadata.push(metadata);
        self.hashes.push(hash);
        self.subjects.push(sealed.subject);
        self.recorded_at.push(recorded_at);
    }

    pub(crate) fn len(&self) -> usize {
        self.event_ids.len()
    }

    pub(crate) fn event_ids(&self) -> &[Uuid] {
        &self.event_ids
    }

    /// The streams written (once per row).
    pub(crate) fn streams(&self) -> impl Iterator<Item = &str> {
        self.stream_ids.iter().map(String::as_str)
    }

    /// The rows in (stream, version) order: the order in which every append takes its index
    /// entries, so that two can never wait on each other.
    pub(crate) fn in_stream_order(&self) -> Rows {
        let mut order: Vec<usize> = (0..self.len()).collect();
        order.sort_by(|&a, &b| {
            (&self.stream_ids[a], self.versions[a]).cmp(&(&self.stream_ids[b], self.versions[b]))
        });
        fn permuted<T: Clone>(column: &[T], order: &[usize]) -> Vec<T> {
            order.iter().map(|&i| column[i].clone()).collect()
        }
        Rows {
            stream_ids: permuted(&self.stream_ids, &order),
            versions: permuted(&self.versions, &order),
            event_ids: permuted(&self.event_ids, &order),
            types: permuted(&self.types, &order),
            schema_versions: permuted(&self.schema_versions, &order),
            data: permuted(&self.data, &order),
            metadata: permuted(&self.metadata, &order),
            hashes: permuted(&self.hashes, &order),
            subjects: permuted(&self.subjects, &order),
            recorded_at: permuted(&self.recorded_at, &order),
        }
    }

    /// Another append's rows after these (a group commit's batch).
    pub(crate) fn extend(&mut self, other: &Rows) {
        self.stream_ids.extend_from_slice(&other.stream_ids);
        self.versions.extend_from_slice(&other.versions);
        self.event_ids.extend_from_slice(&other.event_ids);
        self.types.extend_from_slice(&other.types);
        self.schema_versions
            .extend_from_slice(&other.schema_versions);
        self.data.extend_from_slice(&other.data);
        self.metadata.extend_from_slice(&other.metadata);
        self.hashes.extend_from_slice(&other.hashes);
        self.subjects.extend_from_slice(&other.subjects);
        self.recorded_at.extend_from_slice(&other.recorded_at);
    }
}

/// One multi-row insert for every row; returns each row's position in row order, or `None`
/// when one of `reads` is no longer at its version (then nothing is inserted).
pub(crate) async fn insert_rows(
    conn: &mut PgConnection,
    rows: &Rows,
    reads: &[(String, i64)],
) -> Result<Option<Vec<i64>>, sqlx::Error> {
    let (read_streams, read_versions): (Vec<&str>, Vec<i64>) =
        reads.iter().map(|(s, v)| (s.as_str(), *v)).unzip();
    let positions: Vec<(i64,)> = sqlx::query_as(
        "WITH inserted AS ( \
             INSERT INTO events (stream_id, stream_version, event_id, event_type, schema_version, \
                                 data, metadata, recorded_at, hash, pii_subject) \
             SELECT stream_id, stream_version, event_id, event_type, schema_version, data, \
                    metadata, recorded_at, hash, pii_subject \
             FROM unnest($1::text[], $2::bigint[], $3::uuid[], $4::text[], $5::int[], \
                         $6::jsonb[], $7::jsonb[], $8::timestamptz[], $9::bytea[], $10::uuid[]) \
                  WITH ORDINALITY AS r(stream_id, stream_version, event_id, event_type, \
                                       schema_version, data, metadata, recorded_at, hash, \
                                       pii_subject, ord) \
             WHERE NOT EXISTS ( \
                 SELECT 1 FROM unnest($11::text[], $12::bigint[]) AS c(stream_id, version) \
                 WHERE coalesce((SELECT max(stream_version) FROM events \
                                 WHERE events.stream_id = c.stream_id), 0) <> c.version \
             ) \
             ORDER BY ord \
             RETURNING global_position, event_id \
         ) \
         SELECT i.global_position FROM inserted i \
         JOIN unnest($3::uuid[]) WITH ORDINALITY AS o(event_id, ord) USING (event_id) \
         ORDER BY o.ord",
    )
    .bind(&rows.stream_ids)
    .bind(&rows.versions)
    .bind(&rows.event_ids)
    .bind(&rows.types)
    .bind(&rows.schema_versions)
    .bind(&rows.data)
    .bind(&rows.metadata)
    .bind(&rows.recorded_at)
    .bind(&rows.hashes)
    .bind(&rows.subjects)
    .bind(&read_streams)
    .bind(&read_versions)
    .fetch_all(conn)
    .await?;
    Ok((!positions.is_empty()).then(|| positions.into_iter().map(|(p,)| p).collect()))
}
