//! The audit log of data-rights actions (tenant erasures): who, when, what.

use super::{read_conn, ApiRoute};
use crate::auth::Landlord;
use crate::error::ApiError;
use crate::extract::Query;
use crate::state::AppState;
use crate::store::{audit, Page, PageQuery};
use axum::extract::State;
use serde::Deserialize;
use uuid::Uuid;

pub fn routes() -> Vec<ApiRoute> {
    vec![ApiRoute::get("/v1/audit-log", list)]
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    /// Only entries about this subject (e.g. a tenant id).
    subject_id: Option<Uuid>,
    /// Page size, 1–200 (default 50).
    limit: Option<i64>,
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
}

/// Audit log entries, newest first. Entries hold ids and field names, never personal data.
#[utoipa::path(get, path = "/v1/audit-log", operation_id = "listAuditLog", tag = "data-rights",
    params(ListQuery),
    responses((status = 200, description = "a page of entries", body = Page<audit::AuditEntry>),
        (status = 400, response = super::openapi::BadRequest),
        (status = 401, response = super::openapi::Unauthorized),
        (status = 503, response = super::openapi::Unavailable)))]
async fn list(
    State(st): State<AppState>,
    Landlord(me): Landlord,
    Query(q): Query<ListQuery>,
) -> Result<axum::Json<Page<audit::AuditEntry>>, ApiError> {
    let (limit, before) = PageQuery {
        limit: q.limit,
        cursor: q.cursor,
    }
    .bounds()?;
    let mut c = read_conn(&st).await?;
    Ok(axum::Json(
        audit::list(&mut c, &me, q.subject_id, limit, before).await?,
    ))
}
