//! Billing periods `YYYY-MM`.

use chrono::{DateTime, Datelike, FixedOffset, NaiveDate, TimeZone, Utc};
use std::fmt;

/// East Africa Time (UTC+3, no daylight saving): the business day of a Kenyan landlord.
/// Reports put a payment in the month and day of its EAT time.
pub fn eat() -> FixedOffset {
    FixedOffset::east_opt(3 * 3600).expect("valid offset")
}

/// The instant a day starts in EAT.
pub fn eat_day_start(day: NaiveDate) -> DateTime<Utc> {
    eat()
        .from_local_datetime(&day.and_hms_opt(0, 0, 0).expect("midnight"))
        .single()
        .expect("fixed offset is unambiguous")
        .with_timezone(&Utc)
}

/// Today's date in EAT.
pub fn eat_today() -> NaiveDate {
    Utc::now().with_timezone(&eat()).date_naive()
}
use std::str::FromStr;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Period {
    year: i32,
    month: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("must be a period YYYY-MM, e.g. 2026-11")]
pub struct PeriodError;

impl Period {
    pub fn new(year: i32, month: u32) -> Result<Period, PeriodError> {
        if !(2000..=2999).contains(&year) || !(1..=12).contains(&month) {
            return Err(PeriodError);
        }
        Ok(Period { year, month })
    }

    pub fn of(date: NaiveDate) -> Period {
        Period {
            year: date.year(),
            month: date.month(),
        }
    }

    pub fn first_day(self) -> NaiveDate {
        NaiveDate::from_ymd_opt(self.year, self.month, 1).expect("valid period")
    }

    pub fn last_day(self) -> NaiveDate {
        self.next().first_day().pred_opt().expect("valid date")
    }

    pub fn next(self) -> Period {
        if self.month == 12 {
            Period {
                year: self.year + 1,
                month: 1,
            }
        } else {
            Period {
                year: self.year,
                month: self.month + 1,
            }
        }
    }

    /// Number of days in the period.
    pub fn days(self) -> i64 {
        (self.next().first_day() - self.first_day()).num_days()
    }

    /// The instant the period starts (its first day, 00:00 EAT).
    pub fn starts_at(self) -> DateTime<Utc> {
        eat_day_start(self.first_day())
    }

    /// The instant the period ends, exclusive (the next period's start).
    pub fn ends_at(self) -> DateTime<Utc> {
        self.next().starts_at()
    }

    /// Days of the period covered by `[start, end]` (inclusive; `end` None = open-ended).
    pub fn overlap_days(self, start: NaiveDate, end: Option<NaiveDate>) -> i64 {
        let from = start.max(self.first_day());
        let to = end.map_or(self.last_day(), |e| e.min(self.last_day()));
        if to < from {
            0
        } else {
            (to - from).num_days() + 1
        }
    }

    /// The due date for a lease whose rent is due on `due_day` (1–28, valid in every month).
    pub fn due_date(self, due_day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(self.year, self.month, due_day.clamp(1, 28)).expect("valid day")
    }
}

impl FromStr for Period {
    type Err = PeriodError;
    fn from_str(s: &str) -> Result<Period, PeriodError> {
        let (y, m) = s.split_once('-').ok_or(PeriodError)?;
        if y.len() != 4 || m.len() != 2 || !y.bytes().chain(m.bytes()).all(|b| b.is_ascii_digit()) {
            return Err(PeriodError);
        }
        Period::new(
            y.parse().map_err(|_| PeriodError)?,
            m.parse().map_err(|_| PeriodError)?,
        )
    }
}

impl fmt::Display for Period {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}", self.year, self.month)
    }
}

impl<'de> serde::Deserialize<'de> for Period {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

impl serde::Serialize for Period {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// The periods [`Period`] accepts: years 2000–2999, months 01–12.
pub const PERIOD_PATTERN: &str = r"^2[0-9]{3}-(?:0[1-9]|1[0-2])$";

super::schema::schema_of!(
    Period,
    "Period",
    super::schema::string("A month, YYYY-MM (years 2000–2999).")
        .pattern(Some(PERIOD_PATTERN))
        .examples(["2026-02"])
        .into()
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_bounds() {
        let p: Period = "2026-02".parse().unwrap();
        assert_eq!(p.first_day(), NaiveDate::from_ymd_opt(2026, 2, 1).unwrap());
        assert_eq!(p.last_day(), NaiveDate::from_ymd_opt(2026, 2, 28).unwrap());
        assert_eq!(
            "2026-12".parse::<Period>().unwrap().next().to_string(),
            "2027-01"
        );
        assert_eq!(p.days(), 28);
        assert_eq!(p.starts_at().to_rfc3339(), "2026-01-31T21:00:00+00:00");
        assert_eq!(p.ends_at().to_rfc3339(), "2026-02-28T21:00:00+00:00");
        let d = |m, day| NaiveDate::from_ymd_opt(2026, m, day).unwrap();
        assert_eq!(p.overlap_days(d(1, 1), None), 28);
        assert_eq!(p.overlap_days(d(2, 15), None), 14);
        assert_eq!(p.overlap_days(d(1, 1), Some(d(2, 10))), 10);
        assert_eq!(p.overlap_days(d(3, 1), None), 0);
        assert_eq!(p.overlap_days(d(1, 1), Some(d(1, 31))), 0);
        for bad in [
            "2026-13", "2026-1", "26-01", "2026/01", "", "+202-01", " 2026-01",
        ] {
            assert!(bad.parse::<Period>().is_err(), "{bad}");
        }
    }
}
