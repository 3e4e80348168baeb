//! What the database says about itself: its role, fencing, and the replicated topology row
//! pmctl maintains.

use sqlx::PgConnection;

/// (in recovery, read-only by default, (writer region, epoch)).
pub async fn db_facts(
    c: &mut PgConnection,
) -> Result<(bool, bool, Option<(String, i64)>), sqlx::Error> {
    let (in_recovery, read_only): (bool, String) = sqlx::query_as(
        "SELECT pg_is_in_recovery(), current_setting('default_transaction_read_only')",
    )
    .fetch_one(&mut *c)
    .await?;
    let topo: Option<(String, i64)> =
        sqlx::query_as("SELECT writer_region, epoch FROM region_topology WHERE singleton")
            .fetch_optional(&mut *c)
            .await
            .unwrap_or(None);
    Ok((in_recovery, read_only == "on", topo))
}

/// The writer region named in the topology row.
pub async fn writer_region(pool: &sqlx::PgPool) -> Result<Option<String>, sqlx::Error> {
    let r: Option<(String,)> =
        sqlx::query_as("SELECT writer_region FROM region_topology WHERE singleton")
            .fetch_optional(pool)
            .await?;
    Ok(r.map(|r| r.0))
}
