//! Erasing a person: their key, and the other plaintext copies of their data the store knows.

use serde_json::Value;
use sqlx::PgConnection;
use uuid::Uuid;

use super::{ERASED, unseal};
use crate::store::StoreError;

/// Erases a person (called in the transaction that appends their `AccountClosed`): deletes
/// their key, and the other plaintext copies the store knows of: idempotency records of their
/// requests or holding their name, e-mail or phone, snapshots of their account, address book
/// and orders, and their avatar images.
pub(crate) async fn shred(conn: &mut PgConnection, customer_id: Uuid) -> Result<(), StoreError> {
    let values = personal_values(conn, customer_id).await?;
    sqlx::query(
        "INSERT INTO pii_keys (customer_id, key, erased_at) VALUES ($1, NULL, now()) \
         ON CONFLICT (customer_id) DO UPDATE SET key = NULL, erased_at = now()",
    )
    .bind(customer_id)
    .execute(&mut *conn)
    .await?;
    sqlx::query(
        "DELETE FROM idempotency_keys WHERE actor = $1::text \
            OR EXISTS (SELECT 1 FROM unnest($2::bytea[]) AS v(needle) \
                       WHERE position(v.needle IN body) > 0)",
    )
    .bind(customer_id)
    .bind(&values)
    .execute(&mut *conn)
    .await?;
    sqlx::query(
        "DELETE FROM snapshots \
         WHERE stream_id IN ('customer-' || $1::text, 'addressbook-' || $1::text) \
            OR (stream_id LIKE 'order-%' AND state ->> 'customer_id' = $1::text)",
    )
    .bind(customer_id)
    .execute(&mut *conn)
    .await?;
    sqlx::query(
        "DELETE FROM images WHERE id IN ( \
             SELECT data ->> 'image_id' FROM events \
             WHERE stream_id = 'customer-' || $1::text AND event_type = 'AvatarChanged') \
           AND NOT EXISTS ( \
             SELECT 1 FROM events p WHERE p.event_type = 'ProductImageChanged' \
               AND p.data ->> 'image_id' = images.id)",
    )
    .bind(customer_id)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// The person's name, e-mail and phone values as stored in their events (as raw text and as
/// escaped inside JSON), to find other copies of them.
async fn personal_values(
    conn: &mut PgConnection,
    customer_id: Uuid,
) -> Result<Vec<Vec<u8>>, StoreError> {
    let rows: Vec<(Uuid, Value, Option<Vec<u8>>)> = sqlx::query_as(
        "SELECT e.event_id, e.data, k.key FROM events e \
         LEFT JOIN pii_keys k ON k.customer_id = e.pii_subject \
         WHERE e.pii_subject = $1",
    )
    .bind(customer_id)
    .fetch_all(&mut *conn)
    .await?;
    let mut values = Vec::new();
    for (event_id, mut data, key) in rows {
        unseal(&mut data, event_id, key.as_deref());
        for field in ["name", "email", "phone"] {
            let Some(text) = data.get(field).and_then(Value::as_str) else {
                continue;
            };
            if text.chars().count() < 3 || text == ERASED {
                continue;
            }
            let escaped = Value::from(text).to_string();
            let escaped = escaped.as_bytes()[1..escaped.len() - 1].to_vec();
            values.push(text.as_bytes().to_vec());
            values.push(escaped);
        }
    }
    values.sort();
    values.dedup();
    Ok(values)
}
