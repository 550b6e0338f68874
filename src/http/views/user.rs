//! API.md's `user`, from the account aggregate (command answers) or from the `customers` read
//! model row (queries).

use chrono::{DateTime, Utc};
use serde::Serialize;
use uuid::Uuid;

use crate::commands::accounts::Account;

/// API.md's `user`.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct UserView {
    pub id: Uuid,
    pub email: String,
    pub name: String,
    pub phone: Option<String>,
    pub gender: Option<String>,
    /// `/images/<id>`, or null without an avatar.
    pub avatar_url: Option<String>,
    /// `customer`, `seller`, `admin` or `auditor`.
    #[schema(example = "customer")]
    pub role: String,
    /// A disabled account cannot log in and its tokens are refused.
    pub disabled: bool,
    pub created_at: DateTime<Utc>,
}

impl From<&Account> for UserView {
    fn from(account: &Account) -> Self {
        let state = &account.state;
        Self {
            id: state.customer_id,
            email: state.email.clone(),
            name: state.name.clone(),
            phone: state.phone.clone(),
            gender: state.gender.clone(),
            avatar_url: state.avatar_image_id.as_deref().map(crate::images::url),
            role: state.role.as_str().to_owned(),
            disabled: state.disabled,
            created_at: account.created_at,
        }
    }
}

/// The columns of a [`UserRow`].
pub const USER_COLUMNS: &str =
    "id, email, name, phone, gender, avatar_image_id, role, disabled, created_at";

/// A row of the `customers` read model.
#[derive(sqlx::FromRow)]
pub struct UserRow {
    pub id: Uuid,
    pub email: Option<String>,
    pub name: Option<String>,
    pub phone: Option<String>,
    pub gender: Option<String>,
    pub avatar_image_id: Option<String>,
    pub role: String,
    pub disabled: bool,
    pub created_at: DateTime<Utc>,
}

impl From<UserRow> for UserView {
    fn from(row: UserRow) -> Self {
        Self {
            id: row.id,
            email: row.email.unwrap_or_default(),
            name: row.name.unwrap_or_default(),
            phone: row.phone,
            gender: row.gender,
            avatar_url: row.avatar_image_id.as_deref().map(crate::images::url),
            role: row.role,
            disabled: row.disabled,
            created_at: row.created_at,
        }
    }
}
