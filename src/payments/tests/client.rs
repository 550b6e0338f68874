//! The real client against `FakeDaraja` when things go right: the protocol end to end, token
//! caching and renewal, queries, and the fake's callbacks.

use std::sync::Arc;

use axum::http::StatusCode;
use chrono::{TimeDelta, Utc};

use super::support::{
    CALLBACK, PHONE, Receiver, assert_rejected, client_for, fake, fast_retry, push,
};
use crate::payments::fake::{BadTokenReply, FakeMode, FakeOutcome};
use crate::payments::{
    CallbackOutcome, DarajaClient, DarajaConfig, MpesaGateway, StkQueryOutcome, TransactionType,
};

#[tokio::test]
async fn a_push_sends_the_exact_protocol_and_reuses_its_token() {
    let fake = fake().await;
    let client = client_for(&fake);
    let first = client.stk_push(&push(PHONE, 1499, CALLBACK)).await.unwrap();
    let second = client.stk_push(&push(PHONE, 250, CALLBACK)).await.unwrap();
    assert!(first.checkout_request_id.starts_with("ws_CO_"));
    assert_ne!(first.checkout_request_id, second.checkout_request_id);
    assert_eq!(fake.violations(), Vec::<String>::new());
    assert_eq!(fake.token_requests(), 1);
    let requests = fake.requests();
    assert_eq!(requests.len(), 2);
    assert_eq!(requests[0]["Amount"], 1499);
    assert_eq!(requests[0]["PhoneNumber"], 254708374149_u64);
    assert_eq!(requests[0]["PartyA"], 254708374149_u64);
    assert_eq!(requests[0]["CallBackURL"], CALLBACK);
    assert_eq!(requests[0]["TransactionDesc"], "Order TR7K2M9");
}

#[tokio::test]
async fn long_references_are_cut_before_daraja_sees_them() {
    let fake = fake().await;
    let mut request = push(PHONE, 10, CALLBACK);
    request.account_reference = "ÖRDER-2026-11-25-0042".to_owned();
    request.description = "Malipo ya kahawa na chai ☕".to_owned();
    client_for(&fake).stk_push(&request).await.unwrap();
    assert_eq!(fake.violations(), Vec::<String>::new());
    let sent = &fake.requests()[0];
    assert_eq!(sent["AccountReference"], "ÖRDER-2026-1");
    assert_eq!(sent["TransactionDesc"], "Malipo ya kah");
}

#[tokio::test]
async fn a_till_pays_with_buy_goods_and_its_own_party_b() {
    let fake = fake().await;
    let config = DarajaConfig {
        transaction_type: TransactionType::CustomerBuyGoodsOnline,
        party_b: 600100,
        ..fake.client_config()
    };
    let client = DarajaClient::new(config).unwrap().with_retry(fast_retry());
    client.stk_push(&push(PHONE, 10, CALLBACK)).await.unwrap();
    assert_eq!(fake.violations(), Vec::<String>::new());
    assert_eq!(fake.requests()[0]["PartyB"], 600100);
}

#[tokio::test]
async fn a_token_is_renewed_a_minute_before_it_expires() {
    let fake = fake().await;
    // A lifetime inside the renewal margin: every call must fetch a new one.
    fake.set_token_lifetime("60");
    let client = client_for(&fake);
    client.stk_push(&push(PHONE, 10, CALLBACK)).await.unwrap();
    client.stk_push(&push(PHONE, 10, CALLBACK)).await.unwrap();
    assert_eq!(fake.token_requests(), 2);
}

#[tokio::test]
async fn a_token_is_renewed_when_the_clock_passes_its_lifetime() {
    let fake = fake().await;
    let offset = Arc::new(std::sync::Mutex::new(TimeDelta::zero()));
    let shifted = offset.clone();
    // The fake checks Timestamp against its own clock, so the skew stays inside its 120 s.
    let clock = Arc::new(move || Utc::now() + *shifted.lock().unwrap());
    fake.set_token_lifetime("150");
    let client = client_for(&fake).with_clock(clock);
    client.stk_push(&push(PHONE, 10, CALLBACK)).await.unwrap();
    client.stk_push(&push(PHONE, 10, CALLBACK)).await.unwrap();
    assert_eq!(fake.token_requests(), 1);
    *offset.lock().unwrap() = TimeDelta::seconds(95);
    client.stk_push(&push(PHONE, 10, CALLBACK)).await.unwrap();
    assert_eq!(fake.token_requests(), 2);
    assert_eq!(fake.violations(), Vec::<String>::new());
}

