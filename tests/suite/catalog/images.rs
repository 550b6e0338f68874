//! `PUT /products/{id}/image` (type by content, 5 MiB) and `GET /images/{id}` (ETag, 304).

use serde_json::Value;
use sha2::{Digest, Sha256};
use tillroll::auth::Role;
use tillroll_events::{ProductEvent, StreamId};
use uuid::Uuid;

use super::{create, kettle, token};
use crate::support::{Reply, TestApp};

// The smallest well-formed headers (1 × 1): the size is read from them.
const PNG: &[u8] = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01\x08\x06\0\0\0";
const JPEG: &[u8] = b"\xFF\xD8\xFF\xE0\0\x10JFIF\0\x01\x01\0\0\x01\0\x01\0\0\xFF\xC0\0\x11\x08\0\x01\0\x01\x03\x01\x11\0\x02\x11\x01\x03\x11\x01\xFF\xD9";
const WEBP: &[u8] = b"RIFF\x1a\0\0\0WEBPVP8L\x05\0\0\0\x2f\0\0\0\0";

async fn put_image(
    app: &TestApp,
    id: Uuid,
    token: Option<&str>,
    content_type: Option<&str>,
    bytes: Vec<u8>,
) -> Reply {
    let mut request = app
        .client
        .put(app.url(&format!("/products/{id}/image")))
        .body(bytes);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    if let Some(content_type) = content_type {
        request = request.header("content-type", content_type);
    }
    TestApp::read(request.send().await.expect("the server answers")).await
}

async fn get_image(app: &TestApp, url: &str, if_none_match: Option<&str>) -> reqwest::Response {
    let mut request = app.client.get(app.url(url));
    if let Some(tag) = if_none_match {
        request = request.header("if-none-match", tag);
    }
    request.send().await.expect("the server answers")
}

fn id_of(body: &Value) -> Uuid {
    body["id"].as_str().unwrap().parse().unwrap()
}

#[tokio::test]
async fn an_image_is_stored_by_hash_and_served_with_a_strong_etag() {
    let app = TestApp::spawn().await;
    let (seller, _) = token(&app, Role::Seller);
    let id = id_of(create(&app, &seller, kettle()).await.ok(201));
    let hash = hex::encode(Sha256::digest(PNG));

    let reply = put_image(&app, id, Some(&seller), Some("image/png"), PNG.to_vec()).await;
    let product = reply.ok(200).clone();
    let url = format!("/images/{hash}");
    assert_eq!(product["image_url"], url);
    assert!(reply.position().is_some());
    let events = app
        .state
        .store
        .read_stream(StreamId::product(id).as_str(), 1)
        .await
        .unwrap();
    assert!(matches!(
        events[0].decode().unwrap(),
        ProductEvent::ProductImageChanged { image_id, content_type, .. }
            if image_id == hash && content_type == "image/png"
    ));
    let read = app
        .get_after(&format!("/products/{id}"), None, reply.position().unwrap())
        .await;
    assert_eq!(read.ok(200)["image_url"], url);

    let image = get_image(&app, &url, None).await;
    assert_eq!(image.status(), 200);
    let header = |r: &reqwest::Response, name: &str| {
        r.headers()
            .get(name)
            .map(|v| v.to_str().unwrap().to_owned())
    };
    let etag = format!("\"{hash}\"");
    assert_eq!(header(&image, "content-type").as_deref(), Some("image/png"));
    assert_eq!(header(&image, "etag"), Some(etag.clone()));
    assert_eq!(
        header(&image, "cache-control").as_deref(),
        Some("public, max-age=31536000, immutable")
    );
    assert_eq!(image.bytes().await.unwrap().as_ref(), PNG);

    let listed = format!("\"other\", W/\"nope\", {etag}");
    let weak = format!("W/{etag}");
    for tag in [etag.clone(), "*".to_owned(), listed, weak] {
        let cached = get_image(&app, &url, Some(&tag)).await;
        assert_eq!(cached.status(), 304, "If-None-Match: {tag}");
        assert_eq!(header(&cached, "etag"), Some(etag.clone()));
        assert!(cached.bytes().await.unwrap().is_empty());
    }
    let stale = get_image(&app, &url, Some("\"something-else\"")).await;
    assert_eq!(stale.status(), 200);

    let again = put_image(&app, id, Some(&seller), None, PNG.to_vec()).await;
    assert_eq!(again.ok(200)["image_url"], url);
    assert_eq!(
        again.position(),
        None,
        "the same picture again changes nothing"
    );
    app.stop().await;
}

