//! M-Pesa B2C (paying money out: refunds, seller payouts): the request and answer types, the
//! `B2cGateway` trait the refund reactor and the reconciler call, and Daraja's result body
//! (`daraja/b2c_result_*.json`), parsed into a typed result and built for the simulator and
//! the fake.
//!
//! A B2C payment and a transaction status query are both asynchronous: Daraja accepts the
//! request, then POSTs the result to `ResultURL` (or a queue time-out to `QueueTimeOutURL`).
//! Both results carry the `OriginatorConversationID` of the request they answer: a payment's is
//! the refund's (or payout's) id, a status query's is the query's own id.

use async_trait::async_trait;
use serde_json::{Value, json};
use uuid::Uuid;

use super::{GatewayError, ResultCode, Secret};

/// What a B2C-enabled Daraja client needs besides the OAuth credentials.
#[derive(Debug, Clone)]
pub struct B2cConfig {
    /// `PartyA`: the B2C shortcode (`TILLROLL_MPESA_B2C_SHORTCODE`).
    pub shortcode: u64,
    pub initiator_name: String,
    /// The initiator's password encrypted with Safaricom's certificate, ready to send.
    pub security_credential: Secret,
}

/// One B2C payment of `amount_shillings` to `phone`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct B2cPayment {
    /// Our id for it (the refund's or payout's): the dedup key of its result.
    pub originator_conversation_id: Uuid,
    /// `2547XXXXXXXX`.
    pub phone: String,
    /// Whole shillings, at least 10.
    pub amount_shillings: i64,
    /// At most 100 characters (truncated by the client).
    pub remarks: String,
    pub occasion: String,
    pub result_url: String,
    pub timeout_url: String,
}

/// A transaction status query about an earlier B2C payment; its own id comes back with the
/// answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct B2cStatusQuery {
    pub query_id: Uuid,
    pub payment_id: Uuid,
    pub result_url: String,
    pub timeout_url: String,
}

#[async_trait]
pub trait B2cGateway: Send + Sync {
    /// Daraja accepted the payment: its `ConversationID`.
    async fn b2c_payment(&self, req: &B2cPayment) -> Result<String, GatewayError>;
    /// Daraja accepted the query; the answer comes to `result_url`.
    async fn b2c_status(&self, req: &B2cStatusQuery) -> Result<(), GatewayError>;
}

/// Daraja's `Result`, read by what it means for the money.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct B2cResult {
    pub originator_conversation_id: String,
    pub outcome: B2cOutcome,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum B2cOutcome {
    /// The money left: `receipt` is the M-Pesa `TransactionID`.
    Paid { receipt: String },
    NotPaid {
        result_code: String,
        description: String,
    },
    /// A status query's answer that does not settle the payment (not found yet, pending).
    Unknown { description: String },
}

/// Reads a result body (a B2C payment's or a status query's, told apart by the caller through
/// `is_status_answer`). `None` when it is not a Daraja result.
pub fn parse_result(body: &Value, is_status_answer: bool) -> Option<B2cResult> {
    let result = body.get("Result")?;
    let id = result.get("OriginatorConversationID")?.as_str()?.trim();
    if id.is_empty() {
        return None;
    }
    let code = ResultCode::from_json(result.get("ResultCode")?)?;
    let description = text(result.get("ResultDesc"));
    let outcome = if !code.is_success() {
        if is_status_answer {
            B2cOutcome::Unknown { description }
        } else {
            B2cOutcome::NotPaid {
                result_code: code.raw,
                description,
            }
        }
    } else if is_status_answer {
        status_outcome(result, description)
    } else {
        let receipt = parameter(result, "TransactionReceipt")
            .map(|v| text(Some(&v)))
            .filter(|r| !r.is_empty())
            .unwrap_or_else(|| text(result.get("TransactionID")));
        B2cOutcome::Paid { receipt }
    };
    Some(B2cResult {
        originator_conversation_id: id.to_owned(),
        outcome,
    })
}

/// A status answer: `TransactionStatus` `Completed` is paid (`ReceiptNo`); a status that ended
/// otherwise is not; anything else settles nothing yet.
fn status_outcome(result: &Value, description: String) -> B2cOutcome {
    let status = parameter(result, "TransactionStatus").map(|v| text(Some(&v)));
    match status.as_deref().map(str::trim) {
        Some("Completed") => B2cOutcome::Paid {
            receipt: parameter(result, "ReceiptNo")
                .map(|v| text(Some(&v)))
                .unwrap_or_default(),
        },
        Some(ended @ ("Failed" | "Declined" | "Cancelled" | "Reversed")) => B2cOutcome::NotPaid {
            result_code: ended.to_owned(),
            description: format!("M-Pesa says the payment is {ended}"),
        },
        _ => B2cOutcome::Unknown { description },
    }
}

