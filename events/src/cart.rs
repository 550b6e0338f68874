//! Events of the cart stream `cart-<customer id>` (one open cart per customer).

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::{Currency, domain_event};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum CartEvent {
    ItemAddedToCart {
        cart_id: Uuid,
        customer_id: Uuid,
        product_id: Uuid,
        quantity: i64,
        /// The catalog price when the item was added; the cart read model follows later
        /// catalog price changes and checkout always captures the current price.
        unit_price: i64,
        currency: Currency,
    },
    CartItemQuantityChanged {
        cart_id: Uuid,
        customer_id: Uuid,
        product_id: Uuid,
        quantity: i64,
    },
    ItemRemovedFromCart {
        cart_id: Uuid,
        customer_id: Uuid,
        product_id: Uuid,
    },
    CartCleared {
        cart_id: Uuid,
        customer_id: Uuid,
    },
    CartCheckedOut {
        cart_id: Uuid,
        customer_id: Uuid,
        order_id: Uuid,
    },
}

domain_event!(
    CartEvent,
    customer_id,
    ItemAddedToCart,
    CartItemQuantityChanged,
    ItemRemovedFromCart,
    CartCleared,
    CartCheckedOut,
);
