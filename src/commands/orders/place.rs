//! Placing an order: prices captured from the product aggregates, every line reserved in the
//! same multi-stream append as `OrderPlaced` + `PaymentRequested` (and `CartCheckedOut` for a
//! checkout), all or nothing. Short stock names every short line.

use std::collections::BTreeSet;

use tillroll_events::{Currency, StreamId};
use uuid::Uuid;

use super::{CommandContext, CommandError, Commands, Outcome, UnitOfWork};
use crate::commands::cart::field;
use crate::domain::Aggregate;
use crate::domain::cart::{self, Cart, CartError};
use crate::domain::customer::{Customer, CustomerError};
use crate::domain::order::{self, NewOrderLine, Order, OrderError, ShortLine, ShortReason};
use crate::domain::phone::Msisdn;
use crate::domain::product::Product;
use crate::domain::stock::{Stock, StockError};

/// A line as the client sends it: no price.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NewItem {
    pub product_id: Uuid,
    pub quantity: i64,
}

/// Decides and appends the order and its reservations in `uow`; returns the placed order.
async fn place_in(
    uow: &mut UnitOfWork<'_>,
    order_id: Uuid,
    attempt_id: Uuid,
    customer_id: Uuid,
    items: &[NewItem],
    phone: Option<&Msisdn>,
    ttl: std::time::Duration,
) -> Result<Order, CommandError> {
    let phone = match phone {
        Some(phone) => phone.clone(),
        None => profile_phone(uow, customer_id).await?,
    };
    let mut lines = Vec::with_capacity(items.len());
    let mut names = std::collections::HashMap::new();
    // Lines that cannot be sold, keyed by their place in `items` so they are named in order.
    let mut short = std::collections::BTreeMap::new();
    let mut currency: Option<Currency> = None;
    for (index, item) in items.iter().enumerate() {
        let (product, _) = uow
            .load::<Product>(&StreamId::product(item.product_id))
            .await?;
        if !product.exists {
            return Err(CartError::ProductNotFound(item.product_id).into());
        }
        if product.withdrawn {
            short.insert(
                index,
                ShortLine {
                    product_id: item.product_id,
                    name: product.name.clone(),
                    requested: item.quantity,
                    available: 0,
                    reason: ShortReason::Withdrawn,
                },
            );
            continue;
        }
        match &currency {
            Some(c) if *c != product.currency => {
                let why = "the items are priced in different currencies".to_owned();
                return Err(OrderError::NotPayableByMpesa(why).into());
            }
            _ => currency = Some(product.currency.clone()),
        }
        names.insert(item.product_id, (index, product.name.clone()));
        lines.push(NewOrderLine {
            product_id: item.product_id,
            name: product.name.clone(),
            unit_price: product.price,
            quantity: item.quantity,
            seller_id: product.seller_id,
        });
    }
    if lines.is_empty() && !short.is_empty() {
        return Err(OrderError::Unsellable(short.into_values().collect()).into());
    }
    let stream = StreamId::order(order_id);
    let (before, _) = uow.load::<Order>(&stream).await?;
    // An admin placing it on a customer's behalf is who placed it; the customer owns it.
    let placed_by = uow.context().actor_id.unwrap_or(customer_id);
    if placed_by != customer_id {
        let (customer, _) = uow
            .load::<Customer>(&StreamId::customer(customer_id))
            .await?;
        if !customer.exists || customer.closed {
            return Err(CustomerError::NotFound.into());
        }
    }
    let ttl =
        chrono::TimeDelta::from_std(ttl).map_err(|_| CommandError::from(OrderError::Overflow))?;
    let events = order::place(
        &before,
        &order::PlaceOrder {
            order_id,
            customer_id,
            placed_by,
            lines,
            currency: currency.unwrap_or_default(),
            phone,
            attempt_id,
            now: uow.context().now,
            ttl,
        },
    )?;
    for effect in order::stock_effects(&before, &events) {
        let (stock, _) = uow
            .load::<Stock>(&StreamId::stock(effect.product_id))
            .await?;
        match effect.decide(&stock) {
            Ok(_) => {}
            Err(StockError::Insufficient {
                product_id,
                requested,
                available,
            }) => {
                let (index, name) = names
                    .get(&product_id)
                    .map_or((usize::MAX, String::new()), |(i, n)| (*i, n.clone()));
                let line = ShortLine {
                    product_id,
                    name,
                    requested,
                    available,
                    reason: ShortReason::InsufficientStock,
                };
                short.insert(index, line);
            }
            Err(other) => return Err(other.into()),
        }
    }
    if !short.is_empty() {
        return Err(OrderError::Unsellable(short.into_values().collect()).into());
    }
    let mut after = before.clone();
    events.iter().for_each(|e| after.evolve(e));
    super::append_with_effects(uow, &before, events).await?;
    Ok(after)
}

