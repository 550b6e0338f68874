//! The JetStream publisher: every event, once, in log order, to the stream `TILLROLL_NATS_STREAM`
//! on `<prefix>.events.<aggregate>.<EventType>`, with the export's `event` JSON as its body and
//! the headers `Nats-Msg-Id` (the event id), `Tillroll-Log-Index`, `Tillroll-Stream` and
//! `Tillroll-Version` (API.md, "Events out").
//!
//! The stream itself is the cursor: on start (and after any failure) the publisher reads the
//! stream's last message and resumes after its `Tillroll-Log-Index`, so what JetStream
//! acknowledged is never sent again and nothing after it is skipped, across crashes, NATS
//! restarts and failovers. Every message also carries `Nats-Expected-Last-Sequence`: JetStream
//! refuses it unless the stream ends exactly where this publisher believes, which keeps the
//! order under pipelining (a refused message fails every message pipelined after it) and
//! fences a deposed publisher at the stream (after a takeover its expectation is stale).
//! `Nats-Msg-Id` makes a resend within the duplicate window a no-op as well.
//!
//! Every signed tree head goes, the same way, to the stream `<stream>_TREE_HEADS` on
//! `<prefix>.audit.tree-heads` (an anchor for the audit log outside the database).
//!
//! Publishes are pipelined: a batch of up to [`PIPELINE`] messages is sent before its acks are
//! awaited. The publisher runs under the lease `publisher:nats`; NATS being down never blocks
//! a command (it catches up when NATS is back), and the lag is the metric
//! `tillroll_publisher_lag_events`.

use std::time::Duration;

use async_nats::jetstream::{self, context::PublishAckFuture, message::PublishMessage};
use bytes::Bytes;
use tillroll_events::{LogPosition, RecordedEvent};
use tillroll_projections::lease::Fence;
use tokio::sync::watch;

use crate::config::NatsConfig;
use crate::http::views::event::EventView;
use crate::state::AppState;

/// Messages sent before their acks are awaited.
const PIPELINE: i64 = 256;
/// How long JetStream has to acknowledge a message.
const ACK_TIMEOUT: Duration = Duration::from_secs(10);

pub const LOG_INDEX_HEADER: &str = "Tillroll-Log-Index";
pub const TREE_SIZE_HEADER: &str = "Tillroll-Tree-Size";
/// How often new signed tree heads are looked for.
const HEADS_EVERY: Duration = Duration::from_secs(1);

#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    #[error("NATS: {0}")]
    Nats(String),
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    #[error(transparent)]
    Database(#[from] sqlx::Error),
    #[error("the publisher's lease is lost")]
    LeaseLost,
}

fn nats<E: std::fmt::Display>(error: E) -> PublishError {
    PublishError::Nats(error.to_string())
}

/// `<prefix>.events.<aggregate>.<EventType>`, the aggregate being the stream id's category.
pub fn subject(prefix: &str, event: &RecordedEvent) -> String {
    let aggregate = event
        .stream_id
        .split_once('-')
        .map_or(event.stream_id.as_str(), |(category, _)| category);
    format!("{prefix}.events.{aggregate}.{}", event.event_type)
}

pub async fn run(state: AppState, nats: NatsConfig, fence: Fence, mut stop: watch::Receiver<bool>) {
    let mut wait = Duration::from_millis(200);
    while !*stop.borrow() {
        match publish(&state, &nats, &fence, &mut stop).await {
            Ok(()) => return,
            Err(PublishError::LeaseLost) => {
                tracing::warn!("publisher lease lost; it stops");
                return;
            }
            Err(error) => {
                tracing::warn!(%error, "NATS publisher; resuming from the stream's last message");
            }
        }
        if !super::pause(&mut stop, wait).await {
            return;
        }
        wait = (wait * 2).min(Duration::from_secs(5));
    }
}

/// The signed tree heads' own stream, `<stream>_TREE_HEADS` on `<prefix>.audit.tree-heads`: an
/// anchor outside the database (API.md, Audit). Like the events, resumed after the stream's
/// last message (its `Tillroll-Tree-Size`), each one expecting the stream's last sequence.
struct HeadStream {
    subject: String,
    sequence: u64,
    tree_size: i64,
}

impl HeadStream {
    async fn open(context: &jetstream::Context, config: &NatsConfig) -> Result<Self, PublishError> {
        let subject = format!("{}.audit.tree-heads", config.subject_prefix);
        let mut stream = context
            .get_or_create_stream(jetstream::stream::Config {
                name: format!("{}_TREE_HEADS", config.stream),
                subjects: vec![subject.clone()],
                ..Default::default()
            })
            .await
            .map_err(nats)?;
        let (sequence, last) = last_message(&mut stream, TREE_SIZE_HEADER).await?;
        let tree_size = last.map_or(0, |(size, _)| size);
        Ok(Self {
            subject,
            sequence,
            tree_size,
        })
    }

    async fn publish_new(
        &mut self,
        state: &AppState,
        context: &jetstream::Context,
    ) -> Result<(), PublishError> {
        let heads = crate::audit::heads::ascending(&state.pool, self.tree_size, 100).await?;
        for head in heads {
            let body = serde_json::to_vec(&head).expect("a tree head serialises");
            let message = PublishMessage::build()
                .payload(Bytes::from(body))
                .message_id(format!("tree-head-{}", head.tree_size))
                .expected_last_sequence(self.sequence)
                .header(TREE_SIZE_HEADER, head.tree_size.to_string().as_str());
            let ack = context
                .send_publish(self.subject.clone(), message)
                .await
                .map_err(nats)?
                .await
                .map_err(nats)?;
            self.sequence = ack.sequence;
            self.tree_size = head.tree_size;
        }
        Ok(())
    }
}

