//! The commands router: every route that changes state. POSTs honour `Idempotency-Key`.

mod accounts;
mod addresses;
mod b2c;
mod cart;
mod catalog;
mod customer_cart;
mod orders;
mod payments;
mod refunds;
mod stock;
mod webhooks;

use utoipa_axum::router::OpenApiRouter;

use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .merge(accounts::router())
        .merge(addresses::router())
        .merge(catalog::router())
        .merge(stock::router())
        .merge(cart::router())
        .merge(customer_cart::router())
        .merge(orders::router())
        .merge(payments::router())
        .merge(b2c::router())
        .merge(refunds::router())
        .merge(webhooks::router())
}
