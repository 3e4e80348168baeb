//! pm-api: the Property Management API. One `router()` serves both the local server
//! (`pm-api serve`) and the AWS Lambda entry point.

pub mod admission;
pub mod auth;
pub mod db_secret;
pub mod domain;
pub mod error;
pub mod extract;
pub mod lambda;
pub mod migrate;
pub mod routes;
pub mod server;
pub mod service;
pub mod state;
pub mod store;
pub mod telemetry;

pub use state::{AppState, Settings};

use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::Router;
use std::time::{Duration, Instant};

pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// The environment variable a deployer labels a release with (see [`version`]).
pub const VERSION_ENV: &str = "PM_API_VERSION";

/// The version this process reports (`/health`, `/ready`, logs): the release label its
/// deployer gave it in `PM_API_VERSION` (`pmctl deploy` labels each release it starts),
/// else the crate version it was built as. A label that is not 1–64 characters of
/// letters, digits, `.`, `+`, `-`, `_` is ignored.
pub fn version() -> &'static str {
    static V: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    V.get_or_init(|| match std::env::var(VERSION_ENV) {
        Ok(v) if valid_version_label(&v) => v,
        _ => VERSION.to_string(),
    })
}

/// A release label pmctl and the API accept.
pub fn valid_version_label(v: &str) -> bool {
    !v.is_empty()
        && v.len() <= 64
        && v.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '+' | '-' | '_'))
}

/// Embedded migrations, applied by `pm-api migrate` or `serve --migrate`.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// The whole API, built from the one route table ([`routes::table`]) that the OpenAPI
/// test checks against `/openapi.json`.
pub fn router(state: AppState) -> Router {
    let mut api = Router::new();
    for r in routes::table(&state) {
        api = api.route(r.path, r.handler);
    }
    api.fallback(|| async { error::ApiError::NotFound("route") })
        .layer(middleware::from_fn_with_state(
            state.clone(),
            writer_region_hint,
        ))
        .layer(middleware::from_fn(access_log))
        .layer(axum::extract::DefaultBodyLimit::max(extract::MAX_BODY))
        // Outermost: a shed request costs nothing more than the admission check.
        .layer(middleware::from_fn_with_state(
            state.clone(),
            admission::admit,
        ))
        .with_state(state)
}

/// Logs one line per request. Only the route template is logged, never the raw path:
/// callback paths carry a secret token, and bodies/queries may carry personal data.
async fn access_log(req: Request, next: Next) -> Response {
    let start = Instant::now();
    let method = req.method().clone();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "<unmatched>".into());
    let resp = next.run(req).await;
    let status = resp.status().as_u16();
    let ms = start.elapsed().as_secs_f64() * 1000.0;
    if status >= 500 {
        tracing::warn!(%method, route, status, ms, "request");
    } else if route == "/ready" || route == "/health" {
        // Health checks arrive every second from the front door / Route 53.
        tracing::debug!(%method, route, status, ms, "request");
    } else {
        tracing::info!(%method, route, status, ms, "request");
    }
    resp
}

/// On a read-only 503, names the writer region (from the replicated topology row that
/// pmctl maintains) so clients and the front door know where writes go now.
async fn writer_region_hint(State(st): State<AppState>, req: Request, next: Next) -> Response {
    let mut resp = next.run(req).await;
    if resp.status() == StatusCode::SERVICE_UNAVAILABLE
        && !resp.headers().contains_key(error::WRITER_REGION_HEADER)
        && resp
            .headers()
            .get("content-type")
            .is_some_and(|v| v == "application/problem+json")
    {
        let q = store::health::writer_region(&st.db);
        if let Ok(Ok(Some(w))) = tokio::time::timeout(Duration::from_millis(500), q).await {
            if w != st.settings.region {
                if let Ok(v) = HeaderValue::from_str(&w) {
                    resp.headers_mut().insert(error::WRITER_REGION_HEADER, v);
                }
            }
        }
    }
    resp
}

/// A pool for the API: lazy, so the process starts (and `/health` answers) while the
/// database is down; short acquire timeout, so requests fail fast during a failover.
pub fn pool_options(max: u32) -> sqlx::postgres::PgPoolOptions {
    sqlx::postgres::PgPoolOptions::new()
        .max_connections(max)
        .min_connections(0)
        .acquire_timeout(Duration::from_secs(3))
        .idle_timeout(Duration::from_secs(60))
        // A pooled session may be gone (database restarted, failed over, credentials
        // rotated, sessions killed): check it before use, so the request gets a fresh one
        // instead of a 503. Costs a round trip per checkout; the inbox's group commit
        // checks out once per batch, not per callback.
        .test_before_acquire(true)
}
