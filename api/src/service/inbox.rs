//! The durable callback inbox: every C2B confirmation and STK callback is stored raw
//! before anything else ([`receive`], one autocommit statement — the acknowledgement to
//! Safaricom means "stored"), then parsed, matched and allocated ([`process_pending`]):
//! in the request right after storing (`Allocation::Inline`) or by the inbox worker
//! ([`spawn_worker`], `Allocation::Deferred`). Processing is idempotent — a row is claimed
//! with `FOR UPDATE SKIP LOCKED` and leaves `pending` in the transaction that credits it
//! — so a crash between the two only delays allocation. A payload that cannot be read is
//! kept as `quarantined` ([`replay`] re-reads it once the parser is fixed); a repeat that
//! contradicts the first record, or an STK push paying another amount than registered, is
//! an anomaly: recorded and listed, never credited.

use crate::domain::daraja::{C2bConfirmation, C2bPayment, StkEnvelope, StkOutcome};
use crate::domain::inbox::{
    key_of, norm_account, repeat_of, stk_credit, AnomalyKind, CallbackKind, InboxStatus, Repeat,
    Reported, StkCredit,
};
use crate::domain::{CheckoutRequestId, PaymentKind, PaymentMethod};
use crate::error::ApiError;
use crate::extract::from_value;
use crate::state::{Allocation, AppState};
use crate::store::inbox::{self, Claimed, InboxEntry, NewAnomaly, NewCallback, Outcome};
use crate::store::{landlords, ledger, payments, rentals};
use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};
use sqlx::PgConnection;
use std::collections::BTreeSet;
use std::time::Duration;
use uuid::Uuid;

/// A processing attempt that fails this many times (not for an unavailable or read-only
/// database) quarantines the callback.
const MAX_ATTEMPTS: i32 = 5;
/// Callbacks processed per transaction by the worker.
pub const BATCH: i64 = 64;
/// How long a woken worker lets callbacks gather before it processes them (the allocation
/// lag this adds; a tenant's statement shows the payment as pending meanwhile).
const GATHER: Duration = Duration::from_millis(20);

/// A callback payload, read.
enum Payload {
    C2b(C2bPayment),
    Stk {
        checkout: CheckoutRequestId,
        result_code: i32,
        desc: String,
        outcome: StkOutcome,
    },
}

/// What could be read of a raw payload: its key (leniently), and the payload or why not.
struct Read {
    key: Option<String>,
    parsed: Result<Payload, String>,
}

/// A parse error as a quarantine reason: the fields and reasons, never a value.
fn reason(e: ApiError) -> String {
    match e {
        ApiError::BadRequest { params, detail } | ApiError::Unprocessable { params, detail } => {
            if params.is_empty() {
                detail
            } else {
                params
                    .iter()
                    .map(|p| format!("{}: {}", p.name, p.reason))
                    .collect::<Vec<_>>()
                    .join("; ")
            }
        }
        other => other.to_string(),
    }
}

/// Reads a payload (`received_at` stands in for a missing STK `TransactionDate`).
fn read(kind: CallbackKind, is_json: bool, body: &[u8], received_at: DateTime<Utc>) -> Read {
    let value: Result<serde_json::Value, String> =
        serde_json::from_slice(body).map_err(|_| "body: malformed JSON".to_string());
    let key = value.as_ref().ok().and_then(|v| key_of(kind, v));
    if !is_json {
        return Read {
            key,
            parsed: Err("Content-Type: must be application/json".into()),
        };
    }
    let parsed = value.and_then(|v| match kind {
        CallbackKind::C2bConfirmation => from_value::<C2bConfirmation>(&v)
            .map(|b| Payload::C2b(b.payment()))
            .map_err(reason),
        CallbackKind::Stk => {
            let cb = from_value::<StkEnvelope>(&v)
                .map_err(reason)?
                .body
                .stk_callback;
            let outcome = cb
                .outcome(received_at)
                .map_err(|(field, why, _)| format!("{field}: {why}"))?;
            Ok(Payload::Stk {
                desc: cb
                    .result_desc
                    .as_ref()
                    .map(|d| d.0.clone())
                    .unwrap_or_default(),
                checkout: cb.checkout_request_id,
                result_code: cb.result_code,
                outcome,
            })
        }
    });
    Read { key, parsed }
}

