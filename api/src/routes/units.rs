//! Units: label, monthly rent, deposit, and the M-Pesa account reference tenants type.

use super::{begin_write, read_conn, text, ApiRoute};
use crate::auth::Landlord;
use crate::domain::Kes;
use crate::error::ApiError;
use crate::extract::{path_id, Json, Query};
use crate::state::AppState;
use crate::store::{rentals, Page, PageQuery};
use axum::extract::{Path, State};
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
struct NewUnit {
    property_id: Uuid,
    label: String,
    /// Whole shillings: an integer or a decimal string such as "25000.00".
    #[schema(value_type = crate::routes::openapi::Money)]
    monthly_rent: Kes,
    #[schema(value_type = crate::routes::openapi::Money)]
    deposit: Kes,
    /// The M-Pesa account number tenants type (1–20 letters, digits, spaces, dashes).
    account_ref: String,
}

/// An account reference as tenants type it into M-Pesa's "Account no." (max 20 chars).
fn account_ref(raw: &str) -> Result<String, ApiError> {
    let t = raw.trim();
    if t.is_empty() || t.len() > 20 {
        return Err(ApiError::field("account_ref", "must be 1 to 20 characters"));
    }
    if !t
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == ' ')
    {
        return Err(ApiError::field(
            "account_ref",
            "may contain only letters, digits, spaces and dashes",
        ));
    }
    Ok(t.to_string())
}

/// Creates a unit of a property.
#[utoipa::path(post, path = "/v1/units", operation_id = "createUnit", tag = "rentals",
    request_body = NewUnit,
    responses((status = 201, description = "created", body = rentals::Unit),
        (status = 400, response = super::openapi::BadRequest),
        (status = 401, response = super::openapi::Unauthorized),
        (status = 409, response = super::openapi::Conflict),
        (status = 422, response = super::openapi::Unprocessable),
        (status = 503, response = super::openapi::Unavailable)))]
async fn create(
    State(st): State<AppState>,
    Landlord(me): Landlord,
    Json(b): Json<NewUnit>,
) -> Result<(StatusCode, axum::Json<rentals::Unit>), ApiError> {
    let label = text("label", &b.label, 50)?;
    let aref = account_ref(&b.account_ref)?;
    if b.monthly_rent.is_zero() {
        return Err(ApiError::field("monthly_rent", "must be greater than zero"));
    }
    let mut tx = begin_write(&st, &me).await?;
    if rentals::get_property(&mut tx, &me, b.property_id)
        .await?
        .is_none()
    {
        return Err(ApiError::unprocessable_field(
            "property_id",
            "no such property",
        ));
    }
    let u = rentals::insert_unit(
        &mut tx,
        &me,
        &rentals::NewUnit {
            property_id: b.property_id,
            label: &label,
            monthly_rent: b.monthly_rent.shillings(),
            deposit: b.deposit.shillings(),
            account_ref: &aref,
        },
    )
    .await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, axum::Json(u)))
}

/// One unit.
#[utoipa::path(get, path = "/v1/units/{id}", operation_id = "getUnit", tag = "rentals",
    params(("id" = uuid::Uuid, Path, description = "unit id")),
    responses((status = 200, description = "the unit", body = rentals::Unit),
        (status = 401, response = super::openapi::Unauthorized),
        (status = 404, response = super::openapi::NotFound),
        (status = 503, response = super::openapi::Unavailable)))]
async fn show(
    State(st): State<AppState>,
    Landlord(me): Landlord,
    Path(id): Path<String>,
) -> Result<axum::Json<rentals::Unit>, ApiError> {
    let id = path_id(&id, "unit")?;
    let mut c = read_conn(&st).await?;
    rentals::get_unit(&mut c, &me, id)
        .await?
        .map(axum::Json)
        .ok_or(ApiError::NotFound("unit"))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    /// Only this property's units.
    property_id: Option<Uuid>,
    /// Page size, 1–200 (default 50).
    limit: Option<i64>,
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
}

/// Units, newest first.
#[utoipa::path(get, path = "/v1/units", operation_id = "listUnits", tag = "rentals",
    params(ListQuery),
    responses((status = 200, description = "a page of units", body = Page<rentals::Unit>),
        (status = 400, response = super::openapi::BadRequest),
        (status = 401, response = super::openapi::Unauthorized),
        (status = 503, response = super::openapi::Unavailable)))]
async fn list(
    State(st): State<AppState>,
    Landlord(me): Landlord,
    Query(q): Query<ListQuery>,
) -> Result<axum::Json<Page<rentals::Unit>>, ApiError> {
    let (limit, before) = PageQuery {
        limit: q.limit,
        cursor: q.cursor,
    }
    .bounds()?;
    let mut c = read_conn(&st).await?;
    Ok(axum::Json(
        rentals::list_units(&mut c, &me, q.property_id, limit, before).await?,
    ))
}
