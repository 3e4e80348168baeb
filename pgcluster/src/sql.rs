//! Async SQL helpers (sqlx) for readiness, roles, replication state and LSN arithmetic.

use std::time::{Duration, Instant};

use sqlx::postgres::PgConnection;
use sqlx::{Connection, Row};

use crate::error::PgError;

/// How long one connection attempt may take (a SIGSTOPped server accepts TCP and then hangs).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// One standby as the primary sees it in `pg_stat_replication`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReplicationInfo {
    /// The standby's `application_name`.
    pub application_name: String,
    /// `startup`, `catchup`, `streaming`, `backup` or `stopping`.
    pub state: String,
    /// `async`, `potential`, `sync` or `quorum`.
    pub sync_state: String,
    /// Last WAL position sent, `X/Y`.
    pub sent_lsn: Option<String>,
    /// Last WAL position replayed on the standby, `X/Y`.
    pub replay_lsn: Option<String>,
    /// Bytes between the primary's current WAL position and `replay_lsn`.
    pub replay_lag_bytes: Option<i64>,
}

/// `url` without a password, for messages.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let userinfo = &url[scheme + 3..at];
            match userinfo.find(':') {
                Some(colon) => format!(
                    "{}{}:***{}",
                    &url[..scheme + 3],
                    &userinfo[..colon],
                    &url[at..]
                ),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

pub(crate) fn sql_err(url: &str, what: &str) -> impl FnOnce(sqlx::Error) -> PgError {
    let target = format!("{} ({what})", redact(url));
    move |source| PgError::Sql { target, source }
}

pub(crate) async fn connect(url: &str) -> Result<PgConnection, PgError> {
    match tokio::time::timeout(CONNECT_TIMEOUT, PgConnection::connect(url)).await {
        Ok(result) => result.map_err(sql_err(url, "connect")),
        Err(_) => Err(PgError::Timeout {
            what: format!("connecting to {}", redact(url)),
            after: CONNECT_TIMEOUT,
        }),
    }
}

/// Connects, runs `f`, closes.
async fn with_conn<T>(
    url: &str,
    what: &str,
    f: impl for<'c> FnOnce(
        &'c mut PgConnection,
    ) -> std::pin::Pin<
        Box<dyn std::future::Future<Output = Result<T, sqlx::Error>> + Send + 'c>,
    >,
) -> Result<T, PgError> {
    let mut conn = connect(url).await?;
    let result = f(&mut conn).await.map_err(sql_err(url, what));
    let _ = conn.close().await;
    result
}

/// True when the server at `url` is a standby (`pg_is_in_recovery()`).
pub async fn is_in_recovery(url: &str) -> Result<bool, PgError> {
    with_conn(url, "pg_is_in_recovery", |c| {
        Box::pin(async move {
            sqlx::query_scalar::<_, bool>("SELECT pg_is_in_recovery()")
                .fetch_one(c)
                .await
        })
    })
    .await
}