fn parameter(result: &Value, key: &str) -> Option<Value> {
    let list = result.pointer("/ResultParameters/ResultParameter")?;
    let items = match list {
        Value::Array(items) => items.clone(),
        single @ Value::Object(_) => vec![single.clone()],
        _ => return None,
    };
    items
        .into_iter()
        .find(|item| item.get("Key").and_then(Value::as_str) == Some(key))
        .and_then(|item| item.get("Value").cloned())
}

fn text(value: Option<&Value>) -> String {
    match value {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Null) | None => String::new(),
        Some(other) => other.to_string(),
    }
}

/// The `OriginatorConversationID` of a queue time-out body (the request's, echoed back).
pub fn timeout_id(body: &Value) -> Option<String> {
    let id = body
        .pointer("/Result/OriginatorConversationID")
        .or_else(|| body.get("OriginatorConversationID"))?
        .as_str()?
        .trim();
    (!id.is_empty()).then(|| id.to_owned())
}

/// Removes personal data (`ReceiverPartyPublicName`: a phone and a name) before the body is
/// kept: settling does not need it, and it would outlive an account's erasure.
pub fn strip_personal(body: &mut Value) {
    if let Some(items) = body
        .pointer_mut("/Result/ResultParameters/ResultParameter")
        .and_then(Value::as_array_mut)
    {
        items.retain(|item| {
            !matches!(
                item.get("Key").and_then(Value::as_str),
                Some("ReceiverPartyPublicName" | "CreditPartyName" | "DebitPartyName")
            )
        });
    }
}

/// A B2C payment result as Daraja writes it (`b2c_result_success.json`,
/// `b2c_result_failed.json`).
pub fn build_payment_result(
    originator_conversation_id: &str,
    conversation_id: &str,
    amount_shillings: i64,
    phone: &str,
    outcome: &Result<String, (String, String)>,
) -> Value {
    match outcome {
        Ok(receipt) => json!({"Result": {
            "ResultType": 0, "ResultCode": 0,
            "ResultDesc": "The service request is processed successfully.",
            "OriginatorConversationID": originator_conversation_id,
            "ConversationID": conversation_id,
            "TransactionID": receipt,
            "ResultParameters": {"ResultParameter": [
                {"Key": "TransactionAmount", "Value": amount_shillings},
                {"Key": "TransactionReceipt", "Value": receipt},
                {"Key": "B2CRecipientIsRegisteredCustomer", "Value": "Y"},
                {"Key": "ReceiverPartyPublicName", "Value": format!("{phone} - Simulated Customer")},
            ]},
        }}),
        Err((code, description)) => json!({"Result": {
            "ResultType": 0, "ResultCode": ResultCode { raw: code.clone() }.to_json(),
            "ResultDesc": description,
            "OriginatorConversationID": originator_conversation_id,
            "ConversationID": conversation_id,
            "TransactionID": "TLC0000000",
        }}),
    }
}

/// A transaction status answer: `Ok(receipt)` completed, `Err(status)` ended otherwise.
pub fn build_status_result(query_id: &str, outcome: &Result<String, String>) -> Value {
    let (status, receipt) = match outcome {
        Ok(receipt) => ("Completed", receipt.as_str()),
        Err(status) => (status.as_str(), ""),
    };
    json!({"Result": {
        "ResultType": 0, "ResultCode": 0,
        "ResultDesc": "The service request is processed successfully.",
        "OriginatorConversationID": query_id,
        "ConversationID": format!("AG_{}", Uuid::new_v4().simple()),
        "TransactionID": receipt,
        "ResultParameters": {"ResultParameter": [
            {"Key": "ReceiptNo", "Value": receipt},
            {"Key": "TransactionStatus", "Value": status},
        ]},
    }})
}

/// A status answer for a payment M-Pesa does not know (never made).
pub fn build_status_unknown(query_id: &str) -> Value {
    json!({"Result": {
        "ResultType": 0, "ResultCode": 2032,
        "ResultDesc": "The transaction could not be found.",
        "OriginatorConversationID": query_id,
        "ConversationID": format!("AG_{}", Uuid::new_v4().simple()),
        "TransactionID": "",
    }})
}
