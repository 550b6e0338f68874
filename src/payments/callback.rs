//! Daraja's STK callback body: parsed into a typed result (leniently where Daraja is inconsistent,
//! strictly where money is concerned), and built from one for the simulator and the fake.

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::daraja::{parse_timestamp, timestamp};

/// A Daraja result code kept as written: a number in most callbacks, a string on some paths
/// (`"1032"`, `"SFC_IC0003"`). Switch on it, never on the description.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ResultCode {
    pub raw: String,
}

impl ResultCode {
    /// Reads a number or a non-empty string; anything else is not a result code.
    pub fn from_json(value: &Value) -> Option<Self> {
        let raw = match value {
            Value::String(text) => text.trim().to_owned(),
            Value::Number(number) => whole_number(number)?.to_string(),
            _ => return None,
        };
        (!raw.is_empty()).then_some(Self { raw })
    }

    pub fn is_success(&self) -> bool {
        self.raw == "0"
    }

    /// Numeric codes go back on the wire as numbers, the way Daraja writes them.
    pub fn to_json(&self) -> Value {
        self.raw
            .parse::<i64>()
            .map_or_else(|_| json!(self.raw), |code| json!(code))
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallbackResult {
    pub merchant_request_id: String,
    pub checkout_request_id: String,
    pub outcome: CallbackOutcome,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallbackOutcome {
    Paid {
        amount_shillings: i64,
        receipt: String,
        transaction_date: Option<DateTime<Utc>>,
        /// Kept as sent: newer callbacks may mask digits.
        phone: Option<String>,
    },
    NotPaid {
        result_code: String,
        description: String,
    },
}

/// A malformed callback, naming the offending field by its path in the body.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CallbackError {
    #[error("callback body is not JSON: {0}")]
    NotJson(String),
    #[error("{field} is missing")]
    Missing { field: &'static str },
    #[error("{field} is invalid: {reason}")]
    Invalid {
        field: &'static str,
        reason: &'static str,
    },
}

impl CallbackError {
    pub fn field(&self) -> Option<&'static str> {
        match self {
            Self::NotJson(_) => None,
            Self::Missing { field } | Self::Invalid { field, .. } => Some(field),
        }
    }
}

/// The path of a field in the callback body, as error messages name it.
macro_rules! field {
    (item $name:literal) => {
        concat!("Body.stkCallback.CallbackMetadata.Item.", $name)
    };
    ($name:literal) => {
        concat!("Body.stkCallback.", $name)
    };
    () => {
        "Body.stkCallback"
    };
}

const ITEMS: &str = field!("CallbackMetadata.Item");
const AMOUNT: &str = field!(item "Amount");

pub fn parse_callback(bytes: &[u8]) -> Result<CallbackResult, CallbackError> {
    let root: Value =
        serde_json::from_slice(bytes).map_err(|err| CallbackError::NotJson(err.to_string()))?;
    let callback = member(member(&root, "Body", "Body")?, "stkCallback", field!())?;
    if !callback.is_object() {
        return Err(invalid(field!(), "not an object"));
    }
    let merchant_request_id = text(callback, "MerchantRequestID", field!("MerchantRequestID"))?;
    let checkout_request_id = text(callback, "CheckoutRequestID", field!("CheckoutRequestID"))?;
    let code_field = field!("ResultCode");
    let result_code = ResultCode::from_json(member(callback, "ResultCode", code_field)?)
        .ok_or_else(|| invalid(code_field, "neither a number nor a non-empty string"))?;
    let outcome = if result_code.is_success() {
        paid(callback)?
    } else {
        CallbackOutcome::NotPaid {
            result_code: result_code.raw,
            description: description(callback)?,
        }
    };
    Ok(CallbackResult {
        merchant_request_id,
        checkout_request_id,
        outcome,
    })
}

/// The callback body Daraja would send for `result`, as in the samples.
pub fn build_callback(result: &CallbackResult) -> Value {
    let mut callback = json!({
        "MerchantRequestID": result.merchant_request_id,
        "CheckoutRequestID": result.checkout_request_id,
    });
    match &result.outcome {
        CallbackOutcome::Paid {
            amount_shillings,
            receipt,
            transaction_date,
            phone,
        } => {
            // Written as a float on purpose: real callbacks say `1499.0`.
            let mut items = vec![
                json!({ "Name": "Amount", "Value": *amount_shillings as f64 }),
                json!({ "Name": "MpesaReceiptNumber", "Value": receipt }),
                json!({ "Name": "Balance" }),
            ];
            if let Some(date) = transaction_date {
                let value = timestamp(*date)
                    .parse::<u64>()
                    .map_or(Value::Null, Value::from);
                items.push(json!({ "Name": "TransactionDate", "Value": value }));
            }
            if let Some(phone) = phone {
                let value = phone
                    .parse::<u64>()
                    .map_or_else(|_| json!(phone), Value::from);
                items.push(json!({ "Name": "PhoneNumber", "Value": value }));
            }
            callback["ResultCode"] = json!(0);
            callback["ResultDesc"] = json!("The service request is processed successfully.");
            callback["CallbackMetadata"] = json!({ "Item": items });
        }
        CallbackOutcome::NotPaid {
            result_code,
            description,
        } => {
            callback["ResultCode"] = ResultCode {
                raw: result_code.clone(),
            }
            .to_json();
            callback["ResultDesc"] = json!(description);
        }
    }
    json!({ "Body": { "stkCallback": callback } })
}

fn paid(callback: &Value) -> Result<CallbackOutcome, CallbackError> {
    let metadata = member(callback, "CallbackMetadata", field!("CallbackMetadata"))?;
    let items = items(member(metadata, "Item", ITEMS)?)?;
    let amount = shillings(required(&items, "Amount", AMOUNT)?)?;
    let receipt_field = field!(item "MpesaReceiptNumber");
    let receipt = required(&items, "MpesaReceiptNumber", receipt_field)?
        .as_str()
        .filter(|receipt| !receipt.trim().is_empty())
        .ok_or_else(|| invalid(receipt_field, "not a non-empty string"))?;
    let transaction_date = find(&items, "TransactionDate")
        .map(transaction_date)
        .transpose()?;
    let phone = find(&items, "PhoneNumber").map(phone).transpose()?;
    Ok(CallbackOutcome::Paid {
        amount_shillings: amount,
        receipt: receipt.trim().to_owned(),
        transaction_date,
        phone,
    })
}

/// `ResultDesc` is informative only, so a missing one is tolerated.
fn description(callback: &Value) -> Result<String, CallbackError> {
    match callback.get("ResultDesc") {
        None | Some(Value::Null) => Ok(String::new()),
        Some(Value::String(text)) => Ok(text.clone()),
        Some(_) => Err(invalid(field!("ResultDesc"), "not a string")),
    }
}

/// `(Name, Value)` pairs; a `Value` may be absent (Daraja's `Balance` often is).
fn items(list: &Value) -> Result<Vec<(&str, Option<&Value>)>, CallbackError> {
    let list = list
        .as_array()
        .ok_or_else(|| invalid(ITEMS, "not an array"))?;
    list.iter()
        .map(|item| {
            let name = item.get("Name").and_then(Value::as_str);
            let name = name.ok_or_else(|| invalid(ITEMS, "an item has no string Name"))?;
            Ok((name, item.get("Value").filter(|value| !value.is_null())))
        })
        .collect()
}

fn find<'a>(items: &[(&str, Option<&'a Value>)], name: &str) -> Option<&'a Value> {
    items
        .iter()
        .find(|(item, _)| *item == name)
        .and_then(|(_, value)| *value)
}

