//! Micro-benchmarks of the hot pure code: deciding and evolving aggregates, the hash chain,
//! event (de)serialisation. `cargo bench --bench domain`.

use chrono::Utc;
use criterion::{Criterion, criterion_group, criterion_main};
use serde_json::json;
use std::hint::black_box;
use tillroll::domain::Aggregate;
use tillroll::domain::stock::{self, Reserve, Stock};
use tillroll::store::hash::{HashInput, event_hash, truncate_to_micros};
use tillroll_events::{DomainEvent, StockEvent};
use uuid::Uuid;

fn stock_with_history(events: usize) -> (Stock, Vec<StockEvent>) {
    let product_id = Uuid::now_v7();
    let mut history = vec![StockEvent::StockLevelSet {
        product_id,
        on_hand: 1_000_000,
    }];
    for _ in 0..events {
        let order_id = Uuid::now_v7();
        history.push(StockEvent::StockReserved {
            product_id,
            order_id,
            quantity: 1,
        });
        history.push(StockEvent::StockSold {
            product_id,
            order_id,
            quantity: 1,
        });
    }
    (Stock::from_events(&history), history)
}

fn deciders(c: &mut Criterion) {
    let (state, history) = stock_with_history(500);
    c.bench_function("stock: evolve 1,000 events", |b| {
        b.iter(|| Stock::from_events(black_box(&history)))
    });
    let command = Reserve {
        product_id: state.product_id,
        order_id: Uuid::now_v7(),
        quantity: 3,
    };
    c.bench_function("stock: decide reserve", |b| {
        b.iter(|| stock::reserve(black_box(&state), black_box(&command)))
    });
}

fn hashing(c: &mut Criterion) {
    let data = json!({"product_id": Uuid::now_v7(), "order_id": Uuid::now_v7(), "quantity": 3});
    let metadata = json!({"actor_role": "customer", "correlation_id": Uuid::now_v7()});
    let at = truncate_to_micros(Utc::now());
    c.bench_function("hash chain link", |b| {
        b.iter(|| {
            event_hash(
                black_box(&[7u8; 32]),
                &HashInput {
                    stream_id: "stock-0191",
                    version: 42,
                    event_type: "StockReserved",
                    schema_version: 1,
                    data: &data,
                    metadata: &metadata,
                    recorded_at: at,
                },
            )
        })
    });
}

fn serialisation(c: &mut Criterion) {
    let event = StockEvent::StockReserved {
        product_id: Uuid::now_v7(),
        order_id: Uuid::now_v7(),
        quantity: 3,
    };
    let encoded = event.encode();
    c.bench_function("event encode", |b| b.iter(|| black_box(&event).encode()));
    c.bench_function("event decode", |b| {
        b.iter(|| StockEvent::decode(&encoded.event_type, 1, black_box(&encoded.data)))
    });
}

criterion_group!(benches, deciders, hashing, serialisation);
criterion_main!(benches);
