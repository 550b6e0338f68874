//! The catalog over HTTP: listing, changing, withdrawing products and their pictures
//! (`products`), search, filters, sorts and pages (`search`), images (`images`).

mod access;
mod images;
mod pages;
mod payout_phone;
mod products;
mod search;

use std::collections::BTreeSet;
use std::time::Duration;

use chrono::Utc;
use reqwest::Method;
use serde_json::{Value, json};
use tillroll::auth::Role;
use uuid::Uuid;

use crate::support::{Reply, TestApp};

/// An access token for a new user of `role`, issued directly (no accounts needed).
pub fn token(app: &TestApp, role: Role) -> (String, Uuid) {
    let id = Uuid::new_v4();
    let token = app
        .state
        .jwt
        .issue(id, role, Utc::now(), Duration::from_secs(900))
        .expect("a token is issued");
    (token, id)
}

pub fn kettle() -> Value {
    json!({
        "name": "Electric kettle",
        "description": "1.7 litres, boils fast",
        "category": "kitchen",
        "price": 249_900,
        "initial_stock": 5,
    })
}

pub async fn create(app: &TestApp, token: &str, body: Value) -> Reply {
    app.post("/products", Some(token), body).await
}

pub async fn patch(app: &TestApp, id: Uuid, token: Option<&str>, body: Value) -> Reply {
    app.call(Method::PATCH, &format!("/products/{id}"), token, Some(body))
        .await
}

pub async fn delete(app: &TestApp, id: Uuid, token: Option<&str>) -> Reply {
    app.call(Method::DELETE, &format!("/products/{id}"), token, None)
        .await
}

/// The ids of a page's items, in order.
pub fn ids(page: &Value) -> Vec<Uuid> {
    page["items"]
        .as_array()
        .expect("a page has items")
        .iter()
        .map(|p| p["id"].as_str().unwrap().parse().unwrap())
        .collect()
}

/// Asserts a 400 whose `errors` name exactly these fields.
#[track_caller]
pub fn fields(reply: &Reply) -> BTreeSet<String> {
    let body = reply.problem(400);
    body["errors"]
        .as_array()
        .unwrap_or_else(|| panic!("no errors in {body}"))
        .iter()
        .map(|e| e["field"].as_str().unwrap().to_owned())
        .collect()
}

pub fn set(names: &[&str]) -> BTreeSet<String> {
    names.iter().map(|s| (*s).to_owned()).collect()
}
