//! The audit log of data-rights actions: who, when, what — never personal data.

use super::page::Page;
use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgConnection;
use uuid::Uuid;

#[derive(Debug, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct AuditEntry {
    pub id: Uuid,
    /// The authenticated principal (JWT `sub`) who asked.
    pub actor: String,
    /// e.g. `tenant.erase`.
    pub action: String,
    pub subject_type: String,
    pub subject_id: Uuid,
    /// Names of the fields the action touched (never their values).
    pub fields: Vec<String>,
    pub at: DateTime<Utc>,
}

const COLS: &str = "id, actor, action, subject_type, subject_id, fields, at";

pub async fn record(
    c: &mut PgConnection,
    landlord: &str,
    actor: &str,
    action: &str,
    subject_type: &str,
    subject_id: Uuid,
    fields: &[&str],
) -> Result<AuditEntry, sqlx::Error> {
    let fields: Vec<String> = fields.iter().map(|s| s.to_string()).collect();
    sqlx::query_as(&format!(
        "INSERT INTO audit_log (id, landlord_id, actor, action, subject_type, subject_id, fields)
         VALUES ($1,$2,$3,$4,$5,$6,$7) RETURNING {COLS}"
    ))
    .bind(Uuid::new_v4())
    .bind(landlord)
    .bind(actor)
    .bind(action)
    .bind(subject_type)
    .bind(subject_id)
    .bind(&fields)
    .fetch_one(c)
    .await
}

/// The latest entry of `action` on a subject.
pub async fn latest(
    c: &mut PgConnection,
    landlord: &str,
    action: &str,
    subject_id: Uuid,
) -> Result<Option<AuditEntry>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {COLS} FROM audit_log WHERE landlord_id=$1 AND action=$2 AND subject_id=$3
         ORDER BY seq DESC LIMIT 1"
    ))
    .bind(landlord)
    .bind(action)
    .bind(subject_id)
    .fetch_optional(c)
    .await
}

pub async fn list(
    c: &mut PgConnection,
    landlord: &str,
    subject_id: Option<Uuid>,
    limit: i64,
    before: i64,
) -> Result<Page<AuditEntry>, sqlx::Error> {
    #[derive(sqlx::FromRow)]
    struct Row {
        seq: i64,
        #[sqlx(flatten)]
        e: AuditEntry,
    }
    let rows: Vec<Row> = sqlx::query_as(&format!(
        "SELECT seq, {COLS} FROM audit_log WHERE landlord_id=$1
         AND ($2::uuid IS NULL OR subject_id=$2) AND seq < $3 ORDER BY seq DESC LIMIT $4"
    ))
    .bind(landlord)
    .bind(subject_id)
    .bind(before)
    .bind(limit + 1)
    .fetch_all(c)
    .await?;
    Ok(Page::from_rows(
        rows.into_iter().map(|r| (r.seq, r.e)).collect(),
        limit,
    ))
}
