//! Request extractors whose rejections use our problem+json shape and name the field.
//! Bodies are parsed strictly ([`strict`]: objects must be objects, no NUL anywhere) and
//! every rejection reason is ours: serde's messages (which quote values and name Rust
//! types) are translated ([`reason`]), never passed through.

pub mod strict;

use crate::error::ApiError;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::header;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

/// Largest JSON body accepted (callbacks and API bodies are small).
pub const MAX_BODY: usize = 256 * 1024;

/// JSON body extractor: a malformed body → 400 with line/column; a wrong or missing field →
/// 400 naming the field by its JSON path. Messages never echo submitted values.
pub struct Json<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for Json<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        if !is_json(req.headers()) {
            return Err(ApiError::field("Content-Type", "must be application/json"));
        }
        let bytes = axum::body::Bytes::from_request(req, state)
            .await
            .map_err(|_| ApiError::field("body", "must be a readable body of at most 256 KiB"))?;
        parse_json(&bytes).map(Json)
    }
}

/// `application/json` or any `+json` type.
pub fn is_json(h: &axum::http::HeaderMap) -> bool {
    h.get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|ct| {
            let ct = ct
                .split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase();
            ct == "application/json" || ct.ends_with("+json")
        })
        .unwrap_or(false)
}

/// Parses a JSON body into `T` (strictly: see [`strict`]).
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    if bytes.len() > MAX_BODY {
        return Err(ApiError::field("body", "must be at most 256 KiB"));
    }
    let value: serde_json::Value =
        serde_json::from_slice(bytes).map_err(|e| ApiError::BadRequest {
            detail: format!("malformed JSON at line {} column {}", e.line(), e.column()),
            params: vec![crate::error::InvalidParam {
                name: "body".into(),
                reason: "malformed JSON".into(),
            }],
        })?;
    from_value(&value)
}

/// Deserializes a parsed JSON value strictly, naming the offending field on failure.
pub fn from_value<T: DeserializeOwned>(value: &serde_json::Value) -> Result<T, ApiError> {
    serde_path_to_error::deserialize::<_, T>(strict::Strict(value)).map_err(|err| {
        let path = err.path().to_string();
        let msg = err.into_inner().to_string();
        let (field, why) = reason::explain(&msg);
        let name = match field {
            // serde reports a missing field at its parent's path.
            Some(f) if reason::is_missing(&msg) => join_path(&path, &f),
            // serde_path_to_error already includes an unknown field in the path.
            Some(f) if !(path == f || path.ends_with(&format!(".{f}"))) => join_path(&path, &f),
            _ if path == "." || path.is_empty() => "body".to_string(),
            _ => path,
        };
        ApiError::field(name, why)
    })
}

fn join_path(parent: &str, field: &str) -> String {
    if parent == "." || parent.is_empty() {
        field.to_string()
    } else {
        format!("{parent}.{field}")
    }
}

/// Turning serde's error messages into ours.
pub mod reason {
    /// Every reason we write ourselves starts with this word, so it passes through as is.
    const OURS: &str = "must ";

    pub fn is_missing(msg: &str) -> bool {
        msg.starts_with("missing field")
    }

    fn quoted(msg: &str) -> Option<String> {
        let rest = &msg[msg.find('`')? + 1..];
        Some(rest[..rest.find('`')?].to_string())
    }

    /// What serde expected, in words a client understands (no Rust type names).
    fn expected(exp: &str) -> String {
        let exp = exp.trim();
        let ints = [
            "u8", "u16", "u32", "u64", "u128", "usize", "i8", "i16", "i32", "i64", "i128", "isize",
        ];
        if exp.starts_with("struct ") || exp.starts_with("a map") || exp == "map" {
            "a JSON object".into()
        } else if exp.starts_with("a sequence") || exp.starts_with("tuple") {
            "a JSON array".into()
        } else if ints.contains(&exp) || exp.starts_with("an integer") {
            "an integer".into()
        } else if exp == "f32" || exp == "f64" || exp.starts_with("a number") {
            "a number".into()
        } else if exp == "a boolean" {
            "true or false".into()
        } else if exp.starts_with("enum ") || exp.starts_with("variant identifier") {
            "a string".into()
        } else if exp.starts_with("a ") || exp.starts_with("an ") {
            // Our own visitors' expectations ("a string", "a UUID", …) read well already.
            exp.replace('`', "")
        } else {
            "a valid value".into()
        }
    }

