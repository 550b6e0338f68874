//! The one input path every request's text goes through: control characters refused (tab,
//! newline and carriage return allowed in JSON strings, where multi-line text may need them;
//! the domain decides which fields are single-line), and JSON bodies decoded with every wrong
//! field named in the API's words — never the parser's text.

use serde::de::DeserializeOwned;
use serde_json::Value;
use serde_path_to_error::Segment;

use super::error::FieldProblem;

const CONTROL: &str = "must not contain control characters";
pub const NOT_A_FIELD: &str = "is not a field of this body";

/// A control character nothing may carry: C0 (except tab, LF, CR when `text`), DEL and C1.
fn forbidden(c: char, text: bool) -> bool {
    c.is_control() && !(text && matches!(c, '\t' | '\n' | '\r'))
}

/// `Some(problem)` when `value` of `field` (a query parameter or path segment) holds a
/// control character.
pub fn check_plain(field: &str, value: &str) -> Option<FieldProblem> {
    value
        .chars()
        .any(|c| forbidden(c, false))
        .then(|| FieldProblem {
            field: field.to_owned(),
            message: CONTROL.to_owned(),
        })
}

/// Every string (and key) in `value` holding a forbidden control character, by path.
fn check_json(value: &Value, path: &mut String, out: &mut Vec<FieldProblem>) {
    match value {
        Value::String(s) if s.chars().any(|c| forbidden(c, true)) => out.push(FieldProblem {
            field: field_name(path),
            message: CONTROL.to_owned(),
        }),
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                let len = path.len();
                path.push_str(&format!("[{i}]"));
                check_json(item, path, out);
                path.truncate(len);
            }
        }
        Value::Object(map) => {
            for (key, item) in map {
                let len = path.len();
                if !path.is_empty() {
                    path.push('.');
                }
                path.push_str(key);
                if key.chars().any(|c| forbidden(c, false)) {
                    out.push(FieldProblem {
                        field: field_name(path),
                        message: NOT_A_FIELD.to_owned(),
                    });
                } else {
                    check_json(item, path, out);
                }
                path.truncate(len);
            }
        }
        _ => {}
    }
}