/// Where the stream ends: its last sequence and the log position of its last message.
/// The stream's last sequence and, unless it is empty, the number its last message carries in
/// `header` with that message's headers.
async fn last_message(
    stream: &mut jetstream::stream::Stream,
    header: &str,
) -> Result<(u64, Option<(i64, async_nats::HeaderMap)>), PublishError> {
    let sequence = stream.info().await.map_err(nats)?.state.last_sequence;
    if sequence == 0 {
        return Ok((0, None));
    }
    let message = stream.get_raw_message(sequence).await.map_err(nats)?;
    let value = message
        .headers
        .get(header)
        .and_then(|v| v.as_str().parse().ok())
        .ok_or_else(|| {
            PublishError::Nats(format!(
                "message {sequence} of the stream has no {header} header"
            ))
        })?;
    Ok((sequence, Some((value, message.headers))))
}

async fn stream_end(
    state: &AppState,
    stream: &mut jetstream::stream::Stream,
) -> Result<(u64, LogPosition), PublishError> {
    let (last_sequence, last) = last_message(stream, LOG_INDEX_HEADER).await?;
    let Some((log_index, headers)) = last else {
        return Ok((0, LogPosition::START));
    };
    let here: Option<(i64, uuid::Uuid)> = sqlx::query_as(
        "SELECT l.global_position, e.event_id FROM event_log l \
         JOIN events e USING (global_position) WHERE l.log_index = $1",
    )
    .bind(log_index)
    .fetch_optional(&state.pool)
    .await?;
    // The stream must be this log's: its last message is the event at that index here.
    let published_id = headers.get("Nats-Msg-Id").map(|v| v.as_str().to_owned());
    let position = match here {
        Some((position, event_id)) if published_id == Some(event_id.to_string()) => position,
        _ => {
            return Err(PublishError::Nats(format!(
                "the stream {} ends with log index {log_index} (message {}), which is not this \
                 log's event at that index: the stream belongs to another database (or this one \
                 was restored from an older backup). Publishing stops rather than skip or \
                 repeat; give this database its own TILLROLL_NATS_STREAM",
                stream.cached_info().config.name,
                published_id.unwrap_or_default()
            )));
        }
    };
    Ok((
        last_sequence,
        LogPosition {
            log_index,
            position,
        },
    ))
}

async fn publish(
    state: &AppState,
    config: &NatsConfig,
    fence: &Fence,
    stop: &mut watch::Receiver<bool>,
) -> Result<(), PublishError> {
    let client = async_nats::ConnectOptions::new()
        .connection_timeout(Duration::from_secs(5))
        .retry_on_initial_connect()
        .connect(&config.url)
        .await
        .map_err(nats)?;
    let mut context = jetstream::new(client);
    context.set_timeout(ACK_TIMEOUT);
    let mut stream = context
        .get_or_create_stream(jetstream::stream::Config {
            name: config.stream.clone(),
            subjects: vec![format!("{}.events.>", config.subject_prefix)],
            ..Default::default()
        })
        .await
        .map_err(nats)?;
    let events_subject = format!("{}.events.>", config.subject_prefix);
    let subjects = &stream.cached_info().config.subjects;
    if !subjects.iter().any(|s| s == &events_subject) {
        return Err(PublishError::Nats(format!(
            "the stream {} exists with subjects {subjects:?}, not {events_subject}",
            config.stream
        )));
    }
    let (mut sequence, after) = stream_end(state, &mut stream).await?;
    tracing::info!(
        stream = %config.stream, sequence, log_index = after.log_index,
        "NATS publisher resumes"
    );
    let mut heads = HeadStream::open(&context, config).await?;
    let mut heads_tick = tokio::time::interval(HEADS_EVERY);
    let mut subscription = state.store.subscribe(after).batch_size(PIPELINE);
    loop {
        // Waiting for events gives way to the heads' tick (a cancelled wait changes nothing).
        let batch = tokio::select! {
            batch = subscription.next_batch() => batch?,
            _ = heads_tick.tick() => {
                heads.publish_new(state, &context).await?;
                continue;
            }
            _ = stop.changed() => return Ok(()),
        };
        if !fence.holds(&state.pool).await? {
            return Err(PublishError::LeaseLost);
        }
        let mut acks: Vec<PublishAckFuture> = Vec::with_capacity(batch.len());
        for (i, event) in batch.iter().enumerate() {
            let body = serde_json::to_vec(&EventView::from(event)).expect("an event serialises");
            let message = PublishMessage::build()
                .payload(Bytes::from(body))
                .message_id(event.event_id.to_string())
                .expected_last_sequence(sequence + i as u64)
                .header(
                    LOG_INDEX_HEADER,
                    event.log_index.unwrap_or_default().to_string().as_str(),
                )
                .header("Tillroll-Stream", event.stream_id.as_str())
                .header("Tillroll-Version", event.version.to_string().as_str());
            let ack = context
                .send_publish(subject(&config.subject_prefix, event), message)
                .await
                .map_err(nats)?;
            acks.push(ack);
        }
        for ack in acks {
            let ack = ack.await.map_err(nats)?;
            sequence = ack.sequence;
            state.metrics.events_published.inc();
        }
        let published = subscription.position();
        if let Ok(head) = state.store.head().await {
            let lag = (head.log_index - published.log_index).max(0);
            state.metrics.publisher_lag.set(lag);
        }
    }
}
