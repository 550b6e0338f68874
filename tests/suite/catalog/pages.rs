//! Keyset pages stay exact while products are being added: every product that existed when
//! paging began is seen exactly once, and no product twice, in every sort order.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use chrono::Utc;
use tillroll::auth::Role;
use tillroll::commands::catalog::{self, NewProduct};
use tillroll::commands::{CommandContext, Commands};
use tillroll::domain::money::{Currency, Price};
use tillroll::domain::validate::{Actor, CategorySlug, Description, ProductName};
use uuid::Uuid;

use super::ids;
use crate::support::TestApp;
use crate::support::catalog::list_product_at;

const EXISTING: usize = 36;
const PAGE: usize = 5;

/// Prices and names repeat, so the id tie-break is exercised in every sort.
fn price(i: usize) -> i64 {
    100_000 + i64::try_from(i % 6).unwrap() * 25_000
}

fn name(i: usize) -> String {
    format!("Item {}", i % 5)
}

async fn list(commands: &Commands, seller: Uuid, i: usize) {
    let ctx = CommandContext::user(seller, "seller", Utc::now());
    let new = NewProduct {
        name: ProductName::parse(&name(i)).unwrap(),
        description: Description::parse("added while paging").unwrap(),
        category: CategorySlug::parse("kitchen").unwrap(),
        price: Price::parse(price(i)).unwrap(),
        currency: Currency::kes(),
        payout_phone: None,
        initial_stock: 1,
    };
    let actor = Actor {
        id: seller,
        role: Role::Seller,
    };
    catalog::list_product(commands, &ctx, actor, new)
        .await
        .expect("listed");
}

#[tokio::test]
async fn pages_visit_every_existing_product_once_while_products_are_added() {
    let app = TestApp::spawn().await;
    let seller = Uuid::new_v4();
    let mut existing = BTreeSet::new();
    let mut position = 0;
    for i in 0..EXISTING {
        let (id, at) = list_product_at(&app, seller, &name(i), "kitchen", price(i), 1).await;
        existing.insert(id);
        position = position.max(at);
    }

    // Every product listed so far: a walk can never take more pages than they fill.
    let listed = Arc::new(AtomicUsize::new(EXISTING));
    for sort in ["newest", "price_asc", "price_desc", "name"] {
        // Products keep arriving from another task for the whole walk...
        let stop = Arc::new(AtomicBool::new(false));
        let adder = tokio::spawn({
            let (commands, stop) = (app.state.commands.clone(), stop.clone());
            let listed = listed.clone();
            async move {
                let mut added = 0;
                while !stop.load(Ordering::Relaxed) && added < 40 {
                    list(&commands, seller, added).await;
                    listed.fetch_add(1, Ordering::Relaxed);
                    added += 1;
                    tokio::task::yield_now().await;
                }
                added
            }
        });

        let mut seen = Vec::new();
        let mut path = format!("/products?sort={sort}&limit={PAGE}");
        let mut pages = 0;
        loop {
            let page = app.get_after(&path, None, position).await.ok(200).clone();
            seen.extend(ids(&page));
            pages += 1;
            // ...and some certainly land between two pages, on both sides of the cursor.
            list(&app.state.commands, seller, pages).await;
            list(&app.state.commands, seller, pages + 3).await;
            listed.fetch_add(2, Ordering::Relaxed);
            match page["next_cursor"].as_str() {
                Some(cursor) => {
                    path = format!("/products?sort={sort}&limit={PAGE}&cursor={cursor}");
                }
                None => break,
            }
            // Each full page shows PAGE products never shown before in this walk.
            let bound = listed.load(Ordering::Relaxed) / PAGE + 1;
            assert!(
                pages <= bound,
                "{sort}: paging does not end ({pages} pages)"
            );
        }
        stop.store(true, Ordering::Relaxed);
        adder.await.unwrap();

        let unique: BTreeSet<Uuid> = seen.iter().copied().collect();
        assert_eq!(unique.len(), seen.len(), "{sort}: a product was seen twice");
        let missed: Vec<&Uuid> = existing.difference(&unique).collect();
        assert!(missed.is_empty(), "{sort}: skipped {missed:?}");
        assert!(pages >= EXISTING / PAGE, "{sort}: {pages} pages");
    }
    app.stop().await;
}
