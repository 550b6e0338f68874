//! Payment commands: recording Daraja's answer to an STK push, settling an attempt from a
//! callback (through the `mpesa_callbacks` inbox) or from an STK push query, with the stock
//! effects of the outcome in the same transaction. Every command is correlated to the order.
//!
//! Rows beside the events (`mpesa_requests`, `mpesa_callbacks`) belong to
//! `payments::inbox`; they are written in the transaction that records an outcome, so a crash
//! never leaves one half-settled.

use std::time::Duration;

use chrono::{DateTime, Utc};
use tillroll_events::StreamId;
use uuid::Uuid;

mod b2c;
mod settle;

pub use b2c::{B2cSettlement, b2c_reason};
pub use settle::{ReconcileError, Settlement};

use super::orders::{append_with_effects, order_streams};
use super::{CommandContext, CommandError, Commands, Outcome, UnitOfWork};
use crate::domain::Aggregate;
use crate::domain::order::{self, Order, OrderStatus};
use crate::domain::stock::{self, Stock};
use crate::payments::{StkPushAccepted, inbox};

/// Marks the attempt settled and its callback processed, in the unit's transaction.
fn mark_settled(uow: &mut UnitOfWork<'_>, checkout_request_id: &str) {
    let now = uow.context().now;
    for write in inbox::settled(checkout_request_id, now) {
        uow.also(write);
    }
}

/// Whether every line of an expired order could be reserved and sold again now.
async fn stock_allows_late_payment(
    uow: &mut UnitOfWork<'_>,
    order: &Order,
) -> Result<bool, CommandError> {
    for line in &order.lines {
        let (state, _) = uow.load::<Stock>(&StreamId::stock(line.product_id)).await?;
        let sale = stock::ReserveAndSell {
            product_id: line.product_id,
            order_id: order.order_id,
            quantity: line.quantity,
        };
        if stock::reserve_and_sell(&state, &sale).is_err() {
            return Ok(false);
        }
    }
    Ok(true)
}

impl Commands {
    /// Daraja took the push: `PaymentRequestAccepted` and the `mpesa_requests` row.
    pub async fn record_push_accepted(
        &self,
        ctx: &CommandContext,
        order_id: Uuid,
        attempt_id: Uuid,
        accepted: &StkPushAccepted,
        query_after: Duration,
    ) -> Result<Outcome<Order>, CommandError> {
        let ctx = ctx.clone().correlated(order_id);
        let stream = StreamId::order(order_id);
        let next_query_at = ctx.now + chrono::TimeDelta::from_std(query_after).unwrap_or_default();
        let lock = [stream.clone()];
        let accepted = accepted.clone();
        self.run(&ctx, &lock, async move |uow| {
            let (before, _) = uow.load::<Order>(&stream).await?;
            let command = order::RecordPushAccepted {
                attempt_id,
                checkout_request_id: accepted.checkout_request_id.clone(),
                merchant_request_id: accepted.merchant_request_id.clone(),
            };
            let events = order::record_push_accepted(&before, &command)?;
            let mut after = before.clone();
            events.iter().for_each(|e| after.evolve(e));
            if !events.is_empty() {
                let now = uow.context().now;
                let id = &accepted.checkout_request_id;
                uow.also(inbox::accepted(
                    id,
                    order_id,
                    attempt_id,
                    now,
                    next_query_at,
                ));
            }
            uow.append::<Order>(&stream, events);
            Ok(after)
        })
        .await
    }

    /// Daraja refused the push, or could not be reached: the attempt failed.
    pub async fn record_push_rejected(
        &self,
        ctx: &CommandContext,
        order_id: Uuid,
        attempt_id: Uuid,
        code: &str,
        reason: &str,
    ) -> Result<Outcome<Order>, CommandError> {
        let command = order::RecordPushRejected {
            attempt_id,
            code: code.to_owned(),
            reason: reason.to_owned(),
        };
        self.transition(ctx, order_id, move |o| {
            order::record_push_rejected(o, &command)
        })
        .await
    }

    /// The attempt's money arrived (callback or query): paid, or recorded and flagged.
    pub async fn confirm_payment(
        &self,
        ctx: &CommandContext,
        order_id: Uuid,
        checkout_request_id: &str,
        mpesa_receipt: Option<String>,
        amount: Option<i64>,
        paid_at: DateTime<Utc>,
    ) -> Result<Outcome<Order>, CommandError> {
        let ctx = ctx.clone().correlated(order_id);
        let current = self.load_order(&ctx, order_id).await?;
        let stream = StreamId::order(order_id);
        let checkout_request_id = checkout_request_id.to_owned();
        self.run(&ctx, &order_streams(&current), async move |uow| {
            let (before, _) = uow.load::<Order>(&stream).await?;
            let late = before.status == OrderStatus::Expired
                && stock_allows_late_payment(uow, &before).await?;
            let command = order::ConfirmPayment {
                checkout_request_id: checkout_request_id.to_owned(),
                mpesa_receipt: mpesa_receipt.clone(),
                amount,
                paid_at,
                stock_available_for_late_payment: late,
            };
            let events = order::confirm_payment(&before, &command)?;
            let mut after = before.clone();
            events.iter().for_each(|e| after.evolve(e));
            append_with_effects(uow, &before, events).await?;
            mark_settled(uow, &checkout_request_id);
            Ok(after)
        })
        .await
    }

    /// The attempt ended without money (failed callback or query).
    pub async fn fail_payment(
        &self,
        ctx: &CommandContext,
        order_id: Uuid,
        checkout_request_id: &str,
        result_code: &str,
        reason: &str,
    ) -> Result<Outcome<Order>, CommandError> {
        let ctx = ctx.clone().correlated(order_id);
        let stream = StreamId::order(order_id);
        let lock = [stream.clone()];
        let (checkout_request_id, result_code, reason) = (
            checkout_request_id.to_owned(),
            result_code.to_owned(),
            reason.to_owned(),
        );
        self.run(&ctx, &lock, async move |uow| {
            let (before, _) = uow.load::<Order>(&stream).await?;
            let command = order::FailPayment {
                checkout_request_id: checkout_request_id.to_owned(),
                result_code: result_code.to_owned(),
                reason: reason.to_owned(),
            };
            let events = order::fail_payment(&before, &command)?;
            let mut after = before.clone();
            events.iter().for_each(|e| after.evolve(e));
            // A failure moves no stock: the order stays payable until it expires.
            append_with_effects(uow, &before, events).await?;
            mark_settled(uow, &checkout_request_id);
            Ok(after)
        })
        .await
    }
}
