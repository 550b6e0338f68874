//! The audit routes and the store's audit guarantees: order history and replay, export and
//! live feed, tamper detection (hash chains and the transparency log), proofs, erasure, and
//! who may see them.

mod erasure;
mod feed;
mod orders;
mod rfc9162;
mod roles;
mod tamper;
mod transparency;

use std::time::Duration;

use chrono::{TimeDelta, Utc};
use serde_json::Value;
use tillroll::auth::Role;
use tillroll::domain::Aggregate;
use tillroll::domain::customer::{self, Customer};
use tillroll::domain::order::{self, Order};
use tillroll::domain::phone::Msisdn;
use tillroll::domain::stock::{self, Stock};
use tillroll::domain::validate::{Actor, Email, PersonName};
use tillroll::store::Located;
use tillroll::store::{AppendResult, EventStore, ExpectedVersion, NewEvent, StreamAppend};
use tillroll_events::{DomainEvent, Metadata, StreamId};
use uuid::Uuid;

use crate::support::TestApp;

/// A signed-in user of `role` (a token minted with the server's key).
pub fn token(app: &TestApp, role: Role) -> (Uuid, String) {
    let id = Uuid::new_v4();
    let token = app
        .state
        .jwt
        .issue(id, role, Utc::now(), Duration::from_secs(600))
        .expect("token issued");
    (id, token)
}

pub fn user_metadata(actor: Uuid, role: &str, correlation: Uuid) -> Metadata {
    Metadata {
        actor_id: Some(actor),
        actor_role: role.into(),
        correlation_id: correlation,
        ..Metadata::default()
    }
}

/// The aggregate's state folded from its stream, through the store's read path.
pub async fn fold<A: Aggregate>(store: &EventStore, stream: &StreamId) -> A {
    let mut state = A::default();
    for recorded in store.read_stream(stream.as_str(), 0).await.unwrap() {
        state.evolve(&recorded.decode::<A::Event>().unwrap());
    }
    state
}

pub fn new_events<E: DomainEvent>(events: &[E], metadata: &Metadata) -> Vec<NewEvent> {
    events
        .iter()
        .map(|e| NewEvent::new(e.encode(), metadata.clone()))
        .collect()
}

/// Appends to several streams in one transaction.
pub async fn emit_many(
    store: &EventStore,
    appends: Vec<(StreamId, Vec<NewEvent>)>,
) -> AppendResult {
    let appends: Vec<StreamAppend> = appends
        .into_iter()
        .map(|(stream_id, events)| StreamAppend {
            stream_id,
            expected: ExpectedVersion::Any,
            events,
        })
        .collect();
    store.append(&appends).await.expect("appended")
}

pub async fn emit<E: DomainEvent>(
    store: &EventStore,
    stream: &StreamId,
    events: &[E],
    metadata: &Metadata,
) -> AppendResult {
    emit_many(store, vec![(stream.clone(), new_events(events, metadata))]).await
}

pub struct Person {
    pub id: Uuid,
    pub name: &'static str,
    pub email: &'static str,
    pub phone: &'static str,
}

pub async fn register(store: &EventStore, person: &Person) {
    let events = customer::register(
        &Customer::default(),
        &customer::Register {
            customer_id: person.id,
            email: Email::parse(person.email).unwrap(),
            name: PersonName::parse(person.name).unwrap(),
            phone: Some(Msisdn::parse(person.phone).unwrap()),
            role: Role::Customer,
            now: Utc::now(),
        },
    )
    .unwrap();
    let metadata = user_metadata(person.id, "anonymous", Uuid::now_v7());
    emit(store, &StreamId::customer(person.id), &events, &metadata).await;
}

/// An order of 2 × KES 2,500 paid on its second attempt after the first was cancelled on the
/// phone, built with the domain's deciders and the metadata the money path stamps.
pub struct PaidOrder {
    pub order_id: Uuid,
    pub product: Uuid,
    /// Every event the flow appended, in append order (the stock level first).
    pub event_ids: Vec<Uuid>,
    /// The id of the stock level event, which the order did not cause.
    pub stock_level_event: Uuid,
}

