//! Rent invoices: generated per period, idempotently.

use super::resource::{self, List, ListParams};
use super::ApiRoute;
use crate::auth::Landlord;
use crate::domain::Period;
use crate::error::{doc, ApiError};
use crate::extract::Json;
use crate::service::{self, resources::InvoiceFilter};
use crate::state::AppState;
use crate::store::{rentals::Invoice, Page, PageQuery};
use axum::extract::State;
use serde::{Deserialize, Serialize};

pub fn routes() -> Vec<ApiRoute> {
    vec![
        ApiRoute::get("/v1/invoices", list),
        ApiRoute::post("/v1/invoices/generate", generate),
    ]
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Generate {
    period: Period,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct Generated {
    period: Period,
    /// How many invoices this call created (0 when run again).
    created: usize,
    invoices: Vec<Invoice>,
}

/// Creates the period's rent invoice for every lease in force during it; idempotent.
#[utoipa::path(post, path = "/v1/invoices/generate", operation_id = "generateInvoices", tag = "rentals",
    request_body = Generate,
    responses((status = 200, description = "the invoices created now", body = Generated),
        (status = 400, response = doc::BadRequest),
        (status = 401, response = doc::Unauthorized),
        (status = 503, response = doc::Unavailable)))]
async fn generate(
    State(st): State<AppState>,
    Landlord(me): Landlord,
    Json(b): Json<Generate>,
) -> Result<axum::Json<Generated>, ApiError> {
    let invoices = service::rentals::generate_invoices(&st, &me, b.period).await?;
    Ok(axum::Json(Generated {
        period: b.period,
        created: invoices.len(),
        invoices,
    }))
}

/// Invoices, newest first.
#[utoipa::path(get, path = "/v1/invoices", operation_id = "listInvoices", tag = "rentals",
    params(PageQuery, InvoiceFilter),
    responses((status = 200, description = "a page of invoices", body = Page<Invoice>),
        (status = 400, response = doc::BadRequest),
        (status = 401, response = doc::Unauthorized),
        (status = 503, response = doc::Unavailable)))]
async fn list(
    State(st): State<AppState>,
    Landlord(me): Landlord,
    q: ListParams<InvoiceFilter>,
) -> List<Invoice> {
    resource::list(&st, &me, q).await
}
