//! Request extractors whose rejections use our problem+json shape and name the field.

use crate::error::ApiError;
use axum::extract::{FromRequest, Request};
use axum::http::header;
use serde::de::DeserializeOwned;

/// Largest JSON body accepted (callbacks and API bodies are small).
pub const MAX_BODY: usize = 256 * 1024;

/// JSON body extractor: a malformed body → 400 with line/column; a wrong or missing field →
/// 400 naming the field by its JSON path. Messages never echo submitted values.
pub struct Json<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for Json<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let is_json = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(|ct| {
                let ct = ct.split(';').next().unwrap_or("").trim();
                ct == "application/json" || ct.ends_with("+json")
            })
            .unwrap_or(false);
        if !is_json {
            return Err(ApiError::field("Content-Type", "expected application/json"));
        }
        let bytes = axum::body::Bytes::from_request(req, state)
            .await
            .map_err(|_| ApiError::field("body", "could not read the request body"))?;
        if bytes.len() > MAX_BODY {
            return Err(ApiError::field("body", "request body too large"));
        }
        parse_json(&bytes).map(Json)
    }
}

pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    match serde_path_to_error::deserialize::<_, T>(de) {
        Ok(v) => Ok(v),
        Err(err) => {
            let path = err.path().to_string();
            let inner = err.into_inner();
            if inner.is_syntax() || inner.is_eof() {
                return Err(ApiError::BadRequest {
                    detail: format!(
                        "malformed JSON at line {} column {}",
                        inner.line(),
                        inner.column()
                    ),
                    params: vec![crate::error::InvalidParam {
                        name: "body".into(),
                        reason: "malformed JSON".into(),
                    }],
                });
            }
            let msg = redact(&strip_position(&inner.to_string()));
            // serde reports a missing or unknown field at the parent's path; name the field.
            let name = if let Some(f) = quoted_after(&msg, "missing field") {
                join_path(&path, &f)
            } else if let Some(f) = quoted_after(&msg, "unknown field") {
                // serde_path_to_error already includes an unknown field in the path.
                if path == f || path.ends_with(&format!(".{f}")) {
                    path
                } else {
                    join_path(&path, &f)
                }
            } else if path == "." {
                "body".to_string()
            } else {
                path
            };
            Err(ApiError::field(name, msg))
        }
    }
}

fn join_path(parent: &str, field: &str) -> String {
    if parent == "." || parent.is_empty() {
        field.to_string()
    } else {
        format!("{parent}.{field}")
    }
}

fn strip_position(msg: &str) -> String {
    match msg.rfind(" at line ") {
        Some(i) => msg[..i].to_string(),
        None => msg.to_string(),
    }
}

fn quoted_after(msg: &str, prefix: &str) -> Option<String> {
    let rest = msg.strip_prefix(prefix)?.trim_start();
    let rest = rest.strip_prefix('`')?;
    Some(rest[..rest.find('`')?].to_string())
}

/// serde quotes offending values in backticks (`invalid type: string "0712…"`, `` integer `7` ``);
/// drop them so personal data never reaches an error body or a log. Field names in
/// "missing field"/"unknown field" messages are kept: they are ours, not the client's data.
fn redact(msg: &str) -> String {
    if msg.starts_with("missing field") || msg.starts_with("unknown field") {
        return match msg.find(", expected") {
            Some(i) => msg[..i].to_string(),
            None => msg.to_string(),
        };
    }
    let mut out = String::with_capacity(msg.len());
    let mut chars = msg.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '`' => {
                for c2 in chars.by_ref() {
                    if c2 == '`' {
                        break;
                    }
                }
                out.push_str("value");
            }
            '"' => {
                for c2 in chars.by_ref() {
                    if c2 == '"' {
                        break;
                    }
                }
                out.push_str("value");
            }
            _ => out.push(c),
        }
    }
    out
}

/// Query-string extractor with problem+json rejections naming the parameter.
pub struct Query<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> axum::extract::FromRequestParts<S> for Query<T> {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _state: &S,
    ) -> Result<Self, ApiError> {
        let q = parts.uri.query().unwrap_or("");
        let de = serde_urlencoded::Deserializer::new(form_urlencoded_parse(q));
        match serde_path_to_error::deserialize::<_, T>(de) {
            Ok(v) => Ok(Query(v)),
            Err(e) => {
                let path = e.path().to_string();
                let msg = redact(&e.into_inner().to_string());
                let name = quoted_after(&msg, "missing field")
                    .or_else(|| quoted_after(&msg, "unknown field"))
                    .unwrap_or(path);
                Err(ApiError::field(name, msg))
            }
        }
    }
}

fn form_urlencoded_parse(q: &str) -> form_urlencoded::Parse<'_> {
    form_urlencoded::parse(q.as_bytes())
}

/// Parses a path id; an id that is not a UUID names no resource: 404, like a missing one.
pub fn path_id(raw: &str, what: &'static str) -> Result<uuid::Uuid, ApiError> {
    raw.parse().map_err(|_| ApiError::NotFound(what))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize, Debug)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct T {
        name: String,
        phone: crate::domain::Msisdn,
        n: u32,
    }

    fn err_of(body: &str) -> (String, String) {
        match parse_json::<T>(body.as_bytes()) {
            Err(ApiError::BadRequest { params, .. }) => {
                (params[0].name.clone(), params[0].reason.clone())
            }
            other => panic!("expected 400, got {other:?}"),
        }
    }

    #[test]
    fn names_fields_without_echoing_values() {
        let (f, r) = err_of(r#"{"name":"a","phone":"0799999999x","n":1}"#);
        assert_eq!(f, "phone");
        assert!(!r.contains("0799999999"), "{r}");
        let (f, r) = err_of(r#"{"name":"a","phone":799111222,"n":1}"#);
        assert_eq!(f, "phone");
        assert!(!r.contains("799111222"), "{r}");
        let (f, r) = err_of(r#"{"name":"a","phone":"0712345678","n":"secret-ish"}"#);
        assert_eq!(f, "n");
        assert!(!r.contains("secret-ish"), "{r}");
        let (f, _) = err_of(r#"{"name":"a","phone":"0712345678"}"#);
        assert_eq!(f, "n");
        let (f, _) = err_of(r#"{"name":"a","phone":"0712345678","n":1,"extra":2}"#);
        assert_eq!(f, "extra");
        let (f, r) = err_of(r#"{"name":"a","#);
        assert_eq!(f, "body");
        assert_eq!(r, "malformed JSON");
    }
}
