//! A stand-in for Daraja on machines without credentials: it accepts every STK push and B2C
//! payment and, a moment later, POSTs a realistic callback whose outcome the phone number's last
//! four digits choose. Its state is in the database in the server (`memory`), so what was in
//! flight at a stop is answered and called back after the restart.

mod memory;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{TimeDelta, Utc};
use serde_json::Value;
use sqlx::PgPool;
use tracing::Instrument;

use super::b2c::{build_payment_result, build_status_result, build_status_unknown};
use super::daraja::EAT;
use super::{
    B2cGateway, B2cPayment, B2cStatusQuery, CallbackOutcome, CallbackResult, GatewayError,
    MpesaGateway, StkPush, StkPushAccepted, StkQueryOutcome, build_callback,
};
use memory::{Memory, Promise};

const DELIVERY_ATTEMPTS: u32 = 4;
const DELIVERY_BACKOFF: Duration = Duration::from_millis(500);
/// Daraja's code for "the initiator information is invalid": the simulated B2C failure.
const B2C_FAILS: (&str, &str) = ("2001", "The initiator information is invalid.");

pub struct Simulator {
    http: reqwest::Client,
    callback_delay: Duration,
    // Each request's scripted fate, so a query answers the way the callback did.
    memory: Arc<Memory>,
}

/// What the simulated customer does, chosen by the phone number (documented in API.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Script {
    Pays,
    Declines {
        code: &'static str,
        description: &'static str,
    },
    NeverAnswers,
}

impl Script {
    fn for_phone(phone: &str) -> Self {
        if phone.ends_with("0001") {
            Self::Declines {
                code: "1032",
                description: "Request cancelled by user",
            }
        } else if phone.ends_with("0002") {
            Self::Declines {
                code: "1",
                description: "The balance is insufficient for the transaction.",
            }
        } else if phone.ends_with("0003") {
            Self::NeverAnswers
        } else {
            Self::Pays
        }
    }

    /// What a query answers: Daraja's result code and description.
    fn query_answer(self) -> (&'static str, &'static str) {
        match self {
            Self::Pays => ("0", "The service request is processed successfully."),
            Self::Declines { code, description } => (code, description),
            Self::NeverAnswers => ("1037", "DS timeout user cannot be reached"),
        }
    }
}

impl Simulator {
    /// In memory: `callback_delay` is about 1 s in the server; tests pass a few milliseconds.
    pub fn new(callback_delay: Duration) -> Result<Self, reqwest::Error> {
        Self::with_memory(callback_delay, Memory::Local(Default::default()))
    }

    /// Keeping its state in the database (`simulator_requests`); call [`Simulator::resume`]
    /// once the server can take callbacks.
    pub fn persistent(pool: PgPool, callback_delay: Duration) -> Result<Self, reqwest::Error> {
        Self::with_memory(callback_delay, Memory::Database(pool))
    }

    fn with_memory(callback_delay: Duration, memory: Memory) -> Result<Self, reqwest::Error> {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(10))
            .build()?;
        Ok(Self {
            http,
            callback_delay,
            memory: Arc::new(memory),
        })
    }

    /// Delivers the callbacks a stopped server left undelivered; how many.
    pub async fn resume(&self) -> Result<usize, sqlx::Error> {
        let left = self.memory.undelivered().await?;
        let count = left.len();
        for promise in left {
            self.deliver_later(promise);
        }
        if count > 0 {
            tracing::info!(
                count,
                "simulator: delivering callbacks left by a stopped server"
            );
        }
        Ok(count)
    }

    fn due(&self) -> chrono::DateTime<Utc> {
        Utc::now() + TimeDelta::from_std(self.callback_delay).unwrap_or_default()
    }

    async fn keep(&self, promise: Promise) -> Result<(), GatewayError> {
        self.memory
            .keep(&promise)
            .await
            .map_err(|e| GatewayError::Unavailable(format!("simulator state: {e}")))?;
        if promise.body.is_some() {
            self.deliver_later(promise);
        }
        Ok(())
    }

    fn deliver_later(&self, promise: Promise) {
        let span = tracing::info_span!("simulated_callback", id = %promise.id);
        let (http, memory) = (self.http.clone(), self.memory.clone());
        tokio::spawn(deliver(http, memory, promise).instrument(span));
    }
}

