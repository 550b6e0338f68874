//! `GET /products`: full-text search, filters, four sorts and keyset pagination over the
//! `products` read model. A cursor holds the last item's (sort key, id), keys that never
//! change for a listed product except on a price or name edit, so pages neither repeat nor
//! skip products that existed when paging began, however many are added meanwhile.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::{PgPool, Postgres, QueryBuilder};
use uuid::Uuid;

use super::{COLUMNS, ProductPage, ProductRow};
use crate::domain::validate::CategorySlug;
use crate::http::error::{ApiError, FieldProblem};
use crate::http::queries::page::{decode_cursor, encode_cursor, parse_limit, problem};

const MAX_QUERY_CHARS: usize = 200;

/// The query string of `GET /products`; every value is parsed here so a 400 names its field.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ProductQuery {
    /// Full-text search over name and description, web-search syntax (`"exact phrase"`,
    /// `-without`, `or`).
    #[param(max_length = 200)]
    q: Option<String>,
    /// A category slug.
    #[param(schema_with = crate::http::limits::category)]
    category: Option<String>,
    /// Minor units, inclusive.
    #[param(value_type = Option<i64>, minimum = 0)]
    min_price: Option<String>,
    /// Minor units, inclusive.
    #[param(value_type = Option<i64>, minimum = 0)]
    max_price: Option<String>,
    #[param(value_type = Option<Uuid>)]
    seller_id: Option<String>,
    /// `true`: only products with stock available.
    #[param(value_type = Option<bool>)]
    in_stock: Option<String>,
    /// `newest` (default), `price_asc`, `price_desc` or `name`.
    #[param(schema_with = crate::http::limits::product_sort)]
    sort: Option<String>,
    /// 1 to 100, default 20.
    #[param(schema_with = crate::http::limits::page_limit)]
    limit: Option<String>,
    /// `next_cursor` of the previous page.
    #[param(schema_with = crate::http::limits::cursor)]
    cursor: Option<String>,
    /// `true` adds `total`, the products matching the filter.
    #[param(value_type = Option<bool>)]
    count: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Sort {
    #[default]
    Newest,
    PriceAsc,
    PriceDesc,
    Name,
}

impl Sort {
    fn parse(raw: &str) -> Option<Self> {
        match raw {
            "newest" => Some(Self::Newest),
            "price_asc" => Some(Self::PriceAsc),
            "price_desc" => Some(Self::PriceDesc),
            "name" => Some(Self::Name),
            _ => None,
        }
    }

    /// The ORDER BY, and how the keyset continues after a cursor.
    fn order(self) -> (&'static str, &'static str, &'static str) {
        match self {
            Self::Newest => ("created_at", "<", "created_at DESC, id DESC"),
            Self::PriceAsc => ("price", ">", "price ASC, id ASC"),
            Self::PriceDesc => ("price", "<", "price DESC, id DESC"),
            Self::Name => ("name", ">", "name ASC, id ASC"),
        }
    }

