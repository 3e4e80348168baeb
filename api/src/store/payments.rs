//! Payments: manual entries, M-Pesa C2B and STK callbacks, the suspense list, idempotency.

use super::page::Page;
use crate::domain::{PaymentKind, PaymentMethod, PaymentStatus};
use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgConnection;
use uuid::Uuid;

#[derive(Debug, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Payment {
    pub id: Uuid,
    pub lease_id: Option<Uuid>,
    #[schema(value_type = PaymentMethod)]
    pub method: String,
    /// `credited` (to a lease) | `unmatched` (the suspense list)
    #[schema(value_type = PaymentStatus)]
    pub status: String,
    /// `rent` (allocated to rent invoices) | `deposit` | `other` (other income)
    #[schema(value_type = PaymentKind)]
    pub kind: String,
    /// Whole shillings.
    pub amount: i64,
    pub receipt: Option<String>,
    pub bill_ref: Option<String>,
    pub paid_at: DateTime<Utc>,
    pub allocated: i64,
    pub created_at: DateTime<Utc>,
}

const PAYMENT_SELECT: &str = "SELECT p.seq, p.id, p.lease_id, p.method, p.status, p.kind, p.amount, p.receipt,
    p.bill_ref, p.paid_at, COALESCE((SELECT SUM(a.amount) FROM allocations a WHERE a.payment_id = p.id), 0)::bigint AS allocated,
    p.created_at FROM payments p";

#[derive(sqlx::FromRow)]
struct Row {
    seq: i64,
    #[sqlx(flatten)]
    p: Payment,
}

pub struct NewPayment<'a> {
    pub lease_id: Option<Uuid>,
    pub method: PaymentMethod,
    pub kind: PaymentKind,
    pub amount: i64,
    pub receipt: Option<&'a str>,
    pub bill_ref: Option<&'a str>,
    pub paid_at: DateTime<Utc>,
}

/// Inserts a payment; for M-Pesa methods a receipt already recorded makes this a no-op
/// returning `None` (the receipt is the idempotency key of callbacks). A payment with a
/// lease is credited and allocated in the same transaction; without one it goes to suspense.
pub async fn insert(
    c: &mut PgConnection,
    landlord: &str,
    p: &NewPayment<'_>,
) -> Result<Option<Uuid>, sqlx::Error> {
    if let Some(lease) = p.lease_id {
        super::ledger::lock_lease(c, lease).await?;
    }
    let id = insert_unsettled(c, landlord, p).await?;
    if let (Some(_), Some(lease)) = (&id, p.lease_id) {
        super::ledger::settle_lease(c, lease).await?;
    }
    Ok(id)
}

/// [`insert`] without the allocation: the caller locks the lease first
/// ([`super::ledger::lock_lease`]) and settles it afterwards (once per lease when it
/// records several payments in one transaction).
pub async fn insert_unsettled(
    c: &mut PgConnection,
    landlord: &str,
    p: &NewPayment<'_>,
) -> Result<Option<Uuid>, sqlx::Error> {
    let status = status_of(p);
    let id: Option<(Uuid,)> = sqlx::query_as(
        "INSERT INTO payments (id, landlord_id, lease_id, method, status, amount, receipt, bill_ref, paid_at, kind)
         VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10)
         ON CONFLICT (receipt) WHERE method IN ('mpesa_c2b', 'mpesa_stk') DO NOTHING RETURNING id",
    )
    .bind(Uuid::new_v4())
    .bind(landlord)
    .bind(p.lease_id)
    .bind(p.method.as_str())
    .bind(status.as_str())
    .bind(p.amount)
    .bind(p.receipt)
    .bind(p.bill_ref)
    .bind(p.paid_at)
    .bind(p.kind.as_str())
    .fetch_optional(&mut *c)
    .await?;
    Ok(id.map(|r| r.0))
}

/// Credited with a lease, else in suspense.
fn status_of(p: &NewPayment<'_>) -> PaymentStatus {
    if p.lease_id.is_some() {
        PaymentStatus::Credited
    } else {
        PaymentStatus::Unmatched
    }
}

