//! The address book read model: one row per kept address, serving `GET /me/addresses`.
//!
//! A batch loads every address of the customers it names, applies their events in memory and
//! writes those customers' books back whole (delete, then one `unnest` insert): a book is
//! small, and "at most one default" is then kept by construction. Closing an account deletes
//! its addresses (their events are unreadable from then on, crypto-shredded with the person).

use std::collections::{BTreeMap, HashSet};

use async_trait::async_trait;
use sqlx::PgConnection;
use tillroll_events::{AddressBookEvent, CustomerEvent, DomainEvent, RecordedEvent};
use uuid::Uuid;

use crate::batch::distinct;
use crate::{ProjectionError, Projector, decode};

pub struct AddressesProjector;

#[async_trait]
impl Projector for AddressesProjector {
    fn name(&self) -> &'static str {
        "addresses"
    }

    fn tables(&self) -> &'static [&'static str] {
        &["addresses"]
    }

    fn handles(&self, event_type: &str) -> bool {
        AddressBookEvent::event_types().contains(&event_type) || event_type == "AccountClosed"
    }

    async fn apply(
        &self,
        conn: &mut PgConnection,
        events: &[RecordedEvent],
    ) -> Result<(), ProjectionError> {
        let mut changes = Vec::new();
        for event in events {
            if let Some(change) = decode::<AddressBookEvent>(event) {
                changes.push(Change::Book(Box::new(change?), event.position));
            } else if let Some(customer) = decode::<CustomerEvent>(event)
                && let CustomerEvent::AccountClosed { customer_id, .. } = customer?
            {
                changes.push(Change::Closed(customer_id));
            }
        }
        if changes.is_empty() {
            return Ok(());
        }
        let customers = distinct(changes.iter().map(Change::customer_id));
        let mut rows = load(conn, &customers).await?;
        let mut closed = HashSet::new();
        for change in changes {
            match change {
                Change::Closed(customer_id) => {
                    closed.insert(customer_id);
                    rows.retain(|_, r| r.customer_id != customer_id);
                }
                Change::Book(event, _) if closed.contains(&event.customer_id()) => {}
                Change::Book(event, position) => apply_event(&mut rows, *event, position),
            }
        }
        write(conn, &customers, rows.into_values().collect()).await?;
        Ok(())
    }
}

enum Change {
    Book(Box<AddressBookEvent>, i64),
    Closed(Uuid),
}

impl Change {
    fn customer_id(&self) -> Uuid {
        match self {
            Self::Book(event, _) => event.customer_id(),
            Self::Closed(id) => *id,
        }
    }
}

#[derive(sqlx::FromRow, Clone)]
struct Row {
    id: Uuid,
    customer_id: Uuid,
    added_position: i64,
    label: Option<String>,
    recipient: String,
    phone: Option<String>,
    line1: String,
    line2: Option<String>,
    city: String,
    region: Option<String>,
    postal_code: Option<String>,
    country: String,
    is_default: bool,
}

async fn load(
    conn: &mut PgConnection,
    customers: &[Uuid],
) -> Result<BTreeMap<Uuid, Row>, sqlx::Error> {
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT id, customer_id, added_position, label, recipient, phone, line1, line2, city, \
             region, postal_code, country, is_default \
         FROM addresses WHERE customer_id = ANY($1)",
    )
    .bind(customers)
    .fetch_all(conn)
    .await?;
    Ok(rows.into_iter().map(|r| (r.id, r)).collect())
}

fn apply_event(rows: &mut BTreeMap<Uuid, Row>, event: AddressBookEvent, position: i64) {
    match event {
        AddressBookEvent::AddressAdded {
            customer_id,
            address_id,
            address: a,
        } => {
            let row = Row {
                id: address_id,
                customer_id,
                added_position: position,
                label: a.label,
                recipient: a.recipient,
                phone: a.phone,
                line1: a.line1,
                line2: a.line2,
                city: a.city,
                region: a.region,
                postal_code: a.postal_code,
                country: a.country,
                is_default: false,
            };
            rows.insert(address_id, row);
        }
        AddressBookEvent::AddressChanged {
            address_id,
            address: a,
            ..
        } => {
            if let Some(row) = rows.get_mut(&address_id) {
                row.label = a.label;
                row.recipient = a.recipient;
                row.phone = a.phone;
                row.line1 = a.line1;
                row.line2 = a.line2;
                row.city = a.city;
                row.region = a.region;
                row.postal_code = a.postal_code;
                row.country = a.country;
            }
        }
        AddressBookEvent::AddressRemoved { address_id, .. } => {
            rows.remove(&address_id);
        }
        AddressBookEvent::DefaultAddressChanged {
            customer_id,
            address_id,
        } => {
            for row in rows.values_mut().filter(|r| r.customer_id == customer_id) {
                row.is_default = row.id == address_id;
            }
        }
    }
}

async fn write(
    conn: &mut PgConnection,
    customers: &[Uuid],
    rows: Vec<Row>,
) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM addresses WHERE customer_id = ANY($1)")
        .bind(customers)
        .execute(&mut *conn)
        .await?;
    if rows.is_empty() {
        return Ok(());
    }
    let col = |f: fn(&Row) -> Option<String>| rows.iter().map(f).collect::<Vec<_>>();
    let text = |f: fn(&Row) -> String| rows.iter().map(f).collect::<Vec<_>>();
    sqlx::query(
        "INSERT INTO addresses (id, customer_id, added_position, label, recipient, phone, \
             line1, line2, city, region, postal_code, country, is_default) \
         SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::bigint[], $4::text[], $5::text[], \
             $6::text[], $7::text[], $8::text[], $9::text[], $10::text[], $11::text[], \
             $12::text[], $13::bool[])",
    )
    .bind(rows.iter().map(|r| r.id).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.customer_id).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.added_position).collect::<Vec<_>>())
    .bind(col(|r| r.label.clone()))
    .bind(text(|r| r.recipient.clone()))
    .bind(col(|r| r.phone.clone()))
    .bind(text(|r| r.line1.clone()))
    .bind(col(|r| r.line2.clone()))
    .bind(text(|r| r.city.clone()))
    .bind(col(|r| r.region.clone()))
    .bind(col(|r| r.postal_code.clone()))
    .bind(text(|r| r.country.clone()))
    .bind(rows.iter().map(|r| r.is_default).collect::<Vec<_>>())
    .execute(conn)
    .await?;
    Ok(())
}