    fn key(self, row: &ProductRow) -> Key {
        match self {
            Self::Newest => Key::Int(row.created_at.timestamp_micros()),
            Self::PriceAsc | Self::PriceDesc => Key::Int(row.price),
            Self::Name => Key::Text(row.name.clone()),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
enum Key {
    /// Microseconds since the epoch (`newest`) or a price.
    Int(i64),
    Text(String),
}

#[derive(Debug, Serialize, Deserialize)]
struct Cursor {
    sort: Sort,
    key: Key,
    id: Uuid,
}

#[derive(Debug, Default)]
pub struct Filters {
    q: Option<String>,
    category: Option<String>,
    min_price: Option<i64>,
    max_price: Option<i64>,
    seller_id: Option<Uuid>,
    in_stock: bool,
    sort: Sort,
    limit: i64,
    after: Option<(Key, Uuid)>,
    count: bool,
}

fn price(field: &str, raw: Option<&str>, errors: &mut Vec<FieldProblem>) -> Option<i64> {
    let parsed = raw?.trim().parse::<i64>().ok().filter(|p| *p >= 0);
    if parsed.is_none() {
        errors.push(problem(field, "must be a whole number of minor units, ≥ 0"));
    }
    parsed
}

impl TryFrom<ProductQuery> for Filters {
    type Error = ApiError;

    fn try_from(query: ProductQuery) -> Result<Self, ApiError> {
        let mut errors = Vec::new();
        let mut filters = Filters {
            q: query
                .q
                .map(|q| q.trim().to_owned())
                .filter(|q| !q.is_empty()),
            ..Filters::default()
        };
        if filters
            .q
            .as_ref()
            .is_some_and(|q| q.chars().count() > MAX_QUERY_CHARS)
        {
            errors.push(problem(
                "q",
                format!("must be at most {MAX_QUERY_CHARS} characters"),
            ));
        }
        if let Some(raw) = query.category {
            match CategorySlug::parse(&raw) {
                Ok(slug) => filters.category = Some(slug.as_str().to_owned()),
                Err(e) => errors.push(problem("category", e.message)),
            }
        }
        filters.min_price = price("min_price", query.min_price.as_deref(), &mut errors);
        filters.max_price = price("max_price", query.max_price.as_deref(), &mut errors);
        // (A range with max below min is no error: it matches nothing, an empty page.)
        if let Some(raw) = query.seller_id {
            match Uuid::parse_str(raw.trim()) {
                Ok(id) => filters.seller_id = Some(id),
                Err(_) => errors.push(problem("seller_id", "must be a UUID")),
            }
        }
        match query.in_stock.as_deref().map(str::trim) {
            None | Some("false") => {}
            Some("true") => filters.in_stock = true,
            Some(_) => errors.push(problem("in_stock", "must be true or false")),
        }
        match query.count.as_deref().map(str::trim) {
            None | Some("false") => {}
            Some("true") => filters.count = true,
            Some(_) => errors.push(problem("count", "must be true or false")),
        }
        if let Some(raw) = query.sort {
            match Sort::parse(raw.trim()) {
                Some(sort) => filters.sort = sort,
                None => errors.push(problem(
                    "sort",
                    "must be one of newest, price_asc, price_desc, name",
                )),
            }
        }
        match parse_limit(query.limit.as_deref()) {
            Ok(limit) => filters.limit = limit,
            Err(e) => errors.push(e),
        }
        if let Some(raw) = query.cursor {
            match decode_cursor::<Cursor>(&raw) {
                Some(c) if c.sort == filters.sort && key_fits(filters.sort, &c.key) => {
                    filters.after = Some((c.key, c.id));
                }
                Some(_) => errors.push(problem("cursor", "belongs to another sort order")),
                None => errors.push(problem("cursor", "is not a cursor this API gave")),
            }
        }
        if errors.is_empty() {
            Ok(filters)
        } else {
            Err(ApiError::fields(errors))
        }
    }
}

fn key_fits(sort: Sort, key: &Key) -> bool {
    match (sort, key) {
        (Sort::Name, Key::Text(_)) => true,
        (Sort::Newest, Key::Int(micros)) => {
            DateTime::<Utc>::from_timestamp_micros(*micros).is_some()
        }
        (Sort::PriceAsc | Sort::PriceDesc, Key::Int(_)) => true,
        _ => false,
    }
}

/// One page of listed (never withdrawn) products.
pub async fn list(
    pool: &PgPool,
    filters: &Filters,
    viewer: Option<&crate::http::auth::User>,
) -> Result<ProductPage, sqlx::Error> {
    let total = match filters.count {
        true => Some(
            matching("SELECT count(*)", filters)
                .build_query_scalar::<i64>()
                .fetch_one(pool)
                .await?,
        ),
        false => None,
    };
    let mut sql = matching(&format!("SELECT {COLUMNS}"), filters);
    let (column, after, order_by) = filters.sort.order();
    if let Some((key, id)) = &filters.after {
        sql.push(format_args!(" AND ({column}, id) {after} ("));
        match key {
            Key::Int(micros) if filters.sort == Sort::Newest => {
                sql.push_bind(DateTime::<Utc>::from_timestamp_micros(*micros).unwrap_or_default())
            }
            Key::Int(price) => sql.push_bind(*price),
            Key::Text(name) => sql.push_bind(name.clone()),
        };
        sql.push(", ").push_bind(*id).push(")");
    }
    sql.push(format_args!(" ORDER BY {order_by} LIMIT "))
        .push_bind(filters.limit + 1);
    let mut rows: Vec<ProductRow> = sql.build_query_as().fetch_all(pool).await?;
    let limit = usize::try_from(filters.limit).unwrap_or(usize::MAX);
    let next_cursor = (rows.len() > limit).then(|| {
        rows.truncate(limit);
        rows.last().map(|last| {
            encode_cursor(&Cursor {
                sort: filters.sort,
                key: filters.sort.key(last),
                id: last.id,
            })
        })
    });
    Ok(ProductPage {
        items: rows.into_iter().map(|r| r.view_for(viewer)).collect(),
        next_cursor: next_cursor.flatten(),
        total,
    })
}

/// `select` over the listed products the filters match (the page's and the count's query).
fn matching(select: &str, filters: &Filters) -> QueryBuilder<Postgres> {
    let mut sql =
        QueryBuilder::<Postgres>::new(format!("{select} FROM products WHERE NOT withdrawn"));
    if let Some(q) = &filters.q {
        sql.push(" AND search @@ websearch_to_tsquery('english', ")
            .push_bind(q.clone())
            .push(")");
    }
    if let Some(category) = &filters.category {
        sql.push(" AND category = ").push_bind(category.clone());
    }
    if let Some(min) = filters.min_price {
        sql.push(" AND price >= ").push_bind(min);
    }
    if let Some(max) = filters.max_price {
        sql.push(" AND price <= ").push_bind(max);
    }
    if let Some(seller) = filters.seller_id {
        sql.push(" AND seller_id = ").push_bind(seller);
    }
    if filters.in_stock {
        sql.push(" AND available > 0");
    }
    sql
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filters(query: ProductQuery) -> Result<Filters, ApiError> {
        Filters::try_from(query)
    }

    #[test]
    fn defaults() {
        let f = filters(ProductQuery::default()).unwrap();
        assert_eq!((f.sort, f.limit, f.in_stock), (Sort::Newest, 20, false));
        assert!(f.after.is_none() && f.q.is_none());
    }

    #[test]
    fn cursors_round_trip_and_bind_to_their_sort() {
        let id = Uuid::from_u128(7);
        let raw = encode_cursor(&Cursor {
            sort: Sort::Name,
            key: Key::Text("Kettle".into()),
            id,
        });
        let f = filters(ProductQuery {
            sort: Some("name".into()),
            cursor: Some(raw.clone()),
            ..ProductQuery::default()
        })
        .unwrap();
        assert_eq!(f.after, Some((Key::Text("Kettle".into()), id)));
        for (sort, cursor) in [
            ("newest", raw),
            ("name", "!!".into()),
            ("name", "e30".into()),
        ] {
            let result = filters(ProductQuery {
                sort: Some(sort.into()),
                cursor: Some(cursor),
                ..ProductQuery::default()
            });
            assert_eq!(result.unwrap_err().status(), 400);
        }
    }
}
