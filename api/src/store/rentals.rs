//! Properties, units, tenants, leases and invoices.

use super::page::Page;
use crate::domain::{Period, Usage};
use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;
use sqlx::PgConnection;
use uuid::Uuid;

#[derive(Debug, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Property {
    pub id: Uuid,
    pub name: String,
    pub county: String,
    pub address: String,
    /// `residential` (Monthly Rental Income tax applies) | `commercial`
    #[schema(value_type = Usage)]
    pub usage: String,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Unit {
    pub id: Uuid,
    pub property_id: Uuid,
    pub label: String,
    pub monthly_rent: i64,
    pub deposit: i64,
    pub account_ref: String,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Tenant {
    pub id: Uuid,
    pub name: Option<String>,
    pub phone: Option<String>,
    pub national_id: Option<String>,
    pub erased_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Lease {
    pub id: Uuid,
    pub unit_id: Uuid,
    pub tenant_id: Uuid,
    pub start_date: NaiveDate,
    pub end_date: Option<NaiveDate>,
    pub rent: i64,
    pub due_day: i32,
    pub deposit: i64,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Invoice {
    pub id: Uuid,
    pub lease_id: Uuid,
    pub period: String,
    pub amount: i64,
    pub due_date: NaiveDate,
    pub paid: i64,
    pub balance: i64,
    pub created_at: DateTime<Utc>,
}

pub struct NewProperty<'a> {
    pub name: &'a str,
    pub county: &'a str,
    pub address: &'a str,
    pub usage: Usage,
}

pub async fn insert_property(
    c: &mut PgConnection,
    landlord: &str,
    p: &NewProperty<'_>,
) -> Result<Property, sqlx::Error> {
    sqlx::query_as(
        "INSERT INTO properties (id, landlord_id, name, county, address, usage) VALUES ($1,$2,$3,$4,$5,$6)
         RETURNING id, name, county, address, usage, created_at",
    )
    .bind(Uuid::new_v4())
    .bind(landlord)
    .bind(p.name)
    .bind(p.county)
    .bind(p.address)
    .bind(p.usage.as_str())
    .fetch_one(c)
    .await
}

pub async fn get_property(
    c: &mut PgConnection,
    landlord: &str,
    id: Uuid,
) -> Result<Option<Property>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, name, county, address, usage, created_at FROM properties WHERE landlord_id=$1 AND id=$2",
    )
    .bind(landlord)
    .bind(id)
    .fetch_optional(c)
    .await
}

pub async fn list_properties(
    c: &mut PgConnection,
    landlord: &str,
    limit: i64,
    before: i64,
) -> Result<Page<Property>, sqlx::Error> {
    #[derive(sqlx::FromRow)]
    struct Row {
        seq: i64,
        #[sqlx(flatten)]
        p: Property,
    }
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT seq, id, name, county, address, usage, created_at FROM properties
         WHERE landlord_id=$1 AND seq < $2 ORDER BY seq DESC LIMIT $3",
    )
    .bind(landlord)
    .bind(before)
    .bind(limit + 1)
    .fetch_all(c)
    .await?;
    Ok(Page::from_rows(
        rows.into_iter().map(|r| (r.seq, r.p)).collect(),
        limit,
    ))
}

pub struct NewUnit<'a> {
    pub property_id: Uuid,
    pub label: &'a str,
    pub monthly_rent: i64,
    pub deposit: i64,
    pub account_ref: &'a str,
}

const UNIT_COLS: &str = "id, property_id, label, monthly_rent, deposit, account_ref, created_at";

pub async fn insert_unit(
    c: &mut PgConnection,
    landlord: &str,
    u: &NewUnit<'_>,
) -> Result<Unit, sqlx::Error> {
    sqlx::query_as(&format!(
        "INSERT INTO units (id, landlord_id, property_id, label, monthly_rent, deposit, account_ref)
         VALUES ($1,$2,$3,$4,$5,$6,$7) RETURNING {UNIT_COLS}"
    ))
    .bind(Uuid::new_v4())
    .bind(landlord)
    .bind(u.property_id)
    .bind(u.label)
    .bind(u.monthly_rent)
    .bind(u.deposit)
    .bind(u.account_ref.trim())
    .fetch_one(c)
    .await
}

