//! The one place errors become exit codes (documented in the README):
//! 0 ok · 1 degraded / objective missed / failed · 2 down / invalid input ·
//! 3 refused (preflight, lock, no confirmation) · 4 interrupted operation (resume it).

use std::fmt;

pub const EXIT_OK: i32 = 0;
pub const EXIT_DEGRADED: i32 = 1;
pub const EXIT_FAILED: i32 = 1;
pub const EXIT_DOWN: i32 = 2;
pub const EXIT_INVALID: i32 = 2;
pub const EXIT_REFUSED: i32 = 3;
pub const EXIT_INTERRUPTED: i32 = 4;

pub struct CliError {
    pub code: i32,
    pub error: anyhow::Error,
}

impl CliError {
    pub fn new(code: i32, error: impl Into<anyhow::Error>) -> CliError {
        CliError {
            code,
            error: error.into(),
        }
    }
    pub fn invalid(msg: impl fmt::Display) -> CliError {
        CliError::new(EXIT_INVALID, anyhow::anyhow!("{msg}"))
    }
    pub fn refused(error: impl Into<anyhow::Error>) -> CliError {
        CliError::new(EXIT_REFUSED, error)
    }
}

impl<E: Into<anyhow::Error>> From<E> for CliError {
    fn from(e: E) -> CliError {
        CliError::new(EXIT_FAILED, e)
    }
}

pub type CliResult<T = i32> = Result<T, CliError>;
