//! The callback inbox and the anomalies found processing it.

use super::page::Page;
use crate::domain::inbox::{AnomalyKind, CallbackKind, InboxStatus};
use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgConnection;
use uuid::Uuid;

/// A raw callback to store, with what could be read of it, and the callback token it came
/// with (its prefix and SHA-256 digest — never the token itself).
pub struct NewCallback {
    pub token_id: String,
    pub token_digest: Vec<u8>,
    pub id: Uuid,
    pub kind: CallbackKind,
    pub key: Option<String>,
    pub digest: Vec<u8>,
    pub body: Vec<u8>,
    pub status: InboxStatus,
    pub error: Option<String>,
    pub amount: Option<i64>,
    pub account: Option<String>,
    pub paid_at: Option<DateTime<Utc>>,
}

/// Stores raw callbacks, each for the landlord owning its callback token, in one statement
/// (autocommit: durable — and, with a synchronous standby, in both regions — when this
/// returns; one commit for the whole batch). The token is checked inside the statement:
/// the row is found by the token's prefix and the whole token compared by its SHA-256
/// digest, so the comparison's timing says nothing about the token. Returns the ids stored;
/// a callback missing from them names nobody, or an identical payload is already stored
/// (tell them apart with [`super::landlords::by_callback_token`]).
pub async fn store_raw(
    c: &mut PgConnection,
    cbs: &[NewCallback],
) -> Result<Vec<Uuid>, sqlx::Error> {
    fn col<'a, T>(cbs: &'a [NewCallback], f: impl Fn(&'a NewCallback) -> T) -> Vec<T> {
        cbs.iter().map(f).collect()
    }
    let ids: Vec<(Uuid,)> = sqlx::query_as(
        "INSERT INTO callback_inbox (id, landlord_id, kind, key, digest, body, status, error,
                                     amount, account_ref_norm, paid_at)
         SELECT u.id, l.id, u.kind, u.key, u.digest, u.body, u.status, u.error, u.amount,
                u.account, u.paid_at
         FROM unnest($1::text[], $2::bytea[], $3::uuid[], $4::text[], $5::text[], $6::bytea[],
                     $7::bytea[], $8::text[], $9::text[], $10::int8[], $11::text[],
                     $12::timestamptz[])
              WITH ORDINALITY AS u(token_id, token_digest, id, kind, key, digest, body, status,
                                   error, amount, account, paid_at, n)
         JOIN landlords l ON l.callback_token_id = u.token_id
                         AND sha256(convert_to(l.callback_token, 'UTF8')) = u.token_digest
         ORDER BY u.n
         ON CONFLICT ON CONSTRAINT callback_inbox_once DO NOTHING RETURNING id",
    )
    .bind(col(cbs, |c| c.token_id.as_str()))
    .bind(col(cbs, |c| c.token_digest.as_slice()))
    .bind(col(cbs, |c| c.id))
    .bind(col(cbs, |c| c.kind.as_str()))
    .bind(col(cbs, |c| c.key.as_deref()))
    .bind(col(cbs, |c| c.digest.as_slice()))
    .bind(col(cbs, |c| c.body.as_slice()))
    .bind(col(cbs, |c| c.status.as_str()))
    .bind(col(cbs, |c| c.error.as_deref()))
    .bind(col(cbs, |c| c.amount))
    .bind(col(cbs, |c| c.account.as_deref()))
    .bind(col(cbs, |c| c.paid_at))
    .fetch_all(c)
    .await?;
    Ok(ids.into_iter().map(|r| r.0).collect())
}

/// A stored callback claimed for processing (locked until the transaction ends).
#[derive(sqlx::FromRow)]
pub struct Claimed {
    pub id: Uuid,
    pub landlord_id: String,
    pub kind: CallbackKind,
    pub status: InboxStatus,
    pub body: Option<Vec<u8>>,
    pub received_at: DateTime<Utc>,
}

