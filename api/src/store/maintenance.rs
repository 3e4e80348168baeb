//! Maintenance requests per unit.

use super::page::Page;
use crate::domain::maintenance::{Priority, Status};
use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgConnection;
use uuid::Uuid;

#[derive(Debug, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct MaintenanceRequest {
    pub id: Uuid,
    pub unit_id: Uuid,
    pub property_id: Uuid,
    pub title: String,
    pub description: Option<String>,
    #[schema(value_type = Priority)]
    pub priority: String,
    #[schema(value_type = Status)]
    pub status: String,
    pub assignee: Option<String>,
    /// What the repair cost (whole shillings), recorded on resolution.
    pub cost: Option<i64>,
    /// The property expense recording `cost`.
    pub expense_id: Option<Uuid>,
    pub resolved_at: Option<DateTime<Utc>>,
    pub cancelled_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

const SELECT: &str = "SELECT m.seq, m.id, m.unit_id, u.property_id, m.title, m.description, m.priority,
    m.status, m.assignee, m.cost, m.expense_id, m.resolved_at, m.cancelled_at, m.created_at, m.updated_at
    FROM maintenance_requests m JOIN units u ON u.id = m.unit_id";

#[derive(sqlx::FromRow)]
struct Row {
    seq: i64,
    #[sqlx(flatten)]
    m: MaintenanceRequest,
}

pub struct NewRequest<'a> {
    pub unit_id: Uuid,
    pub title: &'a str,
    pub description: Option<&'a str>,
    pub priority: Priority,
    pub assignee: Option<&'a str>,
}

pub async fn insert(
    c: &mut PgConnection,
    landlord: &str,
    r: &NewRequest<'_>,
) -> Result<MaintenanceRequest, sqlx::Error> {
    let id = Uuid::new_v4();
    sqlx::query(
        "INSERT INTO maintenance_requests (id, landlord_id, unit_id, title, description, priority, status, assignee)
         VALUES ($1,$2,$3,$4,$5,$6,'open',$7)",
    )
    .bind(id)
    .bind(landlord)
    .bind(r.unit_id)
    .bind(r.title)
    .bind(r.description)
    .bind(r.priority.as_str())
    .bind(r.assignee)
    .execute(&mut *c)
    .await?;
    get(c, landlord, id).await?.ok_or(sqlx::Error::RowNotFound)
}

pub async fn get(
    c: &mut PgConnection,
    landlord: &str,
    id: Uuid,
) -> Result<Option<MaintenanceRequest>, sqlx::Error> {
    let r: Option<Row> = sqlx::query_as(&format!("{SELECT} WHERE m.landlord_id=$1 AND m.id=$2"))
        .bind(landlord)
        .bind(id)
        .fetch_optional(c)
        .await?;
    Ok(r.map(|r| r.m))
}

/// Locks a request for a change; returns its status, property and title.
pub async fn lock(
    c: &mut PgConnection,
    landlord: &str,
    id: Uuid,
) -> Result<Option<(Status, Uuid, String)>, sqlx::Error> {
    let r: Option<(String, Uuid, String)> = sqlx::query_as(
        "SELECT m.status, u.property_id, m.title FROM maintenance_requests m
         JOIN units u ON u.id = m.unit_id WHERE m.landlord_id=$1 AND m.id=$2 FOR UPDATE OF m",
    )
    .bind(landlord)
    .bind(id)
    .fetch_optional(c)
    .await?;
    Ok(r.and_then(|(s, p, t)| Status::parse(&s).map(|s| (s, p, t))))
}

pub struct Change<'a> {
    pub status: Option<Status>,
    /// `Some(None)` clears the assignee.
    pub assignee: Option<Option<&'a str>>,
    pub priority: Option<Priority>,
    pub cost: Option<i64>,
    pub expense_id: Option<Uuid>,
}

pub async fn update(
    c: &mut PgConnection,
    landlord: &str,
    id: Uuid,
    ch: &Change<'_>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE maintenance_requests SET
            status = COALESCE($3, status),
            assignee = CASE WHEN $4 THEN $5 ELSE assignee END,
            priority = COALESCE($6, priority),
            cost = COALESCE($7, cost),
            expense_id = COALESCE($8, expense_id),
            resolved_at = CASE WHEN $3 = 'resolved' THEN now() ELSE resolved_at END,
            cancelled_at = CASE WHEN $3 = 'cancelled' THEN now() ELSE cancelled_at END,
            updated_at = now()
         WHERE landlord_id=$1 AND id=$2",
    )
    .bind(landlord)
    .bind(id)
    .bind(ch.status.map(|s| s.as_str()))
    .bind(ch.assignee.is_some())
    .bind(ch.assignee.flatten())
    .bind(ch.priority.map(|p| p.as_str()))
    .bind(ch.cost)
    .bind(ch.expense_id)
    .execute(c)
    .await?;
    Ok(())
}

pub struct Filter {
    pub status: Option<Status>,
    pub priority: Option<Priority>,
    pub property_id: Option<Uuid>,
    pub unit_id: Option<Uuid>,
}

pub async fn list(
    c: &mut PgConnection,
    landlord: &str,
    f: &Filter,
    limit: i64,
    before: i64,
) -> Result<Page<MaintenanceRequest>, sqlx::Error> {
    let rows: Vec<Row> = sqlx::query_as(&format!(
        "{SELECT} WHERE m.landlord_id=$1 AND ($2::text IS NULL OR m.status=$2)
         AND ($3::text IS NULL OR m.priority=$3) AND ($4::uuid IS NULL OR u.property_id=$4)
         AND ($5::uuid IS NULL OR m.unit_id=$5) AND m.seq < $6 ORDER BY m.seq DESC LIMIT $7"
    ))
    .bind(landlord)
    .bind(f.status.map(|s| s.as_str()))
    .bind(f.priority.map(|p| p.as_str()))
    .bind(f.property_id)
    .bind(f.unit_id)
    .bind(before)
    .bind(limit + 1)
    .fetch_all(c)
    .await?;
    Ok(Page::from_rows(
        rows.into_iter().map(|r| (r.seq, r.m)).collect(),
        limit,
    ))
}
