//! The provider for the local dev stack: PostgreSQL through `pgcluster` and SQL, the front
//! door and links through their admin API, the APIs over HTTP.

use super::*;
use crate::config::Rpo;
use crate::devstack::stack::{link_name, other_region, Stack, REGIONS};
use pgcluster::{Cluster, PgBin, PgError, ReplicaOptions, StopMode};
use std::time::Instant;

pub struct LocalProvider {
    pub stack: Stack,
    env: String,
    http: reqwest::Client,
}

const SQL_TIMEOUT: Duration = Duration::from_secs(1);

impl LocalProvider {
    pub fn new(env: &str, stack: Stack) -> LocalProvider {
        LocalProvider {
            stack,
            env: env.to_string(),
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(3))
                .build()
                .expect("http client"),
        }
    }

    fn check(&self, region: &str) -> Result<(), ProviderError> {
        if REGIONS.contains(&region) {
            Ok(())
        } else {
            Err(ProviderError::UnknownRegion(region.to_string()))
        }
    }

    fn cluster(&self, region: &str) -> Result<Cluster, ProviderError> {
        self.stack
            .cluster(region)
            .map_err(|e| ProviderError::region(region, e))
    }

    async fn blocking<T: Send + 'static>(
        region: &str,
        f: impl FnOnce() -> Result<T, PgError> + Send + 'static,
    ) -> Result<T, ProviderError> {
        tokio::task::spawn_blocking(f)
            .await
            .map_err(|e| ProviderError::region(region, e))?
            .map_err(|e| ProviderError::region(region, e))
    }

    async fn connect(&self, region: &str) -> Result<sqlx::PgConnection, ProviderError> {
        use sqlx::Connection;
        tokio::time::timeout(
            SQL_TIMEOUT,
            sqlx::PgConnection::connect(&self.stack.db_url(region)),
        )
        .await
        .map_err(|_| ProviderError::region(region, "database connection timed out"))?
        .map_err(|e| ProviderError::region(region, format!("database unreachable: {e}")))
    }

    async fn exec(&self, region: &str, sql: &str) -> Result<(), ProviderError> {
        let mut c = self.connect(region).await?;
        sqlx::query(sql)
            .execute(&mut c)
            .await
            .map_err(|e| ProviderError::region(region, e))?;
        Ok(())
    }

    async fn in_recovery(&self, region: &str) -> Result<bool, ProviderError> {
        let mut c = self.connect(region).await?;
        sqlx::query_scalar("SELECT pg_is_in_recovery()")
            .fetch_one(&mut c)
            .await
            .map_err(|e| ProviderError::region(region, e))
    }

    async fn api_ready(&self, region: &str) -> (bool, Option<String>) {
        match self
            .http
            .get(format!("{}/ready", self.stack.api_url(region)))
            .send()
            .await
        {
            Ok(r) => {
                let ok = r.status().is_success();
                let v: serde_json::Value = r.json().await.unwrap_or_default();
                (ok, v["version"].as_str().map(String::from))
            }
            Err(_) => (false, None),
        }
    }

    async fn region_state(&self, region: &str) -> RegionState {
        // Database and API concurrently: a hung region costs one timeout, not two.
        let db_url = self.stack.db_url(region);
        let (facts, (api_healthy, api_version)) = tokio::join!(
            crate::devstack::status::db_facts(&db_url),
            self.api_ready(region)
        );
        let topology = facts.topology.clone();
        let streaming = facts.receiving;
        RegionState {
            name: region.to_string(),
            api_healthy,
            api_version,
            db_role: if !facts.reachable {
                DbRole::Down
            } else if facts.in_recovery {
                DbRole::Replica
            } else if facts.read_only {
                DbRole::Fenced
            } else {
                DbRole::Writer
            },
            lsn: facts.lsn.clone(),
            lag_bytes: None,
            streaming,
            standbys: facts
                .replicas
                .iter()
                .map(|r| StandbyView {
                    name: r.application_name.clone(),
                    state: r.state.clone(),
                    sync_state: r.sync_state.clone(),
                    lag_bytes: r.lag_bytes,
                })
                .collect(),
            sync_standby_names: facts
                .sync_standby_names
                .clone()
                .filter(|_| !facts.in_recovery),
            topology,
            detail: facts.error.clone(),
        }
    }
}

fn lsn(s: &str) -> Option<u64> {
    pgcluster::parse_lsn(s).ok()
}

impl Provider for LocalProvider {
    fn environment(&self) -> &str {
        &self.env
    }

    fn regions(&self) -> Vec<String> {
        REGIONS.iter().map(|r| r.to_string()).collect()
    }

