//! API.md's `product`, from the product and stock aggregates (command answers) or from the
//! `products` read model row (queries).

use chrono::{DateTime, Utc};
use serde::Serialize;
use uuid::Uuid;

use super::stock::StockLevels;
use crate::auth::Role;
use crate::commands::catalog::Listing;
use crate::http::auth::User;

/// API.md's `product`. Command answers come from the aggregate (only the seller or an admin
/// changes a product, so they show `payout_phone`); queries from a row, for a viewer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[schema(as = Product)]
pub struct ProductView {
    pub id: Uuid,
    pub name: String,
    pub description: String,
    pub category: String,
    /// Minor units of `currency`.
    pub price: i64,
    pub currency: String,
    /// `/images/<sha256>`, or null before a picture is set.
    pub image_url: Option<String>,
    pub seller_id: Uuid,
    /// The M-Pesa number the seller is paid on (null: the seller's profile phone). Shown to
    /// the product's seller and to admins only: absent for everyone else.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, nullable, pattern = "^254[0-9]{9}$")]
    pub payout_phone: Option<Option<String>>,
    pub stock: StockLevels,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// The product's seller and admins see its payout phone.
fn sees_payout_phone(viewer: Option<&User>, seller_id: Uuid) -> bool {
    viewer.is_some_and(|u| u.role == Role::Admin || u.id == seller_id)
}

impl From<&Listing> for ProductView {
    fn from(Listing { product, stock }: &Listing) -> Self {
        let created_at = product.listed_at.unwrap_or_default();
        Self {
            id: product.product_id,
            name: product.name.clone(),
            description: product.description.clone(),
            category: product.category.clone(),
            price: product.price,
            currency: product.currency.as_str().to_owned(),
            image_url: product.image_id.as_deref().map(crate::images::url),
            seller_id: product.seller_id,
            payout_phone: Some(product.payout_phone.clone()),
            stock: StockLevels::from(stock),
            created_at,
            updated_at: product.updated_at.unwrap_or(created_at),
        }
    }
}

/// The columns of a [`ProductRow`].
pub const PRODUCT_COLUMNS: &str = "id, name, description, category, price, currency, image_id, \
    seller_id, on_hand, reserved, created_at, updated_at, payout_phone";

/// A row of the `products` read model.
#[derive(Debug, sqlx::FromRow)]
pub struct ProductRow {
    pub id: Uuid,
    pub name: String,
    pub description: String,
    pub category: String,
    pub price: i64,
    pub currency: String,
    pub image_id: Option<String>,
    pub seller_id: Uuid,
    pub on_hand: i64,
    pub reserved: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub payout_phone: Option<String>,
}

impl ProductRow {
    /// The row as `viewer` (none: anonymous) may see it.
    pub fn view_for(self, viewer: Option<&User>) -> ProductView {
        let shown = sees_payout_phone(viewer, self.seller_id);
        let row = self;
        ProductView {
            payout_phone: shown.then_some(row.payout_phone),
            id: row.id,
            name: row.name,
            description: row.description,
            category: row.category,
            price: row.price,
            currency: row.currency,
            image_url: row.image_id.as_deref().map(crate::images::url),
            seller_id: row.seller_id,
            stock: StockLevels::new(row.on_hand, row.reserved),
            created_at: row.created_at,
            updated_at: row.updated_at,
        }
    }
}
