//! Pure domain logic: no I/O. Values are parsed at the edge into these types so handlers
//! never validate raw strings.

pub mod allocation;
pub mod money;
pub mod period;
pub mod phone;

pub use allocation::{allocate, Allocation, OpenInvoice};
pub use money::{Kes, MoneyError};
pub use period::Period;
pub use phone::Msisdn;
