//! The local stack as the autopilot sees it: each region's PostgreSQL through the witness
//! link (the witness's own path) and through the replication link (the other region's
//! path), over persistent connections so a probe costs one query, not a login. A probe
//! that errors or takes longer than the timeout has failed; its connection is dropped.

use super::LocalProvider;
use crate::devstack::stack::{Stack, REGIONS};
use crate::provider::vantage::*;
use crate::provider::*;
use sqlx::Connection;
use std::collections::HashMap;

pub struct LocalVantage {
    st: Stack,
    timeout: Duration,
    conns: HashMap<String, sqlx::PgConnection>,
    state_dir: std::path::PathBuf,
}

impl LocalProvider {
    pub(super) fn local_vantage(&self, timeout: Duration) -> Result<LocalVantage, ProviderError> {
        Ok(LocalVantage {
            st: self.stack()?,
            timeout,
            conns: HashMap::new(),
            state_dir: self.dir.clone(),
        })
    }
}

/// What the witness learns from a region it reaches.
#[derive(Debug, Clone, Default)]
struct Seen {
    in_recovery: bool,
    read_only: bool,
    lsn: Option<String>,
    recorded_writer: Option<String>,
}

const WITNESS_SQL: &str = "SELECT pg_is_in_recovery(),
        current_setting('default_transaction_read_only') = 'on',
        (CASE WHEN pg_is_in_recovery() THEN pg_last_wal_replay_lsn() ELSE pg_current_wal_lsn() END)::text,
        (SELECT writer_region FROM region_topology WHERE singleton)";

async fn probe(
    conn: Option<sqlx::PgConnection>,
    url: String,
    sql: &'static str,
    timeout: Duration,
    redact: impl Fn(&str) -> String,
) -> (Option<sqlx::PgConnection>, Result<Option<Seen>, String>) {
    let work = async move {
        let mut c = match conn {
            Some(c) => c,
            None => sqlx::PgConnection::connect(&url)
                .await
                .map_err(|e| redact(&chain(&e)))?,
        };
        let row: Result<(bool, bool, Option<String>, Option<String>), _> = if sql.is_empty() {
            sqlx::query_as("SELECT false, false, NULL::text, NULL::text")
                .fetch_one(&mut c)
                .await
        } else {
            sqlx::query_as(sql).fetch_one(&mut c).await
        };
        match row {
            Ok((in_recovery, read_only, lsn, recorded_writer)) => Ok((
                c,
                Seen {
                    in_recovery,
                    read_only,
                    lsn,
                    recorded_writer,
                },
            )),
            Err(e) => Err(redact(&chain(&e))),
        }
    };
    match tokio::time::timeout(timeout, work).await {
        Ok(Ok((c, seen))) => (Some(c), Ok(Some(seen))),
        Ok(Err(e)) => (None, Err(e)),
        Err(_) => (
            None,
            Err(format!("no answer within {} ms", timeout.as_millis())),
        ),
    }
}

#[async_trait]
impl Vantage for LocalVantage {
    async fn observe(&mut self, writer_hint: Option<&str>) -> Result<Observation, ProviderError> {
        let ports = self.st.spec().ports.clone();
        let st = self.st.clone();
        let timeout = self.timeout;
        let mut futs = Vec::new();
        for r in REGIONS {
            let witness_port = match ports.witness_to(r) {
                0 => ports.pg(r),
                p => p,
            };
            let peer_port = ports.link_to(r);
            for (key, port, sql) in [
                (format!("witness-{r}"), witness_port, WITNESS_SQL),
                (format!("peer-{r}"), peer_port, ""),
            ] {
                let conn = self.conns.remove(&key);
                let url = st.db_url_at(port);
                let st2 = st.clone();
                futs.push(async move {
                    let (c, res) = probe(conn, url, sql, timeout, move |m| st2.redact(m)).await;
                    (key, c, res)
                });
            }
        }
        let results = futures::future::join_all(futs).await;
        let mut seen: HashMap<String, Result<Option<Seen>, String>> = HashMap::new();
        for (key, c, res) in results {
            if let Some(c) = c {
                self.conns.insert(key.clone(), c);
            }
            seen.insert(key, res);
        }
        let reach = |key: &str| match seen.get(key) {
            Some(Ok(_)) => Reach::Up,
            Some(Err(why)) => Reach::Down { why: why.clone() },
            None => Reach::Down {
                why: "not probed".into(),
            },
        };
        let witness_seen = |r: &str| match seen.get(&format!("witness-{r}")) {
            Some(Ok(Some(s))) => Some(s.clone()),
            _ => None,
        };
        let entry = self.st.admin().state().await.ok();
        let regions: Vec<RegionView> = REGIONS
            .iter()
            .map(|r| RegionView {
                name: r.to_string(),
                witness: reach(&format!("witness-{r}")),
                from_peer: reach(&format!("peer-{r}")),
                in_recovery: witness_seen(r).map(|s| s.in_recovery),
                entry_healthy: entry
                    .as_ref()
                    .and_then(|n| n.health.iter().find(|h| h.region == *r).map(|h| h.healthy)),
            })
            .collect();
        let writers: Vec<&str> = REGIONS
            .iter()
            .copied()
            .filter(|r| witness_seen(r).is_some_and(|s| !s.in_recovery && !s.read_only))
            .collect();
        let recorded = REGIONS
            .iter()
            .filter_map(|r| witness_seen(r).and_then(|s| s.recorded_writer))
            .next();
        let writer = match writers.as_slice() {
            [w] => Some(w.to_string()),
            [] => writer_hint.map(String::from).or(recorded),
            _ => None,
        };
        let lag_bytes = writer.as_deref().and_then(|w| {
            let lsn = |r: &str| {
                witness_seen(r)
                    .and_then(|s| s.lsn)
                    .and_then(|l| pgcluster::parse_lsn(&l).ok())
            };
            let other = REGIONS.iter().find(|r| **r != w)?;
            Some(lsn(w)?.saturating_sub(lsn(other)?) as i64)
        });
        let operation = crate::lock::holder(&self.state_dir).map(|h| {
            format!(
                "pmctl pid {} is running `{}` (since {})",
                h.pid,
                h.operation,
                h.since.format("%H:%M:%S")
            )
        });
        Ok(Observation {
            regions,
            writer,
            lag_bytes,
            lag_ms: None,
            // pmctl controls every process of the local stack: a reachable writer is made
            // read-only and stopped, a hung one killed, and either way its data directory
            // is marked standby-only.
            fencing: Fencing::Possible,
            operation,
        })
    }
}
