//! Money in whole Kenya shillings. M-Pesa moves whole shillings only; callbacks write
//! amounts as decimal strings such as `"5.00"`. No floating point anywhere in money paths.

use serde::{Deserialize, Serialize};
use std::fmt;

/// An amount of Kenya shillings (KES), whole shillings, never negative.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize)]
#[serde(transparent)]
pub struct Kes(i64);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MoneyError {
    #[error("amount is empty")]
    Empty,
    #[error("amount must be a decimal number of whole shillings, e.g. 1500 or \"1500.00\"")]
    Malformed,
    #[error("amount has a fraction of a shilling; M-Pesa moves whole shillings only")]
    Fractional,
    #[error("amount must not be negative")]
    Negative,
    #[error("amount is too large")]
    TooLarge,
}

/// Upper bound well above any rent or M-Pesa transaction (M-Pesa caps at KES 250,000 per
/// transaction; paybill balances are larger) that keeps sums far from i64 overflow.
pub const MAX_SHILLINGS: i64 = 1_000_000_000_000;

impl Kes {
    pub const ZERO: Kes = Kes(0);

    pub fn new(shillings: i64) -> Result<Kes, MoneyError> {
        if shillings < 0 {
            return Err(MoneyError::Negative);
        }
        if shillings > MAX_SHILLINGS {
            return Err(MoneyError::TooLarge);
        }
        Ok(Kes(shillings))
    }

    /// Parses `"5"`, `"5.00"`, `"5.0"`, `" 1500.00 "`. Rejects `"5.50"`, `"-1"`, `"1e3"`, `""`.
    pub fn parse(s: &str) -> Result<Kes, MoneyError> {
        let s = s.trim();
        if s.is_empty() {
            return Err(MoneyError::Empty);
        }
        if s.starts_with('-') {
            return Err(MoneyError::Negative);
        }
        let s = s.strip_prefix('+').unwrap_or(s);
        let (whole, frac) = match s.split_once('.') {
            Some((w, f)) => (w, Some(f)),
            None => (s, None),
        };
        if whole.is_empty() || !whole.bytes().all(|b| b.is_ascii_digit()) {
            return Err(MoneyError::Malformed);
        }
        if let Some(f) = frac {
            if f.is_empty() || !f.bytes().all(|b| b.is_ascii_digit()) {
                return Err(MoneyError::Malformed);
            }
            if f.bytes().any(|b| b != b'0') {
                return Err(MoneyError::Fractional);
            }
        }
        let whole = whole.trim_start_matches('0');
        if whole.len() > 13 {
            return Err(MoneyError::TooLarge);
        }
        let v: i64 = if whole.is_empty() {
            0
        } else {
            whole.parse().map_err(|_| MoneyError::Malformed)?
        };
        Kes::new(v)
    }

    /// Parses a JSON value that is either a number (`5`, `5.0`) or a string (`"5.00"`),
    /// through its decimal text — never through a float.
    pub fn from_json(v: &serde_json::Value) -> Result<Kes, MoneyError> {
        match v {
            serde_json::Value::String(s) => Kes::parse(s),
            serde_json::Value::Number(n) => Kes::parse(&n.to_string()),
            _ => Err(MoneyError::Malformed),
        }
    }

    pub fn shillings(self) -> i64 {
        self.0
    }

    pub fn checked_add(self, other: Kes) -> Option<Kes> {
        self.0
            .checked_add(other.0)
            .filter(|v| *v <= MAX_SHILLINGS)
            .map(Kes)
    }

    /// Saturating at zero: money owed never goes negative.
    pub fn saturating_sub(self, other: Kes) -> Kes {
        Kes((self.0 - other.0).max(0))
    }

    pub fn min(self, other: Kes) -> Kes {
        Kes(self.0.min(other.0))
    }

    pub fn is_zero(self) -> bool {
        self.0 == 0
    }
}

impl fmt::Display for Kes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KES {}", self.0)
    }
}

/// API bodies carry amounts as JSON integers (`1500`) or decimal strings (`"1500.00"`);
/// `1500.5` and `"1500.50"` are rejected.
impl<'de> Deserialize<'de> for Kes {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = serde_json::Value::deserialize(d)?;
        Kes::from_json(&v).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_daraja_amounts() {
        assert_eq!(Kes::parse("5.00"), Ok(Kes(5)));
        assert_eq!(Kes::parse("5"), Ok(Kes(5)));
        assert_eq!(Kes::parse(" 1500.0 "), Ok(Kes(1500)));
        assert_eq!(Kes::parse("0"), Ok(Kes(0)));
        assert_eq!(Kes::parse("007"), Ok(Kes(7)));
    }

    #[test]
    fn rejects_fractions_and_garbage() {
        assert_eq!(Kes::parse("5.50"), Err(MoneyError::Fractional));
        assert_eq!(Kes::parse("5.01"), Err(MoneyError::Fractional));
        assert_eq!(Kes::parse("-1"), Err(MoneyError::Negative));
        assert_eq!(Kes::parse(""), Err(MoneyError::Empty));
        assert_eq!(Kes::parse("1e3"), Err(MoneyError::Malformed));
        assert_eq!(Kes::parse("5."), Err(MoneyError::Malformed));
        assert_eq!(Kes::parse(".5"), Err(MoneyError::Malformed));
        assert_eq!(Kes::parse("KES 5"), Err(MoneyError::Malformed));
        assert_eq!(
            Kes::parse("99999999999999999999"),
            Err(MoneyError::TooLarge)
        );
    }

    #[test]
    fn json_numbers_go_through_decimal_text() {
        assert_eq!(Kes::from_json(&serde_json::json!(5)), Ok(Kes(5)));
        assert_eq!(Kes::from_json(&serde_json::json!(5.0)), Ok(Kes(5)));
        assert_eq!(
            Kes::from_json(&serde_json::json!(5.5)),
            Err(MoneyError::Fractional)
        );
        assert_eq!(
            Kes::from_json(&serde_json::json!(true)),
            Err(MoneyError::Malformed)
        );
    }

    proptest! {
        #[test]
        fn whole_amounts_round_trip(v in 0i64..=MAX_SHILLINGS, zeros in 0usize..4) {
            let text = if zeros == 0 { v.to_string() } else { format!("{v}.{}", "0".repeat(zeros)) };
            prop_assert_eq!(Kes::parse(&text), Ok(Kes(v)));
        }

        #[test]
        fn any_nonzero_fraction_is_rejected(v in 0i64..1_000_000, frac in 1u32..100) {
            let text = format!("{v}.{frac:02}");
            prop_assert_eq!(Kes::parse(&text), Err(MoneyError::Fractional));
        }
    }
}
