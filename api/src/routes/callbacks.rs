//! M-Pesa Daraja callbacks: C2B validation and confirmation, STK push results.
//!
//! Callbacks carry no JWT: the landlord is found by the secret token in the path (compared
//! in constant time) before the body is read — a wrong token is a 404 whatever the body —
//! optionally restricted to source networks. Every answer is Daraja-shaped (`ResultCode`,
//! `ResultDesc`); errors add problem details naming the field. Duplicates and late
//! callbacks are idempotent on the receipt (`TransID` / `MpesaReceiptNumber`, and
//! `CheckoutRequestID` for STK). MSISDN arrives masked or hashed and is never used,
//! stored or logged.

use super::ApiRoute;
use crate::domain::daraja::C2bValidation;
use crate::domain::inbox::CallbackKind;
use crate::error::{ApiError, Problem};
use crate::extract::{is_json, parse_json, Path};
use crate::service;
use crate::state::{client_ip, AppState};
use axum::body::Bytes;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::HeaderMap;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use std::net::SocketAddr;

pub fn routes(state: &AppState) -> Vec<ApiRoute> {
    [
        ApiRoute::post("/v1/callbacks/c2b/{token}/validation", c2b_validation),
        ApiRoute::post("/v1/callbacks/c2b/{token}/confirmation", c2b_confirmation),
        ApiRoute::post("/v1/callbacks/stk/{token}", stk_callback),
    ]
    .into_iter()
    .map(|r| {
        let st = state.clone();
        r.map(|h| h.route_layer(axum::middleware::from_fn_with_state(st, source_allowed)))
    })
    .collect()
}

/// Rejects callers outside the configured callback source networks.
async fn source_allowed(State(st): State<AppState>, req: Request, next: Next) -> Response {
    if !st.settings.callback_allow.is_empty() {
        let peer = req
            .extensions()
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip())
            .or_else(|| req.extensions().get::<SourceIp>().map(|s| s.0));
        let xff = req
            .headers()
            .get("x-forwarded-for")
            .and_then(|v| v.to_str().ok());
        let ip = client_ip(peer, xff, &st.settings.trusted_proxies);
        let allowed =
            ip.is_some_and(|ip| st.settings.callback_allow.iter().any(|n| n.contains(&ip)));
        if !allowed {
            tracing::warn!("callback from a source outside the allow-list refused");
            let validation = req.uri().path().ends_with("/validation");
            return CallbackError::new(ApiError::Forbidden, validation).into_response();
        }
    }
    next.run(req).await
}

/// The caller's address when the transport is not a socket (Lambda: the API Gateway
/// request context's source IP).
#[derive(Clone, Copy, Debug)]
pub struct SourceIp(pub std::net::IpAddr);

/// Validation's answer: `ResultCode` is a string — `"0"` accepts, `C2B00012` (invalid
/// account number) or `C2B00013` (invalid amount) rejects.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "PascalCase")]
pub struct ValidationAnswer {
    #[schema(pattern = "^(0|C2B0001[1-6])$")]
    result_code: &'static str,
    #[schema(pattern = "^(Accepted|Rejected)$")]
    result_desc: &'static str,
}

/// Confirmation's and STK's acknowledgement: `ResultCode` is the number 0.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "PascalCase")]
pub struct Ack {
    #[schema(minimum = 0, maximum = 0)]
    result_code: i32,
    #[schema(pattern = "^Accepted$")]
    result_desc: &'static str,
}

const ACCEPTED: Ack = Ack {
    result_code: 0,
    result_desc: "Accepted",
};

/// A refused validation callback: problem details plus `ResultCode` `C2B00016` (other
/// error) as a string, like every validation answer.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ValidationProblem {
    #[serde(flatten)]
    problem: Problem,
    #[serde(rename = "ResultCode")]
    #[schema(pattern = "^C2B00016$")]
    result_code: &'static str,
    #[serde(rename = "ResultDesc")]
    result_desc: String,
}

