//! Tenants (personal data: phone and national ID never reach logs or error messages) and
//! their statements.

use super::{begin_write, read_conn, text};
use crate::auth::Landlord;
use crate::domain::Msisdn;
use crate::error::ApiError;
use crate::extract::{path_id, Json, Query};
use crate::state::AppState;
use crate::store::{ledger, rentals, Page, PageQuery};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::Router;
use serde::{Deserialize, Serialize};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/tenants", get(list).post(create))
        .route("/v1/tenants/{id}", get(show))
        .route("/v1/tenants/{id}/statement", get(statement))
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

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewTenant {
    name: String,
    phone: Msisdn,
    national_id: Option<NationalId>,
}

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

#[derive(Serialize)]
struct Statement {
    tenant_id: uuid::Uuid,
    as_of: chrono::NaiveDate,
    leases: Vec<ledger::LeaseStatement>,
    invoiced: i64,
    paid: i64,
    balance: i64,
    credit: i64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AsOf {
    as_of: Option<chrono::NaiveDate>,
}

async fn statement(
    State(st): State<AppState>,
    Landlord(me): Landlord,
    Path(id): Path<String>,
    Query(q): Query<AsOf>,
) -> Result<axum::Json<serde_json::Value>, ApiError> {
    let id = path_id(&id, "tenant")?;
    let as_of = q.as_of.unwrap_or_else(|| chrono::Utc::now().date_naive());
    // One snapshot for the whole statement.
    let mut tx = st.db.begin().await?;
    sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
        .execute(&mut *tx)
        .await?;
    if rentals::get_tenant(&mut tx, &me, id).await?.is_none() {
        return Err(ApiError::NotFound("tenant"));
    }
    let mut leases = Vec::new();
    for l in rentals::leases_of_tenant(&mut tx, &me, id).await? {
        leases.push(ledger::lease_statement(&mut tx, &l, as_of).await?);
    }
    tx.commit().await?;
    let s = Statement {
        tenant_id: id,
        as_of,
        invoiced: leases.iter().map(|l| l.invoiced).sum(),
        paid: leases.iter().map(|l| l.paid).sum(),
        balance: leases.iter().map(|l| l.balance).sum(),
        credit: leases.iter().map(|l| l.credit).sum(),
        leases,
    };
    Ok(axum::Json(
        serde_json::to_value(s).map_err(ApiError::internal)?,
    ))
}
