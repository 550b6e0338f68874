//! What a command can answer besides success: a business rejection, a conflict that outlived
//! the retries, or an infrastructure failure.

use crate::domain::{
    AddressError, CartError, CustomerError, DomainError, OrderError, ProductError, StockError,
};
use crate::store::StoreError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RejectionKind {
    /// Bad input (400), naming the field when there is one.
    Invalid,
    Unauthorized,
    /// Known but not allowed (403).
    Forbidden,
    /// Unknown, or someone else's (404).
    NotFound,
    /// The state does not allow it: out of stock, wrong status, duplicate (409).
    Conflict,
}

/// A business rule said no. Nothing was appended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    pub kind: RejectionKind,
    pub message: String,
    pub field: Option<&'static str>,
    /// Extra machine-readable detail (e.g. the short lines of a checkout).
    pub detail: Option<serde_json::Value>,
}

impl Rejection {
    pub fn new(kind: RejectionKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
            field: None,
            detail: None,
        }
    }

    pub fn invalid(field: &'static str, message: impl Into<String>) -> Self {
        Self {
            field: Some(field),
            ..Self::new(RejectionKind::Invalid, message)
        }
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(RejectionKind::NotFound, message)
    }

    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(RejectionKind::Conflict, message)
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(RejectionKind::Forbidden, message)
    }

    pub fn with_detail(mut self, detail: serde_json::Value) -> Self {
        self.detail = Some(detail);
        self
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    #[error("{}", .0.message)]
    Rejected(Rejection),
    /// An aggregate's rule said no; nothing was appended. Mapped to a status by the HTTP
    /// layer, in one place.
    #[error(transparent)]
    Domain(DomainError),
    /// Still conflicting after the bounded retries.
    #[error("stream {0} kept changing; try again")]
    Conflict(String),
    #[error(transparent)]
    Store(StoreError),
}

impl From<Rejection> for CommandError {
    fn from(rejection: Rejection) -> Self {
        Self::Rejected(rejection)
    }
}

macro_rules! domain_errors {
    ($($error:ty),*) => {$(
        impl From<$error> for CommandError {
            fn from(error: $error) -> Self {
                Self::Domain(error.into())
            }
        }
    )*};
}

domain_errors!(
    OrderError,
    CartError,
    StockError,
    ProductError,
    CustomerError,
    AddressError
);

impl From<DomainError> for CommandError {
    fn from(error: DomainError) -> Self {
        Self::Domain(error)
    }
}

impl CommandError {
    /// A business answer (a rejection or a broken rule), as opposed to a conflict that outlived
    /// the retries or a failure of the store.
    pub fn is_refusal(&self) -> bool {
        matches!(self, Self::Rejected(_) | Self::Domain(_))
    }
}

impl From<StoreError> for CommandError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::Conflict { stream_id, .. } => Self::Conflict(stream_id),
            StoreError::Database(error) => error.into(),
            other => Self::Store(other),
        }
    }
}

impl From<sqlx::Error> for CommandError {
    /// A deadlock (40P01) or a serialisation failure (40001) is a conflict to decide again,
    /// never a 500 (DESIGN §8).
    fn from(error: sqlx::Error) -> Self {
        if is_retryable(&error) {
            return Self::Conflict(format!("(database: {error})"));
        }
        Self::Store(StoreError::Database(error))
    }
}

pub fn is_retryable(error: &sqlx::Error) -> bool {
    error
        .as_database_error()
        .and_then(|db| db.code())
        .is_some_and(|code| code == "40P01" || code == "40001")
}
