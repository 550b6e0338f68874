//! Crypto-shredding of personal data. The personal fields of events are sealed with their
//! person's key on append, before hashing (the chain covers the sealed form), and unsealed on
//! every read, so code above the store sees plaintext. Closing an account deletes the key in
//! the `AccountClosed` transaction: the fields then read as [`ERASED`], every event stays,
//! and the hash chains still verify.
//!
//! Sealed form of a field: `{"sealed": "<base64url(nonce ‖ ciphertext)>", "alg": ALG}`, the
//! plaintext being the field's JSON, XChaCha20-Poly1305 with a fresh random 192-bit nonce and
//! the event id and field name as associated data (a sealed value cannot be moved elsewhere).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chacha20poly1305::aead::{Aead, Generate, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use serde_json::{Map, Value, json};
use sqlx::PgConnection;
use uuid::Uuid;

mod shred;

pub(crate) use shred::shred;

use super::StoreError;
use super::append::StreamAppend;

pub use tillroll_events::audit::ERASED;
const ALG: &str = "XChaCha20-Poly1305";
const NONCE_LEN: usize = 24;

/// Whether an append seals personal data or erases a person: both take several statements
/// that must commit together with the events. What is personal, and whose, each event declares
/// (`EncodedEvent::personal`): the store knows no event type.
pub(crate) fn needs_transaction(appends: &[crate::store::StreamAppend]) -> bool {
    appends.iter().flat_map(|a| &a.events).any(|e| {
        let personal = &e.event.personal;
        personal.erases || !personal.fields.is_empty()
    })
}

/// An event's data as it is stored, and the person whose key sealed it.
pub(crate) struct Sealed {
    pub subject: Option<Uuid>,
    pub data: Value,
}

fn aad(event_id: Uuid, field: &str) -> Vec<u8> {
    let mut aad = b"tillroll-pii-v1\0".to_vec();
    aad.extend_from_slice(event_id.as_bytes());
    aad.extend_from_slice(field.as_bytes());
    aad
}

fn cipher(key: &[u8]) -> Option<XChaCha20Poly1305> {
    XChaCha20Poly1305::new_from_slice(key).ok()
}

fn seal_value(cipher: &XChaCha20Poly1305, event_id: Uuid, field: &str, value: &Value) -> Value {
    let nonce = XNonce::generate();
    let plaintext = serde_json::to_vec(value).expect("JSON serialises");
    let ciphertext = cipher
        .encrypt(
            &nonce,
            Payload {
                msg: &plaintext,
                aad: &aad(event_id, field),
            },
        )
        .expect("a field is far below the AEAD's size limit");
    let mut bytes = nonce.to_vec();
    bytes.extend_from_slice(&ciphertext);
    json!({ "sealed": URL_SAFE_NO_PAD.encode(bytes), "alg": ALG })
}

fn open_value(key: Option<&[u8]>, event_id: Uuid, field: &str, sealed: &str) -> Option<Value> {
    let cipher = cipher(key?)?;
    let bytes = URL_SAFE_NO_PAD.decode(sealed).ok()?;
    if bytes.len() < NONCE_LEN {
        return None;
    }
    let (nonce, ciphertext) = bytes.split_at(NONCE_LEN);
    let nonce = XNonce::try_from(nonce).ok()?;
    let plaintext = cipher
        .decrypt(
            &nonce,
            Payload {
                msg: ciphertext,
                aad: &aad(event_id, field),
            },
        )
        .ok()?;
    serde_json::from_slice(&plaintext).ok()
}

/// Whether a stored value is a sealed personal field.
pub fn is_sealed(value: &Value) -> bool {
    sealed_text(value).is_some()
}

fn sealed_text(value: &Value) -> Option<&str> {
    value.as_object()?.get("sealed")?.as_str()
}

/// Replaces every sealed field of `data` by its plaintext, or by [`ERASED`] when the key is
/// gone (or the sealed value was tampered with).
pub(crate) fn unseal(data: &mut Value, event_id: Uuid, key: Option<&[u8]>) {
    let Some(object) = data.as_object_mut() else {
        return;
    };
    for (field, value) in object.iter_mut() {
        if let Some(sealed) = sealed_text(value) {
            *value =
                open_value(key, event_id, field, sealed).unwrap_or_else(|| Value::from(ERASED));
        }
    }
}

fn has_personal_data(fields: &[&str], data: &Value) -> bool {
    fields
        .iter()
        .any(|f| data.get(*f).is_some_and(|v| !v.is_null()))
}

/// The subject of each event of `appends` (`None` where it has no personal data).
async fn subjects(
    conn: &mut PgConnection,
    appends: &[StreamAppend],
) -> Result<Vec<Vec<Option<Uuid>>>, StoreError> {
    let mut all = Vec::with_capacity(appends.len());
    for append in appends {
        // An event that names no subject holds the data of its stream's person: the subject
        // an earlier event of the stream (in this append, else stored) named.
        let mut stream_subject = append.events.iter().find_map(|e| {
            (!e.event.personal.fields.is_empty()).then_some(e.event.personal.subject)?
        });
        let mut subjects = Vec::with_capacity(append.events.len());
        for new in &append.events {
            let event = &new.event;
            if !has_personal_data(event.personal.fields, &event.data) {
                subjects.push(None);
                continue;
            }
            let mut subject = event.personal.subject;
            if subject.is_none() {
                if stream_subject.is_none() {
                    stream_subject = stored_subject(conn, append.stream_id.as_str()).await?;
                }
                subject = stream_subject;
            }
            if subject.is_none() {
                tracing::warn!(
                    event_type = event.event_type,
                    stream = %append.stream_id,
                    "personal data without a subject is stored unsealed"
                );
            }
            subjects.push(subject);
        }
        all.push(subjects);
    }
    Ok(all)
}

