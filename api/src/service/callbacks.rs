//! M-Pesa Daraja callbacks. Each takes the landlord (found by the callback token) and a
//! parsed payload; duplicates are idempotent on the receipt (and `CheckoutRequestID`).
//! The durable callback inbox (store raw, then parse) slots in here, before parsing.

use crate::domain::daraja::{C2bPayment, StkCallback, StkOutcome};
use crate::domain::{PaymentKind, PaymentMethod};
use crate::error::ApiError;
use crate::state::AppState;
use crate::store::{payments, rentals};

/// C2B validation: does the typed account number name one of the landlord's units?
pub async fn account_exists(st: &AppState, me: &str, bill_ref: &str) -> Result<bool, ApiError> {
    let mut c = st.db.acquire().await?;
    Ok(rentals::unit_by_account_ref(&mut c, me, bill_ref)
        .await?
        .is_some())
}

/// C2B confirmation: records the payment once (credited to the unit's lease, or suspense).
pub async fn record_c2b(st: &AppState, me: &str, p: &C2bPayment) -> Result<(), ApiError> {
    let mut tx = st.db.begin().await?;
    let id = payments::record_c2b(
        &mut tx,
        me,
        p.receipt.as_str(),
        p.amount.shillings(),
        p.bill_ref.as_deref(),
        p.paid_at,
    )
    .await?;
    tx.commit().await?;
    match id {
        Some((id, matched)) => tracing::info!(payment = %id, matched, "c2b payment recorded"),
        None => tracing::info!("duplicate c2b confirmation ignored"),
    }
    Ok(())
}

/// STK push result: a success is credited once to the lease the request was registered
/// for; a failure is recorded only. `outcome` was read from `cb` before any write.
pub async fn record_stk(
    st: &AppState,
    me: &str,
    cb: &StkCallback,
    outcome: StkOutcome,
) -> Result<(), ApiError> {
    let checkout = cb.checkout_request_id.as_str();
    let desc = cb.result_desc.as_ref().map(|d| d.0.as_str()).unwrap_or("");
    let mut tx = st.db.begin().await?;
    let state = payments::lock_stk(&mut tx, me, checkout)
        .await?
        .ok_or(ApiError::NotFound("stk request"))?;
    if state.completed {
        tx.commit().await?;
        tracing::info!("duplicate stk callback ignored");
        return Ok(());
    }
    match outcome {
        StkOutcome::Failed => {
            // 1032 cancelled by user, 1 insufficient funds, 1037 timeout, …: never credited.
            payments::complete_stk(&mut tx, checkout, cb.result_code.into(), desc, None, None)
                .await?;
            tx.commit().await?;
            tracing::info!(
                result_code = cb.result_code,
                "stk push failed; recorded, not credited"
            );
        }
        StkOutcome::Paid {
            amount,
            receipt,
            paid_at,
        } => {
            let id = payments::insert(
                &mut tx,
                me,
                &payments::NewPayment {
                    lease_id: state.lease_id,
                    method: PaymentMethod::MpesaStk,
                    kind: PaymentKind::Rent,
                    amount: amount.shillings(),
                    receipt: Some(receipt.as_str()),
                    bill_ref: None,
                    paid_at,
                },
            )
            .await?;
            payments::complete_stk(&mut tx, checkout, 0, desc, Some(receipt.as_str()), id).await?;
            tx.commit().await?;
            tracing::info!(matched = state.lease_id.is_some(), "stk payment recorded");
        }
    }
    Ok(())
}