/// (amount, account, paid at) of a payload, as shown while it is pending.
fn summary(p: &Payload) -> (Option<i64>, Option<String>, Option<DateTime<Utc>>) {
    match p {
        Payload::C2b(c) => (
            Some(c.amount.shillings()),
            norm_account(c.bill_ref.as_deref()),
            Some(c.paid_at),
        ),
        Payload::Stk {
            outcome: StkOutcome::Paid {
                amount, paid_at, ..
            },
            ..
        } => (Some(amount.shillings()), None, Some(*paid_at)),
        Payload::Stk { .. } => (None, None, None),
    }
}

/// What [`receive`] did with a callback.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Received {
    /// Stored (and, inline, processed: the status it reached).
    Stored(InboxStatus),
    /// An identical payload was stored before: nothing new.
    Redelivered,
}

/// Stores a callback for the landlord owning `token` (a 404 when it names nobody), then —
/// inline — processes it. Once stored, the callback is acknowledged whatever processing
/// does: an unreadable payload is quarantined, a processing failure leaves it pending for
/// the worker or a replay.
pub async fn receive(
    st: &AppState,
    kind: CallbackKind,
    token: &str,
    is_json: bool,
    body: &[u8],
) -> Result<Received, ApiError> {
    let token_id = landlords::token_id(token).ok_or(ApiError::NotFound("callback"))?;
    let now = Utc::now();
    let r = read(kind, is_json, body, now);
    let (status, error) = match &r.parsed {
        Ok(_) => (InboxStatus::Pending, None),
        Err(why) => (InboxStatus::Quarantined, Some(why.as_str())),
    };
    let (amount, account, paid_at) = r.parsed.as_ref().map(summary).unwrap_or_default();
    let id = Uuid::new_v4();
    let stored = st
        .intake()
        .store(NewCallback {
            token_id: token_id.to_string(),
            token_digest: Sha256::digest(token.as_bytes()).to_vec(),
            id,
            kind,
            key: r.key,
            digest: Sha256::digest(body).to_vec(),
            body: body.to_vec(),
            status,
            error: error.map(String::from),
            amount,
            account,
            paid_at,
        })
        .await?;
    if !stored {
        let mut c = st.db.acquire().await?;
        if landlords::by_callback_token(&mut c, token).await?.is_none() {
            return Err(ApiError::NotFound("callback"));
        }
        tracing::info!(
            kind = kind.as_str(),
            "identical callback redelivered; ignored"
        );
        return Ok(Received::Redelivered);
    }
    if status == InboxStatus::Quarantined {
        tracing::warn!(kind = kind.as_str(), callback = %id, reason = error.unwrap_or(""),
            "callback stored but unreadable: quarantined");
        return Ok(Received::Stored(status));
    }
    match st.allocation {
        Allocation::Deferred => {
            st.inbox_wakeup.notify_one();
            Ok(Received::Stored(InboxStatus::Pending))
        }
        Allocation::Inline => match process_pending(st, Some(id), 1).await {
            Ok(_) => Ok(Received::Stored(InboxStatus::Processed)),
            Err(f) => {
                f.count(st).await;
                Ok(Received::Stored(InboxStatus::Pending))
            }
        },
    }
}

/// A failed processing transaction: the error, and the callback when it was the only one.
pub struct ProcessingFailed {
    pub only: Option<Uuid>,
    pub error: ApiError,
}

impl ProcessingFailed {
    /// Whether the failure is the database's state (replica, down), not the callback's.
    pub fn transient(&self) -> bool {
        matches!(
            self.error,
            ApiError::ReadOnly { .. } | ApiError::Unavailable
        )
    }

    /// Counts the attempt against the callback (quarantining it after [`MAX_ATTEMPTS`]).
    async fn count(self, st: &AppState) {
        tracing::warn!(error = %self.error, "processing a stored callback failed; it stays pending");
        if let (Some(id), false) = (self.only, self.transient()) {
            let why = format!("processing failed: {}", self.error);
            if let Ok(mut c) = st.db.acquire().await {
                let _ = inbox::attempt_failed(&mut c, id, &why, MAX_ATTEMPTS).await;
            }
        }
    }
}

