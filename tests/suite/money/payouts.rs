//! A marketplace run against the fake Daraja: two sellers, orders mixing their products,
//! delivered; the payout reactor pays each seller's net (less the platform fee) to the right
//! phone once; a refund after the payout is a negative balance the next earnings make up.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use serde_json::{Value, json};
use tillroll::auth::Role;
use tillroll::payments::fake::{FakeConfig, FakeDaraja};
use tillroll::payments::{B2cGateway, DarajaClient, MpesaGateway};
use tillroll::store::{ExpectedVersion, NewEvent, StreamAppend};
use tillroll_events::{
    Currency, CustomerEvent, DomainEvent, Metadata, ProductEvent, StockEvent, StreamId,
};
use uuid::Uuid;

use super::{PHONE, WAIT, admin, customer, order_until};
use crate::support::TestApp;
use crate::support::app::test_config;

const PHONE_A: &str = "254711000001";
const PHONE_B: &str = "254711000002";

async fn marketplace() -> (TestApp, FakeDaraja) {
    let fake = FakeDaraja::start(FakeConfig::default())
        .await
        .expect("fake");
    let client = DarajaClient::new(fake.client_config())
        .expect("client")
        .with_b2c(fake.b2c_config());
    let client = Arc::new(client);
    let stk: Arc<dyn MpesaGateway> = client.clone();
    let b2c: Arc<dyn B2cGateway> = client;
    let mut config = test_config();
    config.platform_fee_bps = 1_000;
    config.payout_every = Duration::from_millis(300);
    (TestApp::spawn_with_b2c(config, Some(stk), b2c).await, fake)
}

async fn append(app: &TestApp, stream: StreamId, event: tillroll_events::EncodedEvent) {
    app.state
        .store
        .append(&[StreamAppend {
            stream_id: stream,
            expected: ExpectedVersion::Any,
            events: vec![NewEvent::new(event, Metadata::system(Uuid::now_v7()))],
        }])
        .await
        .expect("appended");
}

/// A product of `seller` at `price`, paid out to `payout_phone` (else the seller's profile).
async fn listed(app: &TestApp, seller: Uuid, price: i64, payout_phone: Option<&str>) -> Uuid {
    let id = Uuid::now_v7();
    let listed = ProductEvent::ProductListed {
        product_id: id,
        seller_id: seller,
        name: format!("Item {price}"),
        description: String::new(),
        category: "kitchen".into(),
        price,
        currency: Currency::kes(),
        payout_phone: payout_phone.map(str::to_owned),
        listed_at: Utc::now(),
    };
    append(app, StreamId::product(id), listed.encode()).await;
    let stocked = StockEvent::StockLevelSet {
        product_id: id,
        on_hand: 50,
    };
    append(app, StreamId::stock(id), stocked.encode()).await;
    id
}

/// Places, pays, ships and delivers an order of `items` (product, quantity).
async fn delivered(app: &TestApp, buyer: &str, items: &[(Uuid, i64)]) -> String {
    let items: Vec<Value> = items
        .iter()
        .map(|(p, q)| json!({"product_id": p, "quantity": q}))
        .collect();
    let order = app
        .post(
            "/orders",
            Some(buyer),
            json!({"items": items, "phone": PHONE}),
        )
        .await;
    let id = order.ok(201)["id"].as_str().unwrap().to_owned();
    order_until(app, buyer, &id, |o| o["status"] == "paid").await;
    let admin = admin(app);
    app.post(&format!("/orders/{id}/ship"), Some(&admin), json!({}))
        .await
        .ok(200);
    app.post(&format!("/orders/{id}/deliver"), Some(&admin), json!({}))
        .await
        .ok(200);
    id
}

/// Waits until the completed payouts add up to `a` for seller A's phone and `b` for B's.
async fn paid_totals(app: &TestApp, a: i64, b: i64) -> Vec<Value> {
    let admin = admin(app);
    app.eventually(WAIT, || async {
        let reply = app.get("/payouts?status=completed", Some(&admin)).await;
        let items = reply.body["items"].as_array().cloned().unwrap_or_default();
        let sum = |phone| paid_to(&items, phone).iter().sum::<i64>();
        (sum(PHONE_A) == a && sum(PHONE_B) == b).then_some(items)
    })
    .await
}

fn paid_to(payouts: &[Value], phone: &str) -> Vec<i64> {
    payouts
        .iter()
        .filter(|p| p["phone"] == phone)
        .map(|p| p["amount"].as_i64().unwrap())
        .collect()
}