pub async fn get_unit(
    c: &mut PgConnection,
    landlord: &str,
    id: Uuid,
) -> Result<Option<Unit>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {UNIT_COLS} FROM units WHERE landlord_id=$1 AND id=$2"
    ))
    .bind(landlord)
    .bind(id)
    .fetch_optional(c)
    .await
}

/// Matches an M-Pesa BillRefNumber (free text, often mistyped) to a unit: trimmed,
/// case-insensitive, exact otherwise.
pub async fn unit_by_account_ref(
    c: &mut PgConnection,
    landlord: &str,
    bill_ref: &str,
) -> Result<Option<Uuid>, sqlx::Error> {
    let r: Option<(Uuid,)> = sqlx::query_as(
        "SELECT id FROM units WHERE landlord_id=$1 AND account_ref_norm = upper(btrim($2))",
    )
    .bind(landlord)
    .bind(bill_ref)
    .fetch_optional(c)
    .await?;
    Ok(r.map(|r| r.0))
}

pub async fn list_units(
    c: &mut PgConnection,
    landlord: &str,
    property: Option<Uuid>,
    limit: i64,
    before: i64,
) -> Result<Page<Unit>, sqlx::Error> {
    #[derive(sqlx::FromRow)]
    struct Row {
        seq: i64,
        #[sqlx(flatten)]
        unit: Unit,
    }
    let rows: Vec<Row> = sqlx::query_as(&format!(
        "SELECT seq, {UNIT_COLS} FROM units WHERE landlord_id=$1 AND ($2::uuid IS NULL OR property_id=$2)
         AND seq < $3 ORDER BY seq DESC LIMIT $4"
    ))
    .bind(landlord)
    .bind(property)
    .bind(before)
    .bind(limit + 1)
    .fetch_all(c)
    .await?;
    Ok(Page::from_rows(
        rows.into_iter().map(|r| (r.seq, r.unit)).collect(),
        limit,
    ))
}

pub struct NewTenant<'a> {
    pub name: &'a str,
    pub phone: &'a str,
    pub national_id: Option<&'a str>,
}

const TENANT_COLS: &str = "id, name, phone, national_id, erased_at, created_at";

pub async fn insert_tenant(
    c: &mut PgConnection,
    landlord: &str,
    t: &NewTenant<'_>,
) -> Result<Tenant, sqlx::Error> {
    sqlx::query_as(&format!(
        "INSERT INTO tenants (id, landlord_id, name, phone, national_id) VALUES ($1,$2,$3,$4,$5)
         RETURNING {TENANT_COLS}"
    ))
    .bind(Uuid::new_v4())
    .bind(landlord)
    .bind(t.name)
    .bind(t.phone)
    .bind(t.national_id)
    .fetch_one(c)
    .await
}

pub async fn get_tenant(
    c: &mut PgConnection,
    landlord: &str,
    id: Uuid,
) -> Result<Option<Tenant>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {TENANT_COLS} FROM tenants WHERE landlord_id=$1 AND id=$2"
    ))
    .bind(landlord)
    .bind(id)
    .fetch_optional(c)
    .await
}

/// Locks a tenant row; `None` when there is no such tenant, else when it was erased.
pub async fn lock_tenant(
    c: &mut PgConnection,
    landlord: &str,
    id: Uuid,
) -> Result<Option<Option<DateTime<Utc>>>, sqlx::Error> {
    let r: Option<(Option<DateTime<Utc>>,)> =
        sqlx::query_as("SELECT erased_at FROM tenants WHERE landlord_id=$1 AND id=$2 FOR UPDATE")
            .bind(landlord)
            .bind(id)
            .fetch_optional(c)
            .await?;
    Ok(r.map(|r| r.0))
}

