//! Payment values: what a payment is for, how it was paid, where it stands, and the
//! identifiers M-Pesa gives it.

use super::rental::checked_string;
use serde::{Deserialize, Serialize};

/// What a payment pays for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PaymentKind {
    /// Allocated to rent invoices; the base of Monthly Rental Income tax.
    #[default]
    Rent,
    /// The lease's security deposit: held, never allocated to rent, not taxed as rent.
    Deposit,
    /// Other income (service charge, water, parking …): not allocated to rent invoices.
    Other,
}

impl PaymentKind {
    pub fn as_str(self) -> &'static str {
        match self {
            PaymentKind::Rent => "rent",
            PaymentKind::Deposit => "deposit",
            PaymentKind::Other => "other",
        }
    }
}

/// How a payment arrived.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PaymentMethod {
    MpesaC2b,
    MpesaStk,
    Cash,
    Bank,
}

impl PaymentMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            PaymentMethod::MpesaC2b => "mpesa_c2b",
            PaymentMethod::MpesaStk => "mpesa_stk",
            PaymentMethod::Cash => "cash",
            PaymentMethod::Bank => "bank",
        }
    }
}

/// How a manual payment was made (M-Pesa payments arrive by callback).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ManualMethod {
    Cash,
    Bank,
}

impl From<ManualMethod> for PaymentMethod {
    fn from(m: ManualMethod) -> PaymentMethod {
        match m {
            ManualMethod::Cash => PaymentMethod::Cash,
            ManualMethod::Bank => PaymentMethod::Bank,
        }
    }
}

/// Where a payment stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PaymentStatus {
    /// Credited to a lease.
    Credited,
    /// Waiting in the suspense list for a lease.
    Unmatched,
}

impl PaymentStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            PaymentStatus::Credited => "credited",
            PaymentStatus::Unmatched => "unmatched",
        }
    }
}

checked_string!(
    /// An M-Pesa receipt number (`TransID`, `MpesaReceiptNumber`): 1–30 letters or digits,
    /// stored upper case.
    Receipt,
    "Receipt",
    "^[A-Za-z0-9]{1,30}$",
    "must be an M-Pesa receipt number (1 to 30 letters or digits)",
    |s: &str| s.to_ascii_uppercase()
);

impl Receipt {
    fn check(s: &str) -> bool {
        (1..=30).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_alphanumeric())
    }
}

checked_string!(
    /// Daraja's `CheckoutRequestID` of an STK push (`ws_CO_191220191020363925`): 1–64
    /// letters, digits, underscores or dashes.
    CheckoutRequestId,
    "CheckoutRequestID",
    "^[A-Za-z0-9_-]{1,64}$",
    "must be a CheckoutRequestID (1 to 64 letters, digits, underscores or dashes)",
    |s: &str| s.to_string()
);

impl CheckoutRequestId {
    fn check(s: &str) -> bool {
        (1..=64).contains(&s.len())
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    }
}

/// The `Idempotency-Key` header: 1–255 printable ASCII characters, no space at either end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyKey(String);

impl IdempotencyKey {
    pub const PATTERN: &'static str = r"^[!-~](?:[ -~]{0,253}[!-~])?$";

    pub fn parse(s: &str) -> Option<IdempotencyKey> {
        let b = s.as_bytes();
        let visible = |c: &u8| (b'!'..=b'~').contains(c);
        ((1..=255).contains(&b.len())
            && visible(&b[0])
            && visible(&b[b.len() - 1])
            && b.iter().all(|c| (b' '..=b'~').contains(c)))
        .then(|| IdempotencyKey(s.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn patterns_are_the_parsers(s in "[ -~\u{0}\u{7f}é]{0,70}") {
            let re = |p: &str| regex::Regex::new(p).unwrap().is_match(&s);
            prop_assert_eq!(re(Receipt::PATTERN), Receipt::parse(&s).is_some());
            prop_assert_eq!(re(CheckoutRequestId::PATTERN), CheckoutRequestId::parse(&s).is_some());
            prop_assert_eq!(re(IdempotencyKey::PATTERN), IdempotencyKey::parse(&s).is_some());
        }
    }
}