fn required<'a>(
    items: &[(&str, Option<&'a Value>)],
    name: &str,
    field: &'static str,
) -> Result<&'a Value, CallbackError> {
    find(items, name).ok_or(CallbackError::Missing { field })
}

/// Whole shillings from a JSON number that may be written `1499.0`.
fn shillings(value: &Value) -> Result<i64, CallbackError> {
    let Value::Number(number) = value else {
        return Err(invalid(AMOUNT, "not a number"));
    };
    if number.as_f64().is_some_and(|amount| amount < 0.0) {
        return Err(invalid(AMOUNT, "negative"));
    }
    whole_number(number).ok_or_else(|| invalid(AMOUNT, "not a whole number of shillings"))
}

/// An integer, or a float with no fractional part that an `i64` holds exactly.
fn whole_number(number: &serde_json::Number) -> Option<i64> {
    const EXACT_IN_F64: f64 = 9_007_199_254_740_992.0;
    number.as_i64().or_else(|| {
        let float = number.as_f64()?;
        (float.fract() == 0.0 && float.abs() <= EXACT_IN_F64).then_some(float as i64)
    })
}

fn transaction_date(value: &Value) -> Result<DateTime<Utc>, CallbackError> {
    let digits = match value {
        Value::Number(number) => number.as_u64().map(|date| date.to_string()),
        Value::String(text) => Some(text.trim().to_owned()),
        _ => None,
    };
    digits
        .as_deref()
        .and_then(parse_timestamp)
        .ok_or_else(|| invalid(field!(item "TransactionDate"), "not a YYYYMMDDHHmmss time"))
}

fn phone(value: &Value) -> Result<String, CallbackError> {
    match value {
        Value::Number(number) if number.is_u64() => Ok(number.to_string()),
        Value::String(text) if !text.trim().is_empty() => Ok(text.trim().to_owned()),
        _ => Err(invalid(
            field!(item "PhoneNumber"),
            "neither a number nor a string",
        )),
    }
}

fn member<'a>(
    parent: &'a Value,
    key: &str,
    field: &'static str,
) -> Result<&'a Value, CallbackError> {
    parent
        .get(key)
        .filter(|value| !value.is_null())
        .ok_or(CallbackError::Missing { field })
}

fn text(parent: &Value, key: &str, field: &'static str) -> Result<String, CallbackError> {
    member(parent, key, field)?
        .as_str()
        .filter(|text| !text.trim().is_empty())
        .map(|text| text.trim().to_owned())
        .ok_or_else(|| invalid(field, "not a non-empty string"))
}

fn invalid(field: &'static str, reason: &'static str) -> CallbackError {
    CallbackError::Invalid { field, reason }
}
