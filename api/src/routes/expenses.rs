//! Expenses per property: category, amount (whole shillings), date, note.

use super::{begin_write, read_conn, text, ApiRoute};
use crate::auth::Landlord;
use crate::domain::{Kes, Period};
use crate::error::ApiError;
use crate::extract::{path_id, Json, Query};
use crate::state::AppState;
use crate::store::expenses::{self, Category};
use crate::store::{rentals, Page, PageQuery};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use chrono::NaiveDate;
use serde::Deserialize;
use uuid::Uuid;

pub fn routes() -> Vec<ApiRoute> {
    vec![
        ApiRoute::get("/v1/expenses", list),
        ApiRoute::post("/v1/expenses", create),
        ApiRoute::get("/v1/expenses/{id}", show),
    ]
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct NewExpense {
    property_id: Uuid,
    category: Category,
    #[schema(value_type = crate::routes::openapi::Money)]
    amount: Kes,
    /// The day the money was spent.
    spent_on: NaiveDate,
    note: Option<String>,
}

/// Records an expense of a property.
#[utoipa::path(post, path = "/v1/expenses", operation_id = "createExpense", tag = "expenses",
    request_body = NewExpense,
    responses((status = 201, description = "recorded", body = expenses::Expense),
        (status = 400, response = super::openapi::BadRequest),
        (status = 401, response = super::openapi::Unauthorized),
        (status = 422, response = super::openapi::Unprocessable),
        (status = 503, response = super::openapi::Unavailable)))]
async fn create(
    State(st): State<AppState>,
    Landlord(me): Landlord,
    Json(b): Json<NewExpense>,
) -> Result<(StatusCode, axum::Json<expenses::Expense>), ApiError> {
    if b.amount.is_zero() {
        return Err(ApiError::field("amount", "must be greater than zero"));
    }
    let note = match b.note.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(n) => Some(text("note", n, 500)?),
    };
    let mut tx = begin_write(&st, &me).await?;
    if rentals::get_property(&mut tx, &me, b.property_id)
        .await?
        .is_none()
    {
        return Err(ApiError::unprocessable_field(
            "property_id",
            "no such property",
        ));
    }
    let e = expenses::insert(
        &mut tx,
        &me,
        &expenses::NewExpense {
            property_id: b.property_id,
            category: b.category,
            amount: b.amount.shillings(),
            spent_on: b.spent_on,
            note: note.as_deref(),
        },
    )
    .await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, axum::Json(e)))
}

/// One expense.
#[utoipa::path(get, path = "/v1/expenses/{id}", operation_id = "getExpense", tag = "expenses",
    params(("id" = Uuid, Path, description = "expense id")),
    responses((status = 200, description = "the expense", body = expenses::Expense),
        (status = 401, response = super::openapi::Unauthorized),
        (status = 404, response = super::openapi::NotFound),
        (status = 503, response = super::openapi::Unavailable)))]
async fn show(
    State(st): State<AppState>,
    Landlord(me): Landlord,
    Path(id): Path<String>,
) -> Result<axum::Json<expenses::Expense>, ApiError> {
    let id = path_id(&id, "expense")?;
    let mut c = read_conn(&st).await?;
    expenses::get(&mut c, &me, id)
        .await?
        .map(axum::Json)
        .ok_or(ApiError::NotFound("expense"))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    property_id: Option<Uuid>,
    /// `YYYY-MM`: expenses spent in that month.
    #[param(value_type = Option<String>)]
    period: Option<Period>,
    #[param(inline)]
    category: Option<Category>,
    /// Page size, 1–200 (default 50).
    limit: Option<i64>,
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
}

/// Expenses, newest first, filtered by property, month or category.
#[utoipa::path(get, path = "/v1/expenses", operation_id = "listExpenses", tag = "expenses",
    params(ListQuery),
    responses((status = 200, description = "a page of expenses", body = Page<expenses::Expense>),
        (status = 400, response = super::openapi::BadRequest),
        (status = 401, response = super::openapi::Unauthorized),
        (status = 503, response = super::openapi::Unavailable)))]
async fn list(
    State(st): State<AppState>,
    Landlord(me): Landlord,
    Query(q): Query<ListQuery>,
) -> Result<axum::Json<Page<expenses::Expense>>, ApiError> {
    let (limit, before) = PageQuery {
        limit: q.limit,
        cursor: q.cursor,
    }
    .bounds()?;
    let mut c = read_conn(&st).await?;
    Ok(axum::Json(
        expenses::list(
            &mut c,
            &me,
            &expenses::Filter {
                property_id: q.property_id,
                period: q.period,
                category: q.category,
            },
            limit,
            before,
        )
        .await?,
    ))
}
