//! The commands router: every route that changes state. POSTs honour `Idempotency-Key`.

mod cart;
mod orders;
mod payments;

use utoipa_axum::router::OpenApiRouter;

use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .merge(cart::router())
        .merge(orders::router())
        .merge(payments::router())
}
