//! Properties: name, county, address, use (residential or commercial).

use super::{begin_write, read_conn, text, ApiRoute};
use crate::auth::Landlord;
use crate::error::ApiError;
use crate::extract::{path_id, Json, Query};
use crate::state::AppState;
use crate::store::{rentals, Page, PageQuery};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;

pub fn routes() -> Vec<ApiRoute> {
    vec![
        ApiRoute::get("/v1/properties", list),
        ApiRoute::post("/v1/properties", create),
        ApiRoute::get("/v1/properties/{id}", show),
    ]
}

#[derive(Deserialize, Clone, Copy, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
enum Usage {
    Residential,
    Commercial,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct NewProperty {
    name: String,
    county: String,
    address: String,
    /// Default `residential`. Monthly Rental Income tax applies to residential rent only.
    usage: Option<Usage>,
}

/// Creates a property.
#[utoipa::path(post, path = "/v1/properties", operation_id = "createProperty", tag = "rentals",
    request_body = NewProperty,
    responses((status = 201, description = "created", body = rentals::Property),
        (status = 400, response = super::openapi::BadRequest),
        (status = 401, response = super::openapi::Unauthorized),
        (status = 503, response = super::openapi::Unavailable)))]
async fn create(
    State(st): State<AppState>,
    Landlord(me): Landlord,
    Json(b): Json<NewProperty>,
) -> Result<(StatusCode, axum::Json<rentals::Property>), ApiError> {
    let name = text("name", &b.name, 200)?;
    let county = text("county", &b.county, 100)?;
    let address = text("address", &b.address, 500)?;
    let usage = match b.usage.unwrap_or(Usage::Residential) {
        Usage::Residential => "residential",
        Usage::Commercial => "commercial",
    };
    let mut tx = begin_write(&st, &me).await?;
    let p = rentals::insert_property(
        &mut tx,
        &me,
        &rentals::NewProperty {
            name: &name,
            county: &county,
            address: &address,
            usage,
        },
    )
    .await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, axum::Json(p)))
}

/// One property.
#[utoipa::path(get, path = "/v1/properties/{id}", operation_id = "getProperty", tag = "rentals",
    params(("id" = uuid::Uuid, Path, description = "property id")),
    responses((status = 200, description = "the property", body = rentals::Property),
        (status = 401, response = super::openapi::Unauthorized),
        (status = 404, response = super::openapi::NotFound),
        (status = 503, response = super::openapi::Unavailable)))]
async fn show(
    State(st): State<AppState>,
    Landlord(me): Landlord,
    Path(id): Path<String>,
) -> Result<axum::Json<rentals::Property>, ApiError> {
    let id = path_id(&id, "property")?;
    let mut c = read_conn(&st).await?;
    rentals::get_property(&mut c, &me, id)
        .await?
        .map(axum::Json)
        .ok_or(ApiError::NotFound("property"))
}

/// Properties, newest first.
#[utoipa::path(get, path = "/v1/properties", operation_id = "listProperties", tag = "rentals",
    params(PageQuery),
    responses((status = 200, description = "a page of properties", body = Page<rentals::Property>),
        (status = 400, response = super::openapi::BadRequest),
        (status = 401, response = super::openapi::Unauthorized),
        (status = 503, response = super::openapi::Unavailable)))]
async fn list(
    State(st): State<AppState>,
    Landlord(me): Landlord,
    Query(q): Query<PageQuery>,
) -> Result<axum::Json<Page<rentals::Property>>, ApiError> {
    let (limit, before) = q.bounds()?;
    let mut c = read_conn(&st).await?;
    Ok(axum::Json(
        rentals::list_properties(&mut c, &me, limit, before).await?,
    ))
}
