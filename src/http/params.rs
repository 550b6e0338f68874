//! Unknown query parameters are a 400 naming the parameter, on every documented route: the
//! parameters a route takes are read from the OpenAPI document, so what is documented is
//! exactly what is accepted (API.md, Lists). Routes outside the document (`/docs`, the
//! document itself) are not checked.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use super::error::{ApiError, FieldProblem};

/// The query parameters of each `(METHOD, path template)` of the document.
#[derive(Debug, Default)]
pub struct KnownParams(HashMap<(String, String), BTreeSet<String>>);

impl KnownParams {
    pub fn of(document: &Value) -> Self {
        let mut known = HashMap::new();
        let Some(paths) = document["paths"].as_object() else {
            return Self(known);
        };
        for (path, item) in paths {
            let shared = query_names(&item["parameters"]);
            let Some(operations) = item.as_object() else {
                continue;
            };
            for (method, operation) in operations {
                if method == "parameters" || !operation.is_object() {
                    continue;
                }
                let mut names = shared.clone();
                names.extend(query_names(&operation["parameters"]));
                known.insert((method.to_ascii_uppercase(), path.clone()), names);
            }
        }
        Self(known)
    }

    /// The first parameter of `query` the route does not take, if any; `None` too for a
    /// route the document does not describe.
    fn unknown(&self, method: &str, path: &str, query: &str) -> Option<String> {
        // HEAD is answered by the GET route.
        let method = if method == "HEAD" { "GET" } else { method };
        let names = self.0.get(&(method.to_owned(), path.to_owned()))?;
        form_urlencoded::parse(query.as_bytes())
            .map(|(key, _)| key.into_owned())
            .find(|key| !names.contains(key))
    }
}

fn query_names(parameters: &Value) -> BTreeSet<String> {
    parameters
        .as_array()
        .into_iter()
        .flatten()
        .filter(|p| p["in"] == "query")
        .filter_map(|p| p["name"].as_str().map(str::to_owned))
        .collect()
}

pub async fn refuse_unknown(
    State(known): State<Arc<KnownParams>>,
    request: Request,
    next: Next,
) -> Response {
    if let (Some(query), Some(path)) = (
        request.uri().query().filter(|q| !q.is_empty()),
        request.extensions().get::<MatchedPath>(),
    ) && let Some(name) = known.unknown(request.method().as_str(), path.as_str(), query)
    {
        return ApiError::fields(vec![FieldProblem {
            field: name.escape_debug().to_string(),
            message: "is not a parameter of this route".to_owned(),
        }])
        .into_response();
    }
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn only_documented_query_parameters_pass() {
        let known = KnownParams::of(&json!({"paths": {
            "/orders": {"get": {"parameters": [
                {"in": "query", "name": "status"}, {"in": "header", "name": "X-Min-Position"}]}},
            "/orders/{id}": {"parameters": [{"in": "path", "name": "id"}], "get": {}},
        }}));
        assert_eq!(known.unknown("GET", "/orders", "status=paid"), None);
        assert_eq!(known.unknown("HEAD", "/orders", "status=paid"), None);
        assert_eq!(
            known.unknown("GET", "/orders", "status=paid&colour=red"),
            Some("colour".into())
        );
        assert_eq!(
            known.unknown("GET", "/orders", "X-Min-Position=1"),
            Some("X-Min-Position".into())
        );
        assert_eq!(
            known.unknown("GET", "/orders/{id}", "id=1"),
            Some("id".into())
        );
        assert_eq!(
            known.unknown("POST", "/orders", "x=1"),
            None,
            "undocumented"
        );
        assert_eq!(known.unknown("GET", "/docs", "x=1"), None, "undocumented");
    }
}
