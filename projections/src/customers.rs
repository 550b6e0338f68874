//! The customers read model: one row per account, serving `user` (GET /me, GET /users).
//!
//! Every timestamp is the event's `recorded_at`, so a rebuild reproduces the table exactly.
//! Closing an account erases its personal fields (`email`, `name`, `phone`, `gender`,
//! `avatar_image_id`) for good: later profile or avatar events of a closed account are ignored,
//! so nothing personal can reappear after the erasure, live or on a rebuild.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::PgConnection;
use tillroll_events::{CustomerEvent, DomainEvent, RecordedEvent};
use uuid::Uuid;

use crate::batch::{Rows, distinct};
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

    fn handles(&self, event_type: &str) -> bool {
        CustomerEvent::event_types().contains(&event_type)
    }

    async fn apply(
        &self,
        conn: &mut PgConnection,
        events: &[RecordedEvent],
    ) -> Result<(), ProjectionError> {
        let mut changes = Vec::new();
        for event in events {
            if let Some(customer) = decode::<CustomerEvent>(event) {
                changes.push((customer?, event.recorded_at));
            }
        }
        if changes.is_empty() {
            return Ok(());
        }
        let ids = distinct(changes.iter().map(|(e, _)| e.customer_id()));
        let mut customers = Rows::loaded(ids.iter().copied(), load(conn, &ids).await?);
        for (event, at) in changes {
            apply_customer(&mut customers, event, at);
        }
        let (rows, _) = customers.into_changes();
        write(conn, rows).await?;
        Ok(())
    }
}

#[derive(sqlx::FromRow)]
struct Customer {
    id: Uuid,
    email: Option<String>,
    name: Option<String>,
    phone: Option<String>,
    gender: Option<String>,
    avatar_image_id: Option<String>,
    role: String,
    disabled: bool,
    closed: bool,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

async fn load(conn: &mut PgConnection, ids: &[Uuid]) -> Result<Vec<(Uuid, Customer)>, sqlx::Error> {
    let rows: Vec<Customer> = sqlx::query_as(
        "SELECT id, email, name, phone, gender, avatar_image_id, role, disabled, closed, \
             created_at, updated_at \
         FROM customers WHERE id = ANY($1)",
    )
    .bind(ids)
    .fetch_all(conn)
    .await?;
    Ok(rows.into_iter().map(|c| (c.id, c)).collect())
}

fn apply_customer(customers: &mut Rows<Uuid, Customer>, event: CustomerEvent, at: DateTime<Utc>) {
    let id = event.customer_id();
    if let CustomerEvent::CustomerRegistered {
        customer_id,
        email,
        name,
        phone,
        role,
        registered_at: _,
    } = event
    {
        let customer = Customer {
            id: customer_id,
            email: Some(email),
            name: Some(name),
            phone,
            gender: None,
            avatar_image_id: None,
            role,
            disabled: false,
            closed: false,
            created_at: at,
            updated_at: at,
        };
        return customers.put(customer_id, customer);
    }
    let Some(c) = customers.get_mut(&id) else {
        return;
    };
    match event {
        CustomerEvent::CustomerRegistered { .. } => {}
        // Nothing personal comes back after an erasure.
        CustomerEvent::ProfileUpdated { .. } | CustomerEvent::AvatarChanged { .. } if c.closed => {
            return;
        }
        CustomerEvent::ProfileUpdated {
            name,
            phone,
            gender,
            ..
        } => {
            c.name = name.or(c.name.take());
            c.phone = phone.or(c.phone.take());
            c.gender = gender.or(c.gender.take());
        }
        CustomerEvent::AvatarChanged { image_id, .. } => c.avatar_image_id = Some(image_id),
        CustomerEvent::RoleGranted { role, .. } => c.role = role,
        CustomerEvent::AccountDisabled { .. } => c.disabled = true,
        CustomerEvent::AccountEnabled { .. } => c.disabled = false,
        CustomerEvent::AccountClosed { .. } => {
            c.closed = true;
            c.email = None;
            c.name = None;
            c.phone = None;
            c.gender = None;
            c.avatar_image_id = None;
        }
    }
    c.updated_at = at;
}

async fn write(conn: &mut PgConnection, rows: Vec<(Uuid, Customer)>) -> Result<(), sqlx::Error> {
    if rows.is_empty() {
        return Ok(());
    }
    let mut c = Columns::default();
    for (_, row) in rows {
        c.push(row);
    }
    sqlx::query(
        "INSERT INTO customers (id, email, name, phone, gender, avatar_image_id, role, \
             disabled, closed, created_at, updated_at) \
         SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[], \
             $6::text[], $7::text[], $8::bool[], $9::bool[], $10::timestamptz[], \
             $11::timestamptz[]) \
         ON CONFLICT (id) DO UPDATE SET email = excluded.email, name = excluded.name, \
             phone = excluded.phone, gender = excluded.gender, \
             avatar_image_id = excluded.avatar_image_id, role = excluded.role, \
             disabled = excluded.disabled, closed = excluded.closed, \
             created_at = excluded.created_at, updated_at = excluded.updated_at",
    )
    .bind(c.id)
    .bind(c.email)
    .bind(c.name)
    .bind(c.phone)
    .bind(c.gender)
    .bind(c.avatar_image_id)
    .bind(c.role)
    .bind(c.disabled)
    .bind(c.closed)
    .bind(c.created_at)
    .bind(c.updated_at)
    .execute(conn)
    .await?;
    Ok(())
}

/// `customers` rows as columns, for `unnest`.
#[derive(Default)]
struct Columns {
    id: Vec<Uuid>,
    email: Vec<Option<String>>,
    name: Vec<Option<String>>,
    phone: Vec<Option<String>>,
    gender: Vec<Option<String>>,
    avatar_image_id: Vec<Option<String>>,
    role: Vec<String>,
    disabled: Vec<bool>,
    closed: Vec<bool>,
    created_at: Vec<DateTime<Utc>>,
    updated_at: Vec<DateTime<Utc>>,
}

impl Columns {
    fn push(&mut self, c: Customer) {
        self.id.push(c.id);
        self.email.push(c.email);
        self.name.push(c.name);
        self.phone.push(c.phone);
        self.gender.push(c.gender);
        self.avatar_image_id.push(c.avatar_image_id);
        self.role.push(c.role);
        self.disabled.push(c.disabled);
        self.closed.push(c.closed);
        self.created_at.push(c.created_at);
        self.updated_at.push(c.updated_at);
    }
}
