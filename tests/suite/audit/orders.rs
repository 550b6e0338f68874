//! An order's history through correlation and causation, and its state as of a moment.

use chrono::{DateTime, Utc};
use tillroll::auth::Role;
use tillroll_events::StreamId;
use uuid::Uuid;

use super::{order_paid_after_a_failure, token, types};
use crate::support::TestApp;

#[tokio::test]
async fn history_lists_the_order_and_the_stock_and_payment_events_it_caused_in_log_order() {
    let app = TestApp::spawn_without_reactors().await;
    let store = &app.state.store;
    let customer = Uuid::now_v7();
    let paid = order_paid_after_a_failure(store, customer, "0712000001").await;
    // Another order on the same product must not leak into this one's history.
    let other = order_paid_after_a_failure(store, Uuid::now_v7(), "0712000002").await;
    let (_, auditor) = token(&app, Role::Auditor);

    let path = format!("/audit/orders/{}/history", paid.order_id);
    let history = app.get(&path, Some(&auditor)).await.ok(200).clone();
    assert_eq!(
        types(&history),
        [
            "OrderPlaced",
            "PaymentRequested",
            "StockReserved",
            "PaymentRequestAccepted",
            "PaymentFailed",
            "PaymentRequested",
            "PaymentRequestAccepted",
            "PaymentConfirmed",
            "StockSold",
        ]
    );
    let events = history.as_array().unwrap();
    let ids: Vec<Uuid> = events
        .iter()
        .map(|e| e["event_id"].as_str().unwrap().parse().unwrap())
        .collect();
    let caused: Vec<Uuid> = paid
        .event_ids
        .iter()
        .copied()
        .filter(|id| *id != paid.stock_level_event)
        .collect();
    assert_eq!(
        ids, caused,
        "exactly the events of the flow, in append order"
    );
    assert!(!ids.iter().any(|id| other.event_ids.contains(id)));
    let positions: Vec<i64> = events
        .iter()
        .map(|e| e["position"].as_i64().unwrap())
        .collect();
    assert!(
        positions.windows(2).all(|w| w[0] < w[1]),
        "log order: {positions:?}"
    );

    // Who, why and when, with the chain link.
    let by_customer = |e: &serde_json::Value| {
        e["metadata"]["actor_id"] == customer.to_string()
            && e["metadata"]["actor_role"] == "customer"
    };
    assert!(by_customer(&events[0]) && by_customer(&events[2]) && by_customer(&events[5]));
    for i in [3, 4, 6, 7, 8] {
        assert_eq!(
            events[i]["metadata"]["actor_role"], "system",
            "{}",
            events[i]
        );
        assert!(events[i]["metadata"]["actor_id"].is_null());
    }
    assert_eq!(
        events[8]["stream_id"],
        StreamId::stock(paid.product).to_string()
    );
    assert_eq!(events[8]["metadata"]["causation_id"], events[7]["event_id"]);
    for event in events {
        assert_eq!(event["hash"].as_str().unwrap().len(), 64);
        assert!(
            event["recorded_at"]
                .as_str()
                .unwrap()
                .parse::<DateTime<Utc>>()
                .is_ok()
        );
        // Order events are at schema version 3 (`placed_by`, lines' `seller_id`, shipments'
        // `note`), stock events at 1.
        let order_event = event["stream_id"].as_str().unwrap().starts_with("order-");
        assert_eq!(event["schema_version"], if order_event { 3 } else { 1 });
    }
    assert_eq!(events[0]["data"]["total"], 500_000);

    app.get(
        &format!("/audit/orders/{}/history", Uuid::now_v7()),
        Some(&auditor),
    )
    .await
    .problem(404);
    app.stop().await;
}

#[tokio::test]
async fn the_state_at_a_moment_is_replayed_from_the_events_recorded_until_then() {
    let app = TestApp::spawn_without_reactors().await;
    let store = &app.state.store;
    let paid = order_paid_after_a_failure(store, Uuid::now_v7(), "0712000003").await;
    let (_, auditor) = token(&app, Role::Admin);
    let stream = store
        .read_stream(StreamId::order(paid.order_id).as_str(), 0)
        .await
        .unwrap();
    let at_of = |version: i64| stream[version as usize - 1].recorded_at;
    let between = |a: DateTime<Utc>, b: DateTime<Utc>| {
        assert!(a < b, "events recorded at distinct times");
        a + (b - a) / 2
    };
    let state_at = |at: DateTime<Utc>| {
        let at = at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
        format!(
            "/audit/orders/{}?at={}",
            paid.order_id,
            at.replace('+', "%2B")
        )
    };

    // Versions: 1 placed, 2 requested, 3 accepted, 4 failed, 5 requested, 6 accepted, 7 paid.
    let r = app
        .get(&state_at(between(at_of(3), at_of(4))), Some(&auditor))
        .await;
    let order = r.ok(200);
    assert_eq!(order["status"], "pending_payment");
    assert_eq!(order["payment"]["status"], "requested");
    assert_eq!(order["payment"]["attempts"], 1);
    assert_eq!(order["payment"]["checkout_request_id"], "ws_CO_1");
    assert_eq!(order["version"], 3);
    assert_eq!(order["total"], 500_000);
    assert_eq!(order["items"][0]["quantity"], 2);
    assert_eq!(order["items"][0]["line_total"], 500_000);
    assert_eq!(order["phone"], "254712000003");

    let r = app
        .get(&state_at(between(at_of(4), at_of(5))), Some(&auditor))
        .await;
    let order = r.ok(200);
    assert_eq!(order["payment"]["status"], "failed");
    assert_eq!(order["payment"]["failure_reason"], "cancelled on the phone");
    assert_eq!(order["version"], 4);

    let r = app.get(&state_at(at_of(7)), Some(&auditor)).await;
    let order = r.ok(200);
    assert_eq!(order["status"], "paid");
    assert_eq!(order["payment"]["status"], "succeeded");
    assert_eq!(order["payment"]["attempts"], 2);
    assert_eq!(order["payment"]["mpesa_receipt"], "SLK4H7R2TX");
    assert_eq!(order["version"], 7);

    let before = at_of(1) - chrono::TimeDelta::microseconds(1);
    app.get(&state_at(before), Some(&auditor))
        .await
        .problem(404);
    let bad = app
        .get(
            &format!("/audit/orders/{}?at=yesterday", paid.order_id),
            Some(&auditor),
        )
        .await;
    assert_eq!(bad.problem(400)["errors"][0]["field"], "at");
    // No `at`: now.
    assert_eq!(
        app.get(&format!("/audit/orders/{}", paid.order_id), Some(&auditor))
            .await
            .ok(200)["status"],
        "paid"
    );
    app.stop().await;
}
