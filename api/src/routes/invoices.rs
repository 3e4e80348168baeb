//! Rent invoices: generated per period, idempotently.

use super::{begin_write, read_conn};
use crate::auth::Landlord;
use crate::domain::Period;
use crate::error::ApiError;
use crate::extract::{Json, Query};
use crate::state::AppState;
use crate::store::{rentals, Page, PageQuery};
use axum::extract::State;
use axum::routing::{get, post};
use axum::Router;
use serde::Deserialize;
use uuid::Uuid;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/invoices", get(list))
        .route("/v1/invoices/generate", post(generate))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Generate {
    period: Period,
}

async fn generate(
    State(st): State<AppState>,
    Landlord(me): Landlord,
    Json(b): Json<Generate>,
) -> Result<axum::Json<serde_json::Value>, ApiError> {
    let mut tx = begin_write(&st, &me).await?;
    let created = rentals::generate_invoices(&mut tx, &me, b.period).await?;
    tx.commit().await?;
    Ok(axum::Json(serde_json::json!({
        "period": b.period,
        "created": created.len(),
        "invoices": created,
    })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    lease_id: Option<Uuid>,
    period: Option<Period>,
    limit: Option<i64>,
    cursor: Option<String>,
}

async fn list(
    State(st): State<AppState>,
    Landlord(me): Landlord,
    Query(q): Query<ListQuery>,
) -> Result<axum::Json<Page<rentals::Invoice>>, ApiError> {
    let (limit, before) = PageQuery {
        limit: q.limit,
        cursor: q.cursor,
    }
    .bounds()?;
    let mut c = read_conn(&st).await?;
    Ok(axum::Json(
        rentals::list_invoices(&mut c, &me, q.lease_id, q.period, limit, before).await?,
    ))
}
