//! Callback parsing against Daraja's samples and against the malformed bodies it must refuse.

use chrono::{TimeZone, Utc};
use serde_json::{Value, json};

use super::support::{fixture, fixture_json};
use crate::payments::{
    CallbackError, CallbackOutcome, CallbackResult, ResultCode, build_callback, parse_callback,
};

fn parse_value(body: &Value) -> Result<CallbackResult, CallbackError> {
    parse_callback(body.to_string().as_bytes())
}

/// The success sample with one edit to its `stkCallback` object.
fn success_with(edit: impl FnOnce(&mut Value)) -> Value {
    let mut body = fixture_json("callback_success.json");
    edit(&mut body["Body"]["stkCallback"]);
    body
}

fn items(callback: &mut Value) -> &mut Vec<Value> {
    callback["CallbackMetadata"]["Item"]
        .as_array_mut()
        .expect("items")
}

fn set_item(callback: &mut Value, name: &str, value: Value) {
    let item = items(callback).iter_mut().find(|item| item["Name"] == name);
    item.expect("the item exists")["Value"] = value;
}

fn drop_item(callback: &mut Value, name: &str) {
    items(callback).retain(|item| item["Name"] != name);
}

fn field_of(body: &Value) -> Option<&'static str> {
    parse_value(body).expect_err("a malformed callback").field()
}

#[test]
fn success_sample_is_paid() {
    let result = parse_callback(&fixture("callback_success.json")).unwrap();
    assert_eq!(result.merchant_request_id, "29115-34620561-1");
    assert_eq!(result.checkout_request_id, "ws_CO_251120261305001234");
    let paid_at = Utc.with_ymd_and_hms(2026, 11, 25, 10, 5, 42).unwrap();
    let expected = CallbackOutcome::Paid {
        amount_shillings: 1499,
        receipt: "SKP4XG7T2B".to_owned(),
        transaction_date: Some(paid_at),
        phone: Some("254708374149".to_owned()),
    };
    assert_eq!(result.outcome, expected);
}

#[test]
fn failed_sample_is_not_paid() {
    let result = parse_callback(&fixture("callback_failed.json")).unwrap();
    assert_eq!(result.checkout_request_id, "ws_CO_251120261305001234");
    let expected = CallbackOutcome::NotPaid {
        result_code: "1032".to_owned(),
        description: "Request cancelled by user".to_owned(),
    };
    assert_eq!(result.outcome, expected);
}

#[test]
fn string_code_sample_keeps_the_raw_code() {
    let result = parse_callback(&fixture("callback_failed_string_code.json")).unwrap();
    let expected = CallbackOutcome::NotPaid {
        result_code: "SFC_IC0003".to_owned(),
        description: "The operator does not exist.".to_owned(),
    };
    assert_eq!(result.outcome, expected);
}

#[test]
fn result_codes_are_read_leniently() {
    let cases = [
        (json!(0), Some("0"), true),
        (json!("0"), Some("0"), true),
        (json!(0.0), Some("0"), true),
        (json!(1032), Some("1032"), false),
        (json!("1032"), Some("1032"), false),
        (json!("SFC_IC0003"), Some("SFC_IC0003"), false),
        (json!(""), None, false),
        (json!(true), None, false),
        (json!({ "code": 0 }), None, false),
        (json!(0.5), None, false),
    ];
    for (value, raw, success) in cases {
        let code = ResultCode::from_json(&value);
        assert_eq!(code.as_ref().map(|code| code.raw.as_str()), raw, "{value}");
        assert_eq!(
            code.is_some_and(|code| code.is_success()),
            success,
            "{value}"
        );
    }
}

#[test]
fn a_numeric_string_zero_with_metadata_is_paid() {
    let body = success_with(|callback| callback["ResultCode"] = json!("0"));
    let result = parse_value(&body).unwrap();
    assert!(matches!(
        result.outcome,
        CallbackOutcome::Paid {
            amount_shillings: 1499,
            ..
        }
    ));
}

#[test]
fn items_are_read_by_name_in_any_order() {
    let body = success_with(|callback| items(callback).reverse());
    assert_eq!(
        parse_value(&body).unwrap(),
        parse_callback(&fixture("callback_success.json")).unwrap()
    );
}

#[test]
fn optional_items_may_be_missing_and_phones_masked() {
    let body = success_with(|callback| {
        drop_item(callback, "TransactionDate");
        set_item(callback, "PhoneNumber", json!("2547 ***** 149"));
    });
    let CallbackOutcome::Paid {
        transaction_date,
        phone,
        ..
    } = parse_value(&body).unwrap().outcome
    else {
        panic!("paid");
    };
    assert_eq!(transaction_date, None);
    assert_eq!(phone.as_deref(), Some("2547 ***** 149"));
}

