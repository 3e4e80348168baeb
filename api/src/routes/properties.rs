//! Properties: name, county, address, use (residential or commercial).

use super::resource::{self, List, ListParams, Show};
use super::ApiRoute;
use crate::auth::Landlord;
use crate::domain::text::{Text100, Text200, Text500};
use crate::domain::Usage;
use crate::error::{doc, ApiError};
use crate::extract::{Json, Path};
use crate::service::{self, resources::NoFilter};
use crate::state::AppState;
use crate::store::{rentals::Property, Page, PageQuery};
use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;

pub fn routes() -> Vec<ApiRoute> {
    vec![
        ApiRoute::get("/v1/properties", list),
        ApiRoute::post("/v1/properties", create),
        ApiRoute::get("/v1/properties/{id}", show),
    ]
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewProperty {
    name: Text200,
    county: Text100,
    address: Text500,
    /// Default `residential`. Monthly Rental Income tax applies to residential rent only.
    usage: Option<Usage>,
}

/// Creates a property.
#[utoipa::path(post, path = "/v1/properties", operation_id = "createProperty", tag = "rentals",
    request_body = NewProperty,
    responses((status = 201, description = "created", body = Property),
        (status = 400, response = doc::BadRequest),
        (status = 401, response = doc::Unauthorized),
        (status = 503, response = doc::Unavailable)))]
async fn create(
    State(st): State<AppState>,
    Landlord(me): Landlord,
    Json(b): Json<NewProperty>,
) -> Result<(StatusCode, axum::Json<Property>), ApiError> {
    let p = service::rentals::create_property(
        &st,
        &me,
        service::rentals::NewProperty {
            name: b.name,
            county: b.county,
            address: b.address,
            usage: b.usage.unwrap_or_default(),
        },
    )
    .await?;
    Ok((StatusCode::CREATED, axum::Json(p)))
}

/// One property.
#[utoipa::path(get, path = "/v1/properties/{id}", operation_id = "getProperty", tag = "rentals",
    params(("id" = uuid::Uuid, Path, description = "property id")),
    responses((status = 200, description = "the property", body = Property),
        (status = 401, response = doc::Unauthorized),
        (status = 404, response = doc::NotFound),
        (status = 503, response = doc::Unavailable)))]
async fn show(
    State(st): State<AppState>,
    Landlord(me): Landlord,
    Path(id): Path<String>,
) -> Show<Property> {
    resource::show(&st, &me, &id).await
}

/// Properties, newest first.
#[utoipa::path(get, path = "/v1/properties", operation_id = "listProperties", tag = "rentals",
    params(PageQuery, NoFilter),
    responses((status = 200, description = "a page of properties", body = Page<Property>),
        (status = 400, response = doc::BadRequest),
        (status = 401, response = doc::Unauthorized),
        (status = 503, response = doc::Unavailable)))]
async fn list(
    State(st): State<AppState>,
    Landlord(me): Landlord,
    q: ListParams<NoFilter>,
) -> List<Property> {
    resource::list(&st, &me, q).await
}
