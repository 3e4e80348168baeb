//! Leases: one unit, one tenant, rent due on a day 1–28; one active lease per unit.

use super::{begin_write, read_conn};
use crate::auth::Landlord;
use crate::domain::Kes;
use crate::error::ApiError;
use crate::extract::{path_id, Json, Query};
use crate::state::AppState;
use crate::store::{ledger, rentals, Page, PageQuery};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::Router;
use chrono::NaiveDate;
use serde::Deserialize;
use uuid::Uuid;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/leases", get(list).post(create))
        .route("/v1/leases/{id}", get(show))
        .route("/v1/leases/{id}/arrears", get(arrears))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewLease {
    unit_id: Uuid,
    tenant_id: Uuid,
    start_date: NaiveDate,
    end_date: Option<NaiveDate>,
    /// Defaults to the unit's monthly rent.
    rent: Option<Kes>,
    due_day: Option<u32>,
    /// Defaults to the unit's deposit.
    deposit: Option<Kes>,
}

async fn create(
    State(st): State<AppState>,
    Landlord(me): Landlord,
    Json(b): Json<NewLease>,
) -> Result<(StatusCode, axum::Json<rentals::Lease>), ApiError> {
    let due_day = b.due_day.unwrap_or(1);
    if !(1..=28).contains(&due_day) {
        return Err(ApiError::field("due_day", "must be between 1 and 28"));
    }
    if b.end_date.is_some_and(|e| e < b.start_date) {
        return Err(ApiError::field("end_date", "must not be before start_date"));
    }
    if b.rent.is_some_and(|r| r.is_zero()) {
        return Err(ApiError::field("rent", "must be greater than zero"));
    }
    let mut tx = begin_write(&st, &me).await?;
    let unit = rentals::get_unit(&mut tx, &me, b.unit_id)
        .await?
        .ok_or_else(|| ApiError::unprocessable_field("unit_id", "no such unit"))?;
    if rentals::get_tenant(&mut tx, &me, b.tenant_id)
        .await?
        .is_none()
    {
        return Err(ApiError::unprocessable_field("tenant_id", "no such tenant"));
    }
    let l = rentals::insert_lease(
        &mut tx,
        &me,
        &rentals::NewLease {
            unit_id: b.unit_id,
            tenant_id: b.tenant_id,
            start_date: b.start_date,
            end_date: b.end_date,
            rent: b.rent.map(|r| r.shillings()).unwrap_or(unit.monthly_rent),
            due_day: due_day as i32,
            deposit: b.deposit.map(|d| d.shillings()).unwrap_or(unit.deposit),
        },
    )
    .await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, axum::Json(l)))
}

async fn show(
    State(st): State<AppState>,
    Landlord(me): Landlord,
    Path(id): Path<String>,
) -> Result<axum::Json<rentals::Lease>, ApiError> {
    let id = path_id(&id, "lease")?;
    let mut c = read_conn(&st).await?;
    rentals::get_lease(&mut c, &me, id)
        .await?
        .map(axum::Json)
        .ok_or(ApiError::NotFound("lease"))
}

async fn list(
    State(st): State<AppState>,
    Landlord(me): Landlord,
    Query(q): Query<PageQuery>,
) -> Result<axum::Json<Page<rentals::Lease>>, ApiError> {
    let (limit, before) = q.bounds()?;
    let mut c = read_conn(&st).await?;
    Ok(axum::Json(
        rentals::list_leases(&mut c, &me, limit, before).await?,
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AsOf {
    as_of: Option<NaiveDate>,
}

async fn arrears(
    State(st): State<AppState>,
    Landlord(me): Landlord,
    Path(id): Path<String>,
    Query(q): Query<AsOf>,
) -> Result<axum::Json<serde_json::Value>, ApiError> {
    let id = path_id(&id, "lease")?;
    let mut c = read_conn(&st).await?;
    if rentals::get_lease(&mut c, &me, id).await?.is_none() {
        return Err(ApiError::NotFound("lease"));
    }
    let as_of = q.as_of.unwrap_or_else(|| chrono::Utc::now().date_naive());
    let a = ledger::arrears(&mut c, id, as_of).await?;
    Ok(axum::Json(
        serde_json::json!({ "lease_id": id, "arrears": a }),
    ))
}
