//! The address book over HTTP: `GET/POST /me/addresses`, `PATCH/DELETE /me/addresses/{id}`;
//! the default rules, someone else's address, the 400s, erasure on account closure, and the
//! address an order copies (read from the aggregate).

use chrono::Utc;
use reqwest::Method;
use serde_json::{Value, json};
use tillroll::commands::CommandContext;
use tillroll::commands::addresses::address_for_order;
use uuid::Uuid;

use super::{admin, register};
use crate::support::{Reply, TestApp};

fn home() -> Value {
    json!({"label": "Home", "recipient": "Wanjiru Kamau", "phone": "0712 345 678",
           "line1": "Moi Avenue 12", "city": "Nairobi", "postal_code": "00100"})
}

async fn add(app: &TestApp, token: &str, body: Value) -> Reply {
    app.post("/me/addresses", Some(token), body).await
}

async fn patch(app: &TestApp, token: &str, id: &str, body: Value) -> Reply {
    let path = format!("/me/addresses/{id}");
    app.call(Method::PATCH, &path, Some(token), Some(body))
        .await
}

async fn delete(app: &TestApp, token: &str, id: &str) -> Reply {
    let path = format!("/me/addresses/{id}");
    app.call(Method::DELETE, &path, Some(token), None).await
}

/// The book as `GET /me/addresses` reads it after `position`: (id, default) in order.
async fn book(app: &TestApp, token: &str, position: i64) -> Vec<(String, bool)> {
    let reply = app.get_after("/me/addresses", Some(token), position).await;
    reply
        .ok(200)
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["id"].as_str().unwrap().to_owned(),
                a["default"].as_bool().unwrap(),
            )
        })
        .collect()
}

