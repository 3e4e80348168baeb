//! Properties, units, tenants, leases and invoices.

use super::{begin_write, read_conn, read_snapshot};
use crate::domain::text::{Text100, Text200, Text50, Text500};
use crate::domain::{AccountRef, Day, DueDay, Kes, Msisdn, NationalId, Period, PositiveKes, Usage};
use crate::error::ApiError;
use crate::state::AppState;
use crate::store::{ledger, rentals};
use chrono::NaiveDate;
use serde::Serialize;
use sqlx::PgConnection;
use uuid::Uuid;

pub struct NewProperty {
    pub name: Text200,
    pub county: Text100,
    pub address: Text500,
    pub usage: Usage,
}

pub async fn create_property(
    st: &AppState,
    me: &str,
    p: NewProperty,
) -> Result<rentals::Property, ApiError> {
    let mut tx = begin_write(st, me).await?;
    let p = rentals::insert_property(
        &mut tx,
        me,
        &rentals::NewProperty {
            name: p.name.as_str(),
            county: p.county.as_str(),
            address: p.address.as_str(),
            usage: p.usage,
        },
    )
    .await?;
    tx.commit().await?;
    Ok(p)
}

pub struct NewUnit {
    pub property_id: Uuid,
    pub label: Text50,
    pub monthly_rent: PositiveKes,
    pub deposit: Kes,
    pub account_ref: AccountRef,
}

pub async fn create_unit(st: &AppState, me: &str, u: NewUnit) -> Result<rentals::Unit, ApiError> {
    let mut tx = begin_write(st, me).await?;
    if rentals::get_property(&mut tx, me, u.property_id)
        .await?
        .is_none()
    {
        return Err(ApiError::unprocessable_field(
            "property_id",
            "no such property",
        ));
    }
    let unit = rentals::insert_unit(
        &mut tx,
        me,
        &rentals::NewUnit {
            property_id: u.property_id,
            label: u.label.as_str(),
            monthly_rent: u.monthly_rent.shillings(),
            deposit: u.deposit.shillings(),
            account_ref: u.account_ref.as_str(),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(unit)
}

pub struct NewTenant {
    pub name: Text200,
    pub phone: Msisdn,
    pub national_id: Option<NationalId>,
}

pub async fn create_tenant(
    st: &AppState,
    me: &str,
    t: NewTenant,
) -> Result<rentals::Tenant, ApiError> {
    let mut tx = begin_write(st, me).await?;
    let t = rentals::insert_tenant(
        &mut tx,
        me,
        &rentals::NewTenant {
            name: t.name.as_str(),
            phone: t.phone.as_str(),
            national_id: t.national_id.as_ref().map(NationalId::as_str),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(t)
}

pub struct NewLease {
    pub unit_id: Uuid,
    pub tenant_id: Uuid,
    pub start_date: Day,
    pub end_date: Option<Day>,
    pub rent: Option<PositiveKes>,
    pub due_day: DueDay,
    pub deposit: Option<Kes>,
}

pub async fn create_lease(
    st: &AppState,
    me: &str,
    b: NewLease,
) -> Result<rentals::Lease, ApiError> {
    if b.end_date.is_some_and(|e| e < b.start_date) {
        return Err(ApiError::unprocessable_field(
            "end_date",
            "must not be before start_date",
        ));
    }
    let mut tx = begin_write(st, me).await?;
    let unit = rentals::get_unit(&mut tx, me, b.unit_id)
        .await?
        .ok_or_else(|| ApiError::unprocessable_field("unit_id", "no such unit"))?;
    match rentals::get_tenant(&mut tx, me, b.tenant_id).await? {
        None => return Err(ApiError::unprocessable_field("tenant_id", "no such tenant")),
        Some(t) if t.erased_at.is_some() => {
            return Err(ApiError::unprocessable_field(
                "tenant_id",
                "the tenant's personal data was erased; register the tenant again",
            ))
        }
        Some(_) => {}
    }
    let l = rentals::insert_lease(
        &mut tx,
        me,
        &rentals::NewLease {
            unit_id: b.unit_id,
            tenant_id: b.tenant_id,
            start_date: b.start_date.0,
            end_date: b.end_date.map(|d| d.0),
            rent: b.rent.map(|r| r.shillings()).unwrap_or(unit.monthly_rent),
            due_day: b.due_day.0 as i32,
            deposit: b.deposit.map(|d| d.shillings()).unwrap_or(unit.deposit),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(l)
}

/// The invoices of `period` created now (none when run again).
pub async fn generate_invoices(
    st: &AppState,
    me: &str,
    period: Period,
) -> Result<Vec<rentals::Invoice>, ApiError> {
    let mut tx = begin_write(st, me).await?;
    let created = rentals::generate_invoices(&mut tx, me, period).await?;
    tx.commit().await?;
    Ok(created)
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct LeaseArrears {
    pub lease_id: Uuid,
    pub arrears: ledger::Arrears,
}

pub async fn lease_arrears(
    st: &AppState,
    me: &str,
    id: Uuid,
    as_of: NaiveDate,
) -> Result<LeaseArrears, ApiError> {
    let mut c = read_conn(st).await?;
    if rentals::get_lease(&mut c, me, id).await?.is_none() {
        return Err(ApiError::NotFound("lease"));
    }
    Ok(LeaseArrears {
        lease_id: id,
        arrears: ledger::arrears(&mut c, id, as_of).await?,
    })
}

/// A tenant's rent account over all their leases.
#[derive(Serialize, utoipa::ToSchema)]
pub struct Statement {
    pub tenant_id: Uuid,
    pub as_of: NaiveDate,
    pub leases: Vec<ledger::LeaseStatement>,
    /// Rent invoiced, whole shillings.
    pub invoiced: i64,
    /// Rent paid (deposits and other income are not rent).
    pub paid: i64,
    /// invoiced − paid: positive = owed, negative = credit.
    pub balance: i64,
    pub credit: i64,
}

/// A tenant's statement; call inside one snapshot transaction.
pub async fn build_statement(
    c: &mut PgConnection,
    me: &str,
    id: Uuid,
    as_of: NaiveDate,
) -> Result<Statement, ApiError> {
    let mut leases = Vec::new();
    for l in rentals::leases_of_tenant(&mut *c, me, id).await? {
        leases.push(ledger::lease_statement(&mut *c, &l, as_of).await?);
    }
    Ok(Statement {
        tenant_id: id,
        as_of,
        invoiced: leases.iter().map(|l| l.invoiced).sum(),
        paid: leases.iter().map(|l| l.paid).sum(),
        balance: leases.iter().map(|l| l.balance).sum(),
        credit: leases.iter().map(|l| l.credit).sum(),
        leases,
    })
}

pub async fn tenant_statement(
    st: &AppState,
    me: &str,
    id: Uuid,
    as_of: NaiveDate,
) -> Result<Statement, ApiError> {
    // One snapshot for the whole statement.
    let mut tx = read_snapshot(st).await?;
    if rentals::get_tenant(&mut tx, me, id).await?.is_none() {
        return Err(ApiError::NotFound("tenant"));
    }
    let s = build_statement(&mut tx, me, id, as_of).await?;
    tx.commit().await?;
    Ok(s)
}