/// Retries connecting and `SELECT 1` until it works or `timeout` passes; the error then
/// names the last failure.
pub async fn wait_ready(url: &str, timeout: Duration) -> Result<(), PgError> {
    let started = Instant::now();
    let mut last_error;
    loop {
        let attempt = with_conn(url, "SELECT 1", |c| {
            Box::pin(async move { sqlx::query("SELECT 1").execute(c).await.map(|_| ()) })
        });
        let left = timeout.saturating_sub(started.elapsed());
        match tokio::time::timeout(left.max(Duration::from_millis(1)), attempt).await {
            Ok(Ok(())) => return Ok(()),
            Ok(Err(e)) => last_error = e.to_string(),
            Err(_) => last_error = "attempt did not finish".to_string(),
        }
        if started.elapsed() >= timeout {
            return Err(PgError::Timeout {
                what: format!(
                    "waiting for {} to accept queries (last error: {last_error})",
                    redact(url)
                ),
                after: timeout,
            });
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The standbys connected to the primary at `url` (`pg_stat_replication`).
pub async fn replication_status(primary_url: &str) -> Result<Vec<ReplicationInfo>, PgError> {
    let rows = with_conn(primary_url, "pg_stat_replication", |c| {
        Box::pin(async move {
            sqlx::query(
                "SELECT coalesce(application_name, '') AS application_name, \
                        coalesce(state, '') AS state, \
                        coalesce(sync_state, '') AS sync_state, \
                        sent_lsn::text AS sent_lsn, replay_lsn::text AS replay_lsn, \
                        CASE WHEN pg_is_in_recovery() OR replay_lsn IS NULL THEN NULL \
                             ELSE pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn)::bigint \
                        END AS replay_lag_bytes \
                 FROM pg_stat_replication ORDER BY application_name",
            )
            .fetch_all(c)
            .await
        })
    })
    .await?;
    rows.iter()
        .map(|r| {
            Ok(ReplicationInfo {
                application_name: r.try_get("application_name")?,
                state: r.try_get("state")?,
                sync_state: r.try_get("sync_state")?,
                sent_lsn: r.try_get("sent_lsn")?,
                replay_lsn: r.try_get("replay_lsn")?,
                replay_lag_bytes: r.try_get("replay_lag_bytes")?,
            })
        })
        .collect::<Result<_, sqlx::Error>>()
        .map_err(sql_err(primary_url, "reading pg_stat_replication"))
}

/// The server's WAL position `X/Y`: on a primary `pg_current_wal_lsn()`, on a standby
/// the last replayed position (a standby writes no WAL of its own).
pub async fn current_wal_lsn(url: &str) -> Result<String, PgError> {
    with_conn(url, "current WAL LSN", |c| {
        Box::pin(async move {
            sqlx::query_scalar::<_, String>(
                "SELECT (CASE WHEN pg_is_in_recovery() THEN pg_last_wal_replay_lsn() \
                         ELSE pg_current_wal_lsn() END)::text",
            )
            .fetch_one(c)
            .await
        })
    })
    .await
}

/// The last WAL position replayed by the standby at `url` (`None` on a primary that was
/// never a standby).
pub async fn last_replay_lsn(url: &str) -> Result<Option<String>, PgError> {
    with_conn(url, "pg_last_wal_replay_lsn", |c| {
        Box::pin(async move {
            sqlx::query_scalar::<_, Option<String>>("SELECT pg_last_wal_replay_lsn()::text")
                .fetch_one(c)
                .await
        })
    })
    .await
}

/// Creates the physical replication slot `slot` (reserving WAL at once) on the server at
/// `url` unless it exists. Returns true when it was created.
pub async fn ensure_physical_slot(url: &str, slot: &str) -> Result<bool, PgError> {
    let slot = slot.to_string();
    with_conn(url, "creating a replication slot", move |c| {
        Box::pin(async move {
            let exists: bool = sqlx::query_scalar(
                "SELECT EXISTS (SELECT 1 FROM pg_replication_slots WHERE slot_name = $1)",
            )
            .bind(&slot)
            .fetch_one(&mut *c)
            .await?;
            if exists {
                return Ok(false);
            }
            sqlx::query("SELECT pg_create_physical_replication_slot($1, true)")
                .bind(&slot)
                .execute(&mut *c)
                .await?;
            Ok(true)
        })
    })
    .await
}

/// Drops the replication slot `slot` on the server at `url` if it exists (an inactive
/// slot of a standby that is gone retains WAL forever). Returns true when it was dropped.
pub async fn drop_slot(url: &str, slot: &str) -> Result<bool, PgError> {
    let slot = slot.to_string();
    with_conn(url, "dropping a replication slot", move |c| {
        Box::pin(async move {
            let exists: bool = sqlx::query_scalar(
                "SELECT EXISTS (SELECT 1 FROM pg_replication_slots WHERE slot_name = $1)",
            )
            .bind(&slot)
            .fetch_one(&mut *c)
            .await?;
            if !exists {
                return Ok(false);
            }
            sqlx::query("SELECT pg_drop_replication_slot($1)")
                .bind(&slot)
                .execute(&mut *c)
                .await?;
            Ok(true)
        })
    })
    .await
}

/// Parses a PostgreSQL LSN `X/Y` (hex halves) into a byte position.
pub fn parse_lsn(lsn: &str) -> Result<u64, PgError> {
    let bad = || PgError::Parse {
        what: "LSN".into(),
        detail: format!("{lsn:?} is not of the form X/Y (hex)"),
    };
    let (hi, lo) = lsn.trim().split_once('/').ok_or_else(bad)?;
    let hi = u32::from_str_radix(hi, 16).map_err(|_| bad())?;
    let lo = u32::from_str_radix(lo, 16).map_err(|_| bad())?;
    Ok((u64::from(hi) << 32) | u64::from(lo))
}

/// Formats a byte position as an LSN `X/Y`.
pub fn format_lsn(pos: u64) -> String {
    format!("{:X}/{:X}", pos >> 32, pos & 0xFFFF_FFFF)
}

/// `a - b` in bytes (negative when `a` is behind `b`), like `pg_wal_lsn_diff(a, b)`.
pub fn lsn_diff_bytes(a: &str, b: &str) -> Result<i64, PgError> {
    let (a, b) = (parse_lsn(a)?, parse_lsn(b)?);
    Ok(i128::from(a)
        .saturating_sub(i128::from(b))
        .clamp(i64::MIN as i128, i64::MAX as i128) as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lsn_parsing() {
        assert_eq!(parse_lsn("0/0").unwrap(), 0);
        assert_eq!(parse_lsn("0/16B3748").unwrap(), 0x16B3748);
        assert_eq!(parse_lsn("1/0").unwrap(), 1 << 32);
        assert_eq!(parse_lsn("A/ff").unwrap(), (10 << 32) | 0xff);
        assert!(parse_lsn("16B3748").is_err());
        assert!(parse_lsn("x/1").is_err());
        assert_eq!(format_lsn(parse_lsn("3/1A2B").unwrap()), "3/1A2B");
    }

    #[test]
    fn lsn_diffs() {
        assert_eq!(lsn_diff_bytes("0/100", "0/80").unwrap(), 0x80);
        assert_eq!(lsn_diff_bytes("0/80", "0/100").unwrap(), -0x80);
        assert_eq!(lsn_diff_bytes("1/0", "0/FFFFFFFF").unwrap(), 1);
    }

    #[test]
    fn redacts_passwords() {
        assert_eq!(
            redact("postgres://u:secret@h:1/db"),
            "postgres://u:***@h:1/db"
        );
        assert_eq!(redact("postgres://u@h:1/db"), "postgres://u@h:1/db");
    }
}
