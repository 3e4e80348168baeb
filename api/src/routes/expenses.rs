//! Expenses per property: category, amount (whole shillings), date, note.

use super::resource::{self, List, ListParams, Show};
use super::ApiRoute;
use crate::auth::Landlord;
use crate::domain::text::Text500;
use crate::domain::{Day, PositiveKes};
use crate::error::{doc, ApiError};
use crate::extract::{Json, Path};
use crate::service::{self, resources::ExpenseFilter};
use crate::state::AppState;
use crate::store::expenses::{Category, Expense};
use crate::store::{Page, PageQuery};
use axum::extract::State;
use axum::http::StatusCode;
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
pub struct NewExpense {
    property_id: Uuid,
    category: Category,
    amount: PositiveKes,
    /// The day the money was spent.
    spent_on: Day,
    note: Option<Text500>,
}

/// Records an expense of a property.
#[utoipa::path(post, path = "/v1/expenses", operation_id = "createExpense", tag = "expenses",
    request_body = NewExpense,
    responses((status = 201, description = "recorded", body = Expense),
        (status = 400, response = doc::BadRequest),
        (status = 401, response = doc::Unauthorized),
        (status = 422, response = doc::Unprocessable),
        (status = 503, response = doc::Unavailable)))]
async fn create(
    State(st): State<AppState>,
    Landlord(me): Landlord,
    Json(b): Json<NewExpense>,
) -> Result<(StatusCode, axum::Json<Expense>), ApiError> {
    let e = service::maintenance::record_expense(
        &st,
        &me,
        service::maintenance::NewExpense {
            property_id: b.property_id,
            category: b.category,
            amount: b.amount,
            spent_on: b.spent_on,
            note: b.note,
        },
    )
    .await?;
    Ok((StatusCode::CREATED, axum::Json(e)))
}

/// One expense.
#[utoipa::path(get, path = "/v1/expenses/{id}", operation_id = "getExpense", tag = "expenses",
    params(("id" = Uuid, Path, description = "expense id")),
    responses((status = 200, description = "the expense", body = Expense),
        (status = 401, response = doc::Unauthorized),
        (status = 404, response = doc::NotFound),
        (status = 503, response = doc::Unavailable)))]
async fn show(
    State(st): State<AppState>,
    Landlord(me): Landlord,
    Path(id): Path<String>,
) -> Show<Expense> {
    resource::show(&st, &me, &id).await
}

/// Expenses, newest first, filtered by property, month or category.
#[utoipa::path(get, path = "/v1/expenses", operation_id = "listExpenses", tag = "expenses",
    params(PageQuery, ExpenseFilter),
    responses((status = 200, description = "a page of expenses", body = Page<Expense>),
        (status = 400, response = doc::BadRequest),
        (status = 401, response = doc::Unauthorized),
        (status = 503, response = doc::Unavailable)))]
async fn list(
    State(st): State<AppState>,
    Landlord(me): Landlord,
    q: ListParams<ExpenseFilter>,
) -> List<Expense> {
    resource::list(&st, &me, q).await
}
