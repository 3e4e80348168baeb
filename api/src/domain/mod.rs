//! Pure domain logic: no I/O. Values are parsed at the edge into these types so handlers
//! never validate raw strings.

pub mod aging;
pub mod allocation;
pub mod maintenance;
pub mod money;
pub mod mpesa_statement;
pub mod period;
pub mod phone;
pub mod tax;

pub use allocation::{allocate, Allocation, OpenInvoice};
pub use money::{Kes, MoneyError};
pub use period::{eat, eat_day_start, eat_today, Period};
pub use phone::Msisdn;
