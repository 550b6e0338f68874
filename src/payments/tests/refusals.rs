//! The real client when Daraja says no or does not answer: field and credential refusals, a busy
//! or down Daraja, and the rule that a push Daraja may have acted on is never sent twice.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::Router;
use axum::routing::{get, post};
use chrono::{TimeDelta, Utc};
use serde_json::json;

use super::support::{CALLBACK, PHONE, assert_rejected, client_for, fake, fast_retry, push};
use crate::payments::fake::FakeMode;
use crate::payments::{DarajaClient, DarajaConfig, GatewayError, MpesaGateway, Secret};

#[tokio::test]
async fn invalid_fields_are_rejected_with_daraja_code() {
    let fake = fake().await;
    let client = client_for(&fake);
    assert_rejected(
        client.stk_push(&push(PHONE, 0, CALLBACK)).await,
        "400.002.02",
    );
    assert_rejected(
        client.stk_push(&push("254208374149", 5, CALLBACK)).await,
        "400.002.02",
    );
    let violations = fake.violations();
    assert!(violations[0].starts_with("Amount:"), "{violations:?}");
    assert!(
        violations.iter().any(|v| v.starts_with("PartyA:")),
        "{violations:?}"
    );
    assert!(
        violations.iter().any(|v| v.starts_with("PhoneNumber:")),
        "{violations:?}"
    );
    assert!(fake.requests().is_empty());
}

#[tokio::test]
async fn a_stale_clock_or_wrong_passkey_is_caught_by_the_fake() {
    let fake = fake().await;
    let an_hour_ago = Arc::new(|| Utc::now() - TimeDelta::hours(1));
    let stale = client_for(&fake).with_clock(an_hour_ago);
    assert_rejected(
        stale.stk_push(&push(PHONE, 10, CALLBACK)).await,
        "400.002.02",
    );
    assert!(fake.violations()[0].starts_with("Timestamp:"));
    let config = DarajaConfig {
        passkey: Secret::new("not-the-passkey"),
        ..fake.client_config()
    };
    let wrong = DarajaClient::new(config).unwrap().with_retry(fast_retry());
    assert_rejected(
        wrong.stk_push(&push(PHONE, 10, CALLBACK)).await,
        "400.002.02",
    );
    assert!(fake.violations()[1].starts_with("Password:"));
}

#[tokio::test]
async fn wrong_credentials_are_rejected_by_oauth() {
    let fake = fake().await;
    let config = DarajaConfig {
        consumer_secret: Secret::new("guess"),
        ..fake.client_config()
    };
    let client = DarajaClient::new(config).unwrap().with_retry(fast_retry());
    assert_rejected(
        client.stk_push(&push(PHONE, 10, CALLBACK)).await,
        "400.008.01",
    );
    assert_eq!(fake.token_requests(), 1);
}

#[tokio::test]
async fn a_busy_daraja_rejects_the_push_without_retrying() {
    let fake = fake().await;
    fake.set_mode(FakeMode::Busy);
    let client = client_for(&fake);
    assert_rejected(
        client.stk_push(&push(PHONE, 10, CALLBACK)).await,
        "500.001.1001",
    );
    assert_eq!(fake.push_calls(), 1);
}

#[tokio::test]
async fn a_daraja_that_is_down_is_unavailable_after_the_retries() {
    let fake = fake().await;
    let client = client_for(&fake);
    client.stk_push(&push(PHONE, 10, CALLBACK)).await.unwrap();
    fake.set_mode(FakeMode::Down);
    let result = client.stk_push(&push(PHONE, 10, CALLBACK)).await;
    assert!(
        matches!(result, Err(GatewayError::Unavailable(_))),
        "{result:?}"
    );
    assert_eq!(fake.push_calls(), 1 + 3);
    // Without a cached token it is the OAuth call that gives up.
    let fresh = client_for(&fake);
    let result = fresh.stk_query("ws_CO_1").await;
    assert!(
        matches!(result, Err(GatewayError::Unavailable(_))),
        "{result:?}"
    );
    assert_eq!(fake.token_requests(), 1 + 3);
}

#[tokio::test]
async fn nothing_listening_is_unavailable() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let base_url = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let fake = fake().await;
    let config = DarajaConfig {
        base_url,
        ..fake.client_config()
    };
    let client = DarajaClient::new(config).unwrap().with_retry(fast_retry());
    let result = client.stk_push(&push(PHONE, 10, CALLBACK)).await;
    assert!(
        matches!(result, Err(GatewayError::Unavailable(_))),
        "{result:?}"
    );
}

/// A Daraja that issues tokens but answers every STK call `200` with a body that is not JSON,
/// counting the calls: the worst case, where it may have acted on a request we cannot read.
async fn garbling_daraja() -> (String, Arc<AtomicUsize>) {
    let calls = Arc::new(AtomicUsize::new(0));
    let counted = calls.clone();
    let garble = move || {
        counted.fetch_add(1, Ordering::SeqCst);
        async { "<html>upstream hiccup</html>" }
    };
    let token = || async { axum::Json(json!({ "access_token": "t", "expires_in": "3599" })) };
    let app = Router::new()
        .route("/oauth/v1/generate", get(token))
        .route("/mpesa/stkpush/v1/processrequest", post(garble.clone()))
        .route("/mpesa/stkpushquery/v1/query", post(garble));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base_url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (base_url, calls)
}

#[tokio::test]
async fn a_push_daraja_may_have_acted_on_is_not_sent_twice_but_a_query_is() {
    let (base_url, calls) = garbling_daraja().await;
    let config = DarajaConfig {
        base_url,
        ..fake().await.client_config()
    };
    let client = DarajaClient::new(config).unwrap().with_retry(fast_retry());
    let pushed = client.stk_push(&push(PHONE, 10, CALLBACK)).await;
    assert!(
        matches!(pushed, Err(GatewayError::Unavailable(_))),
        "{pushed:?}"
    );
    assert_eq!(
        calls.load(Ordering::SeqCst),
        1,
        "a second push would prompt twice"
    );
    let queried = client.stk_query("ws_CO_1").await;
    assert!(
        matches!(queried, Err(GatewayError::Unavailable(_))),
        "{queried:?}"
    );
    assert_eq!(calls.load(Ordering::SeqCst), 1 + 3);
}
