//! Maintenance requests per unit: `open → in_progress → resolved | cancelled` (an open
//! request may also be cancelled). Resolving with a `cost` records that cost as an expense
//! (category `maintenance`) of the unit's property, in the same transaction.

use super::{begin_write, read_conn, text, ApiRoute};
use crate::auth::Landlord;
use crate::domain::maintenance::{Priority, Status};
use crate::domain::Kes;
use crate::error::ApiError;
use crate::extract::{path_id, Json, Query};
use crate::state::AppState;
use crate::store::expenses::{self, Category};
use crate::store::{maintenance, rentals, Page, PageQuery};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use chrono::NaiveDate;
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

fn optional_text(field: &str, v: Option<&str>, max: usize) -> Result<Option<String>, ApiError> {
    match v.map(str::trim) {
        None | Some("") => Ok(None),
        Some(t) => text(field, t, max).map(Some),
    }
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct NewRequest {
    unit_id: Uuid,
    title: String,
    description: Option<String>,
    /// Default `normal`.
    priority: Option<Priority>,
    /// Who is to do the work (a name or a firm).
    assignee: Option<String>,
}

/// Opens a maintenance request for a unit.
#[utoipa::path(post, path = "/v1/maintenance-requests", operation_id = "createMaintenanceRequest", tag = "maintenance",
    request_body = NewRequest,
    responses((status = 201, description = "opened", body = maintenance::MaintenanceRequest),
        (status = 400, response = super::openapi::BadRequest),
        (status = 401, response = super::openapi::Unauthorized),
        (status = 422, response = super::openapi::Unprocessable),
        (status = 503, response = super::openapi::Unavailable)))]
async fn create(
    State(st): State<AppState>,
    Landlord(me): Landlord,
    Json(b): Json<NewRequest>,
) -> Result<(StatusCode, axum::Json<maintenance::MaintenanceRequest>), ApiError> {
    let title = text("title", &b.title, 200)?;
    let description = optional_text("description", b.description.as_deref(), 4000)?;
    let assignee = optional_text("assignee", b.assignee.as_deref(), 200)?;
    let mut tx = begin_write(&st, &me).await?;
    if rentals::get_unit(&mut tx, &me, b.unit_id).await?.is_none() {
        return Err(ApiError::unprocessable_field("unit_id", "no such unit"));
    }
    let r = maintenance::insert(
        &mut tx,
        &me,
        &maintenance::NewRequest {
            unit_id: b.unit_id,
            title: &title,
            description: description.as_deref(),
            priority: b.priority.unwrap_or(Priority::Normal),
            assignee: assignee.as_deref(),
        },
    )
    .await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, axum::Json(r)))
}

/// One maintenance request.
#[utoipa::path(get, path = "/v1/maintenance-requests/{id}", operation_id = "getMaintenanceRequest", tag = "maintenance",
    params(("id" = Uuid, Path, description = "request id")),
    responses((status = 200, description = "the request", body = maintenance::MaintenanceRequest),
        (status = 401, response = super::openapi::Unauthorized),
        (status = 404, response = super::openapi::NotFound),
        (status = 503, response = super::openapi::Unavailable)))]
async fn show(
    State(st): State<AppState>,
    Landlord(me): Landlord,
    Path(id): Path<String>,
) -> Result<axum::Json<maintenance::MaintenanceRequest>, ApiError> {
    let id = path_id(&id, "maintenance request")?;
    let mut c = read_conn(&st).await?;
    maintenance::get(&mut c, &me, id)
        .await?
        .map(axum::Json)
        .ok_or(ApiError::NotFound("maintenance request"))
}

/// `Some(None)` for an explicit `null`, `None` when absent.
fn present<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(d).map(Some)
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct Change {
    /// The next status: open → in_progress | cancelled; in_progress → resolved | cancelled.
    /// Anything else is a 409 naming `status`.
    status: Option<Status>,
    /// `null` clears it.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    assignee: Option<Option<String>>,
    priority: Option<Priority>,
    /// Only with `status: resolved`: what the work cost; recorded as an expense of the
    /// unit's property (category `maintenance`).
    #[schema(value_type = Option<crate::routes::openapi::Money>)]
    cost: Option<Kes>,
    /// The expense's date when `cost` is given (default today, East Africa Time).
    resolved_on: Option<NaiveDate>,
}

