//! The transparency log over HTTP: verification, signed tree heads, inclusion and consistency
//! proofs, and the public key that checks them.

use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::Auditor;
use crate::audit::heads::{self, PublicKey, TreeHead};
use crate::audit::tree::{self, TreeError};
use crate::audit::verify::{self, AuditReport};
use crate::http::error::{ApiError, Problem};
use crate::http::extract::{Json, Query};
use crate::http::queries::page::{decode_cursor, encode_cursor, parse_limit};
use crate::state::AppState;

/// Recomputes every hash chain and the Merkle tree over the log, and checks every kept tree
/// head against it (signature, root, last position); `ok` is false and `failures` names what
/// broke (stream and version, or `log` and the log index).
#[utoipa::path(get, path = "/audit/verify", tag = "audit",
    responses((status = 200, body = AuditReport), (status = 401, body = Problem),
        (status = 403, body = Problem)),
    security(("bearer" = [])))]
pub async fn verify_log(
    _: Auditor,
    State(state): State<AppState>,
) -> Result<Json<AuditReport>, ApiError> {
    let grace = crate::audit::sealing_grace(&state.config);
    Ok(Json(verify::verify(&state.store, grace).await?))
}

impl From<TreeError> for ApiError {
    fn from(error: TreeError) -> Self {
        match error {
            TreeError::Database(e) => e.into(),
            other => ApiError::internal(other),
        }
    }
}

async fn latest(state: &AppState) -> Result<TreeHead, ApiError> {
    heads::latest(&state.pool)
        .await?
        .ok_or_else(|| ApiError::not_found("no tree head has been signed yet"))
}

/// The latest signed tree head.
#[utoipa::path(get, path = "/audit/tree-heads/latest", tag = "audit",
    responses((status = 200, body = TreeHead), (status = 401, body = Problem),
        (status = 403, body = Problem), (status = 404, body = Problem)),
    security(("bearer" = [])))]
pub async fn get_latest_tree_head(
    _: Auditor,
    State(state): State<AppState>,
) -> Result<Json<TreeHead>, ApiError> {
    Ok(Json(latest(&state).await?))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct HeadsQuery {
    /// 1 to 100, default 20.
    #[param(schema_with = crate::http::limits::page_limit)]
    limit: Option<String>,
    /// `next_cursor` of the previous page.
    #[param(schema_with = crate::http::limits::cursor)]
    cursor: Option<String>,
    /// `true` adds `total`, every tree head ever signed.
    count: Option<bool>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TreeHeadPage {
    pub items: Vec<TreeHead>,
    /// Pass as `?cursor=` for the next (older) page; null on the last page.
    pub next_cursor: Option<String>,
    /// With `?count=true`: how many tree heads there are.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total: Option<i64>,
}

/// Every signed tree head ever made, newest first (none is ever deleted).
#[utoipa::path(get, path = "/audit/tree-heads", tag = "audit", params(HeadsQuery),
    responses((status = 200, body = TreeHeadPage), (status = 400, body = Problem),
        (status = 401, body = Problem), (status = 403, body = Problem)),
    security(("bearer" = [])))]
pub async fn list_tree_heads(
    _: Auditor,
    State(state): State<AppState>,
    Query(query): Query<HeadsQuery>,
) -> Result<Json<TreeHeadPage>, ApiError> {
    let limit = parse_limit(query.limit.as_deref()).map_err(|p| ApiError::fields(vec![p]))?;
    let before = query
        .cursor
        .as_deref()
        .map(|raw| {
            decode_cursor::<i64>(raw)
                .ok_or_else(|| ApiError::field("cursor", "is not a cursor this list gave out"))
        })
        .transpose()?;
    let mut items = heads::page(&state.pool, before, limit + 1).await?;
    let more = items.len() as i64 > limit;
    items.truncate(limit as usize);
    let next_cursor = more
        .then(|| items.last().map(|h| encode_cursor(&h.tree_size)))
        .flatten();
    let total = crate::http::queries::page::total(
        query.count,
        sqlx::query_scalar("SELECT count(*) FROM audit_tree_heads").fetch_one(&state.pool),
    )
    .await?;
    Ok(Json(TreeHeadPage {
        items,
        next_cursor,
        total,
    }))
}

fn number(field: &str, raw: Option<&str>, min: i64) -> Result<Option<i64>, ApiError> {
    raw.map(|raw| {
        raw.trim()
            .parse::<i64>()
            .ok()
            .filter(|n| *n >= min)
            .ok_or_else(|| ApiError::field(field, format!("must be a whole number ≥ {min}")))
    })
    .transpose()
}

/// A tree size the latest head covers (`None`: the latest head's).
async fn tree_size(state: &AppState, field: &str, raw: Option<&str>) -> Result<i64, ApiError> {
    let latest = latest(state).await?;
    match number(field, raw, 1)? {
        None => Ok(latest.tree_size),
        Some(size) if size > latest.tree_size => Err(ApiError::field(
            field,
            format!(
                "is beyond the latest signed tree head (size {})",
                latest.tree_size
            ),
        )),
        Some(size) => Ok(size),
    }
}

