//! Checks of an OpenAPI document the tests run: every routed (method, path) is documented
//! ([`undocumented`]), every documented one is routed ([`unrouted`]), and the document is
//! structurally valid OpenAPI 3.1 ([`structural_errors`]). Its own tests prove it can fail.
#![allow(dead_code)]

use axum::http::Method;
use serde_json::Value;
use std::collections::{BTreeSet, HashSet};

const METHODS: [&str; 8] = [
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

/// Every documented (method, path) of `doc`, methods lower-case.
pub fn documented(doc: &Value) -> BTreeSet<(String, String)> {
    let mut out = BTreeSet::new();
    if let Some(paths) = doc.get("paths").and_then(Value::as_object) {
        for (path, item) in paths {
            for m in METHODS {
                if item.get(m).is_some() {
                    out.insert((m.to_string(), path.clone()));
                }
            }
        }
    }
    out
}

/// The routed (method, path) pairs missing from `doc`, as `METHOD path`.
pub fn undocumented<'a>(
    routes: impl IntoIterator<Item = (&'a Method, &'a str)>,
    doc: &Value,
) -> Vec<String> {
    let docs = documented(doc);
    routes
        .into_iter()
        .filter(|(m, p)| !docs.contains(&(m.as_str().to_ascii_lowercase(), p.to_string())))
        .map(|(m, p)| format!("{m} {p}"))
        .collect()
}

/// The documented (method, path) pairs no route serves.
pub fn unrouted<'a>(
    routes: impl IntoIterator<Item = (&'a Method, &'a str)>,
    doc: &Value,
) -> Vec<String> {
    let routed: HashSet<(String, String)> = routes
        .into_iter()
        .map(|(m, p)| (m.as_str().to_ascii_lowercase(), p.to_string()))
        .collect();
    documented(doc)
        .into_iter()
        .filter(|k| !routed.contains(k))
        .map(|(m, p)| format!("{} {p}", m.to_ascii_uppercase()))
        .collect()
}

