//! `PUT /products/{id}/stock` and `POST /products/{id}/stock/adjustments`.

use chrono::Utc;
use reqwest::Method;
use serde_json::{Value, json};
use tillroll::auth::Role;
use tillroll::commands::{CommandContext, CommandError};
use tillroll::domain::stock::{self, Reserve, Stock};
use tillroll_events::StreamId;
use uuid::Uuid;

use crate::catalog::{create, delete, fields, kettle, set, token};
use crate::support::TestApp;

fn id_of(body: &Value) -> Uuid {
    body["id"].as_str().unwrap().parse().unwrap()
}

async fn put_stock(
    app: &TestApp,
    id: Uuid,
    token: Option<&str>,
    body: Value,
) -> crate::support::Reply {
    app.call(
        Method::PUT,
        &format!("/products/{id}/stock"),
        token,
        Some(body),
    )
    .await
}

async fn adjust(
    app: &TestApp,
    id: Uuid,
    token: Option<&str>,
    body: Value,
) -> crate::support::Reply {
    app.call(
        Method::POST,
        &format!("/products/{id}/stock/adjustments"),
        token,
        Some(body),
    )
    .await
}

/// Holds `quantity` for a made-up order, through the stock decider as checkout does.
async fn reserve(app: &TestApp, product_id: Uuid, quantity: i64) {
    let stream = StreamId::stock(product_id);
    let ctx = CommandContext::system(Uuid::now_v7(), Utc::now());
    let cmd = Reserve {
        product_id,
        order_id: Uuid::now_v7(),
        quantity,
    };
    app.state
        .commands
        .run_boxed(&ctx, std::slice::from_ref(&stream), |uow| {
            let (stream, cmd) = (stream.clone(), cmd.clone());
            Box::pin(async move {
                let (state, _) = uow.load::<Stock>(&stream).await?;
                let events = stock::reserve(&state, &cmd).map_err(CommandError::from)?;
                uow.append::<Stock>(&stream, events);
                Ok(())
            })
        })
        .await
        .expect("reserved");
}

#[tokio::test]
async fn the_owner_counts_and_adjusts_stock() {
    let app = TestApp::spawn().await;
    let (seller, _) = token(&app, Role::Seller);
    let id = id_of(create(&app, &seller, kettle()).await.ok(201));

    let counted = put_stock(&app, id, Some(&seller), json!({"on_hand": 12})).await;
    assert_eq!(
        counted.ok(200),
        &json!({"product_id": id, "on_hand": 12, "reserved": 0, "available": 12})
    );
    assert!(counted.position().is_some());

    let adjusted = adjust(
        &app,
        id,
        Some(&seller),
        json!({"delta": -2, "reason": "broken"}),
    )
    .await;
    assert_eq!(
        adjusted.ok(200),
        &json!({"product_id": id, "on_hand": 10, "reserved": 0, "available": 10})
    );
    let path = format!("/products/{id}/stock");
    let read = app
        .get_after(&path, None, adjusted.position().unwrap())
        .await;
    assert_eq!(read.ok(200), adjusted.ok(200));
    let product = app.get(&format!("/products/{id}"), None).await;
    assert_eq!(
        product.ok(200)["stock"],
        json!({"on_hand": 10, "reserved": 0, "available": 10})
    );

    let (admin, _) = token(&app, Role::Admin);
    let by_admin = adjust(
        &app,
        id,
        Some(&admin),
        json!({"delta": 5, "reason": "delivery"}),
    )
    .await;
    assert_eq!(by_admin.ok(200)["on_hand"], 15);
    let unchanged = put_stock(&app, id, Some(&seller), json!({"on_hand": 15})).await;
    assert_eq!(unchanged.ok(200)["on_hand"], 15);
    assert_eq!(unchanged.position(), None);
    app.stop().await;
}