/// A refused confirmation or STK callback: problem details plus `ResultCode` 1 (a
/// number, like every answer of these callbacks).
#[derive(Serialize, utoipa::ToSchema)]
pub struct CallbackProblem {
    #[serde(flatten)]
    problem: Problem,
    #[serde(rename = "ResultCode")]
    #[schema(minimum = 1, maximum = 1)]
    result_code: i32,
    #[serde(rename = "ResultDesc")]
    result_desc: String,
}

/// An error of a callback, answered Daraja-style.
pub struct CallbackError {
    err: ApiError,
    validation: bool,
}

impl CallbackError {
    fn new(err: ApiError, validation: bool) -> CallbackError {
        CallbackError { err, validation }
    }
}

impl IntoResponse for CallbackError {
    fn into_response(self) -> Response {
        let problem = self.err.problem();
        let desc = format!("Rejected: {}", problem.detail);
        let mut resp = if self.validation {
            let body = ValidationProblem {
                problem,
                result_code: "C2B00016",
                result_desc: desc,
            };
            (self.err.status(), axum::Json(body)).into_response()
        } else {
            let body = CallbackProblem {
                problem,
                result_code: 1,
                result_desc: desc,
            };
            (self.err.status(), axum::Json(body)).into_response()
        };
        self.err.decorate(&mut resp);
        resp
    }
}

/// Finds the landlord by token, then parses the body (so a wrong token is a 404).
async fn landlord_and_body<T: serde::de::DeserializeOwned>(
    st: &AppState,
    token: &str,
    headers: &HeaderMap,
    body: &Bytes,
    validation: bool,
) -> Result<(String, T), CallbackError> {
    let e = |err| CallbackError::new(err, validation);
    let me = service::landlord::by_callback_token(st, token)
        .await
        .map_err(e)?;
    if !is_json(headers) {
        return Err(e(ApiError::field(
            "Content-Type",
            "must be application/json",
        )));
    }
    Ok((me, parse_json(body).map_err(e)?))
}

/// C2B validation: accepts a payment whose account number names one of the landlord's units.
#[utoipa::path(post, path = "/v1/callbacks/c2b/{token}/validation", operation_id = "c2bValidation", tag = "callbacks", security(()),
    params(("token" = String, Path, description = "the landlord's secret callback token")),
    request_body = C2bValidation,
    responses((status = 200, description = "accepted or rejected (ResultCode)", body = ValidationAnswer),
        (status = 400, description = "invalid request; nothing was changed", body = ValidationProblem, content_type = "application/problem+json"),
        (status = 403, description = "source outside the allowed networks", body = ValidationProblem, content_type = "application/problem+json"),
        (status = 404, description = "unknown callback token", body = ValidationProblem, content_type = "application/problem+json"),
        (status = 503, description = "database unavailable; retry", body = ValidationProblem, content_type = "application/problem+json")))]
