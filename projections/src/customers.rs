//! The customers read model: one row per account, serving `user` (GET /me, GET /users).
//!
//! Every timestamp is the event's `recorded_at`, so a rebuild reproduces the table exactly.
//! Closing an account erases its personal fields (`email`, `name`, `phone`, `gender`,
//! `avatar_image_id`) for good: later profile or avatar events of a closed account are ignored,
//! so nothing personal can reappear after the erasure, live or on a rebuild.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::PgConnection;
use tillroll_events::{CustomerEvent, RecordedEvent};

use crate::{ProjectionError, Projector, decode};

pub struct CustomersProjector;

#[async_trait]
impl Projector for CustomersProjector {
    fn name(&self) -> &'static str {
        "customers"
    }

    fn tables(&self) -> &'static [&'static str] {
        &["customers"]
    }

    async fn apply(
        &self,
        conn: &mut PgConnection,
        events: &[RecordedEvent],
    ) -> Result<(), ProjectionError> {
        for event in events {
            if let Some(customer) = decode::<CustomerEvent>(event) {
                apply_customer(conn, customer?, event.recorded_at).await?;
            }
        }
        Ok(())
    }
}

async fn apply_customer(
    conn: &mut PgConnection,
    event: CustomerEvent,
    at: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    match event {
        CustomerEvent::CustomerRegistered {
            customer_id,
            email,
            name,
            phone,
            role,
            registered_at: _,
        } => {
            sqlx::query(
                "INSERT INTO customers (id, email, name, phone, gender, avatar_image_id, role, \
                     disabled, closed, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, NULL, NULL, $5, false, false, $6, $6) \
                 ON CONFLICT (id) DO UPDATE SET email = excluded.email, name = excluded.name, \
                     phone = excluded.phone, gender = NULL, avatar_image_id = NULL, \
                     role = excluded.role, disabled = false, closed = false, \
                     created_at = excluded.created_at, updated_at = excluded.updated_at",
            )
            .bind(customer_id)
            .bind(email)
            .bind(name)
            .bind(phone)
            .bind(role)
            .bind(at)
            .execute(conn)
            .await?;
        }
        CustomerEvent::ProfileUpdated {
            customer_id,
            name,
            phone,
            gender,
        } => {
            sqlx::query(
                "UPDATE customers SET name = coalesce($2, name), phone = coalesce($3, phone), \
                     gender = coalesce($4, gender), updated_at = $5 \
                 WHERE id = $1 AND NOT closed",
            )
            .bind(customer_id)
            .bind(name)
            .bind(phone)
            .bind(gender)
            .bind(at)
            .execute(conn)
            .await?;
        }
        CustomerEvent::AvatarChanged {
            customer_id,
            image_id,
        } => {
            sqlx::query(
                "UPDATE customers SET avatar_image_id = $2, updated_at = $3 \
                 WHERE id = $1 AND NOT closed",
            )
            .bind(customer_id)
            .bind(image_id)
            .bind(at)
            .execute(conn)
            .await?;
        }
        CustomerEvent::RoleGranted { customer_id, role } => {
            sqlx::query("UPDATE customers SET role = $2, updated_at = $3 WHERE id = $1")
                .bind(customer_id)
                .bind(role)
                .bind(at)
                .execute(conn)
                .await?;
        }
        CustomerEvent::AccountDisabled { customer_id } => {
            set_disabled(conn, customer_id, true, at).await?;
        }
        CustomerEvent::AccountEnabled { customer_id } => {
            set_disabled(conn, customer_id, false, at).await?;
        }
        CustomerEvent::AccountClosed {
            customer_id,
            closed_at: _,
        } => {
            sqlx::query(
                "UPDATE customers SET closed = true, email = NULL, name = NULL, phone = NULL, \
                     gender = NULL, avatar_image_id = NULL, updated_at = $2 \
                 WHERE id = $1",
            )
            .bind(customer_id)
            .bind(at)
            .execute(conn)
            .await?;
        }
    }
    Ok(())
}

async fn set_disabled(
    conn: &mut PgConnection,
    customer_id: uuid::Uuid,
    disabled: bool,
    at: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE customers SET disabled = $2, updated_at = $3 WHERE id = $1")
        .bind(customer_id)
        .bind(disabled)
        .bind(at)
        .execute(conn)
        .await?;
    Ok(())
}