#[tokio::test]
async fn stock_promised_to_orders_cannot_be_counted_away() {
    let app = TestApp::spawn().await;
    let (seller, _) = token(&app, Role::Seller);
    let id = id_of(create(&app, &seller, kettle()).await.ok(201));
    reserve(&app, id, 4).await;

    let reply = put_stock(&app, id, Some(&seller), json!({"on_hand": 3})).await;
    let problem = reply.problem(409);
    assert_eq!(problem["reserved"], 4);
    assert_eq!(problem["product_id"], json!(id));
    assert_eq!(problem["name"], "Electric kettle");
    let adjusted = adjust(
        &app,
        id,
        Some(&seller),
        json!({"delta": -2, "reason": "theft"}),
    )
    .await;
    let problem = adjusted.problem(409);
    assert_eq!(
        (&problem["product_id"], &problem["name"]),
        (&json!(id), &json!("Electric kettle"))
    );
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .starts_with("Electric kettle: ")
    );
    let ok = adjust(
        &app,
        id,
        Some(&seller),
        json!({"delta": -1, "reason": "theft"}),
    )
    .await;
    assert_eq!(
        ok.ok(200),
        &json!({"product_id": id, "on_hand": 4, "reserved": 4, "available": 0})
    );
    let read = app
        .get_after(
            &format!("/products/{id}/stock"),
            None,
            ok.position().unwrap(),
        )
        .await;
    assert_eq!(read.ok(200), ok.ok(200));
    let listing = app.get("/products?in_stock=true", None).await;
    assert_eq!(listing.ok(200)["items"], json!([]), "nothing available");
    app.stop().await;
}

#[tokio::test]
async fn stock_commands_check_who_and_what() {
    let app = TestApp::spawn().await;
    let (seller, _) = token(&app, Role::Seller);
    let (other, _) = token(&app, Role::Seller);
    let (customer, _) = token(&app, Role::Customer);
    let (auditor, _) = token(&app, Role::Auditor);
    let id = id_of(create(&app, &seller, kettle()).await.ok(201));
    let count = json!({"on_hand": 1});
    let delta = json!({"delta": 1, "reason": "found"});

    put_stock(&app, id, None, count.clone()).await.problem(401);
    adjust(&app, id, None, delta.clone()).await.problem(401);
    for t in [&other, &customer, &auditor] {
        put_stock(&app, id, Some(t), count.clone())
            .await
            .problem(403);
        adjust(&app, id, Some(t), delta.clone()).await.problem(403);
    }
    put_stock(&app, Uuid::new_v4(), Some(&seller), count.clone())
        .await
        .problem(404);
    adjust(&app, Uuid::new_v4(), Some(&seller), delta.clone())
        .await
        .problem(404);

    let cases = [
        (json!({"on_hand": -1}), vec!["on_hand"]),
        (json!({"on_hand": "7"}), vec!["on_hand"]),
        (json!({}), vec!["on_hand"]),
        (json!({"on_hand": 1, "reserved": 0}), vec!["reserved"]),
    ];
    for (body, expected) in cases {
        let reply = put_stock(&app, id, Some(&seller), body.clone()).await;
        assert_eq!(fields(&reply), set(&expected), "{body}");
    }
    let cases = [
        (json!({"delta": 1, "reason": "  "}), vec!["reason"]),
        (json!({"delta": 1}), vec!["reason"]),
        (json!({"reason": "x"}), vec!["delta"]),
        (json!({"delta": 0.5, "reason": "x"}), vec!["delta"]),
        (json!({"delta": i64::MAX, "reason": "x"}), vec!["delta"]),
    ];
    for (body, expected) in cases {
        let reply = adjust(&app, id, Some(&seller), body.clone()).await;
        assert_eq!(fields(&reply), set(&expected), "{body}");
    }

    assert_eq!(delete(&app, id, Some(&seller)).await.status, 204);
    put_stock(&app, id, Some(&seller), count).await.problem(404);
    adjust(&app, id, Some(&seller), delta).await.problem(404);
    app.stop().await;
}

#[tokio::test]
async fn an_adjustment_with_an_idempotency_key_happens_once() {
    let app = TestApp::spawn().await;
    let (seller, _) = token(&app, Role::Seller);
    let id = id_of(create(&app, &seller, kettle()).await.ok(201));
    let send = || {
        app.client
            .post(app.url(&format!("/products/{id}/stock/adjustments")))
            .bearer_auth(&seller)
            .header("idempotency-key", "delivery-42")
            .json(&json!({"delta": 10, "reason": "delivery"}))
            .send()
    };
    let first = TestApp::read(send().await.unwrap()).await;
    let second = TestApp::read(send().await.unwrap()).await;
    assert_eq!(first.ok(200)["on_hand"], 15);
    assert_eq!(second.ok(200), first.ok(200));
    let events = app
        .state
        .store
        .read_stream(StreamId::stock(id).as_str(), 0)
        .await
        .unwrap();
    assert_eq!(events.len(), 2, "StockLevelSet and one StockAdjusted");
    app.stop().await;
}