    async fn snapshot(&self) -> Result<Topology, ProviderError> {
        let (a, b) = tokio::join!(self.region_state(REGIONS[0]), self.region_state(REGIONS[1]));
        let mut regions = vec![a, b];
        // Replica lag against the writer's current LSN.
        let writer_lsn = regions
            .iter()
            .find(|r| r.db_role == DbRole::Writer)
            .and_then(|w| w.lsn.as_deref().and_then(lsn));
        for r in regions.iter_mut().filter(|r| r.db_role == DbRole::Replica) {
            if let (Some(w), Some(mine)) = (writer_lsn, r.lsn.as_deref().and_then(lsn)) {
                r.lag_bytes = Some(w.saturating_sub(mine) as i64);
            }
        }
        let net = self.stack.admin().state().await.ok();
        let dns = net.as_ref().map(|n| DnsState {
            primary: n.primary.clone(),
            routing_to: n.routing_to.clone(),
            healthy: n
                .health
                .iter()
                .map(|h| (h.region.clone(), h.healthy))
                .collect(),
            writes_blocked: n.writes_blocked,
        });
        let traffic = net.as_ref().map(|n| {
            let mut t = TrafficView {
                window_secs: n.metrics.window_secs,
                ..Default::default()
            };
            for r in &n.metrics.regions {
                t.requests += r.window.requests;
                t.errors_5xx += r.window.errors_5xx;
                if let Some(l) = &r.window.latency_ms {
                    t.p99_ms = Some(t.p99_ms.unwrap_or(0.0).max(l.p99));
                }
            }
            t
        });
        let spec = self.stack.spec();
        let mut alarms = Vec::new();
        if let Some(t) = &traffic {
            if t.requests >= 20 {
                let ratio = t.errors_5xx as f64 / t.requests as f64;
                if ratio > spec.thresholds.max_5xx_ratio {
                    alarms.push(Alarm {
                        name: "api-5xx-rate".into(),
                        detail: format!(
                            "{:.1}% of {} requests in the last {}s were 5xx (limit {:.1}%)",
                            ratio * 100.0,
                            t.requests,
                            t.window_secs,
                            spec.thresholds.max_5xx_ratio * 100.0
                        ),
                    });
                }
            }
            if let Some(p99) = t.p99_ms.filter(|p| *p > spec.thresholds.max_p99_ms) {
                alarms.push(Alarm {
                    name: "api-p99-latency".into(),
                    detail: format!(
                        "p99 {p99:.0} ms over the last {}s (limit {:.0} ms)",
                        t.window_secs, spec.thresholds.max_p99_ms
                    ),
                });
            }
        }
        for r in &regions {
            if let Some(lag) = r.lag_bytes.filter(|l| *l > spec.thresholds.max_lag_bytes) {
                alarms.push(Alarm {
                    name: "replication-lag".into(),
                    detail: format!(
                        "{} is {lag} bytes behind (limit {})",
                        r.name, spec.thresholds.max_lag_bytes
                    ),
                });
            }
            if r.db_role == DbRole::Writer && spec.rpo == Rpo::Zero {
                let sync = r
                    .standbys
                    .iter()
                    .any(|s| s.sync_state == "sync" && s.state == "streaming");
                if !sync {
                    alarms.push(Alarm {
                        name: "rpo-protection".into(),
                        detail: format!(
                            "writer {} has no synchronous standby: an acknowledged write exists in one region only",
                            r.name
                        ),
                    });
                }
            }
        }
        Ok(Topology {
            environment: self.env.clone(),
            rpo: spec.rpo,
            regions,
            dns,
            traffic,
            alarms,
            taken_at: chrono::Utc::now(),
        })
    }

    async fn block_writes(&self, blocked: bool) -> Result<(), ProviderError> {
        self.stack
            .admin()
            .set_writes_blocked(blocked)
            .await
            .map(|_| ())
            .map_err(|e| ProviderError::Dns(e.to_string()))
    }

