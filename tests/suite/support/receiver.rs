//! A local webhook receiver: records every request, checks its Standard Webhooks signature
//! with the subscription's secret (computed here, independently of the server's code), and
//! answers as the test says (fail the first N requests, or hang).

use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

#[derive(Debug, Clone)]
pub struct Received {
    pub id: String,
    pub timestamp: i64,
    pub signature: String,
    pub body: serde_json::Value,
    pub raw: Vec<u8>,
    /// What the receiver answered.
    pub status: u16,
    /// When it arrived.
    pub at: chrono::DateTime<chrono::Utc>,
}

#[derive(Default)]
struct Inner {
    received: Vec<Received>,
    fail_first: usize,
    hang: bool,
}

#[derive(Clone)]
pub struct Receiver {
    pub url: String,
    inner: Arc<Mutex<Inner>>,
}

async fn hook(
    State(inner): State<Arc<Mutex<Inner>>>,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    let hang = inner.lock().unwrap().hang;
    if hang {
        std::future::pending::<()>().await;
    }
    let mut inner = inner.lock().unwrap();
    let status = if inner.fail_first > 0 {
        inner.fail_first -= 1;
        500
    } else {
        200
    };
    inner.received.push(Received {
        id: header("webhook-id"),
        timestamp: header("webhook-timestamp").parse().unwrap_or_default(),
        signature: header("webhook-signature"),
        body: serde_json::from_slice(&body).unwrap_or_default(),
        raw: body.to_vec(),
        status,
        at: chrono::Utc::now(),
    });
    StatusCode::from_u16(status).unwrap()
}

impl Receiver {
    pub async fn start() -> Self {
        let inner = Arc::new(Mutex::new(Inner::default()));
        let app = axum::Router::new()
            .route("/hook", axum::routing::post(hook))
            .with_state(inner.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self { url, inner }
    }

    /// Answers 500 to the next `n` requests.
    pub fn fail_first(&self, n: usize) {
        self.inner.lock().unwrap().fail_first = n;
    }

    /// Never answers (the sender times out), until `hang(false)`.
    pub fn hang(&self, hang: bool) {
        self.inner.lock().unwrap().hang = hang;
    }

    pub fn received(&self) -> Vec<Received> {
        self.inner.lock().unwrap().received.clone()
    }

    /// The ids of the requests answered 2xx, in arrival order.
    pub fn delivered(&self) -> Vec<String> {
        self.received()
            .into_iter()
            .filter(|r| r.status == 200)
            .map(|r| r.id)
            .collect()
    }
}

/// Whether `received` carries a valid Standard Webhooks signature under `secret`.
pub fn signed_by(received: &Received, secret: &str) -> bool {
    let key = STANDARD
        .decode(secret.strip_prefix("whsec_").expect("a whsec_ secret"))
        .unwrap();
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(&key).unwrap();
    mac.update(format!("{}.{}.", received.id, received.timestamp).as_bytes());
    mac.update(&received.raw);
    let expected = format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()));
    received.signature.split(' ').any(|s| s == expected)
}
