//! `POST /products`, `PATCH` and `DELETE /products/{id}`, `GET /products/{id}`.

use serde_json::{Value, json};
use tillroll::auth::Role;
use tillroll_events::{ProductEvent, StockEvent, StreamId};
use uuid::Uuid;

use super::{create, delete, fields, kettle, patch, set, token};
use crate::support::TestApp;

/// API.md's `product` as its seller sees it (with `payout_phone`).
const PRODUCT_FIELDS: [&str; 12] = [
    "category",
    "created_at",
    "currency",
    "description",
    "id",
    "image_url",
    "name",
    "payout_phone",
    "price",
    "seller_id",
    "stock",
    "updated_at",
];

fn id_of(body: &Value) -> Uuid {
    body["id"].as_str().unwrap().parse().unwrap()
}

#[tokio::test]
async fn a_seller_lists_a_product_and_reads_it_back() {
    let app = TestApp::spawn().await;
    let (seller, seller_id) = token(&app, Role::Seller);
    let reply = create(&app, &seller, kettle()).await;
    let product = reply.ok(201).clone();
    let keys: Vec<&str> = product
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(keys, PRODUCT_FIELDS, "exactly API.md's product");
    assert_eq!(product["name"], "Electric kettle");
    assert_eq!(product["description"], "1.7 litres, boils fast");
    assert_eq!(product["category"], "kitchen");
    assert_eq!(product["price"], 249_900);
    assert_eq!(product["currency"], "KES");
    assert_eq!(product["image_url"], Value::Null);
    assert_eq!(product["seller_id"], seller_id.to_string());
    assert_eq!(
        product["stock"],
        json!({"on_hand": 5, "reserved": 0, "available": 5})
    );
    assert_eq!(product["created_at"], product["updated_at"]);
    let id = id_of(&product);
    assert_eq!(
        reply.header("location"),
        Some(format!("/products/{id}").as_str())
    );

    let position = reply.position().expect("X-Log-Position");
    let read = app
        .get_after(&format!("/products/{id}"), Some(&seller), position)
        .await;
    assert_eq!(
        read.ok(200),
        &product,
        "the read model agrees with the answer"
    );
    app.stop().await;
}

#[tokio::test]
async fn listing_appends_product_and_stock_in_one_transaction() {
    let app = TestApp::spawn().await;
    let (seller, _) = token(&app, Role::Seller);
    let body = json!({"name": "Mug", "category": "kitchen", "price": 50_000,
        "payout_phone": "0712 345 678"});
    let product = create(&app, &seller, body).await.ok(201).clone();
    let id = id_of(&product);
    assert_eq!(product["description"], "");
    assert_eq!(
        product["stock"],
        json!({"on_hand": 0, "reserved": 0, "available": 0})
    );
    // Its seller sees the payout phone (tests/suite/catalog/payout_phone.rs: others do not).
    assert_eq!(product["payout_phone"], "254712345678");

    let listed = app
        .state
        .store
        .read_stream(StreamId::product(id).as_str(), 0)
        .await
        .unwrap();
    let stocked = app
        .state
        .store
        .read_stream(StreamId::stock(id).as_str(), 0)
        .await
        .unwrap();
    assert_eq!((listed.len(), stocked.len()), (1, 1));
    // One append: consecutive positions of one statement.
    assert_eq!(listed[0].position.abs_diff(stocked[0].position), 1);
    let ProductEvent::ProductListed { payout_phone, .. } = listed[0].decode().unwrap() else {
        panic!("not a listing: {:?}", listed[0].event_type);
    };
    assert_eq!(payout_phone.as_deref(), Some("254712345678"));
    assert_eq!(
        stocked[0].decode::<StockEvent>().unwrap(),
        StockEvent::StockLevelSet {
            product_id: id,
            on_hand: 0
        }
    );
    app.stop().await;
}

#[tokio::test]
async fn invalid_bodies_name_their_fields() {
    let app = TestApp::spawn().await;
    let (seller, _) = token(&app, Role::Seller);
    let with = |field: &str, value: Value| {
        let mut body = kettle();
        body[field] = value;
        body
    };
    let cases = [
        (with("name", json!("  ")), "name"),
        (with("name", json!(42)), "name"),
        (with("name", Value::Null), "name"),
        (with("description", json!("x".repeat(5001))), "description"),
        (with("category", json!("Home Office")), "category"),
        (with("price", json!(0)), "price"),
        (with("price", json!("249900")), "price"),
        (with("price", json!(1.5)), "price"),
        (with("currency", json!("USD")), "currency"),
        (with("initial_stock", json!(-1)), "initial_stock"),
        (with("payout_phone", json!("12345")), "payout_phone"),
        (with("colour", json!("red")), "colour"),
    ];
    for (body, field) in cases {
        let reply = create(&app, &seller, body.clone()).await;
        assert_eq!(fields(&reply), set(&[field]), "{body}");
    }
    let reply = create(&app, &seller, json!({"description": "no name"})).await;
    assert_eq!(fields(&reply), set(&["name", "category", "price"]));
    create(&app, &seller, json!([1, 2])).await.problem(400);
    let malformed = app
        .client
        .post(app.url("/products"))
        .bearer_auth(&seller)
        .header("content-type", "application/json")
        .body("{\"name\": ")
        .send()
        .await
        .unwrap();
    TestApp::read(malformed).await.problem(400);
    let not_json = app
        .client
        .post(app.url("/products"))
        .bearer_auth(&seller)
        .body("name=kettle")
        .send()
        .await
        .unwrap();
    TestApp::read(not_json).await.problem(415);
    app.stop().await;
}

