//! The store as the projection runner's source of events.

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

    fn wake_handle(&self) -> std::sync::Arc<tokio::sync::Notify> {
        EventStore::wake_handle(self)
    }
}