/// The person the stream's first sealed event belongs to.
async fn stored_subject(
    conn: &mut PgConnection,
    stream_id: &str,
) -> Result<Option<Uuid>, StoreError> {
    let row: Option<(Option<Uuid>,)> = sqlx::query_as(
        "SELECT pii_subject FROM events \
         WHERE stream_id = $1 AND pii_subject IS NOT NULL ORDER BY stream_version LIMIT 1",
    )
    .bind(stream_id)
    .fetch_optional(conn)
    .await?;
    Ok(row.and_then(|(customer,)| customer))
}

/// The keys of `subjects`, made on first use; `None` for an erased person.
async fn keys(
    conn: &mut PgConnection,
    subjects: &[Uuid],
) -> Result<std::collections::HashMap<Uuid, Option<Vec<u8>>>, StoreError> {
    let fresh: Vec<Vec<u8>> = subjects
        .iter()
        .map(|_| rand::random::<[u8; 32]>().to_vec())
        .collect();
    sqlx::query(
        "INSERT INTO pii_keys (customer_id, key) SELECT * FROM unnest($1::uuid[], $2::bytea[]) \
         ON CONFLICT (customer_id) DO NOTHING",
    )
    .bind(subjects)
    .bind(&fresh)
    .execute(&mut *conn)
    .await?;
    let rows: Vec<(Uuid, Option<Vec<u8>>)> =
        sqlx::query_as("SELECT customer_id, key FROM pii_keys WHERE customer_id = ANY($1)")
            .bind(subjects)
            .fetch_all(&mut *conn)
            .await?;
    Ok(rows.into_iter().collect())
}

/// Every event of `appends` as it is to be stored: personal fields sealed with their
/// subject's key (or already [`ERASED`] if that person was erased).
pub(crate) async fn seal(
    conn: &mut PgConnection,
    appends: &[StreamAppend],
) -> Result<Vec<Vec<Sealed>>, StoreError> {
    let subjects = subjects(conn, appends).await?;
    let mut wanted: Vec<Uuid> = subjects.iter().flatten().flatten().copied().collect();
    wanted.sort();
    wanted.dedup();
    let keys = if wanted.is_empty() {
        Default::default()
    } else {
        keys(conn, &wanted).await?
    };
    let mut sealed = Vec::with_capacity(appends.len());
    for (append, subjects) in appends.iter().zip(subjects) {
        let events = append.events.iter().zip(subjects).map(|(new, subject)| {
            let Some(subject) = subject else {
                return Sealed {
                    subject: None,
                    data: new.event.data.clone(),
                };
            };
            let cipher = keys
                .get(&subject)
                .cloned()
                .flatten()
                .and_then(|k| cipher(&k));
            let mut data = new.event.data.clone();
            if let Some(object) = data.as_object_mut() {
                seal_fields(
                    object,
                    new.event.personal.fields,
                    new.event_id,
                    cipher.as_ref(),
                );
            }
            Sealed {
                subject: Some(subject),
                data,
            }
        });
        sealed.push(events.collect());
    }
    Ok(sealed)
}

fn seal_fields(
    object: &mut Map<String, Value>,
    fields: &[&str],
    event_id: Uuid,
    cipher: Option<&XChaCha20Poly1305>,
) {
    for field in fields {
        let Some(value) = object.get_mut(*field) else {
            continue;
        };
        if value.is_null() {
            continue;
        }
        *value = match cipher {
            Some(cipher) => seal_value(cipher, event_id, field, value),
            None => Value::from(ERASED),
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_field_opens_with_its_key_only_and_only_where_it_was_sealed() {
        let key = rand::random::<[u8; 32]>();
        let cipher = cipher(&key).unwrap();
        let event = Uuid::new_v4();
        let sealed = seal_value(&cipher, event, "phone", &json!("254700000001"));
        let text = sealed_text(&sealed).unwrap();
        assert!(!text.contains("254700000001"));
        assert_eq!(
            open_value(Some(&key), event, "phone", text),
            Some(json!("254700000001"))
        );
        assert_eq!(open_value(None, event, "phone", text), None);
        assert_eq!(open_value(Some(&[7; 32]), event, "phone", text), None);
        assert_eq!(open_value(Some(&key), Uuid::new_v4(), "phone", text), None);
        assert_eq!(open_value(Some(&key), event, "name", text), None);
    }

    #[test]
    fn nonces_are_fresh_and_erased_fields_still_deserialise() {
        let key = rand::random::<[u8; 32]>();
        let cipher = cipher(&key).unwrap();
        let event = Uuid::new_v4();
        let mut object = Map::new();
        object.insert("name".into(), json!("Wanjiru"));
        object.insert("phone".into(), Value::Null);
        object.insert("customer_id".into(), json!(Uuid::nil()));
        let mut a = Value::Object(object.clone());
        let mut b = Value::Object(object);
        seal_fields(
            a.as_object_mut().unwrap(),
            &["name", "phone", "gender"],
            event,
            Some(&cipher),
        );
        seal_fields(
            b.as_object_mut().unwrap(),
            &["name", "phone", "gender"],
            event,
            Some(&cipher),
        );
        assert_ne!(a["name"], b["name"]);
        assert_eq!(a["phone"], Value::Null);
        unseal(&mut b, event, Some(&key));
        assert_eq!(b["name"], "Wanjiru");
        unseal(&mut a, event, None);
        assert_eq!(a["name"], ERASED);
        assert_eq!(a["customer_id"], json!(Uuid::nil()));
    }
}
