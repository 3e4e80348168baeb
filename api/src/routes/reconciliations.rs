//! Reconciliation of the API's M-Pesa payments against a paybill statement exported (CSV)
//! from the M-PESA org portal: receipts on the statement the API never heard of (lost
//! callbacks), API payments the statement does not show, and amounts that differ.
//! `?apply=true` records the missing receipts as a C2B confirmation would (matched by
//! account number, allocated as usual, idempotent on the receipt).

use super::{begin_write, read_snapshot, ApiRoute};
use crate::auth::Landlord;
use crate::domain::mpesa_statement::{self, StatementError};
use crate::error::{ApiError, InvalidParam};
use crate::extract::Query;
use crate::state::AppState;
use crate::store::payments;
use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderMap};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::{HashMap, HashSet};
use uuid::Uuid;

/// Largest statement accepted (a busy paybill's month is a few MiB).
pub const MAX_STATEMENT: usize = 8 * 1024 * 1024;

pub fn routes() -> Vec<ApiRoute> {
    vec![ApiRoute::post("/v1/reconciliations", reconcile)]
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct ReconcileQuery {
    /// Record the receipts missing from the API as payments (default false: report only).
    apply: Option<bool>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct StatementSummary {
    /// Transaction rows read (money in and out, any status).
    rows: usize,
    /// Completed money-in rows.
    receipts: usize,
    /// Their total, whole shillings.
    paid_in: i64,
    /// The time range the statement covers: its earliest and latest completion time. API
    /// payments are compared within it.
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct MissingReceipt {
    /// Line of the statement file.
    line: u64,
    receipt: String,
    completed_at: DateTime<Utc>,
    amount: i64,
    /// `A/C No.` as the payer typed it.
    account_ref: Option<String>,
    /// With `apply=true`: the payment recorded now (null if another record already holds
    /// the receipt).
    payment_id: Option<Uuid>,
    /// With `apply=true`: `credited` (matched to a lease) or `unmatched` (suspense).
    status: Option<&'static str>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct ExtraPayment {
    payment_id: Uuid,
    receipt: Option<String>,
    amount: i64,
    paid_at: DateTime<Utc>,
    method: String,
    status: String,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct AmountMismatch {
    line: u64,
    receipt: String,
    payment_id: Uuid,
    statement_amount: i64,
    api_amount: i64,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct Reconciliation {
    statement: StatementSummary,
    /// Whether `apply=true` was asked.
    apply: bool,
    /// Receipts on the statement with no API payment (lost callbacks).
    missing_from_api: Vec<MissingReceipt>,
    /// API M-Pesa payments within the statement's time range that it does not show.
    missing_from_statement: Vec<ExtraPayment>,
    /// Receipts on both with different amounts.
    amount_mismatches: Vec<AmountMismatch>,
    /// Payments this call recorded (0 without `apply`, and on a re-run).
    recorded: usize,
}

fn unprocessable(e: &StatementError) -> ApiError {
    let name = match e.column {
        Some((i, col)) => format!("line {}, column {} ({col})", e.line, i),
        None => format!("line {}", e.line),
    };
    ApiError::Unprocessable {
        detail: format!("the statement cannot be read: {e}; nothing was recorded"),
        params: vec![InvalidParam {
            name,
            reason: e.reason.to_string(),
        }],
    }
}

/// Reconciles an M-Pesa paybill statement. The body is the CSV file exactly as the M-PESA
/// org portal exports it (`Content-Type: text/csv`): preamble lines are skipped up to the
/// header row, columns are found by name (`Receipt No.`, `Completion Time`, `Paid In`,
/// `Transaction Status`, `A/C No.`; order free, extra columns ignored), amounts may be
/// written `"1,500.00"`, times are East Africa Time. Only completed money-in rows are
/// receipts. A file that cannot be read is a 422 naming the line and column; nothing is
/// recorded then. Re-running with the same file records nothing new.
#[utoipa::path(post, path = "/v1/reconciliations", operation_id = "reconcileStatement", tag = "reconciliation",
    params(ReconcileQuery),
    request_body(content = String, content_type = "text/csv",
        description = "the statement CSV as exported from the M-PESA org portal (at most 8 MiB)"),
    responses((status = 200, description = "the differences", body = Reconciliation),
        (status = 400, response = super::openapi::BadRequest),
        (status = 401, response = super::openapi::Unauthorized),
        (status = 422, response = super::openapi::Unprocessable),
        (status = 503, response = super::openapi::Unavailable)))]
async fn reconcile(
    State(st): State<AppState>,
    Landlord(me): Landlord,
    Query(q): Query<ReconcileQuery>,
    headers: HeaderMap,
    body: Body,
) -> Result<axum::Json<Reconciliation>, ApiError> {
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        })
        .unwrap_or_default();
    if !["text/csv", "application/csv", "text/plain"].contains(&ct.as_str()) {
        return Err(ApiError::field(
            "Content-Type",
            "expected text/csv: the statement file as exported",
        ));
    }
    let bytes = axum::body::to_bytes(body, MAX_STATEMENT)
        .await
        .map_err(|_| ApiError::field("body", "statement missing or larger than 8 MiB"))?;
    let statement = mpesa_statement::parse(&bytes).map_err(|e| unprocessable(&e))?;
    let apply = q.apply.unwrap_or(false);

    let mut tx = if apply {
        begin_write(&st, &me).await?
    } else {
        read_snapshot(&st).await?
    };
    let receipts: Vec<String> = statement
        .receipts
        .iter()
        .map(|r| r.receipt.clone())
        .collect();
    let known: HashMap<String, (Uuid, i64)> = payments::mpesa_by_receipts(&mut tx, &me, &receipts)
        .await?
        .into_iter()
        .map(|(r, id, amount)| (r, (id, amount)))
        .collect();
    let mut missing = Vec::new();
    let mut mismatches = Vec::new();
    for r in &statement.receipts {
        match known.get(&r.receipt) {
            None => missing.push(r),
            Some((id, amount)) if *amount != r.amount.shillings() => {
                mismatches.push(AmountMismatch {
                    line: r.line,
                    receipt: r.receipt.clone(),
                    payment_id: *id,
                    statement_amount: r.amount.shillings(),
                    api_amount: *amount,
                })
            }
            Some(_) => {}
        }
    }
    let on_statement: HashSet<&str> = receipts.iter().map(String::as_str).collect();
    let extra: Vec<ExtraPayment> = match (statement.from, statement.to) {
        (Some(from), Some(to)) => payments::mpesa_between(&mut tx, &me, from, to)
            .await?
            .into_iter()
            .filter(|p| {
                p.receipt
                    .as_deref()
                    .is_none_or(|r| !on_statement.contains(r))
            })
            .map(|p| ExtraPayment {
                payment_id: p.id,
                receipt: p.receipt,
                amount: p.amount,
                paid_at: p.paid_at,
                method: p.method,
                status: p.status,
            })
            .collect(),
        _ => vec![],
    };
    let mut recorded = 0;
    let mut missing_out = Vec::new();
    for r in missing {
        let mut m = MissingReceipt {
            line: r.line,
            receipt: r.receipt.clone(),
            completed_at: r.completed_at,
            amount: r.amount.shillings(),
            account_ref: r.account_ref.clone(),
            payment_id: None,
            status: None,
        };
        if apply {
            if let Some((id, matched)) = payments::record_c2b(
                &mut tx,
                &me,
                &r.receipt,
                r.amount.shillings(),
                r.account_ref.as_deref(),
                r.completed_at,
            )
            .await?
            {
                recorded += 1;
                m.payment_id = Some(id);
                m.status = Some(if matched { "credited" } else { "unmatched" });
            }
        }
        missing_out.push(m);
    }
    tx.commit().await?;
    tracing::info!(
        rows = statement.rows,
        receipts = statement.receipts.len(),
        missing = missing_out.len(),
        extra = extra.len(),
        mismatched = mismatches.len(),
        recorded,
        "statement reconciled"
    );
    Ok(axum::Json(Reconciliation {
        statement: StatementSummary {
            rows: statement.rows,
            receipts: statement.receipts.len(),
            paid_in: statement
                .receipts
                .iter()
                .map(|r| r.amount.shillings())
                .sum(),
            from: statement.from,
            to: statement.to,
        },
        apply,
        missing_from_api: missing_out,
        missing_from_statement: extra,
        amount_mismatches: mismatches,
        recorded,
    }))
}
