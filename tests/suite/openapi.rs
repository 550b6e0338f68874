//! `/openapi.json` as a client generator reads it: every response described, every error
//! `application/problem+json`, the refusals every JSON body can meet declared, image uploads
//! binary. (CI also runs `openapi-spec-validator` and schemathesis on it: `.ci/contract.py`.)

use crate::support::TestApp;

#[tokio::test]
async fn every_operation_declares_its_answers_as_they_are_served() {
    let app = TestApp::spawn().await;
    let doc = app.get("/openapi.json", None).await.ok(200).clone();
    let mut operations = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            operations += 1;
            let responses = op["responses"].as_object().unwrap();
            for (code, response) in responses {
                assert!(
                    response["description"].is_string(),
                    "{method} {path} {code}: no description"
                );
                let errors = code.starts_with('4') || code.starts_with('5') || code == "default";
                if let Some(content) = response["content"].as_object().filter(|_| errors) {
                    assert!(
                        content.keys().all(|k| k == "application/problem+json"),
                        "{method} {path} {code}: {content:?}"
                    );
                }
            }
            let body = &op["requestBody"]["content"];
            if body.get("application/json").is_some() {
                for code in ["400", "413", "415"] {
                    assert!(responses.contains_key(code), "{method} {path}: no {code}");
                }
            }
            if let Some(png) = body.get("image/png") {
                assert_eq!(png["schema"]["format"], "binary", "{method} {path}");
            }
            if op["security"].is_array() {
                assert!(responses.contains_key("401"), "{method} {path}: no 401");
            }
        }
    }
    assert!(operations > 40, "{operations} operations");
    let checkout = &doc["paths"]["/checkout"]["post"];
    let headers: Vec<&str> = checkout["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert!(headers.contains(&"Idempotency-Key"), "{headers:?}");
    assert!(checkout["responses"]["201"]["headers"]["Location"].is_object());
    assert!(checkout["responses"]["201"]["headers"]["X-Log-Position"].is_object());
    app.stop().await;
}

/// What the document declares for a 201 is served: `Location` names the new resource.
#[tokio::test]
async fn a_201_carries_location() {
    let app = TestApp::spawn().await;
    let (_, token) = crate::money::customer(&app);
    let id = crate::money::product(&app, "Lamp", 3_000, 2).await;
    let body = serde_json::json!({"items": [{"product_id": id, "quantity": 1}],
        "phone": crate::money::PHONE});
    let order = app.post("/orders", Some(&token), body).await;
    let order_id = order.ok(201)["id"].as_str().unwrap().to_owned();
    assert_eq!(
        order.header("location"),
        Some(format!("/orders/{order_id}").as_str())
    );
    let registered = app
        .post(
            "/auth/register",
            None,
            serde_json::json!({"email": "loc@example.co.ke", "password": "long enough 1",
                "name": "Lo"}),
        )
        .await;
    registered.ok(201);
    assert_eq!(registered.header("location"), Some("/me"));
}
