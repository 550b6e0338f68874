//! Erasure by crypto-shredding: closing an account deletes the person's key; every event stays,
//! the chains still verify, and no endpoint, export or table shows their name, e-mail or phone.

use std::time::Duration;

use chrono::Utc;
use serde_json::Value;
use tillroll::auth::Role;
use tillroll::domain::customer::{self, Customer};
use tillroll::domain::phone::Msisdn;
use tillroll::domain::validate::PersonName;
use tillroll_events::StreamId;
use uuid::Uuid;

use super::feed::Live;
use super::{
    Person, emit, fold, last_appended, order_paid_after_a_failure, register, token, user_metadata,
};
use crate::support::TestApp;

const WANJIRU: Person = Person {
    id: Uuid::from_u128(0x0191_0000_0000_7000_8000_0000_0000_00a1),
    name: "Wanjiru Kamau",
    email: "wanjiru.kamau@example.ke",
    phone: "0712345678",
};
/// Every way her personal data was written down.
const SECRETS: [&str; 5] = [
    "Wanjiru Kamau",
    "wanjiru.kamau@example.ke",
    "254712345678",
    "254798765432",
    "254711223344",
];

fn leaks(text: &str) -> Vec<&'static str> {
    SECRETS.into_iter().filter(|s| text.contains(s)).collect()
}

/// Every row of every table of the database, as text.
async fn database_rows(app: &TestApp) -> String {
    let tables: Vec<(String,)> = sqlx::query_as(
        "SELECT table_name::text FROM information_schema.tables \
         WHERE table_schema = 'public' AND table_type = 'BASE TABLE'",
    )
    .fetch_all(app.pool())
    .await
    .unwrap();
    let mut all = String::new();
    for (table,) in tables {
        let rows: Vec<(String,)> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT t::text || coalesce(convert_from(\
                 CASE WHEN to_jsonb(t) ? 'body' THEN (to_jsonb(t) ->> 'body')::bytea END, \
                 'UTF8'), '') FROM {table} t"
        )))
        .fetch_all(app.pool())
        .await
        .unwrap();
        all.extend(rows.into_iter().map(|(r,)| r + "\n"));
    }
    all
}

async fn live_text(app: &TestApp, token: &str, events: usize) -> String {
    let mut live = Live::connect(app, token, Some(0)).await;
    let mut text = String::new();
    for _ in 0..events {
        text.push_str(&live.next().await.1.to_string());
    }
    text
}

