//! Payments: manual entries (cash/bank, idempotent by `Idempotency-Key`), the suspense list
//! of unmatched payments, matching, and STK push registration.

use super::{begin_write, lease_exists, read_conn, ApiRoute};
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
use chrono::{DateTime, Utc};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use uuid::Uuid;

pub fn routes() -> Vec<ApiRoute> {
    vec![
        ApiRoute::get("/v1/payments", list),
        ApiRoute::post("/v1/payments", create),
        ApiRoute::get("/v1/payments/{id}", show),
        ApiRoute::post("/v1/payments/{id}/match", match_payment),
        ApiRoute::post("/v1/stk-requests", register_stk),
        ApiRoute::get("/v1/stk-requests/{id}", show_stk),
    ]
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
enum ManualMethod {
    Cash,
    Bank,
}

/// What a payment pays for.
#[derive(Deserialize, Clone, Copy, PartialEq, Eq, utoipa::ToSchema)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub enum Kind {
    /// Allocated to rent invoices; the base of Monthly Rental Income tax.
    Rent,
    /// The lease's security deposit: held, never allocated to rent, not taxed as rent.
    Deposit,
    /// Other income (service charge, water, parking …): not allocated to rent invoices.
    Other,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Rent => "rent",
            Kind::Deposit => "deposit",
            Kind::Other => "other",
        }
    }
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct NewPayment {
    lease_id: Uuid,
    #[schema(value_type = crate::routes::openapi::Money)]
    amount: Kes,
    method: ManualMethod,
    /// Default `rent`.
    kind: Option<Kind>,
    /// Bank reference or receipt book number.
    reference: Option<String>,
    /// Default now.
    paid_at: Option<DateTime<Utc>>,
}

/// Records a cash or bank payment (M-Pesa payments arrive by callback). Idempotent by the
/// `Idempotency-Key` header: the same key and body answer the original response (header
/// `idempotent-replayed: true`); the same key with another body is a 422.
#[utoipa::path(post, path = "/v1/payments", operation_id = "createPayment", tag = "payments",
    params(("Idempotency-Key" = String, Header, description = "unique per payment, reused on retries (max 255 characters)")),
    request_body = NewPayment,
    responses((status = 201, description = "recorded (and allocated when rent)", body = payments::Payment),
        (status = 400, response = super::openapi::BadRequest),
        (status = 401, response = super::openapi::Unauthorized),
        (status = 409, response = super::openapi::Conflict),
        (status = 422, response = super::openapi::Unprocessable),
        (status = 503, response = super::openapi::Unavailable)))]
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
    let kind = b.kind.unwrap_or(Kind::Rent);
    let mut canonical = serde_json::json!({
        "lease_id": b.lease_id, "amount": b.amount.shillings(),
        "method": match b.method { ManualMethod::Cash => "cash", ManualMethod::Bank => "bank" },
        "reference": reference, "paid_at": b.paid_at,
    });
    // Rent (the default) hashes as before kinds existed, so keys stored earlier still replay.
    if kind != Kind::Rent {
        canonical["kind"] = kind.as_str().into();
    }
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
            kind: kind.as_str(),
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

/// One payment.
#[utoipa::path(get, path = "/v1/payments/{id}", operation_id = "getPayment", tag = "payments",
    params(("id" = Uuid, Path, description = "payment id")),
    responses((status = 200, description = "the payment", body = payments::Payment),
        (status = 401, response = super::openapi::Unauthorized),
        (status = 404, response = super::openapi::NotFound),
        (status = 503, response = super::openapi::Unavailable)))]
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

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
enum StatusFilter {
    Credited,
    Unmatched,
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    /// `unmatched` = the suspense list.
    #[param(inline)]
    status: Option<StatusFilter>,
    lease_id: Option<Uuid>,
    /// Page size, 1–200 (default 50).
    limit: Option<i64>,
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
}

/// Payments, newest first; `status=unmatched` is the suspense list.
#[utoipa::path(get, path = "/v1/payments", operation_id = "listPayments", tag = "payments",
    params(ListQuery),
    responses((status = 200, description = "a page of payments", body = Page<payments::Payment>),
        (status = 400, response = super::openapi::BadRequest),
        (status = 401, response = super::openapi::Unauthorized),
        (status = 503, response = super::openapi::Unavailable)))]
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

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct MatchBody {
    lease_id: Uuid,
    /// Re-classify while matching (e.g. a deposit paid by M-Pesa); default: unchanged.
    kind: Option<Kind>,
}

/// Matches a suspense (unmatched) payment to a lease: credited and allocated.
#[utoipa::path(post, path = "/v1/payments/{id}/match", operation_id = "matchPayment", tag = "payments",
    params(("id" = Uuid, Path, description = "payment id")),
    request_body = MatchBody,
    responses((status = 200, description = "matched", body = payments::Payment),
        (status = 400, response = super::openapi::BadRequest),
        (status = 401, response = super::openapi::Unauthorized),
        (status = 404, response = super::openapi::NotFound),
        (status = 409, response = super::openapi::Conflict),
        (status = 422, response = super::openapi::Unprocessable),
        (status = 503, response = super::openapi::Unavailable)))]
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
    match payments::match_to_lease(&mut tx, &me, id, b.lease_id, b.kind.map(Kind::as_str)).await? {
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

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct NewStk {
    /// Daraja's `CheckoutRequestID`.
    checkout_request_id: String,
    lease_id: Uuid,
    #[schema(value_type = crate::routes::openapi::Money)]
    amount: Kes,
}

/// Registers an STK push the landlord's app initiated with Daraja, so its callback (which
/// carries no account reference) credits the right lease.
#[utoipa::path(post, path = "/v1/stk-requests", operation_id = "registerStkRequest", tag = "payments",
    request_body = NewStk,
    responses((status = 201, description = "registered", body = payments::StkRecord),
        (status = 400, response = super::openapi::BadRequest),
        (status = 401, response = super::openapi::Unauthorized),
        (status = 409, response = super::openapi::Conflict),
        (status = 422, response = super::openapi::Unprocessable),
        (status = 503, response = super::openapi::Unavailable)))]
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

/// An STK push request and its outcome.
#[utoipa::path(get, path = "/v1/stk-requests/{id}", operation_id = "getStkRequest", tag = "payments",
    params(("id" = String, Path, description = "the CheckoutRequestID")),
    responses((status = 200, description = "the request", body = payments::StkRecord),
        (status = 401, response = super::openapi::Unauthorized),
        (status = 404, response = super::openapi::NotFound),
        (status = 503, response = super::openapi::Unavailable)))]
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