/// The phone an order takes when the body names none: the customer's profile phone, read in
/// the same unit of work as the order (400 naming `phone` if the profile has none).
async fn profile_phone(
    uow: &mut UnitOfWork<'_>,
    customer_id: Uuid,
) -> Result<Msisdn, CommandError> {
    let (customer, _) = uow
        .load::<Customer>(&StreamId::customer(customer_id))
        .await?;
    customer
        .phone
        .as_deref()
        .and_then(|p| Msisdn::parse(p).ok())
        .ok_or_else(|| {
            field(crate::domain::validate::FieldError::new(
                "phone",
                "is required: the customer's profile has no phone",
            ))
        })
}

fn stock_locks(order_id: Uuid, products: impl IntoIterator<Item = Uuid>) -> Vec<StreamId> {
    let products: BTreeSet<Uuid> = products.into_iter().collect();
    let mut locks = vec![StreamId::order(order_id)];
    locks.extend(products.into_iter().map(StreamId::stock));
    locks
}

impl Commands {
    /// POST /orders: the given items, no cart involved.
    pub async fn place_order(
        &self,
        ctx: &CommandContext,
        customer_id: Uuid,
        items: &[NewItem],
        phone: Option<&str>,
        ttl: std::time::Duration,
    ) -> Result<Outcome<Order>, CommandError> {
        let phone = phone.map(Msisdn::parse).transpose().map_err(field)?;
        let (order_id, attempt_id) = (Uuid::now_v7(), Uuid::now_v7());
        let ctx = ctx.clone().correlated(order_id);
        let locks = stock_locks(order_id, items.iter().map(|i| i.product_id));
        let items = items.to_vec();
        self.run(&ctx, &locks, async move |uow| {
            place_in(
                uow,
                order_id,
                attempt_id,
                customer_id,
                &items,
                phone.as_ref(),
                ttl,
            )
            .await
        })
        .await
    }

    /// POST /checkout: the customer's cart becomes the order and is closed.
    pub async fn check_out(
        &self,
        ctx: &CommandContext,
        customer_id: Uuid,
        phone: Option<&str>,
        ttl: std::time::Duration,
    ) -> Result<Outcome<Order>, CommandError> {
        let phone = phone.map(Msisdn::parse).transpose().map_err(field)?;
        let (order_id, attempt_id) = (Uuid::now_v7(), Uuid::now_v7());
        let ctx = ctx.clone().correlated(order_id);
        let cart_stream = StreamId::cart(customer_id);
        let lock = [cart_stream.clone()];
        let stream = cart_stream.clone();
        let current = self
            .run(&ctx, &lock, async move |uow| {
                Ok(uow.load::<Cart>(&stream).await?.0)
            })
            .await?
            .value;
        let mut locks = vec![cart_stream.clone()];
        locks.extend(stock_locks(
            order_id,
            current.lines.iter().map(|l| l.product_id),
        ));
        self.run(&ctx, &locks, async move |uow| {
            let (cart, _) = uow.load::<Cart>(&cart_stream).await?;
            let closed = cart::check_out(&cart, &cart::CheckOut { order_id })?;
            let items: Vec<NewItem> = cart
                .lines
                .iter()
                .map(|l| NewItem {
                    product_id: l.product_id,
                    quantity: l.quantity,
                })
                .collect();
            if items.is_empty() {
                return Err(CartError::EmptyCart.into());
            }
            let placed = place_in(
                uow,
                order_id,
                attempt_id,
                customer_id,
                &items,
                phone.as_ref(),
                ttl,
            )
            .await?;
            uow.append::<Cart>(&cart_stream, closed);
            Ok(placed)
        })
        .await
    }
}