#[tokio::test]
async fn after_closing_an_account_nothing_shows_the_persons_data_and_the_log_still_verifies() {
    let app = TestApp::spawn_without_reactors().await;
    let store = &app.state.store;
    let (_, auditor) = token(&app, Role::Auditor);
    let (admin_id, admin) = token(&app, Role::Admin);
    register(store, &WANJIRU).await;
    let profile = customer::update_profile(
        &fold::<Customer>(store, &StreamId::customer(WANJIRU.id)).await,
        &customer::UpdateProfile {
            name: Some(PersonName::parse(WANJIRU.name).unwrap()),
            phone: Some(Msisdn::parse("0798765432").unwrap()),
            gender: None,
        },
    )
    .unwrap();
    let as_her = user_metadata(WANJIRU.id, "customer", Uuid::now_v7());
    emit(store, &StreamId::customer(WANJIRU.id), &profile, &as_her).await;
    let paid = order_paid_after_a_failure(store, WANJIRU.id, "0711223344").await;
    // Stored responses of her requests, and of an admin's request about her.
    for (actor, key, body) in [
        (WANJIRU.id.to_string(), "k1", r#"{"phone":"254711223344"}"#),
        (
            admin_id.to_string(),
            "k2",
            r#"{"name":"Wanjiru Kamau","role":"customer"}"#,
        ),
        (admin_id.to_string(), "k3", r#"{"name":"Someone Else"}"#),
    ] {
        sqlx::query(
            "INSERT INTO idempotency_keys (actor, key, request_hash, status, body) \
             VALUES ($1, $2, '\\x00', 200, $3)",
        )
        .bind(actor)
        .bind(key)
        .bind(body.as_bytes())
        .execute(app.pool())
        .await
        .unwrap();
    }

    // Sealed at rest; plaintext to everything above the store.
    let stored: Vec<(String,)> = sqlx::query_as("SELECT data::text FROM events")
        .fetch_all(app.pool())
        .await
        .unwrap();
    assert!(
        stored.iter().all(|(d,)| leaks(d).is_empty()),
        "plaintext at rest"
    );
    let stream = app
        .get(
            &format!("/audit/streams/customer-{}", WANJIRU.id),
            Some(&auditor),
        )
        .await;
    assert_eq!(stream.ok(200)[0]["data"]["name"], WANJIRU.name);
    assert_eq!(stream.body[0]["data"]["email"], WANJIRU.email);
    let last = last_appended(&app).await;
    assert!(
        app.state
            .wait_for_position(last, None, Duration::from_secs(20))
            .await
            .unwrap()
    );
    let (phone,): (String,) = sqlx::query_as("SELECT phone FROM orders WHERE id = $1")
        .bind(paid.order_id)
        .fetch_one(app.pool())
        .await
        .unwrap();
    assert_eq!(phone, "254711223344", "read models get plaintext");
    let count_before: (i64,) = sqlx::query_as("SELECT count(*) FROM events")
        .fetch_one(app.pool())
        .await
        .unwrap();

    // The account is closed (whoever appends AccountClosed; the store shreds).
    let closed = customer::close(
        &fold::<Customer>(store, &StreamId::customer(WANJIRU.id)).await,
        &customer::Close { now: Utc::now() },
    )
    .unwrap();
    let r = emit(
        store,
        &StreamId::customer(WANJIRU.id),
        &closed,
        &user_metadata(admin_id, "admin", Uuid::now_v7()),
    )
    .await;
    assert!(
        app.state
            .wait_for_position(r.last, None, Duration::from_secs(20))
            .await
            .unwrap()
    );

    let count_after: (i64,) = sqlx::query_as("SELECT count(*) FROM events")
        .fetch_one(app.pool())
        .await
        .unwrap();
    assert_eq!(count_after.0, count_before.0 + 1, "every past event stays");
    let report = app.get("/audit/verify", Some(&auditor)).await;
    assert_eq!(report.ok(200)["ok"], true, "{}", report.text);

    let order = paid.order_id;
    let mut seen = String::new();
    for path in [
        format!("/audit/streams/customer-{}", WANJIRU.id),
        format!("/audit/streams/order-{order}"),
        format!("/audit/orders/{order}/history"),
        format!("/audit/orders/{order}"),
        "/audit/events".to_owned(),
    ] {
        let reply = app.get(&path, Some(&auditor)).await;
        assert_eq!(reply.status, 200, "{path}: {}", reply.text);
        seen.push_str(&reply.text);
    }
    let events = count_after.0 as usize;
    seen.push_str(&live_text(&app, &auditor, events).await);
    seen.push_str(&database_rows(&app).await);
    assert!(leaks(&seen).is_empty(), "still visible: {:?}", leaks(&seen));

    // What stays: the order's amounts and items, the events, and the erasure marker.
    let at = app
        .get(&format!("/audit/orders/{order}"), Some(&admin))
        .await;
    let at = at.ok(200);
    assert_eq!(at["total"], 500_000);
    assert_eq!(at["items"][0]["name"], "Kettle");
    assert_eq!(at["status"], "paid");
    assert_eq!(at["phone"], "[erased]");
    let stream = app
        .get(
            &format!("/audit/streams/customer-{}", WANJIRU.id),
            Some(&admin),
        )
        .await;
    let registered: &Value = &stream.ok(200)[0];
    assert_eq!(registered["data"]["name"], "[erased]");
    assert_eq!(registered["data"]["customer_id"], WANJIRU.id.to_string());
    let (rows,): (i64,) = sqlx::query_as("SELECT count(*) FROM idempotency_keys")
        .fetch_one(app.pool())
        .await
        .unwrap();
    assert_eq!(rows, 1, "only the unrelated stored response is left");
    app.stop().await;
}
