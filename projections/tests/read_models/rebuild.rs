//! A rebuild gives exactly the tables that following the log gave, batch by batch or live.

use std::sync::Arc;
use std::time::Duration;

use tillroll_events::{CartEvent, CustomerEvent, DomainEvent, OrderEvent, ProductEvent, StreamId};
use tillroll_events::{Currency, StockEvent};
use tillroll_projections::carts::CartsProjector;
use tillroll_projections::customers::CustomersProjector;
use tillroll_projections::orders::OrdersProjector;
use tillroll_projections::{Progress, Projector, Runner, wait_for};
use uuid::Uuid;

use crate::carts::{added, listed};
use crate::common::{TestDb, t0};
use crate::customers::registered;
use crate::orders::{accepted, confirmed, failed, placed, requested};

/// One round of shop life touching every projector: accounts, catalog changes, carts, a
/// checkout appended in one transaction across streams, payments and the order paths.
async fn shop_round(db: &mut TestDb, round: u32) {
    let [alice, bob, kettle, pan] = std::array::from_fn(|_| Uuid::new_v4());
    db.append(
        &StreamId::customer(alice),
        registered(alice, &format!("a{round}@x.ke")),
    )
    .await;
    db.append(
        &StreamId::customer(bob),
        registered(bob, &format!("b{round}@x.ke")),
    )
    .await;
    db.append(
        &StreamId::customer(alice),
        CustomerEvent::ProfileUpdated {
            customer_id: alice,
            name: None,
            phone: None,
            gender: Some("female".into()),
        },
    )
    .await;
    db.append(
        &StreamId::product(kettle),
        listed(kettle, "Kettle", 250_000),
    )
    .await;
    db.append(&StreamId::product(pan), listed(pan, "Pan", 120_000))
        .await;

    let (alice_cart, bob_cart) = (StreamId::cart(alice), StreamId::cart(bob));
    let (cart_a, cart_b) = (Uuid::new_v4(), Uuid::new_v4());
    db.append(&alice_cart, added(cart_a, alice, kettle, 1))
        .await;
    db.append(&bob_cart, added(cart_b, bob, pan, 2)).await;
    db.append(&alice_cart, added(cart_a, alice, pan, 1)).await;
    db.append(
        &StreamId::product(pan),
        ProductEvent::ProductPriceChanged {
            product_id: pan,
            price: 110_000,
            currency: Currency::kes(),
            changed_at: t0(),
        },
    )
    .await;
    db.append(&bob_cart, added(cart_b, bob, kettle, 1)).await;
    db.append(
        &bob_cart,
        CartEvent::CartItemQuantityChanged {
            cart_id: cart_b,
            customer_id: bob,
            product_id: pan,
            quantity: 0,
        },
    )
    .await;

    // Alice checks out: cart, order and stock streams in one transaction.
    let order = Uuid::new_v4();
    db.append_all(vec![
        (
            alice_cart.clone(),
            CartEvent::CartCheckedOut {
                cart_id: cart_a,
                customer_id: alice,
                order_id: order,
            }
            .encode(),
        ),
        (StreamId::order(order), placed(order, alice).encode()),
        (
            StreamId::stock(kettle),
            StockEvent::StockReserved {
                product_id: kettle,
                order_id: order,
                quantity: 1,
            }
            .encode(),
        ),
    ])
    .await;
    let stream = StreamId::order(order);
    let (first, second) = (Uuid::new_v4(), Uuid::new_v4());
    for event in [
        requested(order, first),
        accepted(order, first, "ws_1"),
        failed(order, first, Some("ws_1")),
        requested(order, second),
        accepted(order, second, "ws_2"),
        confirmed(order, second, "ws_2"),
        OrderEvent::OrderShipped {
            order_id: order,
            carrier: None,
            tracking_number: Some("T1".into()),
            note: None,
            shipped_at: t0(),
        },
    ] {
        db.append(&stream, event).await;
    }
    let lapsed = Uuid::new_v4();
    db.append(&StreamId::order(lapsed), placed(lapsed, bob))
        .await;
    db.append(
        &StreamId::order(lapsed),
        OrderEvent::OrderExpired {
            order_id: lapsed,
            expired_at: t0(),
        },
    )
    .await;
    db.append(
        &StreamId::customer(bob),
        CustomerEvent::AccountClosed {
            customer_id: bob,
            closed_at: t0(),
        },
    )
    .await;
    db.append(
        &StreamId::product(kettle),
        ProductEvent::ProductWithdrawn {
            product_id: kettle,
            withdrawn_at: t0(),
        },
    )
    .await;
}

async fn rebuild_reproduces(projector: &dyn Projector) {
    let mut db = TestDb::new().await;
    shop_round(&mut db, 1).await;
    shop_round(&mut db, 2).await;
    db.project(projector, 2).await;
    let live = db.snapshot(projector).await;
    assert!(live.iter().any(|(_, rows)| !rows.is_empty()));

    let events = db.rebuild(projector).await;
    assert!(events > 0);
    assert_eq!(db.snapshot(projector).await, live);
    assert_eq!(db.checkpoint(projector.name()).await, db.head().await);

    // The swapped-in tables go on following the log, and still agree with a rebuild.
    shop_round(&mut db, 3).await;
    db.project(projector, 4).await;
    let live = db.snapshot(projector).await;
    db.rebuild(projector).await;
    assert_eq!(db.snapshot(projector).await, live);
}

#[tokio::test]
async fn rebuild_reproduces_customers() {
    rebuild_reproduces(&CustomersProjector).await;
}

#[tokio::test]
async fn rebuild_reproduces_carts() {
    rebuild_reproduces(&CartsProjector).await;
}

#[tokio::test]
async fn rebuild_reproduces_orders() {
    rebuild_reproduces(&OrdersProjector).await;
}

/// The real runner follows the log live; a rebuild of each projector then gives the same.
#[tokio::test]
async fn runner_following_live_matches_rebuild() {
    let mut db = TestDb::new().await;
    let projectors: Vec<Arc<dyn Projector>> = vec![
        Arc::new(CustomersProjector),
        Arc::new(CartsProjector),
        Arc::new(OrdersProjector),
    ];
    let names: Vec<&str> = projectors.iter().map(|p| p.name()).collect();
    let progress = Progress::new(&projectors);
    let runner = Runner::new(
        db.pool.clone(),
        Arc::new(db.store.clone()),
        projectors.clone(),
        progress.clone(),
    );
    let (stop, shutdown) = tokio::sync::watch::channel(false);
    let running = tokio::spawn(runner.run(shutdown));

    for round in 1..=2 {
        shop_round(&mut db, round).await;
        let head = db.head().await;
        let caught_up = wait_for(&db.pool, &progress, &names, head, Duration::from_secs(30))
            .await
            .expect("wait");
        assert!(caught_up, "projectors did not reach round {round}");
    }
    stop.send_replace(true);
    running.await.expect("runner stops");

    for projector in &projectors {
        let live = db.snapshot(projector.as_ref()).await;
        db.rebuild(projector.as_ref()).await;
        assert_eq!(
            db.snapshot(projector.as_ref()).await,
            live,
            "{}",
            projector.name()
        );
    }
}
