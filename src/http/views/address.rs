//! API.md's `address`, from the address book aggregate (command answers) or from the
//! `addresses` read model row (queries).

use serde::Serialize;
use uuid::Uuid;

use crate::commands::addresses::BookEntry;

/// API.md's `address`.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct AddressView {
    pub id: Uuid,
    #[schema(example = "Home")]
    pub label: Option<String>,
    pub recipient: String,
    /// Normalised `2547XXXXXXXX` / `2541XXXXXXXX`.
    pub phone: Option<String>,
    pub line1: String,
    pub line2: Option<String>,
    pub city: String,
    pub region: Option<String>,
    pub postal_code: Option<String>,
    /// ISO 3166-1 alpha-2.
    #[schema(example = "KE")]
    pub country: String,
    /// Exactly one address of a non-empty book is the default.
    pub default: bool,
}

impl From<&BookEntry> for AddressView {
    fn from(entry: &BookEntry) -> Self {
        let f = &entry.address.fields;
        Self {
            id: entry.address.id,
            label: f.label.clone(),
            recipient: f.recipient.clone(),
            phone: f.phone.clone(),
            line1: f.line1.clone(),
            line2: f.line2.clone(),
            city: f.city.clone(),
            region: f.region.clone(),
            postal_code: f.postal_code.clone(),
            country: f.country.clone(),
            default: entry.default,
        }
    }
}

/// The columns of an [`AddressRow`].
pub const ADDRESS_COLUMNS: &str = "id, label, recipient, phone, line1, line2, city, region, \
                                   postal_code, country, is_default";

/// A row of the `addresses` read model.
#[derive(sqlx::FromRow)]
pub struct AddressRow {
    pub id: Uuid,
    pub label: Option<String>,
    pub recipient: String,
    pub phone: Option<String>,
    pub line1: String,
    pub line2: Option<String>,
    pub city: String,
    pub region: Option<String>,
    pub postal_code: Option<String>,
    pub country: String,
    pub is_default: bool,
}

impl From<AddressRow> for AddressView {
    fn from(row: AddressRow) -> Self {
        Self {
            id: row.id,
            label: row.label,
            recipient: row.recipient,
            phone: row.phone,
            line1: row.line1,
            line2: row.line2,
            city: row.city,
            region: row.region,
            postal_code: row.postal_code,
            country: row.country,
            default: row.is_default,
        }
    }
}
