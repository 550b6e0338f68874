//! The commands router: every route that changes state. POSTs honour `Idempotency-Key`.

mod accounts;

use utoipa_axum::router::OpenApiRouter;

use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().merge(accounts::router())
}
