//! Who may do what to a product: 401 without a token, 403 for the wrong role or another
//! seller's product, 404 for unknown ones; and the routes in the OpenAPI document.

use serde_json::{Value, json};
use tillroll::auth::Role;
use uuid::Uuid;

use super::{create, delete, kettle, patch, token};
use crate::support::TestApp;

fn id_of(body: &Value) -> Uuid {
    body["id"].as_str().unwrap().parse().unwrap()
}

#[tokio::test]
async fn only_sellers_and_admins_list_products() {
    let app = TestApp::spawn().await;
    app.post("/products", None, kettle()).await.problem(401);
    app.post("/products", Some("not.a.token"), kettle())
        .await
        .problem(401);
    for role in [Role::Customer, Role::Auditor] {
        let (t, _) = token(&app, role);
        create(&app, &t, kettle()).await.problem(403);
    }
    let (admin, admin_id) = token(&app, Role::Admin);
    let product = create(&app, &admin, kettle()).await.ok(201).clone();
    assert_eq!(product["seller_id"], admin_id.to_string());
    app.stop().await;
}

#[tokio::test]
async fn only_the_owner_or_an_admin_changes_a_product() {
    let app = TestApp::spawn().await;
    let (seller, _) = token(&app, Role::Seller);
    let (other, _) = token(&app, Role::Seller);
    let (customer, _) = token(&app, Role::Customer);
    let (auditor, _) = token(&app, Role::Auditor);
    let (admin, _) = token(&app, Role::Admin);
    let id = id_of(create(&app, &seller, kettle()).await.ok(201));
    let body = json!({"price": 100});

    patch(&app, id, None, body.clone()).await.problem(401);
    patch(&app, id, Some(&other), body.clone())
        .await
        .problem(403);
    patch(&app, id, Some(&customer), body.clone())
        .await
        .problem(403);
    patch(&app, id, Some(&auditor), body.clone())
        .await
        .problem(403);
    delete(&app, id, Some(&other)).await.problem(403);
    delete(&app, id, Some(&customer)).await.problem(403);
    let by_admin = patch(&app, id, Some(&admin), body.clone()).await;
    assert_eq!(by_admin.ok(200)["price"], 100);

    patch(&app, Uuid::new_v4(), Some(&admin), body.clone())
        .await
        .problem(404);
    app.call(
        reqwest::Method::PATCH,
        "/products/not-a-uuid",
        Some(&admin),
        Some(body),
    )
    .await
    .problem(404);
    app.stop().await;
}

#[tokio::test]
async fn catalog_routes_are_in_the_openapi_document() {
    let app = TestApp::spawn().await;
    let spec = app.get("/openapi.json", None).await;
    let paths = &spec.ok(200)["paths"];
    for (path, methods) in [
        ("/products", &["get", "post"][..]),
        ("/products/{id}", &["get", "patch", "delete"]),
        ("/products/{id}/image", &["put"]),
        ("/products/{id}/stock", &["get", "put"]),
        ("/products/{id}/stock/adjustments", &["post"]),
        ("/stock", &["get"]),
        ("/categories", &["get"]),
        ("/home", &["get"]),
        ("/images/{id}", &["get"]),
    ] {
        for method in methods {
            assert!(paths[path].get(*method).is_some(), "{method} {path}");
        }
    }
    app.stop().await;
}
