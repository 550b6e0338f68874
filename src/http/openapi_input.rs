//! The part of the OpenAPI finishing pass ([`super::openapi`]) that states what the one input
//! path ([`super::input`]) enforces on every request: request bodies take no unknown members
//! (`additionalProperties: false`), a member that may be left out may also be `null`, and no
//! string a client sends carries a control character (a `pattern`, unless the field's own
//! annotation gave a stricter one, as those of [`super::limits`] do).

use serde_json::{Map, Value, json};

/// What the input path lets through in a query parameter, a path segment or a header: no
/// control character (C0, DEL, C1).
pub const SINGLE_LINE: &str = "^[^\\u0000-\\u001f\\u007f-\\u009f]*$";
/// What it lets through in a JSON string: tab, newline and carriage return besides.
pub const JSON_TEXT: &str = "^[^\\u0000-\\u0008\\u000b\\u000c\\u000e-\\u001f\\u007f-\\u009f]*$";

/// The components request bodies use, directly or through other components; inline body
/// schemas are limited on the way.
pub(super) fn request_body_schemas(doc: &mut Value) -> Vec<String> {
    let mut names = Vec::new();
    if let Some(paths) = doc.get_mut("paths").and_then(Value::as_object_mut) {
        for item in paths.values_mut().filter_map(Value::as_object_mut) {
            for operation in item.values_mut() {
                let Some(content) =
                    operation.pointer_mut("/requestBody/content/application~1json/schema")
                else {
                    continue;
                };
                refs_in(content, &mut names);
                limit_body(content);
            }
        }
    }
    let schemas = doc
        .pointer("/components/schemas")
        .cloned()
        .unwrap_or_default();
    let mut i = 0;
    while i < names.len() {
        if let Some(schema) = schemas.get(&names[i]) {
            let mut found = Vec::new();
            refs_in(schema, &mut found);
            for name in found {
                if !names.contains(&name) {
                    names.push(name);
                }
            }
        }
        i += 1;
    }
    names
}

fn refs_in(schema: &Value, out: &mut Vec<String>) {
    match schema {
        Value::Object(map) => {
            if let Some(name) = map
                .get("$ref")
                .and_then(Value::as_str)
                .and_then(|r| r.strip_prefix("#/components/schemas/"))
                && !out.iter().any(|n| n == name)
            {
                out.push(name.to_owned());
            }
            map.values().for_each(|v| refs_in(v, out));
        }
        Value::Array(items) => items.iter().for_each(|v| refs_in(v, out)),
        _ => {}
    }
}

fn has_type(schema: &Map<String, Value>, name: &str) -> bool {
    match schema.get("type") {
        Some(Value::String(t)) => t == name,
        Some(Value::Array(types)) => types.iter().any(|t| t == name),
        _ => false,
    }
}

/// A string the client sends: no control characters (`pattern`), unless its schema already
/// says what it must look like.
pub(super) fn limit_string(schema: &mut Map<String, Value>, pattern: &str) {
    let described = ["pattern", "format", "enum", "const"]
        .iter()
        .any(|k| schema.contains_key(*k));
    if has_type(schema, "string") && !described {
        schema.insert("pattern".into(), Value::String(pattern.to_owned()));
    }
}

/// A request body's schema (or one it contains): objects take no unknown members and strings
/// no control characters, as the input path decides.
pub(super) fn limit_body(schema: &mut Value) {
    match schema {
        Value::Object(map) => {
            if has_type(map, "object")
                && map.contains_key("properties")
                && !map.contains_key("additionalProperties")
            {
                map.insert("additionalProperties".into(), Value::Bool(false));
            }
            if has_type(map, "object") {
                nullable_optionals(map);
            }
            limit_string(map, JSON_TEXT);
            for (key, value) in map.iter_mut() {
                if key != "$ref" && key != "example" && key != "examples" && key != "default" {
                    limit_body(value);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(limit_body),
        _ => {}
    }
}

/// A member a body may leave out may also be `null`, which reads as absent (serde's `Option`,
/// the catalog's field-by-field bodies): the shared schemas of `limits` say only what a
/// present value must look like.
fn nullable_optionals(object: &mut Map<String, Value>) {
    let required: Vec<String> = object
        .get("required")
        .and_then(Value::as_array)
        .map(|r| {
            r.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();
    let Some(properties) = object.get_mut("properties").and_then(Value::as_object_mut) else {
        return;
    };
    for (name, property) in properties.iter_mut() {
        let Some(schema) = property
            .as_object_mut()
            .filter(|_| !required.contains(name))
        else {
            continue;
        };
        match schema.get("type").cloned() {
            Some(Value::String(t)) => {
                schema.insert("type".into(), json!([t, "null"]));
            }
            None if schema.contains_key("oneOf") => {
                if let Some(Value::Array(options)) = schema.get_mut("oneOf")
                    && !options.iter().any(|o| o["type"] == "null")
                {
                    options.push(json!({"type": "null"}));
                }
                continue;
            }
            _ => {}
        }
        if let Some(Value::Array(values)) = schema.get_mut("enum")
            && !values.contains(&Value::Null)
        {
            values.push(Value::Null);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_bodies_refuse_unknown_members_and_control_characters() {
        let mut doc = json!({
            "paths": {"/things": {"post": {"requestBody": {"content": {"application/json": {
                "schema": {"$ref": "#/components/schemas/NewThing"}}}}}}},
            "components": {"schemas": {
                "NewThing": {"type": "object", "required": ["name"], "properties": {
                    "name": {"type": "string"},
                    "phone": {"type": "string", "pattern": "^0[0-9]{9}$"},
                    "kind": {"type": "string", "enum": ["a", "b"]},
                    "part": {"$ref": "#/components/schemas/Part"}}},
                "Part": {"type": "object", "properties": {"note": {"type": ["string", "null"]}}},
                "Answer": {"type": "object", "properties": {"name": {"type": "string"}}}
            }}
        });
        let names = request_body_schemas(&mut doc);
        assert_eq!(names, ["NewThing", "Part"]);
        let schemas = doc["components"]["schemas"].as_object_mut().unwrap();
        for name in &names {
            limit_body(schemas.get_mut(name).unwrap());
        }
        let thing = &schemas["NewThing"];
        assert_eq!(thing["additionalProperties"], false);
        assert_eq!(thing["properties"]["name"]["pattern"], JSON_TEXT);
        assert_eq!(
            thing["properties"]["name"]["type"], "string",
            "required: no null"
        );
        // A field's own pattern stands; what may be left out may be null.
        assert_eq!(thing["properties"]["phone"]["pattern"], "^0[0-9]{9}$");
        assert_eq!(
            thing["properties"]["phone"]["type"],
            json!(["string", "null"])
        );
        assert_eq!(thing["properties"]["kind"]["enum"], json!(["a", "b", null]));
        assert_eq!(schemas["Part"]["properties"]["note"]["pattern"], JSON_TEXT);
        assert!(
            schemas["Answer"].get("additionalProperties").is_none(),
            "answers untouched"
        );
    }
}
