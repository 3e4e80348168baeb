//! Payments: manual entries (cash/bank, idempotent by `Idempotency-Key`), the suspense list
//! of unmatched payments, matching, and STK push registration.

use super::{begin_write, lease_exists, read_conn};
use crate::auth::Landlord;
use crate::domain::Kes;
use crate::error::ApiError;
use crate::extract::{parse_json, path_id, Json, Query};
use crate::state::AppState;
use crate::store::{payments, Page, PageQuery};
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use uuid::Uuid;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/payments", get(list).post(create))
        .route("/v1/payments/{id}", get(show))
        .route("/v1/payments/{id}/match", post(match_payment))
        .route("/v1/stk-requests", post(register_stk))
        .route("/v1/stk-requests/{id}", get(show_stk))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
enum ManualMethod {
    Cash,
    Bank,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewPayment {
    lease_id: Uuid,
    amount: Kes,
    method: ManualMethod,
    /// Bank reference or receipt book number.
    reference: Option<String>,
    paid_at: Option<DateTime<Utc>>,
}

async fn create(
    State(st): State<AppState>,
    Landlord(me): Landlord,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let key = headers
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|k| !k.is_empty())
        .ok_or_else(|| {
            ApiError::field(
                "Idempotency-Key",
                "header required: a unique key per payment, reused on retries",
            )
        })?;
    if key.len() > 255 {
        return Err(ApiError::field(
            "Idempotency-Key",
            "must be at most 255 characters",
        ));
    }
    let is_json = headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("application/json"));
    if !is_json {
        return Err(ApiError::field("Content-Type", "expected application/json"));
    }
    let b: NewPayment = parse_json(&body)?;
    if b.amount.is_zero() {
        return Err(ApiError::field("amount", "must be greater than zero"));
    }
    let reference = match &b.reference {
        Some(r) => Some(super::text("reference", r, 100)?),
        None => None,
    };
    // Same key + same body → the original response; the hash is over the parsed request so
    // whitespace differences don't matter.
    let canonical = serde_json::json!({
        "lease_id": b.lease_id, "amount": b.amount.shillings(),
        "method": match b.method { ManualMethod::Cash => "cash", ManualMethod::Bank => "bank" },
        "reference": reference, "paid_at": b.paid_at,
    });
    let hash = hex::encode(Sha256::digest(canonical.to_string().as_bytes()));

    let mut tx = begin_write(&st, &me).await?;
    if let Some(prev) = payments::claim_idempotency_key(&mut tx, &me, key, &hash).await? {
        if prev.request_hash != hash {
            return Err(ApiError::unprocessable_field(
                "Idempotency-Key",
                "already used with a different request body",
            ));
        }
        let status = StatusCode::from_u16(prev.status as u16).unwrap_or(StatusCode::OK);
        let mut resp = (status, axum::Json(prev.body)).into_response();
        resp.headers_mut().insert(
            "idempotent-replayed",
            axum::http::HeaderValue::from_static("true"),
        );
        return Ok(resp);
    }
    if !lease_exists(&mut tx, &me, b.lease_id).await? {
        return Err(ApiError::unprocessable_field("lease_id", "no such lease"));
    }
    let method = match b.method {
        ManualMethod::Cash => "cash",
        ManualMethod::Bank => "bank",
    };
    let id = payments::insert(
        &mut tx,
        &me,
        &payments::NewPayment {
            lease_id: Some(b.lease_id),
            method,
            amount: b.amount.shillings(),
            receipt: reference.as_deref(),
            bill_ref: None,
            paid_at: b.paid_at.unwrap_or_else(Utc::now),
        },
    )
    .await?
    .ok_or_else(|| ApiError::Conflict {
        detail: "payment already recorded".into(),
        params: vec![],
    })?;
    let p = payments::get(&mut tx, &me, id)
        .await?
        .ok_or(ApiError::NotFound("payment"))?;
    let body = serde_json::to_value(&p).map_err(ApiError::internal)?;
    payments::store_idempotent_response(&mut tx, &me, key, 201, &body).await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, axum::Json(body)).into_response())
}

