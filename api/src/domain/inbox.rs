//! The callback inbox: what an M-Pesa callback is, where it stands, and the rules that
//! decide what a repeated or mismatched callback means. Pure: the service stores, parses
//! and allocates; these functions only judge.

use super::payment::{CheckoutRequestId, Receipt};
use super::Kes;
use serde::{Deserialize, Serialize};

/// Which callback a stored payload came in on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CallbackKind {
    /// `POST /v1/callbacks/c2b/{token}/confirmation`
    C2bConfirmation,
    /// `POST /v1/callbacks/stk/{token}`
    Stk,
}

impl CallbackKind {
    pub fn as_str(self) -> &'static str {
        match self {
            CallbackKind::C2bConfirmation => "c2b_confirmation",
            CallbackKind::Stk => "stk",
        }
    }

    pub fn parse(s: &str) -> Option<CallbackKind> {
        match s {
            "c2b_confirmation" => Some(CallbackKind::C2bConfirmation),
            "stk" => Some(CallbackKind::Stk),
            _ => None,
        }
    }
}

/// Where a stored callback stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum InboxStatus {
    /// Stored, not processed yet (a payment shown as pending on the statement).
    Pending,
    /// Credited to a lease, put in suspense, or (a failed STK push) recorded.
    Processed,
    /// The same payment again: nothing new was recorded.
    Duplicate,
    /// Contradicts what was recorded: listed in `/v1/payment-anomalies`, never credited.
    Anomaly,
    /// The payload could not be read: kept, listed, replayable once fixed.
    Quarantined,
}

impl InboxStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            InboxStatus::Pending => "pending",
            InboxStatus::Processed => "processed",
            InboxStatus::Duplicate => "duplicate",
            InboxStatus::Anomaly => "anomaly",
            InboxStatus::Quarantined => "quarantined",
        }
    }

    pub fn parse(s: &str) -> Option<InboxStatus> {
        [
            InboxStatus::Pending,
            InboxStatus::Processed,
            InboxStatus::Duplicate,
            InboxStatus::Anomaly,
            InboxStatus::Quarantined,
        ]
        .into_iter()
        .find(|k| k.as_str() == s)
    }

    /// A replay re-reads the stored payload of a row in these states only.
    pub fn replayable(self) -> bool {
        matches!(self, InboxStatus::Pending | InboxStatus::Quarantined)
    }

    /// Whether the raw payload is still needed (it names the payer, so it is dropped
    /// as soon as it is not).
    pub fn keeps_body(self) -> bool {
        !matches!(self, InboxStatus::Processed | InboxStatus::Duplicate)
    }
}

/// What processing found wrong with a callback.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AnomalyKind {
    /// A receipt (or CheckoutRequestID) already recorded arrived again with another
    /// amount or account: the first record stands, the second is not credited.
    ReceiptConflict,
    /// An STK push paid another amount than the one registered: the payment is held in
    /// suspense (not credited to the lease) until the landlord matches it.
    StkAmountMismatch,
}

impl AnomalyKind {
    pub fn as_str(self) -> &'static str {
        match self {
            AnomalyKind::ReceiptConflict => "receipt_conflict",
            AnomalyKind::StkAmountMismatch => "stk_amount_mismatch",
        }
    }

    pub fn parse(s: &str) -> Option<AnomalyKind> {
        [AnomalyKind::ReceiptConflict, AnomalyKind::StkAmountMismatch]
            .into_iter()
            .find(|k| k.as_str() == s)
    }
}

/// An account number as units are matched on it: trimmed, upper case, at most 40
/// characters; blank is none.
pub fn norm_account(s: Option<&str>) -> Option<String> {
    let t: String = s?
        .trim()
        .chars()
        .take(40)
        .collect::<String>()
        .to_uppercase();
    (!t.is_empty()).then_some(t)
}

/// A payment as a callback reports it, for comparing a repeat with the first record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reported {
    pub amount: i64,
    /// Normalised ([`norm_account`]); `None` for STK (no account number).
    pub account: Option<String>,
}

