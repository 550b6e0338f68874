//! The M-Pesa payment seam: the request and outcome types, the Daraja configuration and the
//! `MpesaGateway` trait that reactors call; the real client, the simulator and (for tests,
//! with the `fake-daraja` feature) a fake behind it.

pub mod b2c;
pub mod b2c_inbox;
pub mod callback;
pub mod daraja;
#[cfg(any(test, feature = "fake-daraja"))]
pub mod fake;
pub mod inbox;
pub mod simulator;

#[cfg(test)]
mod tests;

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

pub use b2c::{B2cConfig, B2cGateway, B2cOutcome, B2cPayment, B2cResult, B2cStatusQuery};
pub use callback::{
    CallbackError, CallbackOutcome, CallbackResult, ResultCode, build_callback, parse_callback,
};
pub use daraja::{DarajaClient, RetryPolicy};
pub use simulator::Simulator;

/// One STK push: ask Daraja to prompt `phone` for `amount_shillings`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StkPush {
    /// Already normalised to `2547XXXXXXXX` / `2541XXXXXXXX`.
    pub phone: String,
    /// Whole shillings: Daraja rejects decimals.
    pub amount_shillings: i64,
    /// Truncated to 12 characters by the client.
    pub account_reference: String,
    /// Truncated to 13 characters by the client.
    pub description: String,
    pub callback_url: String,
}

/// Daraja took the push; the result comes later by callback (or by query).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StkPushAccepted {
    pub merchant_request_id: String,
    /// Ties the callback to the payment attempt.
    pub checkout_request_id: String,
}

/// What an STK push query says about one attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StkQueryOutcome {
    /// The customer has not answered yet: ask again later.
    Pending,
    Succeeded,
    Failed {
        result_code: String,
        reason: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GatewayError {
    /// Daraja answered with an error body: a definite failure to record, not to retry blindly.
    #[error("Daraja rejected the request: {code} {message}")]
    Rejected { code: String, message: String },
    /// Network failure or server error that outlived the retries: transient.
    #[error("Daraja unavailable: {0}")]
    Unavailable(String),
}

#[async_trait]
pub trait MpesaGateway: Send + Sync {
    async fn stk_push(&self, req: &StkPush) -> Result<StkPushAccepted, GatewayError>;
    async fn stk_query(&self, checkout_request_id: &str) -> Result<StkQueryOutcome, GatewayError>;
}

/// The clock the client reads, injectable so tests can pin Daraja timestamps.
pub type Clock = Arc<dyn Fn() -> DateTime<Utc> + Send + Sync>;

/// A credential that must never reach a log line: Debug and Display print `***`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl From<String> for Secret {
    fn from(value: String) -> Self {
        Self(value)
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// Paybill or till; the variant names are the exact wire strings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum TransactionType {
    #[default]
    CustomerPayBillOnline,
    CustomerBuyGoodsOnline,
}

impl TransactionType {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::CustomerPayBillOnline => "CustomerPayBillOnline",
            Self::CustomerBuyGoodsOnline => "CustomerBuyGoodsOnline",
        }
    }
}

impl fmt::Display for TransactionType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown M-Pesa transaction type {0:?}: not CustomerPayBillOnline/CustomerBuyGoodsOnline")]
pub struct UnknownTransactionType(pub String);

impl FromStr for TransactionType {
    type Err = UnknownTransactionType;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "CustomerPayBillOnline" => Ok(Self::CustomerPayBillOnline),
            "CustomerBuyGoodsOnline" => Ok(Self::CustomerBuyGoodsOnline),
            other => Err(UnknownTransactionType(other.to_owned())),
        }
    }
}

/// Everything the real client needs; parsed once from the environment by the caller.
#[derive(Debug, Clone)]
pub struct DarajaConfig {
    /// `https://sandbox.safaricom.co.ke` or `https://api.safaricom.co.ke`.
    pub base_url: String,
    pub consumer_key: String,
    pub consumer_secret: Secret,
    /// `BusinessShortCode`: the paybill, or the store number for a till.
    pub shortcode: u64,
    pub passkey: Secret,
    pub transaction_type: TransactionType,
    /// `PartyB`: the paybill again, or the till number (`TILLROLL_MPESA_PARTY_B`).
    pub party_b: u64,
}
