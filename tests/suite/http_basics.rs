//! The skeleton's HTTP behaviour: ops routes, problem+json for every error path, OpenAPI.

use reqwest::Method;
use serde_json::Value;

use crate::support::TestApp;

#[tokio::test]
async fn ops_routes_answer() {
    let app = TestApp::spawn().await;
    let root = app.get("/", None).await;
    assert_eq!(root.ok(200)["name"], "tillroll");
    app.get("/health", None).await.ok(200);
    let ready = app
        .eventually(std::time::Duration::from_secs(10), || async {
            let r = app.get("/ready", None).await;
            (r.status == 200).then_some(r)
        })
        .await;
    assert_eq!(ready.body["ready"], true);
    let metrics = app.get("/metrics", None).await;
    assert_eq!(metrics.status, 200);
    assert!(
        metrics
            .text
            .contains("tillroll_http_request_duration_seconds")
    );
    let docs = app.get("/docs", None).await;
    assert!(docs.text.contains("swagger-ui-bundle.js"));
    let js = app.get("/docs/swagger-ui-bundle.js", None).await;
    assert_eq!(js.status, 200);
    assert!(js.text.len() > 100_000);
    assert!(app.get("/", None).await.header("x-request-id").is_some());
    app.stop().await;
}

#[tokio::test]
async fn unknown_routes_and_methods_are_problems() {
    let app = TestApp::spawn().await;
    app.get("/no/such/route", None).await.problem(404);
    app.call(Method::DELETE, "/health", None, None)
        .await
        .problem(405);
    app.stop().await;
}

#[tokio::test]
async fn openapi_is_3_1_and_lists_the_routes() {
    let app = TestApp::spawn().await;
    let spec = app.get("/openapi.json", None).await;
    let spec: &Value = spec.ok(200);
    assert!(spec["openapi"].as_str().unwrap().starts_with("3.1"));
    for path in ["/", "/health", "/ready"] {
        assert!(spec["paths"].get(path).is_some(), "{path} missing");
    }
    app.stop().await;
}