    async fn fence(&self, region: &str) -> Result<FenceOutcome, ProviderError> {
        self.check(region)?;
        let cluster = self.cluster(region)?;
        let target = other_region(region);
        let mut outcome = FenceOutcome::AlreadyFenced;
        match self.in_recovery(region).await {
            Ok(false) => {
                // Reachable writer: no new write transactions, existing sessions cut.
                self.exec(
                    region,
                    "ALTER SYSTEM SET default_transaction_read_only = on",
                )
                .await?;
                self.exec(region, "SELECT pg_reload_conf()").await?;
                self.exec(
                    region,
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
                     WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()",
                )
                .await?;
                outcome = FenceOutcome::Fenced;
            }
            Ok(true) => {}
            Err(_) => {
                if let Some(pid) = cluster.pid() {
                    // Alive but not answering (hung): STONITH, the whole instance.
                    crate::devstack::process::signal_tree(pid, nix::sys::signal::Signal::SIGKILL);
                    outcome = FenceOutcome::Fenced;
                } else {
                    outcome = FenceOutcome::Unreachable { marked: true };
                }
            }
        }
        // Stop it, then mark the data directory so it can only ever start as a standby of
        // the new writer: a restart (by anyone) cannot bring back a second writer.
        let c = cluster.clone();
        let port = self.stack.spec().ports.link_to(target);
        let region_s = region.to_string();
        Self::blocking(region, move || {
            if let Some(pid) = c.pid() {
                crate::devstack::process::signal_tree(pid, nix::sys::signal::Signal::SIGCONT);
            }
            if c.stop(StopMode::Fast, Duration::from_secs(5)).is_err() {
                c.stop(StopMode::Immediate, Duration::from_secs(15))?;
            }
            c.set_primary("127.0.0.1", port, &region_s, &region_s)
        })
        .await?;
        Ok(outcome)
    }

    async fn stop_writer(&self, region: &str) -> Result<Option<String>, ProviderError> {
        self.check(region)?;
        let last = match self.connect(region).await {
            Ok(mut c) => sqlx::query_scalar::<_, String>("SELECT pg_current_wal_lsn()::text")
                .fetch_one(&mut c)
                .await
                .ok(),
            Err(_) => None,
        };
        let c = self.cluster(region)?;
        Self::blocking(region, move || {
            c.stop(StopMode::Fast, Duration::from_secs(60))
        })
        .await?;
        Ok(last)
    }

