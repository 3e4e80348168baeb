//! Leases: one unit, one tenant, rent due on a day 1–28; one active lease per unit.

use super::{begin_write, read_conn, ApiRoute};
use crate::auth::Landlord;
use crate::domain::Kes;
use crate::error::ApiError;
use crate::extract::{path_id, Json, Query};
use crate::state::AppState;
use crate::store::{ledger, rentals, Page, PageQuery};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

pub fn routes() -> Vec<ApiRoute> {
    vec![
        ApiRoute::get("/v1/leases", list),
        ApiRoute::post("/v1/leases", create),
        ApiRoute::get("/v1/leases/{id}", show),
        ApiRoute::get("/v1/leases/{id}/arrears", arrears),
    ]
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct NewLease {
    unit_id: Uuid,
    tenant_id: Uuid,
    start_date: NaiveDate,
    /// Inclusive; absent = open-ended.
    end_date: Option<NaiveDate>,
    /// Defaults to the unit's monthly rent.
    #[schema(value_type = Option<crate::routes::openapi::Money>)]
    rent: Option<Kes>,
    /// Day of the month rent is due, 1–28 (default 1).
    due_day: Option<u32>,
    /// Defaults to the unit's deposit.
    #[schema(value_type = Option<crate::routes::openapi::Money>)]
    deposit: Option<Kes>,
}

/// Creates a lease; a lease overlapping another lease of the unit is a 409.
#[utoipa::path(post, path = "/v1/leases", operation_id = "createLease", tag = "rentals",
    request_body = NewLease,
    responses((status = 201, description = "created", body = rentals::Lease),
        (status = 400, response = super::openapi::BadRequest),
        (status = 401, response = super::openapi::Unauthorized),
        (status = 409, response = super::openapi::Conflict),
        (status = 422, response = super::openapi::Unprocessable),
        (status = 503, response = super::openapi::Unavailable)))]
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
    match rentals::get_tenant(&mut tx, &me, b.tenant_id).await? {
        None => return Err(ApiError::unprocessable_field("tenant_id", "no such tenant")),
        Some(t) if t.erased_at.is_some() => {
            return Err(ApiError::unprocessable_field(
                "tenant_id",
                "the tenant's personal data was erased; register the tenant again",
            ))
        }
        Some(_) => {}
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

/// One lease.
#[utoipa::path(get, path = "/v1/leases/{id}", operation_id = "getLease", tag = "rentals",
    params(("id" = Uuid, Path, description = "lease id")),
    responses((status = 200, description = "the lease", body = rentals::Lease),
        (status = 401, response = super::openapi::Unauthorized),
        (status = 404, response = super::openapi::NotFound),
        (status = 503, response = super::openapi::Unavailable)))]
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

/// Leases, newest first.
#[utoipa::path(get, path = "/v1/leases", operation_id = "listLeases", tag = "rentals",
    params(PageQuery),
    responses((status = 200, description = "a page of leases", body = Page<rentals::Lease>),
        (status = 400, response = super::openapi::BadRequest),
        (status = 401, response = super::openapi::Unauthorized),
        (status = 503, response = super::openapi::Unavailable)))]
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

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct AsOf {
    /// Default today.
    as_of: Option<NaiveDate>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct LeaseArrears {
    lease_id: Uuid,
    arrears: ledger::Arrears,
}

/// What the lease owes on a day: overdue and outstanding rent.
#[utoipa::path(get, path = "/v1/leases/{id}/arrears", operation_id = "getLeaseArrears", tag = "rentals",
    params(("id" = Uuid, Path, description = "lease id"), AsOf),
    responses((status = 200, description = "arrears", body = LeaseArrears),
        (status = 400, response = super::openapi::BadRequest),
        (status = 401, response = super::openapi::Unauthorized),
        (status = 404, response = super::openapi::NotFound),
        (status = 503, response = super::openapi::Unavailable)))]
async fn arrears(
    State(st): State<AppState>,
    Landlord(me): Landlord,
    Path(id): Path<String>,
    Query(q): Query<AsOf>,
) -> Result<axum::Json<LeaseArrears>, ApiError> {
    let id = path_id(&id, "lease")?;
    let mut c = read_conn(&st).await?;
    if rentals::get_lease(&mut c, &me, id).await?.is_none() {
        return Err(ApiError::NotFound("lease"));
    }
    let as_of = q.as_of.unwrap_or_else(|| chrono::Utc::now().date_naive());
    let a = ledger::arrears(&mut c, id, as_of).await?;
    Ok(axum::Json(LeaseArrears {
        lease_id: id,
        arrears: a,
    }))
}
