//! One account (stream `customer-<id>`): registration, profile, avatar, role, disabling and
//! closing. E-mail uniqueness spans accounts, so the handler checks it (a unique index), not
//! this aggregate.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tillroll_events::CustomerEvent;
use uuid::Uuid;

use crate::domain::Aggregate;
use crate::domain::phone::Msisdn;
use crate::domain::validate::{Email, Gender, PersonName, Role, is_image_id};

#[derive(Default, Clone, Debug, Serialize, Deserialize)]
pub struct Customer {
    pub exists: bool,
    pub customer_id: Uuid,
    pub email: String,
    pub name: String,
    pub phone: Option<String>,
    pub gender: Option<String>,
    pub avatar_image_id: Option<String>,
    pub role: Role,
    pub disabled: bool,
    /// Closed for good; the personal fields above are erased.
    pub closed: bool,
    pub registered_at: Option<DateTime<Utc>>,
    pub closed_at: Option<DateTime<Utc>>,
}

impl Aggregate for Customer {
    type Event = CustomerEvent;

    fn evolve(&mut self, event: &CustomerEvent) {
        match event {
            CustomerEvent::CustomerRegistered {
                customer_id,
                email,
                name,
                phone,
                role,
                registered_at,
            } => {
                *self = Self {
                    exists: true,
                    customer_id: *customer_id,
                    email: email.clone(),
                    name: name.clone(),
                    phone: phone.clone(),
                    role: stored_role(role),
                    registered_at: Some(*registered_at),
                    ..Self::default()
                };
            }
            CustomerEvent::ProfileUpdated {
                name,
                phone,
                gender,
                ..
            } => {
                if let Some(name) = name {
                    self.name.clone_from(name);
                }
                if phone.is_some() {
                    self.phone.clone_from(phone);
                }
                if gender.is_some() {
                    self.gender.clone_from(gender);
                }
            }
            CustomerEvent::AvatarChanged { image_id, .. } => {
                self.avatar_image_id = Some(image_id.clone());
            }
            CustomerEvent::RoleGranted { role, .. } => self.role = stored_role(role),
            CustomerEvent::AccountDisabled { .. } => self.disabled = true,
            CustomerEvent::AccountEnabled { .. } => self.disabled = false,
            CustomerEvent::AccountClosed { closed_at, .. } => {
                self.closed = true;
                self.closed_at = Some(*closed_at);
                self.email.clear();
                self.name.clear();
                self.phone = None;
                self.gender = None;
                self.avatar_image_id = None;
            }
        }
    }
}

/// A role string from the log; an unknown one grants the least.
fn stored_role(role: &str) -> Role {
    Role::parse(role).unwrap_or_default()
}

/// Rejections, with the HTTP status each maps to.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CustomerError {
    /// 404.
    #[error("account not found")]
    NotFound,
    /// 409 (a duplicate e-mail is caught before, by the handler's unique index).
    #[error("account already registered")]
    AlreadyRegistered,
    /// 404: a closed account is gone and its personal data erased; nothing changes it again.
    #[error("account closed")]
    Closed,
    /// 400: a caller bug, avatars are named by the hex SHA-256 of their bytes.
    #[error("image id must be a lowercase hex SHA-256")]
    InvalidImageId,
}

/// `role` is `Customer` for every registration through the API; the admin bootstrap
/// (`users create-admin`, `TILLROLL_ADMIN_EMAIL`) registers with `Admin`.
#[derive(Debug, Clone)]
pub struct Register {
    pub customer_id: Uuid,
    pub email: Email,
    pub name: PersonName,
    pub phone: Option<Msisdn>,
    pub role: Role,
    pub now: DateTime<Utc>,
}

/// PATCH: `None` leaves a field as it is (a field cannot be cleared).
#[derive(Debug, Clone, Default)]
pub struct UpdateProfile {
    pub name: Option<PersonName>,
    pub phone: Option<Msisdn>,
    pub gender: Option<Gender>,
}

#[derive(Debug, Clone)]
pub struct ChangeAvatar {
    pub image_id: String,
}

