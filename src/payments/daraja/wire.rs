//! Daraja's wire format: the EAT timestamp, the password, the request bodies and the reading of
//! its answers. Pure functions, so the exact bytes are testable without a server.

use base64::prelude::*;
use chrono::{DateTime, FixedOffset, NaiveDateTime, TimeDelta, Utc};
use serde_json::{Value, json};

use crate::payments::{
    DarajaConfig, GatewayError, ResultCode, Secret, StkPush, StkPushAccepted, StkQueryOutcome,
};

pub const ACCOUNT_REFERENCE_MAX: usize = 12;
pub const DESCRIPTION_MAX: usize = 13;

/// Kenyan time (UTC+3, no daylight saving): Daraja reads and writes every timestamp in it,
/// whatever zone our server runs in.
pub const EAT: FixedOffset = match FixedOffset::east_opt(3 * 3600) {
    Some(offset) => offset,
    None => panic!("UTC+3 is a valid offset"),
};

/// `YYYYMMDDHHmmss` in EAT, as Daraja's `Timestamp` and `TransactionDate` are written.
pub fn timestamp(now: DateTime<Utc>) -> String {
    now.with_timezone(&EAT).format("%Y%m%d%H%M%S").to_string()
}

/// Reads a Daraja `YYYYMMDDHHmmss` EAT timestamp; `None` unless 14 digits of a real time.
pub fn parse_timestamp(text: &str) -> Option<DateTime<Utc>> {
    if text.len() != 14 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let naive = NaiveDateTime::parse_from_str(text, "%Y%m%d%H%M%S").ok()?;
    Some(naive.and_local_timezone(EAT).single()?.with_timezone(&Utc))
}

/// `Password` = base64(shortcode + passkey + timestamp).
pub fn password(shortcode: u64, passkey: &Secret, timestamp: &str) -> String {
    BASE64_STANDARD.encode(format!("{shortcode}{}{timestamp}", passkey.expose()))
}

/// The first `max` characters, never splitting one (Daraja counts characters, not bytes).
pub fn truncate_chars(text: &str, max: usize) -> &str {
    text.char_indices()
        .nth(max)
        .map_or(text, |(at, _)| &text[..at])
}

/// The STK push body of `stk_push_request.json`, numbers as numbers.
pub fn push_body(
    config: &DarajaConfig,
    req: &StkPush,
    now: DateTime<Utc>,
) -> Result<Value, GatewayError> {
    let phone: u64 = req.phone.parse().map_err(|_| GatewayError::Rejected {
        code: "invalid_phone".to_owned(),
        message: "the phone must be digits, normalised as 2547XXXXXXXX".to_owned(),
    })?;
    // One clock reading for both fields: a second one can straddle a second and break the password.
    let timestamp = timestamp(now);
    Ok(json!({
        "BusinessShortCode": config.shortcode,
        "Password": password(config.shortcode, &config.passkey, &timestamp),
        "Timestamp": timestamp,
        "TransactionType": config.transaction_type.as_str(),
        "Amount": req.amount_shillings,
        "PartyA": phone,
        "PartyB": config.party_b,
        "PhoneNumber": phone,
        "CallBackURL": req.callback_url,
        "AccountReference": truncate_chars(&req.account_reference, ACCOUNT_REFERENCE_MAX),
        "TransactionDesc": truncate_chars(&req.description, DESCRIPTION_MAX),
    }))
}

/// The STK push query body of `stk_query_request.json`.
pub fn query_body(config: &DarajaConfig, checkout_request_id: &str, now: DateTime<Utc>) -> Value {
    let timestamp = timestamp(now);
    json!({
        "BusinessShortCode": config.shortcode,
        "Password": password(config.shortcode, &config.passkey, &timestamp),
        "Timestamp": timestamp,
        "CheckoutRequestID": checkout_request_id,
    })
}

pub(super) fn push_accepted(answer: &Value) -> Result<StkPushAccepted, GatewayError> {
    let text = |name: &str| answer.get(name).and_then(Value::as_str).map(str::to_owned);
    let code = answer.get("ResponseCode").and_then(ResultCode::from_json);
    if let Some(code) = code.filter(|code| !code.is_success()) {
        let message = text("ResponseDescription").unwrap_or_default();
        return Err(GatewayError::Rejected {
            code: code.raw,
            message,
        });
    }
    match (text("MerchantRequestID"), text("CheckoutRequestID")) {
        (Some(merchant_request_id), Some(checkout_request_id)) => Ok(StkPushAccepted {
            merchant_request_id,
            checkout_request_id,
        }),
        _ => Err(GatewayError::Unavailable(
            "STK push answer without request ids".to_owned(),
        )),
    }
}

pub(super) fn query_outcome(answer: &Value) -> StkQueryOutcome {
    // Without a ResultCode the answer proves nothing yet; a later query settles it.
    let Some(code) = answer.get("ResultCode").and_then(ResultCode::from_json) else {
        return StkQueryOutcome::Pending;
    };
    if code.is_success() {
        return StkQueryOutcome::Succeeded;
    }
    let reason = answer
        .get("ResultDesc")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    StkQueryOutcome::Failed {
        result_code: code.raw,
        reason,
    }
}

/// The token and its lifetime from an OAuth answer, read without echoing it anywhere.
pub(super) fn read_token(answer: &Value) -> Result<(String, TimeDelta), GatewayError> {
    let malformed = |what: &str| GatewayError::Unavailable(format!("OAuth answer: {what}"));
    let token = answer
        .get("access_token")
        .and_then(Value::as_str)
        .filter(|token| !token.is_empty())
        .ok_or_else(|| malformed("no access_token"))?;
    // Documented as a string of seconds; a number is accepted too.
    let seconds = match answer.get("expires_in") {
        Some(Value::String(text)) => text.trim().parse::<i64>().ok(),
        Some(number) => number.as_i64(),
        None => None,
    };
    let seconds = seconds.ok_or_else(|| malformed("expires_in is not a number of seconds"))?;
    // Clamped so that a silly value can never overflow the clock arithmetic.
    let lifetime = TimeDelta::seconds(seconds.clamp(0, 24 * 3600));
    Ok((token.to_owned(), lifetime))
}
