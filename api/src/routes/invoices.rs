//! Rent invoices: generated per period, idempotently.

use super::{begin_write, read_conn, ApiRoute};
use crate::auth::Landlord;
use crate::domain::Period;
use crate::error::ApiError;
use crate::extract::{Json, Query};
use crate::state::AppState;
use crate::store::{rentals, Page, PageQuery};
use axum::extract::State;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

pub fn routes() -> Vec<ApiRoute> {
    vec![
        ApiRoute::get("/v1/invoices", list),
        ApiRoute::post("/v1/invoices/generate", generate),
    ]
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct Generate {
    /// `YYYY-MM`
    #[schema(value_type = String, example = "2026-02")]
    period: Period,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct Generated {
    #[schema(value_type = String)]
    period: Period,
    /// How many invoices this call created (0 when run again).
    created: usize,
    invoices: Vec<rentals::Invoice>,
}

/// Creates the period's rent invoice for every lease in force during it; idempotent.
#[utoipa::path(post, path = "/v1/invoices/generate", operation_id = "generateInvoices", tag = "rentals",
    request_body = Generate,
    responses((status = 200, description = "the invoices created now", body = Generated),
        (status = 400, response = super::openapi::BadRequest),
        (status = 401, response = super::openapi::Unauthorized),
        (status = 503, response = super::openapi::Unavailable)))]
async fn generate(
    State(st): State<AppState>,
    Landlord(me): Landlord,
    Json(b): Json<Generate>,
) -> Result<axum::Json<Generated>, ApiError> {
    let mut tx = begin_write(&st, &me).await?;
    let created = rentals::generate_invoices(&mut tx, &me, b.period).await?;
    tx.commit().await?;
    Ok(axum::Json(Generated {
        period: b.period,
        created: created.len(),
        invoices: created,
    }))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    lease_id: Option<Uuid>,
    /// `YYYY-MM`
    #[param(value_type = Option<String>)]
    period: Option<Period>,
    /// Page size, 1–200 (default 50).
    limit: Option<i64>,
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
}

/// Invoices, newest first.
#[utoipa::path(get, path = "/v1/invoices", operation_id = "listInvoices", tag = "rentals",
    params(ListQuery),
    responses((status = 200, description = "a page of invoices", body = Page<rentals::Invoice>),
        (status = 400, response = super::openapi::BadRequest),
        (status = 401, response = super::openapi::Unauthorized),
        (status = 503, response = super::openapi::Unavailable)))]
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
