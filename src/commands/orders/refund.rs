//! Refunds of an order (stream `order-<id>`): an admin's request, and the B2C result that
//! settles it. Both decide on the order stream's expected version, so concurrent requests
//! are serialised by the store (a conflict decides again on the new state), never by a check
//! made beforehand.

use tillroll_events::StreamId;
use uuid::Uuid;

use crate::commands::{CommandContext, CommandError, Commands, Outcome, SideWrite};
use crate::domain::Aggregate;
use crate::domain::order::{self, Order, RefundResult};
use crate::payments::b2c_inbox;

impl Commands {
    /// Asks for `amount` (all that is refundable when `None`) to be paid back by B2C;
    /// `refund_id` is the B2C OriginatorConversationID. The same id again is a no-op.
    pub async fn request_refund(
        &self,
        ctx: &CommandContext,
        order_id: Uuid,
        refund_id: Uuid,
        amount: Option<i64>,
        reason: String,
    ) -> Result<Outcome<Order>, CommandError> {
        let ctx = ctx.clone().correlated(order_id);
        let command = order::RequestRefund {
            refund_id,
            amount,
            reason,
            now: ctx.now,
        };
        self.decide_on_order(&ctx, order_id, Vec::new, move |o| {
            order::request_refund(o, &command)
        })
        .await
    }

    /// Records a refund's B2C result, marking its dispatch settled and the result `result_id`
    /// processed in the same transaction.
    pub async fn settle_refund(
        &self,
        ctx: &CommandContext,
        order_id: Uuid,
        refund_id: Uuid,
        result: RefundResult,
        result_id: String,
    ) -> Result<Outcome<Order>, CommandError> {
        let ctx = ctx.clone().correlated(order_id);
        let now = ctx.now;
        let also = move || Vec::from(b2c_inbox::settled(refund_id, &result_id, now));
        let fee_bps = self.platform_fee_bps();
        let stream = StreamId::order(order_id);
        let lock = [stream.clone()];
        self.run(&ctx, &lock, async move |uow| {
            let (before, _) = uow.load::<Order>(&stream).await?;
            let events = order::settle_refund(&before, refund_id, &result, now)?;
            let mut after = before.clone();
            events.iter().for_each(|e| after.evolve(e));
            let completed = events.iter().find_map(|e| match e {
                tillroll_events::OrderEvent::RefundCompleted { amount, .. } => Some(*amount),
                _ => None,
            });
            for write in also() {
                uow.also(write);
            }
            uow.append::<Order>(&stream, events);
            // A refund of a delivered order takes the sellers' share back from their ledgers.
            if let Some(amount) = completed {
                crate::commands::payouts::reverse_earnings(
                    uow, &after, refund_id, amount, fee_bps, now,
                )
                .await?;
            }
            Ok(after)
        })
        .await
    }

    /// Decides on the order alone (a refund moves no stock) and appends with `also`.
    async fn decide_on_order(
        &self,
        ctx: &CommandContext,
        order_id: Uuid,
        also: impl Fn() -> Vec<SideWrite> + Send + Sync + 'static,
        decide: impl Fn(&Order) -> Result<Vec<tillroll_events::OrderEvent>, order::OrderError>
        + Send
        + Sync
        + 'static,
    ) -> Result<Outcome<Order>, CommandError> {
        let stream = StreamId::order(order_id);
        let lock = [stream.clone()];
        let outcome = self
            .run(ctx, &lock, async move |uow| {
                let (before, _) = uow.load::<Order>(&stream).await?;
                if !before.exists {
                    return Err(order::OrderError::NotFound.into());
                }
                let events = decide(&before)?;
                let mut after = before.clone();
                events.iter().for_each(|e| after.evolve(e));
                for write in also() {
                    uow.also(write);
                }
                uow.append::<Order>(&stream, events);
                Ok(after)
            })
            .await?;
        Ok(outcome)
    }
}
