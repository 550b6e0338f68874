//! The fake's B2C side: the payment request and the transaction status query, checked field by
//! field, and their results POSTed as the test chooses (at once, on demand, a queue time-out,
//! again as a duplicate).

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::checks::{self, Violations};
use super::state::{Refusal, Shared};
use super::{FakeMode, FakeOutcome};
use crate::payments::b2c::{build_payment_result, build_status_result, build_status_unknown};
use crate::payments::simulator::new_receipt;

/// How the fake answers accepted B2C payments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum B2cMode {
    /// POST the result with this outcome at once.
    Result(FakeOutcome),
    /// Wait for the test (`send_b2c_result`); status queries answer "not found".
    NoResult,
    /// POST a queue time-out to `QueueTimeOutURL`, the payment decided with this outcome
    /// (only a status query learns it).
    Timeout(FakeOutcome),
}

/// One accepted B2C payment.
#[derive(Debug, Clone)]
pub(super) struct Payment {
    pub(super) body: Value,
    pub(super) conversation_id: String,
    /// `Ok(receipt)` paid, `Err((code, description))` not; `None` undecided.
    pub(super) outcome: Option<Result<String, (String, String)>>,
}

impl Payment {
    fn result(&self, id: &str) -> Option<(String, Value)> {
        let outcome = self.outcome.as_ref()?;
        let body = build_payment_result(
            id,
            &self.conversation_id,
            self.body["Amount"].as_i64().unwrap_or_default(),
            &self.body["PartyB"].to_string(),
            outcome,
        );
        let url = self.body["ResultURL"].as_str().unwrap_or_default();
        Some((url.to_owned(), body))
    }
}

pub(super) fn decided(outcome: &FakeOutcome) -> Result<String, (String, String)> {
    match outcome {
        FakeOutcome::Success => Ok(new_receipt()),
        FakeOutcome::Failure {
            result_code,
            description,
        } => Err((result_code.clone(), description.clone())),
    }
}

pub(super) async fn payment(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let accepted = {
        let mut state = shared.state();
        state.b2c_calls += 1;
        accept(&shared, &mut state, &headers, &body)
    };
    let (id, conversation_id, post) = match accepted {
        Ok(accepted) => accepted,
        Err(refusal) => return refusal.into_response(),
    };
    if let Some((url, body)) = post {
        shared.post_later(url, body);
    }
    axum::Json(json!({
        "ConversationID": conversation_id,
        "OriginatorConversationID": id,
        "ResponseCode": "0",
        "ResponseDescription": "Accept the service request successfully.",
    }))
    .into_response()
}

type Accepted = (String, String, Option<(String, Value)>);

fn accept(
    shared: &Shared,
    state: &mut super::state::FakeState,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Accepted, Refusal> {
    let mode = state.mode();
    if mode == FakeMode::Down {
        return Err(Refusal::Down);
    }
    state.authorize(headers)?;
    let (body, violations): (Value, Violations) = checks::b2c_payment(&shared.config, body);
    state.check(violations)?;
    if mode == FakeMode::Busy {
        return Err(Refusal::busy("The system is busy, try again"));
    }
    let id = body["OriginatorConversationID"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    if state.b2c_payments.contains_key(&id) {
        // Daraja refuses a reused OriginatorConversationID: the same payment sent twice.
        state
            .violations
            .push(format!("OriginatorConversationID: {id} sent twice"));
        return Err(Refusal::daraja(
            StatusCode::CONFLICT,
            "409.001.01",
            "Duplicate OriginatorConversationID",
        ));
    }
    let b2c_mode = state
        .b2c_mode
        .clone()
        .unwrap_or(B2cMode::Result(FakeOutcome::Success));
    let mut payment = Payment {
        body: body.clone(),
        conversation_id: format!("AG_{}", uuid::Uuid::new_v4().simple()),
        outcome: None,
    };
    let post = match &b2c_mode {
        B2cMode::Result(outcome) => {
            payment.outcome = Some(decided(outcome));
            payment.result(&id)
        }
        B2cMode::NoResult => None,
        B2cMode::Timeout(outcome) => {
            payment.outcome = Some(decided(outcome));
            let url = body["QueueTimeOutURL"].as_str().unwrap_or_default();
            let timeout = json!({"Result": {
                "ResultType": 1, "ResultCode": 1,
                "ResultDesc": "The request timed out in the queue.",
                "OriginatorConversationID": id,
                "ConversationID": payment.conversation_id,
            }});
            Some((url.to_owned(), timeout))
        }
    };
    let conversation_id = payment.conversation_id.clone();
    state.b2c_requests.push(body);
    state.b2c_payments.insert(id.clone(), payment);
    Ok((id, conversation_id, post))
}

pub(super) async fn status(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let answer = {
        let mut state = shared.state();
        answer_status(&shared, &mut state, &headers, &body)
    };
    match answer {
        Ok((url, body)) => {
            shared.post_later(url, body);
            axum::Json(json!({
                "ConversationID": format!("AG_{}", uuid::Uuid::new_v4().simple()),
                "OriginatorConversationID": "",
                "ResponseCode": "0",
                "ResponseDescription": "Accept the service request successfully.",
            }))
            .into_response()
        }
        Err(refusal) => refusal.into_response(),
    }
}

fn answer_status(
    shared: &Shared,
    state: &mut super::state::FakeState,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<(String, Value), Refusal> {
    if state.mode() == FakeMode::Down {
        return Err(Refusal::Down);
    }
    state.authorize(headers)?;
    let (body, violations) = checks::b2c_status(&shared.config, body);
    state.check(violations)?;
    state.b2c_queries.push(body.clone());
    let query_id = body["OriginatorConversationID"]
        .as_str()
        .unwrap_or_default();
    let payment = body["OriginalConversationID"].as_str().unwrap_or_default();
    let answer = match state
        .b2c_payments
        .get(payment)
        .and_then(|p| p.outcome.clone())
    {
        Some(Ok(receipt)) => build_status_result(query_id, &Ok(receipt)),
        Some(Err(_)) => build_status_result(query_id, &Err("Failed".to_owned())),
        None => build_status_unknown(query_id),
    };
    let url = body["ResultURL"].as_str().unwrap_or_default().to_owned();
    Ok((url, answer))
}

impl Shared {
    /// Decides a B2C payment (if undecided) and POSTs its result, again if it was sent
    /// before (a duplicate); the receiver's status.
    pub(super) async fn send_b2c_result(
        &self,
        id: &str,
        outcome: FakeOutcome,
    ) -> Result<StatusCode, String> {
        let (url, body) = {
            let mut state = self.state();
            let payment = state.b2c_payments.get_mut(id);
            let payment = payment.ok_or_else(|| format!("no B2C payment {id}"))?;
            payment.outcome.get_or_insert_with(|| decided(&outcome));
            payment.result(id).ok_or("the payment has no outcome")?
        };
        let answer = self.http.post(&url).json(&body).send().await;
        answer
            .map(|answer| answer.status())
            .map_err(|err| err.without_url().to_string())
    }

    fn post_later(&self, url: String, body: Value) {
        let http = self.http.clone();
        tokio::spawn(async move {
            if let Err(err) = http.post(&url).json(&body).send().await {
                let error = err.without_url();
                tracing::warn!(%error, "fake Daraja could not deliver a B2C result");
            }
        });
    }
}