/// Locks up to `limit` pending callbacks, oldest first, skipping those another
/// processor holds (or only `only`, when given).
pub async fn claim_pending(
    c: &mut PgConnection,
    only: Option<Uuid>,
    limit: i64,
) -> Result<Vec<Claimed>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, landlord_id, kind, status, body, received_at FROM callback_inbox
         WHERE status = 'pending' AND ($1::uuid IS NULL OR id = $1)
         ORDER BY seq LIMIT $2 FOR UPDATE SKIP LOCKED",
    )
    .bind(only)
    .bind(limit)
    .fetch_all(c)
    .await
}

/// Locks one of the landlord's callbacks whatever its state (a replay).
pub async fn claim(
    c: &mut PgConnection,
    landlord: &str,
    id: Uuid,
) -> Result<Option<Claimed>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, landlord_id, kind, status, body, received_at FROM callback_inbox
         WHERE landlord_id = $1 AND id = $2 FOR UPDATE",
    )
    .bind(landlord)
    .bind(id)
    .fetch_optional(c)
    .await
}

/// What processing concluded about one callback.
pub struct Outcome {
    pub status: InboxStatus,
    pub key: Option<String>,
    pub error: Option<String>,
    pub payment_id: Option<Uuid>,
    pub amount: Option<i64>,
    pub account: Option<String>,
    pub paid_at: Option<DateTime<Utc>>,
}

/// Records each callback's outcome, in one statement; the raw body is dropped when no
/// longer needed.
pub async fn finish(c: &mut PgConnection, done: &[(Uuid, Outcome)]) -> Result<(), sqlx::Error> {
    fn col<'a, T>(d: &'a [(Uuid, Outcome)], f: impl Fn(&'a Outcome) -> T) -> Vec<T> {
        d.iter().map(|(_, o)| f(o)).collect()
    }
    sqlx::query(
        "UPDATE callback_inbox i SET status = o.status, key = COALESCE(o.key, i.key),
            error = o.error, payment_id = o.payment_id, amount = COALESCE(o.amount, i.amount),
            account_ref_norm = COALESCE(o.account, i.account_ref_norm),
            paid_at = COALESCE(o.paid_at, i.paid_at),
            body = CASE WHEN o.keep_body THEN i.body END, attempts = i.attempts + 1,
            processed_at = CASE WHEN o.status = 'pending' THEN NULL ELSE now() END
         FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::uuid[], $6::int8[],
                     $7::text[], $8::timestamptz[], $9::bool[])
              AS o(id, status, key, error, payment_id, amount, account, paid_at, keep_body)
         WHERE i.id = o.id",
    )
    .bind(done.iter().map(|(id, _)| *id).collect::<Vec<_>>())
    .bind(col(done, |o| o.status.as_str()))
    .bind(col(done, |o| o.key.as_deref()))
    .bind(col(done, |o| o.error.as_deref()))
    .bind(col(done, |o| o.payment_id))
    .bind(col(done, |o| o.amount))
    .bind(col(done, |o| o.account.as_deref()))
    .bind(col(done, |o| o.paid_at))
    .bind(col(done, |o| o.status.keeps_body()))
    .execute(c)
    .await?;
    Ok(())
}

/// Counts a failed processing attempt of a pending callback (its transaction failed);
/// after `max` attempts it is quarantined with the reason.
pub async fn attempt_failed(
    c: &mut PgConnection,
    id: Uuid,
    reason: &str,
    max: i32,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE callback_inbox SET attempts = attempts + 1,
            status = CASE WHEN attempts + 1 >= $3 THEN 'quarantined' ELSE status END,
            error = $2 WHERE id = $1 AND status = 'pending'",
    )
    .bind(id)
    .bind(reason)
    .bind(max)
    .execute(c)
    .await?;
    Ok(())
}