/// Removes a tenant's personal fields (name, phone, national ID) and stamps `erased_at`.
/// Returns false when the tenant was already erased (nothing changes then).
pub async fn erase_tenant(
    c: &mut PgConnection,
    landlord: &str,
    id: Uuid,
) -> Result<bool, sqlx::Error> {
    let n = sqlx::query(
        "UPDATE tenants SET name=NULL, phone=NULL, national_id=NULL, erased_at=now()
         WHERE landlord_id=$1 AND id=$2 AND erased_at IS NULL",
    )
    .bind(landlord)
    .bind(id)
    .execute(c)
    .await?
    .rows_affected();
    Ok(n == 1)
}

pub async fn list_tenants(
    c: &mut PgConnection,
    landlord: &str,
    limit: i64,
    before: i64,
) -> Result<Page<Tenant>, sqlx::Error> {
    #[derive(sqlx::FromRow)]
    struct Row {
        seq: i64,
        #[sqlx(flatten)]
        t: Tenant,
    }
    let rows: Vec<Row> = sqlx::query_as(&format!(
        "SELECT seq, {TENANT_COLS} FROM tenants WHERE landlord_id=$1 AND seq < $2
         ORDER BY seq DESC LIMIT $3"
    ))
    .bind(landlord)
    .bind(before)
    .bind(limit + 1)
    .fetch_all(c)
    .await?;
    Ok(Page::from_rows(
        rows.into_iter().map(|r| (r.seq, r.t)).collect(),
        limit,
    ))
}

pub struct NewLease {
    pub unit_id: Uuid,
    pub tenant_id: Uuid,
    pub start_date: NaiveDate,
    pub end_date: Option<NaiveDate>,
    pub rent: i64,
    pub due_day: i32,
    pub deposit: i64,
}

const LEASE_COLS: &str =
    "id, unit_id, tenant_id, start_date, end_date, rent, due_day, deposit, created_at";

pub async fn insert_lease(
    c: &mut PgConnection,
    landlord: &str,
    l: &NewLease,
) -> Result<Lease, sqlx::Error> {
    sqlx::query_as(&format!(
        "INSERT INTO leases (id, landlord_id, unit_id, tenant_id, start_date, end_date, rent, due_day, deposit)
         VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9) RETURNING {LEASE_COLS}"
    ))
    .bind(Uuid::new_v4())
    .bind(landlord)
    .bind(l.unit_id)
    .bind(l.tenant_id)
    .bind(l.start_date)
    .bind(l.end_date)
    .bind(l.rent)
    .bind(l.due_day)
    .bind(l.deposit)
    .fetch_one(c)
    .await
}

pub async fn get_lease(
    c: &mut PgConnection,
    landlord: &str,
    id: Uuid,
) -> Result<Option<Lease>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {LEASE_COLS} FROM leases WHERE landlord_id=$1 AND id=$2"
    ))
    .bind(landlord)
    .bind(id)
    .fetch_optional(c)
    .await
}

pub async fn leases_of_tenant(
    c: &mut PgConnection,
    landlord: &str,
    tenant: Uuid,
) -> Result<Vec<Lease>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {LEASE_COLS} FROM leases WHERE landlord_id=$1 AND tenant_id=$2 ORDER BY start_date, seq"
    ))
    .bind(landlord)
    .bind(tenant)
    .fetch_all(c)
    .await
}

/// The lease of a unit in force on `day` (the latest-starting one if several overlap
/// that day, which the exclusion constraint prevents anyway).
/// The lease an M-Pesa account number pays on `day`: the unit whose account number it is
/// (trimmed, case-insensitive), then that unit's lease in force that day (else its latest
/// lease started by then). One query.
pub async fn lease_for_account_on(
    c: &mut PgConnection,
    landlord: &str,
    bill_ref: &str,
    day: NaiveDate,
) -> Result<Option<Uuid>, sqlx::Error> {
    let found = leases_for_accounts_on(c, &[(landlord, bill_ref, day)]).await?;
    Ok(found.into_iter().next().flatten())
}