/// Structural checks of an OpenAPI 3.1 document beyond what serde guarantees: the version,
/// `info`, path templates and their path parameters, every operation with at least one
/// response and every response with a description, unique operation ids, known security
/// schemes, and every `$ref` resolving inside the document. Returns the problems found.
pub fn structural_errors(doc: &Value) -> Vec<String> {
    let mut errs = Vec::new();
    match doc.get("openapi").and_then(Value::as_str) {
        Some(v) if v.starts_with("3.1.") => {}
        other => errs.push(format!("`openapi` must be 3.1.x, is {other:?}")),
    }
    for k in ["title", "version"] {
        if doc
            .pointer(&format!("/info/{k}"))
            .and_then(Value::as_str)
            .is_none_or(str::is_empty)
        {
            errs.push(format!("info.{k} is required"));
        }
    }
    let schemes: HashSet<String> = doc
        .pointer("/components/securitySchemes")
        .and_then(Value::as_object)
        .map(|o| o.keys().cloned().collect())
        .unwrap_or_default();
    let check_security = |where_: &str, sec: &Value, errs: &mut Vec<String>| {
        for req in sec.as_array().into_iter().flatten() {
            for name in req.as_object().into_iter().flat_map(|o| o.keys()) {
                if !schemes.contains(name) {
                    errs.push(format!("{where_}: unknown security scheme `{name}`"));
                }
            }
        }
    };
    if let Some(sec) = doc.get("security") {
        check_security("root", sec, &mut errs);
    }
    let mut op_ids = HashSet::new();
    match doc.get("paths").and_then(Value::as_object) {
        None => errs.push("`paths` is missing".into()),
        Some(paths) => {
            for (path, item) in paths {
                if !path.starts_with('/') {
                    errs.push(format!("path `{path}` must start with /"));
                }
                let templated: Vec<&str> = path
                    .split('/')
                    .filter_map(|seg| seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
                    .collect();
                let Some(item) = item.as_object() else {
                    errs.push(format!("{path}: path item must be an object"));
                    continue;
                };
                for (key, op) in item {
                    if !METHODS.contains(&key.as_str()) {
                        if !["parameters", "summary", "description", "servers", "$ref"]
                            .contains(&key.as_str())
                        {
                            errs.push(format!("{path}: unknown path item field `{key}`"));
                        }
                        continue;
                    }
                    let at = format!("{} {path}", key.to_ascii_uppercase());
                    if let Some(id) = op.get("operationId").and_then(Value::as_str) {
                        if !op_ids.insert(id.to_string()) {
                            errs.push(format!("{at}: duplicate operationId `{id}`"));
                        }
                    }
                    match op.get("responses").and_then(Value::as_object) {
                        Some(r) if !r.is_empty() => {
                            for (status, resp) in r {
                                let ok_status = status == "default"
                                    || (status.len() == 3
                                        && (status.bytes().all(|b| b.is_ascii_digit())
                                            || status.ends_with("XX")));
                                if !ok_status {
                                    errs.push(format!("{at}: bad response status `{status}`"));
                                }
                                if resp.get("$ref").is_none()
                                    && resp.get("description").and_then(Value::as_str).is_none()
                                {
                                    errs.push(format!(
                                        "{at} {status}: response needs a description"
                                    ));
                                }
                            }
                        }
                        _ => errs.push(format!("{at}: operation has no responses")),
                    }
                    if let Some(sec) = op.get("security") {
                        check_security(&at, sec, &mut errs);
                    }
                    let params: Vec<&Value> = op
                        .get("parameters")
                        .and_then(Value::as_array)
                        .into_iter()
                        .flatten()
                        .chain(
                            item.get("parameters")
                                .and_then(Value::as_array)
                                .into_iter()
                                .flatten(),
                        )
                        .collect();
                    let mut seen = HashSet::new();
                    for p in &params {
                        let (Some(name), Some(inn)) = (
                            p.get("name").and_then(Value::as_str),
                            p.get("in").and_then(Value::as_str),
                        ) else {
                            if p.get("$ref").is_none() {
                                errs.push(format!("{at}: parameter needs `name` and `in`"));
                            }
                            continue;
                        };
                        if !["query", "header", "path", "cookie"].contains(&inn) {
                            errs.push(format!("{at}: parameter `{name}` in unknown `{inn}`"));
                        }
                        if !seen.insert((name, inn)) {
                            errs.push(format!("{at}: parameter `{name}` in {inn} twice"));
                        }
                        if inn == "path" {
                            if p.get("required") != Some(&Value::Bool(true)) {
                                errs.push(format!(
                                    "{at}: path parameter `{name}` must be required"
                                ));
                            }
                            if !templated.contains(&name) {
                                errs.push(format!("{at}: path parameter `{name}` not in the path"));
                            }
                        }
                        if p.get("schema").is_none() && p.get("content").is_none() {
                            errs.push(format!("{at}: parameter `{name}` needs a schema"));
                        }
                    }
                    for t in &templated {
                        if !seen.contains(&(*t, "path")) {
                            errs.push(format!("{at}: path parameter `{t}` is not documented"));
                        }
                    }
                }
            }
        }
    }
    let mut refs = Vec::new();
    collect_refs(doc, &mut refs);
    for r in refs {
        match r.strip_prefix('#') {
            Some(ptr) if doc.pointer(ptr).is_some() => {}
            _ => errs.push(format!("$ref `{r}` does not resolve")),
        }
    }
    errs
}

fn collect_refs(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(o) => {
            for (k, x) in o {
                match (k.as_str(), x) {
                    ("$ref", Value::String(s)) => out.push(s.clone()),
                    _ => collect_refs(x, out),
                }
            }
        }
        Value::Array(a) => a.iter().for_each(|x| collect_refs(x, out)),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_checker_finds_an_undocumented_route_and_an_unrouted_operation() {
        let doc = json!({"paths": {
            "/v1/things": {"get": {"responses": {"200": {"description": "ok"}}}},
            "/v1/things/{id}": {"get": {"responses": {"200": {"description": "ok"}}}},
        }});
        let routes = [
            (Method::GET, "/v1/things"),
            (Method::POST, "/v1/things"), // routed, not documented
        ];
        let pairs = routes.iter().map(|(m, p)| (m, *p));
        assert_eq!(undocumented(pairs.clone(), &doc), vec!["POST /v1/things"]);
        assert_eq!(unrouted(pairs, &doc), vec!["GET /v1/things/{id}"]);
    }

    #[test]
    fn the_structural_check_catches_broken_documents() {
        let doc = json!({
            "openapi": "3.0.3",
            "info": {"title": "t"},
            "security": [{"nope": []}],
            "paths": {
                "/a/{id}": {"get": {"responses": {}}},
                "/b": {"post": {
                    "operationId": "x",
                    "parameters": [{"name": "id", "in": "path", "schema": {}}],
                    "responses": {"200": {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Missing"}}}}}
                }},
                "/c": {"get": {"operationId": "x", "responses": {"2000": {"description": "?"}}}}
            }
        });
        let errs = structural_errors(&doc).join("\n");
        for needle in [
            "`openapi` must be 3.1.x",
            "info.version is required",
            "unknown security scheme `nope`",
            "GET /a/{id}: operation has no responses",
            "GET /a/{id}: path parameter `id` is not documented",
            "POST /b: path parameter `id` must be required",
            "POST /b: path parameter `id` not in the path",
            "POST /b 200: response needs a description",
            "$ref `#/components/schemas/Missing` does not resolve",
            "duplicate operationId `x`",
            "bad response status `2000`",
        ] {
            assert!(errs.contains(needle), "missing `{needle}` in:\n{errs}");
        }
    }
}
