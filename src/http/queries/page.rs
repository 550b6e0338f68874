//! Pages of a list: `?limit=` (1–100, default 20) and `?cursor=`, an opaque base64url of the
//! last item's keyset position; answered as `{items, next_cursor}`, with `total` (the items
//! matching the filter, all pages) when asked by `?count=true`. Shared by every list.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::http::error::{ApiError, FieldProblem};

pub const DEFAULT_LIMIT: i64 = 20;
pub const MAX_LIMIT: i64 = 100;

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
    /// With `?count=true`: how many items match the filter, on every page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total: Option<i64>,
}

/// A base64url keyset position; opaque to clients.
pub fn encode_cursor<T: Serialize>(position: &T) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(position).unwrap_or_default())
}

pub fn decode_cursor<T: DeserializeOwned>(raw: &str) -> Option<T> {
    let bytes = URL_SAFE_NO_PAD.decode(raw.trim()).ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// `?limit=` as text: 1 to 100, default 20.
pub fn parse_limit(raw: Option<&str>) -> Result<i64, FieldProblem> {
    match raw {
        None => Ok(DEFAULT_LIMIT),
        Some(raw) => raw
            .trim()
            .parse::<i64>()
            .ok()
            .filter(|n| (1..=MAX_LIMIT).contains(n))
            .ok_or_else(|| {
                problem(
                    "limit",
                    format!("must be a whole number from 1 to {MAX_LIMIT}"),
                )
            }),
    }
}

/// `?limit=` already parsed as a number.
pub fn limit(raw: Option<i64>) -> Result<i64, ApiError> {
    match raw {
        None => Ok(DEFAULT_LIMIT),
        Some(n) if (1..=MAX_LIMIT).contains(&n) => Ok(n),
        Some(_) => Err(ApiError::field(
            "limit",
            format!("must be between 1 and {MAX_LIMIT}"),
        )),
    }
}

pub fn problem(field: &str, message: impl Into<String>) -> FieldProblem {
    FieldProblem {
        field: field.to_owned(),
        message: message.into(),
    }
}

/// A position in a list sorted by `(at DESC, id DESC)`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Cursor {
    pub at: DateTime<Utc>,
    pub id: Uuid,
}

impl Cursor {
    pub fn encode(&self) -> String {
        encode_cursor(self)
    }

    pub fn decode(raw: &str) -> Result<Self, ApiError> {
        decode_cursor(raw)
            .ok_or_else(|| ApiError::field("cursor", "is not a cursor this list gave out"))
    }
}

impl<T> Page<T> {
    /// `rows` was fetched with `limit + 1`: an extra row means there is a next page.
    pub fn of<R>(
        mut rows: Vec<R>,
        limit: i64,
        key: impl Fn(&R) -> Cursor,
        into: impl FnMut(R) -> T,
    ) -> Self {
        let more = rows.len() as i64 > limit;
        rows.truncate(usize::try_from(limit).unwrap_or(0));
        let next_cursor = more.then(|| rows.last().map(|r| key(r).encode())).flatten();
        Self {
            items: rows.into_iter().map(into).collect(),
            next_cursor,
            total: None,
        }
    }

    pub fn with_total(mut self, total: Option<i64>) -> Self {
        self.total = total;
        self
    }
}

/// Runs the count query when `?count=true` asked for it.
pub async fn total<F>(count: Option<bool>, query: F) -> Result<Option<i64>, sqlx::Error>
where
    F: std::future::Future<Output = Result<i64, sqlx::Error>>,
{
    match count {
        Some(true) => query.await.map(Some),
        _ => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits() {
        assert_eq!(parse_limit(Some("1")).ok(), Some(1));
        assert_eq!(parse_limit(Some("100")).ok(), Some(100));
        assert_eq!(parse_limit(None).ok(), Some(20));
        for bad in ["0", "101", "-1", "x", ""] {
            assert_eq!(parse_limit(Some(bad)).unwrap_err().field, "limit");
        }
        assert!(limit(Some(0)).is_err());
        assert_eq!(limit(None).ok(), Some(20));
    }

    #[test]
    fn cursors_round_trip_and_garbage_is_a_400() {
        let cursor = Cursor {
            at: DateTime::from_timestamp_micros(1_764_000_000_123_456).unwrap(),
            id: Uuid::now_v7(),
        };
        assert_eq!(Cursor::decode(&cursor.encode()).unwrap(), cursor);
        for bad in ["", "!!", "bm9wZQ"] {
            assert_eq!(Cursor::decode(bad).unwrap_err().status(), 400, "{bad}");
        }
    }
}
