//! The queries router: reads of the read models only. `X-Min-Position` waits for them.

pub(crate) mod accounts;
mod addresses;
mod cart;
mod catalog;
mod images;
mod orders;
pub(crate) mod page;
mod payouts;
mod refunds;
mod sales;
mod seller_orders;
mod stock;
pub(crate) mod webhooks;

use utoipa_axum::router::OpenApiRouter;

use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .merge(accounts::router())
        .merge(addresses::router())
        .merge(catalog::router())
        .merge(images::router())
        .merge(stock::router())
        .merge(cart::router())
        .merge(orders::router())
        .merge(refunds::router())
        .merge(payouts::router())
        .merge(sales::router())
        .merge(seller_orders::router())
        .merge(webhooks::router())
}
