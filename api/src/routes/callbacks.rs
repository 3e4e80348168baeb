//! M-Pesa Daraja callbacks: C2B validation and confirmation, STK push results.
//!
//! Callbacks carry no JWT: the landlord is found by the secret token in the path (compared
//! in constant time), optionally restricted to source networks. Safaricom does not retry
//! callbacks, but duplicates and late ones happen: each is idempotent on its receipt
//! (`TransID` / `MpesaReceiptNumber`, and `CheckoutRequestID` for STK). MSISDN arrives
//! masked or hashed and is never used, stored or logged.

use super::ApiRoute;
use crate::domain::Kes;
use crate::error::ApiError;
use crate::extract::Json;
use crate::state::{client_ip, AppState};
use crate::store::{landlords, payments, rentals};
use axum::extract::{ConnectInfo, Path, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use chrono::{DateTime, FixedOffset, NaiveDateTime, TimeZone, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
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
async fn source_allowed(
    State(st): State<AppState>,
    req: Request,
    next: Next,
) -> Result<Response, ApiError> {
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
            return Err(ApiError::Forbidden);
        }
    }
    Ok(next.run(req).await)
}

/// The caller's address when the transport is not a socket (Lambda: the API Gateway
/// request context's source IP).
#[derive(Clone, Copy, Debug)]
pub struct SourceIp(pub std::net::IpAddr);

async fn landlord_of(st: &AppState, token: &str) -> Result<String, ApiError> {
    let mut c = st.db.acquire().await?;
    landlords::by_callback_token(&mut c, token)
        .await?
        .ok_or(ApiError::NotFound("callback"))
}

fn accepted() -> axum::Json<Value> {
    axum::Json(json!({ "ResultCode": 0, "ResultDesc": "Accepted" }))
}

/// The answer Daraja expects: `ResultCode` 0 (or `"0"`) accepts; validation rejects with
/// `C2B00012` (invalid account number) or `C2B00013` (invalid amount).
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "PascalCase")]
#[allow(dead_code)]
pub struct DarajaAck {
    #[schema(value_type = Object)]
    result_code: Value,
    result_desc: String,
}

/// Daraja C2B payload. Only the fields we use are typed; the rest (InvoiceNumber,
/// OrgAccountBalance, ThirdPartyTransID, MSISDN, names, …) are accepted and ignored.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "PascalCase")]
struct C2b {
    /// The M-Pesa receipt.
    #[serde(rename = "TransID")]
    trans_id: Option<String>,
    /// `YYYYMMDDHHmmss`, East Africa Time.
    trans_time: Option<String>,
    /// Whole shillings as a decimal string, e.g. "1500.00".
    #[schema(value_type = crate::routes::openapi::Money)]
    trans_amount: Value,
    /// The account number the payer typed.
    bill_ref_number: Option<String>,
}

fn receipt(field: &str, v: &str) -> Result<String, ApiError> {
    let t = v.trim();
    if t.is_empty() || t.len() > 30 || !t.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(ApiError::field(field, "must be an M-Pesa receipt number"));
    }
    Ok(t.to_ascii_uppercase())
}

/// Daraja timestamps are `YYYYMMDDHHmmss` in East Africa Time (UTC+3).
fn eat_time(field: &str, v: &str) -> Result<DateTime<Utc>, ApiError> {
    let naive = NaiveDateTime::parse_from_str(v.trim(), "%Y%m%d%H%M%S")
        .map_err(|_| ApiError::field(field, "must be a timestamp YYYYMMDDHHmmss"))?;
    let eat = FixedOffset::east_opt(3 * 3600).expect("valid offset");
    Ok(eat
        .from_local_datetime(&naive)
        .single()
        .expect("fixed offset is unambiguous")
        .with_timezone(&Utc))
}

/// C2B validation: accepts a payment whose account number names one of the landlord's units.
#[utoipa::path(post, path = "/v1/callbacks/c2b/{token}/validation", operation_id = "c2bValidation", tag = "callbacks", security(()),
    params(("token" = String, Path, description = "the landlord's secret callback token")),
    request_body = C2b,
    responses((status = 200, description = "accepted or rejected (ResultCode)", body = DarajaAck),
        (status = 400, response = super::openapi::BadRequest),
        (status = 403, response = super::openapi::Forbidden),
        (status = 404, response = super::openapi::NotFound),
        (status = 503, response = super::openapi::Unavailable)))]
