//! The money path end to end: cart, checkout, M-Pesa (fake Daraja and simulator), callbacks,
//! reconciliation, expiry, restarts, and the order rules. Customers are made by issuing
//! tokens, products by appending their events (the accounts and catalog routes are built
//! elsewhere).

mod callbacks;
mod flow;
mod outage;
mod oversell;
mod payouts;
mod refunds;
mod rules;
mod small;

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use serde_json::{Value, json};
use tillroll::auth::Role;
use tillroll::payments::fake::{FakeConfig, FakeDaraja};
use tillroll::payments::{DarajaClient, MpesaGateway};
use tillroll::store::{ExpectedVersion, NewEvent, StreamAppend};
use tillroll_events::{Currency, DomainEvent, Metadata, ProductEvent, StockEvent, StreamId};
use uuid::Uuid;

use crate::support::TestApp;
use crate::support::app::test_config;

pub const WAIT: Duration = Duration::from_secs(20);
/// A phone the simulator (and the fake) lets pay.
pub const PHONE: &str = "0712345678";

pub fn token(app: &TestApp, role: Role) -> (Uuid, String) {
    let id = Uuid::now_v7();
    let token = app
        .state
        .jwt
        .issue(id, role, Utc::now(), Duration::from_secs(900))
        .expect("token issued");
    (id, token)
}

pub fn customer(app: &TestApp) -> (Uuid, String) {
    token(app, Role::Customer)
}

pub fn admin(app: &TestApp) -> String {
    token(app, Role::Admin).1
}

/// Lists a product at `price` (minor units) with `on_hand` in stock.
pub async fn product(app: &TestApp, name: &str, price: i64, on_hand: i64) -> Uuid {
    let product_id = Uuid::now_v7();
    let metadata = Metadata::system(Uuid::now_v7());
    let listed = ProductEvent::ProductListed {
        product_id,
        seller_id: Uuid::now_v7(),
        name: name.into(),
        description: String::new(),
        category: "electronics".into(),
        price,
        currency: Currency::kes(),
        payout_phone: None,
        listed_at: Utc::now(),
    };
    let stocked = StockEvent::StockLevelSet {
        product_id,
        on_hand,
    };
    app.state
        .store
        .append(&[
            StreamAppend {
                stream_id: StreamId::product(product_id),
                expected: ExpectedVersion::NoStream,
                events: vec![NewEvent::new(listed.encode(), metadata.clone())],
            },
            StreamAppend {
                stream_id: StreamId::stock(product_id),
                expected: ExpectedVersion::NoStream,
                events: vec![NewEvent::new(stocked.encode(), metadata)],
            },
        ])
        .await
        .expect("product listed");
    product_id
}

/// `(on_hand, reserved)` of a product, from its stock events.
pub async fn stock(app: &TestApp, product_id: Uuid) -> (i64, i64) {
    let events = app
        .state
        .store
        .read_stream(StreamId::stock(product_id).as_str(), 0)
        .await
        .expect("stock read");
    let (mut on_hand, mut reserved) = (0, 0);
    for e in events {
        match e.decode::<StockEvent>().expect("stock event") {
            StockEvent::StockLevelSet { on_hand: n, .. } => on_hand = n,
            StockEvent::StockAdjusted { delta, .. } => on_hand += delta,
            StockEvent::StockReserved { quantity, .. } => reserved += quantity,
            StockEvent::StockReservationReleased { quantity, .. } => reserved -= quantity,
            StockEvent::StockSold { quantity, .. } => {
                reserved -= quantity;
                on_hand -= quantity;
            }
        }
        assert!(
            on_hand >= 0 && reserved >= 0 && reserved <= on_hand,
            "stock went negative"
        );
    }
    (on_hand, reserved)
}

/// Event types of the order's stream, in order.
pub async fn order_events(app: &TestApp, order_id: &str) -> Vec<String> {
    let stream = format!("order-{order_id}");
    let events = app.state.store.read_stream(&stream, 0).await.expect("read");
    events.into_iter().map(|e| e.event_type).collect()
}

/// Polls GET /orders/{id} until `check` accepts it.
pub async fn order_until(
    app: &TestApp,
    token: &str,
    order_id: &str,
    check: impl Fn(&Value) -> bool,
) -> Value {
    let path = format!("/orders/{order_id}");
    app.eventually(WAIT, || async {
        let reply = app.get(&path, Some(token)).await;
        (reply.status == 200 && check(&reply.body)).then_some(reply.body)
    })
    .await
}

pub async fn checkout_one(app: &TestApp, token: &str, product_id: Uuid, phone: &str) -> Value {
    let body = json!({"items": [{"product_id": product_id, "quantity": 1}], "phone": phone});
    app.post("/orders", Some(token), body).await.ok(201).clone()
}

/// A server whose payments go to a fresh fake Daraja.
pub async fn with_fake(configure: impl FnOnce(&mut tillroll::Config)) -> (TestApp, FakeDaraja) {
    let fake = FakeDaraja::start(FakeConfig::default())
        .await
        .expect("fake Daraja");
    let client = DarajaClient::new(fake.client_config()).expect("client");
    let gateway: Arc<dyn MpesaGateway> = Arc::new(client);
    let mut config = test_config();
    configure(&mut config);
    (TestApp::spawn_with(config, Some(gateway)).await, fake)
}
