//! Reconciliation of the API's M-Pesa payments against a paybill statement exported (CSV)
//! from the M-PESA org portal: receipts on the statement the API never heard of (lost
//! callbacks), API payments the statement does not show, and amounts that differ.
//! `?apply=true` records the missing receipts as a C2B confirmation would (matched by
//! account number, allocated as usual, idempotent on the receipt).

use super::ApiRoute;
use crate::auth::Landlord;
use crate::domain::mpesa_statement::{self, StatementError};
use crate::error::{doc, ApiError, InvalidParam};
use crate::extract::Query;
use crate::service::{self, reconciliation::Reconciliation};
use crate::state::AppState;
use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderMap};
use serde::Deserialize;

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
    apply: Option<Flag>,
}

/// `true` or `false` in a query string.
#[derive(Debug, Clone, Copy)]
pub struct Flag(pub bool);

impl<'de> Deserialize<'de> for Flag {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match <std::borrow::Cow<'de, str>>::deserialize(d)?.as_ref() {
            "true" => Ok(Flag(true)),
            "false" => Ok(Flag(false)),
            _ => Err(serde::de::Error::custom("must be true or false")),
        }
    }
}

crate::domain::schema::schema_of!(
    Flag,
    "Flag",
    utoipa::openapi::schema::ObjectBuilder::new()
        .schema_type(utoipa::openapi::schema::Type::Boolean)
        .into()
);

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
        (status = 400, response = doc::BadRequest),
        (status = 401, response = doc::Unauthorized),
        (status = 422, response = doc::Unprocessable),
        (status = 503, response = doc::Unavailable)))]
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
            "must be text/csv: the statement file as exported",
        ));
    }
    let bytes = axum::body::to_bytes(body, MAX_STATEMENT)
        .await
        .map_err(|_| ApiError::field("body", "must be the statement, at most 8 MiB"))?;
    let statement = mpesa_statement::parse(&bytes).map_err(|e| unprocessable(&e))?;
    let apply = q.apply.is_some_and(|f| f.0);
    service::reconciliation::reconcile(&st, &me, statement, apply)
        .await
        .map(axum::Json)
}
