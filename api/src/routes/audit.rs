//! The audit log of data-rights actions (tenant erasures): who, when, what.

use super::resource::{self, List, ListParams};
use super::ApiRoute;
use crate::auth::Landlord;
use crate::error::doc;
use crate::service::resources::AuditFilter;
use crate::state::AppState;
use crate::store::audit::AuditEntry;
use crate::store::{Page, PageQuery};
use axum::extract::State;

pub fn routes() -> Vec<ApiRoute> {
    vec![ApiRoute::get("/v1/audit-log", list)]
}

/// Audit log entries, newest first. Entries hold ids and field names, never personal data.
#[utoipa::path(get, path = "/v1/audit-log", operation_id = "listAuditLog", tag = "data-rights",
    params(PageQuery, AuditFilter),
    responses((status = 200, description = "a page of entries", body = Page<AuditEntry>),
        (status = 400, response = doc::BadRequest),
        (status = 401, response = doc::Unauthorized),
        (status = 503, response = doc::Unavailable)))]
async fn list(
    State(st): State<AppState>,
    Landlord(me): Landlord,
    q: ListParams<AuditFilter>,
) -> List<AuditEntry> {
    resource::list(&st, &me, q).await
}
