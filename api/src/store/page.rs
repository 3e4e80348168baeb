//! Cursor pagination, newest first. The cursor is the `seq` of the last row returned, so a
//! page boundary is stable while rows are inserted between requests.

use serde::{Deserialize, Serialize};

pub const DEFAULT_LIMIT: i64 = 50;
pub const MAX_LIMIT: i64 = 200;

/// A page size, 1–200 (query strings carry it as text).
#[derive(Debug, Clone, Copy)]
pub struct Limit(pub i64);

impl<'de> Deserialize<'de> for Limit {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        const WHY: &str = "must be an integer between 1 and 200";
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        match s.parse::<i64>() {
            Ok(v) if (1..=MAX_LIMIT).contains(&v) && !s.starts_with('+') => Ok(Limit(v)),
            _ => Err(serde::de::Error::custom(WHY)),
        }
    }
}

crate::domain::schema::schema_of!(
    Limit,
    "Limit",
    crate::domain::schema::integer("Page size, 1–200 (default 50).", 1, MAX_LIMIT).into()
);

/// `next_cursor` of a previous page: a positive integer of at most 18 digits.
#[derive(Debug, Clone, Copy)]
pub struct Cursor(pub i64);

impl Cursor {
    pub const PATTERN: &'static str = "^[1-9][0-9]{0,17}$";
}

impl<'de> Deserialize<'de> for Cursor {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        let ok = (1..=18).contains(&s.len())
            && !s.starts_with('0')
            && s.bytes().all(|b| b.is_ascii_digit());
        match s.parse::<i64>() {
            Ok(v) if ok => Ok(Cursor(v)),
            _ => Err(serde::de::Error::custom(
                "must be a cursor returned by this API (next_cursor)",
            )),
        }
    }
}

crate::domain::schema::schema_of!(
    Cursor,
    "Cursor",
    crate::domain::schema::string("`next_cursor` of the previous page.")
        .pattern(Some(Cursor::PATTERN))
        .into()
);

/// The page parameters every list takes.
#[derive(Debug, Deserialize, Default, Clone, Copy, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// Page size, 1–200 (default 50).
    pub limit: Option<Limit>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<Cursor>,
}

/// Where a page starts: at most `limit` rows with `seq < before`.
#[derive(Debug, Clone, Copy)]
pub struct PageBounds {
    pub limit: i64,
    pub before: i64,
}

impl PageQuery {
    pub fn bounds(&self) -> PageBounds {
        PageBounds {
            limit: self.limit.map_or(DEFAULT_LIMIT, |l| l.0),
            before: self.cursor.map_or(i64::MAX, |c| c.0),
        }
    }
}

/// One page of a list, newest first.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// Pass as `cursor` to get the next (older) page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

impl<T> Page<T> {
    /// `rows` were fetched with `limit + 1` to learn whether another page exists.
    pub fn from_rows(mut rows: Vec<(i64, T)>, limit: i64) -> Page<T> {
        let more = rows.len() as i64 > limit;
        rows.truncate(limit as usize);
        let next_cursor = if more {
            rows.last().map(|(seq, _)| seq.to_string())
        } else {
            None
        };
        Page {
            items: rows.into_iter().map(|(_, t)| t).collect(),
            next_cursor,
        }
    }
}
