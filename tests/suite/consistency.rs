//! Reading one's own write when the read model lags: `X-Min-Position` gives up after 5 s with
//! 503 and `Retry-After`, `/ready` says 503; both recover once projectors run. And CORS.

use std::time::{Duration, Instant};

use reqwest::Method;
use tillroll::config::CorsOrigins;
use uuid::Uuid;

use crate::support::TestApp;
use crate::support::app::test_config;
use crate::support::catalog::list_product_at;

#[tokio::test]
async fn a_read_model_that_cannot_catch_up_answers_503_with_retry_after() {
    let mut app = TestApp::spawn_without_projectors().await;
    let (product_id, position) =
        list_product_at(&app, Uuid::now_v7(), "Lamp", "furniture", 9_000, 3).await;
    let path = format!("/products/{product_id}");

    let started = Instant::now();
    let reply = app.get_after(&path, None, position).await;
    let waited = started.elapsed();
    reply.problem(503);
    let retry: u64 = reply
        .header("retry-after")
        .expect("a Retry-After")
        .parse()
        .expect("seconds");
    assert!(retry >= 1, "{retry}");
    // It waited for the projection (at most 5 s, API.md), not refused at once.
    assert!(
        waited >= Duration::from_secs(4),
        "answered after {waited:?}"
    );
    let ready = app.get("/ready", None).await;
    assert_eq!(ready.status, 503, "{}", ready.text);
    assert_eq!(ready.body["ready"], false);
    assert_eq!(ready.body["database"], true);

    // The projectors' lock comes free: this server takes over and the same read succeeds.
    app.release_lock().await;
    let product = app
        .eventually(Duration::from_secs(30), || async {
            let r = app.get_after(&path, None, position).await;
            (r.status == 200).then_some(r)
        })
        .await;
    assert_eq!(product.body["stock"]["on_hand"], 3);
    app.eventually(Duration::from_secs(30), || async {
        (app.get("/ready", None).await.status == 200).then_some(())
    })
    .await;
    app.stop().await;
}

#[tokio::test]
async fn browsers_on_listed_origins_may_call_the_api() {
    const ORIGIN: &str = "https://shop.example";
    let mut config = test_config();
    config.cors = CorsOrigins::List(vec![ORIGIN.to_owned()]);
    let app = TestApp::spawn_with(config, None).await;

    let preflight = |origin: &'static str| {
        app.client
            .request(Method::OPTIONS, app.url("/cart/items"))
            .header("Origin", origin)
            .header("Access-Control-Request-Method", "POST")
            .header(
                "Access-Control-Request-Headers",
                "authorization, content-type, idempotency-key",
            )
            .send()
    };
    let allowed = TestApp::read(preflight(ORIGIN).await.unwrap()).await;
    assert!(allowed.status.is_success(), "{:?}", allowed.status);
    assert_eq!(allowed.header("access-control-allow-origin"), Some(ORIGIN));
    let methods = allowed
        .header("access-control-allow-methods")
        .unwrap_or_default()
        .to_ascii_lowercase();
    assert!(methods.contains("post") || methods == "*", "{methods}");
    let headers = allowed
        .header("access-control-allow-headers")
        .unwrap_or_default()
        .to_ascii_lowercase();
    for header in ["authorization", "idempotency-key"] {
        assert!(
            headers.contains(header) || headers == "*",
            "{header} not in {headers}"
        );
    }

    // A real request from that origin: the position header is readable by the page.
    let request = app
        .client
        .get(app.url("/products"))
        .header("Origin", ORIGIN)
        .send()
        .await
        .unwrap();
    let answer = TestApp::read(request).await;
    assert_eq!(answer.status, 200);
    assert_eq!(answer.header("access-control-allow-origin"), Some(ORIGIN));
    let exposed = answer
        .header("access-control-expose-headers")
        .unwrap_or_default()
        .to_ascii_lowercase();
    assert!(exposed.contains("x-log-position"), "{exposed}");

    // Another origin is not let in.
    let refused = TestApp::read(preflight("https://evil.example").await.unwrap()).await;
    assert_eq!(refused.header("access-control-allow-origin"), None);
    app.stop().await;
}
