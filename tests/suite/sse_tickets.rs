//! `POST /auth/sse-ticket`: a ticket opens an SSE route once, for its own user, in place of
//! `Authorization`; a used, expired, foreign or made-up ticket is a 401 that says how to
//! authenticate. Every SSE message is named (`event:`).

use std::time::Duration;

use serde_json::json;
use tillroll::auth::Role;

use crate::money::{PHONE, customer, product, token};
use crate::support::TestApp;

async fn ticket(app: &TestApp, access: &str) -> String {
    let reply = app.post("/auth/sse-ticket", Some(access), json!({})).await;
    let body = reply.ok(200);
    assert_eq!(body["expires_in"], 60, "{body}");
    body["ticket"].as_str().unwrap().to_owned()
}

/// Opens `path` without `Authorization`; the status and, for a 200, the first SSE message.
async fn open(app: &TestApp, path: &str) -> (u16, Option<String>, reqwest::header::HeaderMap) {
    let mut response = app.client.get(app.url(path)).send().await.unwrap();
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    if status != 200 {
        return (status, None, headers);
    }
    let mut text = String::new();
    // Up to the end of the first message with data (keep-alive comments have none).
    let complete = |text: &str| {
        let ends = text.rfind("\n\n").map_or(0, |i| i);
        text[..ends].contains("data:")
    };
    while !complete(&text) {
        let chunk = tokio::time::timeout(Duration::from_secs(20), response.chunk())
            .await
            .expect("the stream sends within 20 s")
            .unwrap()
            .expect("the stream stays open");
        text.push_str(std::str::from_utf8(&chunk).unwrap());
    }
    (status, Some(text), headers)
}

#[track_caller]
fn refused(status: u16, headers: &reqwest::header::HeaderMap) {
    assert_eq!(status, 401);
    let challenge = headers["www-authenticate"].to_str().unwrap();
    assert!(challenge.starts_with("Bearer"), "{challenge}");
}

#[tokio::test]
async fn a_ticket_opens_an_order_stream_once_for_its_own_user() {
    let app = TestApp::spawn().await;
    let (_, buyer) = customer(&app);
    let id = product(&app, "Lamp", 3_000, 2).await;
    let order = app
        .post(
            "/orders",
            Some(&buyer),
            json!({"items": [{"product_id": id, "quantity": 1}], "phone": PHONE}),
        )
        .await;
    let order_id = order.ok(201)["id"].as_str().unwrap().to_owned();
    let placed: i64 = order.header("x-log-position").unwrap().parse().unwrap();
    // The stream reads the orders read model: wait until it has the order.
    app.get_after(&format!("/orders/{order_id}"), Some(&buyer), placed)
        .await
        .ok(200);
    let path = |t: &str| format!("/orders/{order_id}/events?ticket={t}");

    let first = ticket(&app, &buyer).await;
    let (status, message, _) = open(&app, &path(&first)).await;
    assert_eq!(status, 200);
    let message = message.unwrap();
    assert!(message.contains("event: tracking"), "{message}");

    // Used once: refused on any later try (the row is gone, whichever node is asked).
    let (status, _, headers) = open(&app, &path(&first)).await;
    refused(status, &headers);

    // Expired.
    let late = ticket(&app, &buyer).await;
    sqlx::query("UPDATE sse_tickets SET expires_at = now() - interval '1 second'")
        .execute(&app.state.pool)
        .await
        .unwrap();
    let (status, _, headers) = open(&app, &path(&late)).await;
    refused(status, &headers);

    // Made up.
    let (status, _, headers) = open(&app, &path("not-a-ticket")).await;
    refused(status, &headers);

    // Another user's ticket with this user's token: a ticket speaks only for its own user.
    let (_, other) = customer(&app);
    let foreign = ticket(&app, &other).await;
    let response = app
        .client
        .get(app.url(&path(&foreign)))
        .bearer_auth(&buyer)
        .send()
        .await
        .unwrap();
    refused(response.status().as_u16(), response.headers());

    // Without a token, no ticket is issued.
    let (status, headers) = {
        let reply = app.post("/auth/sse-ticket", None, json!({})).await;
        (reply.status.as_u16(), reply.headers.clone())
    };
    refused(status, &headers);
    app.stop().await;
}

#[tokio::test]
async fn the_live_feed_takes_a_ticket_and_names_every_message() {
    let app = TestApp::spawn().await;
    let (_, auditor) = token(&app, Role::Auditor);
    // Something to resume after, and something after it.
    let (_, buyer) = customer(&app);
    let first = product(&app, "Kettle", 2_500, 3).await;
    let reply = app
        .post(
            "/cart/items",
            Some(&buyer),
            json!({"product_id": first, "quantity": 1}),
        )
        .await;
    reply.ok(200);
    let after: i64 = reply.header("x-log-position").unwrap().parse().unwrap();
    app.post(
        "/cart/items",
        Some(&buyer),
        json!({"product_id": first, "quantity": 1}),
    )
    .await
    .ok(200);

    let live = ticket(&app, &auditor).await;
    let (status, message, _) = open(
        &app,
        &format!("/events/live?ticket={live}&last_event_id={after}"),
    )
    .await;
    assert_eq!(status, 200);
    let message = message.unwrap();
    let field = |name: &str| {
        message
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .unwrap_or_else(|| panic!("no {name} in {message:?}"))
            .trim()
            .to_owned()
    };
    let data: serde_json::Value = serde_json::from_str(&field("data:")).unwrap();
    assert_eq!(field("event:"), data["type"].as_str().unwrap(), "{message}");
    assert_eq!(field("event:"), "ItemAddedToCart", "{message}");

    // A customer's ticket does not make a customer an auditor.
    let customers = ticket(&app, &buyer).await;
    let (status, _, _) = open(&app, &format!("/events/live?ticket={customers}")).await;
    assert_eq!(status, 403);
    app.stop().await;
}