async fn c2b_validation(
    State(st): State<AppState>,
    Path(token): Path<String>,
    Json(b): Json<C2b>,
) -> Result<axum::Json<Value>, ApiError> {
    let me = landlord_of(&st, &token).await?;
    let reject = |code: &str| axum::Json(json!({ "ResultCode": code, "ResultDesc": "Rejected" }));
    if Kes::from_json(&b.trans_amount)
        .map(|a| a.is_zero())
        .unwrap_or(true)
    {
        return Ok(reject("C2B00013")); // invalid amount
    }
    let mut c = st.db.acquire().await?;
    let unit = match b.bill_ref_number.as_deref() {
        Some(r) => rentals::unit_by_account_ref(&mut c, &me, r).await?,
        None => None,
    };
    Ok(match unit {
        Some(_) => axum::Json(json!({ "ResultCode": "0", "ResultDesc": "Accepted" })),
        None => reject("C2B00012"), // invalid account number
    })
}

/// C2B confirmation: records the payment (idempotent on the receipt), credited to the lease
/// of the unit whose account number was typed, or to the suspense list.
#[utoipa::path(post, path = "/v1/callbacks/c2b/{token}/confirmation", operation_id = "c2bConfirmation", tag = "callbacks", security(()),
    params(("token" = String, Path, description = "the landlord's secret callback token")),
    request_body = C2b,
    responses((status = 200, description = "recorded (or a duplicate, ignored)", body = DarajaAck),
        (status = 400, response = super::openapi::BadRequest),
        (status = 403, response = super::openapi::Forbidden),
        (status = 404, response = super::openapi::NotFound),
        (status = 503, response = super::openapi::Unavailable)))]
async fn c2b_confirmation(
    State(st): State<AppState>,
    Path(token): Path<String>,
    Json(b): Json<C2b>,
) -> Result<axum::Json<Value>, ApiError> {
    let me = landlord_of(&st, &token).await?;
    let receipt = receipt("TransID", b.trans_id.as_deref().unwrap_or(""))?;
    let amount = Kes::from_json(&b.trans_amount)
        .map_err(|e| ApiError::field("TransAmount", e.to_string()))?;
    if amount.is_zero() {
        return Err(ApiError::field("TransAmount", "must be greater than zero"));
    }
    let paid_at = eat_time("TransTime", b.trans_time.as_deref().unwrap_or(""))?;
    let bill_ref: Option<String> = b
        .bill_ref_number
        .as_deref()
        .map(|s| s.trim().chars().take(40).collect());

    let mut tx = st.db.begin().await?;
    let id = payments::record_c2b(
        &mut tx,
        &me,
        &receipt,
        amount.shillings(),
        bill_ref.as_deref(),
        paid_at,
    )
    .await?;
    tx.commit().await?;
    match id {
        Some((id, matched)) => {
            tracing::info!(payment = %id, matched, "c2b payment recorded")
        }
        None => tracing::info!("duplicate c2b confirmation ignored"),
    }
    Ok(accepted())
}

#[derive(Deserialize, utoipa::ToSchema)]
struct StkEnvelope {
    #[serde(rename = "Body")]
    body: StkBody,
}

#[derive(Deserialize, utoipa::ToSchema)]
struct StkBody {
    #[serde(rename = "stkCallback")]
    stk_callback: StkCallback,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "PascalCase")]
struct StkCallback {
    #[serde(rename = "CheckoutRequestID")]
    checkout_request_id: String,
    /// 0 = paid; anything else (1032 cancelled, 1037 timeout, …) is recorded, never credited.
    #[schema(value_type = i64)]
    result_code: Value,
    result_desc: Option<String>,
    /// Present when ResultCode is 0: Amount, MpesaReceiptNumber, TransactionDate, ….
    callback_metadata: Option<StkMetadata>,
}

#[derive(Deserialize, utoipa::ToSchema)]
struct StkMetadata {
    #[serde(rename = "Item", default)]
    item: Vec<StkItem>,
}

#[derive(Deserialize, utoipa::ToSchema)]
struct StkItem {
    #[serde(rename = "Name")]
    name: String,
    /// Absent for some items (e.g. `Balance`).
    #[serde(rename = "Value")]
    #[schema(value_type = Option<Object>)]
    value: Option<Value>,
}

