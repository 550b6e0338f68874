//! The one mapping of the aggregates' rules to problem+json statuses: each domain error is
//! answered here and nowhere else, and short lines are always built by [`short_lines`].

use axum::http::StatusCode;
use serde_json::json;

use super::ApiError;
use crate::domain::order::{ShortLine, ShortReason};
use crate::domain::{
    AddressError, CartError, CustomerError, DomainError, OrderError, ProductError, StockError,
};

/// A 409 naming every line that cannot be sold (`short_lines`), in the order they were given.
pub fn short_lines(message: String, lines: &[ShortLine]) -> ApiError {
    ApiError::conflict(message).with_extra(json!({ "short_lines": lines }))
}

impl From<DomainError> for ApiError {
    fn from(error: DomainError) -> Self {
        match error {
            DomainError::Order(e) => e.into(),
            DomainError::Cart(e) => e.into(),
            DomainError::Stock(e) => e.into(),
            DomainError::Product(e) => e.into(),
            DomainError::Customer(e) => e.into(),
            DomainError::Address(e) => e.into(),
        }
    }
}

impl From<AddressError> for ApiError {
    fn from(error: AddressError) -> Self {
        let message = error.to_string();
        match error {
            AddressError::NotFound => Self::not_found(message),
            AddressError::Full => Self::conflict(message),
        }
    }
}

impl From<OrderError> for ApiError {
    fn from(error: OrderError) -> Self {
        let message = error.to_string();
        match error {
            OrderError::NotFound
            | OrderError::UnknownAttempt
            | OrderError::UnknownPayment
            | OrderError::UnknownRefund => Self::not_found(message),
            OrderError::EmptyOrder | OrderError::Overflow => Self::field("items", message),
            OrderError::InvalidQuantity { .. } => Self::field("quantity", message),
            OrderError::MergedQuantityTooLarge { .. } => Self::conflict(message),
            OrderError::InvalidPrice { .. } => Self::field("price", message),
            OrderError::Invalid(field) => Self::field(field.field, field.message),
            OrderError::Unsellable(lines) => short_lines(message, &lines),
            OrderError::AlreadyExists
            | OrderError::NotPayableByMpesa(_)
            | OrderError::WrongState(_)
            | OrderError::AlreadyPaid
            | OrderError::DeadlinePassed
            | OrderError::TooManyAttempts => Self::conflict(message),
            OrderError::NotRefundable { refundable } => {
                Self::conflict(message).with_extra(json!({ "refundable": refundable }))
            }
        }
    }
}

impl From<CartError> for ApiError {
    fn from(error: CartError) -> Self {
        let message = error.to_string();
        match error {
            CartError::ProductNotFound(_) | CartError::NotInCart(_) => Self::not_found(message),
            CartError::InvalidQuantity { .. } => Self::field("quantity", message),
            CartError::LineFull { .. } => Self::conflict(message),
            CartError::InsufficientStock {
                product_id,
                name,
                requested,
                available,
            } => short_lines(
                message,
                &[ShortLine {
                    product_id,
                    name,
                    requested,
                    available,
                    reason: ShortReason::InsufficientStock,
                }],
            ),
            CartError::CurrencyMismatch { .. } | CartError::EmptyCart => Self::conflict(message),
        }
    }
}

impl From<StockError> for ApiError {
    fn from(error: StockError) -> Self {
        let message = error.to_string();
        match error {
            StockError::NegativeLevel => Self::field("on_hand", message),
            StockError::InvalidReason => Self::field("reason", message),
            StockError::Overflow => Self::field("delta", message),
            StockError::InvalidQuantity => Self::field("quantity", message),
            StockError::BelowReserved { on_hand, reserved } => Self::conflict(message)
                .with_extra(json!({"on_hand": on_hand, "reserved": reserved})),
            // Orders name their short lines themselves (`OrderError::Unsellable`); the stock
            // alone knows no product name.
            StockError::Insufficient {
                product_id,
                requested,
                available,
            } => short_lines(
                message,
                &[ShortLine {
                    product_id,
                    name: String::new(),
                    requested,
                    available,
                    reason: ShortReason::InsufficientStock,
                }],
            ),
        }
    }
}

impl From<ProductError> for ApiError {
    fn from(error: ProductError) -> Self {
        let status = match error {
            ProductError::NotFound | ProductError::Withdrawn => StatusCode::NOT_FOUND,
            ProductError::AlreadyExists => StatusCode::CONFLICT,
            ProductError::Forbidden | ProductError::NotOwner => StatusCode::FORBIDDEN,
            ProductError::UnsupportedImageType(_) | ProductError::InvalidImageId => {
                StatusCode::BAD_REQUEST
            }
        };
        Self::new(status, error.to_string())
    }
}

impl From<CustomerError> for ApiError {
    fn from(error: CustomerError) -> Self {
        match error {
            // A closed account is gone: it answers like one that never existed.
            CustomerError::NotFound | CustomerError::Closed => Self::not_found("account not found"),
            CustomerError::AlreadyRegistered => Self::conflict("account already registered"),
            CustomerError::InvalidImageId => Self::field("image", error.to_string()),
        }
    }
}
