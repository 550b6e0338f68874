//! The real Daraja client over reqwest: cached OAuth token, STK push and STK push query, with
//! retries for transient failures. The wire format itself lives in `wire`.

mod b2c;
mod wire;

pub use wire::{
    ACCOUNT_REFERENCE_MAX, DESCRIPTION_MAX, EAT, parse_timestamp, password, push_body, query_body,
    timestamp, truncate_chars,
};
use wire::{push_accepted, query_outcome, read_token};

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, TimeDelta, Utc};
use reqwest::StatusCode;
use serde_json::Value;
use tokio::sync::Mutex;

use super::{
    Clock, DarajaConfig, GatewayError, MpesaGateway, StkPush, StkPushAccepted, StkQueryOutcome,
};

const TOKEN_PATH: &str = "/oauth/v1/generate?grant_type=client_credentials";
const PUSH_PATH: &str = "/mpesa/stkpush/v1/processrequest";
const QUERY_PATH: &str = "/mpesa/stkpushquery/v1/query";
const INVALID_TOKEN: &str = "404.001.03";
/// On a query this means the customer has not answered yet, not a failure.
const STILL_PROCESSING: &str = "500.001.1001";
/// Renew before Daraja's expiry so a token never dies between our check and its use.
const TOKEN_MARGIN: TimeDelta = TimeDelta::seconds(60);

/// How often and how patiently transient failures are retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Total tries, the first included.
    pub attempts: u32,
    /// Wait before the second try; doubled before each later one.
    pub first_backoff: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            attempts: 3,
            first_backoff: Duration::from_millis(200),
        }
    }
}

impl RetryPolicy {
    fn backoff(&self, failed_attempts: u32) -> Duration {
        self.first_backoff
            .saturating_mul(1 << failed_attempts.saturating_sub(1).min(16))
    }
}

pub struct DarajaClient {
    http: reqwest::Client,
    config: DarajaConfig,
    clock: Clock,
    retry: RetryPolicy,
    // A tokio Mutex held across the OAuth call so concurrent callers share one renewal.
    token: Mutex<Option<CachedToken>>,
    /// B2C (refunds, payouts): `None` when not configured, and B2C calls are refused.
    b2c: Option<super::B2cConfig>,
}

struct CachedToken {
    value: String,
    renew_at: DateTime<Utc>,
}

/// Daraja's final word on a call, once transient failures have been retried away.
pub(super) enum Answer {
    Ok(Value),
    Error(DarajaError),
}

/// An error answer, in the shape of `error_response.json` when Daraja wrote it.
pub(super) struct DarajaError {
    pub(super) status: StatusCode,
    pub(super) code: Option<String>,
    pub(super) message: String,
}

/// Why one try failed, and whether Daraja can have acted on it.
enum Failure {
    NotProcessed(String),
    MaybeProcessed(String),
}

/// Whether a request may be sent again after a failure that Daraja may have acted on.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Resend {
    Always,
    // A push that reached Daraja and is sent again prompts the customer twice.
    OnlyIfNotProcessed,
}

