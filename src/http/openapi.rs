//! The finishing pass over the generated OpenAPI document, for what the route annotations
//! leave implicit but every route does alike: each response has a description; errors are
//! `application/problem+json`; a JSON body can be refused as malformed (400), too large (413)
//! or of another type (415); a protected route can answer 401, and any route 503 when the
//! database is out of reach (`default` covers the rest, all problems); the headers of the
//! conventions (`Idempotency-Key`, `X-Min-Position`, `X-Log-Position`, `Location`); image
//! bodies are binary; SSE streams are text.
//!
//! It also states the limits the one input path ([`super::input`]) enforces on every request,
//! so that a schema-valid request is never refused for them: request bodies take no unknown
//! members (`additionalProperties: false`) and no string a client sends may carry a control
//! character (a `pattern`, unless the annotation gave the field a stricter one of its own).
//! Limits particular to a field (lengths, ranges, phone numbers, slugs) belong in the route's
//! annotations, with the shared ones in [`super::limits`]: `#[schema(schema_with =
//! limits::phone)]`, `#[param(minimum = 1, maximum = 100)]`, and so on.

use serde_json::{Map, Value, json};

use super::openapi_input::{SINGLE_LINE, limit_body, limit_string, request_body_schemas};

const PROBLEM: &str = "application/problem+json";

/// Routes that read a read model and so honour `X-Min-Position`.
fn reads_read_model(path: &str) -> bool {
    ![
        "/audit",
        "/events",
        "/images",
        "/metrics",
        "/health",
        "/ready",
        "/openapi.json",
        "/docs",
    ]
    .iter()
    .any(|p| path.starts_with(p))
        && path != "/"
}

fn problem(description: &str) -> Value {
    json!({
        "description": description,
        "content": {PROBLEM: {"schema": {"$ref": "#/components/schemas/Problem"}}}
    })
}

fn reason(code: &str) -> String {
    code.parse::<u16>()
        .ok()
        .and_then(|c| axum::http::StatusCode::from_u16(c).ok())
        .and_then(|s| s.canonical_reason())
        .unwrap_or("Response")
        .to_owned()
}

/// Applies the conventions to `doc` (the document utoipa generated, as JSON).
pub fn finish(mut doc: Value) -> Value {
    let Some(paths) = doc.get_mut("paths").and_then(Value::as_object_mut) else {
        return doc;
    };
    for (path, item) in paths.iter_mut() {
        let Some(item) = item.as_object_mut() else {
            continue;
        };
        for (method, operation) in item.iter_mut() {
            if let Some(operation) = operation.as_object_mut() {
                finish_operation(path, method, operation);
            }
        }
    }
    let bodies = request_body_schemas(&mut doc);
    if let Some(schemas) = doc
        .pointer_mut("/components/schemas")
        .and_then(Value::as_object_mut)
    {
        for name in bodies {
            if let Some(schema) = schemas.get_mut(&name) {
                limit_body(schema);
            }
        }
    }
    let schemas = doc
        .pointer_mut("/components/schemas")
        .and_then(Value::as_object_mut);
    if let Some(schemas) = schemas {
        // `extra` is flattened into the problem (e.g. `short_lines`): other members may appear.
        if let Some(problem) = schemas.get_mut("Problem").and_then(Value::as_object_mut) {
            problem.insert("additionalProperties".into(), Value::Bool(true));
        }
    }
    doc
}

