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
    #[error("must not be empty")]
    Empty,
    #[error(
        "must be whole shillings: an integer such as 1500 or a decimal string such as 1500.00"
    )]
    Malformed,
    #[error("must be whole shillings (M-Pesa moves no fractions of a shilling)")]
    Fractional,
    #[error("must not be negative")]
    Negative,
    #[error("must be at most 1000000000000 shillings")]
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

    /// Parses `"5"`, `"5.00"`, `"5.0"`, `"007"`. Rejects `"5.50"`, `"-1"`, `"1e3"`, `""`,
    /// `" 5"`: exactly the strings [`MONEY_PATTERN`] matches.
    pub fn parse(s: &str) -> Result<Kes, MoneyError> {
        if s.is_empty() {
            return Err(MoneyError::Empty);
        }
        if s.starts_with('-') {
            return Err(MoneyError::Negative);
        }
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

    /// Parses a JSON value that is either a number (`5`, `5.0`) or a string (`"5.00"`).
    pub fn from_json(v: &serde_json::Value) -> Result<Kes, MoneyError> {
        match v {
            serde_json::Value::String(s) => Kes::parse(s),
            serde_json::Value::Number(n) => {
                if let Some(u) = n.as_u64() {
                    i64::try_from(u)
                        .map_err(|_| MoneyError::TooLarge)
                        .and_then(Kes::new)
                } else if let Some(i) = n.as_i64() {
                    Kes::new(i)
                } else {
                    Kes::from_f64(n.as_f64().unwrap_or(f64::NAN))
                }
            }
            _ => Err(MoneyError::Malformed),
        }
    }

    /// A JSON number with a fraction part (`5.0`): whole values only. JSON Schema calls
    /// `5.0` an integer, and so do we.
    fn from_f64(f: f64) -> Result<Kes, MoneyError> {
        if !f.is_finite() {
            return Err(MoneyError::Malformed);
        }
        if f.fract() != 0.0 {
            return Err(MoneyError::Fractional);
        }
        if f < 0.0 {
            return Err(MoneyError::Negative);
        }
        if f > MAX_SHILLINGS as f64 {
            return Err(MoneyError::TooLarge);
        }
        Ok(Kes(f as i64))
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

/// The decimal strings [`Kes::parse`] accepts: digits (any leading zeros), an optional
/// fraction of zeros, at most 10^12.
pub const MONEY_PATTERN: &str = r"^0*([0-9]{1,12}|1000000000000)(\.0+)?$";
/// The same without zero.
pub const POSITIVE_MONEY_PATTERN: &str = r"^0*([1-9][0-9]{0,11}|1000000000000)(\.0+)?$";

super::schema::schema_of!(
    Kes,
    "Money",
    super::schema::either(
        "Whole Kenya shillings, 0 to 10^12: a JSON integer (1500) or a decimal string with a zero fraction (\"1500.00\").",
        super::schema::integer("shillings", 0, MAX_SHILLINGS),
        super::schema::string("shillings as a decimal string").pattern(Some(MONEY_PATTERN)),
    )
);

/// An amount that must be more than zero (rent, a payment, a cost).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct PositiveKes(Kes);

impl PositiveKes {
    pub fn new(k: Kes) -> Result<PositiveKes, &'static str> {
        if k.is_zero() {
            Err("must be greater than zero")
        } else {
            Ok(PositiveKes(k))
        }
    }

    pub fn kes(self) -> Kes {
        self.0
    }

    pub fn shillings(self) -> i64 {
        self.0.shillings()
    }
}

impl<'de> Deserialize<'de> for PositiveKes {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        PositiveKes::new(Kes::deserialize(d)?).map_err(serde::de::Error::custom)
    }
}

super::schema::schema_of!(
    PositiveKes,
    "PositiveMoney",
    super::schema::either(
        "Whole Kenya shillings, 1 to 10^12: a JSON integer (1500) or a decimal string with a zero fraction (\"1500.00\").",
        super::schema::integer("shillings", 1, MAX_SHILLINGS),
        super::schema::string("shillings as a decimal string").pattern(Some(POSITIVE_MONEY_PATTERN)),
    )
);

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_daraja_amounts() {
        assert_eq!(Kes::parse("5.00"), Ok(Kes(5)));
        assert_eq!(Kes::parse("5"), Ok(Kes(5)));
        assert_eq!(Kes::parse("1500.0"), Ok(Kes(1500)));
        assert_eq!(Kes::parse(" 1500"), Err(MoneyError::Malformed));
        assert_eq!(Kes::parse("+5"), Err(MoneyError::Malformed));
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
        assert_eq!(Kes::from_json(&serde_json::json!(-0.0)), Ok(Kes(0)));
        assert_eq!(
            Kes::from_json(&serde_json::json!(1e12)),
            Ok(Kes(MAX_SHILLINGS))
        );
        assert_eq!(
            Kes::from_json(&serde_json::json!(1e13)),
            Err(MoneyError::TooLarge)
        );
        // Messages say what is wanted, whole (no value was ever quoted in them).
        assert!(MoneyError::Malformed.to_string().ends_with("1500.00"));
    }

    proptest! {
        #[test]
        fn whole_amounts_round_trip(v in 0i64..=MAX_SHILLINGS, zeros in 0usize..4) {
            let text = if zeros == 0 { v.to_string() } else { format!("{v}.{}", "0".repeat(zeros)) };
            prop_assert_eq!(Kes::parse(&text), Ok(Kes(v)));
        }

        #[test]
        fn the_pattern_matches_exactly_what_parses(text in "[0-9+. -]{0,16}") {
            let re = |p: &str| regex::Regex::new(p).unwrap().is_match(&text);
            prop_assert_eq!(re(MONEY_PATTERN), Kes::parse(&text).is_ok(), "{}", text);
            prop_assert_eq!(
                re(POSITIVE_MONEY_PATTERN),
                Kes::parse(&text).is_ok_and(|k| !k.is_zero()),
                "{}", text
            );
        }

        #[test]
        fn any_nonzero_fraction_is_rejected(v in 0i64..1_000_000, frac in 1u32..100) {
            let text = format!("{v}.{frac:02}");
            prop_assert_eq!(Kes::parse(&text), Err(MoneyError::Fractional));
        }
    }
}