/// [`insert_unsettled`] for many payments with one statement (the inbox workers' batches),
/// in order: `landlords[i]` records `ps[i]`. Answers, per payment, its id, or `None` where its
/// receipt was already recorded — before, or by an earlier payment of the same call.
pub async fn insert_unsettled_many(
    c: &mut PgConnection,
    landlords: &[&str],
    ps: &[NewPayment<'_>],
) -> Result<Vec<Option<Uuid>>, sqlx::Error> {
    if ps.is_empty() {
        return Ok(Vec::new());
    }
    let ids: Vec<Uuid> = ps.iter().map(|_| Uuid::new_v4()).collect();
    // ORDER BY the input's position: a receipt repeated within the call is recorded for
    // its first payment, as one INSERT after the other would.
    let stored: Vec<(Uuid,)> = sqlx::query_as(
        "INSERT INTO payments (id, landlord_id, lease_id, method, status, amount, receipt, bill_ref, paid_at, kind)
         SELECT id, landlord_id, lease_id, method, status, amount, receipt, bill_ref, paid_at, kind
         FROM unnest($1::uuid[], $2::text[], $3::uuid[], $4::text[], $5::text[], $6::int8[],
                     $7::text[], $8::text[], $9::timestamptz[], $10::text[])
              WITH ORDINALITY AS u(id, landlord_id, lease_id, method, status, amount, receipt,
                                   bill_ref, paid_at, kind, n)
         ORDER BY n
         ON CONFLICT (receipt) WHERE method IN ('mpesa_c2b', 'mpesa_stk') DO NOTHING RETURNING id",
    )
    .bind(&ids)
    .bind(landlords)
    .bind(ps.iter().map(|p| p.lease_id).collect::<Vec<_>>())
    .bind(ps.iter().map(|p| p.method.as_str()).collect::<Vec<_>>())
    .bind(ps.iter().map(|p| status_of(p).as_str()).collect::<Vec<_>>())
    .bind(ps.iter().map(|p| p.amount).collect::<Vec<_>>())
    .bind(ps.iter().map(|p| p.receipt).collect::<Vec<_>>())
    .bind(ps.iter().map(|p| p.bill_ref).collect::<Vec<_>>())
    .bind(ps.iter().map(|p| p.paid_at).collect::<Vec<_>>())
    .bind(ps.iter().map(|p| p.kind.as_str()).collect::<Vec<_>>())
    .fetch_all(&mut *c)
    .await?;
    let stored: std::collections::HashSet<Uuid> = stored.into_iter().map(|r| r.0).collect();
    Ok(ids
        .into_iter()
        .map(|id| stored.contains(&id).then_some(id))
        .collect())
}

/// The M-Pesa payment recorded under a receipt (any landlord: a receipt is unique across
/// paybills): (landlord, id, amount, normalised account number).
pub async fn mpesa_by_receipt(
    c: &mut PgConnection,
    receipt: &str,
) -> Result<Option<(String, Uuid, i64, Option<String>)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT landlord_id, id, amount, upper(btrim(bill_ref)) FROM payments
         WHERE receipt = $1 AND method IN ('mpesa_c2b', 'mpesa_stk')",
    )
    .bind(receipt)
    .fetch_optional(c)
    .await
}

pub async fn get(
    c: &mut PgConnection,
    landlord: &str,
    id: Uuid,
) -> Result<Option<Payment>, sqlx::Error> {
    let r: Option<Row> = sqlx::query_as(&format!(
        "{PAYMENT_SELECT} WHERE p.landlord_id=$1 AND p.id=$2"
    ))
    .bind(landlord)
    .bind(id)
    .fetch_optional(c)
    .await?;
    Ok(r.map(|r| r.p))
}

pub async fn list(
    c: &mut PgConnection,
    landlord: &str,
    status: Option<PaymentStatus>,
    lease: Option<Uuid>,
    limit: i64,
    before: i64,
) -> Result<Page<Payment>, sqlx::Error> {
    let rows: Vec<Row> = sqlx::query_as(&format!(
        "{PAYMENT_SELECT} WHERE p.landlord_id=$1 AND ($2::text IS NULL OR p.status=$2)
         AND ($3::uuid IS NULL OR p.lease_id=$3) AND p.seq < $4 ORDER BY p.seq DESC LIMIT $5"
    ))
    .bind(landlord)
    .bind(status.map(PaymentStatus::as_str))
    .bind(lease)
    .bind(before)
    .bind(limit + 1)
    .fetch_all(c)
    .await?;
    Ok(Page::from_rows(
        rows.into_iter().map(|r| (r.seq, r.p)).collect(),
        limit,
    ))
}

pub enum MatchOutcome {
    Matched,
    NotFound,
    NotUnmatched,
}