/// Processes up to `limit` pending callbacks (or only `only`) in one transaction:
/// parse, match, record, then settle each touched lease once, in lease order. Returns how
/// many were processed.
pub async fn process_pending(
    st: &AppState,
    only: Option<Uuid>,
    limit: i64,
) -> Result<usize, ProcessingFailed> {
    let mut single = only;
    let run = async {
        let mut tx = st.db.begin().await?;
        let rows = inbox::claim_pending(&mut tx, only, limit).await?;
        if rows.len() == 1 {
            single = Some(rows[0].id);
        }
        if rows.is_empty() {
            return Ok(0);
        }
        // Each payload is read once: the lease lookup and the processing share it.
        let reads: Vec<Read> = rows.iter().map(read_claimed).collect();
        let mut locked = Locked::take(&mut tx, &rows, &reads).await?;
        locked.record(&mut tx, &rows, &reads).await?;
        let mut settle = BTreeSet::new();
        let mut done = Vec::with_capacity(rows.len());
        for (row, r) in rows.iter().zip(reads) {
            done.push((row.id, apply(&mut tx, row, r, &mut settle, &locked).await?));
        }
        inbox::finish(&mut tx, &done).await?;
        let open = ledger::with_open_invoices(&mut tx, &settle).await?;
        for lease in settle.into_iter().filter(|l| open.contains(l)) {
            if locked.leases.contains(&lease) {
                ledger::settle_locked_lease(&mut tx, lease).await?;
            } else {
                ledger::settle_lease(&mut tx, lease).await?;
            }
        }
        tx.commit().await?;
        Ok::<_, ApiError>(rows.len())
    };
    run.await.map_err(|error| ProcessingFailed {
        only: single,
        error,
    })
}

/// Re-reads a pending or quarantined callback's stored payload with this version's parser
/// and processes it; answers the entry as it now stands.
pub async fn replay(st: &AppState, me: &str, id: Uuid) -> Result<InboxEntry, ApiError> {
    let mut tx = st.db.begin().await?;
    let row = inbox::claim(&mut tx, me, id)
        .await?
        .ok_or(ApiError::NotFound("callback"))?;
    if !row.status.replayable() {
        return Err(ApiError::conflict_field(
            "status",
            "only a pending or quarantined callback can be replayed",
        ));
    }
    let mut settle = BTreeSet::new();
    let r = read_claimed(&row);
    let done = apply(&mut tx, &row, r, &mut settle, &Locked::default()).await?;
    inbox::finish(&mut tx, &[(row.id, done)]).await?;
    for lease in settle {
        ledger::settle_lease(&mut tx, lease).await?;
    }
    let e = inbox::get(&mut tx, me, id)
        .await?
        .ok_or(ApiError::NotFound("callback"))?;
    tx.commit().await?;
    tracing::info!(callback = %id, status = e.status.as_str(), "callback replayed");
    Ok(e)
}

/// The leases a batch of C2B confirmations pays into, found and locked up front: in one
/// statement, in id order — two workers processing batches side by side lock in the same
/// order and cannot deadlock — and without a round trip per callback.
#[derive(Default)]
struct Locked {
    /// Callback id → the lease its account number names on the day it paid (`None`: no
    /// lease, suspense).
    lease_of: std::collections::HashMap<Uuid, Option<Uuid>>,
    leases: BTreeSet<Uuid>,
    /// Callback id → the payment recorded for its confirmation by [`Locked::record`], or
    /// `None` where the receipt was already recorded (a duplicate or an anomaly to decide).
    recorded: std::collections::HashMap<Uuid, Option<Uuid>>,
}

impl Locked {
    async fn take(
        c: &mut PgConnection,
        rows: &[Claimed],
        reads: &[Read],
    ) -> Result<Locked, ApiError> {
        let mut l = Locked::default();
        let (mut ids, mut asked) = (Vec::new(), Vec::new());
        for (row, r) in rows.iter().zip(reads) {
            let Ok(Payload::C2b(p)) = &r.parsed else {
                continue;
            };
            match p.bill_ref.as_deref() {
                Some(account) => {
                    ids.push(row.id);
                    asked.push((row.landlord_id.as_str(), account, paid_on(p)));
                }
                None => {
                    l.lease_of.insert(row.id, None);
                }
            }
        }
        if !asked.is_empty() {
            let found = rentals::leases_for_accounts_on(c, &asked).await?;
            for (id, lease) in ids.into_iter().zip(found) {
                l.leases.extend(lease);
                l.lease_of.insert(id, lease);
            }
        }
        ledger::lock_leases(c, &l.leases).await?;
        Ok(l)
    }

