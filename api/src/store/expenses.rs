//! Expenses of a property: category, amount, the day it was spent, a note.

use super::page::Page;
use crate::domain::Period;
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use sqlx::PgConnection;
use uuid::Uuid;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Category {
    Maintenance,
    Repairs,
    Utilities,
    Security,
    Cleaning,
    Insurance,
    LandRates,
    Management,
    Legal,
    Other,
}

impl Category {
    pub fn as_str(self) -> &'static str {
        match self {
            Category::Maintenance => "maintenance",
            Category::Repairs => "repairs",
            Category::Utilities => "utilities",
            Category::Security => "security",
            Category::Cleaning => "cleaning",
            Category::Insurance => "insurance",
            Category::LandRates => "land_rates",
            Category::Management => "management",
            Category::Legal => "legal",
            Category::Other => "other",
        }
    }
}

#[derive(Debug, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Expense {
    pub id: Uuid,
    pub property_id: Uuid,
    #[schema(value_type = Category)]
    pub category: String,
    /// Whole shillings.
    pub amount: i64,
    pub spent_on: NaiveDate,
    pub note: Option<String>,
    pub created_at: DateTime<Utc>,
}

const COLS: &str = "id, property_id, category, amount, spent_on, note, created_at";

pub struct NewExpense<'a> {
    pub property_id: Uuid,
    pub category: Category,
    pub amount: i64,
    pub spent_on: NaiveDate,
    pub note: Option<&'a str>,
}

pub async fn insert(
    c: &mut PgConnection,
    landlord: &str,
    e: &NewExpense<'_>,
) -> Result<Expense, sqlx::Error> {
    sqlx::query_as(&format!(
        "INSERT INTO expenses (id, landlord_id, property_id, category, amount, spent_on, note)
         VALUES ($1,$2,$3,$4,$5,$6,$7) RETURNING {COLS}"
    ))
    .bind(Uuid::new_v4())
    .bind(landlord)
    .bind(e.property_id)
    .bind(e.category.as_str())
    .bind(e.amount)
    .bind(e.spent_on)
    .bind(e.note)
    .fetch_one(c)
    .await
}

pub async fn get(
    c: &mut PgConnection,
    landlord: &str,
    id: Uuid,
) -> Result<Option<Expense>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {COLS} FROM expenses WHERE landlord_id=$1 AND id=$2"
    ))
    .bind(landlord)
    .bind(id)
    .fetch_optional(c)
    .await
}

pub struct Filter {
    pub property_id: Option<Uuid>,
    pub period: Option<Period>,
    pub category: Option<Category>,
}

pub async fn list(
    c: &mut PgConnection,
    landlord: &str,
    f: &Filter,
    limit: i64,
    before: i64,
) -> Result<Page<Expense>, sqlx::Error> {
    #[derive(sqlx::FromRow)]
    struct Row {
        seq: i64,
        #[sqlx(flatten)]
        e: Expense,
    }
    let rows: Vec<Row> = sqlx::query_as(&format!(
        "SELECT seq, {COLS} FROM expenses WHERE landlord_id=$1
         AND ($2::uuid IS NULL OR property_id=$2)
         AND ($3::date IS NULL OR (spent_on >= $3 AND spent_on <= $4))
         AND ($5::text IS NULL OR category=$5)
         AND seq < $6 ORDER BY seq DESC LIMIT $7"
    ))
    .bind(landlord)
    .bind(f.property_id)
    .bind(f.period.map(|p| p.first_day()))
    .bind(f.period.map(|p| p.last_day()))
    .bind(f.category.map(|c| c.as_str()))
    .bind(before)
    .bind(limit + 1)
    .fetch_all(c)
    .await?;
    Ok(Page::from_rows(
        rows.into_iter().map(|r| (r.seq, r.e)).collect(),
        limit,
    ))
}
