//! The admin API: routes, bearer-token check and the mutations they apply.

use std::collections::BTreeMap;
use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path as UrlPath, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::super::frontdoor::{problem, FrontDoor};
use super::super::link::Link;
use super::{error_chain, LinkMode, NetError, NetState, PersistedState};

pub(super) struct Admin {
    pub(super) frontdoor: Arc<FrontDoor>,
    pub(super) links: BTreeMap<String, Arc<Link>>,
    pub(super) token_digest: [u8; 32],
    pub(super) state_file: PathBuf,
    /// Serialises mutations so the state file always holds the latest state.
    pub(super) mutate: tokio::sync::Mutex<()>,
    pub(super) started_at: DateTime<Utc>,
    pub(super) frontdoor_listen: SocketAddr,
    pub(super) admin_listen: SocketAddr,
}

impl Admin {
    pub(super) fn state(&self) -> NetState {
        NetState {
            generated_at: Utc::now(),
            started_at: self.started_at,
            frontdoor_listen: self.frontdoor_listen,
            admin_listen: self.admin_listen,
            records: self.frontdoor.records(),
            primary: self.frontdoor.primary().to_string(),
            health: self.frontdoor.health(),
            routing_to: self.frontdoor.routing_to().to_string(),
            writes_blocked: self.frontdoor.writes_blocked(),
            links: self.links.values().map(|l| l.snapshot()).collect(),
            metrics: self.frontdoor.metrics(),
            canaries: self.frontdoor.canaries(),
        }
    }

    fn persisted(&self) -> PersistedState {
        PersistedState {
            primary: self.frontdoor.primary().to_string(),
            writes_blocked: self.frontdoor.writes_blocked(),
            links: self
                .links
                .iter()
                .map(|(name, link)| (name.clone(), link.mode()))
                .collect(),
            updated_at: Utc::now(),
        }
    }

    pub(super) async fn persist(&self) -> Result<(), NetError> {
        let state = self.persisted();
        let path = self.state_file.clone();
        let result = tokio::task::spawn_blocking(move || state.save(&path))
            .await
            .unwrap_or_else(|e| Err(io::Error::other(e)));
        result.map_err(|source| NetError::WriteState {
            path: self.state_file.clone(),
            source,
        })
    }

    /// Persists after a mutation and answers with the new state (500 if persisting failed).
    async fn persisted_response(&self) -> Response {
        match self.persist().await {
            Ok(()) => Json(self.state()).into_response(),
            Err(err) => {
                tracing::error!(error = %error_chain(&err), "cannot persist net state");
                problem(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "State not persisted",
                    &format!(
                        "the change is in force but was not persisted: {}",
                        error_chain(&err)
                    ),
                )
            }
        }
    }
}

pub(super) fn admin_router(admin: Arc<Admin>) -> Router {
    let authed = Router::new()
        .route("/admin/state", get(get_state))
        .route("/admin/primary", put(put_primary))
        .route("/admin/writes", put(put_writes))
        .route("/admin/links/{name}", put(put_link))
        .route("/admin/metrics/reset", post(reset_metrics))
        .route(
            "/admin/canary/{region}",
            put(super::canary::put_canary).delete(super::canary::delete_canary),
        )
        .route_layer(middleware::from_fn_with_state(admin.clone(), require_token));
    Router::new()
        .route("/admin/health", get(|| async { "ok" }))
        .merge(authed)
        .fallback(|| async { problem(StatusCode::NOT_FOUND, "Not found", "no such admin route") })
        .with_state(admin)
}

async fn require_token(State(admin): State<Arc<Admin>>, req: Request, next: Next) -> Response {
    let presented = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    let ok = match presented {
        // Compare fixed-length digests without an early exit: constant time in the token.
        Some(token) => {
            let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
            digest
                .iter()
                .zip(admin.token_digest.iter())
                .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                == 0
        }
        None => false,
    };
    if ok {
        return next.run(req).await;
    }
    let mut resp = problem(
        StatusCode::UNAUTHORIZED,
        "Unauthorized",
        "admin API requests need `Authorization: Bearer <admin_token>` with the token from net.json",
    );
    resp.headers_mut()
        .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    resp
}

/// Parses a JSON body; see [`bad_body`] for the answer on failure.
pub(super) fn parse_body<T: DeserializeOwned>(body: &Bytes) -> Result<T, serde_json::Error> {
    serde_json::from_slice(body)
}

/// 400 problem+json for a body that does not parse.
pub(super) fn bad_body(err: serde_json::Error) -> Response {
    problem(
        StatusCode::BAD_REQUEST,
        "Bad request body",
        &format!("invalid JSON body: {err}"),
    )
}

async fn get_state(State(admin): State<Arc<Admin>>) -> Json<NetState> {
    Json(admin.state())
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct PrimaryBody {
    region: String,
}

async fn put_primary(State(admin): State<Arc<Admin>>, body: Bytes) -> Response {
    let body: PrimaryBody = match parse_body(&body) {
        Ok(b) => b,
        Err(err) => return bad_body(err),
    };
    let _guard = admin.mutate.lock().await;
    if let Err(err) = admin.frontdoor.set_primary(&body.region) {
        return problem(StatusCode::BAD_REQUEST, "Unknown region", &err.to_string());
    }
    admin.persisted_response().await
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct WritesBody {
    blocked: bool,
}

async fn put_writes(State(admin): State<Arc<Admin>>, body: Bytes) -> Response {
    let body: WritesBody = match parse_body(&body) {
        Ok(b) => b,
        Err(err) => return bad_body(err),
    };
    let _guard = admin.mutate.lock().await;
    admin.frontdoor.set_writes_blocked(body.blocked);
    admin.persisted_response().await
}

async fn put_link(
    State(admin): State<Arc<Admin>>,
    UrlPath(name): UrlPath<String>,
    body: Bytes,
) -> Response {
    let Some(link) = admin.links.get(&name).cloned() else {
        return problem(
            StatusCode::NOT_FOUND,
            "Unknown link",
            &format!(
                "no link named {name:?} (known: {})",
                admin.links.keys().cloned().collect::<Vec<_>>().join(", ")
            ),
        );
    };
    let mode: LinkMode = match parse_body(&body) {
        Ok(m) => m,
        Err(err) => return bad_body(err),
    };
    let _guard = admin.mutate.lock().await;
    if let Err(err) = link.set_mode(mode).await {
        return problem(
            StatusCode::CONFLICT,
            "Link mode not changed",
            &format!(
                "cannot set link {name} to {mode}: cannot listen on {} again: {err}",
                link.listen_addr()
            ),
        );
    }
    admin.persisted_response().await
}

async fn reset_metrics(State(admin): State<Arc<Admin>>) -> Json<NetState> {
    admin.frontdoor.reset_metrics();
    Json(admin.state())
}
