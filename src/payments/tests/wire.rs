//! The wire format against Daraja's samples: timestamp, password, request bodies, config types.

use base64::prelude::*;
use chrono::{DateTime, TimeZone, Utc};
use serde_json::json;

use super::support::fixture_json;
use crate::payments::daraja::{parse_timestamp, password, push_body, query_body, timestamp};
use crate::payments::{
    DarajaConfig, GatewayError, Secret, StkPush, TransactionType, daraja::truncate_chars,
};

const SAMPLE_TIMESTAMP: &str = "20261125130500";

/// The sandbox passkey, read back out of the sample's Password rather than copied.
fn sample_passkey() -> String {
    let sample = fixture_json("stk_push_request.json");
    let encoded = sample["Password"].as_str().expect("sample Password");
    let decoded = String::from_utf8(BASE64_STANDARD.decode(encoded).expect("base64")).unwrap();
    let passkey = decoded
        .strip_prefix("174379")
        .and_then(|rest| rest.strip_suffix(SAMPLE_TIMESTAMP))
        .expect("Password = shortcode + passkey + timestamp");
    passkey.to_owned()
}

fn sample_config() -> DarajaConfig {
    DarajaConfig {
        base_url: "https://sandbox.safaricom.co.ke".to_owned(),
        consumer_key: "key".to_owned(),
        consumer_secret: Secret::new("consumer-secret-value"),
        shortcode: 174379,
        passkey: Secret::new(sample_passkey()),
        transaction_type: TransactionType::CustomerPayBillOnline,
        party_b: 174379,
    }
}

/// 13:05:00 in Nairobi, the sample's Timestamp.
fn sample_now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 25, 10, 5, 0).unwrap()
}

fn sample_push() -> StkPush {
    StkPush {
        phone: "254708374149".to_owned(),
        amount_shillings: 1499,
        account_reference: "TR7K2M9Q".to_owned(),
        description: "Order TR7K2M9Q".to_owned(),
        callback_url: "https://shop.example.com/payments/mpesa/callback/6f1c2d9e4b7a".to_owned(),
    }
}

#[test]
fn password_matches_the_sample() {
    let sample = fixture_json("stk_push_request.json");
    let computed = password(174379, &Secret::new(sample_passkey()), SAMPLE_TIMESTAMP);
    assert_eq!(computed, sample["Password"]);
    let decoded = String::from_utf8(BASE64_STANDARD.decode(&computed).unwrap()).unwrap();
    assert_eq!(
        decoded,
        format!("174379{}{SAMPLE_TIMESTAMP}", sample_passkey())
    );
}

#[test]
fn timestamp_is_kenyan_time_whatever_the_server_zone() {
    assert_eq!(timestamp(sample_now()), SAMPLE_TIMESTAMP);
    // 22:30 UTC on New Year's Eve is already next year in Nairobi.
    let new_year = Utc.with_ymd_and_hms(2026, 12, 31, 22, 30, 0).unwrap();
    assert_eq!(timestamp(new_year), "20270101013000");
}

#[test]
fn daraja_timestamps_read_back_as_utc() {
    let read = parse_timestamp("20261125130542");
    assert_eq!(
        read,
        Some(Utc.with_ymd_and_hms(2026, 11, 25, 10, 5, 42).unwrap())
    );
    assert_eq!(parse_timestamp(SAMPLE_TIMESTAMP), Some(sample_now()));
    for bad in [
        "",
        "2026112513054",
        "202611251305420",
        "20261325130542",
        "2026112513054x",
    ] {
        assert_eq!(parse_timestamp(bad), None, "{bad:?}");
    }
}

#[test]
fn push_body_is_the_sample_with_the_description_cut_to_13_characters() {
    let body = push_body(&sample_config(), &sample_push(), sample_now()).unwrap();
    let mut expected = fixture_json("stk_push_request.json");
    // The sample's "Order TR7K2M9Q" is 14 characters: one over Daraja's limit.
    expected["TransactionDesc"] = json!("Order TR7K2M9");
    assert_eq!(body, expected);
    for number in [
        "BusinessShortCode",
        "Amount",
        "PartyA",
        "PartyB",
        "PhoneNumber",
    ] {
        assert!(body[number].is_u64(), "{number} must be a JSON integer");
    }
}

#[test]
fn push_body_uses_the_till_for_buy_goods() {
    let config = DarajaConfig {
        transaction_type: TransactionType::CustomerBuyGoodsOnline,
        party_b: 600100,
        ..sample_config()
    };
    let body = push_body(&config, &sample_push(), sample_now()).unwrap();
    assert_eq!(body["TransactionType"], "CustomerBuyGoodsOnline");
    assert_eq!(body["PartyB"], 600100);
    assert_eq!(body["BusinessShortCode"], 174379);
}

#[test]
fn push_body_refuses_a_phone_that_is_not_digits() {
    let push = StkPush {
        phone: "0708 374 149".to_owned(),
        ..sample_push()
    };
    let refused = push_body(&sample_config(), &push, sample_now());
    assert!(matches!(refused, Err(GatewayError::Rejected { code, .. }) if code == "invalid_phone"));
}

#[test]
fn query_body_is_the_sample() {
    let body = query_body(&sample_config(), "ws_CO_251120261305001234", sample_now());
    assert_eq!(body, fixture_json("stk_query_request.json"));
}

#[test]
fn references_are_cut_on_character_boundaries() {
    assert_eq!(truncate_chars("TR7K2M9Q", 12), "TR7K2M9Q");
    assert_eq!(truncate_chars("ORDER-123456789", 12), "ORDER-123456");
    assert_eq!(truncate_chars("Malipo ya kahawa ☕☕", 13), "Malipo ya kah");
    assert_eq!(
        truncate_chars("☕☕☕☕☕☕☕☕☕☕☕☕☕☕", 13)
            .chars()
            .count(),
        13
    );
}

#[test]
fn secrets_never_print() {
    let config = sample_config();
    let printed = format!("{config:?} {} {}", config.passkey, config.consumer_secret);
    assert!(!printed.contains(&sample_passkey()));
    assert!(!printed.contains("consumer-secret-value"));
    assert!(printed.contains("***"));
    assert_eq!(config.passkey.expose(), sample_passkey());
}

#[test]
fn transaction_types_parse_from_their_wire_names() {
    for kind in [
        TransactionType::CustomerPayBillOnline,
        TransactionType::CustomerBuyGoodsOnline,
    ] {
        assert_eq!(kind.as_str().parse::<TransactionType>(), Ok(kind));
    }
    assert!("CustomerBuyGoods".parse::<TransactionType>().is_err());
}