fn invalid_amount() -> GatewayError {
    GatewayError::Rejected {
        code: "400.002.02".to_owned(),
        message: "Bad Request - Invalid Amount".to_owned(),
    }
}

#[async_trait]
impl MpesaGateway for Simulator {
    #[tracing::instrument(skip_all, fields(
        account_reference = %req.account_reference,
        simulated = true,
    ))]
    async fn stk_push(&self, req: &StkPush) -> Result<StkPushAccepted, GatewayError> {
        if req.amount_shillings < 1 {
            return Err(invalid_amount());
        }
        let now = Utc::now();
        let accepted = StkPushAccepted {
            merchant_request_id: new_merchant_request_id(),
            checkout_request_id: new_checkout_request_id(now),
        };
        let script = Script::for_phone(&req.phone);
        let (code, description) = script.query_answer();
        let body = callback_outcome(script, req, self.due()).map(|outcome| {
            build_callback(&CallbackResult {
                merchant_request_id: accepted.merchant_request_id.clone(),
                checkout_request_id: accepted.checkout_request_id.clone(),
                outcome,
            })
        });
        self.keep(Promise {
            id: accepted.checkout_request_id.clone(),
            kind: "stk".to_owned(),
            result_code: code.to_owned(),
            result_desc: description.to_owned(),
            receipt: None,
            url: Some(req.callback_url.clone()),
            body,
            due_at: self.due(),
        })
        .await?;
        Ok(accepted)
    }

    async fn stk_query(&self, checkout_request_id: &str) -> Result<StkQueryOutcome, GatewayError> {
        let promise = self.memory.find(checkout_request_id).await;
        let promise = promise.map_err(|e| GatewayError::Unavailable(e.to_string()))?;
        let promise =
            promise
                .filter(|p| p.kind == "stk")
                .ok_or_else(|| GatewayError::Rejected {
                    code: "400.002.02".to_owned(),
                    message: "Bad Request - Invalid CheckoutRequestID".to_owned(),
                })?;
        Ok(match promise.result_code.as_str() {
            "0" => StkQueryOutcome::Succeeded,
            code => StkQueryOutcome::Failed {
                result_code: code.to_owned(),
                reason: promise.result_desc,
            },
        })
    }
}

#[async_trait]
impl B2cGateway for Simulator {
    #[tracing::instrument(skip_all, fields(id = %req.originator_conversation_id, simulated = true))]
    async fn b2c_payment(&self, req: &B2cPayment) -> Result<String, GatewayError> {
        if req.amount_shillings < 10 {
            return Err(invalid_amount());
        }
        let conversation_id = format!("AG_{}", uuid::Uuid::new_v4().simple());
        let outcome = if req.phone.ends_with("0004") {
            Err((B2C_FAILS.0.to_owned(), B2C_FAILS.1.to_owned()))
        } else {
            Ok(new_receipt())
        };
        let id = req.originator_conversation_id.to_string();
        let body = build_payment_result(
            &id,
            &conversation_id,
            req.amount_shillings,
            &req.phone,
            &outcome,
        );
        let (code, desc, receipt) = match outcome {
            Ok(receipt) => ("0", "Completed", Some(receipt)),
            Err(_) => (B2C_FAILS.0, "Failed", None),
        };
        self.keep(Promise {
            id,
            kind: "b2c".to_owned(),
            result_code: code.to_owned(),
            result_desc: desc.to_owned(),
            receipt,
            url: Some(req.result_url.clone()),
            body: Some(body),
            due_at: self.due(),
        })
        .await?;
        Ok(conversation_id)
    }

    async fn b2c_status(&self, req: &B2cStatusQuery) -> Result<(), GatewayError> {
        let payment = self.memory.find(&req.payment_id.to_string()).await;
        let payment = payment.map_err(|e| GatewayError::Unavailable(e.to_string()))?;
        let query_id = req.query_id.to_string();
        let body = match payment.filter(|p| p.kind == "b2c") {
            Some(p) if p.result_code == "0" => {
                build_status_result(&query_id, &Ok(p.receipt.unwrap_or_default()))
            }
            Some(_) => build_status_result(&query_id, &Err("Failed".to_owned())),
            None => build_status_unknown(&query_id),
        };
        self.keep(Promise {
            id: query_id,
            kind: "b2c_status".to_owned(),
            result_code: "0".to_owned(),
            result_desc: String::new(),
            receipt: None,
            url: Some(req.result_url.clone()),
            body: Some(body),
            due_at: self.due(),
        })
        .await
    }
}

