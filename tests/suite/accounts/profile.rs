//! `GET /me`, `PATCH /me`, `PUT /me/avatar`.

use reqwest::Method;
use serde_json::{Value, json};

use super::{field_of, register};
use crate::support::{Reply, TestApp};

const PNG: &[u8] = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01\x08\x06\0\0\0";

async fn patch_me(app: &TestApp, token: &str, body: Value) -> Reply {
    app.call(Method::PATCH, "/me", Some(token), Some(body))
        .await
}

async fn put_avatar(app: &TestApp, token: &str, bytes: Vec<u8>, content_type: &str) -> Reply {
    let response = app
        .client
        .put(app.url("/me/avatar"))
        .bearer_auth(token)
        .header("content-type", content_type)
        .body(bytes)
        .send()
        .await
        .expect("the server answers");
    TestApp::read(response).await
}

#[tokio::test]
async fn patch_me_changes_only_the_fields_given() {
    let app = TestApp::spawn().await;
    let account = register(&app, "patch").await;

    let reply = patch_me(
        &app,
        &account.access,
        json!({"phone": "+254 112 345 678", "gender": "female"}),
    )
    .await;
    let user = reply.ok(200).clone();
    assert_eq!(user["phone"], "254112345678");
    assert_eq!(user["gender"], "female");
    assert_eq!(user["name"], "Wanjiru Kamau");
    assert_eq!(user["created_at"], account.body["user"]["created_at"]);
    let me = app
        .get_after("/me", Some(&account.access), reply.position().unwrap())
        .await;
    assert_eq!(me.ok(200), &user);

    let reply = patch_me(&app, &account.access, json!({"name": "Wanjiru K."})).await;
    assert_eq!(reply.ok(200)["name"], "Wanjiru K.");
    assert_eq!(reply.body["gender"], "female");

    // Nothing changes: no event, no position.
    let same = patch_me(&app, &account.access, json!({"name": "Wanjiru K."})).await;
    same.ok(200);
    assert_eq!(same.position(), None);

    for (body, field) in [
        (json!({"phone": "12345"}), "phone"),
        (json!({"name": ""}), "name"),
        (json!({"gender": "x".repeat(31)}), "gender"),
        (json!({"name": 5}), "name"),
    ] {
        let reply = patch_me(&app, &account.access, body).await;
        assert_eq!(field_of(&reply), field, "{}", reply.text);
    }
    // The role is not the user's to change.
    patch_me(&app, &account.access, json!({"role": "admin"}))
        .await
        .problem(400);
    app.call(Method::PATCH, "/me", None, Some(json!({"name": "x"})))
        .await
        .problem(401);
    app.stop().await;
}

#[tokio::test]
async fn avatar_upload_checks_the_bytes() {
    let app = TestApp::spawn().await;
    let account = register(&app, "avatar").await;

    let reply = put_avatar(&app, &account.access, PNG.to_vec(), "image/png").await;
    let user = reply.ok(200).clone();
    let id = tillroll::auth::image::image_id(PNG);
    assert_eq!(user["avatar_url"], format!("/images/{id}"));
    let stored: (String,) = sqlx::query_as("SELECT content_type FROM images WHERE id = $1")
        .bind(&id)
        .fetch_one(app.pool())
        .await
        .unwrap();
    assert_eq!(stored.0, "image/png");
    let me = app
        .get_after("/me", Some(&account.access), reply.position().unwrap())
        .await;
    assert_eq!(me.ok(200)["avatar_url"], user["avatar_url"]);

    // As on the product route: the declared type must be the image's own.
    for declared in ["application/octet-stream", "application/json"] {
        put_avatar(&app, &account.access, PNG.to_vec(), declared)
            .await
            .problem(415);
    }
    // A header claiming 100,000 × 100,000 pixels: a decompression bomb for whoever shows it.
    let mut bomb = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR".to_vec();
    bomb.extend(100_000u32.to_be_bytes());
    bomb.extend(100_000u32.to_be_bytes());
    bomb.extend(b"\x08\x06\0\0\0");
    let refused = put_avatar(&app, &account.access, bomb, "image/png").await;
    let detail = refused.problem(400)["detail"].as_str().unwrap().to_owned();
    assert!(detail.contains("100000 × 100000"), "{detail}");
    put_avatar(&app, &account.access, b"GIF89a....".to_vec(), "image/gif")
        .await
        .problem(415);
    put_avatar(&app, &account.access, PNG.to_vec(), "image/jpeg")
        .await
        .problem(415);
    put_avatar(&app, &account.access, Vec::new(), "image/png")
        .await
        .problem(400);
    let mut big = PNG.to_vec();
    big.resize(5 * 1024 * 1024 + 1, 0);
    put_avatar(&app, &account.access, big, "image/png")
        .await
        .problem(413);
    // Exactly 5 MiB is accepted.
    let mut limit = PNG.to_vec();
    limit.resize(5 * 1024 * 1024, 0);
    put_avatar(&app, &account.access, limit, "image/png")
        .await
        .ok(200);

    let anonymous = app
        .client
        .put(app.url("/me/avatar"))
        .body(PNG.to_vec())
        .send()
        .await
        .unwrap();
    TestApp::read(anonymous).await.problem(401);
    app.stop().await;
}