/// [`lease_for_account_on`] for many (landlord, account number, day) at once, in one
/// statement; answers in the order asked.
pub async fn leases_for_accounts_on(
    c: &mut PgConnection,
    asked: &[(&str, &str, NaiveDate)],
) -> Result<Vec<Option<Uuid>>, sqlx::Error> {
    let rows: Vec<(Option<Uuid>,)> = sqlx::query_as(
        "SELECT (SELECT l.id FROM units un JOIN leases l ON l.unit_id = un.id
                 WHERE un.landlord_id = q.landlord AND un.account_ref_norm = upper(btrim(q.bill_ref))
                   AND l.start_date <= q.day
                 ORDER BY (l.end_date IS NULL OR l.end_date >= q.day) DESC, l.start_date DESC
                 LIMIT 1)
         FROM unnest($1::text[], $2::text[], $3::date[]) WITH ORDINALITY AS q(landlord, bill_ref, day, n)
         ORDER BY q.n",
    )
    .bind(asked.iter().map(|a| a.0).collect::<Vec<_>>())
    .bind(asked.iter().map(|a| a.1).collect::<Vec<_>>())
    .bind(asked.iter().map(|a| a.2).collect::<Vec<_>>())
    .fetch_all(c)
    .await?;
    Ok(rows.into_iter().map(|r| r.0).collect())
}

pub async fn lease_of_unit_on(
    c: &mut PgConnection,
    unit: Uuid,
    day: NaiveDate,
) -> Result<Option<Uuid>, sqlx::Error> {
    let r: Option<(Uuid,)> = sqlx::query_as(
        "SELECT id FROM leases WHERE unit_id=$1 AND start_date <= $2
         ORDER BY (end_date IS NULL OR end_date >= $2) DESC, start_date DESC LIMIT 1",
    )
    .bind(unit)
    .bind(day)
    .fetch_optional(c)
    .await?;
    Ok(r.map(|r| r.0))
}

pub async fn list_leases(
    c: &mut PgConnection,
    landlord: &str,
    limit: i64,
    before: i64,
) -> Result<Page<Lease>, sqlx::Error> {
    #[derive(sqlx::FromRow)]
    struct Row {
        seq: i64,
        #[sqlx(flatten)]
        l: Lease,
    }
    let rows: Vec<Row> = sqlx::query_as(&format!(
        "SELECT seq, {LEASE_COLS} FROM leases WHERE landlord_id=$1 AND seq < $2
         ORDER BY seq DESC LIMIT $3"
    ))
    .bind(landlord)
    .bind(before)
    .bind(limit + 1)
    .fetch_all(c)
    .await?;
    Ok(Page::from_rows(
        rows.into_iter().map(|r| (r.seq, r.l)).collect(),
        limit,
    ))
}

const INVOICE_SELECT: &str = "SELECT i.seq, i.id, i.lease_id, i.period, i.amount, i.due_date,
    COALESCE(a.paid, 0)::bigint AS paid, (i.amount - COALESCE(a.paid, 0))::bigint AS balance, i.created_at
    FROM invoices i LEFT JOIN (SELECT invoice_id, SUM(amount) AS paid FROM allocations GROUP BY invoice_id) a
    ON a.invoice_id = i.id";

#[derive(sqlx::FromRow)]
struct InvoiceRow {
    seq: i64,
    #[sqlx(flatten)]
    inv: Invoice,
}

