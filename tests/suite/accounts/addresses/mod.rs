//! The address book over HTTP: `GET/POST /me/addresses`, `PATCH/DELETE /me/addresses/{id}`;
//! the default rules, someone else's address and the 400s. `erasure`: closing the account, and
//! the address an order copies (read from the aggregate).

mod erasure;

use reqwest::Method;
use serde_json::{Value, json};

use super::register;
use crate::support::{Reply, TestApp};

pub(super) fn home() -> Value {
    json!({"label": "Home", "recipient": "Wanjiru Kamau", "phone": "0712 345 678",
           "line1": "Moi Avenue 12", "city": "Nairobi", "postal_code": "00100"})
}

pub(super) async fn add(app: &TestApp, token: &str, body: Value) -> Reply {
    app.post("/me/addresses", Some(token), body).await
}

pub(super) async fn patch(app: &TestApp, token: &str, id: &str, body: Value) -> Reply {
    let path = format!("/me/addresses/{id}");
    app.call(Method::PATCH, &path, Some(token), Some(body))
        .await
}

pub(super) async fn delete(app: &TestApp, token: &str, id: &str) -> Reply {
    let path = format!("/me/addresses/{id}");
    app.call(Method::DELETE, &path, Some(token), None).await
}

/// The book as `GET /me/addresses` reads it after `position`: (id, default) in order.
pub(super) async fn book(app: &TestApp, token: &str, position: i64) -> Vec<(String, bool)> {
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

pub(super) fn id_of(reply: &Reply) -> String {
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
