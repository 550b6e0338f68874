//! `FakeDaraja`: a local Daraja for tests. It speaks the real protocol, checks every field a client
//! sends (answering violations the way Daraja does), records what it got, and answers as the test
//! chooses: callback at once, callback on demand, busy, or down.

mod b2c;
mod checks;
mod server;
mod state;

pub use b2c::B2cMode;

use std::sync::Arc;

use axum::http::StatusCode;
use serde_json::Value;
use tokio::task::JoinHandle;

use super::{DarajaConfig, Secret, TransactionType};
use state::Shared;

/// The credentials and shortcode the fake expects; `Default` is Daraja's sandbox paybill.
#[derive(Debug, Clone)]
pub struct FakeConfig {
    pub consumer_key: String,
    pub consumer_secret: String,
    pub shortcode: u64,
    pub passkey: String,
    /// B2C: the shortcode paying out, the initiator and its (encrypted) credential.
    pub b2c_shortcode: u64,
    pub initiator_name: String,
    pub security_credential: String,
}

impl Default for FakeConfig {
    fn default() -> Self {
        Self {
            consumer_key: "fake-consumer-key".to_owned(),
            consumer_secret: "fake-consumer-secret".to_owned(),
            shortcode: 174379,
            passkey: "bfb279f9aa9bdbcf158e97dd71a467cd2e0c893059b10f78e6b72ada1ed2c919".to_owned(),
            b2c_shortcode: 600996,
            initiator_name: "testapi".to_owned(),
            security_credential: "EsJocK7+NjqZPC3I3EO+TbvS+xVb9TymWwaKABoaZr/Z/n0UysSs+fNKCV2WZzkQ0Fl3qLhiNLm0mJ5u1rAb4rq5VW1P8U4lX1N5YEc4SkA4UOw==".to_owned(),
        }
    }
}

/// How the fake answers accepted pushes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FakeMode {
    /// Accept, and POST a callback with this outcome at once.
    Callback(FakeOutcome),
    /// Accept, and wait for the test to call `send_callback` (queries answer "still processing").
    NoCallback,
    /// Accept and record each push (no callback), but never answer it: the sender waits
    /// until its connection dies (a node killed between sending a push and its answer).
    Stall,
    /// Answer pushes and queries 500 with errorCode `500.001.1001`.
    Busy,
    /// Answer every endpoint 503 with no body.
    Down,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FakeOutcome {
    Success,
    Failure {
        result_code: String,
        description: String,
    },
}

impl FakeOutcome {
    pub fn failure(result_code: &str, description: &str) -> Self {
        Self::Failure {
            result_code: result_code.to_owned(),
            description: description.to_owned(),
        }
    }
}

/// How a request with an unknown (e.g. revoked) access token is answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BadTokenReply {
    /// HTTP 404 with errorCode `404.001.03`, as Daraja does.
    #[default]
    InvalidAccessToken,
    /// HTTP 401 with no body, as a gateway in front of it may.
    Unauthorized,
}

pub struct FakeDaraja {
    base_url: String,
    shared: Arc<Shared>,
    server: JoinHandle<()>,
}

impl FakeDaraja {
    /// Starts the fake on `127.0.0.1` with a free port; it stops when dropped.
    pub async fn start(config: FakeConfig) -> std::io::Result<Self> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let base_url = format!("http://{}", listener.local_addr()?);
        let shared = Arc::new(Shared::new(config).map_err(std::io::Error::other)?);
        let app = server::router(shared.clone());
        let server = tokio::spawn(async move {
            if let Err(err) = axum::serve(listener, app).await {
                tracing::error!(%err, "fake Daraja stopped");
            }
        });
        Ok(Self {
            base_url,
            shared,
            server,
        })
    }
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// A paybill client configuration that this fake accepts.
    pub fn client_config(&self) -> DarajaConfig {
        let config = &self.shared.config;
        DarajaConfig {
            base_url: self.base_url.clone(),
            consumer_key: config.consumer_key.clone(),
            consumer_secret: Secret::new(config.consumer_secret.clone()),
            shortcode: config.shortcode,
            passkey: Secret::new(config.passkey.clone()),
            transaction_type: TransactionType::CustomerPayBillOnline,
            party_b: config.shortcode,
        }
    }

    /// The B2C initiator configuration this fake accepts.
    pub fn b2c_config(&self) -> super::B2cConfig {
        let config = &self.shared.config;
        super::B2cConfig {
            shortcode: config.b2c_shortcode,
            initiator_name: config.initiator_name.clone(),
            security_credential: Secret::new(config.security_credential.clone()),
        }
    }

    pub fn set_b2c_mode(&self, mode: B2cMode) {
        self.shared.state().b2c_mode = Some(mode);
    }

    /// Bodies of the accepted B2C payments, in arrival order.
    pub fn b2c_requests(&self) -> Vec<Value> {
        self.shared.state().b2c_requests.clone()
    }

    /// Bodies of the accepted transaction status queries.
    pub fn b2c_queries(&self) -> Vec<Value> {
        self.shared.state().b2c_queries.clone()
    }

    /// Every request that reached the B2C payment endpoint, accepted or not.
    pub fn b2c_calls(&self) -> usize {
        self.shared.state().b2c_calls
    }

    /// Decides a B2C payment (unless decided) and POSTs its result, again if sent before;
    /// returns our server's HTTP status.
    pub async fn send_b2c_result(
        &self,
        originator_conversation_id: &str,
        outcome: FakeOutcome,
    ) -> Result<StatusCode, String> {
        self.shared
            .send_b2c_result(originator_conversation_id, outcome)
            .await
    }

    pub fn set_mode(&self, mode: FakeMode) {
        self.shared.state().mode = Some(mode);
    }

    /// The `expires_in` string of tokens issued from now on (default `"3599"`).
    pub fn set_token_lifetime(&self, seconds: &str) {
        self.shared.state().token_lifetime = Some(seconds.to_owned());
    }

    /// Forgets every issued token; requests still carrying one are answered with `reply`.
    pub fn revoke_tokens(&self, reply: BadTokenReply) {
        let mut state = self.shared.state();
        state.tokens.clear();
        state.bad_token_reply = reply;
    }

    /// Bodies of the accepted STK pushes, in arrival order.
    pub fn requests(&self) -> Vec<Value> {
        self.shared.state().requests.clone()
    }

    /// Bodies of the accepted STK push queries, in arrival order.
    pub fn queries(&self) -> Vec<Value> {
        self.shared.state().queries.clone()
    }

    /// Every protocol violation seen, as `Field: what was wrong`.
    pub fn violations(&self) -> Vec<String> {
        self.shared.state().violations.clone()
    }

    pub fn token_requests(&self) -> usize {
        self.shared.state().token_requests
    }

    /// Every request that reached the STK push endpoint, accepted or not.
    pub fn push_calls(&self) -> usize {
        self.shared.state().push_calls
    }

    /// Settles a push with `outcome` but never sends its callback (it was lost on the way):
    /// only an STK push query learns the outcome.
    pub fn decide_silently(
        &self,
        checkout_request_id: &str,
        outcome: FakeOutcome,
    ) -> Result<(), String> {
        self.shared.decide(checkout_request_id, outcome)
    }

    /// Settles a push with `outcome` and POSTs its callback; returns our server's HTTP status.
    pub async fn send_callback(
        &self,
        checkout_request_id: &str,
        outcome: FakeOutcome,
    ) -> Result<StatusCode, String> {
        self.shared.settle(checkout_request_id, outcome).await
    }
}

impl Drop for FakeDaraja {
    fn drop(&mut self) {
        self.server.abort();
    }
}
