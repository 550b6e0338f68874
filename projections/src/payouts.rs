//! The payouts read model: `payouts` (API.md's `payout`: GET /payouts, GET /seller/payouts)
//! and `seller_balances` (what each seller's payout phone is owed; negative after a refund of
//! lines already paid out), from the sellers' ledgers.

use async_trait::async_trait;
use sqlx::PgConnection;
use tillroll_events::{DomainEvent, RecordedEvent, SellerEvent};
use uuid::Uuid;

use crate::{ProjectionError, Projector, decode};

pub struct PayoutsProjector;

#[async_trait]
impl Projector for PayoutsProjector {
    fn name(&self) -> &'static str {
        "payouts"
    }

    fn tables(&self) -> &'static [&'static str] {
        &["payouts", "seller_balances"]
    }

    fn handles(&self, event_type: &str) -> bool {
        SellerEvent::event_types().contains(&event_type)
    }

    async fn apply(
        &self,
        conn: &mut PgConnection,
        events: &[RecordedEvent],
    ) -> Result<(), ProjectionError> {
        for event in events {
            if let Some(seller) = decode::<SellerEvent>(event) {
                apply_one(conn, seller?).await?;
            }
        }
        Ok(())
    }
}

async fn add(
    conn: &mut PgConnection,
    seller_id: Uuid,
    phone: &str,
    amount: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO seller_balances (seller_id, phone, balance) VALUES ($1, $2, $3) \
         ON CONFLICT (seller_id, phone) DO UPDATE \
             SET balance = seller_balances.balance + excluded.balance",
    )
    .bind(seller_id)
    .bind(phone)
    .bind(amount)
    .execute(conn)
    .await?;
    Ok(())
}

async fn apply_one(conn: &mut PgConnection, event: SellerEvent) -> Result<(), sqlx::Error> {
    match event {
        SellerEvent::EarningsRecorded {
            seller_id,
            phone,
            net,
            ..
        } => add(conn, seller_id, &phone, net).await,
        SellerEvent::EarningsReversed {
            seller_id,
            phone,
            amount,
            ..
        } => add(conn, seller_id, &phone, -amount).await,
        SellerEvent::PayoutRequested {
            seller_id,
            payout_id,
            phone,
            amount,
            order_ids,
            requested_at,
        } => {
            add(&mut *conn, seller_id, &phone, -amount).await?;
            sqlx::query(
                "INSERT INTO payouts (id, seller_id, phone, amount, currency, order_ids, status, \
                     requested_at) VALUES ($1, $2, $3, $4, 'KES', $5, 'requested', $6) \
                 ON CONFLICT (id) DO NOTHING",
            )
            .bind(payout_id)
            .bind(seller_id)
            .bind(phone)
            .bind(amount)
            .bind(order_ids)
            .bind(requested_at)
            .execute(conn)
            .await?;
            Ok(())
        }
        SellerEvent::PayoutCompleted {
            payout_id,
            mpesa_receipt,
            completed_at,
            ..
        } => {
            sqlx::query(
                "UPDATE payouts SET status = 'completed', mpesa_receipt = $2, completed_at = $3 \
                 WHERE id = $1",
            )
            .bind(payout_id)
            .bind(mpesa_receipt)
            .bind(completed_at)
            .execute(conn)
            .await?;
            Ok(())
        }
        SellerEvent::PayoutFailed {
            seller_id,
            payout_id,
            reason,
            failed_at,
            ..
        } => {
            let row: Option<(String, i64)> = sqlx::query_as(
                "UPDATE payouts SET status = 'failed', failure_reason = $2, completed_at = $3 \
                 WHERE id = $1 RETURNING phone, amount",
            )
            .bind(payout_id)
            .bind(reason)
            .bind(failed_at)
            .fetch_optional(&mut *conn)
            .await?;
            if let Some((phone, amount)) = row {
                add(conn, seller_id, &phone, amount).await?;
            }
            Ok(())
        }
    }
}
