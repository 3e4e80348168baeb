//! Values of properties, units, tenants and leases, parsed at the edge.

use serde::{Deserialize, Serialize};

/// What a property is let for. Monthly Rental Income tax applies to residential rent only.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Usage {
    #[default]
    Residential,
    Commercial,
}

impl Usage {
    pub fn as_str(self) -> &'static str {
        match self {
            Usage::Residential => "residential",
            Usage::Commercial => "commercial",
        }
    }
}

macro_rules! checked_string {
    ($(#[$m:meta])* $name:ident, $schema_name:literal, $pattern:expr, $why:literal, $norm:expr) => {
        $(#[$m])*
        #[derive(Clone, PartialEq, Eq)]
        pub struct $name(String);

        impl $name {
            pub const PATTERN: &'static str = $pattern;

            /// Accepts exactly the strings [`Self::PATTERN`] matches (tested).
            pub fn parse(s: &str) -> Option<$name> {
                Self::check(s).then(|| $name(($norm)(s)))
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        // Never echo the value (national IDs and phones are personal data).
        impl std::fmt::Debug for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(concat!(stringify!($name), "(<redacted>)"))
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                // Through `Value`: a wrong JSON type must not produce a message quoting it.
                match serde_json::Value::deserialize(d)? {
                    serde_json::Value::String(s) => {
                        $name::parse(&s).ok_or_else(|| serde::de::Error::custom($why))
                    }
                    _ => Err(serde::de::Error::custom($why)),
                }
            }
        }

        super::schema::schema_of!(
            $name,
            $schema_name,
            super::schema::string(concat!(stringify!($name), ": ", $why, "."))
                .pattern(Some($pattern))
                .into()
        );
    };
}
pub(crate) use checked_string;

checked_string!(
    /// A national ID or passport number: 5–20 letters or digits, stored upper case.
    NationalId,
    "NationalId",
    "^[A-Za-z0-9]{5,20}$",
    "must be 5 to 20 letters or digits",
    |s: &str| s.to_ascii_uppercase()
);

impl NationalId {
    fn check(s: &str) -> bool {
        (5..=20).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_alphanumeric())
    }
}

checked_string!(
    /// The M-Pesa account number tenants type for a unit: 1–20 letters, digits, spaces or
    /// dashes, starting and ending with a letter or digit. Matched trimmed and
    /// case-insensitively.
    AccountRef,
    "AccountRef",
    "^[A-Za-z0-9](?:[A-Za-z0-9 -]{0,18}[A-Za-z0-9])?$",
    "must be 1 to 20 letters, digits, spaces and dashes, starting and ending with a letter or digit",
    |s: &str| s.to_string()
);

impl AccountRef {
    fn check(s: &str) -> bool {
        let b = s.as_bytes();
        let inner = |c: &u8| c.is_ascii_alphanumeric() || *c == b' ' || *c == b'-';
        (1..=20).contains(&b.len())
            && b[0].is_ascii_alphanumeric()
            && b[b.len() - 1].is_ascii_alphanumeric()
            && b.iter().all(inner)
    }
}

checked_string!(
    /// A paybill or till number: 5 to 7 digits.
    Shortcode,
    "Shortcode",
    "^[0-9]{5,7}$",
    "must be a paybill/till number of 5 to 7 digits",
    |s: &str| s.to_string()
);

impl Shortcode {
    fn check(s: &str) -> bool {
        (5..=7).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit())
    }
}

/// The day of the month rent is due: 1–28, valid in every month.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DueDay(pub u32);

impl Default for DueDay {
    fn default() -> DueDay {
        DueDay(1)
    }
}

impl<'de> Deserialize<'de> for DueDay {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        const WHY: &str = "must be an integer between 1 and 28";
        match serde_json::Value::deserialize(d)? {
            serde_json::Value::Number(n) => match n.as_u64().or_else(|| {
                n.as_f64()
                    .filter(|f| f.fract() == 0.0 && *f >= 0.0)
                    .map(|f| f as u64)
            }) {
                Some(v @ 1..=28) => Ok(DueDay(v as u32)),
                _ => Err(serde::de::Error::custom(WHY)),
            },
            _ => Err(serde::de::Error::custom(WHY)),
        }
    }
}

super::schema::schema_of!(
    DueDay,
    "DueDay",
    super::schema::integer("The day of the month rent is due, 1–28.", 1, 28).into()
);

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn re(p: &str) -> regex::Regex {
        regex::Regex::new(p).unwrap()
    }

    proptest! {
        #[test]
        fn patterns_are_the_parsers(s in "[a-zA-Z0-9 _-]{0,24}") {
            prop_assert_eq!(re(NationalId::PATTERN).is_match(&s), NationalId::parse(&s).is_some());
            prop_assert_eq!(re(AccountRef::PATTERN).is_match(&s), AccountRef::parse(&s).is_some());
            prop_assert_eq!(re(Shortcode::PATTERN).is_match(&s), Shortcode::parse(&s).is_some());
        }
    }
}
