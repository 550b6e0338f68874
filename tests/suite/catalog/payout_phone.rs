//! `payout_phone` in `product` (API.md, Sellers): the product's seller and admins see it, on
//! command answers and queries; anyone else never sees the field.

use reqwest::Method;
use serde_json::{Value, json};
use tillroll::auth::Role;

use crate::money::token;
use crate::support::TestApp;

fn has_phone(product: &Value) -> Option<&Value> {
    product.as_object().unwrap().get("payout_phone")
}

#[tokio::test]
async fn only_the_seller_and_admins_see_the_payout_phone() {
    let app = TestApp::spawn_without_reactors().await;
    let (_, seller) = token(&app, Role::Seller);
    let (_, other_seller) = token(&app, Role::Seller);
    let (_, buyer) = token(&app, Role::Customer);
    let (_, admin) = token(&app, Role::Admin);
    let created = app
        .post(
            "/products",
            Some(&seller),
            json!({"name": "Jiko", "category": "kitchen", "price": 350_000,
                   "payout_phone": "0711 000 001"}),
        )
        .await;
    let product = created.ok(201).clone();
    assert_eq!(has_phone(&product), Some(&json!("254711000001")));
    let id = product["id"].as_str().unwrap().to_owned();
    let path = format!("/products/{id}");
    let patched = app
        .call(
            Method::PATCH,
            &path,
            Some(&admin),
            Some(json!({"price": 360_000})),
        )
        .await;
    assert_eq!(has_phone(patched.ok(200)), Some(&json!("254711000001")));
    let position = patched.position().unwrap();

    for (viewer, sees) in [
        (Some(seller.as_str()), true),
        (Some(admin.as_str()), true),
        (Some(other_seller.as_str()), false),
        (Some(buyer.as_str()), false),
        (None, false),
    ] {
        let one = app.get_after(&path, viewer, position).await;
        let expected = sees.then(|| json!("254711000001"));
        assert_eq!(has_phone(one.ok(200)).cloned(), expected, "{viewer:?}");
        let listed = app
            .get_after("/products?category=kitchen", viewer, position)
            .await;
        let item = &listed.ok(200)["items"][0];
        assert_eq!(item["id"], id.as_str());
        assert_eq!(has_phone(item).cloned(), expected);
        let home = app.get_after("/home", viewer, position).await;
        let item = &home.ok(200)["kitchen"][0];
        assert_eq!(has_phone(item).cloned(), expected);
    }

    // Without a payout phone of its own, its seller sees null (the profile phone is used).
    let plain = app
        .post(
            "/products",
            Some(&seller),
            json!({"name": "Sufuria", "category": "kitchen", "price": 90_000}),
        )
        .await;
    assert_eq!(has_phone(plain.ok(201)), Some(&Value::Null));
}
