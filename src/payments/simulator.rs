//! A stand-in for Daraja on machines without credentials: it accepts every STK push and, a moment
//! later, POSTs a realistic callback whose outcome the phone number's last four digits choose.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, TimeDelta, Utc};
use serde_json::Value;
use tracing::Instrument;

use super::daraja::EAT;
use super::{
    CallbackOutcome, CallbackResult, GatewayError, MpesaGateway, StkPush, StkPushAccepted,
    StkQueryOutcome, build_callback,
};

const DELIVERY_ATTEMPTS: u32 = 4;
const DELIVERY_BACKOFF: Duration = Duration::from_millis(500);

pub struct Simulator {
    http: reqwest::Client,
    callback_delay: Duration,
    // Each push's scripted fate, so a query answers the way the callback did.
    attempts: Mutex<HashMap<String, Script>>,
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

    fn query_outcome(self) -> StkQueryOutcome {
        let failed = |code: &str, reason: &str| StkQueryOutcome::Failed {
            result_code: code.to_owned(),
            reason: reason.to_owned(),
        };
        match self {
            Self::Pays => StkQueryOutcome::Succeeded,
            Self::Declines { code, description } => failed(code, description),
            Self::NeverAnswers => failed("1037", "DS timeout user cannot be reached"),
        }
    }
}

impl Simulator {
    /// `callback_delay` is about 1 s in the server; tests pass a few milliseconds.
    pub fn new(callback_delay: Duration) -> Result<Self, reqwest::Error> {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(10))
            .build()?;
        Ok(Self {
            http,
            callback_delay,
            attempts: Mutex::new(HashMap::new()),
        })
    }

    fn attempts(&self) -> std::sync::MutexGuard<'_, HashMap<String, Script>> {
        // The map stays consistent even if a holder panicked: every write is one insert.
        self.attempts.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn call_back_later(&self, accepted: &StkPushAccepted, outcome: CallbackOutcome, url: &str) {
        let result = CallbackResult {
            merchant_request_id: accepted.merchant_request_id.clone(),
            checkout_request_id: accepted.checkout_request_id.clone(),
            outcome,
        };
        let span = tracing::info_span!(
            "simulated_callback",
            checkout_request_id = %accepted.checkout_request_id
        );
        let body = build_callback(&result);
        let delivery = deliver(self.http.clone(), url.to_owned(), body, self.callback_delay);
        tokio::spawn(delivery.instrument(span));
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
            return Err(GatewayError::Rejected {
                code: "400.002.02".to_owned(),
                message: "Bad Request - Invalid Amount".to_owned(),
            });
        }
        let now = Utc::now();
        let accepted = StkPushAccepted {
            merchant_request_id: new_merchant_request_id(),
            checkout_request_id: new_checkout_request_id(now),
        };
        let script = Script::for_phone(&req.phone);
        let id = accepted.checkout_request_id.clone();
        self.attempts().insert(id, script);
        let paid_at = now + TimeDelta::from_std(self.callback_delay).unwrap_or_default();
        if let Some(outcome) = callback_outcome(script, req, paid_at) {
            self.call_back_later(&accepted, outcome, &req.callback_url);
        }
        Ok(accepted)
    }

    async fn stk_query(&self, checkout_request_id: &str) -> Result<StkQueryOutcome, GatewayError> {
        let script = self.attempts().get(checkout_request_id).copied();
        script
            .map(Script::query_outcome)
            .ok_or_else(|| GatewayError::Rejected {
                code: "400.002.02".to_owned(),
                message: "Bad Request - Invalid CheckoutRequestID".to_owned(),
            })
    }
}

fn callback_outcome(
    script: Script,
    req: &StkPush,
    paid_at: DateTime<Utc>,
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

/// POSTs the callback after `delay`, retrying failures our own server may recover from.
async fn deliver(http: reqwest::Client, url: String, body: Value, delay: Duration) {
    tokio::time::sleep(delay).await;
    for attempt in 1..=DELIVERY_ATTEMPTS {
        // The URL carries the webhook's secret token, so errors are logged without it.
        match http.post(&url).json(&body).send().await {
            Ok(answer) if answer.status().is_success() => return,
            Ok(answer) if answer.status().is_client_error() => {
                let status = answer.status();
                tracing::warn!(%status, "simulated callback refused; not retrying");
                return;
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
}

/// Like Daraja's `29115-34620561-1`.
pub fn new_merchant_request_id() -> String {
    format!("{}-{}-1", random_digits(5), random_digits(8))
}

/// Like Daraja's `ws_CO_251120261305001234`: `ws_CO_`, the EAT time as DDMMYYYYHHmmss, digits.
pub fn new_checkout_request_id(now: DateTime<Utc>) -> String {
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
