//! The simulator against a local webhook: each phone suffix's callback and query answer.

use std::time::Duration;

use super::support::{Receiver, push};
use crate::payments::{
    CallbackOutcome, GatewayError, MpesaGateway, Simulator, StkPushAccepted, StkQueryOutcome,
};

fn simulator() -> Simulator {
    Simulator::new(Duration::from_millis(10)).expect("HTTP client")
}

fn failed(code: &str, reason: &str) -> StkQueryOutcome {
    StkQueryOutcome::Failed {
        result_code: code.to_owned(),
        reason: reason.to_owned(),
    }
}

fn assert_daraja_ids(accepted: &StkPushAccepted) {
    let digits = accepted
        .checkout_request_id
        .strip_prefix("ws_CO_")
        .expect("ws_CO_ prefix");
    assert!(
        digits.len() >= 14 && digits.bytes().all(|b| b.is_ascii_digit()),
        "{accepted:?}"
    );
    assert!(!accepted.merchant_request_id.is_empty());
}

#[tokio::test]
async fn an_ordinary_phone_pays() {
    let simulator = simulator();
    let mut receiver = Receiver::start().await;
    let accepted = simulator
        .stk_push(&push("254712345678", 1499, &receiver.url))
        .await
        .unwrap();
    assert_daraja_ids(&accepted);
    let callback = receiver.next().await;
    assert_eq!(callback.checkout_request_id, accepted.checkout_request_id);
    assert_eq!(callback.merchant_request_id, accepted.merchant_request_id);
    let CallbackOutcome::Paid {
        amount_shillings,
        receipt,
        transaction_date,
        phone,
    } = callback.outcome
    else {
        panic!("paid, got {callback:?}");
    };
    assert_eq!(amount_shillings, 1499);
    assert_eq!(phone.as_deref(), Some("254712345678"));
    assert!(transaction_date.is_some());
    assert_eq!(receipt.len(), 10);
    assert!(
        receipt
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit()),
        "{receipt}"
    );
    let outcome = simulator.stk_query(&accepted.checkout_request_id).await;
    assert_eq!(outcome, Ok(StkQueryOutcome::Succeeded));
}

#[tokio::test]
async fn phones_ending_0001_and_0002_decline() {
    let cases = [
        ("254712340001", "1032", "Request cancelled by user"),
        (
            "254712340002",
            "1",
            "The balance is insufficient for the transaction.",
        ),
    ];
    let simulator = simulator();
    let mut receiver = Receiver::start().await;
    for (phone, code, description) in cases {
        let accepted = simulator
            .stk_push(&push(phone, 10, &receiver.url))
            .await
            .unwrap();
        let callback = receiver.next().await;
        assert_eq!(callback.checkout_request_id, accepted.checkout_request_id);
        let expected = CallbackOutcome::NotPaid {
            result_code: code.to_owned(),
            description: description.to_owned(),
        };
        assert_eq!(callback.outcome, expected);
        let outcome = simulator.stk_query(&accepted.checkout_request_id).await;
        assert_eq!(outcome, Ok(failed(code, description)));
    }
}

#[tokio::test]
async fn a_phone_ending_0003_never_calls_back() {
    let simulator = simulator();
    let mut receiver = Receiver::start().await;
    let silent = simulator
        .stk_push(&push("254712340003", 10, &receiver.url))
        .await
        .unwrap();
    // The silent push spawns no delivery at all, so once the later push has called back,
    // nothing else can be on its way.
    let paying = simulator
        .stk_push(&push("254712345678", 10, &receiver.url))
        .await
        .unwrap();
    let callback = receiver.next().await;
    assert_eq!(callback.checkout_request_id, paying.checkout_request_id);
    assert!(!receiver.has_pending());
    let outcome = simulator.stk_query(&silent.checkout_request_id).await;
    assert_eq!(
        outcome,
        Ok(failed("1037", "DS timeout user cannot be reached"))
    );
}

#[tokio::test]
async fn unknown_attempts_and_bad_amounts_are_rejected() {
    let simulator = simulator();
    let unknown = simulator.stk_query("ws_CO_000").await;
    assert!(
        matches!(unknown, Err(GatewayError::Rejected { .. })),
        "{unknown:?}"
    );
    let zero = simulator
        .stk_push(&push("254712345678", 0, "http://127.0.0.1:9/"))
        .await;
    assert!(matches!(zero, Err(GatewayError::Rejected { code, .. }) if code == "400.002.02"));
}