    /// (the field serde named, if any; the reason). Submitted values are never included.
    pub fn explain(msg: &str) -> (Option<String>, String) {
        let msg = match msg.rfind(" at line ") {
            Some(i) => &msg[..i],
            None => msg,
        };
        if msg.starts_with(OURS) {
            return (None, msg.to_string());
        }
        if msg.starts_with("missing field") {
            return (quoted(msg), "is required".into());
        }
        if msg.starts_with("unknown field") {
            return (quoted(msg), "is not a field of this request".into());
        }
        if msg.starts_with("duplicate field") {
            return (quoted(msg), "must not be given twice".into());
        }
        if msg.starts_with("unknown variant") {
            // The variants listed are ours (not client data): keep them, drop the value.
            let list = msg
                .split_once(", expected ")
                .map(|(_, e)| e.trim_start_matches("one of ").replace('`', ""))
                .unwrap_or_default();
            return (
                None,
                format!("must be one of: {}", list.replace(" or ", ", ")),
            );
        }
        if let Some(rest) = msg
            .strip_prefix("invalid type: ")
            .or_else(|| msg.strip_prefix("invalid value: "))
        {
            if let Some((_, exp)) = rest.rsplit_once(", expected ") {
                return (None, format!("must be {}", expected(exp)));
            }
        }
        if msg.starts_with("invalid length") {
            return (None, "must have the documented number of items".into());
        }
        (None, "must be a valid value".into())
    }
}

/// Query-string extractor with problem+json rejections naming the parameter.
pub struct Query<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for Query<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        let q = parts.uri.query().unwrap_or("");
        query_from_pairs(form_urlencoded::parse(q.as_bytes()).into_owned().collect()).map(Query)
    }
}

/// Deserializes decoded query pairs; a parameter given twice or holding NUL is refused.
pub fn query_from_pairs<T: DeserializeOwned>(pairs: Vec<(String, String)>) -> Result<T, ApiError> {
    let mut map = serde_json::Map::new();
    for (k, v) in pairs {
        if map.contains_key(&k) {
            return Err(ApiError::field(k, "must not be given twice"));
        }
        map.insert(k, serde_json::Value::String(v));
    }
    // Query values are strings; the target types parse them (see `domain::query`).
    from_value(&serde_json::Value::Object(map))
}

/// Path parameters; anything that cannot be read (bad percent-encoding) names no resource.
pub struct Path<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for Path<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|p| Path(p.0))
            .map_err(|_| ApiError::NotFound("resource"))
    }
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
    struct Inner {
        x: u32,
    }

    #[derive(serde::Deserialize, Debug)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct T {
        name: String,
        phone: crate::domain::Msisdn,
        n: u32,
        inner: Option<Inner>,
        kind: Option<crate::domain::PaymentKind>,
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
        assert_eq!((f.as_str(), r.as_str()), ("n", "must be an integer"));
        let (f, r) = err_of(r#"{"name":"a","phone":"0712345678"}"#);
        assert_eq!((f.as_str(), r.as_str()), ("n", "is required"));
        let (f, _) = err_of(r#"{"name":"a","phone":"0712345678","n":1,"extra":2}"#);
        assert_eq!(f, "extra");
        let (f, r) = err_of(r#"{"name":"a","#);
        assert_eq!(f, "body");
        assert_eq!(r, "malformed JSON");
        let (f, r) = err_of(r#"{"name":"a","phone":"0712345678","n":1,"kind":"cash"}"#);
        assert_eq!(f, "kind");
        assert_eq!(r, "must be one of: rent, deposit, other");
        assert!(!r.contains("cash"));
    }

    #[test]
    fn arrays_are_not_objects_and_nul_is_refused_anywhere() {
        let (f, r) = err_of(r#"["a","0712345678",1]"#);
        assert_eq!((f.as_str(), r.as_str()), ("body", "must be a JSON object"));
        let (f, r) = err_of(r#"{"name":"a","phone":"0712345678","n":1,"inner":[1]}"#);
        assert_eq!((f.as_str(), r.as_str()), ("inner", "must be a JSON object"));
        let (f, r) = err_of(r#"{"name":"a\u0000b","phone":"0712345678","n":1}"#);
        assert_eq!((f.as_str(), r.as_str()), ("name", strict::CONTROL_CHARS));
        // Rust type names never reach the client.
        let (_, r) = err_of(r#"{"name":"a","phone":"0712345678","n":1,"inner":"x"}"#);
        assert!(!r.contains("struct") && !r.contains("Inner"), "{r}");
    }
}
