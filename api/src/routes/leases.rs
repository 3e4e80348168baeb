//! Leases: one unit, one tenant, rent due on a day 1–28; one active lease per unit.

use super::resource::{self, List, ListParams, Show};
use super::tenants::AsOf;
use super::ApiRoute;
use crate::auth::Landlord;
use crate::domain::{Day, DueDay, Kes, PositiveKes};
use crate::error::{doc, ApiError};
use crate::extract::{path_id, Json, Path, Query};
use crate::service::rentals::LeaseArrears;
use crate::service::{self, resources::NoFilter};
use crate::state::AppState;
use crate::store::{rentals::Lease, Page, PageQuery};
use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
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
pub struct NewLease {
    unit_id: Uuid,
    tenant_id: Uuid,
    start_date: Day,
    /// Inclusive; absent = open-ended. Before `start_date` is a 422.
    end_date: Option<Day>,
    /// Defaults to the unit's monthly rent.
    rent: Option<PositiveKes>,
    /// Default 1.
    due_day: Option<DueDay>,
    /// Defaults to the unit's deposit.
    deposit: Option<Kes>,
}

/// Creates a lease; a lease overlapping another lease of the unit is a 409.
#[utoipa::path(post, path = "/v1/leases", operation_id = "createLease", tag = "rentals",
    request_body = NewLease,
    responses((status = 201, description = "created", body = Lease),
        (status = 400, response = doc::BadRequest),
        (status = 401, response = doc::Unauthorized),
        (status = 409, response = doc::Conflict),
        (status = 422, response = doc::Unprocessable),
        (status = 503, response = doc::Unavailable)))]
async fn create(
    State(st): State<AppState>,
    Landlord(me): Landlord,
    Json(b): Json<NewLease>,
) -> Result<(StatusCode, axum::Json<Lease>), ApiError> {
    let l = service::rentals::create_lease(
        &st,
        &me,
        service::rentals::NewLease {
            unit_id: b.unit_id,
            tenant_id: b.tenant_id,
            start_date: b.start_date,
            end_date: b.end_date,
            rent: b.rent,
            due_day: b.due_day.unwrap_or_default(),
            deposit: b.deposit,
        },
    )
    .await?;
    Ok((StatusCode::CREATED, axum::Json(l)))
}

/// One lease.
#[utoipa::path(get, path = "/v1/leases/{id}", operation_id = "getLease", tag = "rentals",
    params(("id" = uuid::Uuid, Path, description = "lease id")),
    responses((status = 200, description = "the lease", body = Lease),
        (status = 401, response = doc::Unauthorized),
        (status = 404, response = doc::NotFound),
        (status = 503, response = doc::Unavailable)))]
async fn show(
    State(st): State<AppState>,
    Landlord(me): Landlord,
    Path(id): Path<String>,
) -> Show<Lease> {
    resource::show(&st, &me, &id).await
}

/// Leases, newest first.
#[utoipa::path(get, path = "/v1/leases", operation_id = "listLeases", tag = "rentals",
    params(PageQuery, NoFilter),
    responses((status = 200, description = "a page of leases", body = Page<Lease>),
        (status = 400, response = doc::BadRequest),
        (status = 401, response = doc::Unauthorized),
        (status = 503, response = doc::Unavailable)))]
async fn list(
    State(st): State<AppState>,
    Landlord(me): Landlord,
    q: ListParams<NoFilter>,
) -> List<Lease> {
    resource::list(&st, &me, q).await
}

/// What the lease owes on a day: overdue and outstanding rent.
#[utoipa::path(get, path = "/v1/leases/{id}/arrears", operation_id = "getLeaseArrears", tag = "rentals",
    params(("id" = uuid::Uuid, Path, description = "lease id"), AsOf),
    responses((status = 200, description = "arrears", body = LeaseArrears),
        (status = 400, response = doc::BadRequest),
        (status = 401, response = doc::Unauthorized),
        (status = 404, response = doc::NotFound),
        (status = 503, response = doc::Unavailable)))]
async fn arrears(
    State(st): State<AppState>,
    Landlord(me): Landlord,
    Path(id): Path<String>,
    Query(q): Query<AsOf>,
) -> Result<axum::Json<LeaseArrears>, ApiError> {
    let id = path_id(&id, "lease")?;
    let as_of = q
        .as_of
        .map_or_else(|| chrono::Utc::now().date_naive(), |d| d.0);
    service::rentals::lease_arrears(&st, &me, id, as_of)
        .await
        .map(axum::Json)
}
