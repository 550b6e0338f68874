//! Catch up from a position, then follow the log live.
//!
//! Wake-ups (local commits, NOTIFY from other processes) are hints: the subscription always
//! re-reads from its own position, and polls on a timer in case a hint was lost. An event can
//! be committed yet not readable while an older transaction is still open, so after a wake-up
//! that found nothing the subscription retries a few times at short intervals before it goes
//! back to waiting.

use std::time::Duration;

use futures_util::Stream;
use tillroll_events::{LogPosition, RecordedEvent};

use super::{EventStore, StoreError};

const BATCH: i64 = 500;
const IDLE_POLL: Duration = Duration::from_millis(500);
const EAGER_RETRIES: [u64; 5] = [1, 2, 4, 8, 16];

pub struct Subscription {
    store: EventStore,
    after: LogPosition,
    types: Option<Vec<String>>,
    batch: i64,
}

impl EventStore {
    pub fn subscribe(&self, after: LogPosition) -> Subscription {
        Subscription {
            store: self.clone(),
            after,
            types: None,
            batch: BATCH,
        }
    }
}

impl Subscription {
    pub fn only_types(mut self, types: Vec<String>) -> Self {
        self.types = Some(types);
        self
    }

    pub fn batch_size(mut self, batch: i64) -> Self {
        self.batch = batch;
        self
    }

    pub fn position(&self) -> LogPosition {
        self.after
    }

    async fn read(&self) -> Result<Vec<RecordedEvent>, StoreError> {
        match &self.types {
            Some(types) => {
                self.store
                    .read_all_of_types(self.after, self.batch, types)
                    .await
            }
            None => self.store.read_all(self.after, self.batch).await,
        }
    }

    /// The next non-empty batch in log order; waits for one as long as it takes.
    pub async fn next_batch(&mut self) -> Result<Vec<RecordedEvent>, StoreError> {
        let wake = self.store.wake_handle();
        loop {
            // Register interest before reading so a commit between the read and the wait is
            // not missed.
            let notified = wake.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let batch = self.read().await?;
            if let Some(last) = batch.last() {
                self.after = last.log_position();
                return Ok(batch);
            }
            if tokio::time::timeout(IDLE_POLL, notified).await.is_ok() {
                for delay in EAGER_RETRIES {
                    let batch = self.read().await?;
                    if let Some(last) = batch.last() {
                        self.after = last.log_position();
                        return Ok(batch);
                    }
                    tokio::time::sleep(Duration::from_millis(delay)).await;
                }
            }
        }
    }

    /// The subscription as a stream of single events (for SSE and exports).
    pub fn into_stream(self) -> impl Stream<Item = Result<RecordedEvent, StoreError>> {
        futures_util::stream::unfold(
            (self, std::collections::VecDeque::new()),
            |(mut sub, mut pending)| async move {
                if pending.is_empty() {
                    match sub.next_batch().await {
                        Ok(batch) => pending.extend(batch),
                        Err(e) => return Some((Err(e), (sub, pending))),
                    }
                }
                let event = pending.pop_front()?;
                Some((Ok(event), (sub, pending)))
            },
        )
    }
}
