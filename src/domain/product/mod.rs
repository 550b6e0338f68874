//! The catalog entry of one product (stream `product-<id>`): listing, details, price, image
//! and withdrawal, and who may change them. Stock levels live in the `stock` aggregate.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tillroll_events::{Currency, ProductEvent};
use uuid::Uuid;

use crate::domain::Aggregate;
use crate::domain::money::Price;
use crate::domain::phone::Msisdn;
use crate::domain::validate::{Actor, CategorySlug, Description, ProductName, Role, is_image_id};

/// Image types a product picture may have.
pub const IMAGE_TYPES: [&str; 3] = ["image/png", "image/jpeg", "image/webp"];

#[derive(Default, Clone, Debug, Serialize, Deserialize)]
pub struct Product {
    pub exists: bool,
    pub product_id: Uuid,
    pub seller_id: Uuid,
    pub name: String,
    pub description: String,
    pub category: String,
    pub price: i64,
    pub currency: Currency,
    pub payout_phone: Option<String>,
    pub image_id: Option<String>,
    pub image_content_type: Option<String>,
    pub withdrawn: bool,
    pub listed_at: Option<DateTime<Utc>>,
    pub updated_at: Option<DateTime<Utc>>,
}

impl Aggregate for Product {
    type Event = ProductEvent;

    fn evolve(&mut self, event: &ProductEvent) {
        match event {
            ProductEvent::ProductListed {
                product_id,
                seller_id,
                name,
                description,
                category,
                price,
                currency,
                payout_phone,
                listed_at,
            } => {
                *self = Self {
                    exists: true,
                    product_id: *product_id,
                    seller_id: *seller_id,
                    name: name.clone(),
                    description: description.clone(),
                    category: category.clone(),
                    price: *price,
                    currency: currency.clone(),
                    payout_phone: payout_phone.clone(),
                    listed_at: Some(*listed_at),
                    updated_at: Some(*listed_at),
                    ..Self::default()
                };
            }
            ProductEvent::ProductDetailsChanged {
                name,
                description,
                category,
                payout_phone,
                changed_at,
                ..
            } => {
                set_if_some(&mut self.name, name);
                set_if_some(&mut self.description, description);
                set_if_some(&mut self.category, category);
                if payout_phone.is_some() {
                    self.payout_phone.clone_from(payout_phone);
                }
                self.updated_at = Some(*changed_at);
            }
            ProductEvent::ProductPriceChanged {
                price,
                currency,
                changed_at,
                ..
            } => {
                self.price = *price;
                self.currency = currency.clone();
                self.updated_at = Some(*changed_at);
            }
            ProductEvent::ProductImageChanged {
                image_id,
                content_type,
                changed_at,
                ..
            } => {
                self.image_id = Some(image_id.clone());
                self.image_content_type = Some(content_type.clone());
                self.updated_at = Some(*changed_at);
            }
            ProductEvent::ProductWithdrawn { withdrawn_at, .. } => {
                self.withdrawn = true;
                self.updated_at = Some(*withdrawn_at);
            }
        }
    }
}

fn set_if_some(field: &mut String, value: &Option<String>) {
    if let Some(v) = value {
        field.clone_from(v);
    }
}

/// Rejections, with the HTTP status each maps to.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProductError {
    /// 404.
    #[error("product not found")]
    NotFound,
    /// 404: a withdrawn product is gone from the catalog (GET answers 404 too), so changing it
    /// answers as for a product that does not exist. Withdrawing it again is a no-op.
    #[error("product has been withdrawn")]
    Withdrawn,
    /// 409: only on a replayed command, as product ids are generated server-side.
    #[error("product already exists")]
    AlreadyExists,
    /// 403: customers and auditors never manage products.
    #[error("only sellers and admins manage products")]
    Forbidden,
    /// 403: a seller changing another seller's product (products are public, so hiding it
    /// behind a 404 would protect nothing).
    #[error("only the product's seller or an admin may change it")]
    NotOwner,
    /// 415.
    #[error("images must be PNG, JPEG or WebP, not {0}")]
    UnsupportedImageType(String),
    /// 400: a bug in the caller, which names images by the hex SHA-256 of their bytes.
    #[error("image id must be a lowercase hex SHA-256")]
    InvalidImageId,
}

/// `seller_id` is the actor: an admin listing a product is its seller.
#[derive(Debug, Clone)]
pub struct ListProduct {
    pub product_id: Uuid,
    pub actor: Actor,
    pub name: ProductName,
    pub description: Description,
    pub category: CategorySlug,
    pub price: Price,
    pub currency: Currency,
    pub payout_phone: Option<Msisdn>,
    pub now: DateTime<Utc>,
}

/// PATCH: `None` leaves a field as it is.
#[derive(Debug, Clone)]
pub struct UpdateProduct {
    pub actor: Actor,
    pub name: Option<ProductName>,
    pub description: Option<Description>,
    pub category: Option<CategorySlug>,
    pub payout_phone: Option<Msisdn>,
    pub price: Option<Price>,
    pub currency: Option<Currency>,
    pub now: DateTime<Utc>,
}