async fn c2b_validation(
    State(st): State<AppState>,
    Path(token): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<axum::Json<ValidationAnswer>, CallbackError> {
    let (me, b): (String, C2bValidation) =
        landlord_and_body(&st, &token, &headers, &body, true).await?;
    let reject = |code| ValidationAnswer {
        result_code: code,
        result_desc: "Rejected",
    };
    if b.amount().is_none() {
        return Ok(axum::Json(reject("C2B00013"))); // invalid amount
    }
    let known = match &b.bill_ref_number {
        Some(r) => service::callbacks::account_exists(&st, &me, &r.0)
            .await
            .map_err(|e| CallbackError::new(e, true))?,
        None => false,
    };
    Ok(axum::Json(if known {
        ValidationAnswer {
            result_code: "0",
            result_desc: "Accepted",
        }
    } else {
        reject("C2B00012") // invalid account number
    }))
}

/// Any body: a callback is stored before it is read, so no body is refused (the shapes
/// read are `C2bConfirmation` and `StkEnvelope`).
pub struct RawCallback;

crate::domain::schema::schema_of!(
    RawCallback,
    "RawCallback",
    utoipa::openapi::schema::ObjectBuilder::new()
        .schema_type(utoipa::openapi::schema::SchemaType::AnyValue)
        .description(Some(
            "Any body. It is stored raw, then read as `C2bConfirmation` (confirmation) or \
             `StkEnvelope` (STK); a body that does not match is kept in quarantine."
        ))
        .into()
);

/// The raw body of a callback as Daraja sent it: stored first, read afterwards. Any body
/// is accepted and acknowledged once stored; one that does not match the documented
/// shape is quarantined (`GET /v1/callback-inbox?status=quarantined`), never refused, so
/// M-Pesa never treats a payment it completed as failed.
async fn store_callback(
    st: &AppState,
    kind: CallbackKind,
    token: &str,
    headers: &HeaderMap,
    body: &Bytes,
) -> Result<axum::Json<Ack>, CallbackError> {
    service::inbox::receive(st, kind, token, is_json(headers), body)
        .await
        .map_err(|e| CallbackError::new(e, false))?;
    Ok(axum::Json(ACCEPTED))
}

/// C2B confirmation: stored raw (durable — in both regions with a synchronous standby —
/// before the answer), then recorded once per receipt: credited to the lease of the unit
/// whose account number was typed, or to the suspense list. The answer means "stored".
/// A body that cannot be read is kept in quarantine and still acknowledged; the same
/// receipt again is a duplicate, or — another amount or account — an anomaly
/// (`GET /v1/payment-anomalies`), never credited.
#[utoipa::path(post, path = "/v1/callbacks/c2b/{token}/confirmation", operation_id = "c2bConfirmation", tag = "callbacks", security(()),
    params(("token" = String, Path, description = "the landlord's secret callback token")),
    request_body(content = RawCallback, description = "a Daraja C2B confirmation (schema `C2bConfirmation`); anything else is stored and quarantined"),
    responses((status = 200, description = "stored (recorded, a duplicate, an anomaly, or quarantined)", body = Ack),
        (status = 403, description = "source outside the allowed networks", body = CallbackProblem, content_type = "application/problem+json"),
        (status = 404, description = "unknown callback token; nothing was stored", body = CallbackProblem, content_type = "application/problem+json"),
        (status = 503, description = "database unavailable or the API over capacity; nothing was stored — retry", body = CallbackProblem, content_type = "application/problem+json",
            headers(("Retry-After" = String, description = "seconds to wait before retrying")))))]
async fn c2b_confirmation(
    State(st): State<AppState>,
    Path(token): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<axum::Json<Ack>, CallbackError> {
    store_callback(&st, CallbackKind::C2bConfirmation, &token, &headers, &body).await
}

/// STK push result: stored raw first (as a confirmation is), then a success is credited
/// once to the lease the request was registered for (idempotent on CheckoutRequestID and
/// the receipt) — unless it paid another amount than registered: then it waits in suspense
/// and is listed as an anomaly. A failure is recorded only. An unreadable body is
/// quarantined and still acknowledged.
#[utoipa::path(post, path = "/v1/callbacks/stk/{token}", operation_id = "stkCallback", tag = "callbacks", security(()),
    params(("token" = String, Path, description = "the landlord's secret callback token")),
    request_body(content = RawCallback, description = "a Daraja STK push result (schema `StkEnvelope`); anything else is stored and quarantined"),
    responses((status = 200, description = "stored (recorded, a duplicate, an anomaly, or quarantined)", body = Ack),
        (status = 403, description = "source outside the allowed networks", body = CallbackProblem, content_type = "application/problem+json"),
        (status = 404, description = "unknown callback token; nothing was stored", body = CallbackProblem, content_type = "application/problem+json"),
        (status = 503, description = "database unavailable or the API over capacity; nothing was stored — retry", body = CallbackProblem, content_type = "application/problem+json",
            headers(("Retry-After" = String, description = "seconds to wait before retrying")))))]
async fn stk_callback(
    State(st): State<AppState>,
    Path(token): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<axum::Json<Ack>, CallbackError> {
    store_callback(&st, CallbackKind::Stk, &token, &headers, &body).await
}