#[tokio::test]
async fn the_owner_changes_details_and_price_as_separate_events() {
    let app = TestApp::spawn().await;
    let (seller, _) = token(&app, Role::Seller);
    let product = create(&app, &seller, kettle()).await.ok(201).clone();
    let id = id_of(&product);

    let reply = patch(
        &app,
        id,
        Some(&seller),
        json!({"name": "Cordless kettle", "price": 199_900, "category": "home-appliances"}),
    )
    .await;
    let changed = reply.ok(200).clone();
    assert_eq!(changed["name"], "Cordless kettle");
    assert_eq!(changed["price"], 199_900);
    assert_eq!(changed["category"], "home-appliances");
    assert_eq!(changed["description"], product["description"]);
    assert_eq!(changed["stock"], product["stock"]);
    assert_eq!(changed["created_at"], product["created_at"]);
    let time = |v: &Value| {
        v.as_str()
            .unwrap()
            .parse::<chrono::DateTime<chrono::Utc>>()
            .unwrap()
    };
    assert!(time(&changed["updated_at"]) > time(&product["updated_at"]));

    let types: Vec<String> = app
        .state
        .store
        .read_stream(StreamId::product(id).as_str(), 0)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.event_type)
        .collect();
    assert_eq!(
        types,
        [
            "ProductListed",
            "ProductDetailsChanged",
            "ProductPriceChanged"
        ]
    );
    let read = app
        .get_after(
            &format!("/products/{id}"),
            Some(&seller),
            reply.position().unwrap(),
        )
        .await;
    assert_eq!(read.ok(200), &changed);

    let same = patch(&app, id, Some(&seller), json!({"price": 199_900})).await;
    assert_eq!(same.ok(200)["price"], 199_900);
    assert_eq!(same.position(), None, "nothing changed, nothing appended");
    app.stop().await;
}

#[tokio::test]
async fn a_patch_is_validated_field_by_field() {
    let app = TestApp::spawn().await;
    let (seller, _) = token(&app, Role::Seller);
    let id = id_of(create(&app, &seller, kettle()).await.ok(201));
    let cases = [
        (json!({"initial_stock": 3}), vec!["initial_stock"]),
        (json!({"on_hand": 3}), vec!["on_hand"]),
        (json!({"price": -5, "name": ""}), vec!["price", "name"]),
        (json!({"currency": "EUR"}), vec!["currency"]),
        (json!({"category": "a_b"}), vec!["category"]),
    ];
    for (body, expected) in cases {
        let reply = patch(&app, id, Some(&seller), body.clone()).await;
        assert_eq!(fields(&reply), set(&expected), "{body}");
    }
    patch(&app, id, Some(&seller), json!("price"))
        .await
        .problem(400);
    app.stop().await;
}

#[tokio::test]
async fn a_withdrawn_product_leaves_the_catalog_but_keeps_its_history() {
    let app = TestApp::spawn().await;
    let (seller, _) = token(&app, Role::Seller);
    let id = id_of(create(&app, &seller, kettle()).await.ok(201));

    delete(&app, id, None).await.problem(401);
    let reply = delete(&app, id, Some(&seller)).await;
    assert_eq!(reply.status, 204);
    assert!(reply.text.is_empty());
    let position = reply.position().expect("X-Log-Position");

    let path = format!("/products/{id}");
    app.get_after(&path, None, position).await.problem(404);
    app.get(&format!("{path}/stock"), None).await.problem(404);
    patch(&app, id, Some(&seller), json!({"price": 1}))
        .await
        .problem(404);
    assert_eq!(delete(&app, id, Some(&seller)).await.status, 204, "again");
    delete(&app, Uuid::new_v4(), Some(&seller))
        .await
        .problem(404);
    let page = app.get("/products", None).await;
    assert_eq!(page.ok(200)["items"], json!([]));

    let history = app
        .state
        .store
        .read_stream(StreamId::product(id).as_str(), 0)
        .await
        .unwrap();
    let types: Vec<&str> = history.iter().map(|e| e.event_type.as_str()).collect();
    assert_eq!(types, ["ProductListed", "ProductWithdrawn"]);
    app.stop().await;
}

#[tokio::test]
async fn unknown_products_are_404() {
    let app = TestApp::spawn().await;
    app.get(&format!("/products/{}", Uuid::new_v4()), None)
        .await
        .problem(404);
    app.get("/products/nope", None).await.problem(404);
    app.stop().await;
}
