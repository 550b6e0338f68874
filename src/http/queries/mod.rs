//! The queries router: reads of the read models only. `X-Min-Position` waits for them.

mod cart;
mod orders;

use utoipa_axum::router::OpenApiRouter;

use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .merge(cart::router())
        .merge(orders::router())
}