fn id_of(reply: &Reply) -> String {
    reply.body["id"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn an_address_book_keeps_one_default() {
    let app = TestApp::spawn().await;
    let me = register(&app, "book").await;
    let token = me.access.as_str();
    assert!(book(&app, token, me.position).await.is_empty());

    let first = add(&app, token, home()).await;
    let body = first.ok(201).clone();
    let home_id = id_of(&first);
    assert_eq!(
        first.header("location"),
        Some(format!("/me/addresses/{home_id}").as_str())
    );
    assert_eq!(body["default"], true, "the first address is the default");
    assert_eq!(body["phone"], "254712345678", "normalised");
    assert_eq!(body["country"], "KE", "the default country");
    assert_eq!(body["line2"], Value::Null);
    assert_eq!(body["label"], "Home");

    let office = add(
        &app,
        token,
        json!({"recipient": "W. Kamau", "line1": "Kenyatta Avenue 3", "city": "Kisumu",
               "country": "UG"}),
    )
    .await;
    assert_eq!(office.ok(201)["default"], false);
    let office_id = id_of(&office);
    let listed = book(&app, token, office.position().unwrap()).await;
    assert_eq!(
        listed,
        [(home_id.clone(), true), (office_id.clone(), false)]
    );
    let reply = app
        .get_after("/me/addresses", Some(token), office.position().unwrap())
        .await;
    assert_eq!(
        reply.body[0], body,
        "the query answers what the command did"
    );

    // A third as the default moves it; PATCH default moves it back; only one at a time.
    let shop = add(
        &app,
        token,
        json!({"recipient": "Kamau", "line1": "Biashara St",
                                       "city": "Nakuru", "default": true}),
    )
    .await;
    let shop_id = id_of(&shop);
    assert_eq!(shop.ok(201)["default"], true);
    let listed = book(&app, token, shop.position().unwrap()).await;
    assert_eq!(listed.iter().filter(|(_, d)| *d).count(), 1, "{listed:?}");
    let moved = patch(&app, token, &office_id, json!({"default": true})).await;
    assert_eq!(moved.ok(200)["default"], true);
    let listed = book(&app, token, moved.position().unwrap()).await;
    assert_eq!(
        listed,
        [
            (home_id.clone(), false),
            (office_id.clone(), true),
            (shop_id.clone(), false)
        ]
    );

    // Fields change; null clears an optional one; absent ones stay.
    let changed = patch(
        &app,
        token,
        &home_id,
        json!({"line1": "Moi Avenue 14", "label": null, "region": "Nairobi County"}),
    )
    .await;
    let changed = changed.ok(200).clone();
    assert_eq!(changed["line1"], "Moi Avenue 14");
    assert_eq!(changed["label"], Value::Null);
    assert_eq!(changed["region"], "Nairobi County");
    assert_eq!(changed["recipient"], "Wanjiru Kamau");
    assert_eq!(changed["default"], false);

    // Deleting the default makes the oldest remaining one the default.
    let removed = delete(&app, token, &office_id).await;
    assert_eq!(removed.status, 204, "{}", removed.text);
    let listed = book(&app, token, removed.position().unwrap()).await;
    assert_eq!(listed, [(home_id.clone(), true), (shop_id.clone(), false)]);
    delete(&app, token, &office_id).await.problem(404);
    patch(&app, token, &office_id, json!({"city": "Eldoret"}))
        .await
        .problem(404);
    app.stop().await;
}

#[tokio::test]
async fn another_users_address_is_not_found() {
    let app = TestApp::spawn().await;
    let owner = register(&app, "owner").await;
    let other = register(&app, "other").await;
    let added = add(&app, &owner.access, home()).await;
    let id = id_of(&added);
    patch(&app, &other.access, &id, json!({"city": "Thika"}))
        .await
        .problem(404);
    delete(&app, &other.access, &id).await.problem(404);
    assert!(
        book(&app, &other.access, added.position().unwrap())
            .await
            .is_empty()
    );
    assert_eq!(
        book(&app, &owner.access, added.position().unwrap())
            .await
            .len(),
        1
    );
    app.get("/me/addresses", None).await.problem(401);
    app.stop().await;
}

#[tokio::test]
async fn invalid_fields_are_400s_naming_each() {
    let app = TestApp::spawn().await;
    let me = register(&app, "invalid").await;
    let token = me.access.as_str();
    let with = |field: &str, value: Value| {
        let mut body = home();
        body[field] = value;
        body
    };
    for (field, value) in [
        ("recipient", json!("   ")),
        ("recipient", json!("x".repeat(101))),
        ("line1", json!("Moi\u{0007}Avenue")),
        ("line2", json!("y".repeat(201))),
        ("city", json!("")),
        ("label", json!("z".repeat(51))),
        ("postal_code", json!("1".repeat(21))),
        ("phone", json!("12345")),
        ("country", json!("ke")),
        ("country", json!("ZZ")),
        ("country", json!("KEN")),
    ] {
        let reply = add(&app, token, with(field, value.clone())).await;
        let body = reply.problem(400);
        assert_eq!(body["errors"][0]["field"], field, "{field}={value}: {body}");
    }
    // Every wrong field is named at once.
    let reply = add(
        &app,
        token,
        json!({"recipient": "", "line1": "", "city": "Nairobi", "country": "xx"}),
    )
    .await;
    let fields: Vec<&str> = reply.problem(400)["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["recipient", "line1", "country"]);
    // A required field missing, an unknown one.
    add(&app, token, json!({"recipient": "A", "line1": "B"}))
        .await
        .problem(400);
    add(&app, token, with("colour", json!("red")))
        .await
        .problem(400);

    let id = id_of(&add(&app, token, home()).await);
    let reply = patch(&app, token, &id, json!({"phone": "0800"})).await;
    assert_eq!(reply.problem(400)["errors"][0]["field"], "phone");
    let reply = patch(&app, token, &id, json!({"city": " "})).await;
    assert_eq!(reply.problem(400)["errors"][0]["field"], "city");
    let reply = patch(&app, token, &id, json!({"country": "Kenya"})).await;
    assert_eq!(reply.problem(400)["errors"][0]["field"], "country");
    // As on every route, a malformed id in the path names no resource.
    app.call(
        Method::DELETE,
        "/me/addresses/not-a-uuid",
        Some(token),
        None,
    )
    .await
    .problem(404);
    app.stop().await;
}

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
