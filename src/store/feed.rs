//! The store as the projection runner's source of events.

use std::time::Duration;

use async_trait::async_trait;
use sqlx::PgConnection;
use tillroll_events::{LogPosition, RecordedEvent};
use tillroll_projections::{EventFeed, ProjectionError};

use super::EventStore;

#[async_trait]
impl EventFeed for EventStore {
    async fn read_batch(
        &self,
        conn: &mut PgConnection,
        after: LogPosition,
        limit: i64,
    ) -> Result<Vec<RecordedEvent>, ProjectionError> {
        super::read::read_all(conn, after, limit, None)
            .await
            .map_err(|e| ProjectionError::Feed(e.to_string()))
    }

    async fn wait(&self, timeout: Duration) {
        let wake = self.wake_handle();
        let _ = tokio::time::timeout(timeout, wake.notified()).await;
    }
}
