//! The marketplace's money out: what a delivered order earns each seller (appended in the
//! delivery's transaction), what a refund of a delivered order takes back, and the payouts by
//! M-Pesa B2C (stream `seller-<id>`). Every write about an order is correlated to it.

use std::collections::BTreeMap;

use chrono::{DateTime, TimeDelta, Utc};
use tillroll_events::{SellerEvent, StreamId};
use uuid::Uuid;

use super::{CommandContext, CommandError, Commands, Outcome, UnitOfWork};
use crate::domain::Aggregate;
use crate::domain::customer::Customer;
use crate::domain::order::{Order, RefundResult};
use crate::domain::phone::Msisdn;
use crate::domain::product::Product;
use crate::domain::seller::{self, Seller};
use crate::payments::b2c_inbox;

/// Each seller of the order's lines: `(seller, payout phone, gross)`; the phone is the
/// product's payout phone, else the seller's profile phone (empty when neither: never paid
/// until a phone is known).
async fn sellers_of(
    uow: &mut UnitOfWork<'_>,
    order: &Order,
) -> Result<Vec<(Uuid, String, i64)>, CommandError> {
    let mut by_seller: BTreeMap<(Uuid, String), i64> = BTreeMap::new();
    for line in &order.lines {
        let (product, _) = uow
            .load::<Product>(&StreamId::product(line.product_id))
            .await?;
        let phone = match product.payout_phone.as_deref() {
            Some(phone) => Some(phone.to_owned()),
            None => {
                let stream = StreamId::customer(product.seller_id);
                uow.load::<Customer>(&stream).await?.0.phone
            }
        };
        let phone = phone
            .and_then(|p| Msisdn::parse(&p).ok())
            .map(|p| p.as_str().to_owned())
            .unwrap_or_default();
        *by_seller.entry((product.seller_id, phone)).or_default() += line.line_total;
    }
    Ok(by_seller
        .into_iter()
        .map(|((seller, phone), gross)| (seller, phone, gross))
        .collect())
}

/// Appends, in the delivery's unit, each seller's earnings of the order.
pub(crate) async fn record_earnings(
    uow: &mut UnitOfWork<'_>,
    order: &Order,
    fee_bps: u32,
    now: DateTime<Utc>,
) -> Result<(), CommandError> {
    for (seller_id, phone, gross) in sellers_of(uow, order).await? {
        let stream = StreamId::seller(seller_id);
        let (ledger, _) = uow.load::<Seller>(&stream).await?;
        if ledger.earning(order.order_id).is_some() {
            continue;
        }
        let fee = seller::fee(gross, fee_bps);
        let earned = SellerEvent::EarningsRecorded {
            seller_id,
            order_id: order.order_id,
            phone,
            gross,
            fee,
            net: gross - fee,
            recorded_at: now,
        };
        uow.append::<Seller>(&stream, vec![earned]);
    }
    Ok(())
}

/// Appends, in the refund's unit, what a completed refund of a delivered order takes back from
/// each seller: their share of the refund (by gross), less the same fee.
pub(crate) async fn reverse_earnings(
    uow: &mut UnitOfWork<'_>,
    order: &Order,
    refund_id: Uuid,
    amount: i64,
    fee_bps: u32,
    now: DateTime<Utc>,
) -> Result<(), CommandError> {
    if order.delivered_at.is_none() || order.total <= 0 {
        return Ok(());
    }
    for (seller_id, _, gross) in sellers_of(uow, order).await? {
        let stream = StreamId::seller(seller_id);
        let (ledger, _) = uow.load::<Seller>(&stream).await?;
        let Some(earning) = ledger.earning(order.order_id) else {
            continue;
        };
        let share = i128::from(amount) * i128::from(gross) / i128::from(order.total);
        let share = i64::try_from(share).unwrap_or(i64::MAX);
        let reversed = SellerEvent::EarningsReversed {
            seller_id,
            order_id: order.order_id,
            refund_id,
            phone: earning.phone.clone(),
            amount: share - seller::fee(share, fee_bps),
            reversed_at: now,
        };
        uow.append::<Seller>(&stream, vec![reversed]);
    }
    Ok(())
}

impl Commands {
    /// A seller's ledger as it is now.
    pub async fn load_ledger(&self, seller_id: Uuid) -> Result<Seller, CommandError> {
        let ctx = CommandContext::system(seller_id, Utc::now());
        let stream = StreamId::seller(seller_id);
        let lock = [stream.clone()];
        let outcome = self
            .run(&ctx, &lock, async move |uow| {
                Ok(uow.load::<Seller>(&stream).await?.0)
            })
            .await?;
        Ok(outcome.value)
    }

    /// Pays the balance of `(seller, phone)` unless it was paid less than `every` ago.
    pub async fn request_payout(
        &self,
        seller_id: Uuid,
        phone: &str,
        every: std::time::Duration,
    ) -> Result<Outcome<Seller>, CommandError> {
        let ctx = CommandContext::system(Uuid::now_v7(), Utc::now());
        let command = seller::RequestPayout {
            payout_id: ctx.correlation_id,
            phone: phone.to_owned(),
            every: TimeDelta::from_std(every).unwrap_or(TimeDelta::MAX),
            now: ctx.now,
        };
        self.on_ledger(
            &ctx,
            seller_id,
            move |s| seller::request_payout(s, &command),
            None,
        )
        .await
    }

    /// Records a payout's B2C result, settling its dispatch and result row in the same
    /// transaction.
    pub async fn settle_payout(
        &self,
        seller_id: Uuid,
        payout_id: Uuid,
        result: RefundResult,
        result_id: String,
    ) -> Result<Outcome<Seller>, CommandError> {
        let ctx = CommandContext::system(payout_id, Utc::now());
        let now = ctx.now;
        self.on_ledger(
            &ctx,
            seller_id,
            move |s| seller::settle_payout(s, payout_id, &result, now),
            Some((payout_id, result_id)),
        )
        .await
    }

    async fn on_ledger(
        &self,
        ctx: &CommandContext,
        seller_id: Uuid,
        decide: impl Fn(&Seller) -> Vec<SellerEvent> + Send + Sync + 'static,
        settles: Option<(Uuid, String)>,
    ) -> Result<Outcome<Seller>, CommandError> {
        let stream = StreamId::seller(seller_id);
        let lock = [stream.clone()];
        self.run(ctx, &lock, async move |uow| {
            let (before, _) = uow.load::<Seller>(&stream).await?;
            let events = decide(&before);
            let mut after = before.clone();
            events.iter().for_each(|e| after.evolve(e));
            if let Some((dispatch, result_id)) = &settles {
                for write in b2c_inbox::settled(*dispatch, result_id, uow.context().now) {
                    uow.also(write);
                }
            }
            uow.append::<Seller>(&stream, events);
            Ok(after)
        })
        .await
    }
}