#[tokio::test]
async fn each_seller_is_paid_their_net_once_and_a_later_refund_is_carried() {
    let (app, fake) = marketplace().await;
    let (seller_a, seller_b) = (Uuid::now_v7(), Uuid::now_v7());
    let registered = CustomerEvent::CustomerRegistered {
        customer_id: seller_b,
        email: "b@example.ke".into(),
        name: "Seller B".into(),
        phone: Some("0711000002".into()),
        role: "seller".into(),
        registered_at: Utc::now(),
    };
    append(&app, StreamId::customer(seller_b), registered.encode()).await;
    let kettle = listed(&app, seller_a, 100_000, Some(PHONE_A)).await;
    let lamp = listed(&app, seller_b, 50_000, None).await;
    let (_, buyer) = customer(&app);

    let mixed = delivered(&app, &buyer, &[(kettle, 1), (lamp, 1)]).await;
    let only_a = delivered(&app, &buyer, &[(kettle, 2)]).await;

    // 10 % platform fee: A earned 270,000, B 45,000 (to B's profile phone), in one or more
    // payouts as the runs fell, each order's earnings paid once.
    let payouts = paid_totals(&app, 270_000, 45_000).await;
    let mut orders: Vec<&str> = payouts
        .iter()
        .filter(|p| p["phone"] == PHONE_A)
        .flat_map(|p| {
            p["order_ids"]
                .as_array()
                .unwrap()
                .iter()
                .map(|o| o.as_str().unwrap())
        })
        .collect();
    orders.sort_unstable();
    let mut expected = vec![mixed.as_str(), only_a.as_str()];
    expected.sort_unstable();
    assert_eq!(orders, expected);
    let sent: Vec<Value> = fake.b2c_requests();
    assert_eq!(sent.len(), payouts.len(), "each payout sent once");
    assert!(sent.iter().all(|b| b["Occassion"] == "payout"));

    // A refund of KES 400 of A's order after the payout: A owes 36,000 (less the fee).
    let refund = app
        .post(
            &format!("/orders/{only_a}/refunds"),
            Some(&admin(&app)),
            json!({"amount": 40_000, "reason": "dented"}),
        )
        .await;
    refund.ok(202);
    let balance = app
        .eventually(WAIT, || async {
            let row: Option<(i64,)> = sqlx::query_as(
                "SELECT balance FROM seller_balances WHERE seller_id = $1 AND phone = $2",
            )
            .bind(seller_a)
            .bind(PHONE_A)
            .fetch_optional(app.pool())
            .await
            .unwrap();
            row.filter(|(b,)| *b < 0).map(|(b,)| b)
        })
        .await;
    assert_eq!(balance, -36_000);

    // The next earnings make it up before anything is paid: 90,000 − 36,000.
    delivered(&app, &buyer, &[(kettle, 1)]).await;
    let payouts = paid_totals(&app, 270_000 + 54_000, 45_000).await;
    let sent = fake.b2c_requests();
    let sent_payouts = sent.iter().filter(|b| b["Occassion"] == "payout").count();
    assert_eq!(sent_payouts, payouts.len(), "each payout sent once");
    assert!(fake.violations().is_empty(), "{:?}", fake.violations());

    // Sellers see their own payouts; customers none.
    let seller_token = token_for(&app, seller_a, Role::Seller);
    let own = app.get("/seller/payouts", Some(&seller_token)).await;
    let own = own.ok(200)["items"].as_array().unwrap().clone();
    assert_eq!(own.len(), paid_to(&payouts, PHONE_A).len());
    app.get("/payouts", Some(&seller_token)).await.problem(403);
    // Sales: the delivered lines of A, gross less the 10 % fee.
    let sales = app.get("/seller/sales", Some(&seller_token)).await;
    let sales = sales.ok(200);
    assert_eq!(sales["gross"], 400_000, "{sales}");
    assert_eq!(sales["fees"], 40_000);
    assert_eq!(sales["net"], 360_000);
    assert_eq!(sales["items"][0]["units"], 4);
    let path = format!("/seller/sales?seller_id={seller_b}");
    let of_b = app.get(&path, Some(&admin(&app))).await;
    assert_eq!(of_b.ok(200)["gross"], 50_000);
    app.get("/seller/sales", Some(&buyer)).await.problem(403);
    app.get("/seller/payouts", Some(&buyer)).await.problem(403);
    app.stop().await;
}

fn token_for(app: &TestApp, id: Uuid, role: Role) -> String {
    app.state
        .jwt
        .issue(id, role, Utc::now(), Duration::from_secs(900))
        .expect("token")
}
