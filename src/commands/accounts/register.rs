//! Registration (always a `customer` through the API) and the admin bootstrap
//! (`users create-admin`, `TILLROLL_ADMIN_EMAIL`).
//!
//! E-mail uniqueness spans accounts, so it is guarded by `account_emails`' primary key in the
//! registration's own transaction: of two concurrent registrations of one address (in any
//! case), exactly one commits.

use chrono::Utc;
use tillroll_events::StreamId;
use uuid::Uuid;

use std::sync::Arc;

use super::{AccountError, Decide, Session, Tokens, blocking, change, session::NewRefresh};
use crate::auth::password::{hash_password, validate_password};
use crate::commands::{
    CommandContext, CommandError, Commands, Outcome, Rejection, SideWrite, decision,
};
use crate::domain::customer::{self, Customer};
use crate::domain::phone::Msisdn;
use crate::domain::validate::{Email, FieldError, PersonName, Role};
use crate::state::AppState;

const DUPLICATE_EMAIL: &str = "email already registered";

fn duplicate_email() -> Rejection {
    Rejection::conflict(DUPLICATE_EMAIL)
}

/// A registration's fields, each valid. The password is kept only until it is hashed.
#[derive(Clone)]
pub struct NewAccount {
    pub email: Email,
    password: String,
    pub name: PersonName,
    pub phone: Option<Msisdn>,
}

impl NewAccount {
    /// Checks every field and names each one that is wrong.
    pub fn parse(
        email: &str,
        password: String,
        name: &str,
        phone: Option<&str>,
    ) -> Result<Self, AccountError> {
        let mut errors = Vec::new();
        let mut keep = |error: FieldError| errors.push(error);
        let email = Email::parse(email).map_err(&mut keep).ok();
        if let Err(rule) = validate_password(&password) {
            keep(FieldError::new("password", rule.to_string()));
        }
        let name = PersonName::parse(name).map_err(&mut keep).ok();
        let phone = phone.map(Msisdn::parse).transpose().map_err(&mut keep).ok();
        match (email, name, phone) {
            (Some(email), Some(name), Some(phone)) if errors.is_empty() => Ok(Self {
                email,
                password,
                name,
                phone,
            }),
            _ => Err(AccountError::Invalid(errors)),
        }
    }
}

/// Registers a customer and starts their first session.
pub async fn register(
    commands: &Commands,
    ctx: &CommandContext,
    tokens: Tokens<'_>,
    account: NewAccount,
) -> Result<Outcome<Session>, AccountError> {
    let refresh = NewRefresh::start();
    let outcome = create(commands, ctx, account, Role::Customer, Some(&refresh)).await?;
    let session = refresh
        .session(commands, tokens, outcome.value, ctx.now)
        .await?;
    Ok(Outcome {
        value: session,
        position: outcome.position,
        event_ids: outcome.event_ids,
    })
}

/// Appends `CustomerRegistered` with the e-mail reservation, the password hash and (for a
/// session) the first refresh token, all in one transaction.
/// An account with a given role and no session (the demo loader and tooling).
pub async fn create_with_role(
    commands: &Commands,
    ctx: &CommandContext,
    account: NewAccount,
    role: Role,
) -> Result<Outcome<Customer>, AccountError> {
    create(commands, ctx, account, role, None).await
}

