//! Properties: name, county, address.

use super::{begin_write, read_conn, text};
use crate::auth::Landlord;
use crate::error::ApiError;
use crate::extract::{path_id, Json, Query};
use crate::state::AppState;
use crate::store::{rentals, Page, PageQuery};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::Router;
use serde::Deserialize;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/properties", get(list).post(create))
        .route("/v1/properties/{id}", get(show))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewProperty {
    name: String,
    county: String,
    address: String,
}

async fn create(
    State(st): State<AppState>,
    Landlord(me): Landlord,
    Json(b): Json<NewProperty>,
) -> Result<(StatusCode, axum::Json<rentals::Property>), ApiError> {
    let name = text("name", &b.name, 200)?;
    let county = text("county", &b.county, 100)?;
    let address = text("address", &b.address, 500)?;
    let mut tx = begin_write(&st, &me).await?;
    let p = rentals::insert_property(
        &mut tx,
        &me,
        &rentals::NewProperty {
            name: &name,
            county: &county,
            address: &address,
        },
    )
    .await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, axum::Json(p)))
}

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