#[tokio::test]
async fn unknown_images_are_404() {
    let app = TestApp::spawn().await;
    let unknown = hex::encode(Sha256::digest(b"never stored"));
    for url in [format!("/images/{unknown}"), "/images/not-a-hash".into()] {
        let reply = TestApp::read(get_image(&app, &url, None).await).await;
        reply.problem(404);
    }
    let reply =
        TestApp::read(get_image(&app, &format!("/images/{unknown}"), Some("*")).await).await;
    reply.problem(404);
    app.stop().await;
}

#[tokio::test]
async fn the_type_is_judged_by_content() {
    let app = TestApp::spawn().await;
    let (seller, _) = token(&app, Role::Seller);
    let id = id_of(create(&app, &seller, kettle()).await.ok(201));

    for (bytes, content_type, served) in [
        (JPEG, Some("image/jpeg"), "image/jpeg"),
        (WEBP, Some("image/webp"), "image/webp"),
        (JPEG, None, "image/jpeg"),
    ] {
        let reply = put_image(&app, id, Some(&seller), content_type, bytes.to_vec()).await;
        let url = reply.ok(200)["image_url"].as_str().unwrap().to_owned();
        let image = get_image(&app, &url, None).await;
        assert_eq!(image.headers()["content-type"], served);
    }
    let mismatched = put_image(&app, id, Some(&seller), Some("image/jpeg"), PNG.to_vec()).await;
    mismatched.problem(415);
    let gif = put_image(
        &app,
        id,
        Some(&seller),
        Some("image/gif"),
        b"GIF89a\x01\0".to_vec(),
    )
    .await;
    gif.problem(415);
    let svg = put_image(&app, id, Some(&seller), None, b"<svg xmlns='x'/>".to_vec()).await;
    svg.problem(415);
    let octets = put_image(
        &app,
        id,
        Some(&seller),
        Some("application/octet-stream"),
        PNG.to_vec(),
    )
    .await;
    octets.problem(415);
    put_image(&app, id, Some(&seller), Some("image/png"), Vec::new())
        .await
        .problem(400);
    // A JPEG whose frame header claims 60,000 × 60,000 pixels, and one with no frame header.
    let mut bomb = JPEG.to_vec();
    bomb[25..29].copy_from_slice(b"\xEA\x60\xEA\x60");
    let refused = put_image(&app, id, Some(&seller), Some("image/jpeg"), bomb).await;
    let detail = refused.problem(400)["detail"].as_str().unwrap().to_owned();
    assert!(detail.contains("60000 × 60000"), "{detail}");
    let headless = b"\xFF\xD8\xFF\xE0\0\x10JFIF\0\x01\x01".to_vec();
    put_image(&app, id, Some(&seller), Some("image/jpeg"), headless)
        .await
        .problem(400);
    app.stop().await;
}

#[tokio::test]
async fn images_over_5_mib_are_413() {
    let app = TestApp::spawn().await;
    let (seller, _) = token(&app, Role::Seller);
    let id = id_of(create(&app, &seller, kettle()).await.ok(201));
    let mut big = PNG.to_vec();
    big.resize(5 * 1024 * 1024 + 1, 0);
    put_image(&app, id, Some(&seller), Some("image/png"), big.clone())
        .await
        .problem(413);
    big.truncate(5 * 1024 * 1024);
    let at_limit = put_image(&app, id, Some(&seller), Some("image/png"), big).await;
    assert!(
        at_limit.ok(200)["image_url"].is_string(),
        "exactly 5 MiB is fine"
    );
    app.stop().await;
}

#[tokio::test]
async fn only_the_owner_or_an_admin_sets_the_image() {
    let app = TestApp::spawn().await;
    let (seller, _) = token(&app, Role::Seller);
    let (other, _) = token(&app, Role::Seller);
    let (customer, _) = token(&app, Role::Customer);
    let (admin, _) = token(&app, Role::Admin);
    let id = id_of(create(&app, &seller, kettle()).await.ok(201));
    let png = || PNG.to_vec();
    put_image(&app, id, None, Some("image/png"), png())
        .await
        .problem(401);
    put_image(&app, id, Some(&other), Some("image/png"), png())
        .await
        .problem(403);
    put_image(&app, id, Some(&customer), Some("image/png"), png())
        .await
        .problem(403);
    put_image(&app, Uuid::new_v4(), Some(&admin), Some("image/png"), png())
        .await
        .problem(404);
    put_image(&app, id, Some(&admin), Some("image/png"), png())
        .await
        .ok(200);
    let hash = hex::encode(Sha256::digest(PNG));
    let stored: i64 = sqlx::query_scalar("SELECT count(*) FROM images")
        .fetch_one(app.pool())
        .await
        .unwrap();
    assert_eq!(stored, 1, "refused uploads store nothing");
    let kept: String = sqlx::query_scalar("SELECT id FROM images")
        .fetch_one(app.pool())
        .await
        .unwrap();
    assert_eq!(kept, hash);
    app.stop().await;
}
