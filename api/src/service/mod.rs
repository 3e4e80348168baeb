//! Application services: one function per use case. Each takes parsed domain values,
//! owns its transaction, calls the store and the domain, and returns data or an
//! `ApiError`. Handlers (`routes/`) only extract, call one of these and render.

pub mod callbacks;
pub mod data_rights;
pub mod inbox;
pub mod intake;
pub mod landlord;
pub mod maintenance;
pub mod payments;
pub mod reconciliation;
pub mod rentals;
pub mod reports;
pub mod resources;

use crate::error::ApiError;
use crate::state::AppState;
use crate::store::page::{Page, PageBounds};
use serde::Serialize;
use sqlx::{PgConnection, Postgres, Transaction};
use std::future::Future;

/// Starts the one transaction a write request runs in, creating the landlord on first use.
pub async fn begin_write(
    state: &AppState,
    landlord: &str,
) -> Result<Transaction<'static, Postgres>, ApiError> {
    let mut tx = state.db.begin().await?;
    crate::store::landlords::ensure(&mut tx, landlord).await?;
    Ok(tx)
}

/// A read-only transaction seeing one snapshot, for reads that span several queries.
pub async fn read_snapshot(state: &AppState) -> Result<Transaction<'static, Postgres>, ApiError> {
    let mut tx = state.db.begin().await?;
    crate::store::read_only_snapshot(&mut tx).await?;
    Ok(tx)
}

pub async fn read_conn(state: &AppState) -> Result<sqlx::pool::PoolConnection<Postgres>, ApiError> {
    Ok(state.db.acquire().await?)
}

/// A resource read by key: the one shape of every `GET /v1/<x>/{id}` (`routes::resource`).
pub trait Shown: Serialize + Send + Sized + 'static {
    /// Named in a 404 ("property not found").
    const NAME: &'static str;
    type Key: Send + Sync;

    /// The key in a path; `None` names no resource (a 404, like a missing one).
    fn parse_key(raw: &str) -> Option<Self::Key>;

    fn get(
        c: &mut PgConnection,
        landlord: &str,
        key: &Self::Key,
    ) -> impl Future<Output = Result<Option<Self>, sqlx::Error>> + Send;
}

/// A resource listed page by page: the one shape of every `GET /v1/<x>`.
pub trait Listed: Serialize + Send + Sized + 'static {
    /// The list's filters (query parameters other than `limit` and `cursor`).
    type Filter: Send + Sync;

    fn list(
        c: &mut PgConnection,
        landlord: &str,
        filter: &Self::Filter,
        page: PageBounds,
    ) -> impl Future<Output = Result<Page<Self>, sqlx::Error>> + Send;
}

/// One resource of the landlord's, or a 404.
pub async fn show<R: Shown>(st: &AppState, landlord: &str, raw_key: &str) -> Result<R, ApiError> {
    let key = R::parse_key(raw_key).ok_or(ApiError::NotFound(R::NAME))?;
    let mut c = read_conn(st).await?;
    R::get(&mut c, landlord, &key)
        .await?
        .ok_or(ApiError::NotFound(R::NAME))
}

/// A page of the landlord's resources, newest first.
pub async fn list<R: Listed>(
    st: &AppState,
    landlord: &str,
    filter: &R::Filter,
    page: PageBounds,
) -> Result<Page<R>, ApiError> {
    let mut c = read_conn(st).await?;
    Ok(R::list(&mut c, landlord, filter, page).await?)
}

/// Resources keyed by a UUID.
pub fn uuid_key(raw: &str) -> Option<uuid::Uuid> {
    raw.parse().ok()
}
