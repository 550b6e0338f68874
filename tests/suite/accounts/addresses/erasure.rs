//! Closing an account erases its address book; an order copies the default (or the named)
//! address from the aggregate.

use chrono::Utc;
use reqwest::Method;
use serde_json::json;
use tillroll::commands::CommandContext;
use tillroll::commands::addresses::address_for_order;
use uuid::Uuid;

use super::{add, book, home, id_of, patch};
use crate::accounts::{admin, register};
use crate::support::TestApp;

#[tokio::test]
async fn closing_the_account_erases_its_addresses() {
    let app = TestApp::spawn().await;
    let (_, admin_token) = admin(&app).await;
    let me = register(&app, "leaving").await;
    let added = add(&app, &me.access, home()).await;
    added.ok(201);
    let second = add(
        &app,
        &me.access,
        json!({"recipient": "Otieno Ouma", "line1": "Oginga Rd",
                                              "city": "Kisumu"}),
    )
    .await;
    let changed = patch(
        &app,
        &me.access,
        &id_of(&second),
        json!({"line2": "Flat 4"}),
    )
    .await;
    assert_eq!(
        book(&app, &me.access, changed.position().unwrap())
            .await
            .len(),
        2
    );

    let closed = app
        .call(
            Method::DELETE,
            &format!("/users/{}", me.id),
            Some(&admin_token),
            None,
        )
        .await;
    assert_eq!(closed.status, 204, "{}", closed.text);
    let position = closed.position().unwrap();
    // The read model forgets them once the projector has the closure.
    app.get_after("/me", Some(&admin_token), position).await;
    app.eventually(std::time::Duration::from_secs(10), || async {
        let (rows,): (i64,) =
            sqlx::query_as("SELECT count(*) FROM addresses WHERE customer_id = $1")
                .bind(me.id)
                .fetch_one(app.pool())
                .await
                .unwrap();
        (rows == 0).then_some(())
    })
    .await;

    // At rest the fields were sealed; now nothing of them reads back, from the store or raw.
    let stream = tillroll_events::StreamId::address_book(me.id);
    let events = app
        .state
        .store
        .read_stream(stream.as_str(), 0)
        .await
        .unwrap();
    assert_eq!(events.len(), 4, "two added, one default, one changed");
    let text = serde_json::to_string(&events.iter().map(|e| &e.data).collect::<Vec<_>>()).unwrap();
    for secret in [
        "Wanjiru",
        "Moi Avenue",
        "Otieno",
        "Oginga",
        "Flat 4",
        "254712345678",
    ] {
        assert!(!text.contains(secret), "{secret} still readable: {text}");
    }
    let raw: Vec<(String,)> = sqlx::query_as(
        "SELECT data::text FROM events WHERE stream_id = $1 ORDER BY stream_version",
    )
    .bind(stream.as_str())
    .fetch_all(app.pool())
    .await
    .unwrap();
    for (data,) in &raw {
        for secret in ["Wanjiru", "Moi Avenue", "Otieno", "Kisumu", "Nairobi"] {
            assert!(!data.contains(secret), "{secret} in clear at rest: {data}");
        }
    }
    app.stop().await;
}

#[tokio::test]
async fn an_order_copies_the_default_or_the_named_address_from_the_aggregate() {
    let app = TestApp::spawn().await;
    let me = register(&app, "orders").await;
    let other = register(&app, "stranger").await;
    let commands = &app.state.commands;
    let ctx = CommandContext::user(me.id, "customer", Utc::now());
    let copy = async |customer: Uuid, address: Option<Uuid>| {
        commands
            .run(&ctx, &[], async move |uow| {
                address_for_order(uow, customer, address).await
            })
            .await
            .map(|outcome| outcome.value)
    };
    assert!(copy(me.id, None).await.unwrap().is_none(), "an empty book");

    let home_id: Uuid = id_of(&add(&app, &me.access, home()).await).parse().unwrap();
    let office = add(
        &app,
        &me.access,
        json!({"recipient": "Kamau", "line1": "Office Park",
                                             "city": "Nairobi"}),
    )
    .await;
    let office_id: Uuid = id_of(&office).parse().unwrap();
    let default = copy(me.id, None).await.unwrap().unwrap();
    assert_eq!(default.id, home_id);
    assert_eq!(default.fields.line1, "Moi Avenue 12");
    let named = copy(me.id, Some(office_id)).await.unwrap().unwrap();
    assert_eq!(named.fields.line1, "Office Park");

    // Changed a moment ago: the aggregate has it, whatever the read model has yet.
    patch(
        &app,
        &me.access,
        &home_id.to_string(),
        json!({"line1": "Moi Avenue 99"}),
    )
    .await
    .ok(200);
    let default = copy(me.id, None).await.unwrap().unwrap();
    assert_eq!(default.fields.line1, "Moi Avenue 99");

    // Another customer's address is not theirs to ship to.
    let error = copy(other.id, Some(home_id)).await.unwrap_err();
    assert!(error.to_string().contains("not found"), "{error}");
    app.stop().await;
}
