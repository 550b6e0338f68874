//! Products for other tests, listed through the real catalog command (not SQL): the product
//! stream gets `ProductListed`, the stock stream `StockLevelSet`, as `POST /products` does.

use chrono::Utc;
use tillroll::auth::Role;
use tillroll::commands::CommandContext;
use tillroll::commands::catalog::{self, NewProduct};
use tillroll::domain::money::{Currency, Price};
use tillroll::domain::validate::{Actor, CategorySlug, Description, ProductName};
use uuid::Uuid;

use super::TestApp;

/// Lists a product for `seller_id` with `stock` on hand; returns its id. Commands see it at
/// once; for queries use [`list_product_at`] and `get_after` its position.
pub async fn list_product(
    app: &TestApp,
    seller_id: Uuid,
    name: &str,
    category: &str,
    price: i64,
    stock: i64,
) -> Uuid {
    list_product_at(app, seller_id, name, category, price, stock)
        .await
        .0
}

/// As [`list_product`], also returning the log position of the listing.
pub async fn list_product_at(
    app: &TestApp,
    seller_id: Uuid,
    name: &str,
    category: &str,
    price: i64,
    stock: i64,
) -> (Uuid, i64) {
    let ctx = CommandContext::user(seller_id, Role::Seller.as_str(), Utc::now());
    let actor = Actor {
        id: seller_id,
        role: Role::Seller,
    };
    let new = NewProduct {
        name: ProductName::parse(name).expect("a valid product name"),
        description: Description::parse(&format!("{name}, for tests")).expect("valid"),
        category: CategorySlug::parse(category).expect("a valid category slug"),
        price: Price::parse(price).expect("a valid price"),
        currency: Currency::kes(),
        payout_phone: None,
        initial_stock: stock,
    };
    let outcome = catalog::list_product(&app.state.commands, &ctx, actor, new)
        .await
        .expect("the product is listed");
    let position = outcome.position.expect("events were appended");
    (outcome.value.product.product_id, position)
}