/// A stored callback as the landlord sees it (the raw payload is not shown: it names the
/// payer).
#[derive(Debug, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct InboxEntry {
    pub id: Uuid,
    pub kind: CallbackKind,
    /// The M-Pesa receipt (C2B) or CheckoutRequestID (STK), when it could be read.
    pub key: Option<String>,
    pub status: InboxStatus,
    /// Why it is quarantined: the field and the reason (never a value).
    pub error: Option<String>,
    /// Whole shillings, when the payload could be read.
    pub amount: Option<i64>,
    /// The account number typed (normalised), C2B only.
    #[sqlx(rename = "account_ref_norm")]
    pub account: Option<String>,
    pub paid_at: Option<DateTime<Utc>>,
    /// The payment it was recorded as (or the payment it duplicates).
    pub payment_id: Option<Uuid>,
    pub attempts: i32,
    pub received_at: DateTime<Utc>,
    pub processed_at: Option<DateTime<Utc>>,
}

const ENTRY_SELECT: &str = "SELECT seq, id, kind, key, status, error, amount, account_ref_norm,
    paid_at, payment_id, attempts, received_at, processed_at FROM callback_inbox";

#[derive(sqlx::FromRow)]
struct EntryRow {
    seq: i64,
    #[sqlx(flatten)]
    e: InboxEntry,
}

pub async fn get(
    c: &mut PgConnection,
    landlord: &str,
    id: Uuid,
) -> Result<Option<InboxEntry>, sqlx::Error> {
    let r: Option<EntryRow> = sqlx::query_as(&format!(
        "{ENTRY_SELECT} WHERE landlord_id = $1 AND id = $2"
    ))
    .bind(landlord)
    .bind(id)
    .fetch_optional(c)
    .await?;
    Ok(r.map(|r| r.e))
}

pub async fn list(
    c: &mut PgConnection,
    landlord: &str,
    status: Option<InboxStatus>,
    limit: i64,
    before: i64,
) -> Result<Page<InboxEntry>, sqlx::Error> {
    let rows: Vec<EntryRow> = sqlx::query_as(&format!(
        "{ENTRY_SELECT} WHERE landlord_id = $1 AND ($2::text IS NULL OR status = $2)
         AND seq < $3 ORDER BY seq DESC LIMIT $4"
    ))
    .bind(landlord)
    .bind(status)
    .bind(before)
    .bind(limit + 1)
    .fetch_all(c)
    .await?;
    Ok(Page::from_rows(
        rows.into_iter().map(|r| (r.seq, r.e)).collect(),
        limit,
    ))
}

/// Callbacks still waiting to be processed, all landlords (0 when processing keeps up).
pub async fn pending_count(c: &mut PgConnection) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar("SELECT count(*) FROM callback_inbox WHERE status = 'pending'")
        .fetch_one(c)
        .await
}

/// A payment stored but not yet allocated, shown on the lease's statement.
#[derive(Debug, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct PendingPayment {
    pub inbox_id: Uuid,
    pub kind: CallbackKind,
    /// The M-Pesa receipt or CheckoutRequestID.
    pub key: Option<String>,
    /// Whole shillings.
    pub amount: i64,
    pub paid_at: Option<DateTime<Utc>>,
    pub received_at: DateTime<Utc>,
}

