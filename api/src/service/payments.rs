//! Manual payments (idempotent by `Idempotency-Key`), matching suspense payments, STK push
//! registration.

use super::begin_write;
use crate::domain::idempotency::{self, Reuse};
use crate::domain::text::Text100Ref;
use crate::domain::{
    CheckoutRequestId, IdempotencyKey, Instant, ManualMethod, PaymentKind, PositiveKes,
};
use crate::error::ApiError;
use crate::state::AppState;
use crate::store::{payments, rentals};
use chrono::Utc;
use sqlx::PgConnection;
use uuid::Uuid;

pub struct ManualPayment {
    pub lease_id: Uuid,
    pub amount: PositiveKes,
    pub method: ManualMethod,
    pub kind: PaymentKind,
    pub reference: Option<Text100Ref>,
    pub paid_at: Option<Instant>,
}

impl ManualPayment {
    /// The request as hashed for idempotency. Rent (the default) hashes as before kinds
    /// existed, so keys stored earlier still replay.
    fn canonical(&self) -> serde_json::Value {
        let mut v = serde_json::json!({
            "lease_id": self.lease_id, "amount": self.amount.shillings(),
            "method": crate::domain::PaymentMethod::from(self.method).as_str(),
            "reference": self.reference.as_ref().map(Text100Ref::as_str),
            "paid_at": self.paid_at.map(|t| t.0),
        });
        if self.kind != PaymentKind::Rent {
            v["kind"] = self.kind.as_str().into();
        }
        v
    }
}

/// The answer to a payment request: the stored (status, body), and whether it is a replay.
pub struct Recorded {
    pub status: u16,
    pub body: serde_json::Value,
    pub replayed: bool,
}

async fn lease_exists(c: &mut PgConnection, me: &str, lease: Uuid) -> Result<bool, ApiError> {
    Ok(rentals::get_lease(c, me, lease).await?.is_some())
}

/// Records a cash or bank payment, once per key: the same key and request answer the
/// original response; the same key with another request is refused.
pub async fn record_manual(
    st: &AppState,
    me: &str,
    key: &IdempotencyKey,
    p: ManualPayment,
) -> Result<Recorded, ApiError> {
    let hash = idempotency::request_hash(&p.canonical());
    let mut tx = begin_write(st, me).await?;
    if let Some(prev) = payments::claim_idempotency_key(&mut tx, me, key.as_str(), &hash).await? {
        return match idempotency::reuse(&prev.request_hash, &hash) {
            Reuse::Mismatch => Err(ApiError::unprocessable_field(
                "Idempotency-Key",
                "already used with a different request body",
            )),
            Reuse::Replay => Ok(Recorded {
                status: u16::try_from(prev.status).unwrap_or(200),
                body: prev.body,
                replayed: true,
            }),
        };
    }
    if !lease_exists(&mut tx, me, p.lease_id).await? {
        return Err(ApiError::unprocessable_field("lease_id", "no such lease"));
    }
    let id = payments::insert(
        &mut tx,
        me,
        &payments::NewPayment {
            lease_id: Some(p.lease_id),
            method: p.method.into(),
            kind: p.kind,
            amount: p.amount.shillings(),
            receipt: p.reference.as_ref().map(Text100Ref::as_str),
            bill_ref: None,
            paid_at: p.paid_at.map_or_else(Utc::now, |t| t.0),
        },
    )
    .await?
    .ok_or_else(|| ApiError::Conflict {
        detail: "payment already recorded".into(),
        params: vec![],
    })?;
    let payment = payments::get(&mut tx, me, id)
        .await?
        .ok_or(ApiError::NotFound("payment"))?;
    let body = serde_json::to_value(&payment).map_err(ApiError::internal)?;
    payments::store_idempotent_response(&mut tx, me, key.as_str(), 201, &body).await?;
    tx.commit().await?;
    Ok(Recorded {
        status: 201,
        body,
        replayed: false,
    })
}

/// Matches a suspense payment to a lease (optionally re-classifying it).
pub async fn match_to_lease(
    st: &AppState,
    me: &str,
    id: Uuid,
    lease: Uuid,
    kind: Option<PaymentKind>,
) -> Result<payments::Payment, ApiError> {
    let mut tx = begin_write(st, me).await?;
    if !lease_exists(&mut tx, me, lease).await? {
        return Err(ApiError::unprocessable_field("lease_id", "no such lease"));
    }
    match payments::match_to_lease(&mut tx, me, id, lease, kind).await? {
        payments::MatchOutcome::NotFound => return Err(ApiError::NotFound("payment")),
        payments::MatchOutcome::NotUnmatched => {
            return Err(ApiError::conflict_field(
                "status",
                "payment is already matched",
            ))
        }
        payments::MatchOutcome::Matched => {}
    }
    let p = payments::get(&mut tx, me, id)
        .await?
        .ok_or(ApiError::NotFound("payment"))?;
    tx.commit().await?;
    tracing::info!(payment = %id, "suspense payment matched");
    Ok(p)
}

/// Registers an STK push so its callback credits the right lease.
pub async fn register_stk(
    st: &AppState,
    me: &str,
    id: &CheckoutRequestId,
    lease: Uuid,
    amount: PositiveKes,
) -> Result<payments::StkRecord, ApiError> {
    let mut tx = begin_write(st, me).await?;
    if !lease_exists(&mut tx, me, lease).await? {
        return Err(ApiError::unprocessable_field("lease_id", "no such lease"));
    }
    if !payments::register_stk(&mut tx, me, id.as_str(), lease, amount.shillings()).await? {
        return Err(ApiError::conflict_field(
            "checkout_request_id",
            "already registered",
        ));
    }
    let r = payments::get_stk(&mut tx, me, id.as_str())
        .await?
        .ok_or(ApiError::NotFound("stk request"))?;
    tx.commit().await?;
    Ok(r)
}
