//! Kenyan mobile numbers (MSISDN), normalised to `2547XXXXXXXX` / `2541XXXXXXXX`.
//! A phone number is personal data: its `Debug` is redacted and errors never echo it.

use serde::{Deserialize, Serialize};
use std::fmt;

#[derive(Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct Msisdn(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("must be a Kenyan mobile number such as 0712345678, +254712345678 or 254112345678")]
pub struct PhoneError;

impl Msisdn {
    pub fn parse(raw: &str) -> Result<Msisdn, PhoneError> {
        let digits: String = raw
            .chars()
            .filter(|c| !matches!(c, ' ' | '-' | '(' | ')'))
            .collect();
        let digits = digits.strip_prefix('+').unwrap_or(&digits);
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(PhoneError);
        }
        let national = if let Some(rest) = digits.strip_prefix("254") {
            rest
        } else if let Some(rest) = digits.strip_prefix('0') {
            rest
        } else {
            digits
        };
        if national.len() != 9 || !(national.starts_with('7') || national.starts_with('1')) {
            return Err(PhoneError);
        }
        Ok(Msisdn(format!("254{national}")))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Msisdn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Msisdn(<redacted>)")
    }
}

impl<'de> Deserialize<'de> for Msisdn {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        // Deserialize through `Value` so a wrong JSON type does not produce serde's
        // "invalid type: integer `0712…`" message, which would echo the number.
        let v = serde_json::Value::deserialize(d)?;
        match v {
            serde_json::Value::String(s) => Msisdn::parse(&s).map_err(serde::de::Error::custom),
            _ => Err(serde::de::Error::custom(PhoneError)),
        }
    }
}

/// The numbers [`Msisdn::parse`] accepts: optional `+`, spaces, dashes and parentheses
/// anywhere, then 254, 0 or nothing before 9 digits starting with 7 or 1.
pub const MSISDN_PATTERN: &str =
    r"^[ ()-]*(?:\+[ ()-]*)?(?:2[ ()-]*5[ ()-]*4[ ()-]*|0[ ()-]*)?[71](?:[ ()-]*[0-9]){8}[ ()-]*$";

super::schema::schema_of!(
    Msisdn,
    "Msisdn",
    super::schema::string(
        "A Kenyan mobile number (0712345678, +254712345678, 254112345678; spaces, dashes and parentheses are ignored); stored as 2547…/2541…. Personal data: never echoed in errors."
    )
    .pattern(Some(MSISDN_PATTERN))
    .into()
);

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn the_pattern_is_the_parser(s in "[0-9 ()+-]{0,16}") {
            let re = regex::Regex::new(MSISDN_PATTERN).unwrap();
            prop_assert_eq!(re.is_match(&s), Msisdn::parse(&s).is_ok(), "{}", s);
        }
    }

    use super::*;

    #[test]
    fn normalises_common_forms() {
        for raw in [
            "0712345678",
            "+254712345678",
            "254712345678",
            "712345678",
            "0712 345-678",
        ] {
            assert_eq!(
                Msisdn::parse(raw).unwrap().as_str(),
                "254712345678",
                "{raw}"
            );
        }
        assert_eq!(
            Msisdn::parse("0112345678").unwrap().as_str(),
            "254112345678"
        );
    }

    #[test]
    fn rejects_non_kenyan_mobile() {
        for raw in [
            "",
            "12345",
            "0212345678",
            "07123456789",
            "+1 415 555 0100",
            "07x2345678",
        ] {
            assert!(Msisdn::parse(raw).is_err(), "{raw}");
        }
    }

    #[test]
    fn debug_is_redacted() {
        let m = Msisdn::parse("0712345678").unwrap();
        assert!(!format!("{m:?}").contains("712345678"));
    }
}
