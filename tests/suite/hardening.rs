//! Inputs and connections an attacker or a broken client sends: control characters in
//! bodies, queries and paths; wrong types; what the HTTP layer itself refuses; connections
//! that send slowly or not at all. Each is a problem+json 4xx or a closed connection, never a
//! 5xx or a connection held open.

use std::time::Duration;

use serde_json::{Value, json};
use tillroll::auth::Role;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::money::{product, token};
use crate::support::TestApp;
use crate::support::app::test_config;

#[track_caller]
fn field_problem(reply: &crate::support::Reply, field: &str) {
    let body = reply.problem(400);
    let fields: Vec<&str> = body["errors"]
        .as_array()
        .unwrap_or_else(|| panic!("no errors in {body}"))
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert!(fields.contains(&field), "{field} not named in {body}");
}

#[tokio::test]
async fn control_characters_are_a_400_naming_the_field_in_bodies_queries_and_paths() {
    let app = TestApp::spawn().await;
    let login = app
        .post(
            "/auth/login",
            None,
            json!({"email": "a\u{0}@b.c", "password": "whatever1"}),
        )
        .await;
    field_problem(&login, "email");
    assert!(login.body.get("access_token").is_none());

    field_problem(&app.get("/products?q=a%00b", None).await, "q");
    field_problem(&app.get("/products?q=a%01b", None).await, "q");

    let (_, seller) = token(&app, Role::Seller);
    let admin = token(&app, Role::Admin).1;
    let id = product(&app, "Kettle", 2_500, 3).await;
    let path = format!("/products/{id}/stock/adjustments");
    for reason in ["a\u{0}b", "a\u{1}b", "\u{7f}", "\u{85}"] {
        let reply = app
            .post(&path, Some(&admin), json!({"delta": 1, "reason": reason}))
            .await;
        field_problem(&reply, "reason");
    }
    // Text that may span lines keeps its tabs and newlines.
    let description = "Two litres.\n\tCordless.";
    let listed = app
        .post(
            "/products",
            Some(&seller),
            json!({"name": "Kettle", "description": description,
                   "category": "kitchen", "price": 2_500}),
        )
        .await;
    assert_eq!(
        listed.ok(201)["description"],
        description,
        "{}",
        listed.text
    );

    let auditor = token(&app, Role::Auditor).1;
    field_problem(
        &app.get("/audit/events?type=%00", Some(&auditor)).await,
        "type",
    );
    field_problem(
        &app.get("/audit/streams/order-%00", Some(&auditor)).await,
        "stream_id",
    );
    field_problem(&app.get("/images/a%00b", None).await, "id");
    app.stop().await;
}

#[tokio::test]
async fn every_wrong_type_is_named_in_the_apis_words() {
    let app = TestApp::spawn().await;
    let (_, seller) = token(&app, Role::Seller);
    let reply = app
        .post(
            "/auth/register",
            None,
            json!({"email": 42, "password": ["x"], "name": "A", "phone": 7}),
        )
        .await;
    let body = reply.problem(400);
    let errors = body["errors"].as_array().unwrap();
    let named: Vec<(&str, &str)> = errors
        .iter()
        .map(|e| (e["field"].as_str().unwrap(), e["message"].as_str().unwrap()))
        .collect();
    assert_eq!(
        named,
        [
            ("email", "must be a string"),
            ("password", "must be a string"),
            ("phone", "must be a string")
        ],
        "{body}"
    );
    let text = body.to_string();
    for parser_words in [
        "line ",
        "column",
        "expected",
        "invalid type",
        "i64",
        "serde",
    ] {
        assert!(!text.contains(parser_words), "{parser_words} in {text}");
    }

    let products = app
        .post(
            "/products",
            Some(&seller),
            json!({"name": "Kettle", "category": "kitchen", "price": "cheap"}),
        )
        .await;
    let body = products.problem(400);
    assert_eq!(body["errors"][0]["field"], "price", "{body}");
    assert!(!body.to_string().contains("expected i64"), "{body}");

    let malformed = app
        .client
        .post(app.url("/auth/login"))
        .header("content-type", "application/json")
        .body("{\"email\": \"a@b.c\",, }")
        .send()
        .await
        .unwrap();
    let malformed = TestApp::read(malformed).await;
    let detail = malformed.problem(400)["detail"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        detail.starts_with("the body is not well-formed JSON"),
        "{detail}"
    );

    let limit = app.get("/products?limit=many", None).await;
    let body = limit.problem(400);
    assert_eq!(body["errors"][0]["field"], "limit", "{body}");
    let message = body["errors"][0]["message"].as_str().unwrap();
    assert!(message.starts_with("must be"), "{body}");
    let in_stock = app.get("/products?in_stock=sometimes", None).await;
    let body = in_stock.problem(400);
    assert_eq!(body["errors"][0]["field"], "in_stock", "{body}");
    assert!(!body.to_string().contains("`true`"), "{body}");
    let unknown = app.get("/products?colour=red", None).await;
    assert_eq!(unknown.problem(400)["errors"][0]["field"], "colour");

    let not_an_id = app.get("/products/42", None).await;
    let detail = not_an_id.problem(404)["detail"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        !detail.contains("UUID") && !detail.contains("parsing"),
        "{detail}"
    );
    app.stop().await;
}

