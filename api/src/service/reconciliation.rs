//! Reconciliation of the API's M-Pesa payments against a paybill statement: receipts the
//! API never heard of (lost callbacks), API payments the statement does not show, amounts
//! that differ; with `apply`, the missing receipts are recorded as a C2B confirmation would.

use super::{begin_write, read_snapshot};
use crate::domain::mpesa_statement::Statement;
use crate::error::ApiError;
use crate::state::AppState;
use crate::store::payments;
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::collections::{HashMap, HashSet};
use uuid::Uuid;

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

pub async fn reconcile(
    st: &AppState,
    me: &str,
    statement: Statement,
    apply: bool,
) -> Result<Reconciliation, ApiError> {
    let mut tx = if apply {
        begin_write(st, me).await?
    } else {
        read_snapshot(st).await?
    };
    let receipts: Vec<String> = statement
        .receipts
        .iter()
        .map(|r| r.receipt.clone())
        .collect();
    let known: HashMap<String, (Uuid, i64)> = payments::mpesa_by_receipts(&mut tx, me, &receipts)
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
        (Some(from), Some(to)) => payments::mpesa_between(&mut tx, me, from, to)
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
                me,
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
    Ok(Reconciliation {
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
    })
}