async fn show(
    State(st): State<AppState>,
    Landlord(me): Landlord,
    Path(id): Path<String>,
) -> Result<axum::Json<payments::Payment>, ApiError> {
    let id = path_id(&id, "payment")?;
    let mut c = read_conn(&st).await?;
    payments::get(&mut c, &me, id)
        .await?
        .map(axum::Json)
        .ok_or(ApiError::NotFound("payment"))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
enum StatusFilter {
    Credited,
    Unmatched,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    status: Option<StatusFilter>,
    lease_id: Option<Uuid>,
    limit: Option<i64>,
    cursor: Option<String>,
}

async fn list(
    State(st): State<AppState>,
    Landlord(me): Landlord,
    Query(q): Query<ListQuery>,
) -> Result<axum::Json<Page<payments::Payment>>, ApiError> {
    let (limit, before) = PageQuery {
        limit: q.limit,
        cursor: q.cursor,
    }
    .bounds()?;
    let status = q.status.map(|s| match s {
        StatusFilter::Credited => "credited",
        StatusFilter::Unmatched => "unmatched",
    });
    let mut c = read_conn(&st).await?;
    Ok(axum::Json(
        payments::list(&mut c, &me, status, q.lease_id, limit, before).await?,
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MatchBody {
    lease_id: Uuid,
}

async fn match_payment(
    State(st): State<AppState>,
    Landlord(me): Landlord,
    Path(id): Path<String>,
    Json(b): Json<MatchBody>,
) -> Result<axum::Json<payments::Payment>, ApiError> {
    let id = path_id(&id, "payment")?;
    let mut tx = begin_write(&st, &me).await?;
    if !lease_exists(&mut tx, &me, b.lease_id).await? {
        return Err(ApiError::unprocessable_field("lease_id", "no such lease"));
    }
    match payments::match_to_lease(&mut tx, &me, id, b.lease_id).await? {
        payments::MatchOutcome::NotFound => return Err(ApiError::NotFound("payment")),
        payments::MatchOutcome::NotUnmatched => {
            return Err(ApiError::conflict_field(
                "status",
                "payment is already matched",
            ))
        }
        payments::MatchOutcome::Matched => {}
    }
    let p = payments::get(&mut tx, &me, id)
        .await?
        .ok_or(ApiError::NotFound("payment"))?;
    tx.commit().await?;
    tracing::info!(payment = %id, "suspense payment matched");
    Ok(axum::Json(p))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewStk {
    checkout_request_id: String,
    lease_id: Uuid,
    amount: Kes,
}

/// Registers an STK push the landlord's app initiated with Daraja, so its callback (which
/// carries no account reference) credits the right lease.
async fn register_stk(
    State(st): State<AppState>,
    Landlord(me): Landlord,
    Json(b): Json<NewStk>,
) -> Result<(StatusCode, axum::Json<payments::StkRecord>), ApiError> {
    let id = super::text("checkout_request_id", &b.checkout_request_id, 64)?;
    let mut tx = begin_write(&st, &me).await?;
    if !lease_exists(&mut tx, &me, b.lease_id).await? {
        return Err(ApiError::unprocessable_field("lease_id", "no such lease"));
    }
    if !payments::register_stk(&mut tx, &me, &id, b.lease_id, b.amount.shillings()).await? {
        return Err(ApiError::conflict_field(
            "checkout_request_id",
            "already registered",
        ));
    }
    let r = payments::get_stk(&mut tx, &me, &id)
        .await?
        .ok_or(ApiError::NotFound("stk request"))?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, axum::Json(r)))
}

async fn show_stk(
    State(st): State<AppState>,
    Landlord(me): Landlord,
    Path(id): Path<String>,
) -> Result<axum::Json<payments::StkRecord>, ApiError> {
    let mut c = read_conn(&st).await?;
    payments::get_stk(&mut c, &me, &id)
        .await?
        .map(axum::Json)
        .ok_or(ApiError::NotFound("stk request"))
}
