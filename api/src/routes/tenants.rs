//! Tenants (personal data: phone and national ID never reach logs or error messages), their
//! statements, and their data rights under Kenya's Data Protection Act 2019: export of
//! everything held about a tenant, and erasure of the personal fields.

use super::{begin_write, read_conn, read_snapshot, text, ApiRoute};
use crate::auth::Landlord;
use crate::domain::Msisdn;
use crate::error::ApiError;
use crate::extract::{path_id, Json, Query};
use crate::state::AppState;
use crate::store::{audit, ledger, payments, rentals, Page, PageQuery};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use sqlx::PgConnection;
use uuid::Uuid;

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

/// A national ID or passport number: 5–20 letters/digits. Never echoed in errors.
#[derive(Clone)]
struct NationalId(String);

impl<'de> Deserialize<'de> for NationalId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        const WHY: &str = "must be 5 to 20 letters or digits";
        match serde_json::Value::deserialize(d)? {
            serde_json::Value::String(s) => {
                let t = s.trim();
                if (5..=20).contains(&t.len()) && t.bytes().all(|b| b.is_ascii_alphanumeric()) {
                    Ok(NationalId(t.to_ascii_uppercase()))
                } else {
                    Err(serde::de::Error::custom(WHY))
                }
            }
            _ => Err(serde::de::Error::custom(WHY)),
        }
    }
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct NewTenant {
    name: String,
    /// A Kenyan mobile number (0712345678, +254712345678, 254112345678); stored as 2547…/2541….
    #[schema(value_type = String)]
    phone: Msisdn,
    /// National ID or passport number, 5–20 letters or digits.
    #[schema(value_type = Option<String>)]
    national_id: Option<NationalId>,
}

/// Creates a tenant.
#[utoipa::path(post, path = "/v1/tenants", operation_id = "createTenant", tag = "rentals",
    request_body = NewTenant,
    responses((status = 201, description = "created", body = rentals::Tenant),
        (status = 400, response = super::openapi::BadRequest),
        (status = 401, response = super::openapi::Unauthorized),
        (status = 503, response = super::openapi::Unavailable)))]
async fn create(
    State(st): State<AppState>,
    Landlord(me): Landlord,
    Json(b): Json<NewTenant>,
) -> Result<(StatusCode, axum::Json<rentals::Tenant>), ApiError> {
    let name = text("name", &b.name, 200)?;
    let mut tx = begin_write(&st, &me).await?;
    let t = rentals::insert_tenant(
        &mut tx,
        &me,
        &rentals::NewTenant {
            name: &name,
            phone: b.phone.as_str(),
            national_id: b.national_id.as_ref().map(|n| n.0.as_str()),
        },
    )
    .await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, axum::Json(t)))
}

/// One tenant (name, phone and national ID are null once erased).
#[utoipa::path(get, path = "/v1/tenants/{id}", operation_id = "getTenant", tag = "rentals",
    params(("id" = Uuid, Path, description = "tenant id")),
    responses((status = 200, description = "the tenant", body = rentals::Tenant),
        (status = 401, response = super::openapi::Unauthorized),
        (status = 404, response = super::openapi::NotFound),
        (status = 503, response = super::openapi::Unavailable)))]
async fn show(
    State(st): State<AppState>,
    Landlord(me): Landlord,
    Path(id): Path<String>,
) -> Result<axum::Json<rentals::Tenant>, ApiError> {
    let id = path_id(&id, "tenant")?;
    let mut c = read_conn(&st).await?;
    rentals::get_tenant(&mut c, &me, id)
        .await?
        .map(axum::Json)
        .ok_or(ApiError::NotFound("tenant"))
}

/// Tenants, newest first.
#[utoipa::path(get, path = "/v1/tenants", operation_id = "listTenants", tag = "rentals",
    params(PageQuery),
    responses((status = 200, description = "a page of tenants", body = Page<rentals::Tenant>),
        (status = 400, response = super::openapi::BadRequest),
        (status = 401, response = super::openapi::Unauthorized),
        (status = 503, response = super::openapi::Unavailable)))]
