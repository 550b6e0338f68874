//! B2C over the real client: the payment request (`b2c_request.json`) and the transaction
//! status query, with the same cached token and retries as STK. A B2C payment is never sent
//! again after a failure Daraja may have acted on: paying twice is worse than asking.

use async_trait::async_trait;
use serde_json::{Value, json};

use super::wire::truncate_chars;
use super::{DarajaClient, Resend};
use crate::payments::{B2cConfig, B2cGateway, B2cPayment, B2cStatusQuery, GatewayError};

const PAYMENT_PATH: &str = "/mpesa/b2c/v3/paymentrequest";
const STATUS_PATH: &str = "/mpesa/transactionstatus/v1/query";
const REMARKS_MAX: usize = 100;
/// `IdentifierType` of a shortcode in a transaction status query.
const SHORTCODE_IDENTIFIER: &str = "4";

/// The B2C payment body, numbers as numbers.
pub fn payment_body(config: &B2cConfig, req: &B2cPayment) -> Result<Value, GatewayError> {
    let phone: u64 = req.phone.parse().map_err(|_| GatewayError::Rejected {
        code: "invalid_phone".to_owned(),
        message: "the phone must be digits, normalised as 2547XXXXXXXX".to_owned(),
    })?;
    if req.amount_shillings < 10 {
        return Err(GatewayError::Rejected {
            code: "invalid_amount".to_owned(),
            message: "B2C pays at least KES 10".to_owned(),
        });
    }
    Ok(json!({
        "OriginatorConversationID": req.originator_conversation_id.to_string(),
        "InitiatorName": config.initiator_name,
        "SecurityCredential": config.security_credential.expose(),
        "CommandID": "BusinessPayment",
        "Amount": req.amount_shillings,
        "PartyA": config.shortcode,
        "PartyB": phone,
        "Remarks": truncate_chars(&req.remarks, REMARKS_MAX),
        "QueueTimeOutURL": req.timeout_url,
        "ResultURL": req.result_url,
        "Occassion": truncate_chars(&req.occasion, REMARKS_MAX),
    }))
}

/// The transaction status query body: by the payment's OriginatorConversationID, as we have
/// no receipt when we need to ask.
pub fn status_body(config: &B2cConfig, req: &B2cStatusQuery) -> Value {
    json!({
        "Initiator": config.initiator_name,
        "SecurityCredential": config.security_credential.expose(),
        "CommandID": "TransactionStatusQuery",
        "TransactionID": "",
        "OriginatorConversationID": req.query_id.to_string(),
        "OriginalConversationID": req.payment_id.to_string(),
        "PartyA": config.shortcode,
        "IdentifierType": SHORTCODE_IDENTIFIER,
        "ResultURL": req.result_url,
        "QueueTimeOutURL": req.timeout_url,
        "Remarks": "reconciliation",
        "Occasion": "reconciliation",
    })
}

fn accepted_conversation(answer: &Value) -> Result<String, GatewayError> {
    let text = |name: &str| answer.get(name).and_then(Value::as_str).map(str::to_owned);
    let code = answer
        .get("ResponseCode")
        .and_then(crate::payments::ResultCode::from_json);
    if let Some(code) = code.filter(|c| !c.is_success()) {
        return Err(GatewayError::Rejected {
            code: code.raw,
            message: text("ResponseDescription").unwrap_or_default(),
        });
    }
    text("ConversationID")
        .ok_or_else(|| GatewayError::Unavailable("B2C answer without a ConversationID".to_owned()))
}

impl DarajaClient {
    fn b2c_config(&self) -> Result<&B2cConfig, GatewayError> {
        self.b2c.as_ref().ok_or_else(|| GatewayError::Rejected {
            code: "b2c_not_configured".to_owned(),
            message: "TILLROLL_MPESA_B2C_* is not configured".to_owned(),
        })
    }
}

#[async_trait]
impl B2cGateway for DarajaClient {
    #[tracing::instrument(skip_all, fields(
        originator_conversation_id = %req.originator_conversation_id,
        amount = req.amount_shillings,
    ))]
    async fn b2c_payment(&self, req: &B2cPayment) -> Result<String, GatewayError> {
        let body = payment_body(self.b2c_config()?, req)?;
        let answer = self
            .post(PAYMENT_PATH, &body, Resend::OnlyIfNotProcessed)
            .await?;
        accepted_conversation(&answer.into_result()?)
    }

    #[tracing::instrument(skip_all, fields(payment_id = %req.payment_id))]
    async fn b2c_status(&self, req: &B2cStatusQuery) -> Result<(), GatewayError> {
        let body = status_body(self.b2c_config()?, req);
        let answer = self.post(STATUS_PATH, &body, Resend::Always).await?;
        accepted_conversation(&answer.into_result()?).map(|_| ())
    }
}