/// Sets the account's role (an account has exactly one).
#[derive(Debug, Clone)]
pub struct GrantRole {
    pub role: Role,
}

#[derive(Debug, Clone)]
pub struct Disable;

#[derive(Debug, Clone)]
pub struct Enable;

#[derive(Debug, Clone)]
pub struct Close {
    pub now: DateTime<Utc>,
}

/// The account exists and is open.
fn open(state: &Customer) -> Result<(), CustomerError> {
    match (state.exists, state.closed) {
        (false, _) => Err(CustomerError::NotFound),
        (true, true) => Err(CustomerError::Closed),
        (true, false) => Ok(()),
    }
}

pub fn register(state: &Customer, cmd: &Register) -> Result<Vec<CustomerEvent>, CustomerError> {
    if state.exists {
        return Err(CustomerError::AlreadyRegistered);
    }
    Ok(vec![CustomerEvent::CustomerRegistered {
        customer_id: cmd.customer_id,
        email: cmd.email.as_str().to_owned(),
        name: cmd.name.as_str().to_owned(),
        phone: cmd.phone.as_ref().map(|p| p.as_str().to_owned()),
        role: cmd.role.as_str().to_owned(),
        registered_at: cmd.now,
    }])
}

/// One `ProfileUpdated` with only the fields that differ; none differ, no events.
pub fn update_profile(
    state: &Customer,
    cmd: &UpdateProfile,
) -> Result<Vec<CustomerEvent>, CustomerError> {
    open(state)?;
    let changed =
        |new: Option<&str>, old: Option<&str>| new.filter(|n| Some(*n) != old).map(str::to_owned);
    let name = changed(cmd.name.as_ref().map(PersonName::as_str), Some(&state.name));
    let phone = changed(
        cmd.phone.as_ref().map(Msisdn::as_str),
        state.phone.as_deref(),
    );
    let gender = changed(
        cmd.gender.as_ref().map(Gender::as_str),
        state.gender.as_deref(),
    );
    if name.is_none() && phone.is_none() && gender.is_none() {
        return Ok(vec![]);
    }
    Ok(vec![CustomerEvent::ProfileUpdated {
        customer_id: state.customer_id,
        name,
        phone,
        gender,
    }])
}

pub fn change_avatar(
    state: &Customer,
    cmd: &ChangeAvatar,
) -> Result<Vec<CustomerEvent>, CustomerError> {
    open(state)?;
    if !is_image_id(&cmd.image_id) {
        return Err(CustomerError::InvalidImageId);
    }
    if state.avatar_image_id.as_ref() == Some(&cmd.image_id) {
        return Ok(vec![]);
    }
    Ok(vec![CustomerEvent::AvatarChanged {
        customer_id: state.customer_id,
        image_id: cmd.image_id.clone(),
    }])
}

pub fn grant_role(state: &Customer, cmd: &GrantRole) -> Result<Vec<CustomerEvent>, CustomerError> {
    open(state)?;
    if state.role == cmd.role {
        return Ok(vec![]);
    }
    Ok(vec![CustomerEvent::RoleGranted {
        customer_id: state.customer_id,
        role: cmd.role.as_str().to_owned(),
    }])
}

pub fn disable(state: &Customer, _: &Disable) -> Result<Vec<CustomerEvent>, CustomerError> {
    open(state)?;
    Ok(if state.disabled {
        vec![]
    } else {
        vec![CustomerEvent::AccountDisabled {
            customer_id: state.customer_id,
        }]
    })
}

pub fn enable(state: &Customer, _: &Enable) -> Result<Vec<CustomerEvent>, CustomerError> {
    open(state)?;
    Ok(if state.disabled {
        vec![CustomerEvent::AccountEnabled {
            customer_id: state.customer_id,
        }]
    } else {
        vec![]
    })
}

/// Closing twice is `Closed` (a second DELETE of the user answers 404).
pub fn close(state: &Customer, cmd: &Close) -> Result<Vec<CustomerEvent>, CustomerError> {
    open(state)?;
    Ok(vec![CustomerEvent::AccountClosed {
        customer_id: state.customer_id,
        closed_at: cmd.now,
    }])
}

#[cfg(test)]
mod tests;