    /// Records the batch's C2B payments (their leases locked by [`Locked::take`]) with one
    /// statement instead of one per callback. Confirmations are recorded before the batch's
    /// STK results: a receipt shared by both in one batch is the confirmation's.
    async fn record(
        &mut self,
        c: &mut PgConnection,
        rows: &[Claimed],
        reads: &[Read],
    ) -> Result<(), ApiError> {
        let (mut ids, mut landlords, mut new) = (Vec::new(), Vec::new(), Vec::new());
        for (row, r) in rows.iter().zip(reads) {
            let (Ok(Payload::C2b(p)), Some(lease)) = (&r.parsed, self.lease_of.get(&row.id)) else {
                continue;
            };
            ids.push(row.id);
            landlords.push(row.landlord_id.as_str());
            new.push(c2b_payment(p, *lease));
        }
        let recorded = payments::insert_unsettled_many(c, &landlords, &new).await?;
        self.recorded.extend(ids.into_iter().zip(recorded));
        Ok(())
    }
}

/// The payment a C2B confirmation records, credited to `lease` (`None`: suspense).
fn c2b_payment(p: &C2bPayment, lease: Option<Uuid>) -> payments::NewPayment<'_> {
    payments::NewPayment {
        lease_id: lease,
        method: PaymentMethod::MpesaC2b,
        kind: PaymentKind::Rent,
        amount: p.amount.shillings(),
        receipt: Some(p.receipt.as_str()),
        bill_ref: p.bill_ref.as_deref(),
        paid_at: p.paid_at,
    }
}

/// Reads a stored callback's payload.
fn read_claimed(row: &Claimed) -> Read {
    read(
        row.kind,
        true,
        row.body.as_deref().unwrap_or_default(),
        row.received_at,
    )
}

/// The day (in Kenya) a confirmation paid.
fn paid_on(p: &C2bPayment) -> chrono::NaiveDate {
    p.paid_at.with_timezone(&crate::domain::eat()).date_naive()
}

/// The lease of the unit whose account number a confirmation typed, on the day it paid.
async fn lease_paid(
    c: &mut PgConnection,
    row: &Claimed,
    p: &C2bPayment,
) -> Result<Option<Uuid>, ApiError> {
    Ok(match p.bill_ref.as_deref() {
        Some(r) => {
            rentals::lease_for_account_on(c, row.landlord_id.as_str(), r, paid_on(p)).await?
        }
        None => None,
    })
}

/// Processes one claimed callback (its payload read: `r`) inside the caller's
/// transaction; leases to settle are added to `settle`. Answers the outcome to record
/// ([`inbox::finish`]).
async fn apply(
    c: &mut PgConnection,
    row: &Claimed,
    r: Read,
    settle: &mut BTreeSet<Uuid>,
    locked: &Locked,
) -> Result<Outcome, ApiError> {
    let p = match r.parsed {
        Ok(p) => p,
        Err(why) => {
            return Ok(Outcome {
                status: InboxStatus::Quarantined,
                key: r.key,
                error: Some(why),
                payment_id: None,
                amount: None,
                account: None,
                paid_at: None,
            });
        }
    };
    let (amount, account, paid_at) = summary(&p);
    let done = match &p {
        Payload::C2b(pay) => c2b(c, row, pay, settle, locked).await?,
        Payload::Stk {
            checkout,
            result_code,
            desc,
            outcome,
        } => stk(c, row, checkout, *result_code, desc, outcome, settle).await?,
    };
    Ok(Outcome {
        status: done.status,
        key: r.key,
        error: done.error.map(String::from),
        payment_id: done.payment_id,
        amount,
        account,
        paid_at,
    })
}

/// What processing decided for one callback.
struct Done {
    status: InboxStatus,
    payment_id: Option<Uuid>,
    error: Option<&'static str>,
}

impl Done {
    fn new(status: InboxStatus, payment_id: Option<Uuid>) -> Done {
        Done {
            status,
            payment_id,
            error: None,
        }
    }
}

