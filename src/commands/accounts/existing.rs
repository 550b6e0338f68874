//! An admin acting on a customer's behalf names an account that must exist (and not be
//! closed), decided on the account's aggregate so a just-created account is found.

use tillroll_events::StreamId;
use uuid::Uuid;

use crate::commands::{CommandContext, CommandError, Commands};
use crate::domain::customer::{Customer, CustomerError};

pub async fn existing_customer(
    commands: &Commands,
    ctx: &CommandContext,
    id: Uuid,
) -> Result<(), CommandError> {
    let stream = StreamId::customer(id);
    let lock = [stream.clone()];
    let customer = commands
        .run(ctx, &lock, async move |uow| {
            Ok(uow.load::<Customer>(&stream).await?.0)
        })
        .await?
        .value;
    if !customer.exists || customer.closed {
        return Err(CustomerError::NotFound.into());
    }
    Ok(())
}
