//! `GET /health` (process alive) and `GET /ready` (database reachable, its role).

use super::ApiRoute;
use crate::state::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use std::time::Duration;

pub fn routes() -> Vec<ApiRoute> {
    vec![
        ApiRoute::get("/health", health),
        ApiRoute::get("/ready", ready),
    ]
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct Health {
    /// Always `ok`.
    #[schema(value_type = String, pattern = "^ok$")]
    pub status: &'static str,
    pub version: &'static str,
}

/// The process is alive (says nothing about the database).
#[utoipa::path(get, path = "/health", operation_id = "health", tag = "health", security(()),
    responses((status = 200, description = "alive", body = Health)))]
async fn health() -> Json<Health> {
    Json(Health {
        status: "ok",
        version: crate::version(),
    })
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct Ready {
    /// `ready` | `unavailable`
    #[schema(value_type = String, pattern = "^(ready|unavailable)$")]
    pub status: &'static str,
    pub region: String,
    /// `writer` | `replica` (a fenced, read-only writer reports `replica`).
    #[schema(value_type = Option<String>, pattern = "^(writer|replica)$")]
    pub db_role: Option<&'static str>,
    pub fenced: bool,
    pub writer_region: Option<String>,
    pub epoch: Option<i64>,
    pub version: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<&'static str>,
}

/// The database is reachable; its role (writer or replica) and the writer region.
#[utoipa::path(get, path = "/ready", operation_id = "ready", tag = "health", security(()),
    responses(
        (status = 200, description = "ready", body = Ready),
        (status = 503, description = "database unreachable", body = Ready),
    ))]
async fn ready(State(state): State<AppState>) -> Response {
    let region = state.settings.region.clone();
    let facts = async {
        // Its own pool, and no admission control: readiness never waits behind requests.
        let mut c = state.health_db.acquire().await?;
        crate::store::health::db_facts(&mut c).await
    };
    match tokio::time::timeout(Duration::from_secs(1), facts).await {
        Ok(Ok((in_recovery, fenced, topo))) => {
            let role = if in_recovery || fenced {
                "replica"
            } else {
                "writer"
            };
            Json(Ready {
                status: "ready",
                region,
                db_role: Some(role),
                fenced: fenced && !in_recovery,
                writer_region: topo.as_ref().map(|t| t.0.clone()),
                epoch: topo.map(|t| t.1),
                version: crate::version(),
                error: None,
            })
            .into_response()
        }
        other => {
            if let Ok(Err(e)) = other {
                tracing::warn!(error = %e, "readiness: database unreachable");
            }
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(Ready {
                    status: "unavailable",
                    region,
                    db_role: None,
                    fenced: false,
                    writer_region: None,
                    epoch: None,
                    version: crate::version(),
                    error: Some("database unreachable"),
                }),
            )
                .into_response()
        }
    }
}