pub async fn order_paid_after_a_failure(
    store: &EventStore,
    customer: Uuid,
    phone: &str,
) -> PaidOrder {
    let (order_id, product, admin) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
    let (order_stream, stock_stream) = (StreamId::order(order_id), StreamId::stock(product));
    let now = Utc::now();
    let as_customer = user_metadata(customer, "customer", order_id);
    let mut ids = Vec::new();

    let level = stock::set_level(
        &Stock::default(),
        &stock::SetLevel {
            product_id: product,
            on_hand: 10,
        },
    )
    .unwrap();
    let r = emit(
        store,
        &stock_stream,
        &level,
        &user_metadata(admin, "admin", Uuid::now_v7()),
    )
    .await;
    let stock_level_event = r.event_ids[0];
    ids.extend(r.event_ids);

    let (a1, a2) = (Uuid::now_v7(), Uuid::now_v7());
    let placed = order::place(
        &Order::default(),
        &order::PlaceOrder {
            order_id,
            customer_id: customer,
            placed_by: customer,
            lines: vec![order::NewOrderLine {
                product_id: product,
                name: "Kettle".into(),
                unit_price: 250_000,
                quantity: 2,
                seller_id: Uuid::from_u128(0x5e),
            }],
            currency: tillroll_events::Currency::kes(),
            phone: Msisdn::parse(phone).unwrap(),
            attempt_id: a1,
            now,
            ttl: TimeDelta::minutes(15),
        },
    )
    .unwrap();
    let reserved = stock::reserve(
        &fold::<Stock>(store, &stock_stream).await,
        &stock::Reserve {
            product_id: product,
            order_id,
            quantity: 2,
        },
    )
    .unwrap();
    let r = emit_many(
        store,
        vec![
            (order_stream.clone(), new_events(&placed, &as_customer)),
            (stock_stream.clone(), new_events(&reserved, &as_customer)),
        ],
    )
    .await;
    let first_request = r.event_ids[1];
    ids.extend(r.event_ids);

    let system = Metadata::system(order_id);
    let state = fold::<Order>(store, &order_stream).await;
    let accepted = order::record_push_accepted(
        &state,
        &order::RecordPushAccepted {
            attempt_id: a1,
            checkout_request_id: "ws_CO_1".into(),
            merchant_request_id: "m-1".into(),
        },
    )
    .unwrap();
    let r = emit(
        store,
        &order_stream,
        &accepted,
        &system.clone().caused_by(first_request),
    )
    .await;
    ids.extend(r.event_ids);

    let state = fold::<Order>(store, &order_stream).await;
    let failed = order::fail_payment(
        &state,
        &order::FailPayment {
            checkout_request_id: "ws_CO_1".into(),
            result_code: "1032".into(),
            reason: "cancelled on the phone".into(),
        },
    )
    .unwrap();
    ids.extend(emit(store, &order_stream, &failed, &system).await.event_ids);

    let state = fold::<Order>(store, &order_stream).await;
    let retry = order::request_payment(
        &state,
        &order::RequestPayment {
            actor: Actor {
                id: customer,
                role: Role::Customer,
            },
            attempt_id: a2,
            phone: None,
            now: Utc::now(),
        },
    )
    .unwrap();
    let r = emit(store, &order_stream, &retry, &as_customer).await;
    let second_request = r.event_ids[0];
    ids.extend(r.event_ids);

    let state = fold::<Order>(store, &order_stream).await;
    let accepted = order::record_push_accepted(
        &state,
        &order::RecordPushAccepted {
            attempt_id: a2,
            checkout_request_id: "ws_CO_2".into(),
            merchant_request_id: "m-2".into(),
        },
    )
    .unwrap();
    ids.extend(
        emit(
            store,
            &order_stream,
            &accepted,
            &system.clone().caused_by(second_request),
        )
        .await
        .event_ids,
    );

    let state = fold::<Order>(store, &order_stream).await;
    let confirmed = order::confirm_payment(
        &state,
        &order::ConfirmPayment {
            checkout_request_id: "ws_CO_2".into(),
            mpesa_receipt: Some("SLK4H7R2TX".into()),
            amount: Some(500_000),
            paid_at: Utc::now(),
            stock_available_for_late_payment: false,
        },
    )
    .unwrap();
    let r = emit(store, &order_stream, &confirmed, &system).await;
    let confirmation = r.event_ids[0];
    ids.extend(r.event_ids);

    // The stock reactor: linked to the order by causation only (another correlation).
    let sold = stock::sell(
        &fold::<Stock>(store, &stock_stream).await,
        &stock::Sell {
            product_id: product,
            order_id,
        },
    )
    .unwrap();
    let reactor = Metadata::system(Uuid::now_v7()).caused_by(confirmation);
    ids.extend(emit(store, &stock_stream, &sold, &reactor).await.event_ids);

    PaidOrder {
        order_id,
        product,
        event_ids: ids,
        stock_level_event,
    }
}

