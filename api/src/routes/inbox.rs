//! The callback inbox (every M-Pesa confirmation and STK result as stored, with where it
//! stands: pending, processed, duplicate, anomaly, quarantined), replays of quarantined
//! callbacks, and the anomalies processing found.

use super::resource::{self, List, ListParams, Show};
use super::ApiRoute;
use crate::auth::Landlord;
use crate::error::{doc, ApiError};
use crate::extract::{path_id, Path};
use crate::service::{self, resources::InboxFilter, resources::NoFilter};
use crate::state::AppState;
use crate::store::inbox::{Anomaly, InboxEntry};
use crate::store::{Page, PageQuery};
use axum::extract::State;

pub fn routes() -> Vec<ApiRoute> {
    vec![
        ApiRoute::get("/v1/callback-inbox", list),
        ApiRoute::get("/v1/callback-inbox/{id}", show),
        ApiRoute::post("/v1/callback-inbox/{id}/replay", replay),
        ApiRoute::get("/v1/payment-anomalies", anomalies),
    ]
}

/// Stored callbacks, newest first; `status=quarantined` lists those that could not be
/// read (kept, not lost: replay them once the cause is fixed).
#[utoipa::path(get, path = "/v1/callback-inbox", operation_id = "listCallbackInbox", tag = "callbacks",
    params(PageQuery, InboxFilter),
    responses((status = 200, description = "a page of stored callbacks", body = Page<InboxEntry>),
        (status = 400, response = doc::BadRequest),
        (status = 401, response = doc::Unauthorized),
        (status = 503, response = doc::Unavailable)))]
async fn list(
    State(st): State<AppState>,
    Landlord(me): Landlord,
    q: ListParams<InboxFilter>,
) -> List<InboxEntry> {
    resource::list(&st, &me, q).await
}

/// One stored callback.
#[utoipa::path(get, path = "/v1/callback-inbox/{id}", operation_id = "getCallback", tag = "callbacks",
    params(("id" = Uuid, Path, description = "stored callback id")),
    responses((status = 200, description = "the stored callback", body = InboxEntry),
        (status = 401, response = doc::Unauthorized),
        (status = 404, response = doc::NotFound),
        (status = 503, response = doc::Unavailable)))]
async fn show(
    State(st): State<AppState>,
    Landlord(me): Landlord,
    Path(id): Path<String>,
) -> Show<InboxEntry> {
    resource::show(&st, &me, &id).await
}

/// Reads a quarantined (or still pending) callback's stored payload again with this
/// version of the API and processes it: recorded once, exactly as if it had just arrived
/// (a receipt recorded meanwhile makes it a duplicate). A payload that still cannot be
/// read stays quarantined with the reason. Answers the callback as it now stands.
#[utoipa::path(post, path = "/v1/callback-inbox/{id}/replay", operation_id = "replayCallback", tag = "callbacks",
    params(("id" = Uuid, Path, description = "stored callback id")),
    responses((status = 200, description = "replayed: the callback as it now stands", body = InboxEntry),
        (status = 401, response = doc::Unauthorized),
        (status = 404, response = doc::NotFound),
        (status = 409, response = doc::Conflict),
        (status = 503, response = doc::Unavailable)))]
async fn replay(
    State(st): State<AppState>,
    Landlord(me): Landlord,
    Path(id): Path<String>,
) -> Result<axum::Json<InboxEntry>, ApiError> {
    let id = path_id(&id, "callback")?;
    service::inbox::replay(&st, &me, id).await.map(axum::Json)
}

/// Anomalies, newest first: a receipt that arrived again with another amount or account
/// (never credited twice), an STK push that paid another amount than registered (held in
/// suspense until matched).
#[utoipa::path(get, path = "/v1/payment-anomalies", operation_id = "listPaymentAnomalies", tag = "callbacks",
    params(PageQuery, NoFilter),
    responses((status = 200, description = "a page of anomalies", body = Page<Anomaly>),
        (status = 400, response = doc::BadRequest),
        (status = 401, response = doc::Unauthorized),
        (status = 503, response = doc::Unavailable)))]
async fn anomalies(
    State(st): State<AppState>,
    Landlord(me): Landlord,
    q: ListParams<NoFilter>,
) -> List<Anomaly> {
    resource::list(&st, &me, q).await
}