/// A C2B confirmation: credited to the lease of the unit whose account number was typed
/// (else suspense); a receipt already recorded is a duplicate or, with another amount or
/// account, an anomaly.
async fn c2b(
    c: &mut PgConnection,
    row: &Claimed,
    p: &C2bPayment,
    settle: &mut BTreeSet<Uuid>,
    locked: &Locked,
) -> Result<Done, ApiError> {
    let me = row.landlord_id.as_str();
    let lease = match locked.lease_of.get(&row.id) {
        Some(l) => *l,
        None => lease_paid(c, row, p).await?,
    };
    let recorded = match locked.recorded.get(&row.id) {
        Some(recorded) => *recorded,
        None => {
            if let Some(l) = lease.filter(|l| !locked.leases.contains(l)) {
                ledger::lock_lease(c, l).await?;
            }
            payments::insert_unsettled(c, me, &c2b_payment(p, lease)).await?
        }
    };
    if let Some(id) = recorded {
        settle.extend(lease);
        return Ok(Done::new(InboxStatus::Processed, Some(id)));
    }
    let again = Reported {
        amount: p.amount.shillings(),
        account: norm_account(p.bill_ref.as_deref()),
    };
    repeated_receipt(c, row, p.receipt.as_str(), None, again).await
}

/// A receipt that is already recorded: the same payment again (a duplicate), or — another
/// amount or account, or another paybill's receipt — an anomaly.
async fn repeated_receipt(
    c: &mut PgConnection,
    row: &Claimed,
    receipt: &str,
    checkout: Option<&str>,
    again: Reported,
) -> Result<Done, ApiError> {
    let me = row.landlord_id.as_str();
    let first = payments::mpesa_by_receipt(c, receipt).await?;
    let mine = first.filter(|f| f.0 == me);
    if let Some((_, id, amount, account)) = &mine {
        let recorded = Reported {
            amount: *amount,
            // An STK payment has no account number: compare amounts only.
            account: if again.account.is_none() {
                None
            } else {
                account.clone()
            },
        };
        if repeat_of(&recorded, &again) == Repeat::Duplicate {
            return Ok(Done::new(InboxStatus::Duplicate, Some(*id)));
        }
    }
    inbox::record_anomaly(
        c,
        &NewAnomaly {
            landlord: me,
            kind: AnomalyKind::ReceiptConflict,
            inbox_id: row.id,
            receipt: Some(receipt),
            checkout_request_id: checkout,
            payment_id: mine.as_ref().map(|m| m.1),
            expected_amount: mine.as_ref().map(|m| m.2),
            received_amount: Some(again.amount),
            expected_account: mine.as_ref().and_then(|m| m.3.as_deref()),
            received_account: again.account.as_deref(),
        },
    )
    .await?;
    tracing::warn!(callback = %row.id, "receipt already recorded with another amount or account: anomaly");
    Ok(Done::new(InboxStatus::Anomaly, mine.map(|m| m.1)))
}

