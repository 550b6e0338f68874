//! The carts projector: lines follow the cart events, names and prices follow the catalog.

use chrono::{DateTime, Utc};
use tillroll_events::{CartEvent, Currency, ProductEvent, StreamId};
use tillroll_projections::carts::CartsProjector;
use uuid::Uuid;

use crate::common::{TestDb, t0};

/// `(product_id, name, price, quantity, line_no)` of a customer's lines, in line order.
type Line = (Uuid, String, i64, i64, i64);

async fn lines(db: &TestDb, customer_id: Uuid) -> Vec<Line> {
    sqlx::query_as(
        "SELECT i.product_id, p.name, p.price, i.quantity, i.line_no \
         FROM cart_items i JOIN cart_products p USING (product_id) \
         WHERE i.customer_id = $1 ORDER BY i.line_no",
    )
    .bind(customer_id)
    .fetch_all(&db.pool)
    .await
    .expect("lines")
}

async fn cart(db: &TestDb, customer_id: Uuid) -> Option<(Uuid, DateTime<Utc>)> {
    sqlx::query_as("SELECT cart_id, updated_at FROM carts WHERE customer_id = $1")
        .bind(customer_id)
        .fetch_optional(&db.pool)
        .await
        .expect("cart")
}

pub fn listed(product_id: Uuid, name: &str, price: i64) -> ProductEvent {
    ProductEvent::ProductListed {
        product_id,
        seller_id: Uuid::nil(),
        name: name.into(),
        description: format!("A fine {name}"),
        category: "kitchen".into(),
        price,
        currency: Currency::kes(),
        payout_phone: None,
        listed_at: t0(),
    }
}

/// The event's `unit_price` is deliberately not the catalog's: a cart shows catalog prices.
pub fn added(cart_id: Uuid, customer_id: Uuid, product_id: Uuid, quantity: i64) -> CartEvent {
    CartEvent::ItemAddedToCart {
        cart_id,
        customer_id,
        product_id,
        quantity,
        unit_price: 1,
        currency: Currency::kes(),
    }
}

#[tokio::test]
async fn cart_lines_follow_the_cart_events() {
    let mut db = TestDb::new().await;
    let p = CartsProjector;
    let [kettle, pan, cup] = [Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4()];
    db.append(
        &StreamId::product(kettle),
        listed(kettle, "Kettle", 250_000),
    )
    .await;
    db.append(&StreamId::product(pan), listed(pan, "Pan", 120_000))
        .await;
    db.append(&StreamId::product(cup), listed(cup, "Cup", 30_000))
        .await;
    let (me, other) = (Uuid::new_v4(), Uuid::new_v4());
    let (stream, other_stream) = (StreamId::cart(me), StreamId::cart(other));
    let (cart_id, other_cart) = (Uuid::new_v4(), Uuid::new_v4());
    db.append(&other_stream, added(other_cart, other, cup, 1))
        .await;

    let at = db.append(&stream, added(cart_id, me, kettle, 2)).await;
    db.project(&p, 1).await;
    assert_eq!(cart(&db, me).await, Some((cart_id, at)));
    assert_eq!(
        lines(&db, me).await,
        vec![(kettle, "Kettle".into(), 250_000, 2, 1)]
    );

    db.append(&stream, added(cart_id, me, pan, 1)).await;
    // Adding to a line already there adds to its quantity and keeps its place.
    let at = db.append(&stream, added(cart_id, me, kettle, 3)).await;
    db.project(&p, 2).await;
    assert_eq!(cart(&db, me).await, Some((cart_id, at)));
    assert_eq!(
        lines(&db, me).await,
        vec![
            (kettle, "Kettle".into(), 250_000, 5, 1),
            (pan, "Pan".into(), 120_000, 1, 2),
        ]
    );

    let change = |product_id, quantity| CartEvent::CartItemQuantityChanged {
        cart_id,
        customer_id: me,
        product_id,
        quantity,
    };
    db.append(&stream, change(pan, 4)).await;
    let at = db.append(&stream, change(kettle, 0)).await;
    db.project(&p, 1).await;
    assert_eq!(cart(&db, me).await, Some((cart_id, at)));
    assert_eq!(
        lines(&db, me).await,
        vec![(pan, "Pan".into(), 120_000, 4, 2)]
    );

    // New lines go after the last one.
    db.append(&stream, added(cart_id, me, cup, 6)).await;
    let at = db
        .append(
            &stream,
            CartEvent::ItemRemovedFromCart {
                cart_id,
                customer_id: me,
                product_id: pan,
            },
        )
        .await;
    db.append(&stream, added(cart_id, me, kettle, 1)).await;
    db.project(&p, 1).await;
    assert_eq!(
        lines(&db, me).await,
        vec![
            (cup, "Cup".into(), 30_000, 6, 3),
            (kettle, "Kettle".into(), 250_000, 1, 4),
        ]
    );
    assert!(cart(&db, me).await.unwrap().1 > at);

    // Removing the last line leaves an empty cart.
    for product_id in [cup, kettle] {
        db.append(
            &stream,
            CartEvent::ItemRemovedFromCart {
                cart_id,
                customer_id: me,
                product_id,
            },
        )
        .await;
    }
    db.project(&p, 5).await;
    assert!(lines(&db, me).await.is_empty());
    assert!(cart(&db, me).await.is_some());

    db.append(&stream, added(cart_id, me, pan, 2)).await;
    db.append(
        &stream,
        CartEvent::CartCleared {
            cart_id,
            customer_id: me,
        },
    )
    .await;
    db.project(&p, 1).await;
    assert!(lines(&db, me).await.is_empty());
    assert_eq!(cart(&db, me).await, None);

    // A new cart numbers its lines from 1 again; checkout removes it.
    let next_cart = Uuid::new_v4();
    let at = db.append(&stream, added(next_cart, me, cup, 1)).await;
    db.project(&p, 1).await;
    assert_eq!(cart(&db, me).await, Some((next_cart, at)));
    assert_eq!(
        lines(&db, me).await,
        vec![(cup, "Cup".into(), 30_000, 1, 1)]
    );
    db.append(
        &stream,
        CartEvent::CartCheckedOut {
            cart_id: next_cart,
            customer_id: me,
            order_id: Uuid::new_v4(),
        },
    )
    .await;
    db.project(&p, 1).await;
    assert!(lines(&db, me).await.is_empty());
    assert_eq!(cart(&db, me).await, None);

    // The other customer's cart was never touched.
    assert_eq!(
        lines(&db, other).await,
        vec![(cup, "Cup".into(), 30_000, 1, 1)]
    );
    assert_eq!(cart(&db, other).await.unwrap().0, other_cart);
}

