//! Dates and times as clients and Daraja write them, parsed strictly so the document's
//! formats and patterns are exactly what the server accepts.

use chrono::{DateTime, FixedOffset, NaiveDate, NaiveDateTime, TimeZone, Utc};
use serde::Deserialize;

/// A calendar day `YYYY-MM-DD` (RFC 3339 full-date).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Day(pub NaiveDate);

impl Day {
    pub fn parse(s: &str) -> Option<Day> {
        let b = s.as_bytes();
        let shape = b.len() == 10
            && b[4] == b'-'
            && b[7] == b'-'
            && b.iter()
                .enumerate()
                .all(|(i, c)| i == 4 || i == 7 || c.is_ascii_digit());
        if !shape {
            return None;
        }
        let n = |r: std::ops::Range<usize>| s[r].parse::<u32>().ok();
        NaiveDate::from_ymd_opt(n(0..4)? as i32, n(5..7)?, n(8..10)?).map(Day)
    }
}

impl<'de> Deserialize<'de> for Day {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        Day::parse(&s).ok_or_else(|| serde::de::Error::custom("must be a date YYYY-MM-DD"))
    }
}

super::schema::schema_of!(
    Day,
    "Date",
    super::schema::string("A calendar day, YYYY-MM-DD.")
        .format(Some(utoipa::openapi::SchemaFormat::KnownFormat(
            utoipa::openapi::KnownFormat::Date
        )))
        .pattern(Some(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"))
        .into()
);

/// An instant, RFC 3339 (`2026-02-10T10:00:00Z`, `2026-02-10T13:00:00+03:00`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Instant(pub DateTime<Utc>);

impl<'de> Deserialize<'de> for Instant {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        let b = s.as_bytes();
        // RFC 3339 only: `T` between date and time (chrono also takes a space).
        if b.len() < 20 || !matches!(b[10], b'T' | b't') {
            return Err(serde::de::Error::custom(
                "must be a date-time such as 2026-02-10T10:00:00Z",
            ));
        }
        DateTime::parse_from_rfc3339(&s)
            .map(|t| Instant(t.with_timezone(&Utc)))
            .map_err(|_| {
                serde::de::Error::custom("must be a date-time such as 2026-02-10T10:00:00Z")
            })
    }
}

super::schema::schema_of!(
    Instant,
    "DateTime",
    super::schema::string("An instant, RFC 3339, e.g. 2026-02-10T10:00:00Z.")
        .format(Some(utoipa::openapi::SchemaFormat::KnownFormat(
            utoipa::openapi::KnownFormat::DateTime
        )))
        .into()
);

/// Daraja's timestamps: `YYYYMMDDHHmmss`, East Africa Time. The pattern is the exact
/// Gregorian calendar (month lengths, leap years), so it accepts what [`daraja_time`] does.
pub const DARAJA_TIME_PATTERN: &str = concat!(
    "^(?:[0-9]{4}(?:(?:0[13578]|1[02])(?:0[1-9]|[12][0-9]|3[01])|(?:0[469]|11)(?:0[1-9]|[12][0-9]|30)",
    "|02(?:0[1-9]|1[0-9]|2[0-8]))|(?:[0-9]{2}(?:0[48]|[2468][048]|[13579][26])|(?:[02468][048]|[13579][26])00)0229)",
    "(?:[01][0-9]|2[0-3])[0-5][0-9][0-5][0-9]$"
);

/// Parses a Daraja timestamp (`20260205093000`, EAT) to UTC.
pub fn daraja_time(s: &str) -> Option<DateTime<Utc>> {
    if s.len() != 14 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n = |r: std::ops::Range<usize>| s[r].parse::<u32>().ok();
    let date = NaiveDate::from_ymd_opt(n(0..4)? as i32, n(4..6)?, n(6..8)?)?;
    let naive: NaiveDateTime = date.and_hms_opt(n(8..10)?, n(10..12)?, n(12..14)?)?;
    let eat = FixedOffset::east_opt(3 * 3600).expect("valid offset");
    Some(
        eat.from_local_datetime(&naive)
            .single()
            .expect("fixed offset is unambiguous")
            .with_timezone(&Utc),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn days_and_daraja_times() {
        assert!(Day::parse("2026-02-28").is_some());
        for bad in ["2026-02-30", "2026-2-5", "+2026-01-01", "2026-01-01 ", ""] {
            assert!(Day::parse(bad).is_none(), "{bad}");
        }
        assert!(daraja_time("20260205093000").is_some());
        assert!(daraja_time("20240229235959").is_some());
        for bad in [
            "20250229000000",
            "20260205093060",
            "2026020509300",
            "2026-02-05",
        ] {
            assert!(daraja_time(bad).is_none(), "{bad}");
        }
    }

    proptest! {
        #[test]
        fn the_daraja_pattern_is_the_parser(y in 0u32..10000, mo in 0u32..14, d in 0u32..33,
                                            h in 0u32..25, mi in 0u32..61, s in 0u32..61) {
            let t = format!("{y:04}{mo:02}{d:02}{h:02}{mi:02}{s:02}");
            let re = regex::Regex::new(DARAJA_TIME_PATTERN).unwrap();
            prop_assert_eq!(re.is_match(&t), daraja_time(&t).is_some(), "{}", t);
        }
    }
}
