//! Allocation of payments to invoices, tenant statements and arrears.

use crate::domain::allocation::settle;
use crate::domain::{Kes, OpenInvoice};
use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;
use sqlx::PgConnection;
use uuid::Uuid;

/// Allocates every unallocated shilling of the lease's payments (oldest payment first) to
/// its open invoices (oldest due first). What cannot be allocated stays as credit and is
/// picked up when the next invoice is generated. Locks the lease row so concurrent
/// payments on one lease allocate one after the other.
pub async fn settle_lease(c: &mut PgConnection, lease: Uuid) -> Result<(), sqlx::Error> {
    lock_lease(c, lease).await?;
    settle_locked_lease(c, lease).await
}

/// [`settle_lease`] for a lease this transaction has locked already.
pub async fn settle_locked_lease(c: &mut PgConnection, lease: Uuid) -> Result<(), sqlx::Error> {
    // Open invoices first: usually there are none (the month is paid), and then the
    // payments with credit left — every overpayment the lease ever had — need no reading.
    let rows: Vec<(Uuid, NaiveDate, i64)> = sqlx::query_as(
        "SELECT i.id, i.due_date, (i.amount - COALESCE(SUM(a.amount), 0))::bigint
         FROM invoices i LEFT JOIN allocations a ON a.invoice_id = i.id
         WHERE i.lease_id=$1 GROUP BY i.id HAVING i.amount - COALESCE(SUM(a.amount), 0) > 0",
    )
    .bind(lease)
    .fetch_all(&mut *c)
    .await?;
    if rows.is_empty() {
        return Ok(());
    }
    let payments: Vec<(Uuid, i64)> = sqlx::query_as(
        "SELECT p.id, (p.amount - COALESCE(SUM(a.amount), 0))::bigint AS left
         FROM payments p LEFT JOIN allocations a ON a.payment_id = p.id
         WHERE p.lease_id=$1 AND p.status='credited' AND p.kind='rent'
         GROUP BY p.id HAVING p.amount - COALESCE(SUM(a.amount), 0) > 0
         ORDER BY MIN(p.paid_at), MIN(p.seq)",
    )
    .bind(lease)
    .fetch_all(&mut *c)
    .await?;
    if payments.is_empty() {
        return Ok(());
    }
    let open: Vec<OpenInvoice<Uuid>> = rows
        .into_iter()
        .map(|(id, due, bal)| OpenInvoice {
            id,
            due,
            balance: Kes::new(bal).unwrap_or(Kes::ZERO),
        })
        .collect();
    let payments: Vec<(Uuid, Kes)> = payments
        .into_iter()
        .map(|(p, left)| (p, Kes::new(left).unwrap_or(Kes::ZERO)))
        .collect();
    for (payment, a) in settle(&payments, &open) {
        sqlx::query(
            "INSERT INTO allocations (payment_id, invoice_id, amount) VALUES ($1,$2,$3)
             ON CONFLICT (payment_id, invoice_id) DO UPDATE SET amount = allocations.amount + EXCLUDED.amount",
        )
        .bind(payment)
        .bind(a.invoice)
        .bind(a.amount.shillings())
        .execute(&mut *c)
        .await?;
    }
    Ok(())
}

/// Which of `leases` have an invoice with a balance (the others have nothing to settle).
pub async fn with_open_invoices(
    c: &mut PgConnection,
    leases: &std::collections::BTreeSet<Uuid>,
) -> Result<std::collections::BTreeSet<Uuid>, sqlx::Error> {
    if leases.is_empty() {
        return Ok(Default::default());
    }
    let ids: Vec<Uuid> = leases.iter().copied().collect();
    let open: Vec<(Uuid,)> = sqlx::query_as(
        "SELECT DISTINCT i.lease_id FROM invoices i LEFT JOIN allocations a ON a.invoice_id = i.id
         WHERE i.lease_id = ANY($1) GROUP BY i.id HAVING i.amount - COALESCE(SUM(a.amount), 0) > 0",
    )
    .bind(ids)
    .fetch_all(c)
    .await?;
    Ok(open.into_iter().map(|r| r.0).collect())
}

/// Locks the lease row: payments to one lease are recorded and allocated one after the
/// other. Take it *before* inserting a payment for the lease — the insert's foreign-key
/// check takes a share lock on the lease, and two transactions each holding that share
/// lock while waiting to lock the row deadlock.
pub async fn lock_lease(c: &mut PgConnection, lease: Uuid) -> Result<(), sqlx::Error> {
    sqlx::query("SELECT 1 FROM leases WHERE id=$1 FOR UPDATE")
        .bind(lease)
        .execute(c)
        .await?;
    Ok(())
}

