//! Every failure of the HTTP skeleton is `application/problem+json` with the right status:
//! axum's own rejections (bad JSON, wrong types, wrong content type, too large) included.

use reqwest::Method;
use serde_json::json;

use crate::support::TestApp;

#[tokio::test]
async fn json_rejections_are_problems_naming_the_field() {
    let app = TestApp::spawn().await;
    let url = app.url("/auth/register");

    let malformed = app
        .client
        .post(&url)
        .header("content-type", "application/json")
        .body("{\"email\": ")
        .send()
        .await
        .unwrap();
    TestApp::read(malformed).await.problem(400);

    let wrong_type = app
        .post(
            "/auth/register",
            None,
            json!({"email": 42, "password": "long enough", "name": "A"}),
        )
        .await;
    let body = wrong_type.problem(400);
    assert_eq!(body["errors"][0]["field"], "email", "{body}");

    let missing = app
        .post("/auth/register", None, json!({"email": "a@example.com"}))
        .await;
    let body = missing.problem(400);
    assert_eq!(body["errors"][0]["field"], "password", "{body}");

    let text = app
        .client
        .post(&url)
        .header("content-type", "text/plain")
        .body("hello")
        .send()
        .await
        .unwrap();
    TestApp::read(text).await.problem(415);

    let huge = "x".repeat(2 * 1024 * 1024);
    let too_large = app
        .client
        .post(&url)
        .header("content-type", "application/json")
        .body(format!("{{\"email\": \"{huge}\"}}"))
        .send()
        .await
        .unwrap();
    TestApp::read(too_large).await.problem(413);
    app.stop().await;
}

#[tokio::test]
async fn bad_headers_and_paths_are_problems() {
    let app = TestApp::spawn().await;
    let bogus = app
        .client
        .get(app.url("/products"))
        .header("X-Min-Position", "soon")
        .send()
        .await
        .unwrap();
    let body = TestApp::read(bogus).await;
    assert_eq!(body.problem(400)["errors"][0]["field"], "X-Min-Position");
    let unknown = app
        .client
        .get(app.url("/products"))
        .header("X-Min-Position", "999999999")
        .send()
        .await
        .unwrap();
    TestApp::read(unknown).await.problem(400);
    app.get("/products/not-a-uuid", None).await.problem(404);
    app.call(Method::GET, "/me", Some("not-a-token"), None)
        .await
        .problem(401);
    app.get("/me", None).await.problem(401);
    let key = "k".repeat(256);
    let long_key = app
        .client
        .post(app.url("/auth/login"))
        .header("Idempotency-Key", key)
        .json(&json!({"email": "a@example.com", "password": "whatever1"}))
        .send()
        .await
        .unwrap();
    let body = TestApp::read(long_key).await;
    assert_eq!(body.problem(400)["errors"][0]["field"], "Idempotency-Key");
    app.stop().await;
}