/// Creates the invoices of `period` for every lease in force during it; idempotent
/// (one invoice per lease and period). Returns the invoices created now.
pub async fn generate_invoices(
    c: &mut PgConnection,
    landlord: &str,
    period: Period,
) -> Result<Vec<Invoice>, sqlx::Error> {
    let leases: Vec<(Uuid, i64, i32)> = sqlx::query_as(
        "SELECT id, rent, due_day FROM leases WHERE landlord_id=$1
         AND start_date <= $3 AND (end_date IS NULL OR end_date >= $2) ORDER BY seq",
    )
    .bind(landlord)
    .bind(period.first_day())
    .bind(period.last_day())
    .fetch_all(&mut *c)
    .await?;
    let mut created = Vec::new();
    for (lease, rent, due_day) in leases {
        let id: Option<(Uuid,)> = sqlx::query_as(
            "INSERT INTO invoices (id, landlord_id, lease_id, period, amount, due_date)
             VALUES ($1,$2,$3,$4,$5,$6) ON CONFLICT ON CONSTRAINT invoices_one_per_period DO NOTHING
             RETURNING id",
        )
        .bind(Uuid::new_v4())
        .bind(landlord)
        .bind(lease)
        .bind(period.to_string())
        .bind(rent)
        .bind(period.due_date(due_day as u32))
        .fetch_optional(&mut *c)
        .await?;
        if let Some((id,)) = id {
            // Credit from earlier overpayments pays the new invoice first.
            super::ledger::settle_lease(&mut *c, lease).await?;
            created.push(id);
        }
    }
    if created.is_empty() {
        return Ok(vec![]);
    }
    let rows: Vec<InvoiceRow> = sqlx::query_as(&format!(
        "{INVOICE_SELECT} WHERE i.id = ANY($1) ORDER BY i.seq"
    ))
    .bind(&created)
    .fetch_all(c)
    .await?;
    Ok(rows.into_iter().map(|r| r.inv).collect())
}

pub async fn list_invoices(
    c: &mut PgConnection,
    landlord: &str,
    lease: Option<Uuid>,
    period: Option<Period>,
    limit: i64,
    before: i64,
) -> Result<Page<Invoice>, sqlx::Error> {
    let rows: Vec<InvoiceRow> = sqlx::query_as(&format!(
        "{INVOICE_SELECT} WHERE i.landlord_id=$1 AND ($2::uuid IS NULL OR i.lease_id=$2)
         AND ($3::text IS NULL OR i.period=$3) AND i.seq < $4 ORDER BY i.seq DESC LIMIT $5"
    ))
    .bind(landlord)
    .bind(lease)
    .bind(period.map(|p| p.to_string()))
    .bind(before)
    .bind(limit + 1)
    .fetch_all(c)
    .await?;
    Ok(Page::from_rows(
        rows.into_iter().map(|r| (r.seq, r.inv)).collect(),
        limit,
    ))
}

/// Every invoice of a tenant's leases, oldest first (for the tenant's data export).
pub async fn invoices_of_tenant(
    c: &mut PgConnection,
    landlord: &str,
    tenant: Uuid,
) -> Result<Vec<Invoice>, sqlx::Error> {
    let rows: Vec<InvoiceRow> = sqlx::query_as(&format!(
        "{INVOICE_SELECT} JOIN leases l ON l.id = i.lease_id
         WHERE i.landlord_id=$1 AND l.tenant_id=$2 ORDER BY i.due_date, i.seq"
    ))
    .bind(landlord)
    .bind(tenant)
    .fetch_all(c)
    .await?;
    Ok(rows.into_iter().map(|r| r.inv).collect())
}

pub async fn invoices_of_lease(
    c: &mut PgConnection,
    lease: Uuid,
) -> Result<Vec<Invoice>, sqlx::Error> {
    let rows: Vec<InvoiceRow> = sqlx::query_as(&format!(
        "{INVOICE_SELECT} WHERE i.lease_id=$1 ORDER BY i.due_date, i.seq"
    ))
    .bind(lease)
    .fetch_all(c)
    .await?;
    Ok(rows.into_iter().map(|r| r.inv).collect())
}