/// Moves a suspense payment to a lease (optionally re-classifying it, e.g. as the deposit),
/// credits and allocates it.
pub async fn match_to_lease(
    c: &mut PgConnection,
    landlord: &str,
    id: Uuid,
    lease: Uuid,
    kind: Option<PaymentKind>,
) -> Result<MatchOutcome, sqlx::Error> {
    let status: Option<(String,)> =
        sqlx::query_as("SELECT status FROM payments WHERE landlord_id=$1 AND id=$2 FOR UPDATE")
            .bind(landlord)
            .bind(id)
            .fetch_optional(&mut *c)
            .await?;
    match status {
        None => return Ok(MatchOutcome::NotFound),
        Some((s,)) if s != "unmatched" => return Ok(MatchOutcome::NotUnmatched),
        _ => {}
    }
    super::ledger::lock_lease(c, lease).await?;
    sqlx::query(
        "UPDATE payments SET lease_id=$2, status='credited', kind=COALESCE($3, kind) WHERE id=$1",
    )
    .bind(id)
    .bind(lease)
    .bind(kind.map(PaymentKind::as_str))
    .execute(&mut *c)
    .await?;
    super::ledger::settle_lease(c, lease).await?;
    Ok(MatchOutcome::Matched)
}

/// Records an M-Pesa paybill (C2B) receipt the way a confirmation callback does: the
/// account reference finds the unit (trimmed, case-insensitive), the unit's lease in force
/// on the payment day gets it as rent (allocated at once); otherwise it waits in suspense.
/// Idempotent on the receipt: returns `None` when the receipt is already recorded.
pub async fn record_c2b(
    c: &mut PgConnection,
    landlord: &str,
    receipt: &str,
    amount: i64,
    bill_ref: Option<&str>,
    paid_at: DateTime<Utc>,
) -> Result<Option<(Uuid, bool)>, sqlx::Error> {
    let lease = match bill_ref {
        Some(r) => {
            let day = paid_at.with_timezone(&crate::domain::eat()).date_naive();
            super::rentals::lease_for_account_on(&mut *c, landlord, r, day).await?
        }
        None => None,
    };
    let id = insert(
        c,
        landlord,
        &NewPayment {
            lease_id: lease,
            method: PaymentMethod::MpesaC2b,
            kind: PaymentKind::Rent,
            amount,
            receipt: Some(receipt),
            bill_ref,
            paid_at,
        },
    )
    .await?;
    Ok(id.map(|id| (id, lease.is_some())))
}

/// The landlord's M-Pesa payments (C2B and STK) with these receipts: receipt → (id, amount).
pub async fn mpesa_by_receipts(
    c: &mut PgConnection,
    landlord: &str,
    receipts: &[String],
) -> Result<Vec<(String, Uuid, i64)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT receipt, id, amount FROM payments WHERE landlord_id=$1
         AND method IN ('mpesa_c2b', 'mpesa_stk') AND receipt = ANY($2)",
    )
    .bind(landlord)
    .bind(receipts)
    .fetch_all(c)
    .await
}

/// The landlord's M-Pesa payments paid within `[from, to]`, oldest first.
pub async fn mpesa_between(
    c: &mut PgConnection,
    landlord: &str,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<Payment>, sqlx::Error> {
    let rows: Vec<Row> = sqlx::query_as(&format!(
        "{PAYMENT_SELECT} WHERE p.landlord_id=$1 AND p.method IN ('mpesa_c2b', 'mpesa_stk')
         AND p.paid_at >= $2 AND p.paid_at <= $3 ORDER BY p.paid_at, p.seq"
    ))
    .bind(landlord)
    .bind(from)
    .bind(to)
    .fetch_all(c)
    .await?;
    Ok(rows.into_iter().map(|r| r.p).collect())
}

/// Every payment of the leases of a tenant, oldest first (for the tenant's data export).
pub async fn of_tenant(
    c: &mut PgConnection,
    landlord: &str,
    tenant: Uuid,
) -> Result<Vec<Payment>, sqlx::Error> {
    let rows: Vec<Row> = sqlx::query_as(&format!(
        "{PAYMENT_SELECT} JOIN leases l ON l.id = p.lease_id
         WHERE p.landlord_id=$1 AND l.tenant_id=$2 ORDER BY p.paid_at, p.seq"
    ))
    .bind(landlord)
    .bind(tenant)
    .fetch_all(c)
    .await?;
    Ok(rows.into_iter().map(|r| r.p).collect())
}

/// A stored response for an Idempotency-Key.
pub struct StoredResponse {
    pub request_hash: String,
    pub status: i32,
    pub body: serde_json::Value,
}

/// Claims an idempotency key inside the caller's transaction. A concurrent request with the
/// same key blocks on the unique index until this transaction ends, then sees its result.
/// Returns the earlier response when the key was already used.
pub async fn claim_idempotency_key(
    c: &mut PgConnection,
    landlord: &str,
    key: &str,
    request_hash: &str,
) -> Result<Option<StoredResponse>, sqlx::Error> {
    let inserted = sqlx::query(
        "INSERT INTO idempotency_keys (landlord_id, key, request_hash, status, response)
         VALUES ($1,$2,$3,0,'null') ON CONFLICT DO NOTHING",
    )
    .bind(landlord)
    .bind(key)
    .bind(request_hash)
    .execute(&mut *c)
    .await?
    .rows_affected();
    if inserted == 1 {
        return Ok(None);
    }
    let (request_hash, status, body): (String, i32, serde_json::Value) = sqlx::query_as(
        "SELECT request_hash, status, response FROM idempotency_keys WHERE landlord_id=$1 AND key=$2",
    )
    .bind(landlord)
    .bind(key)
    .fetch_one(c)
    .await?;
    Ok(Some(StoredResponse {
        request_hash,
        status,
        body,
    }))
}

pub async fn store_idempotent_response(
    c: &mut PgConnection,
    landlord: &str,
    key: &str,
    status: u16,
    body: &serde_json::Value,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE idempotency_keys SET status=$3, response=$4 WHERE landlord_id=$1 AND key=$2",
    )
    .bind(landlord)
    .bind(key)
    .bind(status as i32)
    .bind(body)
    .execute(c)
    .await?;
    Ok(())
}

