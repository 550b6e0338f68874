//! `tillroll demo`: a demo catalog and users, created through the real commands (so the log
//! holds exactly what the API would have written). Running it twice adds nothing twice.

use chrono::Utc;
use uuid::Uuid;

use crate::commands::accounts::{self, AccountError, NewAccount};
use crate::commands::catalog::{self, NewProduct};
use crate::commands::{CommandContext, CommandError, Commands};
use crate::domain::money::{Price, parse_currency};
use crate::domain::validate::{Actor, CategorySlug, Description, ProductName, Role};

pub const PASSWORD: &str = "tillroll-demo";

/// (name, description, category, price in KES cents, stock)
const PRODUCTS: &[(&str, &str, &str, i64, i64)] = &[
    (
        "Tecno Spark 20",
        "6.6\" display, 128 GB, dual SIM",
        "phones",
        1_699_900,
        25,
    ),
    (
        "Samsung Galaxy A15",
        "6.5\" AMOLED, 128 GB, 50 MP camera",
        "phones",
        2_249_900,
        12,
    ),
    (
        "Nokia 105",
        "Feature phone with FM radio and long battery life",
        "phones",
        249_900,
        60,
    ),
    (
        "HP 250 G9 laptop",
        "15.6\" laptop, Core i5, 8 GB RAM, 512 GB SSD",
        "computing",
        6_499_900,
        6,
    ),
    (
        "Logitech M185 mouse",
        "Wireless mouse with USB nano receiver",
        "computing",
        149_900,
        40,
    ),
    (
        "Ramtons electric kettle",
        "1.7 litre cordless kettle, stainless steel",
        "kitchen",
        299_900,
        30,
    ),
    (
        "Jiko ya makaa",
        "Energy-saving charcoal stove",
        "kitchen",
        119_900,
        18,
    ),
    (
        "Sufuria set",
        "Five aluminium cooking pots with lids",
        "kitchen",
        349_900,
        10,
    ),
    (
        "Kitenge dress",
        "Hand-made cotton kitenge dress",
        "fashion",
        249_900,
        15,
    ),
    (
        "Maasai shuka",
        "Traditional checked wrap, 100% acrylic",
        "fashion",
        89_900,
        50,
    ),
    (
        "PlayStation 5 controller",
        "DualSense wireless controller",
        "gaming",
        999_900,
        8,
    ),
    (
        "Football size 5",
        "Match ball, hand-stitched",
        "sports",
        199_900,
        35,
    ),
    (
        "Skipping rope",
        "Adjustable speed rope with ball bearings",
        "sports",
        59_900,
        70,
    ),
    (
        "Mvule coffee table",
        "Solid hardwood coffee table",
        "furniture",
        1_499_900,
        3,
    ),
];

fn invalid(errors: Vec<crate::domain::validate::FieldError>) -> AccountError {
    AccountError::Invalid(errors)
}

async fn person(
    commands: &Commands,
    email: &str,
    name: &str,
    role: Role,
) -> Result<Uuid, AccountError> {
    let existing: Option<Uuid> =
        sqlx::query_scalar("SELECT customer_id FROM account_emails WHERE email_lower = $1")
            .bind(email.to_lowercase())
            .fetch_optional(commands.store().pool())
            .await?;
    if let Some(id) = existing {
        return Ok(id);
    }
    let account = NewAccount::parse(email, PASSWORD.to_owned(), name, Some("0712345678"))?;
    let ctx = CommandContext::system(Uuid::now_v7(), Utc::now());
    Ok(accounts::create_with_role(commands, &ctx, account, role)
        .await?
        .value
        .customer_id)
}

fn product(row: &(&str, &str, &str, i64, i64)) -> Result<NewProduct, AccountError> {
    let (name, description, category, price, stock) = *row;
    Ok(NewProduct {
        name: ProductName::parse(name).map_err(|e| invalid(vec![e]))?,
        description: Description::parse(description).map_err(|e| invalid(vec![e]))?,
        category: CategorySlug::parse(category).map_err(|e| invalid(vec![e]))?,
        price: Price::parse(price).map_err(|e| invalid(vec![e]))?,
        currency: parse_currency(None).map_err(|e| invalid(vec![e]))?,
        payout_phone: None,
        initial_stock: stock,
    })
}

/// Loads the demo; returns a summary to print.
pub async fn load(commands: &Commands) -> Result<String, AccountError> {
    let admin =
        accounts::create_admin(commands, "admin@demo.tillroll.dev", PASSWORD, "Demo Admin").await?;
    let seller = person(
        commands,
        "seller@demo.tillroll.dev",
        "Wanjiru Seller",
        Role::Seller,
    )
    .await?;
    person(
        commands,
        "customer@demo.tillroll.dev",
        "Otieno Customer",
        Role::Customer,
    )
    .await?;
    person(
        commands,
        "auditor@demo.tillroll.dev",
        "Achieng Auditor",
        Role::Auditor,
    )
    .await?;

    let listed: i64 =
        sqlx::query_scalar("SELECT count(*) FROM events WHERE event_type = 'ProductListed' AND (metadata ->> 'actor_id')::uuid = $1")
            .bind(seller)
            .fetch_one(commands.store().pool())
            .await?;
    let mut created = 0;
    if listed == 0 {
        let actor = Actor {
            id: seller,
            role: Role::Seller,
        };
        let ctx = CommandContext::user(seller, Role::Seller.as_str(), Utc::now());
        for row in PRODUCTS {
            catalog::list_product(commands, &ctx, actor, product(row)?)
                .await
                .map_err(|e: CommandError| AccountError::Command(e))?;
            created += 1;
        }
    }
    Ok(format!(
        "demo loaded: admin {admin}, seller {seller}; {created} products listed\n\
         accounts (password {PASSWORD:?}): admin@, seller@, customer@, auditor@demo.tillroll.dev"
    ))
}
