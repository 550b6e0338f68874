//! What a signed-in user changes about themselves: name, phone, gender and avatar.

use std::sync::Arc;

use uuid::Uuid;

use super::{Account, AccountError, change};
use crate::commands::{CommandContext, Commands, Outcome};
use crate::domain::customer::{self, Customer};

/// PATCH: only the fields given, and only if they differ.
pub async fn update_profile(
    commands: &Commands,
    ctx: &CommandContext,
    id: Uuid,
    update: customer::UpdateProfile,
) -> Result<Outcome<Account>, AccountError> {
    let decide = Arc::new(move |state: &Customer| customer::update_profile(state, &update));
    change(commands, ctx, id, decide, Arc::new(Vec::new)).await
}

/// Points the avatar at an image already stored under `image_id`.
pub async fn change_avatar(
    commands: &Commands,
    ctx: &CommandContext,
    id: Uuid,
    image_id: String,
) -> Result<Outcome<Account>, AccountError> {
    let command = customer::ChangeAvatar { image_id };
    let decide = Arc::new(move |state: &Customer| customer::change_avatar(state, &command));
    change(commands, ctx, id, decide, Arc::new(Vec::new)).await
}
