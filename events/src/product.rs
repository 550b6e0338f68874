//! Events of the product stream `product-<id>`: the catalog entry (stock has its own stream).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::{Currency, domain_event};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum ProductEvent {
    ProductListed {
        product_id: Uuid,
        seller_id: Uuid,
        name: String,
        description: String,
        category: String,
        price: i64,
        currency: Currency,
        #[serde(default)]
        payout_phone: Option<String>,
        listed_at: DateTime<Utc>,
    },
    ProductDetailsChanged {
        product_id: Uuid,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        name: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        description: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        category: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        payout_phone: Option<String>,
        changed_at: DateTime<Utc>,
    },
    ProductPriceChanged {
        product_id: Uuid,
        price: i64,
        currency: Currency,
        changed_at: DateTime<Utc>,
    },
    ProductImageChanged {
        product_id: Uuid,
        /// The lowercase hex SHA-256 of the image bytes, which live outside the log.
        image_id: String,
        content_type: String,
        changed_at: DateTime<Utc>,
    },
    ProductWithdrawn {
        product_id: Uuid,
        withdrawn_at: DateTime<Utc>,
    },
}

domain_event!(
    ProductEvent,
    product_id,
    ProductListed,
    ProductDetailsChanged,
    ProductPriceChanged,
    ProductImageChanged,
    ProductWithdrawn,
);