fn hexes(hashes: &[[u8; 32]]) -> Vec<String> {
    hashes.iter().map(hex::encode).collect()
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct InclusionQuery {
    /// The event to prove.
    #[param(value_type = Uuid)]
    event_id: Option<String>,
    /// The size of the tree to prove it in (a signed tree head's); default: the latest head's.
    #[param(value_type = Option<i64>, minimum = 1)]
    tree_size: Option<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct InclusionProof {
    pub event_id: Uuid,
    pub leaf_index: i64,
    pub tree_size: i64,
    /// Hex SHA-256 of the event's leaf (README, "The leaf").
    pub leaf_hash: String,
    /// Hex hashes, RFC 9162 §2.1.3 order.
    pub audit_path: Vec<String>,
}

/// Proves the event is leaf `leaf_index` of the tree of `tree_size` leaves (RFC 9162 §2.1.3).
#[utoipa::path(get, path = "/audit/proofs/inclusion", tag = "audit", params(InclusionQuery),
    responses((status = 200, body = InclusionProof), (status = 400, body = Problem),
        (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem)),
    security(("bearer" = [])))]
pub async fn get_inclusion_proof(
    _: Auditor,
    State(state): State<AppState>,
    Query(query): Query<InclusionQuery>,
) -> Result<Json<InclusionProof>, ApiError> {
    let event_id = match query.event_id.as_deref().map(|s| s.trim().parse::<Uuid>()) {
        None => return Err(ApiError::field("event_id", "is required")),
        Some(Err(_)) => return Err(ApiError::field("event_id", "must be a UUID")),
        Some(Ok(id)) => id,
    };
    let tree_size = tree_size(&state, "tree_size", query.tree_size.as_deref()).await?;
    let found: Option<(Option<i64>,)> = sqlx::query_as(
        "SELECT l.log_index FROM events e LEFT JOIN event_log l USING (global_position) \
         WHERE e.event_id = $1",
    )
    .bind(event_id)
    .fetch_optional(&state.pool)
    .await?;
    let leaf_index = match found {
        None => {
            return Err(ApiError::field("event_id", "no event has this id")
                .with_status(StatusCode::NOT_FOUND));
        }
        Some((index,)) => index.filter(|i| *i < tree_size).ok_or_else(|| {
            ApiError::field(
                "tree_size",
                format!("the event is not in the tree of size {tree_size} (it came later)"),
            )
        })?,
    };
    let (leaf, path) = tree::inclusion(&state.pool, leaf_index as u64, tree_size as u64).await?;
    Ok(Json(InclusionProof {
        event_id,
        leaf_index,
        tree_size,
        leaf_hash: hex::encode(leaf),
        audit_path: hexes(&path),
    }))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ConsistencyQuery {
    /// The smaller tree size (≥ 1).
    #[param(value_type = i64, minimum = 1)]
    first: Option<String>,
    /// The larger tree size; default: the latest head's.
    #[param(value_type = Option<i64>, minimum = 1)]
    second: Option<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ConsistencyProof {
    pub first: i64,
    pub second: i64,
    /// Hex hashes, RFC 9162 §2.1.4 order.
    pub proof: Vec<String>,
}

/// Proves the tree of `first` leaves is a prefix of the tree of `second` (RFC 9162 §2.1.4).
#[utoipa::path(get, path = "/audit/proofs/consistency", tag = "audit", params(ConsistencyQuery),
    responses((status = 200, body = ConsistencyProof), (status = 400, body = Problem),
        (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem)),
    security(("bearer" = [])))]
pub async fn get_consistency_proof(
    _: Auditor,
    State(state): State<AppState>,
    Query(query): Query<ConsistencyQuery>,
) -> Result<Json<ConsistencyProof>, ApiError> {
    let Some(first) = number("first", query.first.as_deref(), 1)? else {
        return Err(ApiError::field("first", "is required"));
    };
    let second = tree_size(&state, "second", query.second.as_deref()).await?;
    if first > second {
        return Err(ApiError::field(
            "first",
            format!("must not be larger than second ({second})"),
        ));
    }
    let proof = tree::consistency(&state.pool, first as u64, second as u64).await?;
    Ok(Json(ConsistencyProof {
        first,
        second,
        proof: hexes(&proof),
    }))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct KeyQuery {
    /// A key that signed older heads; default: the key signing now.
    key_id: Option<String>,
}

/// The Ed25519 public key that checks tree heads — all anyone needs to verify them.
#[utoipa::path(get, path = "/audit/public-key", tag = "audit", params(KeyQuery),
    responses((status = 200, body = PublicKey), (status = 400, body = Problem),
        (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem)),
    security(("bearer" = [])))]
pub async fn get_public_key(
    _: Auditor,
    State(state): State<AppState>,
    Query(query): Query<KeyQuery>,
) -> Result<Json<PublicKey>, ApiError> {
    match query.key_id {
        None => Ok(Json(state.tree_signer.public_key())),
        Some(key_id) => heads::public_key(&state.pool, &key_id)
            .await?
            .map(Json)
            .ok_or_else(|| {
                ApiError::field("key_id", "no key has this id").with_status(StatusCode::NOT_FOUND)
            }),
    }
}
