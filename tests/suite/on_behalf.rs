//! An admin acting for a customer (API.md, Cart and Checkout): the admin creates the
//! accounts, fills the customer's cart, places an order for them; the customer owns it and
//! sees it as theirs, `placed_by` and the audit history name the admin.

use reqwest::Method;
use serde_json::{Value, json};

use crate::accounts::{PASSWORD, admin, login, unique_email};
use crate::support::{Reply, TestApp};

async fn create_user(app: &TestApp, admin: &str, role: &str) -> (String, String) {
    let email = unique_email(role);
    let reply = app
        .post(
            "/users",
            Some(admin),
            json!({"email": email, "password": PASSWORD, "name": format!("A {role}"),
                   "role": role}),
        )
        .await;
    let id = reply.ok(201)["id"].as_str().unwrap().to_owned();
    let access = login(app, &email, PASSWORD).await.ok(200)["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    (id, access)
}

fn ids(page: &Value) -> Vec<&str> {
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["id"].as_str().unwrap())
        .collect()
}

#[tokio::test]
async fn an_admin_fills_a_cart_and_orders_for_a_customer() {
    // No payment reactor: the history is read while nothing else appends to the order (a
    // history read racing the sequencer of a fresh append is a known, separate problem).
    let app = TestApp::spawn_without_reactors().await;
    let (admin_id, admin_token) = admin(&app).await;
    let admin = Some(admin_token.as_str());
    let (_, seller) = create_user(&app, &admin_token, "seller").await;
    let (customer_id, customer) = create_user(&app, &admin_token, "customer").await;
    let product = app
        .post(
            "/products",
            Some(&seller),
            json!({"name": "Jiko", "category": "kitchen", "price": 350_000,
                   "initial_stock": 4}),
        )
        .await;
    let product_id = product.ok(201)["id"].as_str().unwrap().to_owned();

    let cart_items = format!("/users/{customer_id}/cart/items");
    let filled = app
        .post(
            &cart_items,
            admin,
            json!({"product_id": product_id, "quantity": 3}),
        )
        .await;
    assert_eq!(filled.ok(200)["customer_id"], customer_id.as_str());
    let changed = app
        .call(
            Method::PATCH,
            &format!("{cart_items}/{product_id}"),
            admin,
            Some(json!({"quantity": 2})),
        )
        .await;
    assert_eq!(changed.ok(200)["items"][0]["quantity"], 2);
    let position = changed.position().unwrap();
    // The customer sees the cart the admin filled as their own.
    let theirs = app.get_after("/cart", Some(&customer), position).await;
    assert_eq!(theirs.ok(200)["total"], 700_000);
    let seen = app.get(&format!("/users/{customer_id}/cart"), admin).await;
    assert_eq!(seen.ok(200)["items"], theirs.body["items"]);

    let placed = app
        .post(
            "/orders",
            admin,
            json!({"items": [{"product_id": product_id, "quantity": 1}],
                   "phone": "0712345678", "customer_id": customer_id}),
        )
        .await;
    let order = placed.ok(201).clone();
    let order_id = order["id"].as_str().unwrap();
    assert_eq!(order["customer_id"], customer_id.as_str());
    assert_eq!(order["placed_by"], admin_id.to_string());
    assert_eq!(
        placed.header("location"),
        Some(format!("/orders/{order_id}").as_str())
    );
    let position = placed.position().unwrap();
    // The customer's own order: in their list and readable by them.
    let mine = app.get_after("/orders", Some(&customer), position).await;
    assert_eq!(ids(mine.ok(200)), [order_id]);
    let read = app
        .get(&format!("/orders/{order_id}"), Some(&customer))
        .await;
    assert_eq!(read.ok(200)["placed_by"], admin_id.to_string());
    assert_eq!(
        read.body["created_at"], order["created_at"],
        "one precision"
    );
    // An admin filters by customer, with a count.
    let for_them = app
        .get(
            &format!("/orders?customer_id={customer_id}&count=true"),
            admin,
        )
        .await;
    assert_eq!(for_them.ok(200)["total"], 1);
    assert_eq!(ids(&for_them.body), [order_id]);
    let nobody = uuid::Uuid::new_v4();
    let none = app
        .get(&format!("/orders?customer_id={nobody}&count=true"), admin)
        .await;
    assert_eq!(none.ok(200)["total"], 0);

    // The audit history shows the admin as the actor of the placing, the customer as owner.
    let history = app
        .get(&format!("/audit/orders/{order_id}/history"), admin)
        .await;
    let placed_event = history
        .ok(200)
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["type"] == "OrderPlaced")
        .expect("the OrderPlaced event")
        .clone();
    assert_eq!(placed_event["metadata"]["actor_id"], admin_id.to_string());
    assert_eq!(placed_event["metadata"]["actor_role"], "admin");
    assert_eq!(placed_event["data"]["customer_id"], customer_id.as_str());
    assert_eq!(placed_event["data"]["placed_by"], admin_id.to_string());
    assert_eq!(placed_event["schema_version"], 3);

    app.call(
        Method::DELETE,
        &format!("/users/{customer_id}/cart"),
        admin,
        None,
    )
    .await
    .ok(204);
    app.stop().await;
}

#[track_caller]
fn refused(reply: &Reply, status: u16) {
    reply.problem(status);
}

#[tokio::test]
async fn only_admins_act_for_others_and_only_for_accounts_that_exist() {
    let app = TestApp::spawn().await;
    let (_, admin_token) = admin(&app).await;
    let admin = Some(admin_token.as_str());
    let (customer_id, customer) = create_user(&app, &admin_token, "customer").await;
    let (other_id, _) = create_user(&app, &admin_token, "customer").await;
    let item = json!([{"product_id": uuid::Uuid::new_v4(), "quantity": 1}]);

    let nosy = app
        .post(
            "/orders",
            Some(&customer),
            json!({"items": item, "phone": "0712345678", "customer_id": other_id}),
        )
        .await;
    refused(&nosy, 403);
    let no_customer = app
        .post(
            "/orders",
            admin,
            json!({"items": item, "phone": "0712345678"}),
        )
        .await;
    assert!(
        no_customer.problem(403)["detail"]
            .as_str()
            .unwrap()
            .contains("customer_id"),
        "{no_customer:?}"
    );
    let unknown = uuid::Uuid::new_v4();
    let for_nobody = app
        .post(
            "/orders",
            admin,
            json!({"items": item, "phone": "0712345678", "customer_id": unknown}),
        )
        .await;
    refused(&for_nobody, 404);
    refused(
        &app.get(&format!("/users/{unknown}/cart"), admin).await,
        404,
    );
    let add = json!({"product_id": uuid::Uuid::new_v4(), "quantity": 1});
    refused(
        &app.post(&format!("/users/{unknown}/cart/items"), admin, add.clone())
            .await,
        404,
    );
    refused(
        &app.get(&format!("/users/{other_id}/cart"), Some(&customer))
            .await,
        403,
    );
    refused(
        &app.post(
            &format!("/users/{other_id}/cart/items"),
            Some(&customer),
            add,
        )
        .await,
        403,
    );
    // A customer naming themselves is an ordinary order.
    let own = app
        .post(
            "/orders",
            Some(&customer),
            json!({"items": item, "phone": "0712345678", "customer_id": customer_id}),
        )
        .await;
    refused(&own, 404);
    app.stop().await;
}
