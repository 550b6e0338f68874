//! Auditors and admins read the audit routes; nobody else does. Auditors change nothing.

use reqwest::Method;
use serde_json::json;
use tillroll::auth::Role;
use uuid::Uuid;

use super::token;
use crate::support::TestApp;

#[tokio::test]
async fn only_auditors_and_admins_see_the_audit_routes() {
    let app = TestApp::spawn().await;
    let id = Uuid::now_v7();
    let paths = [
        format!("/audit/orders/{id}/history"),
        format!("/audit/orders/{id}?at=2026-01-01T00:00:00Z"),
        format!("/audit/streams/order-{id}"),
        "/audit/events".to_owned(),
        "/audit/verify".to_owned(),
        "/audit/tree-heads/latest".to_owned(),
        "/audit/tree-heads".to_owned(),
        format!("/audit/proofs/inclusion?event_id={id}"),
        "/audit/proofs/consistency?first=1".to_owned(),
        "/audit/public-key".to_owned(),
        "/events/live".to_owned(),
    ];
    let (_, customer) = token(&app, Role::Customer);
    let (_, seller) = token(&app, Role::Seller);
    let (_, auditor) = token(&app, Role::Auditor);
    let (_, admin) = token(&app, Role::Admin);
    for path in &paths {
        app.get(path, None).await.problem(401);
        app.get(path, Some("not-a-token")).await.problem(401);
        app.get(path, Some(&customer)).await.problem(403);
        app.get(path, Some(&seller)).await.problem(403);
    }
    // Past the role check: these answer for what they are (no order, no tree head yet).
    for who in [&auditor, &admin] {
        app.get(&paths[0], Some(who)).await.problem(404);
        app.get("/audit/verify", Some(who)).await.ok(200);
        app.get("/audit/tree-heads/latest", Some(who))
            .await
            .problem(404);
        app.get("/audit/tree-heads", Some(who)).await.ok(200);
        app.get("/audit/public-key", Some(who)).await.ok(200);
        let export = app.get("/audit/events", Some(who)).await;
        assert_eq!(export.status, 200);
    }
    app.stop().await;
}

/// Every command route (a non-GET route that needs a token) refuses an auditor with 403, as
/// the `Command` extractor does; sign-in routes (`/auth/…`) are theirs like anyone's.
#[tokio::test]
async fn auditors_cannot_call_any_command_route() {
    let app = TestApp::spawn().await;
    let openapi = app.get("/openapi.json", None).await.ok(200).clone();
    for (path, method) in [
        ("/audit/orders/{id}/history", "get"),
        ("/audit/orders/{id}", "get"),
        ("/audit/streams/{stream_id}", "get"),
        ("/audit/events", "get"),
        ("/audit/verify", "get"),
        ("/audit/tree-heads/latest", "get"),
        ("/audit/tree-heads", "get"),
        ("/audit/proofs/inclusion", "get"),
        ("/audit/proofs/consistency", "get"),
        ("/audit/public-key", "get"),
        ("/events/live", "get"),
    ] {
        let operation = &openapi["paths"][path][method];
        assert_eq!(
            operation["tags"][0], "audit",
            "{method} {path} in /openapi.json"
        );
        assert!(
            operation["security"].is_array(),
            "{method} {path} needs a token"
        );
    }
    let (_, auditor) = token(&app, Role::Auditor);
    let mut tried = Vec::new();
    for (path, operations) in openapi["paths"].as_object().unwrap() {
        if path.starts_with("/auth/") {
            continue;
        }
        for (method, operation) in operations.as_object().unwrap() {
            let secured = operation["security"]
                .as_array()
                .is_some_and(|s| !s.is_empty());
            if method == "get" || !secured {
                continue;
            }
            let concrete = fill_path(path);
            let method: Method = method.to_uppercase().parse().unwrap();
            let reply = app
                .call(method.clone(), &concrete, Some(&auditor), Some(json!({})))
                .await;
            assert_eq!(reply.status, 403, "{method} {concrete}: {}", reply.text);
            tried.push(format!("{method} {path}"));
        }
    }
    assert!(tried.iter().any(|t| t == "POST /checkout"), "{tried:?}");
    // And nothing was appended on their behalf.
    let (events,): (i64,) = sqlx::query_as("SELECT count(*) FROM events")
        .fetch_one(app.pool())
        .await
        .unwrap();
    assert_eq!(events, 0, "tried: {tried:?}");
    app.stop().await;
}

/// Path parameters replaced by a fresh id (every id in the API is a UUID).
fn fill_path(path: &str) -> String {
    let mut out = String::new();
    let mut rest = path;
    while let Some(open) = rest.find('{') {
        let close = rest[open..].find('}').map_or(rest.len(), |c| open + c + 1);
        out.push_str(&rest[..open]);
        out.push_str(&Uuid::now_v7().to_string());
        rest = &rest[close..];
    }
    out.push_str(rest);
    out
}