async fn create(
    commands: &Commands,
    ctx: &CommandContext,
    account: NewAccount,
    role: Role,
    refresh: Option<&NewRefresh>,
) -> Result<Outcome<Customer>, AccountError> {
    let key = account.email.key();
    // Spares the hashing for a duplicate; the primary key still decides races.
    if account_id(commands, &key).await?.is_some() {
        return Err(duplicate_email().into());
    }
    let password = account.password;
    let phc = blocking(move || hash_password(&password))
        .await?
        .map_err(|e| AccountError::Internal(e.to_string()))?;
    let id = Uuid::now_v7();
    let stream = StreamId::customer(id);
    let lock = [stream.clone()];
    let command = customer::Register {
        customer_id: id,
        email: account.email,
        name: account.name,
        phone: account.phone,
        role,
        now: ctx.now,
    };
    let now = ctx.now;
    Ok(commands
        .run_boxed(
            ctx,
            &lock,
            decision(move |uow| {
                uow.also(
                    SideWrite::new(
                        "INSERT INTO account_emails (email_lower, customer_id) VALUES ($1, $2)",
                    )
                    .bind(key.clone())
                    .bind(id)
                    .on_duplicate("account_emails_pkey", duplicate_email()),
                );
                uow.also(
                    SideWrite::new(
                        "INSERT INTO credentials (customer_id, password_hash) VALUES ($1, $2)",
                    )
                    .bind(id)
                    .bind(phc.clone()),
                );
                if let Some(refresh) = refresh {
                    uow.also(refresh.row(id, now));
                }
                let (stream, command) = (stream.clone(), command.clone());
                Box::pin(async move {
                    let (state, _) = uow.load::<Customer>(&stream).await?;
                    let events =
                        customer::register(&state, &command).map_err(CommandError::from)?;
                    uow.append::<Customer>(&stream, events);
                    Ok(uow.load::<Customer>(&stream).await?.0)
                })
            }),
        )
        .await?)
}

/// The account registered under this (lower-cased) e-mail.
async fn account_id(commands: &Commands, email_lower: &str) -> Result<Option<Uuid>, sqlx::Error> {
    sqlx::query_scalar("SELECT customer_id FROM account_emails WHERE email_lower = $1")
        .bind(email_lower)
        .fetch_optional(commands.store().pool())
        .await
}

/// Makes sure an admin with this e-mail exists: registers it with the role `admin`, or grants
/// that role to the account already registered under the e-mail (whose password is left as
/// it is). Returns the account's id.
pub async fn create_admin(
    commands: &Commands,
    email: &str,
    password: &str,
    name: &str,
) -> Result<Uuid, AccountError> {
    let account = NewAccount::parse(email, password.to_owned(), name, None)?;
    let ctx = CommandContext::system(Uuid::now_v7(), Utc::now());
    // A second round only when another process registered the e-mail meanwhile.
    for _ in 0..2 {
        if let Some(id) = account_id(commands, &account.email.key()).await? {
            grant_admin(commands, &ctx, id).await?;
            return Ok(id);
        }
        match create(commands, &ctx, account.clone(), Role::Admin, None).await {
            Ok(outcome) => return Ok(outcome.value.customer_id),
            Err(AccountError::Command(crate::commands::CommandError::Rejected(r)))
                if r.message == DUPLICATE_EMAIL => {}
            Err(error) => return Err(error),
        }
    }
    Err(AccountError::Internal(
        "the admin e-mail kept changing hands".into(),
    ))
}

async fn grant_admin(
    commands: &Commands,
    ctx: &CommandContext,
    id: Uuid,
) -> Result<(), AccountError> {
    let grant: Decide =
        Arc::new(|state| customer::grant_role(state, &customer::GrantRole { role: Role::Admin }));
    let now = ctx.now;
    let row: super::SideWrites =
        Arc::new(move || vec![super::blocks::role_row(id, Role::Admin, now)]);
    change(commands, ctx, id, grant, row).await?;
    super::blocks::remember_role(id, Role::Admin);
    Ok(())
}

/// With `TILLROLL_ADMIN_EMAIL` and `TILLROLL_ADMIN_PASSWORD` set, that admin exists after
/// start.
pub async fn ensure_admin(state: &AppState) -> Result<(), AccountError> {
    let Some((email, password)) = &state.config.admin else {
        return Ok(());
    };
    let id = create_admin(&state.commands, email, password.expose(), "Administrator").await?;
    tracing::info!(%id, "admin account ready");
    Ok(())
}