/// Locks several leases (as [`lock_lease`]) in one statement, in id order: transactions
/// locking overlapping sets this way wait for each other instead of deadlocking.
pub async fn lock_leases(
    c: &mut PgConnection,
    leases: &std::collections::BTreeSet<Uuid>,
) -> Result<(), sqlx::Error> {
    if leases.is_empty() {
        return Ok(());
    }
    let ids: Vec<Uuid> = leases.iter().copied().collect();
    sqlx::query("SELECT 1 FROM leases WHERE id = ANY($1) ORDER BY id FOR UPDATE")
        .bind(ids)
        .execute(c)
        .await?;
    Ok(())
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct StatementEntry {
    pub date: NaiveDate,
    /// `invoice` (a charge) or `payment`.
    pub kind: &'static str,
    pub reference: String,
    pub debit: i64,
    pub credit: i64,
    /// Running balance: positive = the tenant owes, negative = credit.
    pub balance: i64,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct LeaseStatement {
    pub lease_id: Uuid,
    pub unit_id: Uuid,
    pub unit_label: String,
    pub entries: Vec<StatementEntry>,
    pub invoiced: i64,
    pub paid: i64,
    /// invoiced − paid: positive = owed, negative = credit.
    pub balance: i64,
    /// Money paid but not yet allocated to any invoice (applied to the next invoice).
    pub credit: i64,
    pub arrears: Arrears,
    /// The deposit agreed in the lease, and what was paid towards it (payments of kind
    /// `deposit`; not part of the rent balance).
    pub deposit: i64,
    pub deposit_paid: i64,
    /// M-Pesa payments received (stored in the callback inbox) but not allocated yet: not
    /// in `paid` or the balance until they are.
    pub pending: Vec<super::inbox::PendingPayment>,
    /// Their total, whole shillings.
    pub pending_amount: i64,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Arrears {
    pub as_of: NaiveDate,
    /// Unpaid balance of invoices already past their due date.
    pub overdue: i64,
    /// Unpaid balance of all invoices, due or not.
    pub outstanding: i64,
    pub oldest_overdue_due_date: Option<NaiveDate>,
    pub days_overdue: i64,
}

pub async fn arrears(
    c: &mut PgConnection,
    lease: Uuid,
    as_of: NaiveDate,
) -> Result<Arrears, sqlx::Error> {
    let invs = super::rentals::invoices_of_lease(c, lease).await?;
    let mut a = Arrears {
        as_of,
        overdue: 0,
        outstanding: 0,
        oldest_overdue_due_date: None,
        days_overdue: 0,
    };
    for i in invs.iter().filter(|i| i.balance > 0) {
        a.outstanding += i.balance;
        if i.due_date < as_of {
            a.overdue += i.balance;
            if a.oldest_overdue_due_date.is_none() {
                a.oldest_overdue_due_date = Some(i.due_date);
                a.days_overdue = (as_of - i.due_date).num_days();
            }
        }
    }
    Ok(a)
}

pub async fn lease_statement(
    c: &mut PgConnection,
    lease: &super::rentals::Lease,
    as_of: NaiveDate,
) -> Result<LeaseStatement, sqlx::Error> {
    let (unit_label,): (String,) = sqlx::query_as("SELECT label FROM units WHERE id=$1")
        .bind(lease.unit_id)
        .fetch_one(&mut *c)
        .await?;
    let invoices = super::rentals::invoices_of_lease(&mut *c, lease.id).await?;
    #[derive(sqlx::FromRow)]
    struct Paid {
        id: Uuid,
        amount: i64,
        paid_at: DateTime<Utc>,
        method: String,
        receipt: Option<String>,
        unallocated: i64,
    }
    let payments: Vec<Paid> = sqlx::query_as(
        "SELECT p.id, p.amount, p.paid_at, p.method, p.receipt,
                (p.amount - COALESCE((SELECT SUM(amount) FROM allocations a WHERE a.payment_id=p.id), 0))::bigint AS unallocated
         FROM payments p WHERE p.lease_id=$1 AND p.status='credited' AND p.kind='rent'
         ORDER BY p.paid_at, p.seq",
    )
    .bind(lease.id)
    .fetch_all(&mut *c)
    .await?;
    let mut entries: Vec<StatementEntry> = Vec::new();
    for i in &invoices {
        entries.push(StatementEntry {
            date: i.due_date,
            kind: "invoice",
            reference: format!("rent {}", i.period),
            debit: i.amount,
            credit: 0,
            balance: 0,
        });
    }
    let mut credit = 0;
    for p in &payments {
        credit += p.unallocated;
        entries.push(StatementEntry {
            date: p.paid_at.date_naive(),
            kind: "payment",
            reference: format!(
                "{} {}",
                p.method,
                p.receipt.clone().unwrap_or_else(|| p.id.to_string())
            ),
            debit: 0,
            credit: p.amount,
            balance: 0,
        });
    }
    // Charges before payments on the same day, so a same-day payment reads as settling it.
    entries.sort_by_key(|e| (e.date, e.kind != "invoice"));
    let mut bal = 0;
    for e in &mut entries {
        bal += e.debit - e.credit;
        e.balance = bal;
    }
    let invoiced = invoices.iter().map(|i| i.amount).sum();
    let paid = payments.iter().map(|p| p.amount).sum();
    let (deposit_paid,): (i64,) = sqlx::query_as(
        "SELECT COALESCE(SUM(amount), 0)::bigint FROM payments
         WHERE lease_id=$1 AND status='credited' AND kind='deposit'",
    )
    .bind(lease.id)
    .fetch_one(&mut *c)
    .await?;
    let pending = super::inbox::pending_for_lease(&mut *c, lease.id).await?;
    let pending_amount = pending.iter().map(|p| p.amount).sum();
    Ok(LeaseStatement {
        pending,
        pending_amount,
        lease_id: lease.id,
        unit_id: lease.unit_id,
        unit_label,
        entries,
        invoiced,
        paid,
        balance: invoiced - paid,
        credit,
        arrears: arrears(c, lease.id, as_of).await?,
        deposit: lease.deposit,
        deposit_paid,
    })
}
