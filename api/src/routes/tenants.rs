//! Tenants (personal data: phone and national ID never reach logs or error messages), their
//! statements, and their data rights under Kenya's Data Protection Act 2019.

use super::resource::{self, List, ListParams, Show};
use super::ApiRoute;
use crate::auth::Landlord;
use crate::domain::text::Text200;
use crate::domain::{Day, Msisdn, NationalId};
use crate::error::{doc, ApiError};
use crate::extract::{path_id, Json, Path, Query};
use crate::service::data_rights::{Erasure, TenantExport};
use crate::service::rentals::Statement;
use crate::service::{self, resources::NoFilter};
use crate::state::AppState;
use crate::store::{rentals::Tenant, Page, PageQuery};
use axum::extract::State;
use axum::http::StatusCode;
use chrono::Utc;
use serde::Deserialize;

pub fn routes() -> Vec<ApiRoute> {
    vec![
        ApiRoute::get("/v1/tenants", list),
        ApiRoute::post("/v1/tenants", create),
        ApiRoute::get("/v1/tenants/{id}", show),
        ApiRoute::get("/v1/tenants/{id}/statement", statement),
        ApiRoute::get("/v1/tenants/{id}/export", export),
        ApiRoute::post("/v1/tenants/{id}/erase", erase),
    ]
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewTenant {
    name: Text200,
    phone: Msisdn,
    national_id: Option<NationalId>,
}

/// Creates a tenant.
#[utoipa::path(post, path = "/v1/tenants", operation_id = "createTenant", tag = "rentals",
    request_body = NewTenant,
    responses((status = 201, description = "created", body = Tenant),
        (status = 400, response = doc::BadRequest),
        (status = 401, response = doc::Unauthorized),
        (status = 503, response = doc::Unavailable)))]
async fn create(
    State(st): State<AppState>,
    Landlord(me): Landlord,
    Json(b): Json<NewTenant>,
) -> Result<(StatusCode, axum::Json<Tenant>), ApiError> {
    let t = service::rentals::create_tenant(
        &st,
        &me,
        service::rentals::NewTenant {
            name: b.name,
            phone: b.phone,
            national_id: b.national_id,
        },
    )
    .await?;
    Ok((StatusCode::CREATED, axum::Json(t)))
}

/// One tenant (name, phone and national ID are null once erased).
#[utoipa::path(get, path = "/v1/tenants/{id}", operation_id = "getTenant", tag = "rentals",
    params(("id" = uuid::Uuid, Path, description = "tenant id")),
    responses((status = 200, description = "the tenant", body = Tenant),
        (status = 401, response = doc::Unauthorized),
        (status = 404, response = doc::NotFound),
        (status = 503, response = doc::Unavailable)))]
async fn show(
    State(st): State<AppState>,
    Landlord(me): Landlord,
    Path(id): Path<String>,
) -> Show<Tenant> {
    resource::show(&st, &me, &id).await
}

/// Tenants, newest first.
#[utoipa::path(get, path = "/v1/tenants", operation_id = "listTenants", tag = "rentals",
    params(PageQuery, NoFilter),
    responses((status = 200, description = "a page of tenants", body = Page<Tenant>),
        (status = 400, response = doc::BadRequest),
        (status = 401, response = doc::Unauthorized),
        (status = 503, response = doc::Unavailable)))]
async fn list(
    State(st): State<AppState>,
    Landlord(me): Landlord,
    q: ListParams<NoFilter>,
) -> List<Tenant> {
    resource::list(&st, &me, q).await
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct AsOf {
    /// The day arrears are computed for (default today).
    pub as_of: Option<Day>,
}

/// Statement with running balance, credit and arrears, per lease and in total.
#[utoipa::path(get, path = "/v1/tenants/{id}/statement", operation_id = "getTenantStatement", tag = "rentals",
    params(("id" = uuid::Uuid, Path, description = "tenant id"), AsOf),
    responses((status = 200, description = "the statement", body = Statement),
        (status = 400, response = doc::BadRequest),
        (status = 401, response = doc::Unauthorized),
        (status = 404, response = doc::NotFound),
        (status = 503, response = doc::Unavailable)))]
async fn statement(
    State(st): State<AppState>,
    Landlord(me): Landlord,
    Path(id): Path<String>,
    Query(q): Query<AsOf>,
) -> Result<axum::Json<Statement>, ApiError> {
    let id = path_id(&id, "tenant")?;
    let as_of = q.as_of.map_or_else(|| Utc::now().date_naive(), |d| d.0);
    service::rentals::tenant_statement(&st, &me, id, as_of)
        .await
        .map(axum::Json)
}

/// All data held about a tenant (Data Protection Act 2019, right of access), in one
/// consistent snapshot.
#[utoipa::path(get, path = "/v1/tenants/{id}/export", operation_id = "exportTenant", tag = "data-rights",
    params(("id" = uuid::Uuid, Path, description = "tenant id")),
    responses((status = 200, description = "the tenant's data", body = TenantExport),
        (status = 401, response = doc::Unauthorized),
        (status = 404, response = doc::NotFound),
        (status = 503, response = doc::Unavailable)))]
async fn export(
    State(st): State<AppState>,
    Landlord(me): Landlord,
    Path(id): Path<String>,
) -> Result<axum::Json<TenantExport>, ApiError> {
    let id = path_id(&id, "tenant")?;
    service::data_rights::export(&st, &me, id)
        .await
        .map(axum::Json)
}

/// Erases a tenant's personal data (Data Protection Act 2019, right to erasure): name,
/// phone and national ID become null and `erased_at` is set. Leases, invoices and payments
/// stay (money records the landlord must keep), so statements are unchanged. Recorded in
/// the audit log. Idempotent: erasing an erased tenant changes nothing and answers 200
/// with `already_erased: true` and the original audit entry.
#[utoipa::path(post, path = "/v1/tenants/{id}/erase", operation_id = "eraseTenant", tag = "data-rights",
    params(("id" = uuid::Uuid, Path, description = "tenant id")),
    responses((status = 200, description = "erased (now or before)", body = Erasure),
        (status = 401, response = doc::Unauthorized),
        (status = 404, response = doc::NotFound),
        (status = 503, response = doc::Unavailable)))]
async fn erase(
    State(st): State<AppState>,
    Landlord(me): Landlord,
    Path(id): Path<String>,
) -> Result<axum::Json<Erasure>, ApiError> {
    let id = path_id(&id, "tenant")?;
    service::data_rights::erase(&st, &me, id)
        .await
        .map(axum::Json)
}
