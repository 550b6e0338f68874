//! The queries router: reads of the read models only. `X-Min-Position` waits for them.

mod catalog;
mod images;
mod stock;

use utoipa_axum::router::OpenApiRouter;

use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .merge(catalog::router())
        .merge(images::router())
        .merge(stock::router())
}