    async fn wait_caught_up(
        &self,
        replica: &str,
        target: Option<&str>,
        timeout: Duration,
    ) -> Result<String, ProviderError> {
        self.check(replica)?;
        let start = Instant::now();
        let target = target.and_then(lsn);
        let mut last: Option<u64> = None;
        loop {
            if start.elapsed() > timeout {
                return Err(ProviderError::Timeout {
                    what: format!("{replica} to replay all WAL"),
                    secs: timeout.as_secs(),
                });
            }
            if let Ok(mut c) = self.connect(replica).await {
                let row: Result<(Option<String>, Option<String>), _> = sqlx::query_as(
                    "SELECT pg_last_wal_receive_lsn()::text, pg_last_wal_replay_lsn()::text",
                )
                .fetch_one(&mut c)
                .await;
                if let Ok((Some(recv), Some(replay))) = row {
                    let (recv, replay_n) = (lsn(&recv).unwrap_or(0), lsn(&replay).unwrap_or(0));
                    let reached = target.is_none_or(|t| replay_n >= t);
                    if reached && replay_n >= recv && last == Some(replay_n) {
                        return Ok(replay);
                    }
                    last = Some(replay_n);
                }
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    async fn promote(&self, region: &str) -> Result<(), ProviderError> {
        self.check(region)?;
        if !self.in_recovery(region).await? {
            return Ok(());
        }
        let c = self.cluster(region)?;
        Self::blocking(region, move || c.promote(Duration::from_secs(60))).await?;
        let start = Instant::now();
        while self.in_recovery(region).await? {
            if start.elapsed() > Duration::from_secs(60) {
                return Err(ProviderError::Timeout {
                    what: format!("{region} to leave recovery"),
                    secs: 60,
                });
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Ok(())
    }

    async fn record_topology(&self, writer: &str, epoch: i64) -> Result<(), ProviderError> {
        self.check(writer)?;
        let mut c = self.connect(writer).await?;
        sqlx::query(
            "INSERT INTO region_topology (writer_region, epoch) VALUES ($1, $2)
             ON CONFLICT (singleton) DO UPDATE SET writer_region = EXCLUDED.writer_region,
               epoch = EXCLUDED.epoch, updated_at = now()
             WHERE region_topology.epoch <= EXCLUDED.epoch",
        )
        .bind(writer)
        .bind(epoch)
        .execute(&mut c)
        .await
        .map_err(|e| ProviderError::region(writer, e))?;
        Ok(())
    }

    async fn set_sync_standby(
        &self,
        writer: &str,
        standby: Option<&str>,
    ) -> Result<(), ProviderError> {
        self.check(writer)?;
        let c = self.cluster(writer)?;
        let value = standby.unwrap_or("").to_string();
        Self::blocking(writer, move || {
            c.set_setting("synchronous_standby_names", &value)
        })
        .await?;
        let Some(standby) = standby else {
            return Ok(());
        };
        let start = Instant::now();
        loop {
            let facts = crate::devstack::status::db_facts(&self.stack.db_url(writer)).await;
            if facts
                .replicas
                .iter()
                .any(|r| r.application_name == standby && r.sync_state == "sync")
            {
                return Ok(());
            }
            if start.elapsed() > Duration::from_secs(60) {
                return Err(ProviderError::Timeout {
                    what: format!("{standby} to become {writer}'s synchronous standby"),
                    secs: 60,
                });
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    async fn rebuild_replica(
        &self,
        region: &str,
        of: &str,
    ) -> Result<RebuildOutcome, ProviderError> {
        self.check(region)?;
        self.check(of)?;
        let facts = self.region_state(of).await;
        if facts
            .standbys
            .iter()
            .any(|s| s.name == region && s.state == "streaming")
            && self.in_recovery(region).await.unwrap_or(false)
        {
            return Ok(RebuildOutcome::AlreadyReplica);
        }
        pgcluster::ensure_physical_slot(&self.stack.db_url(of), region)
            .await
            .map_err(|e| ProviderError::region(of, e))?;
        let link = self.stack.spec().ports.link_to(of);
        let port = self.stack.spec().ports.pg(region);
        let dir = self.stack.pg_dir(region);
        let region_s = region.to_string();
        let outcome = Self::blocking(region, move || {
            let bin = PgBin::locate()?;
            let c = Cluster::open(&bin, &dir)?;
            if let Some(pid) = c.pid() {
                crate::devstack::process::signal_tree(pid, nix::sys::signal::Signal::SIGCONT);
            }
            if c.stop(StopMode::Fast, Duration::from_secs(10)).is_err() {
                c.stop(StopMode::Immediate, Duration::from_secs(15))?;
            }
            let outcome = match c.rewind("127.0.0.1", link) {
                Ok(()) => RebuildOutcome::Rewound,
                Err(PgError::RewindImpossible { .. }) => {
                    std::fs::remove_dir_all(&dir).map_err(|e| PgError::Io {
                        context: format!("removing {}", dir.display()),
                        source: e,
                    })?;
                    Cluster::basebackup(
                        &bin,
                        "127.0.0.1",
                        link,
                        &dir,
                        &ReplicaOptions {
                            port,
                            slot: region_s.clone(),
                            application_name: region_s.clone(),
                        },
                    )?;
                    RebuildOutcome::Recloned
                }
                Err(e) => return Err(e),
            };
            let c = Cluster::open(&bin, &dir)?;
            c.set_primary("127.0.0.1", link, &region_s, &region_s)?;
            // A rebuilt replica must not wait for a standby of its own once promoted.
            c.set_setting("synchronous_standby_names", "")?;
            c.set_setting("default_transaction_read_only", "off")?;
            c.start(Duration::from_secs(60))?;
            Ok(outcome)
        })
        .await?;
        // The old writer's own slot for the other region would hold WAL forever.
        let _ = pgcluster::drop_slot(&self.stack.db_url(region), of).await;
        let start = Instant::now();
        loop {
            let w = self.region_state(of).await;
            if w.standbys
                .iter()
                .any(|s| s.name == region && s.state == "streaming")
            {
                return Ok(outcome);
            }
            if start.elapsed() > Duration::from_secs(90) {
                return Err(ProviderError::Timeout {
                    what: format!("{region} to stream from {of}"),
                    secs: 90,
                });
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    async fn set_dns_primary(&self, region: &str) -> Result<(), ProviderError> {
        self.check(region)?;
        self.stack
            .admin()
            .set_primary(region)
            .await
            .map(|_| ())
            .map_err(|e| ProviderError::Dns(e.to_string()))
    }

    async fn verify_write(&self, expect_region: &str) -> Result<String, ProviderError> {
        let token = self
            .stack
            .keys()
            .token("pmctl-canary", 300)
            .map_err(|e| ProviderError::Other(e.to_string()))?;
        let url = format!(
            "{}/v1/landlord/callback-token/rotate",
            self.stack.frontdoor_url()
        );
        let start = Instant::now();
        let mut last = String::new();
        // The front door may need a few health-check intervals to see the new writer.
        while start.elapsed() < Duration::from_secs(30) {
            match self.http.post(&url).bearer_auth(&token).send().await {
                Ok(r) => {
                    let region = r
                        .headers()
                        .get("x-pm-region")
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("?")
                        .to_string();
                    if r.status().is_success() && region == expect_region {
                        return Ok(region);
                    }
                    last = format!("HTTP {} from {region}", r.status().as_u16());
                }
                Err(e) => last = e.to_string(),
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        Err(ProviderError::Other(format!(
            "no write succeeded through the front door in {expect_region} within 30s (last: {last})"
        )))
    }
}

/// The link a replica in `region` streams through.
pub fn replication_link(region: &str) -> String {
    link_name(other_region(region))
}
