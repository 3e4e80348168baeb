//! Units: label, monthly rent, deposit, and the M-Pesa account reference tenants type.

use super::{begin_write, read_conn, text};
use crate::auth::Landlord;
use crate::domain::Kes;
use crate::error::ApiError;
use crate::extract::{path_id, Json, Query};
use crate::state::AppState;
use crate::store::{rentals, Page, PageQuery};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::Router;
use serde::Deserialize;
use uuid::Uuid;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/units", get(list).post(create))
        .route("/v1/units/{id}", get(show))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewUnit {
    property_id: Uuid,
    label: String,
    monthly_rent: Kes,
    deposit: Kes,
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

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    property_id: Option<Uuid>,
    limit: Option<i64>,
    cursor: Option<String>,
}

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
