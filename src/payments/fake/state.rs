//! The fake's memory: issued tokens, accepted pushes and their outcomes, what it recorded for the
//! test, and the refusals it answers with.

use std::collections::{HashMap, HashSet};
use std::sync::{Mutex, MutexGuard, PoisonError};

use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use serde_json::{Value, json};

use super::checks::Violations;
use super::{BadTokenReply, FakeConfig, FakeMode, FakeOutcome};
use crate::payments::simulator::{new_merchant_request_id, new_receipt};
use crate::payments::{CallbackOutcome, CallbackResult, build_callback};

pub(super) struct Shared {
    pub(super) config: FakeConfig,
    pub(super) http: reqwest::Client,
    state: Mutex<FakeState>,
}

#[derive(Default)]
pub(super) struct FakeState {
    pub(super) mode: Option<FakeMode>,
    pub(super) bad_token_reply: BadTokenReply,
    pub(super) token_lifetime: Option<String>,
    pub(super) tokens: HashSet<String>,
    pub(super) token_requests: usize,
    pub(super) push_calls: usize,
    pub(super) requests: Vec<Value>,
    pub(super) queries: Vec<Value>,
    pub(super) violations: Vec<String>,
    pub(super) attempts: HashMap<String, Attempt>,
    pub(super) b2c_mode: Option<super::B2cMode>,
    pub(super) b2c_calls: usize,
    pub(super) b2c_requests: Vec<Value>,
    pub(super) b2c_queries: Vec<Value>,
    pub(super) b2c_payments: HashMap<String, super::b2c::Payment>,
}

/// One accepted push, and how it ended once the fake decided.
pub(super) struct Attempt {
    pub(super) merchant_request_id: String,
    pub(super) body: Value,
    pub(super) outcome: Option<FakeOutcome>,
}

/// A callback ready to POST: the push's `CallBackURL` and the body.
pub(super) type Callback = (String, Value);

impl Shared {
    pub(super) fn new(config: FakeConfig) -> Result<Self, reqwest::Error> {
        // Bounded so that a hung webhook fails a test instead of hanging it.
        let http = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(10))
            .build()?;
        Ok(Self {
            config,
            http,
            state: Mutex::new(FakeState::default()),
        })
    }

    pub(super) fn state(&self) -> MutexGuard<'_, FakeState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Records `outcome` for a push and POSTs its callback; returns the receiver's status.
    /// Gives a push its outcome without sending the callback: what a query will answer.
    pub(super) fn decide(&self, id: &str, outcome: FakeOutcome) -> Result<(), String> {
        let mut state = self.state();
        let attempt = state.attempts.get_mut(id);
        let attempt = attempt.ok_or_else(|| format!("no STK push with CheckoutRequestID {id}"))?;
        attempt.outcome = Some(outcome);
        Ok(())
    }

    pub(super) async fn settle(
        &self,
        id: &str,
        outcome: FakeOutcome,
    ) -> Result<StatusCode, String> {
        let (url, body) = {
            let mut state = self.state();
            let attempt = state.attempts.get_mut(id);
            let attempt =
                attempt.ok_or_else(|| format!("no STK push with CheckoutRequestID {id}"))?;
            attempt.outcome = Some(outcome);
            attempt.callback(id)
        }
        .ok_or("the push has no outcome")?;
        let answer = self.http.post(&url).json(&body).send().await;
        answer
            .map(|answer| answer.status())
            .map_err(|err| err.without_url().to_string())
    }
}

impl Attempt {
    /// The callback Daraja would send once this attempt has an outcome.
    pub(super) fn callback(&self, checkout_request_id: &str) -> Option<Callback> {
        let outcome = match self.outcome.as_ref()? {
            FakeOutcome::Success => CallbackOutcome::Paid {
                amount_shillings: self.body["Amount"].as_i64().unwrap_or_default(),
                receipt: new_receipt(),
                transaction_date: Some(Utc::now()),
                phone: self.body["PhoneNumber"]
                    .as_u64()
                    .map(|phone| phone.to_string()),
            },
            FakeOutcome::Failure {
                result_code,
                description,
            } => CallbackOutcome::NotPaid {
                result_code: result_code.clone(),
                description: description.clone(),
            },
        };
        let body = build_callback(&CallbackResult {
            merchant_request_id: self.merchant_request_id.clone(),
            checkout_request_id: checkout_request_id.to_owned(),
            outcome,
        });
        let url = self.body["CallBackURL"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        Some((url, body))
    }
}

impl FakeState {
    pub(super) fn mode(&self) -> FakeMode {
        self.mode
            .clone()
            .unwrap_or(FakeMode::Callback(FakeOutcome::Success))
    }

    /// Checks the Bearer token.
    pub(super) fn authorize(&mut self, headers: &HeaderMap) -> Result<(), Refusal> {
        let header = headers
            .get("authorization")
            .and_then(|value| value.to_str().ok());
        let Some(token) = header.and_then(|value| value.strip_prefix("Bearer ")) else {
            self.violations
                .push("Authorization: expected `Bearer <token>`".to_owned());
            return Err(Refusal::Unauthorized);
        };
        if self.tokens.contains(token) {
            return Ok(());
        }
        Err(match self.bad_token_reply {
            BadTokenReply::InvalidAccessToken => {
                Refusal::daraja(StatusCode::NOT_FOUND, "404.001.03", "Invalid Access Token")
            }
            BadTokenReply::Unauthorized => Refusal::Unauthorized,
        })
    }

    /// Records the violations and refuses on the first, the way Daraja does.
    pub(super) fn check(&mut self, violations: Violations) -> Result<(), Refusal> {
        let Some((field, _)) = violations.first() else {
            return Ok(());
        };
        let message = format!("Bad Request - Invalid {field}");
        self.violations.extend(
            violations
                .into_iter()
                .map(|(field, why)| format!("{field}: {why}")),
        );
        Err(Refusal::daraja(
            StatusCode::BAD_REQUEST,
            "400.002.02",
            &message,
        ))
    }
}

/// Why the fake refuses a request; it becomes Daraja's answer at the edge.
pub(super) enum Refusal {
    Down,
    Unauthorized,
    /// An answer in the shape of `error_response.json`.
    Daraja {
        status: StatusCode,
        code: &'static str,
        message: String,
    },
}

impl Refusal {
    pub(super) fn daraja(status: StatusCode, code: &'static str, message: &str) -> Self {
        Self::Daraja {
            status,
            code,
            message: message.to_owned(),
        }
    }

    pub(super) fn busy(message: &str) -> Self {
        Self::daraja(StatusCode::INTERNAL_SERVER_ERROR, "500.001.1001", message)
    }
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        match self {
            Self::Down => StatusCode::SERVICE_UNAVAILABLE.into_response(),
            Self::Unauthorized => StatusCode::UNAUTHORIZED.into_response(),
            Self::Daraja {
                status,
                code,
                message,
            } => {
                // Daraja's request ids have the shape of its merchant request ids.
                let body = json!({
                    "requestId": new_merchant_request_id(),
                    "errorCode": code,
                    "errorMessage": message,
                });
                (status, axum::Json(body)).into_response()
            }
        }
    }
}