/// Moves a request through its workflow, (re)assigns it, changes its priority.
#[utoipa::path(patch, path = "/v1/maintenance-requests/{id}", operation_id = "updateMaintenanceRequest", tag = "maintenance",
    params(("id" = Uuid, Path, description = "request id")),
    request_body = Change,
    responses((status = 200, description = "changed", body = maintenance::MaintenanceRequest),
        (status = 400, response = super::openapi::BadRequest),
        (status = 401, response = super::openapi::Unauthorized),
        (status = 404, response = super::openapi::NotFound),
        (status = 409, response = super::openapi::Conflict),
        (status = 503, response = super::openapi::Unavailable)))]
async fn update(
    State(st): State<AppState>,
    Landlord(me): Landlord,
    Path(id): Path<String>,
    Json(b): Json<Change>,
) -> Result<axum::Json<maintenance::MaintenanceRequest>, ApiError> {
    let id = path_id(&id, "maintenance request")?;
    if b.status.is_none() && b.assignee.is_none() && b.priority.is_none() {
        return Err(ApiError::field(
            "body",
            "nothing to change: give status, assignee or priority",
        ));
    }
    let resolving = b.status == Some(Status::Resolved);
    if b.cost.is_some() && !resolving {
        return Err(ApiError::field("cost", "only with status resolved"));
    }
    if b.cost.is_some_and(|c| c.is_zero()) {
        return Err(ApiError::field("cost", "must be greater than zero"));
    }
    if b.resolved_on.is_some() && b.cost.is_none() {
        return Err(ApiError::field("resolved_on", "only with a cost"));
    }
    let assignee = match &b.assignee {
        Some(a) => Some(optional_text("assignee", a.as_deref(), 200)?),
        None => None,
    };
    let mut tx = begin_write(&st, &me).await?;
    let (current, property, title) = maintenance::lock(&mut tx, &me, id)
        .await?
        .ok_or(ApiError::NotFound("maintenance request"))?;
    if let Some(next) = b.status {
        if !current.can_become(next) {
            return Err(ApiError::conflict_field(
                "status",
                format!("a request that is {current} cannot become {next}"),
            ));
        }
    } else if current.is_closed() {
        return Err(ApiError::conflict_field(
            "status",
            format!("the request is {current}; closed requests do not change"),
        ));
    }
    let expense = match b.cost {
        Some(cost) => Some(
            expenses::insert(
                &mut tx,
                &me,
                &expenses::NewExpense {
                    property_id: property,
                    category: Category::Maintenance,
                    amount: cost.shillings(),
                    spent_on: b.resolved_on.unwrap_or_else(crate::domain::eat_today),
                    note: Some(&title),
                },
            )
            .await?,
        ),
        None => None,
    };
    maintenance::update(
        &mut tx,
        &me,
        id,
        &maintenance::Change {
            status: b.status,
            assignee: assignee.as_ref().map(|a| a.as_deref()),
            priority: b.priority,
            cost: b.cost.map(|c| c.shillings()),
            expense_id: expense.as_ref().map(|e| e.id),
        },
    )
    .await?;
    let r = maintenance::get(&mut tx, &me, id)
        .await?
        .ok_or(ApiError::NotFound("maintenance request"))?;
    tx.commit().await?;
    if let Some(s) = b.status {
        tracing::info!(request = %id, from = %current, to = %s, "maintenance request moved");
    }
    Ok(axum::Json(r))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    #[param(inline)]
    status: Option<Status>,
    #[param(inline)]
    priority: Option<Priority>,
    property_id: Option<Uuid>,
    unit_id: Option<Uuid>,
    /// Page size, 1–200 (default 50).
    limit: Option<i64>,
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
}

/// Maintenance requests, newest first, filtered by status, priority, property or unit.
#[utoipa::path(get, path = "/v1/maintenance-requests", operation_id = "listMaintenanceRequests", tag = "maintenance",
    params(ListQuery),
    responses((status = 200, description = "a page of requests", body = Page<maintenance::MaintenanceRequest>),
        (status = 400, response = super::openapi::BadRequest),
        (status = 401, response = super::openapi::Unauthorized),
        (status = 503, response = super::openapi::Unavailable)))]
async fn list(
    State(st): State<AppState>,
    Landlord(me): Landlord,
    Query(q): Query<ListQuery>,
) -> Result<axum::Json<Page<maintenance::MaintenanceRequest>>, ApiError> {
    let (limit, before) = PageQuery {
        limit: q.limit,
        cursor: q.cursor,
    }
    .bounds()?;
    let mut c = read_conn(&st).await?;
    Ok(axum::Json(
        maintenance::list(
            &mut c,
            &me,
            &maintenance::Filter {
                status: q.status,
                priority: q.priority,
                property_id: q.property_id,
                unit_id: q.unit_id,
            },
            limit,
            before,
        )
        .await?,
    ))
}