#[test]
fn missing_ids_are_named() {
    let body = success_with(|callback| {
        callback
            .as_object_mut()
            .unwrap()
            .remove("CheckoutRequestID");
    });
    let err = parse_value(&body).unwrap_err();
    assert_eq!(
        err,
        CallbackError::Missing {
            field: "Body.stkCallback.CheckoutRequestID"
        }
    );
    assert!(
        err.to_string()
            .contains("Body.stkCallback.CheckoutRequestID")
    );
    let body = success_with(|callback| callback["MerchantRequestID"] = Value::Null);
    assert_eq!(field_of(&body), Some("Body.stkCallback.MerchantRequestID"));
}

#[test]
fn amounts_must_be_whole_non_negative_numbers() {
    let amount = Some("Body.stkCallback.CallbackMetadata.Item.Amount");
    for bad in [
        json!(1499.5),
        json!(-1499),
        json!(-1.0),
        json!("1499"),
        json!(true),
    ] {
        let body = success_with(|callback| set_item(callback, "Amount", bad.clone()));
        assert_eq!(field_of(&body), amount, "{bad}");
    }
    let body = success_with(|callback| set_item(callback, "Amount", json!(1499)));
    assert!(parse_value(&body).is_ok());
}

#[test]
fn a_success_without_amount_or_receipt_is_malformed() {
    let body = success_with(|callback| drop_item(callback, "Amount"));
    assert_eq!(
        field_of(&body),
        Some("Body.stkCallback.CallbackMetadata.Item.Amount")
    );
    let body = success_with(|callback| drop_item(callback, "MpesaReceiptNumber"));
    let receipt = "Body.stkCallback.CallbackMetadata.Item.MpesaReceiptNumber";
    assert_eq!(field_of(&body), Some(receipt));
    let body = success_with(|callback| set_item(callback, "MpesaReceiptNumber", json!(42)));
    assert_eq!(field_of(&body), Some(receipt));
    let body = success_with(|callback| {
        callback.as_object_mut().unwrap().remove("CallbackMetadata");
    });
    assert_eq!(field_of(&body), Some("Body.stkCallback.CallbackMetadata"));
}

#[test]
fn wrong_types_are_named() {
    let cases = [
        (
            "CheckoutRequestID",
            json!(12345),
            "Body.stkCallback.CheckoutRequestID",
        ),
        ("ResultCode", json!([0]), "Body.stkCallback.ResultCode"),
        ("ResultDesc", json!(7), "Body.stkCallback.ResultDesc"),
        (
            "CallbackMetadata",
            json!({ "Item": {} }),
            "Body.stkCallback.CallbackMetadata.Item",
        ),
    ];
    for (key, value, field) in cases {
        let mut body = fixture_json("callback_failed.json");
        if key == "CallbackMetadata" {
            body = fixture_json("callback_success.json");
        }
        body["Body"]["stkCallback"][key] = value;
        assert_eq!(field_of(&body), Some(field), "{key}");
    }
    let body = success_with(|callback| set_item(callback, "TransactionDate", json!("yesterday")));
    let date = "Body.stkCallback.CallbackMetadata.Item.TransactionDate";
    assert_eq!(field_of(&body), Some(date));
}

#[test]
fn bodies_that_are_not_callbacks_are_refused() {
    assert!(matches!(
        parse_callback(b"not json"),
        Err(CallbackError::NotJson(_))
    ));
    assert_eq!(field_of(&json!({})), Some("Body"));
    assert_eq!(field_of(&json!({ "Body": {} })), Some("Body.stkCallback"));
    assert_eq!(
        field_of(&json!({ "Body": { "stkCallback": "x" } })),
        Some("Body.stkCallback")
    );
}

#[test]
fn built_callbacks_parse_back_to_what_was_built() {
    let paid = CallbackResult {
        merchant_request_id: "29115-34620561-1".to_owned(),
        checkout_request_id: "ws_CO_251120261305001234".to_owned(),
        outcome: CallbackOutcome::Paid {
            amount_shillings: 1499,
            receipt: "SKP4XG7T2B".to_owned(),
            transaction_date: Some(Utc.with_ymd_and_hms(2026, 11, 25, 10, 5, 42).unwrap()),
            phone: Some("254708374149".to_owned()),
        },
    };
    assert_eq!(build_callback(&paid), fixture_json("callback_success.json"));
    let declined = CallbackResult {
        outcome: CallbackOutcome::NotPaid {
            result_code: "SFC_IC0003".to_owned(),
            description: "The operator does not exist.".to_owned(),
        },
        ..paid.clone()
    };
    for result in [paid, declined] {
        assert_eq!(parse_value(&build_callback(&result)).unwrap(), result);
    }
    let failed = parse_callback(&fixture("callback_failed.json")).unwrap();
    assert_eq!(
        build_callback(&failed),
        fixture_json("callback_failed.json")
    );
}