/// An STK push result: a failure is recorded, never credited; a success is credited once
/// to the lease it was registered for — unless it paid another amount than registered,
/// then it waits in suspense as an anomaly.
#[allow(clippy::too_many_arguments)]
async fn stk(
    c: &mut PgConnection,
    row: &Claimed,
    checkout: &CheckoutRequestId,
    result_code: i32,
    desc: &str,
    outcome: &StkOutcome,
    settle: &mut BTreeSet<Uuid>,
) -> Result<Done, ApiError> {
    let me = row.landlord_id.as_str();
    let Some(state) = payments::lock_stk(c, me, checkout.as_str()).await? else {
        // The CheckoutRequestID belongs to another paybill's push.
        return Ok(Done {
            status: InboxStatus::Quarantined,
            payment_id: None,
            error: Some("Body.stkCallback.CheckoutRequestID: registered by another landlord"),
        });
    };
    if state.completed {
        return match outcome {
            StkOutcome::Failed if state.result_code == Some(result_code) => {
                Ok(Done::new(InboxStatus::Duplicate, None))
            }
            StkOutcome::Paid {
                amount, receipt, ..
            } if state.receipt.as_deref() == Some(receipt.as_str()) => {
                let again = Reported {
                    amount: amount.shillings(),
                    account: None,
                };
                repeated_receipt(c, row, receipt.as_str(), Some(checkout.as_str()), again).await
            }
            _ => {
                inbox::record_anomaly(
                    c,
                    &NewAnomaly {
                        landlord: me,
                        kind: AnomalyKind::ReceiptConflict,
                        inbox_id: row.id,
                        receipt: match outcome {
                            StkOutcome::Paid { receipt, .. } => Some(receipt.as_str()),
                            StkOutcome::Failed => None,
                        },
                        checkout_request_id: Some(checkout.as_str()),
                        payment_id: state.payment_id,
                        expected_amount: None,
                        received_amount: match outcome {
                            StkOutcome::Paid { amount, .. } => Some(amount.shillings()),
                            StkOutcome::Failed => None,
                        },
                        expected_account: None,
                        received_account: None,
                    },
                )
                .await?;
                Ok(Done::new(InboxStatus::Anomaly, state.payment_id))
            }
        };
    }
    match outcome {
        StkOutcome::Failed => {
            // 1032 cancelled by user, 1 insufficient funds, 1037 timeout, …: never credited.
            payments::complete_stk(c, checkout.as_str(), result_code.into(), desc, None, None)
                .await?;
            Ok(Done::new(InboxStatus::Processed, None))
        }
        StkOutcome::Paid {
            amount,
            receipt,
            paid_at,
        } => {
            let credit = stk_credit(state.amount, *amount);
            let lease = match credit {
                StkCredit::Credit => state.lease_id,
                StkCredit::Mismatch { .. } => None,
            };
            if let Some(l) = lease {
                ledger::lock_lease(c, l).await?;
            }
            let id = payments::insert_unsettled(
                c,
                me,
                &payments::NewPayment {
                    lease_id: lease,
                    method: PaymentMethod::MpesaStk,
                    kind: PaymentKind::Rent,
                    amount: amount.shillings(),
                    receipt: Some(receipt.as_str()),
                    bill_ref: None,
                    paid_at: *paid_at,
                },
            )
            .await?;
            let Some(id) = id else {
                // Reported first by a C2B confirmation or a reconciliation.
                let again = Reported {
                    amount: amount.shillings(),
                    account: None,
                };
                let done =
                    repeated_receipt(c, row, receipt.as_str(), Some(checkout.as_str()), again)
                        .await?;
                payments::complete_stk(
                    c,
                    checkout.as_str(),
                    0,
                    desc,
                    Some(receipt.as_str()),
                    done.payment_id,
                )
                .await?;
                return Ok(done);
            };
            payments::complete_stk(
                c,
                checkout.as_str(),
                0,
                desc,
                Some(receipt.as_str()),
                Some(id),
            )
            .await?;
            settle.extend(lease);
            match credit {
                StkCredit::Credit => Ok(Done::new(InboxStatus::Processed, Some(id))),
                StkCredit::Mismatch { registered } => {
                    inbox::record_anomaly(
                        c,
                        &NewAnomaly {
                            landlord: me,
                            kind: AnomalyKind::StkAmountMismatch,
                            inbox_id: row.id,
                            receipt: Some(receipt.as_str()),
                            checkout_request_id: Some(checkout.as_str()),
                            payment_id: Some(id),
                            expected_amount: Some(registered),
                            received_amount: Some(amount.shillings()),
                            expected_account: None,
                            received_account: None,
                        },
                    )
                    .await?;
                    tracing::warn!(callback = %row.id,
                        "stk push paid another amount than registered: held in suspense, anomaly");
                    Ok(Done::new(InboxStatus::Anomaly, Some(id)))
                }
            }
        }
    }
}

/// The inbox worker: processes pending callbacks in batches when woken by [`receive`]
/// (deferred allocation) and sweeps every `sweep` for callbacks left pending (a crash
/// between storing and processing, a failed inline attempt, another process's rows).
/// On a read-only or unreachable database (a replica region) it only sweeps.
pub fn spawn_worker(st: AppState, sweep: Duration) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = st.inbox_wakeup.notified() => {
                    // Let the batch fill: on rent day a callback arrives every fraction of
                    // a millisecond, and a batch costs a handful of statements whatever its
                    // size (measured: woken at once, batches held ~4 callbacks at 800 rps).
                    tokio::time::sleep(GATHER).await;
                }
                _ = tokio::time::sleep(sweep) => {}
            }
            drain(&st).await;
        }
    })
}

/// Processes pending callbacks until none is left (or the database refuses).
pub async fn drain(st: &AppState) {
    loop {
        match process_pending(st, None, BATCH).await {
            Ok(n) if n as i64 == BATCH => continue,
            Ok(_) => return,
            Err(f) if f.transient() => return,
            Err(f) if f.only.is_some() => {
                f.count(st).await;
            }
            Err(f) => {
                // A batch failed (a deadlock, one bad row): isolate the culprit.
                tracing::debug!(error = %f.error, "inbox batch failed; processing one by one");
                for _ in 0..BATCH {
                    match process_pending(st, None, 1).await {
                        Ok(0) => return,
                        Ok(_) => {}
                        Err(f) if f.transient() => return,
                        Err(f) => f.count(st).await,
                    }
                }
            }
        }
    }
}