/// What a callback for a receipt that is already recorded means.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Repeat {
    /// The same payment: nothing to do.
    Duplicate,
    /// The same receipt with another amount or account.
    Conflict,
}

pub fn repeat_of(first: &Reported, again: &Reported) -> Repeat {
    if first.amount == again.amount && first.account == again.account {
        Repeat::Duplicate
    } else {
        Repeat::Conflict
    }
}

/// Whether a paid STK push may be credited to the lease it was registered for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StkCredit {
    /// Paid what was asked (or nothing was registered: suspense decides).
    Credit,
    /// Paid another amount: held in suspense and listed as an anomaly.
    Mismatch { registered: i64 },
}

pub fn stk_credit(registered: Option<i64>, paid: Kes) -> StkCredit {
    match registered {
        Some(r) if r != paid.shillings() => StkCredit::Mismatch { registered: r },
        _ => StkCredit::Credit,
    }
}

/// The key a raw payload is stored under, read leniently so even a payload that fails
/// full parsing is keyed when its identifier is legible: `TransID` (C2B) or
/// `Body.stkCallback.CheckoutRequestID` (STK).
pub fn key_of(kind: CallbackKind, v: &serde_json::Value) -> Option<String> {
    match kind {
        CallbackKind::C2bConfirmation => v
            .get("TransID")
            .and_then(|t| t.as_str())
            .and_then(Receipt::parse)
            .map(|r| r.as_str().to_string()),
        CallbackKind::Stk => v
            .pointer("/Body/stkCallback/CheckoutRequestID")
            .and_then(|t| t.as_str())
            .and_then(CheckoutRequestId::parse)
            .map(|c| c.as_str().to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_repeat_is_a_duplicate_only_when_amount_and_account_agree() {
        let first = Reported {
            amount: 10_000,
            account: norm_account(Some(" a-101 ")),
        };
        let same = Reported {
            amount: 10_000,
            account: norm_account(Some("A-101")),
        };
        assert_eq!(repeat_of(&first, &same), Repeat::Duplicate);
        let more = Reported {
            amount: 10_001,
            ..same.clone()
        };
        assert_eq!(repeat_of(&first, &more), Repeat::Conflict);
        let elsewhere = Reported {
            account: norm_account(Some("B-7")),
            ..same
        };
        assert_eq!(repeat_of(&first, &elsewhere), Repeat::Conflict);
        assert_eq!(norm_account(Some("   ")), None);
    }

    #[test]
    fn stk_credits_only_the_registered_amount() {
        let k = |n| Kes::new(n).unwrap();
        assert_eq!(stk_credit(Some(500), k(500)), StkCredit::Credit);
        assert_eq!(stk_credit(None, k(500)), StkCredit::Credit);
        assert_eq!(
            stk_credit(Some(500), k(50)),
            StkCredit::Mismatch { registered: 500 }
        );
    }

    #[test]
    fn keys_are_read_leniently_but_validated() {
        let c2b = json!({"TransID": "sbk1", "TransAmount": "garbage"});
        assert_eq!(
            key_of(CallbackKind::C2bConfirmation, &c2b).as_deref(),
            Some("SBK1")
        );
        assert_eq!(
            key_of(CallbackKind::C2bConfirmation, &json!({"TransID": "a b"})),
            None
        );
        let stk = json!({"Body": {"stkCallback": {"CheckoutRequestID": "ws_CO_1"}}});
        assert_eq!(key_of(CallbackKind::Stk, &stk).as_deref(), Some("ws_CO_1"));
        assert_eq!(key_of(CallbackKind::Stk, &json!([1])), None);
        for s in [
            InboxStatus::Pending,
            InboxStatus::Processed,
            InboxStatus::Duplicate,
            InboxStatus::Anomaly,
            InboxStatus::Quarantined,
        ] {
            assert_eq!(
                serde_json::to_value(s).unwrap(),
                json!(s.as_str()),
                "serde and SQL spell {s:?} alike"
            );
        }
    }
}
