//! SQL (sqlx, PostgreSQL), one module per aggregate. Every query is scoped by landlord.
//! Functions take a connection so handlers decide the transaction boundary (one per write).

pub mod audit;
pub mod expenses;
pub mod landlords;
pub mod ledger;
pub mod maintenance;
pub mod page;
pub mod payments;
pub mod rentals;
pub mod reports;

pub use page::{Page, PageQuery};
