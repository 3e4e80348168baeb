//! Tenant data rights (Kenya Data Protection Act 2019): export everything held about a
//! tenant; erase the personal fields, once, with an audit entry.

use super::rentals::{build_statement, Statement};
use super::{begin_write, read_snapshot};
use crate::error::ApiError;
use crate::state::AppState;
use crate::store::{audit, payments, rentals};
use chrono::{DateTime, Utc};
use serde::Serialize;
use uuid::Uuid;

/// Everything held about a tenant.
#[derive(Serialize, utoipa::ToSchema)]
pub struct TenantExport {
    pub exported_at: DateTime<Utc>,
    /// The profile: name, phone, national ID (null once erased).
    pub tenant: rentals::Tenant,
    pub leases: Vec<rentals::Lease>,
    pub invoices: Vec<rentals::Invoice>,
    /// Payments of the tenant's leases (rent, deposit, other).
    pub payments: Vec<payments::Payment>,
    pub statement: Statement,
    /// Data-rights actions taken on this tenant's data.
    pub audit_log: Vec<audit::AuditEntry>,
}

pub async fn export(st: &AppState, me: &str, id: Uuid) -> Result<TenantExport, ApiError> {
    let mut tx = read_snapshot(st).await?;
    let tenant = rentals::get_tenant(&mut tx, me, id)
        .await?
        .ok_or(ApiError::NotFound("tenant"))?;
    let today = crate::domain::eat_today();
    let e = TenantExport {
        exported_at: Utc::now(),
        leases: rentals::leases_of_tenant(&mut tx, me, id).await?,
        invoices: rentals::invoices_of_tenant(&mut tx, me, id).await?,
        payments: payments::of_tenant(&mut tx, me, id).await?,
        statement: build_statement(&mut tx, me, id, today).await?,
        audit_log: audit::list(
            &mut tx,
            me,
            Some(id),
            crate::store::page::MAX_LIMIT,
            i64::MAX,
        )
        .await?
        .items,
        tenant,
    };
    tx.commit().await?;
    tracing::info!(tenant = %id, "tenant data exported");
    Ok(e)
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct Erasure {
    /// The tenant after erasure: name, phone and national ID are null.
    pub tenant: rentals::Tenant,
    /// True when the tenant had been erased before this request (nothing changed now).
    pub already_erased: bool,
    /// The audit log entry of the erasure.
    pub audit: audit::AuditEntry,
}

pub async fn erase(st: &AppState, me: &str, id: Uuid) -> Result<Erasure, ApiError> {
    let mut tx = begin_write(st, me).await?;
    // Concurrent erasures of one tenant serialise on this lock.
    let Some(erased_at) = rentals::lock_tenant(&mut tx, me, id).await? else {
        return Err(ApiError::NotFound("tenant"));
    };
    let already_erased = erased_at.is_some();
    let entry = if already_erased {
        audit::latest(&mut tx, me, "tenant.erase", id).await?
    } else {
        None
    };
    let entry = match entry {
        Some(e) => e,
        None => {
            rentals::erase_tenant(&mut tx, me, id).await?;
            audit::record(
                &mut tx,
                me,
                me,
                "tenant.erase",
                "tenant",
                id,
                &["name", "phone", "national_id"],
            )
            .await?
        }
    };
    let tenant = rentals::get_tenant(&mut tx, me, id)
        .await?
        .ok_or(ApiError::NotFound("tenant"))?;
    tx.commit().await?;
    if !already_erased {
        tracing::info!(tenant = %id, "tenant personal data erased");
    }
    Ok(Erasure {
        tenant,
        already_erased,
        audit: entry,
    })
}