#[tokio::test]
async fn cart_lines_follow_catalog_names_and_prices() {
    let mut db = TestDb::new().await;
    let p = CartsProjector;
    let (kettle, pan) = (Uuid::new_v4(), Uuid::new_v4());
    let product = StreamId::product(kettle);
    db.append(&product, listed(kettle, "Kettle", 250_000)).await;
    db.append(&StreamId::product(pan), listed(pan, "Pan", 120_000))
        .await;
    let me = Uuid::new_v4();
    let cart_id = Uuid::new_v4();
    db.append(&StreamId::cart(me), added(cart_id, me, kettle, 2))
        .await;
    db.project(&p, 10).await;
    assert_eq!(
        lines(&db, me).await,
        vec![(kettle, "Kettle".into(), 250_000, 2, 1)]
    );

    let changed = |price| ProductEvent::ProductPriceChanged {
        product_id: kettle,
        price,
        currency: Currency::kes(),
        changed_at: t0(),
    };
    db.append(&product, changed(199_900)).await;
    db.project(&p, 1).await;
    assert_eq!(
        lines(&db, me).await,
        vec![(kettle, "Kettle".into(), 199_900, 2, 1)]
    );

    let details = |name: Option<&str>| ProductEvent::ProductDetailsChanged {
        product_id: kettle,
        name: name.map(Into::into),
        description: Some("Now cordless".into()),
        category: None,
        payout_phone: None,
        changed_at: t0(),
    };
    db.append(&product, details(Some("Cordless kettle"))).await;
    db.append(&product, details(None)).await;
    db.append(
        &product,
        ProductEvent::ProductImageChanged {
            product_id: kettle,
            image_id: "ff".into(),
            content_type: "image/png".into(),
            changed_at: t0(),
        },
    )
    .await;
    db.append(&product, changed(189_900)).await;
    db.project(&p, 1).await;
    assert_eq!(
        lines(&db, me).await,
        vec![(kettle, "Cordless kettle".into(), 189_900, 2, 1)]
    );

    db.append(
        &product,
        ProductEvent::ProductWithdrawn {
            product_id: kettle,
            withdrawn_at: t0(),
        },
    )
    .await;
    db.project(&p, 1).await;
    let products: Vec<(Uuid, String, i64, String, bool)> = sqlx::query_as(
        "SELECT product_id, name, price, currency, withdrawn FROM cart_products \
         ORDER BY name",
    )
    .fetch_all(&db.pool)
    .await
    .unwrap();
    assert_eq!(
        products,
        vec![
            (
                kettle,
                "Cordless kettle".into(),
                189_900,
                "KES".into(),
                true
            ),
            (pan, "Pan".into(), 120_000, "KES".into(), false),
        ]
    );
    // The line stays; the query shows the product as withdrawn.
    assert_eq!(lines(&db, me).await.len(), 1);
}