fn finish_operation(path: &str, method: &str, operation: &mut Map<String, Value>) {
    let json_body = operation
        .get("requestBody")
        .and_then(|b| b.pointer("/content/application~1json"))
        .is_some();
    let has_body = operation.contains_key("requestBody");
    let secured = operation.contains_key("security");
    let has_params = path.contains('{')
        || operation
            .get("parameters")
            .and_then(Value::as_array)
            .is_some_and(|p| !p.is_empty());
    let command = matches!(method, "post" | "put" | "patch" | "delete");

    if let Some(content) = operation
        .get_mut("requestBody")
        .and_then(|b| b.get_mut("content"))
        .and_then(Value::as_object_mut)
    {
        for (media, body) in content.iter_mut() {
            if media.starts_with("image/") {
                *body = json!({"schema": {"type": "string", "format": "binary"}});
            }
        }
    }

    let mut parameters: Vec<Value> = operation
        .remove("parameters")
        .and_then(|p| p.as_array().cloned())
        .unwrap_or_default();
    for parameter in parameters.iter_mut() {
        if let Some(schema) = parameter.get_mut("schema").and_then(Value::as_object_mut) {
            limit_string(schema, SINGLE_LINE);
        }
    }
    // Not for the callbacks (Daraja's own retries are deduplicated by their ids) nor for SSE
    // tickets (a replayed ticket would be one already spent).
    if method == "post" && !path.starts_with("/payments/mpesa/") && path != "/auth/sse-ticket" {
        parameters.push(json!({
            "name": "Idempotency-Key", "in": "header", "required": false,
            "description": "Runs the command once per (caller, key); a repeat with the same \
                body answers the first response, with another body 409.",
            "schema": {"type": "string", "minLength": 1, "maxLength": 255,
                "pattern": "^[!-~]([ -~]*[!-~])?$"}
        }));
    }
    if method == "get" && reads_read_model(path) {
        parameters.push(json!({
            "name": "X-Min-Position", "in": "header", "required": false,
            "description": "An `X-Log-Position` a command answered: waits (at most 5 s, \
                then 503) until the read model has it. A position never issued is 400.",
            "schema": {"type": "string", "pattern": "^[0-9]+$"}
        }));
    }
    if !parameters.is_empty() {
        operation.insert("parameters".into(), Value::Array(parameters));
    }

    let Some(responses) = operation
        .get_mut("responses")
        .and_then(Value::as_object_mut)
    else {
        return;
    };
    for (code, response) in responses.iter_mut() {
        let Some(response) = response.as_object_mut() else {
            continue;
        };
        if !response.contains_key("description") {
            response.insert("description".into(), Value::String(reason(code)));
        }
        let error = code.starts_with('4') || code.starts_with('5');
        if let Some(content) = response.get_mut("content").and_then(Value::as_object_mut) {
            if error && let Some(schema) = content.remove("application/json") {
                content.insert(PROBLEM.into(), schema);
            }
            if let Some(stream) = content.get_mut("text/event-stream") {
                // One schema per message, as SSE clients (and schemathesis) read them.
                *stream = json!({"schema": {
                    "type": "object",
                    "description": "One Server-Sent Events message; `data` is JSON text",
                    "properties": {
                        "event": {"type": "string"},
                        "id": {"type": "string"},
                        "data": {"type": "string"},
                        "retry": {"type": "integer"}
                    }
                }});
            }
        }
        if command && code.starts_with('2') {
            let headers = response
                .entry("headers")
                .or_insert_with(|| json!({}))
                .as_object_mut()
                .expect("headers is an object");
            headers.insert(
                "X-Log-Position".into(),
                json!({"description": "The position of the last event the command appended; \
                    send it as X-Min-Position to read your own write.",
                    "schema": {"type": "string"}}),
            );
            // Every creation names what it made (API.md: a 201 carries `Location`).
            if code == "201" {
                headers.insert(
                    "Location".into(),
                    json!({"description": "The created resource", "schema": {"type": "string"}}),
                );
            }
        }
    }
    let mut add = |code: &str, description: &str| {
        responses
            .entry(code.to_owned())
            .or_insert_with(|| problem(description));
    };
    if has_params || has_body {
        add("400", "Malformed input, naming each wrong field");
    }
    if has_body {
        add("413", "The body is larger than the route accepts");
    }
    if json_body {
        add("415", "The body is not JSON");
    }
    if secured {
        add("401", "Missing, invalid or expired access token");
    }
    add(
        "503",
        "The database is unavailable, or the read model did not catch up in time",
    );
    add("default", "Any other error");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn responses_are_described_and_errors_are_problems() {
        let doc = json!({"paths": {"/cart/items": {"post": {
            "security": [{"bearer": []}],
            "requestBody": {"content": {"application/json": {"schema": {}}}},
            "responses": {
                "200": {"content": {"application/json": {"schema": {}}}},
                "409": {"content": {"application/json": {"schema": {}}}}
            }
        }}}});
        let doc = finish(doc);
        let op = &doc["paths"]["/cart/items"]["post"];
        assert_eq!(op["responses"]["200"]["description"], "OK");
        assert!(op["responses"]["409"]["content"][PROBLEM].is_object());
        for code in ["400", "401", "413", "415", "503", "default"] {
            assert!(op["responses"][code].is_object(), "{code}");
        }
        assert!(op["responses"]["200"]["headers"]["X-Log-Position"].is_object());
        assert_eq!(op["parameters"][0]["name"], "Idempotency-Key");
    }
}