pub async fn register_stk(
    c: &mut PgConnection,
    landlord: &str,
    checkout_request_id: &str,
    lease: Uuid,
    amount: i64,
) -> Result<bool, sqlx::Error> {
    let n = sqlx::query(
        "INSERT INTO stk_requests (checkout_request_id, landlord_id, lease_id, amount)
         VALUES ($1,$2,$3,$4) ON CONFLICT DO NOTHING",
    )
    .bind(checkout_request_id)
    .bind(landlord)
    .bind(lease)
    .bind(amount)
    .execute(c)
    .await?
    .rows_affected();
    Ok(n == 1)
}

pub struct StkState {
    pub lease_id: Option<Uuid>,
    /// The amount registered with the push (what the tenant was asked to pay).
    pub amount: Option<i64>,
    pub completed: bool,
    pub result_code: Option<i32>,
    pub receipt: Option<String>,
    pub payment_id: Option<Uuid>,
}

/// Locks (creating if unknown) the STK request row of a callback; duplicates serialise here.
pub async fn lock_stk(
    c: &mut PgConnection,
    landlord: &str,
    checkout_request_id: &str,
) -> Result<Option<StkState>, sqlx::Error> {
    sqlx::query(
        "INSERT INTO stk_requests (checkout_request_id, landlord_id) VALUES ($1,$2) ON CONFLICT DO NOTHING",
    )
    .bind(checkout_request_id)
    .bind(landlord)
    .execute(&mut *c)
    .await?;
    #[allow(clippy::type_complexity)]
    let r: Option<(
        Option<Uuid>,
        Option<i64>,
        Option<DateTime<Utc>>,
        Option<i32>,
        Option<String>,
        Option<Uuid>,
    )> = sqlx::query_as(
        "SELECT lease_id, amount, completed_at, result_code, receipt, payment_id FROM stk_requests
         WHERE checkout_request_id=$1 AND landlord_id=$2 FOR UPDATE",
    )
    .bind(checkout_request_id)
    .bind(landlord)
    .fetch_optional(c)
    .await?;
    Ok(r.map(
        |(lease_id, amount, done, result_code, receipt, payment_id)| StkState {
            lease_id,
            amount,
            completed: done.is_some(),
            result_code,
            receipt,
            payment_id,
        },
    ))
}

pub async fn complete_stk(
    c: &mut PgConnection,
    checkout_request_id: &str,
    result_code: i64,
    result_desc: &str,
    receipt: Option<&str>,
    payment: Option<Uuid>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE stk_requests SET result_code=$2, result_desc=$3, receipt=$4, payment_id=$5, completed_at=now()
         WHERE checkout_request_id=$1",
    )
    .bind(checkout_request_id)
    .bind(result_code as i32)
    .bind(result_desc)
    .bind(receipt)
    .bind(payment)
    .execute(c)
    .await?;
    Ok(())
}

#[derive(Debug, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct StkRecord {
    pub checkout_request_id: String,
    pub lease_id: Option<Uuid>,
    pub amount: Option<i64>,
    pub result_code: Option<i32>,
    pub result_desc: Option<String>,
    pub receipt: Option<String>,
    pub payment_id: Option<Uuid>,
    pub completed_at: Option<DateTime<Utc>>,
}

pub async fn get_stk(
    c: &mut PgConnection,
    landlord: &str,
    id: &str,
) -> Result<Option<StkRecord>, sqlx::Error> {
    sqlx::query_as(
        "SELECT checkout_request_id, lease_id, amount, result_code, result_desc, receipt, payment_id, completed_at
         FROM stk_requests WHERE landlord_id=$1 AND checkout_request_id=$2",
    )
    .bind(landlord)
    .bind(id)
    .fetch_optional(c)
    .await
}
