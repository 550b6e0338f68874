//! An admin's changes to any account: profile fields, role, disabling and closing.
//!
//! Disabling blocks the account (`account_blocks`: its access tokens stop working) and
//! revokes its refresh tokens. Closing erases what identifies the person outside the log:
//! the password hash, the sessions, and the e-mail reservation (released, so the address may
//! register again, as a new account with a new id and a new stream; nothing of the closed
//! account's history attaches to it). The block stays, so tokens issued before the closing
//! stop working at once.

use std::sync::Arc;

use tillroll_events::CustomerEvent;
use uuid::Uuid;

use super::{Account, AccountError, Decide, SideWrites, blocks, change, session::revoke_all};
use crate::commands::{CommandContext, Commands, Outcome, Rejection, SideWrite};
use crate::domain::Aggregate;
use crate::domain::customer::{self, Customer, CustomerError};
use crate::domain::validate::{Actor, Role};

#[derive(Debug, Clone, Default)]
pub struct AdminUpdate {
    pub profile: customer::UpdateProfile,
    pub role: Option<Role>,
    pub disabled: Option<bool>,
}

/// The profile, then the role, then the disabled flag, each decided on the state the previous
/// one left.
fn decide_update(
    state: &Customer,
    update: &AdminUpdate,
) -> Result<Vec<CustomerEvent>, CustomerError> {
    let mut state = state.clone();
    let mut events = Vec::new();
    let mut apply = |decided: Vec<CustomerEvent>, state: &mut Customer| {
        for event in &decided {
            state.evolve(event);
        }
        events.extend(decided);
    };
    apply(
        customer::update_profile(&state, &update.profile)?,
        &mut state,
    );
    if let Some(role) = update.role {
        let grant = customer::GrantRole { role };
        apply(customer::grant_role(&state, &grant)?, &mut state);
    }
    match update.disabled {
        Some(true) => apply(customer::disable(&state, &customer::Disable)?, &mut state),
        Some(false) => apply(customer::enable(&state, &customer::Enable)?, &mut state),
        None => {}
    }
    Ok(events)
}

pub async fn update_user(
    commands: &Commands,
    ctx: &CommandContext,
    actor: Actor,
    id: Uuid,
    update: AdminUpdate,
) -> Result<Outcome<Account>, AccountError> {
    if actor.id == id
        && (update.disabled == Some(true) || update.role.is_some_and(|r| r != Role::Admin))
    {
        return Err(Rejection::conflict("admins cannot disable or demote themselves").into());
    }
    let (disabled, role) = (update.disabled, update.role);
    let now = ctx.now;
    let side_writes: SideWrites = Arc::new(move || {
        let mut writes = match disabled {
            Some(true) => vec![block(id, now), revoke_all(id, now)],
            Some(false) => {
                vec![SideWrite::new("DELETE FROM account_blocks WHERE customer_id = $1").bind(id)]
            }
            None => vec![],
        };
        writes.extend(role.map(|role| blocks::role_row(id, role, now)));
        writes
    });
    let decide: Decide = Arc::new(move |state| decide_update(state, &update));
    let outcome = change(commands, ctx, id, decide, side_writes).await?;
    if let Some(disabled) = disabled {
        blocks::remember(id, disabled);
    }
    if let Some(role) = role {
        blocks::remember_role(id, role);
    }
    Ok(outcome)
}

/// Closes the account for good (`AccountClosed`); a second close answers 404.
pub async fn close_user(
    commands: &Commands,
    ctx: &CommandContext,
    actor: Actor,
    id: Uuid,
) -> Result<Outcome<Account>, AccountError> {
    if actor.id == id {
        return Err(Rejection::conflict("admins cannot close their own account").into());
    }
    let now = ctx.now;
    let side_writes: SideWrites = Arc::new(move || {
        vec![
            block(id, now),
            SideWrite::new("DELETE FROM credentials WHERE customer_id = $1").bind(id),
            SideWrite::new("DELETE FROM refresh_tokens WHERE customer_id = $1").bind(id),
            SideWrite::new("DELETE FROM account_emails WHERE customer_id = $1").bind(id),
        ]
    });
    let decide: Decide = Arc::new(move |state| customer::close(state, &customer::Close { now }));
    let outcome = change(commands, ctx, id, decide, side_writes).await?;
    blocks::remember(id, true);
    Ok(outcome)
}

fn block(id: Uuid, now: chrono::DateTime<chrono::Utc>) -> SideWrite {
    SideWrite::new(
        "INSERT INTO account_blocks (customer_id, blocked_at) VALUES ($1, $2) \
         ON CONFLICT (customer_id) DO NOTHING",
    )
    .bind(id)
    .bind(now)
}
