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

pub mod health;

pub use page::{Page, PageQuery};

/// Makes the transaction read-only, seeing one snapshot.
pub async fn read_only_snapshot(c: &mut sqlx::PgConnection) -> Result<(), sqlx::Error> {
    sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
        .execute(c)
        .await?;
    Ok(())
}