#[derive(Debug, Clone)]
pub struct SetProductImage {
    pub actor: Actor,
    pub image_id: String,
    pub content_type: String,
    pub now: DateTime<Utc>,
}

#[derive(Debug, Clone)]
pub struct WithdrawProduct {
    pub actor: Actor,
    pub now: DateTime<Utc>,
}

/// Whether `actor` may change this product (and its stock): it exists, is not withdrawn, and
/// the actor is an admin or the seller who listed it.
pub fn authorize(state: &Product, actor: &Actor) -> Result<(), ProductError> {
    if state.exists && state.withdrawn {
        return Err(ProductError::Withdrawn);
    }
    authorize_ignoring_withdrawal(state, actor)
}

fn authorize_ignoring_withdrawal(state: &Product, actor: &Actor) -> Result<(), ProductError> {
    if !state.exists {
        return Err(ProductError::NotFound);
    }
    match actor.role {
        Role::Admin => Ok(()),
        Role::Seller if actor.id == state.seller_id => Ok(()),
        Role::Seller => Err(ProductError::NotOwner),
        Role::Customer | Role::Auditor => Err(ProductError::Forbidden),
    }
}

pub fn list(state: &Product, cmd: &ListProduct) -> Result<Vec<ProductEvent>, ProductError> {
    if !matches!(cmd.actor.role, Role::Seller | Role::Admin) {
        return Err(ProductError::Forbidden);
    }
    if state.exists {
        return Err(ProductError::AlreadyExists);
    }
    Ok(vec![ProductEvent::ProductListed {
        product_id: cmd.product_id,
        seller_id: cmd.actor.id,
        name: cmd.name.as_str().to_owned(),
        description: cmd.description.as_str().to_owned(),
        category: cmd.category.as_str().to_owned(),
        price: cmd.price.minor(),
        currency: cmd.currency.clone(),
        payout_phone: cmd.payout_phone.as_ref().map(|p| p.as_str().to_owned()),
        listed_at: cmd.now,
    }])
}

/// At most one `ProductDetailsChanged` (only the fields that differ) and one
/// `ProductPriceChanged`; nothing when nothing differs.
pub fn update(state: &Product, cmd: &UpdateProduct) -> Result<Vec<ProductEvent>, ProductError> {
    authorize(state, &cmd.actor)?;
    let changed = |new: Option<&str>, old: &str| new.filter(|n| *n != old).map(str::to_owned);
    let name = changed(cmd.name.as_ref().map(ProductName::as_str), &state.name);
    let description = changed(
        cmd.description.as_ref().map(Description::as_str),
        &state.description,
    );
    let category = changed(
        cmd.category.as_ref().map(CategorySlug::as_str),
        &state.category,
    );
    let payout_phone = cmd
        .payout_phone
        .as_ref()
        .map(|p| p.as_str().to_owned())
        .filter(|p| state.payout_phone.as_ref() != Some(p));

    let mut events = Vec::new();
    if name.is_some() || description.is_some() || category.is_some() || payout_phone.is_some() {
        events.push(ProductEvent::ProductDetailsChanged {
            product_id: state.product_id,
            name,
            description,
            category,
            payout_phone,
            changed_at: cmd.now,
        });
    }
    let price = cmd.price.map_or(state.price, Price::minor);
    let currency = cmd
        .currency
        .clone()
        .unwrap_or_else(|| state.currency.clone());
    if price != state.price || currency != state.currency {
        events.push(ProductEvent::ProductPriceChanged {
            product_id: state.product_id,
            price,
            currency,
            changed_at: cmd.now,
        });
    }
    Ok(events)
}

pub fn set_image(
    state: &Product,
    cmd: &SetProductImage,
) -> Result<Vec<ProductEvent>, ProductError> {
    authorize(state, &cmd.actor)?;
    if !IMAGE_TYPES.contains(&cmd.content_type.as_str()) {
        return Err(ProductError::UnsupportedImageType(cmd.content_type.clone()));
    }
    if !is_image_id(&cmd.image_id) {
        return Err(ProductError::InvalidImageId);
    }
    if state.image_id.as_ref() == Some(&cmd.image_id)
        && state.image_content_type.as_ref() == Some(&cmd.content_type)
    {
        return Ok(vec![]);
    }
    Ok(vec![ProductEvent::ProductImageChanged {
        product_id: state.product_id,
        image_id: cmd.image_id.clone(),
        content_type: cmd.content_type.clone(),
        changed_at: cmd.now,
    }])
}

/// Withdrawing twice is a no-op, so a repeated DELETE answers 204 again.
pub fn withdraw(state: &Product, cmd: &WithdrawProduct) -> Result<Vec<ProductEvent>, ProductError> {
    authorize_ignoring_withdrawal(state, &cmd.actor)?;
    if state.withdrawn {
        return Ok(vec![]);
    }
    Ok(vec![ProductEvent::ProductWithdrawn {
        product_id: state.product_id,
        withdrawn_at: cmd.now,
    }])
}

#[cfg(test)]
mod tests;