/// `1.0` is the integer 1 in JSON (and in JSON Schema's `integer`): a float without a
/// fraction, in range, becomes an integer, so `{"quantity": 1.0}` is read as `1`.
fn whole_numbers(value: &mut Value) {
    match value {
        Value::Number(n) if n.is_f64() => {
            if let Some(f) = n.as_f64()
                && f.fract() == 0.0
                && f >= i64::MIN as f64
                && f < i64::MAX as f64
            {
                *value = Value::from(f as i64);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(whole_numbers),
        Value::Object(map) => map.values_mut().for_each(whole_numbers),
        _ => {}
    }
}

fn field_name(path: &str) -> String {
    if path.is_empty() {
        "body".to_owned()
    } else {
        path.escape_debug().to_string()
    }
}

/// Decodes a parsed JSON body into `T`. On failure, every problem found: control characters
/// anywhere, then type errors one per field — after each, a stand-in of the expected type
/// takes the wrong value's place so the rest of the body is checked too.
pub fn decode<T: DeserializeOwned>(mut value: Value) -> Result<T, Vec<FieldProblem>> {
    let mut problems = Vec::new();
    check_json(&value, &mut String::new(), &mut problems);
    whole_numbers(&mut value);
    if !problems.is_empty() {
        return Err(problems);
    }
    for _ in 0..32 {
        let error = match serde_path_to_error::deserialize::<_, T>(&value) {
            Ok(decoded) if problems.is_empty() => return Ok(decoded),
            Ok(_) => return Err(problems),
            Err(error) => error,
        };
        let mut segments: Vec<Segment> = error.path().iter().cloned().collect();
        let (problem, fix) = explain(&mut segments, &error.inner().to_string());
        if problems.iter().any(|p| p.field == problem.field) {
            break;
        }
        problems.push(problem);
        if repair(&mut value, &segments, fix).is_none() {
            break;
        }
    }
    Err(problems)
}

fn path_string(segments: &[Segment]) -> String {
    let mut out = String::new();
    for segment in segments {
        match segment {
            Segment::Seq { index } => out.push_str(&format!("[{index}]")),
            Segment::Map { key } | Segment::Enum { variant: key } => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(key);
            }
            Segment::Unknown => {}
        }
    }
    out
}

/// One deserialisation error (of a body, a query) in the API's words.
pub fn explain_error<E: std::fmt::Display>(error: &serde_path_to_error::Error<E>) -> FieldProblem {
    let mut segments: Vec<Segment> = error.path().iter().cloned().collect();
    explain(&mut segments, &error.inner().to_string()).0
}

/// How to go on checking after a problem.
enum Fix {
    /// Put this value of the expected type in the wrong one's place.
    Put(Value),
    /// Remove this key of the object the path leads to.
    Remove(String),
    /// Nothing to do: stop here.
    Stop,
}

/// The problem in the API's words, and how to go on. For an unknown field the path may end
/// at the field itself; it is cut back to the object holding it.
fn explain(segments: &mut Vec<Segment>, message: &str) -> (FieldProblem, Fix) {
    let quoted_name = |text: &str| {
        text.split_once('`')
            .and_then(|(_, rest)| rest.split_once('`'))
            .map(|(name, _)| name.to_owned())
    };
    if let Some(name) = message.strip_prefix("unknown field ").and_then(quoted_name)
        && matches!(segments.last(), Some(Segment::Map { key }) if *key == name)
    {
        segments.pop();
    }
    let path = path_string(segments);
    let quoted = quoted_name;
    let join = |name: String| {
        if path.is_empty() {
            name
        } else {
            format!("{path}.{name}")
        }
    };
    let problem = |field: String, message: &str| FieldProblem {
        field: field_name(&field),
        message: message.to_owned(),
    };
    if let Some(rest) = message.strip_prefix("missing field ") {
        let name = quoted(rest).unwrap_or_default();
        return (problem(join(name), "is required"), Fix::Stop);
    }
    if let Some(rest) = message.strip_prefix("unknown field ") {
        let name = quoted(rest).unwrap_or_default();
        return (problem(join(name.clone()), NOT_A_FIELD), Fix::Remove(name));
    }
    if let Some(rest) = message.strip_prefix("duplicate field ") {
        let name = quoted(rest).unwrap_or_default();
        return (problem(join(name), "appears more than once"), Fix::Stop);
    }
    if let Some(rest) = message.strip_prefix("unknown variant ") {
        let choices: Vec<String> = rest
            .split_once("expected ")
            .map(|(_, e)| e)
            .unwrap_or_default()
            .split('`')
            .skip(1)
            .step_by(2)
            .map(str::to_owned)
            .collect();
        let text = match choices.as_slice() {
            [] => "is not one of the allowed values".to_owned(),
            [one] => format!("must be {one}"),
            many => format!("must be one of {}", many.join(", ")),
        };
        let fix = choices
            .first()
            .map_or(Fix::Stop, |c| Fix::Put(Value::String(c.clone())));
        return (problem(path, &text), fix);
    }
    let expected = message.split_once(", expected ").map_or("", |(_, e)| e);
    let range = message.starts_with("invalid value: integer");
    let (text, stand_in): (&str, Option<Value>) =
        if message.contains("UUID") || expected.contains("UUID") {
            (
                "must be a UUID",
                Some(Value::String(uuid::Uuid::nil().to_string())),
            )
        } else if range {
            ("is out of range", Some(Value::from(0)))
        } else if [
            "i8", "i16", "i32", "i64", "u8", "u16", "u32", "u64", "usize", "integer",
        ]
        .iter()
        .any(|t| expected.split_whitespace().any(|w| w == *t))
        {
            ("must be an integer", Some(Value::from(0)))
        } else if ["f32", "f64", "number"]
            .iter()
            .any(|t| expected.contains(t))
        {
            ("must be a number", Some(Value::from(0.0)))
        } else if expected.contains("bool") {
            ("must be true or false", Some(Value::Bool(false)))
        } else if expected.contains("date") || expected.contains("RFC 3339") {
            (
                "must be an RFC 3339 time",
                Some(Value::String("1970-01-01T00:00:00Z".into())),
            )
        } else if expected.contains("char") {
            (
                "must be a single character",
                Some(Value::String("a".into())),
            )
        } else if expected.contains("string") {
            ("must be a string", Some(Value::String(String::new())))
        } else if expected.contains("sequence") || expected.contains("tuple") {
            ("must be an array", Some(Value::Array(Vec::new())))
        } else if expected.contains("struct") || expected.contains("map") {
            ("must be an object", None)
        } else if message.contains("invalid digit") || message.contains("number too") {
            ("must be an integer", None)
        } else if message.contains("invalid float") {
            ("must be a number", None)
        } else if message.contains("`true` or `false`") {
            ("must be true or false", None)
        } else if message.starts_with("invalid length") {
            ("has the wrong number of items", None)
        } else if message.starts_with("invalid type") || message.starts_with("invalid value") {
            ("has the wrong type", None)
        } else {
            // A message of our own types' parsers (they are written for clients).
            return (problem(path, message), Fix::Stop);
        };
    (problem(path, text), stand_in.map_or(Fix::Stop, Fix::Put))
}

/// Applies `fix` where `segments` lead; `None` when there is nothing (more) to do.
fn repair(value: &mut Value, segments: &[Segment], fix: Fix) -> Option<()> {
    let mut at = value;
    for segment in segments {
        at = match segment {
            Segment::Seq { index } => at.get_mut(*index)?,
            Segment::Map { key } => at.get_mut(key.as_str())?,
            Segment::Enum { .. } | Segment::Unknown => return None,
        };
    }
    match fix {
        Fix::Put(stand_in) => *at = stand_in,
        Fix::Remove(name) => {
            at.as_object_mut()?.remove(&name)?;
        }
        Fix::Stop => return None,
    }
    Some(())
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;
    use serde_json::json;

    use super::*;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[expect(dead_code, reason = "only decoded")]
    struct Body {
        email: String,
        quantity: i64,
        id: uuid::Uuid,
        flag: Option<bool>,
        items: Vec<Item>,
    }

    #[derive(Debug, Deserialize)]
    #[expect(dead_code, reason = "only decoded")]
    struct Item {
        quantity: u32,
    }

    fn fields(body: Value) -> Vec<(String, String)> {
        decode::<Body>(body)
            .unwrap_err()
            .into_iter()
            .map(|p| (p.field, p.message))
            .collect()
    }

    #[test]
    fn every_wrong_field_is_named_in_plain_words() {
        let got = fields(json!({
            "email": 42, "quantity": "7", "id": "42", "flag": "yes",
            "items": [{"quantity": 1}, {"quantity": -1}], "extra": 1
        }));
        let want = [
            ("email", "must be a string"),
            ("quantity", "must be an integer"),
            ("id", "must be a UUID"),
            ("flag", "must be true or false"),
            ("items[1].quantity", "is out of range"),
            ("extra", NOT_A_FIELD),
        ];
        let mut got_sorted = got.clone();
        got_sorted.sort();
        let mut want: Vec<(String, String)> = want
            .iter()
            .map(|(f, m)| ((*f).into(), (*m).into()))
            .collect();
        want.sort();
        assert_eq!(got_sorted, want, "{got:?}");
        for (_, message) in got {
            assert!(!message.contains("line") && !message.contains("expected"));
        }
    }

    #[test]
    fn missing_fields_are_required() {
        let got = fields(json!({"quantity": 1, "id": uuid::Uuid::nil(), "items": []}));
        assert_eq!(got, [("email".to_owned(), "is required".to_owned())]);
    }

    #[test]
    fn control_characters_are_refused_but_tabs_and_newlines_pass_in_text() {
        let got = fields(json!({"email": "a\u{0}@b.c", "items": [{"q": "x\u{1}"}]}));
        assert_eq!(
            got,
            [
                ("email".to_owned(), CONTROL.to_owned()),
                ("items[0].q".to_owned(), CONTROL.to_owned())
            ]
        );
        let ok = json!({"email": "a\tb\nc\r", "quantity": 1, "id": uuid::Uuid::nil(),
            "items": []});
        assert!(decode::<Body>(ok).is_ok());
        assert!(check_plain("q", "a\u{0}b").is_some());
        assert!(check_plain("q", "a\tb").is_some());
        assert!(check_plain("q", "a\u{85}b").is_some());
        assert!(check_plain("q", "kettle ☕").is_none());
    }
}