impl StkMetadata {
    /// Items are read by name, never by position.
    fn get(&self, name: &str) -> Option<&Value> {
        self.item
            .iter()
            .find(|i| i.name == name)
            .and_then(|i| i.value.as_ref())
    }
}

fn value_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// STK push result: a success is credited once to the lease the request was registered
/// for (idempotent on CheckoutRequestID and the receipt); a failure is recorded only.
#[utoipa::path(post, path = "/v1/callbacks/stk/{token}", operation_id = "stkCallback", tag = "callbacks", security(()),
    params(("token" = String, Path, description = "the landlord's secret callback token")),
    request_body = StkEnvelope,
    responses((status = 200, description = "recorded (or a duplicate, ignored)", body = DarajaAck),
        (status = 400, response = super::openapi::BadRequest),
        (status = 403, response = super::openapi::Forbidden),
        (status = 404, response = super::openapi::NotFound),
        (status = 503, response = super::openapi::Unavailable)))]
async fn stk_callback(
    State(st): State<AppState>,
    Path(token): Path<String>,
    Json(env): Json<StkEnvelope>,
) -> Result<axum::Json<Value>, ApiError> {
    let me = landlord_of(&st, &token).await?;
    let cb = env.body.stk_callback;
    let checkout = super::text(
        "Body.stkCallback.CheckoutRequestID",
        &cb.checkout_request_id,
        64,
    )?;
    let result_code: i64 = value_text(&cb.result_code)
        .trim()
        .parse()
        .map_err(|_| ApiError::field("Body.stkCallback.ResultCode", "must be an integer"))?;
    let desc = cb.result_desc.unwrap_or_default();
    // Parse everything before touching the database: a bad callback changes nothing.
    let success = if result_code == 0 {
        let md = cb.callback_metadata.as_ref().ok_or_else(|| {
            ApiError::field(
                "Body.stkCallback.CallbackMetadata",
                "required when ResultCode is 0",
            )
        })?;
        let amount = md
            .get("Amount")
            .ok_or_else(|| ApiError::field("Body.stkCallback.CallbackMetadata.Amount", "missing"))
            .and_then(|v| {
                Kes::from_json(v).map_err(|e| {
                    ApiError::field("Body.stkCallback.CallbackMetadata.Amount", e.to_string())
                })
            })?;
        let rcpt = md
            .get("MpesaReceiptNumber")
            .map(value_text)
            .ok_or_else(|| {
                ApiError::field(
                    "Body.stkCallback.CallbackMetadata.MpesaReceiptNumber",
                    "missing",
                )
            })
            .and_then(|r| receipt("Body.stkCallback.CallbackMetadata.MpesaReceiptNumber", &r))?;
        let paid_at = match md.get("TransactionDate") {
            Some(v) => eat_time(
                "Body.stkCallback.CallbackMetadata.TransactionDate",
                &value_text(v),
            )?,
            None => Utc::now(),
        };
        Some((amount, rcpt, paid_at))
    } else {
        None
    };

    let mut tx = st.db.begin().await?;
    let state = payments::lock_stk(&mut tx, &me, &checkout)
        .await?
        .ok_or(ApiError::NotFound("stk request"))?;
    if state.completed {
        tx.commit().await?;
        tracing::info!("duplicate stk callback ignored");
        return Ok(accepted());
    }
    match success {
        None => {
            // 1032 cancelled by user, 1 insufficient funds, 1037 timeout, …: never credited.
            payments::complete_stk(&mut tx, &checkout, result_code, &desc, None, None).await?;
            tx.commit().await?;
            tracing::info!(result_code, "stk push failed; recorded, not credited");
        }
        Some((amount, rcpt, paid_at)) => {
            let id = payments::insert(
                &mut tx,
                &me,
                &payments::NewPayment {
                    lease_id: state.lease_id,
                    method: "mpesa_stk",
                    kind: "rent",
                    amount: amount.shillings(),
                    receipt: Some(&rcpt),
                    bill_ref: None,
                    paid_at,
                },
            )
            .await?;
            payments::complete_stk(&mut tx, &checkout, 0, &desc, Some(&rcpt), id).await?;
            tx.commit().await?;
            tracing::info!(matched = state.lease_id.is_some(), "stk payment recorded");
        }
    }
    Ok(accepted())
}
