//! The per-stream hash chain (DESIGN.md §6): each event's hash covers the previous event's
//! hash and the event's own stream, version, type, schema version, data, metadata and time.

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::Value;
use sha2::{Digest, Sha256};

/// The `previous hash` of a stream's first event.
pub const GENESIS: [u8; 32] = [0; 32];

pub struct HashInput<'a> {
    pub stream_id: &'a str,
    pub version: i64,
    pub event_type: &'a str,
    pub schema_version: i32,
    pub data: &'a Value,
    pub metadata: &'a Value,
    pub recorded_at: DateTime<Utc>,
}

pub fn event_hash(previous: &[u8], input: &HashInput<'_>) -> Vec<u8> {
    let mut hasher = Sha256::new();
    let mut field = |bytes: &[u8]| {
        hasher.update((bytes.len() as u64).to_be_bytes());
        hasher.update(bytes);
    };
    field(previous);
    field(input.stream_id.as_bytes());
    field(&input.version.to_be_bytes());
    field(input.event_type.as_bytes());
    field(&input.schema_version.to_be_bytes());
    field(canonical_json(input.data).as_bytes());
    field(canonical_json(input.metadata).as_bytes());
    field(
        input
            .recorded_at
            .to_rfc3339_opts(SecondsFormat::Micros, true)
            .as_bytes(),
    );
    hasher.finalize().to_vec()
}

/// JSON with object keys sorted at every level and no whitespace, so the hash does not depend
/// on how jsonb (or a serde feature) orders keys.
pub fn canonical_json(value: &Value) -> String {
    let mut out = String::new();
    write_canonical(value, &mut out);
    out
}

fn write_canonical(value: &Value, out: &mut String) {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (i, key) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(key.clone()).to_string());
                out.push(':');
                write_canonical(&map[key], out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(item, out);
            }
            out.push(']');
        }
        scalar => out.push_str(&scalar.to_string()),
    }
}

/// Postgres keeps microseconds; hashing and storing the same truncated time keeps the chain
/// verifiable after the round trip.
pub fn truncate_to_micros(at: DateTime<Utc>) -> DateTime<Utc> {
    let micros = at.timestamp_micros();
    DateTime::from_timestamp_micros(micros).unwrap_or(at)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn canonical_json_sorts_keys_at_every_level() {
        let a = json!({"b": 1, "a": {"z": [1, {"y": 2, "x": 1}], "c": "é"}});
        assert_eq!(
            canonical_json(&a),
            r#"{"a":{"c":"é","z":[1,{"x":1,"y":2}]},"b":1}"#
        );
    }

    #[test]
    fn hash_changes_with_any_field_and_with_the_previous_hash() {
        let data = json!({"n": 1});
        let meta = json!({"actor_role": "system"});
        let at = truncate_to_micros(Utc::now());
        let input = |version| HashInput {
            stream_id: "order-1",
            version,
            event_type: "OrderPlaced",
            schema_version: 1,
            data: &data,
            metadata: &meta,
            recorded_at: at,
        };
        let h1 = event_hash(&GENESIS, &input(1));
        assert_eq!(h1, event_hash(&GENESIS, &input(1)));
        assert_ne!(h1, event_hash(&GENESIS, &input(2)));
        assert_ne!(h1, event_hash(&h1, &input(1)));
    }
}
