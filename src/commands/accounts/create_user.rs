//! `POST /users`: an admin opens an account of any role. No session is started: the new user
//! logs in with the password the admin set.

use super::{Account, AccountError, NewAccount, create_with_role};
use crate::commands::{CommandContext, Commands, Outcome};
use crate::domain::validate::Role;

pub async fn create_user(
    commands: &Commands,
    ctx: &CommandContext,
    account: NewAccount,
    role: Role,
) -> Result<Outcome<Account>, AccountError> {
    let outcome = create_with_role(commands, ctx, account, role).await?;
    Ok(Outcome {
        value: Account::of(commands.store(), outcome.value).await?,
        position: outcome.position,
        event_ids: outcome.event_ids,
    })
}
