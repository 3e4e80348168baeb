//! Maintenance requests per unit: `open → in_progress → resolved | cancelled` (an open
//! request may also be cancelled). Resolving with a `cost` records that cost as an expense
//! (category `maintenance`) of the unit's property, in the same transaction.

use super::resource::{self, List, ListParams, Show};
use super::ApiRoute;
use crate::auth::Landlord;
use crate::domain::maintenance::{Priority, Status};
use crate::domain::text::{Paragraph, Text200};
use crate::domain::{Day, PositiveKes};
use crate::error::{doc, ApiError};
use crate::extract::{path_id, Json, Path};
use crate::service::{self, resources::MaintenanceFilter};
use crate::state::AppState;
use crate::store::maintenance::MaintenanceRequest;
use crate::store::{Page, PageQuery};
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Deserializer};
use uuid::Uuid;

pub fn routes() -> Vec<ApiRoute> {
    vec![
        ApiRoute::get("/v1/maintenance-requests", list),
        ApiRoute::post("/v1/maintenance-requests", create),
        ApiRoute::get("/v1/maintenance-requests/{id}", show),
        ApiRoute::patch("/v1/maintenance-requests/{id}", update),
    ]
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewRequest {
    unit_id: Uuid,
    title: Text200,
    description: Option<Paragraph>,
    /// Default `normal`.
    priority: Option<Priority>,
    /// Who is to do the work (a name or a firm).
    assignee: Option<Text200>,
}

/// Opens a maintenance request for a unit.
#[utoipa::path(post, path = "/v1/maintenance-requests", operation_id = "createMaintenanceRequest", tag = "maintenance",
    request_body = NewRequest,
    responses((status = 201, description = "opened", body = MaintenanceRequest),
        (status = 400, response = doc::BadRequest),
        (status = 401, response = doc::Unauthorized),
        (status = 422, response = doc::Unprocessable),
        (status = 503, response = doc::Unavailable)))]
async fn create(
    State(st): State<AppState>,
    Landlord(me): Landlord,
    Json(b): Json<NewRequest>,
) -> Result<(StatusCode, axum::Json<MaintenanceRequest>), ApiError> {
    let r = service::maintenance::open(
        &st,
        &me,
        service::maintenance::NewRequest {
            unit_id: b.unit_id,
            title: b.title,
            description: b.description,
            priority: b.priority.unwrap_or(Priority::Normal),
            assignee: b.assignee,
        },
    )
    .await?;
    Ok((StatusCode::CREATED, axum::Json(r)))
}

/// One maintenance request.
#[utoipa::path(get, path = "/v1/maintenance-requests/{id}", operation_id = "getMaintenanceRequest", tag = "maintenance",
    params(("id" = Uuid, Path, description = "request id")),
    responses((status = 200, description = "the request", body = MaintenanceRequest),
        (status = 401, response = doc::Unauthorized),
        (status = 404, response = doc::NotFound),
        (status = 503, response = doc::Unavailable)))]
async fn show(
    State(st): State<AppState>,
    Landlord(me): Landlord,
    Path(id): Path<String>,
) -> Show<MaintenanceRequest> {
    resource::show(&st, &me, &id).await
}

/// A field that may be absent but not `null`.
fn some<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<T>, D::Error> {
    T::deserialize(d).map(Some)
}

/// `Some(None)` for an explicit `null`, `None` when absent.
fn present<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Option<Text200>>, D::Error> {
    Option::<Text200>::deserialize(d).map(Some)
}

/// At least one field; `cost` only with `status: resolved`; `resolved_on` only with a
/// `cost` (stated in the document as `minProperties` and `dependentSchemas`).
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Change {
    /// The next status: open → in_progress | cancelled; in_progress → resolved | cancelled.
    /// Anything else is a 409 naming `status`.
    #[serde(default, deserialize_with = "some")]
    #[schema(value_type = Status, required = false)]
    status: Option<Status>,
    /// `null` clears it.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<Text200>, required = false)]
    assignee: Option<Option<Text200>>,
    #[serde(default, deserialize_with = "some")]
    #[schema(value_type = Priority, required = false)]
    priority: Option<Priority>,
    /// Only with `status: resolved`: what the work cost; recorded as an expense of the
    /// unit's property (category `maintenance`).
    #[serde(default, deserialize_with = "some")]
    #[schema(value_type = PositiveKes, required = false)]
    cost: Option<PositiveKes>,
    /// Only with `cost`: the expense's date (default today, East Africa Time).
    #[serde(default, deserialize_with = "some")]
    #[schema(value_type = Day, required = false)]
    resolved_on: Option<Day>,
}

impl Change {
    fn parse(self) -> Result<service::maintenance::Change, ApiError> {
        if self.status.is_none() && self.assignee.is_none() && self.priority.is_none() {
            return Err(ApiError::field(
                "body",
                "must give status, assignee or priority: nothing to change",
            ));
        }
        if self.cost.is_some() && self.status != Some(Status::Resolved) {
            return Err(ApiError::field("cost", "must come with status resolved"));
        }
        if self.resolved_on.is_some() && self.cost.is_none() {
            return Err(ApiError::field("resolved_on", "must come with a cost"));
        }
        Ok(service::maintenance::Change {
            status: self.status,
            assignee: self.assignee,
            priority: self.priority,
            cost: self.cost,
            resolved_on: self.resolved_on,
        })
    }
}

/// Moves a request through its workflow, (re)assigns it, changes its priority.
#[utoipa::path(patch, path = "/v1/maintenance-requests/{id}", operation_id = "updateMaintenanceRequest", tag = "maintenance",
    params(("id" = Uuid, Path, description = "request id")),
    request_body = Change,
    responses((status = 200, description = "changed", body = MaintenanceRequest),
        (status = 400, response = doc::BadRequest),
        (status = 401, response = doc::Unauthorized),
        (status = 404, response = doc::NotFound),
        (status = 409, response = doc::Conflict),
        (status = 503, response = doc::Unavailable)))]
async fn update(
    State(st): State<AppState>,
    Landlord(me): Landlord,
    Path(id): Path<String>,
    Json(b): Json<Change>,
) -> Result<axum::Json<MaintenanceRequest>, ApiError> {
    let id = path_id(&id, "maintenance request")?;
    service::maintenance::change(&st, &me, id, b.parse()?)
        .await
        .map(axum::Json)
}

/// Maintenance requests, newest first, filtered by status, priority, property or unit.
#[utoipa::path(get, path = "/v1/maintenance-requests", operation_id = "listMaintenanceRequests", tag = "maintenance",
    params(PageQuery, MaintenanceFilter),
    responses((status = 200, description = "a page of requests", body = Page<MaintenanceRequest>),
        (status = 400, response = doc::BadRequest),
        (status = 401, response = doc::Unauthorized),
        (status = 503, response = doc::Unavailable)))]
async fn list(
    State(st): State<AppState>,
    Landlord(me): Landlord,
    q: ListParams<MaintenanceFilter>,
) -> List<MaintenanceRequest> {
    resource::list(&st, &me, q).await
}
