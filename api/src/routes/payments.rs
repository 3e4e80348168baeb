//! Payments: manual entries (cash/bank, idempotent by `Idempotency-Key`), the suspense list
//! of unmatched payments, matching, and STK push registration.

use super::resource::{self, List, ListParams, Show};
use super::ApiRoute;
use crate::auth::Landlord;
use crate::domain::text::Text100Ref;
use crate::domain::{
    CheckoutRequestId, IdempotencyKey, Instant, ManualMethod, PaymentKind, PositiveKes,
};
use crate::error::{doc, ApiError};
use crate::extract::{is_json, parse_json, path_id, Json, Path};
use crate::service::{self, resources::PaymentFilter};
use crate::state::AppState;
use crate::store::payments::{Payment, StkRecord};
use crate::store::{Page, PageQuery};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
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
#[serde(deny_unknown_fields)]
pub struct NewPayment {
    lease_id: Uuid,
    amount: PositiveKes,
    method: ManualMethod,
    /// Default `rent`.
    kind: Option<PaymentKind>,
    /// Bank reference or receipt book number.
    reference: Option<Text100Ref>,
    /// Default now.
    paid_at: Option<Instant>,
}

/// Records a cash or bank payment (M-Pesa payments arrive by callback). Idempotent by the
/// `Idempotency-Key` header: the same key and body answer the original response (header
/// `idempotent-replayed: true`); the same key with another body is a 422.
#[utoipa::path(post, path = "/v1/payments", operation_id = "createPayment", tag = "payments",
    params(("Idempotency-Key" = String, Header, pattern = r"^[!-~](?:[ -~]{0,253}[!-~])?$", max_length = 255,
        description = "unique per payment, reused on retries: 1–255 printable ASCII characters, no space at either end")),
    request_body = NewPayment,
    responses((status = 201, description = "recorded (and allocated when rent); a replay answers the original", body = Payment,
            headers(("idempotent-replayed" = String, description = "`true` on a replay of an earlier request"))),
        (status = 400, response = doc::BadRequest),
        (status = 401, response = doc::Unauthorized),
        (status = 409, response = doc::Conflict),
        (status = 422, response = doc::Unprocessable),
        (status = 503, response = doc::Unavailable)))]
async fn create(
    State(st): State<AppState>,
    Landlord(me): Landlord,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let key = match headers.get("idempotency-key") {
        None => {
            return Err(ApiError::field(
                "Idempotency-Key",
                "must be given: a unique key per payment, reused on retries",
            ))
        }
        Some(v) => v
            .to_str()
            .ok()
            .and_then(IdempotencyKey::parse)
            .ok_or_else(|| {
                ApiError::field(
                    "Idempotency-Key",
                    "must be 1 to 255 printable ASCII characters, no space at either end",
                )
            })?,
    };
    if !is_json(&headers) {
        return Err(ApiError::field("Content-Type", "must be application/json"));
    }
    let b: NewPayment = parse_json(&body)?;
    let r = service::payments::record_manual(
        &st,
        &me,
        &key,
        service::payments::ManualPayment {
            lease_id: b.lease_id,
            amount: b.amount,
            method: b.method,
            kind: b.kind.unwrap_or_default(),
            reference: b.reference,
            paid_at: b.paid_at,
        },
    )
    .await?;
    let status = StatusCode::from_u16(r.status).unwrap_or(StatusCode::OK);
    let mut resp = (status, axum::Json(r.body)).into_response();
    if r.replayed {
        resp.headers_mut()
            .insert("idempotent-replayed", HeaderValue::from_static("true"));
    }
    Ok(resp)
}

/// One payment.
#[utoipa::path(get, path = "/v1/payments/{id}", operation_id = "getPayment", tag = "payments",
    params(("id" = Uuid, Path, description = "payment id")),
    responses((status = 200, description = "the payment", body = Payment),
        (status = 401, response = doc::Unauthorized),
        (status = 404, response = doc::NotFound),
        (status = 503, response = doc::Unavailable)))]