/// Sends raw bytes and reads the whole answer (the server closes after it).
async fn raw(app: &TestApp, request: &[u8]) -> (u16, String, Value) {
    let addr = app.base.trim_start_matches("http://");
    let mut stream = TcpStream::connect(addr).await.unwrap();
    // The server may answer (and close) before it has read everything: ignore write errors.
    let _ = stream.write_all(request).await;
    let mut answer = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut answer));
    let _ = read.await.expect("the server answers and closes");
    let text = String::from_utf8_lossy(&answer).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .get(9..12)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {text:?}"));
    let head = head.to_ascii_lowercase();
    assert!(
        head.contains("content-type: application/problem+json"),
        "{text}"
    );
    let body: Value = serde_json::from_str(body).unwrap_or_else(|_| panic!("no JSON body: {text}"));
    assert_eq!(body["status"], status, "{text}");
    (status, head, body)
}

#[tokio::test]
async fn the_http_layers_own_refusals_are_problems() {
    let app = TestApp::spawn().await;
    let long_path = format!("GET /{} HTTP/1.1\r\nHost: x\r\n\r\n", "a".repeat(100_000));
    assert_eq!(raw(&app, long_path.as_bytes()).await.0, 414);
    let mut many = String::from("GET /health HTTP/1.1\r\nHost: x\r\n");
    for i in 0..1_000 {
        many.push_str(&format!("X-Filler-{i}: y\r\n"));
    }
    many.push_str("\r\n");
    assert_eq!(raw(&app, many.as_bytes()).await.0, 431);
    assert_eq!(raw(&app, b"GARBAGE\r\n\r\n").await.0, 400);
    assert_eq!(
        raw(&app, b"GET / HTTP/1.1\r\nBad Header\r\n\r\n").await.0,
        400
    );

    // A body past the limit on a route that reads bytes, not JSON.
    let huge = vec![b'x'; 2 * 1024 * 1024];
    let path = format!("/payments/mpesa/callback/{}", app.state.callback_token);
    let too_large = app
        .client
        .post(app.url(&path))
        .header("content-type", "application/json")
        .body(huge)
        .send()
        .await
        .unwrap();
    TestApp::read(too_large).await.problem(413);
    // A 401 says how to authenticate (RFC 6750).
    let unauthorised = app.get("/me", None).await;
    unauthorised.problem(401);
    assert!(
        unauthorised
            .header("www-authenticate")
            .is_some_and(|v| v.starts_with("Bearer")),
        "{:?}",
        unauthorised.headers
    );
    app.stop().await;
}

