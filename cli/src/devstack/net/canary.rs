//! The admin API's canary routes (deploys): `PUT` / `DELETE /admin/canary/{region}`.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path as UrlPath, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;

use super::super::frontdoor::{problem, CanarySpec};
use super::admin::{bad_body, parse_body, Admin};

pub(super) async fn put_canary(
    State(admin): State<Arc<Admin>>,
    UrlPath(region): UrlPath<String>,
    body: Bytes,
) -> Response {
    let spec: CanarySpec = match parse_body(&body) {
        Ok(s) => s,
        Err(err) => return bad_body(err),
    };
    let _guard = admin.mutate.lock().await;
    match admin.frontdoor.set_canary(&region, spec) {
        Ok(()) => Json(admin.state()).into_response(),
        Err(e) => problem(StatusCode::BAD_REQUEST, "Canary not set", &e),
    }
}

pub(super) async fn delete_canary(
    State(admin): State<Arc<Admin>>,
    UrlPath(region): UrlPath<String>,
) -> Response {
    let _guard = admin.mutate.lock().await;
    match admin.frontdoor.clear_canary(&region) {
        Ok(()) => Json(admin.state()).into_response(),
        Err(e) => problem(StatusCode::BAD_REQUEST, "Unknown region", &e.to_string()),
    }
}
