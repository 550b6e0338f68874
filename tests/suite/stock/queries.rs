//! `GET /stock` and `GET /products/{id}/stock`.

use serde_json::{Value, json};
use tillroll::auth::Role;
use uuid::Uuid;

use crate::catalog::{fields, set, token};
use crate::support::TestApp;
use crate::support::catalog::list_product_at;

#[tokio::test]
async fn stock_lists_a_sellers_own_products_or_all_for_an_admin() {
    let app = TestApp::spawn().await;
    let (seller, seller_id) = token(&app, Role::Seller);
    let (admin, _) = token(&app, Role::Admin);
    let other_seller = Uuid::new_v4();
    let mut mine = Vec::new();
    let mut position = 0;
    for (i, on_hand) in [0, 3, 8, 20, 1].into_iter().enumerate() {
        let (id, at) = list_product_at(
            &app,
            seller_id,
            &format!("Mine {i}"),
            "kitchen",
            1000,
            on_hand,
        )
        .await;
        mine.push((id, on_hand));
        position = position.max(at);
    }
    let (theirs, at) = list_product_at(&app, other_seller, "Theirs", "kitchen", 1000, 2).await;
    position = position.max(at);
    mine.sort();

    let list = |token: String, query: &'static str| {
        let app = &app;
        async move {
            app.get_after(&format!("/stock{query}"), Some(&token), position)
                .await
                .ok(200)
                .clone()
        }
    };
    let page = list(seller.clone(), "").await;
    let expected: Vec<Value> = mine
        .iter()
        .map(|(id, n)| json!({"product_id": id, "on_hand": n, "reserved": 0, "available": n}))
        .collect();
    assert_eq!(page["items"], json!(expected), "own products, by id");
    assert_eq!(page["next_cursor"], Value::Null);

    let low = list(seller.clone(), "?below=3").await;
    let low_ids: Vec<&Value> = low["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| &s["on_hand"])
        .collect();
    assert_eq!(low_ids.len(), 2);
    assert!(low_ids.iter().all(|n| n.as_i64().unwrap() < 3));

    let all = list(admin.clone(), "").await;
    assert_eq!(all["items"].as_array().unwrap().len(), 6);
    assert!(
        all["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["product_id"] == theirs.to_string())
    );

    let mut seen = Vec::new();
    let mut path = "/stock?limit=2".to_owned();
    loop {
        let page = app.get(&path, Some(&admin)).await.ok(200).clone();
        seen.extend(
            page["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|s| s["product_id"].clone()),
        );
        assert!(seen.len() <= 12, "paging does not end: {seen:?}");
        match page["next_cursor"].as_str() {
            Some(cursor) => path = format!("/stock?limit=2&cursor={cursor}"),
            None => break,
        }
    }
    // Every product exactly once, in the listing's order: no page repeats or skips one.
    let mut every: Vec<Uuid> = mine.iter().map(|(id, _)| *id).collect();
    every.push(theirs);
    every.sort();
    let every: Vec<Value> = every.iter().map(|id| json!(id)).collect();
    assert_eq!(seen, every);

    app.get("/stock", None).await.problem(401);
    for role in [Role::Customer, Role::Auditor] {
        app.get("/stock", Some(&token(&app, role).0))
            .await
            .problem(403);
    }
    for (query, field) in [
        ("below=x", "below"),
        ("limit=0", "limit"),
        ("cursor=%%", "cursor"),
    ] {
        let reply = app.get(&format!("/stock?{query}"), Some(&admin)).await;
        assert_eq!(fields(&reply), set(&[field]), "{query}");
    }
    app.get(&format!("/products/{}/stock", Uuid::new_v4()), None)
        .await
        .problem(404);
    app.stop().await;
}