/// Reads until the server closes the connection; the time that took.
async fn closed_within(stream: &mut TcpStream, limit: Duration) -> (Duration, Vec<u8>) {
    let started = tokio::time::Instant::now();
    let mut answer = Vec::new();
    let read = tokio::time::timeout(limit, stream.read_to_end(&mut answer)).await;
    assert!(
        read.is_ok(),
        "the connection was still open after {limit:?}"
    );
    (started.elapsed(), answer)
}

#[tokio::test]
async fn slow_and_idle_connections_are_closed_at_their_deadlines() {
    let mut config = test_config();
    config.http.header_timeout = Duration::from_secs(1);
    config.http.body_timeout = Duration::from_secs(1);
    let app = TestApp::spawn_with(config, None).await;
    let addr = app.base.trim_start_matches("http://").to_owned();

    // Slowloris: a head that never ends.
    let mut slow = TcpStream::connect(&addr).await.unwrap();
    slow.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\nX-A: ")
        .await
        .unwrap();
    let (took, _) = closed_within(&mut slow, Duration::from_secs(5)).await;
    assert!(took >= Duration::from_millis(900), "closed after {took:?}");

    // A connection opened and never used.
    let mut silent = TcpStream::connect(&addr).await.unwrap();
    closed_within(&mut silent, Duration::from_secs(5)).await;

    // Keep-alive, then idle.
    let mut idle = TcpStream::connect(&addr).await.unwrap();
    idle.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let (_, answer) = closed_within(&mut idle, Duration::from_secs(5)).await;
    assert!(answer.starts_with(b"HTTP/1.1 200"), "{answer:?}");

    // A body that stops half-way: 408, and the connection closed.
    let mut partial = TcpStream::connect(&addr).await.unwrap();
    partial
        .write_all(
            b"POST /auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
              Content-Length: 100\r\n\r\n{\"email\":",
        )
        .await
        .unwrap();
    let (_, answer) = closed_within(&mut partial, Duration::from_secs(5)).await;
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("application/problem+json"), "{answer}");
    app.stop().await;
}

#[tokio::test]
async fn connections_past_the_cap_wait_for_a_free_one() {
    let mut config = test_config();
    config.http.max_connections = 2;
    let app = TestApp::spawn_with(config, None).await;
    let addr = app.base.trim_start_matches("http://").to_owned();
    let request = b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n";
    let mut held = Vec::new();
    for _ in 0..2 {
        let mut stream = TcpStream::connect(&addr).await.unwrap();
        stream.write_all(request).await.unwrap();
        let mut buf = [0; 12];
        stream.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"HTTP/1.1 200");
        held.push(stream);
    }
    // The third is accepted by the kernel but not served while the two are open.
    let mut third = TcpStream::connect(&addr).await.unwrap();
    third.write_all(request).await.unwrap();
    let mut buf = [0; 12];
    let early = tokio::time::timeout(Duration::from_millis(500), third.read_exact(&mut buf)).await;
    assert!(early.is_err(), "served past the cap");
    drop(held.pop());
    tokio::time::timeout(Duration::from_secs(5), third.read_exact(&mut buf))
        .await
        .expect("served once a connection is free")
        .unwrap();
    assert_eq!(&buf, b"HTTP/1.1 200");
    app.stop().await;
}

/// A protected command sent with an Idempotency-Key but no token is a 401, whatever an
/// anonymous request with the same key did before (schemathesis found a 409 here).
#[tokio::test]
async fn an_idempotency_key_never_answers_for_a_missing_token() {
    let app = TestApp::spawn().await;
    let send = |path: &str, body: Value| {
        app.client
            .post(app.url(path))
            .header("Idempotency-Key", "same-key")
            .json(&body)
    };
    let login = send(
        "/auth/login",
        json!({"email": "a@b.ke", "password": "whatever1"}),
    );
    TestApp::read(login.send().await.unwrap())
        .await
        .problem(401);
    for path in [
        format!("/orders/{}/deliver", uuid::Uuid::new_v4()),
        "/cart/items".to_owned(),
    ] {
        let reply = send(&path, json!({})).send().await.unwrap();
        TestApp::read(reply).await.problem(401);
    }
    app.stop().await;
}
