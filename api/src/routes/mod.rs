//! One module per resource, each exposing `router()`; merged in `crate::router`.

pub mod callbacks;
pub mod health;
pub mod invoices;
pub mod landlord;
pub mod leases;
pub mod payments;
pub mod properties;
pub mod tenants;
pub mod units;

use crate::error::ApiError;
use crate::state::AppState;
use sqlx::{PgConnection, Postgres, Transaction};

/// Starts the one transaction a write request runs in, creating the landlord on first use.
pub(crate) async fn begin_write(
    state: &AppState,
    landlord: &str,
) -> Result<Transaction<'static, Postgres>, ApiError> {
    let mut tx = state.db.begin().await?;
    crate::store::landlords::ensure(&mut tx, landlord).await?;
    Ok(tx)
}

pub(crate) async fn read_conn(
    state: &AppState,
) -> Result<sqlx::pool::PoolConnection<Postgres>, ApiError> {
    Ok(state.db.acquire().await?)
}

/// Trims a required text field and bounds its length; the error names the field only.
pub(crate) fn text(field: &str, v: &str, max: usize) -> Result<String, ApiError> {
    let t = v.trim();
    if t.is_empty() {
        return Err(ApiError::field(field, "must not be empty"));
    }
    if t.chars().count() > max {
        return Err(ApiError::field(
            field,
            format!("must be at most {max} characters"),
        ));
    }
    Ok(t.to_string())
}

pub(crate) async fn lease_exists(
    c: &mut PgConnection,
    landlord: &str,
    lease: uuid::Uuid,
) -> Result<bool, ApiError> {
    Ok(crate::store::rentals::get_lease(c, landlord, lease)
        .await?
        .is_some())
}