impl DarajaClient {
    pub fn new(config: DarajaConfig) -> Result<Self, reqwest::Error> {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(15))
            .build()?;
        Ok(Self {
            http,
            config,
            clock: Arc::new(Utc::now),
            retry: RetryPolicy::default(),
            token: Mutex::new(None),
            b2c: None,
        })
    }

    /// Also pays out by B2C, with these initiator credentials.
    pub fn with_b2c(mut self, b2c: super::B2cConfig) -> Self {
        self.b2c = Some(b2c);
        self
    }

    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    pub fn with_retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.config.base_url.trim_end_matches('/'))
    }

    #[tracing::instrument(skip_all, fields(
        account_reference = %req.account_reference,
        amount = req.amount_shillings,
        checkout_request_id = tracing::field::Empty,
    ))]
    async fn push(&self, req: &StkPush) -> Result<StkPushAccepted, GatewayError> {
        let body = push_body(&self.config, req, (self.clock)())?;
        let answer = self.post(PUSH_PATH, &body, Resend::OnlyIfNotProcessed);
        let accepted = push_accepted(&answer.await?.into_result()?)?;
        tracing::Span::current().record("checkout_request_id", &accepted.checkout_request_id);
        Ok(accepted)
    }

    #[tracing::instrument(skip_all, fields(checkout_request_id = %checkout_request_id))]
    async fn query(&self, checkout_request_id: &str) -> Result<StkQueryOutcome, GatewayError> {
        let body = query_body(&self.config, checkout_request_id, (self.clock)());
        match self
            .post(QUERY_PATH, &body, Resend::Always)
            .await?
            .into_result()
        {
            Ok(answer) => Ok(query_outcome(&answer)),
            Err(err) if err.code.as_deref() == Some(STILL_PROCESSING) => {
                Ok(StkQueryOutcome::Pending)
            }
            Err(err) => Err(err.into()),
        }
    }

    /// POSTs with the cached token; a refused token is renewed and the call made once more.
    pub(super) async fn post(
        &self,
        path: &str,
        body: &Value,
        resend: Resend,
    ) -> Result<Answer, GatewayError> {
        let url = self.url(path);
        let token = self.token(None).await?;
        let send = |token: &str| self.http.post(&url).bearer_auth(token).json(body);
        let answer = self.send(resend, || send(&token)).await?;
        if !answer.refuses_token() {
            return Ok(answer);
        }
        tracing::info!("Daraja refused the access token; renewing it");
        let token = self.token(Some(&token)).await?;
        self.send(resend, || send(&token)).await
    }

    /// The cached token, or a new one when it is due for renewal or is the one just refused.
    async fn token(&self, refused: Option<&str>) -> Result<String, GatewayError> {
        let mut cached = self.token.lock().await;
        if let Some(token) = cached.as_ref()
            && (self.clock)() < token.renew_at
            && refused != Some(token.value.as_str())
        {
            return Ok(token.value.clone());
        }
        let fresh = self.fetch_token().await?;
        let value = fresh.value.clone();
        *cached = Some(fresh);
        Ok(value)
    }

    #[tracing::instrument(skip_all)]
    async fn fetch_token(&self) -> Result<CachedToken, GatewayError> {
        let url = self.url(TOKEN_PATH);
        let secret = self.config.consumer_secret.expose();
        let request = || {
            self.http
                .get(&url)
                .basic_auth(&self.config.consumer_key, Some(secret))
        };
        let answer = self.send(Resend::Always, request).await?.into_result()?;
        let (value, lifetime) = read_token(&answer)?;
        let renew_at = (self.clock)() + lifetime - TOKEN_MARGIN;
        Ok(CachedToken { value, renew_at })
    }

    /// Sends until Daraja gives a definite answer or the retries run out.
    async fn send(
        &self,
        resend: Resend,
        request: impl Fn() -> reqwest::RequestBuilder,
    ) -> Result<Answer, GatewayError> {
        let mut attempt = 1;
        loop {
            let failure = match request().send().await {
                Ok(response) => match read_answer(response).await {
                    Ok(answer) => return Ok(answer),
                    Err(failure) => failure,
                },
                Err(err) if err.is_connect() => Failure::NotProcessed(describe(&err)),
                Err(err) => Failure::MaybeProcessed(describe(&err)),
            };
            let (may_resend, reason) = match failure {
                Failure::NotProcessed(reason) => (true, reason),
                Failure::MaybeProcessed(reason) => (resend == Resend::Always, reason),
            };
            if !may_resend || attempt >= self.retry.attempts {
                return Err(GatewayError::Unavailable(reason));
            }
            tracing::warn!(attempt, %reason, "Daraja call failed; retrying");
            tokio::time::sleep(self.retry.backoff(attempt)).await;
            attempt += 1;
        }
    }
}

#[async_trait]
impl MpesaGateway for DarajaClient {
    async fn stk_push(&self, req: &StkPush) -> Result<StkPushAccepted, GatewayError> {
        self.push(req).await
    }

    async fn stk_query(&self, checkout_request_id: &str) -> Result<StkQueryOutcome, GatewayError> {
        self.query(checkout_request_id).await
    }
}

impl Answer {
    fn refuses_token(&self) -> bool {
        matches!(self, Answer::Error(err)
            if err.status == StatusCode::UNAUTHORIZED || err.code.as_deref() == Some(INVALID_TOKEN))
    }

    pub(super) fn into_result(self) -> Result<Value, DarajaError> {
        match self {
            Answer::Ok(answer) => Ok(answer),
            Answer::Error(err) => Err(err),
        }
    }
}

impl From<DarajaError> for GatewayError {
    fn from(err: DarajaError) -> Self {
        // An error answer without Daraja's code (an empty 401, say) is named by its status.
        let code = err.code.unwrap_or_else(|| err.status.as_u16().to_string());
        GatewayError::Rejected {
            code,
            message: err.message,
        }
    }
}

async fn read_answer(response: reqwest::Response) -> Result<Answer, Failure> {
    let status = response.status();
    let body = response.bytes().await.map_err(|err| {
        Failure::MaybeProcessed(format!("reading the answer: {}", describe(&err)))
    })?;
    classify(status, &body)
}

/// Sorts an HTTP answer into a definite one or a failure worth retrying.
fn classify(status: StatusCode, body: &[u8]) -> Result<Answer, Failure> {
    let json: Option<Value> = serde_json::from_slice(body).ok();
    if status.is_success() {
        return json
            .map(Answer::Ok)
            .ok_or_else(|| Failure::MaybeProcessed(format!("HTTP {status} without a JSON body")));
    }
    let field = |name: &str| json.as_ref()?.get(name)?.as_str().map(str::to_owned);
    let code = field("errorCode");
    // A 5xx without Daraja's error body comes from a proxy or a crash, not from Daraja's rules.
    if status == StatusCode::SERVICE_UNAVAILABLE || (status.is_server_error() && code.is_none()) {
        return Err(Failure::NotProcessed(format!("HTTP {status}")));
    }
    let message = field("errorMessage")
        .unwrap_or_else(|| truncate_chars(String::from_utf8_lossy(body).trim(), 200).to_owned());
    Ok(Answer::Error(DarajaError {
        status,
        code,
        message,
    }))
}

/// The error with its causes: reqwest's own message hides why a connection failed.
fn describe(err: &reqwest::Error) -> String {
    let mut text = err.to_string();
    let mut source = std::error::Error::source(err);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
