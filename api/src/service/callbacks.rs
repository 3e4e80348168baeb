//! M-Pesa Daraja C2B validation. Confirmations and STK results move money and go through
//! the durable inbox (`service::inbox`).

use crate::error::ApiError;
use crate::state::AppState;
use crate::store::rentals;

/// C2B validation: does the typed account number name one of the landlord's units?
pub async fn account_exists(st: &AppState, me: &str, bill_ref: &str) -> Result<bool, ApiError> {
    let mut c = st.db.acquire().await?;
    Ok(rentals::unit_by_account_ref(&mut c, me, bill_ref)
        .await?
        .is_some())
}
