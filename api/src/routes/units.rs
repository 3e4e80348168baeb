//! Units: label, monthly rent, deposit, and the M-Pesa account reference tenants type.

use super::resource::{self, List, ListParams, Show};
use super::ApiRoute;
use crate::auth::Landlord;
use crate::domain::text::Text50;
use crate::domain::{AccountRef, Kes, PositiveKes};
use crate::error::{doc, ApiError};
use crate::extract::{Json, Path};
use crate::service::{self, resources::UnitFilter};
use crate::state::AppState;
use crate::store::{rentals::Unit, Page, PageQuery};
use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use uuid::Uuid;

pub fn routes() -> Vec<ApiRoute> {
    vec![
        ApiRoute::get("/v1/units", list),
        ApiRoute::post("/v1/units", create),
        ApiRoute::get("/v1/units/{id}", show),
    ]
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewUnit {
    property_id: Uuid,
    label: Text50,
    monthly_rent: PositiveKes,
    deposit: Kes,
    /// The M-Pesa account number tenants type.
    account_ref: AccountRef,
}

/// Creates a unit of a property.
#[utoipa::path(post, path = "/v1/units", operation_id = "createUnit", tag = "rentals",
    request_body = NewUnit,
    responses((status = 201, description = "created", body = Unit),
        (status = 400, response = doc::BadRequest),
        (status = 401, response = doc::Unauthorized),
        (status = 409, response = doc::Conflict),
        (status = 422, response = doc::Unprocessable),
        (status = 503, response = doc::Unavailable)))]
async fn create(
    State(st): State<AppState>,
    Landlord(me): Landlord,
    Json(b): Json<NewUnit>,
) -> Result<(StatusCode, axum::Json<Unit>), ApiError> {
    let u = service::rentals::create_unit(
        &st,
        &me,
        service::rentals::NewUnit {
            property_id: b.property_id,
            label: b.label,
            monthly_rent: b.monthly_rent,
            deposit: b.deposit,
            account_ref: b.account_ref,
        },
    )
    .await?;
    Ok((StatusCode::CREATED, axum::Json(u)))
}

/// One unit.
#[utoipa::path(get, path = "/v1/units/{id}", operation_id = "getUnit", tag = "rentals",
    params(("id" = uuid::Uuid, Path, description = "unit id")),
    responses((status = 200, description = "the unit", body = Unit),
        (status = 401, response = doc::Unauthorized),
        (status = 404, response = doc::NotFound),
        (status = 503, response = doc::Unavailable)))]
async fn show(
    State(st): State<AppState>,
    Landlord(me): Landlord,
    Path(id): Path<String>,
) -> Show<Unit> {
    resource::show(&st, &me, &id).await
}

/// Units, newest first.
#[utoipa::path(get, path = "/v1/units", operation_id = "listUnits", tag = "rentals",
    params(PageQuery, UnitFilter),
    responses((status = 200, description = "a page of units", body = Page<Unit>),
        (status = 400, response = doc::BadRequest),
        (status = 401, response = doc::Unauthorized),
        (status = 503, response = doc::Unavailable)))]
async fn list(
    State(st): State<AppState>,
    Landlord(me): Landlord,
    q: ListParams<UnitFilter>,
) -> List<Unit> {
    resource::list(&st, &me, q).await
}
