//! Order commands (stream `order-<id>`): place (from the cart or from a list of items), cancel,
//! ask for another payment, ship, deliver. Every command runs correlated to the order id, and
//! every transition appends its stock effects (`order::stock_effects`) in the same transaction.

mod place;
mod refund;

use tillroll_events::{OrderEvent, StreamId};
use uuid::Uuid;

pub use place::NewItem;

use super::{CommandContext, CommandError, Commands, Outcome, UnitOfWork};
use crate::domain::Aggregate;
use crate::domain::order::{self, Order, OrderError, ShortLine, ShortReason};
use crate::domain::phone::Msisdn;
use crate::domain::stock::{Stock, StockError};
use crate::domain::validate::Actor;

/// A stock rule broken by an order transition (the order aggregate normally prevents it); a
/// short line is named with the order's own name for it.
pub(crate) fn stock_refusal(order: &Order, error: StockError) -> CommandError {
    match error {
        StockError::Insufficient {
            product_id,
            requested,
            available,
        } => {
            let name = order
                .lines
                .iter()
                .find(|l| l.product_id == product_id)
                .map(|l| l.name.clone())
                .unwrap_or_default();
            OrderError::Unsellable(vec![ShortLine {
                product_id,
                name,
                requested,
                available,
                reason: ShortReason::InsufficientStock,
            }])
            .into()
        }
        other => other.into(),
    }
}

/// Appends `events` to the order (whose state before them is `before`) and the stock events
/// they imply, in this unit, i.e. in one transaction.
pub(crate) async fn append_with_effects(
    uow: &mut UnitOfWork<'_>,
    before: &Order,
    events: Vec<OrderEvent>,
) -> Result<(), CommandError> {
    let order_id = match events.first() {
        Some(OrderEvent::OrderPlaced { order_id, .. }) => *order_id,
        _ => before.order_id,
    };
    let effects = order::stock_effects(before, &events);
    uow.append::<Order>(&StreamId::order(order_id), events);
    for effect in effects {
        let stream = StreamId::stock(effect.product_id);
        let (stock, _) = uow.load::<Stock>(&stream).await?;
        let events = effect
            .decide(&stock)
            .map_err(|e| stock_refusal(before, e))?;
        uow.append::<Stock>(&stream, events);
    }
    Ok(())
}

/// The streams a transition of this order may append to: the order and its lines' stock.
pub(crate) fn order_streams(order: &Order) -> Vec<StreamId> {
    let mut streams = vec![StreamId::order(order.order_id)];
    streams.extend(order.lines.iter().map(|l| StreamId::stock(l.product_id)));
    streams
}

impl Commands {
    /// The order as it is now (lines never change after placing, so its stock streams are
    /// known before locking them). Unknown: 404.
    pub async fn load_order(
        &self,
        ctx: &CommandContext,
        order_id: Uuid,
    ) -> Result<Order, CommandError> {
        let stream = StreamId::order(order_id);
        let lock = [stream.clone()];
        let outcome = self
            .run(ctx, &lock, async move |uow| {
                Ok(uow.load::<Order>(&stream).await?.0)
            })
            .await?;
        if !outcome.value.exists {
            return Err(OrderError::NotFound.into());
        }
        Ok(outcome.value)
    }

    /// Runs `decide` on the order with its stock streams locked; appends what it decides with
    /// the stock effects. The context is correlated to the order.
    pub(crate) async fn transition(
        &self,
        ctx: &CommandContext,
        order_id: Uuid,
        decide: impl Fn(&Order) -> Result<Vec<OrderEvent>, OrderError> + Send + Sync + 'static,
    ) -> Result<Outcome<Order>, CommandError> {
        let ctx = ctx.clone().correlated(order_id);
        let current = self.load_order(&ctx, order_id).await?;
        let stream = StreamId::order(order_id);
        self.run(&ctx, &order_streams(&current), async move |uow| {
            let (before, _) = uow.load::<Order>(&stream).await?;
            let events = decide(&before)?;
            let mut after = before.clone();
            events.iter().for_each(|e| after.evolve(e));
            append_with_effects(uow, &before, events).await?;
            Ok(after)
        })
        .await
    }

    pub async fn cancel_order(
        &self,
        ctx: &CommandContext,
        actor: Actor,
        order_id: Uuid,
        reason: Option<String>,
    ) -> Result<Outcome<Order>, CommandError> {
        let now = ctx.now;
        self.transition(ctx, order_id, move |o| {
            order::cancel(
                o,
                &order::Cancel {
                    actor,
                    reason: reason.clone(),
                    now,
                },
            )
        })
        .await
    }

    pub async fn ship_order(
        &self,
        ctx: &CommandContext,
        order_id: Uuid,
        carrier: Option<String>,
        tracking_number: Option<String>,
        note: Option<String>,
    ) -> Result<Outcome<Order>, CommandError> {
        let now = ctx.now;
        self.transition(ctx, order_id, move |o| {
            order::ship(
                o,
                &order::Ship {
                    carrier: carrier.clone(),
                    tracking_number: tracking_number.clone(),
                    note: note.clone(),
                    now,
                },
            )
        })
        .await
    }

    /// Delivered: and, in the same transaction, what the order's lines earned each seller.
    pub async fn deliver_order(
        &self,
        ctx: &CommandContext,
        order_id: Uuid,
    ) -> Result<Outcome<Order>, CommandError> {
        let ctx = ctx.clone().correlated(order_id);
        let now = ctx.now;
        let fee_bps = self.platform_fee_bps();
        let current = self.load_order(&ctx, order_id).await?;
        let stream = StreamId::order(order_id);
        self.run(&ctx, &order_streams(&current), async move |uow| {
            let (before, _) = uow.load::<Order>(&stream).await?;
            let events = order::deliver(&before, &order::Deliver { now })?;
            let mut after = before.clone();
            events.iter().for_each(|e| after.evolve(e));
            append_with_effects(uow, &before, events).await?;
            super::payouts::record_earnings(uow, &after, fee_bps, now).await?;
            Ok(after)
        })
        .await
    }

    /// Expires the order if it is still pending past its deadline (the deadline comes from its
    /// events); otherwise changes nothing.
    pub async fn expire_order(
        &self,
        ctx: &CommandContext,
        order_id: Uuid,
    ) -> Result<Outcome<Order>, CommandError> {
        let now = ctx.now;
        self.transition(ctx, order_id, move |o| {
            order::expire(o, &order::Expire { now })
        })
        .await
    }

    /// A new STK push attempt for an unpaid order (the payment reactor sends it).
    pub async fn request_payment(
        &self,
        ctx: &CommandContext,
        actor: Actor,
        order_id: Uuid,
        phone: Option<&str>,
    ) -> Result<Outcome<Order>, CommandError> {
        let phone = phone
            .map(Msisdn::parse)
            .transpose()
            .map_err(super::cart::field)?;
        let attempt_id = Uuid::now_v7();
        let now = ctx.now;
        self.transition(ctx, order_id, move |o| {
            order::request_payment(
                o,
                &order::RequestPayment {
                    actor,
                    attempt_id,
                    phone: phone.clone(),
                    now,
                },
            )
        })
        .await
    }
}
