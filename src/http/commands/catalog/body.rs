//! Request bodies read field by field, so every 400 names its field, unknown fields included
//! (serde's `deny_unknown_fields` message names no field).

use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::domain::validate::FieldError;
use crate::http::error::{ApiError, FieldProblem};

/// A JSON object read field by field; every problem is collected and names its field.
pub(in crate::http::commands) struct Body {
    fields: Map<String, Value>,
    errors: Vec<FieldProblem>,
}

impl Body {
    /// Refuses anything but an object, and names every field not in `allowed`.
    pub(in crate::http::commands) fn object(
        value: Value,
        allowed: &[&str],
    ) -> Result<Self, ApiError> {
        let Value::Object(fields) = value else {
            return Err(ApiError::bad_request("the body must be a JSON object"));
        };
        let errors = fields
            .keys()
            .filter(|k| !allowed.contains(&k.as_str()))
            .map(|k| FieldProblem {
                field: k.clone(),
                message: "is not a known field".into(),
            })
            .collect();
        Ok(Self { fields, errors })
    }

    /// A field this request may not carry, with why.
    pub(in crate::http::commands) fn refuse(&mut self, name: &str, message: &str) {
        if self.fields.remove(name).is_some() {
            self.error(name, message);
        }
    }

    pub(in crate::http::commands) fn error(&mut self, field: &str, message: impl Into<String>) {
        self.errors.push(FieldProblem {
            field: field.to_owned(),
            message: message.into(),
        });
    }

    /// Absent or null is `None`; a value of the wrong JSON type, or one `parse` refuses, is
    /// an error on `name` (whatever field the parser's own error names).
    pub(in crate::http::commands) fn optional<R: DeserializeOwned, T>(
        &mut self,
        name: &str,
        parse: impl FnOnce(R) -> Result<T, FieldError>,
    ) -> Option<T> {
        let raw = match self.fields.remove(name)? {
            Value::Null => return None,
            raw => raw,
        };
        match crate::http::input::decode::<R>(raw) {
            Ok(value) => parse(value).map_err(|e| self.error(name, e.message)).ok(),
            Err(problems) => {
                for problem in problems {
                    let field = match problem.field.as_str() {
                        "body" => name.to_owned(),
                        inner if inner.starts_with('[') => format!("{name}{inner}"),
                        inner => format!("{name}.{inner}"),
                    };
                    self.error(&field, problem.message);
                }
                None
            }
        }
    }

    pub(in crate::http::commands) fn required<R: DeserializeOwned, T>(
        &mut self,
        name: &str,
        parse: impl FnOnce(R) -> Result<T, FieldError>,
    ) -> Option<T> {
        if self.fields.get(name).is_none_or(Value::is_null) {
            self.error(name, "is required");
            return None;
        }
        self.optional(name, parse)
    }

    pub(in crate::http::commands) fn finish(self) -> Result<(), ApiError> {
        if self.errors.is_empty() {
            Ok(())
        } else {
            Err(ApiError::fields(self.errors))
        }
    }
}
