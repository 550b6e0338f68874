//! The checks `FakeDaraja` applies to STK push and query bodies. They share no code with the client
//! (they decode the password rather than encode it) so one mistake cannot hide in both.

use base64::prelude::*;
use chrono::{DateTime, NaiveDateTime, TimeDelta, Utc};
use serde_json::Value;

use super::FakeConfig;

/// `(field, what was wrong)`, in the order the fields were checked.
pub(super) type Violations = Vec<(&'static str, String)>;

/// Daraja refuses timestamps far from its own clock.
const CLOCK_TOLERANCE: TimeDelta = TimeDelta::seconds(120);
const TRANSACTION_TYPES: [&str; 2] = ["CustomerPayBillOnline", "CustomerBuyGoodsOnline"];

pub(super) fn push(config: &FakeConfig, body: &[u8], now: DateTime<Utc>) -> (Value, Violations) {
    let mut check = match Check::parse(body) {
        Ok(check) => check,
        Err(violations) => return (Value::Null, violations),
    };
    let shortcode = check.shortcode(config);
    check.credentials(config, shortcode, now);
    let kind = check.string("TransactionType");
    if kind
        .as_deref()
        .is_some_and(|kind| !TRANSACTION_TYPES.contains(&kind))
    {
        check.fail("TransactionType", format!("unknown type {kind:?}"));
    }
    if check.integer("Amount").is_some_and(|amount| amount < 1) {
        check.fail("Amount", "must be at least 1".to_owned());
    }
    check.phone("PartyA");
    check.phone("PhoneNumber");
    let party_b = check.integer("PartyB");
    let paybill = kind.as_deref() == Some("CustomerPayBillOnline");
    if paybill && party_b.is_some() && party_b != shortcode {
        check.fail(
            "PartyB",
            "a paybill's PartyB is its BusinessShortCode".to_owned(),
        );
    }
    check.url("CallBackURL");
    check.short_text("AccountReference", 12);
    check.short_text("TransactionDesc", 13);
    check.finish()
}

pub(super) fn query(config: &FakeConfig, body: &[u8], now: DateTime<Utc>) -> (Value, Violations) {
    let mut check = match Check::parse(body) {
        Ok(check) => check,
        Err(violations) => return (Value::Null, violations),
    };
    let shortcode = check.shortcode(config);
    check.credentials(config, shortcode, now);
    if check
        .string("CheckoutRequestID")
        .is_some_and(|id| id.is_empty())
    {
        check.fail("CheckoutRequestID", "is empty".to_owned());
    }
    check.finish()
}

const B2C_COMMANDS: [&str; 3] = ["BusinessPayment", "SalaryPayment", "PromotionPayment"];

pub(super) fn b2c_payment(config: &FakeConfig, body: &[u8]) -> (Value, Violations) {
    let mut check = match Check::parse(body) {
        Ok(check) => check,
        Err(violations) => return (Value::Null, violations),
    };
    check.initiator(config, "InitiatorName");
    if check
        .string("OriginatorConversationID")
        .is_some_and(|id| id.trim().is_empty())
    {
        check.fail("OriginatorConversationID", "is empty".to_owned());
    }
    let command = check.string("CommandID");
    if command.is_some_and(|c| !B2C_COMMANDS.contains(&c.as_str())) {
        check.fail("CommandID", "not a B2C command".to_owned());
    }
    if check.integer("Amount").is_some_and(|amount| amount < 10) {
        check.fail("Amount", "B2C pays at least 10".to_owned());
    }
    check.b2c_shortcode(config);
    check.phone("PartyB");
    check.short_text("Remarks", 100);
    check.url("QueueTimeOutURL");
    check.url("ResultURL");
    check.finish()
}

pub(super) fn b2c_status(config: &FakeConfig, body: &[u8]) -> (Value, Violations) {
    let mut check = match Check::parse(body) {
        Ok(check) => check,
        Err(violations) => return (Value::Null, violations),
    };
    check.initiator(config, "Initiator");
    if check.string("CommandID").as_deref() != Some("TransactionStatusQuery") {
        check.fail("CommandID", "must be TransactionStatusQuery".to_owned());
    }
    let receipt = check
        .body
        .get("TransactionID")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let original = check
        .body
        .get("OriginalConversationID")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if receipt.is_empty() && original.is_empty() {
        check.fail(
            "TransactionID",
            "a TransactionID or an OriginalConversationID is needed".to_owned(),
        );
    }
    check.string("OriginatorConversationID");
    check.b2c_shortcode(config);
    if check.string("IdentifierType").as_deref() != Some("4") {
        check.fail(
            "IdentifierType",
            "a shortcode is identifier type \"4\"".to_owned(),
        );
    }
    check.url("QueueTimeOutURL");
    check.url("ResultURL");
    check.short_text("Remarks", 100);
    check.finish()
}

struct Check {
    body: Value,
    violations: Violations,
}

impl Check {
    fn parse(body: &[u8]) -> Result<Self, Violations> {
        match serde_json::from_slice::<Value>(body) {
            Ok(body) if body.is_object() => Ok(Self {
                body,
                violations: Vec::new(),
            }),
            _ => Err(vec![("Body", "not a JSON object".to_owned())]),
        }
    }

    fn finish(self) -> (Value, Violations) {
        (self.body, self.violations)
    }

    fn fail(&mut self, field: &'static str, why: String) {
        self.violations.push((field, why));
    }

    fn present(&mut self, field: &'static str) -> Option<Value> {
        let value = self
            .body
            .get(field)
            .filter(|value| !value.is_null())
            .cloned();
        if value.is_none() {
            self.fail(field, "missing".to_owned());
        }
        value
    }

    fn string(&mut self, field: &'static str) -> Option<String> {
        match self.present(field)? {
            Value::String(text) => Some(text),
            other => {
                self.fail(field, format!("must be a JSON string, got {other}"));
                None
            }
        }
    }

    /// A JSON integer: Daraja rejects strings and decimals where it wants a number.
    fn integer(&mut self, field: &'static str) -> Option<i64> {
        match self.present(field)? {
            Value::Number(number) if number.is_i64() => number.as_i64(),
            other => {
                self.fail(field, format!("must be a JSON integer, got {other}"));
                None
            }
        }
    }

    fn shortcode(&mut self, config: &FakeConfig) -> Option<i64> {
        let shortcode = self.integer("BusinessShortCode")?;
        if u64::try_from(shortcode).ok() != Some(config.shortcode) {
            self.fail(
                "BusinessShortCode",
                format!("unknown shortcode {shortcode}"),
            );
        }
        Some(shortcode)
    }

    /// `Timestamp` near Kenyan now; `Password` = base64(shortcode + passkey + Timestamp).
    fn credentials(&mut self, config: &FakeConfig, shortcode: Option<i64>, now: DateTime<Utc>) {
        let timestamp = self.string("Timestamp");
        if let Some(timestamp) = &timestamp {
            self.timestamp(timestamp, now);
        }
        let Some(password) = self.string("Password") else {
            return;
        };
        let decoded = BASE64_STANDARD.decode(password.as_bytes()).ok();
        let decoded = decoded.and_then(|bytes| String::from_utf8(bytes).ok());
        let (Some(shortcode), Some(timestamp)) = (shortcode, timestamp) else {
            return;
        };
        let expected = format!("{shortcode}{}{timestamp}", config.passkey);
        if decoded.as_deref() != Some(expected.as_str()) {
            self.fail(
                "Password",
                "is not base64(shortcode + passkey + Timestamp)".to_owned(),
            );
        }
    }

    fn timestamp(&mut self, timestamp: &str, now: DateTime<Utc>) {
        let well_formed = timestamp.len() == 14 && timestamp.bytes().all(|b| b.is_ascii_digit());
        let parsed = NaiveDateTime::parse_from_str(timestamp, "%Y%m%d%H%M%S").ok();
        let Some(parsed) = parsed.filter(|_| well_formed) else {
            self.fail("Timestamp", format!("{timestamp:?} is not YYYYMMDDHHmmss"));
            return;
        };
        let kenya_now = (now + TimeDelta::hours(3)).naive_utc();
        if (parsed - kenya_now).abs() > CLOCK_TOLERANCE {
            let expected = kenya_now.format("%Y%m%d%H%M%S");
            self.fail(
                "Timestamp",
                format!("{timestamp} is not within 120 s of {expected} (EAT)"),
            );
        }
    }

    fn initiator(&mut self, config: &FakeConfig, name_field: &'static str) {
        if self
            .string(name_field)
            .is_some_and(|n| n != config.initiator_name)
        {
            self.fail(name_field, "unknown initiator".to_owned());
        }
        let credential = self.string("SecurityCredential");
        if credential.is_some_and(|c| c != config.security_credential) {
            self.fail("SecurityCredential", "wrong credential".to_owned());
        }
    }

    fn b2c_shortcode(&mut self, config: &FakeConfig) {
        let party_a = self.integer("PartyA");
        if party_a.is_some_and(|a| u64::try_from(a).ok() != Some(config.b2c_shortcode)) {
            self.fail("PartyA", "not the B2C shortcode".to_owned());
        }
    }

    /// `2547XXXXXXXX` or `2541XXXXXXXX`, as a JSON integer.
    fn phone(&mut self, field: &'static str) {
        let Some(phone) = self.integer(field) else {
            return;
        };
        let digits = phone.to_string();
        if digits.len() != 12 || !(digits.starts_with("2547") || digits.starts_with("2541")) {
            self.fail(
                field,
                format!("{digits} is not 2547XXXXXXXX or 2541XXXXXXXX"),
            );
        }
    }

    fn url(&mut self, field: &'static str) {
        let Some(url) = self.string(field) else {
            return;
        };
        if !(url.starts_with("https://") || url.starts_with("http://")) {
            self.fail(field, format!("{url:?} is not an http(s) URL"));
        }
    }

    fn short_text(&mut self, field: &'static str, max_chars: usize) {
        let Some(text) = self.string(field) else {
            return;
        };
        let length = text.chars().count();
        if length == 0 || length > max_chars {
            self.fail(
                field,
                format!("must be 1 to {max_chars} characters, got {length}"),
            );
        }
    }
}