#[tokio::test]
async fn a_refused_token_is_renewed_and_the_call_made_again() {
    for reply in [
        BadTokenReply::InvalidAccessToken,
        BadTokenReply::Unauthorized,
    ] {
        let fake = fake().await;
        let client = client_for(&fake);
        client.stk_push(&push(PHONE, 10, CALLBACK)).await.unwrap();
        fake.revoke_tokens(reply);
        client.stk_push(&push(PHONE, 10, CALLBACK)).await.unwrap();
        assert_eq!(fake.token_requests(), 2, "{reply:?}");
        assert_eq!(fake.requests().len(), 2, "{reply:?}");
        assert_eq!(fake.violations(), Vec::<String>::new());
    }
}

#[tokio::test]
async fn a_query_is_pending_until_the_customer_answers() {
    let fake = fake().await;
    let mut receiver = Receiver::start().await;
    let client = client_for(&fake);
    let accepted = client
        .stk_push(&push(PHONE, 10, &receiver.url))
        .await
        .unwrap();
    let id = &accepted.checkout_request_id;
    assert_eq!(client.stk_query(id).await, Ok(StkQueryOutcome::Pending));
    let cancel = FakeOutcome::failure("1032", "Request cancelled by user");
    assert_eq!(fake.send_callback(id, cancel).await, Ok(StatusCode::OK));
    let callback = receiver.next().await;
    assert_eq!(&callback.checkout_request_id, id);
    let cancelled = StkQueryOutcome::Failed {
        result_code: "1032".to_owned(),
        reason: "Request cancelled by user".to_owned(),
    };
    assert_eq!(client.stk_query(id).await, Ok(cancelled));
    assert_eq!(fake.queries().len(), 2);
    assert_eq!(fake.violations(), Vec::<String>::new());
}

#[tokio::test]
async fn a_busy_query_is_pending_and_an_unknown_one_rejected() {
    let fake = fake().await;
    let client = client_for(&fake);
    let accepted = client.stk_push(&push(PHONE, 10, CALLBACK)).await.unwrap();
    assert_rejected(client.stk_query("ws_CO_000").await, "400.002.02");
    fake.set_mode(FakeMode::Busy);
    let pending = client.stk_query(&accepted.checkout_request_id).await;
    assert_eq!(pending, Ok(StkQueryOutcome::Pending));
}

#[tokio::test]
async fn the_fake_calls_back_and_answers_queries_like_daraja() {
    let fake = fake().await;
    fake.set_mode(FakeMode::Callback(FakeOutcome::Success));
    let mut receiver = Receiver::start().await;
    let client = client_for(&fake);
    let accepted = client
        .stk_push(&push(PHONE, 1499, &receiver.url))
        .await
        .unwrap();
    let callback = receiver.next().await;
    assert_eq!(callback.checkout_request_id, accepted.checkout_request_id);
    assert_eq!(callback.merchant_request_id, accepted.merchant_request_id);
    let CallbackOutcome::Paid {
        amount_shillings,
        phone,
        ..
    } = callback.outcome
    else {
        panic!("a paid callback, got {callback:?}");
    };
    assert_eq!((amount_shillings, phone.as_deref()), (1499, Some(PHONE)));
    let outcome = client.stk_query(&accepted.checkout_request_id).await;
    assert_eq!(outcome, Ok(StkQueryOutcome::Succeeded));

    fake.set_mode(FakeMode::Callback(FakeOutcome::failure(
        "SFC_IC0003",
        "The operator does not exist.",
    )));
    client
        .stk_push(&push(PHONE, 5, &receiver.url))
        .await
        .unwrap();
    let declined = receiver.next().await;
    let expected = CallbackOutcome::NotPaid {
        result_code: "SFC_IC0003".to_owned(),
        description: "The operator does not exist.".to_owned(),
    };
    assert_eq!(declined.outcome, expected);
    assert_eq!(fake.violations(), Vec::<String>::new());
}

#[tokio::test]
async fn a_manual_callback_reaches_the_webhook() {
    let fake = fake().await;
    let mut receiver = Receiver::start().await;
    let client = client_for(&fake);
    let accepted = client
        .stk_push(&push(PHONE, 75, &receiver.url))
        .await
        .unwrap();
    let id = accepted.checkout_request_id;
    let status = fake.send_callback(&id, FakeOutcome::Success).await.unwrap();
    assert_eq!(status, 200);
    let callback = receiver.next().await;
    assert_eq!(callback.checkout_request_id, id);
    assert!(matches!(
        callback.outcome,
        CallbackOutcome::Paid {
            amount_shillings: 75,
            ..
        }
    ));
    assert!(
        fake.send_callback("ws_CO_unknown", FakeOutcome::Success)
            .await
            .is_err()
    );
}