async fn show(
    State(st): State<AppState>,
    Landlord(me): Landlord,
    Path(id): Path<String>,
) -> Show<Payment> {
    resource::show(&st, &me, &id).await
}

/// Payments, newest first; `status=unmatched` is the suspense list.
#[utoipa::path(get, path = "/v1/payments", operation_id = "listPayments", tag = "payments",
    params(PageQuery, PaymentFilter),
    responses((status = 200, description = "a page of payments", body = Page<Payment>),
        (status = 400, response = doc::BadRequest),
        (status = 401, response = doc::Unauthorized),
        (status = 503, response = doc::Unavailable)))]
async fn list(
    State(st): State<AppState>,
    Landlord(me): Landlord,
    q: ListParams<PaymentFilter>,
) -> List<Payment> {
    resource::list(&st, &me, q).await
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MatchBody {
    lease_id: Uuid,
    /// Re-classify while matching (e.g. a deposit paid by M-Pesa); default: unchanged.
    kind: Option<PaymentKind>,
}

/// Matches a suspense (unmatched) payment to a lease: credited and allocated.
#[utoipa::path(post, path = "/v1/payments/{id}/match", operation_id = "matchPayment", tag = "payments",
    params(("id" = Uuid, Path, description = "payment id")),
    request_body = MatchBody,
    responses((status = 200, description = "matched", body = Payment),
        (status = 400, response = doc::BadRequest),
        (status = 401, response = doc::Unauthorized),
        (status = 404, response = doc::NotFound),
        (status = 409, response = doc::Conflict),
        (status = 422, response = doc::Unprocessable),
        (status = 503, response = doc::Unavailable)))]
async fn match_payment(
    State(st): State<AppState>,
    Landlord(me): Landlord,
    Path(id): Path<String>,
    Json(b): Json<MatchBody>,
) -> Result<axum::Json<Payment>, ApiError> {
    let id = path_id(&id, "payment")?;
    service::payments::match_to_lease(&st, &me, id, b.lease_id, b.kind)
        .await
        .map(axum::Json)
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewStk {
    /// Daraja's `CheckoutRequestID`.
    checkout_request_id: CheckoutRequestId,
    lease_id: Uuid,
    amount: PositiveKes,
}

/// Registers an STK push the landlord's app initiated with Daraja, so its callback (which
/// carries no account reference) credits the right lease.
#[utoipa::path(post, path = "/v1/stk-requests", operation_id = "registerStkRequest", tag = "payments",
    request_body = NewStk,
    responses((status = 201, description = "registered", body = StkRecord),
        (status = 400, response = doc::BadRequest),
        (status = 401, response = doc::Unauthorized),
        (status = 409, response = doc::Conflict),
        (status = 422, response = doc::Unprocessable),
        (status = 503, response = doc::Unavailable)))]
async fn register_stk(
    State(st): State<AppState>,
    Landlord(me): Landlord,
    Json(b): Json<NewStk>,
) -> Result<(StatusCode, axum::Json<StkRecord>), ApiError> {
    let r = service::payments::register_stk(&st, &me, &b.checkout_request_id, b.lease_id, b.amount)
        .await?;
    Ok((StatusCode::CREATED, axum::Json(r)))
}

/// An STK push request and its outcome.
#[utoipa::path(get, path = "/v1/stk-requests/{id}", operation_id = "getStkRequest", tag = "payments",
    params(("id" = String, Path, pattern = "^[A-Za-z0-9_-]{1,64}$", description = "the CheckoutRequestID")),
    responses((status = 200, description = "the request", body = StkRecord),
        (status = 401, response = doc::Unauthorized),
        (status = 404, response = doc::NotFound),
        (status = 503, response = doc::Unavailable)))]
async fn show_stk(
    State(st): State<AppState>,
    Landlord(me): Landlord,
    Path(id): Path<String>,
) -> Show<StkRecord> {
    resource::show(&st, &me, &id).await
}
