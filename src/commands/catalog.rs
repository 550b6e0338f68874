//! Catalog commands: list a product (with its opening stock, in one atomic append), change
//! its details or price, change its picture, withdraw it. Each answers with the product built
//! from its aggregates (product + stock), so the writer reads its own write.

use chrono::{DateTime, SubsecRound, Utc};
use tillroll_events::{Currency, ProductEvent, StreamId};
use uuid::Uuid;

use super::{CommandContext, CommandError, Commands, Outcome};
use super::{SideWrite, UnitOfWork, decision};
use crate::auth::image::{ImageKind, image_id};
use crate::domain::money::Price;
use crate::domain::phone::Msisdn;
use crate::domain::product::{self, Product, ProductError};
use crate::domain::stock::{self, SetLevel, Stock};
use crate::domain::validate::{Actor, CategorySlug, Description, ProductName};

/// A new product, its fields already parsed at the edge.
#[derive(Debug, Clone)]
pub struct NewProduct {
    pub name: ProductName,
    pub description: Description,
    pub category: CategorySlug,
    pub price: Price,
    pub currency: Currency,
    pub payout_phone: Option<Msisdn>,
    /// The opening count, `≥ 0`.
    pub initial_stock: i64,
}

/// A PATCH: `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct ProductChanges {
    pub name: Option<ProductName>,
    pub description: Option<Description>,
    pub category: Option<CategorySlug>,
    pub price: Option<Price>,
    pub currency: Option<Currency>,
    pub payout_phone: Option<Msisdn>,
}

/// A product as its aggregates now stand: what a catalog command answers.
#[derive(Debug, Clone)]
pub struct Listing {
    pub product: Product,
    pub stock: Stock,
}

/// An upload whose bytes were checked to be an image of `kind`.
#[derive(Debug, Clone)]
pub struct CheckedImage {
    pub bytes: bytes::Bytes,
    pub kind: ImageKind,
}

/// Postgres keeps microseconds; cutting the command's clock to them makes the aggregate's
/// times and the read model's times the same values.
fn now(ctx: &CommandContext) -> DateTime<Utc> {
    ctx.now.trunc_subsecs(6)
}

fn streams(product_id: Uuid) -> [StreamId; 2] {
    [StreamId::product(product_id), StreamId::stock(product_id)]
}

/// The product as its aggregates now stand, with what this unit decided applied.
async fn answer(uow: &mut UnitOfWork<'_>, product_id: Uuid) -> Result<Listing, CommandError> {
    let [product_stream, stock_stream] = streams(product_id);
    let (product, _) = uow.load::<Product>(&product_stream).await?;
    let (stock, _) = uow.load::<Stock>(&stock_stream).await?;
    Ok(Listing { product, stock })
}

/// `ProductListed` and the opening `StockLevelSet`, in one transaction. The actor is the
/// seller (an admin listing a product is its seller).
pub async fn list_product(
    commands: &Commands,
    ctx: &CommandContext,
    actor: Actor,
    new: NewProduct,
) -> Result<Outcome<Listing>, CommandError> {
    let product_id = Uuid::now_v7();
    let cmd = product::ListProduct {
        product_id,
        actor,
        name: new.name,
        description: new.description,
        category: new.category,
        price: new.price,
        currency: new.currency,
        payout_phone: new.payout_phone,
        now: now(ctx),
    };
    let level = SetLevel {
        product_id,
        on_hand: new.initial_stock,
    };
    let decide = decision(move |uow| {
        let (cmd, level) = (cmd.clone(), level.clone());
        Box::pin(async move {
            let [product_stream, stock_stream] = streams(product_id);
            let (product, _) = uow.load::<Product>(&product_stream).await?;
            let (stock, _) = uow.load::<Stock>(&stock_stream).await?;
            let listed = product::list(&product, &cmd)?;
            let opened = stock::open(&stock, &level)?;
            uow.append::<Product>(&product_stream, listed);
            uow.append::<Stock>(&stock_stream, opened);
            answer(uow, product_id).await
        })
    });
    commands.run(ctx, &streams(product_id), decide).await
}

/// Details in one `ProductDetailsChanged`, a new price in its own `ProductPriceChanged`;
/// nothing appended when nothing differs.
pub async fn update_product(
    commands: &Commands,
    ctx: &CommandContext,
    actor: Actor,
    product_id: Uuid,
    changes: ProductChanges,
) -> Result<Outcome<Listing>, CommandError> {
    let cmd = product::UpdateProduct {
        actor,
        name: changes.name,
        description: changes.description,
        category: changes.category,
        payout_phone: changes.payout_phone,
        price: changes.price,
        currency: changes.currency,
        now: now(ctx),
    };
    change_product(commands, ctx, product_id, cmd, product::update).await
}

/// The product leaves the listings; its history (and the orders that name it) stay.
pub async fn withdraw_product(
    commands: &Commands,
    ctx: &CommandContext,
    actor: Actor,
    product_id: Uuid,
) -> Result<Outcome<Listing>, CommandError> {
    let cmd = product::WithdrawProduct {
        actor,
        now: now(ctx),
    };
    change_product(commands, ctx, product_id, cmd, product::withdraw).await
}

/// Stores the bytes under their SHA-256 in the same transaction as the
/// `ProductImageChanged` that names them.
pub async fn set_product_image(
    commands: &Commands,
    ctx: &CommandContext,
    actor: Actor,
    product_id: Uuid,
    image: CheckedImage,
) -> Result<Outcome<Listing>, CommandError> {
    let cmd = product::SetProductImage {
        actor,
        image_id: image_id(&image.bytes),
        content_type: image.kind.content_type().to_owned(),
        now: now(ctx),
    };
    let decide = decision(move |uow| {
        let (cmd, bytes) = (cmd.clone(), image.bytes.clone());
        Box::pin(async move {
            let product_stream = StreamId::product(product_id);
            let (product, _) = uow.load::<Product>(&product_stream).await?;
            let events = product::set_image(&product, &cmd)?;
            if !events.is_empty() {
                uow.also(
                    SideWrite::new(
                        "INSERT INTO images (id, content_type, bytes) VALUES ($1, $2, $3) \
                         ON CONFLICT (id) DO NOTHING",
                    )
                    .bind(cmd.image_id.clone())
                    .bind(cmd.content_type.clone())
                    .bind(bytes.as_ref()),
                );
            }
            uow.append::<Product>(&product_stream, events);
            answer(uow, product_id).await
        })
    });
    commands.run(ctx, &streams(product_id), decide).await
}

/// Decides on the product alone; the answer still carries its stock.
async fn change_product<C: Clone + Send + Sync + 'static>(
    commands: &Commands,
    ctx: &CommandContext,
    product_id: Uuid,
    cmd: C,
    decide: fn(&Product, &C) -> Result<Vec<ProductEvent>, ProductError>,
) -> Result<Outcome<Listing>, CommandError> {
    let unit = decision(move |uow| {
        let cmd = cmd.clone();
        Box::pin(async move {
            let product_stream = StreamId::product(product_id);
            let (product, _) = uow.load::<Product>(&product_stream).await?;
            let events = decide(&product, &cmd)?;
            uow.append::<Product>(&product_stream, events);
            answer(uow, product_id).await
        })
    });
    commands.run(ctx, &streams(product_id), unit).await
}