/// Pending callbacks that will credit this lease: C2B confirmations whose account number
/// names its unit on a day the lease runs, and paid STK pushes registered for it.
pub async fn pending_for_lease(
    c: &mut PgConnection,
    lease: Uuid,
) -> Result<Vec<PendingPayment>, sqlx::Error> {
    sqlx::query_as(
        "SELECT i.id AS inbox_id, i.kind, i.key, i.amount, i.paid_at, i.received_at
         FROM callback_inbox i
         JOIN units u ON u.landlord_id = i.landlord_id AND u.account_ref_norm = i.account_ref_norm
         JOIN leases l ON l.unit_id = u.id
         WHERE l.id = $1 AND i.status = 'pending' AND i.kind = 'c2b_confirmation'
           AND i.amount IS NOT NULL
           AND l.start_date <= ((i.paid_at AT TIME ZONE 'UTC') + interval '3 hours')::date
           AND (l.end_date IS NULL
                OR l.end_date >= ((i.paid_at AT TIME ZONE 'UTC') + interval '3 hours')::date)
         UNION ALL
         SELECT i.id, i.kind, i.key, i.amount, i.paid_at, i.received_at
         FROM callback_inbox i
         JOIN stk_requests s ON s.checkout_request_id = i.key AND s.landlord_id = i.landlord_id
         WHERE s.lease_id = $1 AND i.status = 'pending' AND i.kind = 'stk'
           AND i.amount IS NOT NULL
         ORDER BY received_at",
    )
    .bind(lease)
    .fetch_all(c)
    .await
}

/// An anomaly to record.
pub struct NewAnomaly<'a> {
    pub landlord: &'a str,
    pub kind: AnomalyKind,
    pub inbox_id: Uuid,
    pub receipt: Option<&'a str>,
    pub checkout_request_id: Option<&'a str>,
    pub payment_id: Option<Uuid>,
    pub expected_amount: Option<i64>,
    pub received_amount: Option<i64>,
    pub expected_account: Option<&'a str>,
    pub received_account: Option<&'a str>,
}

pub async fn record_anomaly(c: &mut PgConnection, a: &NewAnomaly<'_>) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO payment_anomalies (id, landlord_id, kind, inbox_id, receipt,
            checkout_request_id, payment_id, expected_amount, received_amount,
            expected_account, received_account)
         VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11) ON CONFLICT (inbox_id) DO NOTHING",
    )
    .bind(Uuid::new_v4())
    .bind(a.landlord)
    .bind(a.kind)
    .bind(a.inbox_id)
    .bind(a.receipt)
    .bind(a.checkout_request_id)
    .bind(a.payment_id)
    .bind(a.expected_amount)
    .bind(a.received_amount)
    .bind(a.expected_account)
    .bind(a.received_account)
    .execute(c)
    .await?;
    Ok(())
}

/// A callback that contradicts what was recorded, or an STK push that paid another amount.
#[derive(Debug, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Anomaly {
    pub id: Uuid,
    pub kind: AnomalyKind,
    /// The callback that showed it (`/v1/callback-inbox`).
    pub inbox_id: Uuid,
    pub receipt: Option<String>,
    pub checkout_request_id: Option<String>,
    /// `receipt_conflict`: the payment recorded first; `stk_amount_mismatch`: the
    /// payment, held in suspense until matched.
    pub payment_id: Option<Uuid>,
    /// What was recorded / registered (whole shillings).
    pub expected_amount: Option<i64>,
    /// What this callback says.
    pub received_amount: Option<i64>,
    pub expected_account: Option<String>,
    pub received_account: Option<String>,
    pub detected_at: DateTime<Utc>,
}

#[derive(sqlx::FromRow)]
struct AnomalyRow {
    seq: i64,
    #[sqlx(flatten)]
    a: Anomaly,
}

pub async fn list_anomalies(
    c: &mut PgConnection,
    landlord: &str,
    limit: i64,
    before: i64,
) -> Result<Page<Anomaly>, sqlx::Error> {
    let rows: Vec<AnomalyRow> = sqlx::query_as(
        "SELECT seq, id, kind, inbox_id, receipt, checkout_request_id, payment_id,
            expected_amount, received_amount, expected_account, received_account, detected_at
         FROM payment_anomalies WHERE landlord_id = $1 AND seq < $2 ORDER BY seq DESC LIMIT $3",
    )
    .bind(landlord)
    .bind(before)
    .bind(limit + 1)
    .fetch_all(c)
    .await?;
    Ok(Page::from_rows(
        rows.into_iter().map(|r| (r.seq, r.a)).collect(),
        limit,
    ))
}