async fn list(
    State(st): State<AppState>,
    Landlord(me): Landlord,
    Query(q): Query<PageQuery>,
) -> Result<axum::Json<Page<rentals::Tenant>>, ApiError> {
    let (limit, before) = q.bounds()?;
    let mut c = read_conn(&st).await?;
    Ok(axum::Json(
        rentals::list_tenants(&mut c, &me, limit, before).await?,
    ))
}

/// A tenant's rent account over all their leases.
#[derive(Serialize, utoipa::ToSchema)]
pub struct Statement {
    tenant_id: Uuid,
    as_of: NaiveDate,
    leases: Vec<ledger::LeaseStatement>,
    /// Rent invoiced, whole shillings.
    invoiced: i64,
    /// Rent paid (deposits and other income are not rent).
    paid: i64,
    /// invoiced − paid: positive = owed, negative = credit.
    balance: i64,
    credit: i64,
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct AsOf {
    /// The day arrears are computed for (default today).
    as_of: Option<NaiveDate>,
}

/// A tenant's statement; call inside one snapshot transaction.
async fn build_statement(
    c: &mut PgConnection,
    me: &str,
    id: Uuid,
    as_of: NaiveDate,
) -> Result<Statement, ApiError> {
    let mut leases = Vec::new();
    for l in rentals::leases_of_tenant(&mut *c, me, id).await? {
        leases.push(ledger::lease_statement(&mut *c, &l, as_of).await?);
    }
    Ok(Statement {
        tenant_id: id,
        as_of,
        invoiced: leases.iter().map(|l| l.invoiced).sum(),
        paid: leases.iter().map(|l| l.paid).sum(),
        balance: leases.iter().map(|l| l.balance).sum(),
        credit: leases.iter().map(|l| l.credit).sum(),
        leases,
    })
}

/// Statement with running balance, credit and arrears, per lease and in total.
#[utoipa::path(get, path = "/v1/tenants/{id}/statement", operation_id = "getTenantStatement", tag = "rentals",
    params(("id" = Uuid, Path, description = "tenant id"), AsOf),
    responses((status = 200, description = "the statement", body = Statement),
        (status = 400, response = super::openapi::BadRequest),
        (status = 401, response = super::openapi::Unauthorized),
        (status = 404, response = super::openapi::NotFound),
        (status = 503, response = super::openapi::Unavailable)))]
async fn statement(
    State(st): State<AppState>,
    Landlord(me): Landlord,
    Path(id): Path<String>,
    Query(q): Query<AsOf>,
) -> Result<axum::Json<Statement>, ApiError> {
    let id = path_id(&id, "tenant")?;
    let as_of = q.as_of.unwrap_or_else(|| Utc::now().date_naive());
    // One snapshot for the whole statement.
    let mut tx = read_snapshot(&st).await?;
    if rentals::get_tenant(&mut tx, &me, id).await?.is_none() {
        return Err(ApiError::NotFound("tenant"));
    }
    let s = build_statement(&mut tx, &me, id, as_of).await?;
    tx.commit().await?;
    Ok(axum::Json(s))
}

/// Everything held about a tenant.
#[derive(Serialize, utoipa::ToSchema)]
pub struct TenantExport {
    exported_at: DateTime<Utc>,
    /// The profile: name, phone, national ID (null once erased).
    tenant: rentals::Tenant,
    leases: Vec<rentals::Lease>,
    invoices: Vec<rentals::Invoice>,
    /// Payments of the tenant's leases (rent, deposit, other).
    payments: Vec<payments::Payment>,
    statement: Statement,
    /// Data-rights actions taken on this tenant's data.
    audit_log: Vec<audit::AuditEntry>,
}

/// All data held about a tenant (Data Protection Act 2019, right of access), in one
/// consistent snapshot.
#[utoipa::path(get, path = "/v1/tenants/{id}/export", operation_id = "exportTenant", tag = "data-rights",
    params(("id" = Uuid, Path, description = "tenant id")),
    responses((status = 200, description = "the tenant's data", body = TenantExport),
        (status = 401, response = super::openapi::Unauthorized),
        (status = 404, response = super::openapi::NotFound),
        (status = 503, response = super::openapi::Unavailable)))]