/// Waits until the gap-safe log reads up to `last`. Transaction ids are cluster-wide, so an
/// open transaction of any other test holds every reader back for a moment.
/// Waits until the event at `last` (a position from an append) has its place in the log.
pub async fn readable(app: &TestApp, last: i64) {
    let store = &app.state.store;
    app.eventually(Duration::from_secs(20), || async {
        matches!(store.locate(last).await.unwrap(), Located::At(_)).then_some(())
    })
    .await;
}

/// The position of the last event appended (in tests that append one after another).
pub async fn last_appended(app: &TestApp) -> i64 {
    let (position,): (i64,) = sqlx::query_as("SELECT max(global_position) FROM events")
        .fetch_one(app.pool())
        .await
        .unwrap();
    position
}

/// The types of a JSON array of events.
pub fn types(events: &Value) -> Vec<String> {
    events
        .as_array()
        .expect("an array of events")
        .iter()
        .map(|e| e["type"].as_str().unwrap().to_owned())
        .collect()
}

/// The latest tree head once it covers every event in the log (the sealer caught up).
pub async fn sealed_head(app: &TestApp, token: &str) -> Value {
    app.state.store.sequence_pending().await.unwrap();
    app.eventually(Duration::from_secs(20), || async {
        let (logged,): (i64,) = sqlx::query_as("SELECT count(*) FROM event_log")
            .fetch_one(app.pool())
            .await
            .unwrap();
        let head = app.get("/audit/tree-heads/latest", Some(token)).await;
        (head.status == 200 && head.body["tree_size"] == logged).then(|| head.body.clone())
    })
    .await
}

/// The whole export (`GET /audit/events`) as text.
pub async fn export_text(app: &TestApp, token: &str) -> String {
    let reply = app.get("/audit/events", Some(token)).await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    reply.text.clone()
}

/// Runs `tillroll audit verify-export` on `export` with `public_key` and `head` (no database:
/// an empty environment); its exit code and report.
pub async fn verify_export(export: &str, public_key: &Value, head: &Value) -> (i32, Value) {
    let dir = std::env::temp_dir().join(format!("tillroll-export-{}", Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let (file, head_file) = (dir.join("log.ndjson"), dir.join("head.json"));
    std::fs::write(&file, export).unwrap();
    std::fs::write(&head_file, head.to_string()).unwrap();
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_tillroll"))
        .arg("audit")
        .arg("verify-export")
        .arg(&file)
        .arg("--public-key")
        .arg(public_key["public_key"].as_str().unwrap())
        .arg("--tree-head")
        .arg(&head_file)
        .env_clear()
        .output()
        .await
        .expect("the tillroll binary runs");
    std::fs::remove_dir_all(&dir).ok();
    let report = serde_json::from_slice(&output.stdout).unwrap_or_else(|_| {
        panic!(
            "verify-export printed no report: {}",
            String::from_utf8_lossy(&output.stderr)
        )
    });
    (output.status.code().expect("exited"), report)
}
