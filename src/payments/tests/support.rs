//! Shared test helpers: Daraja's sample files, a local callback receiver, a patient wait.

use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::routing::post;
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::payments::fake::{FakeConfig, FakeDaraja, FakeMode};
use crate::payments::{
    CallbackResult, DarajaClient, GatewayError, RetryPolicy, StkPush, parse_callback,
};

/// Long enough for a loaded CI machine, short enough to fail a hung test quickly.
pub const PATIENCE: Duration = Duration::from_secs(5);

/// A file of `tests/fixtures/`: copies of the samples in `shared/daraja/`.
pub fn fixture(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|err| panic!("{path}: {err}"))
}

pub fn fixture_json(name: &str) -> Value {
    serde_json::from_slice(&fixture(name)).expect("fixtures are JSON")
}

pub const PHONE: &str = "254708374149";
/// Loopback and closed: no test may send a callback off this machine.
pub const CALLBACK: &str = "http://127.0.0.1:9/payments/mpesa/callback/6f1c2d9e4b7a";

/// A fake that calls back only when told: most tests have no webhook.
pub async fn fake() -> FakeDaraja {
    let fake = FakeDaraja::start(FakeConfig::default())
        .await
        .expect("fake Daraja starts");
    fake.set_mode(FakeMode::NoCallback);
    fake
}

pub fn assert_rejected(result: Result<impl std::fmt::Debug, GatewayError>, expected_code: &str) {
    match result {
        Err(GatewayError::Rejected { code, .. }) => assert_eq!(code, expected_code),
        other => panic!("expected Rejected({expected_code}), got {other:?}"),
    }
}

pub fn fast_retry() -> RetryPolicy {
    RetryPolicy {
        attempts: 3,
        first_backoff: Duration::from_millis(1),
    }
}

pub fn client_for(fake: &FakeDaraja) -> DarajaClient {
    DarajaClient::new(fake.client_config())
        .expect("HTTP client")
        .with_retry(fast_retry())
}

pub fn push(phone: &str, amount_shillings: i64, callback_url: &str) -> StkPush {
    StkPush {
        phone: phone.to_owned(),
        amount_shillings,
        account_reference: "TR7K2M9Q".to_owned(),
        description: "Order TR7K2M9Q".to_owned(),
        callback_url: callback_url.to_owned(),
    }
}

/// A stand-in for our webhook: records each callback body it is POSTed.
pub struct Receiver {
    pub url: String,
    bodies: mpsc::UnboundedReceiver<Bytes>,
    server: JoinHandle<()>,
}

impl Receiver {
    pub async fn start() -> Self {
        let (sender, bodies) = mpsc::unbounded_channel();
        let app = Router::new()
            .route("/payments/mpesa/callback/secret-token", post(receive))
            .with_state(sender);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the receiver");
        let url = format!(
            "http://{}/payments/mpesa/callback/secret-token",
            listener.local_addr().expect("receiver address")
        );
        let server = tokio::spawn(async move {
            axum::serve(listener, app).await.expect("receiver serves");
        });
        Self {
            url,
            bodies,
            server,
        }
    }

    /// The next callback, parsed; fails the test if none comes in time.
    pub async fn next(&mut self) -> CallbackResult {
        let body = tokio::time::timeout(PATIENCE, self.bodies.recv())
            .await
            .expect("a callback within the patience")
            .expect("the receiver is running");
        parse_callback(&body).expect("a well-formed callback")
    }

    pub fn has_pending(&mut self) -> bool {
        !self.bodies.is_empty()
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.server.abort();
    }
}

async fn receive(
    State(sender): State<mpsc::UnboundedSender<Bytes>>,
    body: Bytes,
) -> axum::Json<Value> {
    sender.send(body).expect("the test is listening");
    axum::Json(json!({ "ResultCode": 0, "ResultDesc": "Accepted" }))
}