async fn export(
    State(st): State<AppState>,
    Landlord(me): Landlord,
    Path(id): Path<String>,
) -> Result<axum::Json<TenantExport>, ApiError> {
    let id = path_id(&id, "tenant")?;
    let mut tx = read_snapshot(&st).await?;
    let tenant = rentals::get_tenant(&mut tx, &me, id)
        .await?
        .ok_or(ApiError::NotFound("tenant"))?;
    let today = crate::domain::eat_today();
    let e = TenantExport {
        exported_at: Utc::now(),
        leases: rentals::leases_of_tenant(&mut tx, &me, id).await?,
        invoices: rentals::invoices_of_tenant(&mut tx, &me, id).await?,
        payments: payments::of_tenant(&mut tx, &me, id).await?,
        statement: build_statement(&mut tx, &me, id, today).await?,
        audit_log: audit::list(
            &mut tx,
            &me,
            Some(id),
            crate::store::page::MAX_LIMIT,
            i64::MAX,
        )
        .await?
        .items,
        tenant,
    };
    tx.commit().await?;
    tracing::info!(tenant = %id, "tenant data exported");
    Ok(axum::Json(e))
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct Erasure {
    /// The tenant after erasure: name, phone and national ID are null.
    tenant: rentals::Tenant,
    /// True when the tenant had been erased before this request (nothing changed now).
    already_erased: bool,
    /// The audit log entry of the erasure.
    audit: audit::AuditEntry,
}

/// Erases a tenant's personal data (Data Protection Act 2019, right to erasure): name,
/// phone and national ID become null and `erased_at` is set. Leases, invoices and payments
/// stay (money records the landlord must keep), so statements are unchanged. Recorded in
/// the audit log. Idempotent: erasing an erased tenant changes nothing and answers 200
/// with `already_erased: true` and the original audit entry.
#[utoipa::path(post, path = "/v1/tenants/{id}/erase", operation_id = "eraseTenant", tag = "data-rights",
    params(("id" = Uuid, Path, description = "tenant id")),
    responses((status = 200, description = "erased (now or before)", body = Erasure),
        (status = 401, response = super::openapi::Unauthorized),
        (status = 404, response = super::openapi::NotFound),
        (status = 503, response = super::openapi::Unavailable)))]
async fn erase(
    State(st): State<AppState>,
    Landlord(me): Landlord,
    Path(id): Path<String>,
) -> Result<axum::Json<Erasure>, ApiError> {
    let id = path_id(&id, "tenant")?;
    let mut tx = begin_write(&st, &me).await?;
    // Lock the tenant: concurrent erasures of one tenant serialise here.
    let found: Option<(Option<DateTime<Utc>>,)> =
        sqlx::query_as("SELECT erased_at FROM tenants WHERE landlord_id=$1 AND id=$2 FOR UPDATE")
            .bind(&me)
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?;
    let Some((erased_at,)) = found else {
        return Err(ApiError::NotFound("tenant"));
    };
    let already_erased = erased_at.is_some();
    let entry = if already_erased {
        audit::latest(&mut tx, &me, "tenant.erase", id).await?
    } else {
        None
    };
    let entry = match entry {
        Some(e) => e,
        None => {
            rentals::erase_tenant(&mut tx, &me, id).await?;
            audit::record(
                &mut tx,
                &me,
                &me,
                "tenant.erase",
                "tenant",
                id,
                &["name", "phone", "national_id"],
            )
            .await?
        }
    };
    let tenant = rentals::get_tenant(&mut tx, &me, id)
        .await?
        .ok_or(ApiError::NotFound("tenant"))?;
    tx.commit().await?;
    if !already_erased {
        tracing::info!(tenant = %id, "tenant personal data erased");
    }
    Ok(axum::Json(Erasure {
        tenant,
        already_erased,
        audit: entry,
    }))
}
