//! Cursor pagination, newest first. The cursor is the `seq` of the last row returned, so a
//! page boundary is stable while rows are inserted between requests.

use crate::error::ApiError;
use serde::{Deserialize, Serialize};

#[derive(Debug, Deserialize, Default, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// Page size, 1–200 (default 50).
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

pub const DEFAULT_LIMIT: i64 = 50;
pub const MAX_LIMIT: i64 = 200;

impl PageQuery {
    /// (limit, seq upper bound exclusive)
    pub fn bounds(&self) -> Result<(i64, i64), ApiError> {
        let limit = self.limit.unwrap_or(DEFAULT_LIMIT);
        if !(1..=MAX_LIMIT).contains(&limit) {
            return Err(ApiError::field(
                "limit",
                format!("must be between 1 and {MAX_LIMIT}"),
            ));
        }
        let before =
            match &self.cursor {
                None => i64::MAX,
                Some(c) => c.parse::<i64>().ok().filter(|v| *v > 0).ok_or_else(|| {
                    ApiError::field("cursor", "not a cursor returned by this API")
                })?,
            };
        Ok((limit, before))
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