fn callback_outcome(
    script: Script,
    req: &StkPush,
    paid_at: chrono::DateTime<Utc>,
) -> Option<CallbackOutcome> {
    match script {
        Script::Pays => Some(CallbackOutcome::Paid {
            amount_shillings: req.amount_shillings,
            receipt: new_receipt(),
            transaction_date: Some(paid_at),
            phone: Some(req.phone.clone()),
        }),
        Script::Declines { code, description } => Some(CallbackOutcome::NotPaid {
            result_code: code.to_owned(),
            description: description.to_owned(),
        }),
        Script::NeverAnswers => None,
    }
}

/// POSTs the callback when due, retrying failures our own server may recover from; claimed
/// first, so that of several nodes (or a restarted one) only one sends it.
async fn deliver(http: reqwest::Client, memory: Arc<Memory>, promise: Promise) {
    let wait = (promise.due_at - Utc::now()).to_std().unwrap_or_default();
    tokio::time::sleep(wait).await;
    let (Some(url), Some(body)) = (promise.url.as_deref(), promise.body.as_ref()) else {
        return;
    };
    match memory.claim(&promise.id).await {
        Ok(true) => {}
        Ok(false) => return,
        Err(error) => {
            tracing::warn!(%error, "simulated callback not claimed; not sent");
            return;
        }
    }
    if post(&http, url, body).await
        && let Err(error) = memory.delivered(&promise.id).await
    {
        tracing::warn!(%error, "simulated callback sent but not marked delivered");
    }
}

/// `true` once the receiver took it (or refused it for good).
async fn post(http: &reqwest::Client, url: &str, body: &Value) -> bool {
    for attempt in 1..=DELIVERY_ATTEMPTS {
        // The URL carries the webhook's secret token, so errors are logged without it.
        match http.post(url).json(body).send().await {
            Ok(answer) if answer.status().is_success() => return true,
            Ok(answer) if answer.status().is_client_error() => {
                let status = answer.status();
                tracing::warn!(%status, "simulated callback refused; not retrying");
                return true;
            }
            Ok(answer) => {
                tracing::warn!(attempt, status = %answer.status(), "simulated callback failed")
            }
            Err(err) => {
                tracing::warn!(attempt, error = %err.without_url(), "simulated callback failed")
            }
        }
        if attempt < DELIVERY_ATTEMPTS {
            tokio::time::sleep(DELIVERY_BACKOFF * attempt).await;
        }
    }
    tracing::error!("gave up delivering a simulated callback");
    false
}

/// Like Daraja's `29115-34620561-1`.
pub fn new_merchant_request_id() -> String {
    format!("{}-{}-1", random_digits(5), random_digits(8))
}

/// Like Daraja's `ws_CO_251120261305001234`: `ws_CO_`, the EAT time as DDMMYYYYHHmmss, digits.
pub fn new_checkout_request_id(now: chrono::DateTime<Utc>) -> String {
    let time = now.with_timezone(&EAT).format("%d%m%Y%H%M%S");
    format!("ws_CO_{time}{}", random_digits(6))
}

/// Ten uppercase letters and digits, starting with a letter, like `SKP4XG7T2B`.
pub fn new_receipt() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    let bytes = uuid::Uuid::new_v4().into_bytes();
    // Bytes 6 and 8 carry the UUID's fixed version and variant bits.
    let random = bytes
        .iter()
        .enumerate()
        .filter(|(at, _)| *at != 6 && *at != 8);
    random
        .take(10)
        .enumerate()
        .map(|(at, (_, byte))| {
            let letters_only = if at == 0 { 26 } else { ALPHABET.len() };
            char::from(ALPHABET[usize::from(*byte) % letters_only])
        })
        .collect()
}

/// `count` (at most 30) random decimal digits.
fn random_digits(count: usize) -> String {
    let digits = uuid::Uuid::new_v4().as_u128().to_string();
    let digits = format!("{digits:0>30}");
    digits[digits.len() - count.min(30)..].to_owned()
}
