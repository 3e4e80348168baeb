//! The local stack's steps: how each capability is done with PostgreSQL, the front door
//! and links, and the code that does each step (idempotent: a re-run after a crash is safe).

use super::LocalProvider;
use crate::devstack::stack::{other_region, write_private, Stack};
use crate::provider::*;
use pgcluster::{Cluster, PgError, StopMode};
use serde_json::json;
use std::time::Instant;

const SQL_TIMEOUT: Duration = Duration::from_secs(1);

/// Capability → the local stack's steps.
pub(super) fn expand(cap: &Capability) -> Vec<Step> {
    match cap.clone() {
        Capability::PauseWrites => vec![Step::BlockWrites],
        Capability::ResumeWrites => vec![Step::UnblockWrites],
        Capability::RouteTrafficTo { region } => vec![Step::MoveDns { to: region }],
        Capability::PlannedSwitch {
            from,
            to,
            epoch,
            sync,
        } => vec![
            Step::StopWriter {
                region: from.clone(),
            },
            Step::WaitCaughtUp {
                replica: to.clone(),
            },
            Step::Promote { region: to.clone() },
            Step::RecordTopology {
                writer: to.clone(),
                epoch,
            },
            Step::RebuildReplica {
                region: from.clone(),
                of: to.clone(),
            },
            Step::SetSyncStandby {
                writer: to,
                standby: sync.then_some(from),
            },
        ],
        Capability::Fence { region, .. } => vec![Step::FenceWriter { region }],
        Capability::Promote { region, epoch, .. } => vec![
            Step::Promote {
                region: region.clone(),
            },
            Step::RecordTopology {
                writer: region.clone(),
                epoch,
            },
            Step::SetSyncStandby {
                writer: region,
                standby: None,
            },
        ],
        Capability::RebuildAsReplica { region, of, sync } => {
            let mut s = vec![Step::RebuildReplica {
                region: region.clone(),
                of: of.clone(),
            }];
            if sync {
                s.push(Step::SetSyncStandby {
                    writer: of,
                    standby: Some(region),
                });
            }
            s
        }
        Capability::VerifyWrite { region } => vec![Step::VerifyWrite { region }],
        Capability::Migrate { region, release } => vec![Step::RunMigrations { region, release }],
        Capability::StartCanary { region, release } => vec![Step::StartCanary { region, release }],
        Capability::ShiftTraffic {
            region, percent, ..
        } => {
            vec![Step::SetCanaryWeight { region, percent }]
        }
        Capability::PromoteCanary { region, release } => {
            vec![Step::PromoteCanary { region, release }]
        }
        Capability::AbortCanary { region } => vec![Step::StopCanary { region }],
    }
}

pub(super) async fn run(
    p: &LocalProvider,
    step: &Step,
    _progress: Progress<'_>,
) -> Result<serde_json::Value, ProviderError> {
    let st = p.stack()?;
    let l = Local { p, st: &st };
    Ok(match step {
        Step::BlockWrites => {
            l.block_writes(true).await?;
            json!({"writes_blocked": true})
        }
        Step::UnblockWrites => {
            l.block_writes(false).await?;
            json!({"writes_blocked": false})
        }
        Step::FenceWriter { region } => l.fence(region).await?,
        Step::StopWriter { region } => json!({"last_lsn": l.stop_writer(region).await?}),
        Step::WaitCaughtUp { replica } => {
            json!({"replayed_lsn": l.wait_caught_up(replica, Duration::from_secs(120)).await?})
        }
        Step::Promote { region } => {
            l.promote(region).await?;
            // The other region's slot on the new writer: when it comes back and can follow
            // this timeline, it streams without a rebuild (and the writer keeps its WAL).
            let other = other_region(region);
            let _ = pgcluster::ensure_physical_slot(&st.db_url(region), other).await;
            json!({"promoted": region})
        }
        Step::RecordTopology { writer, epoch } => {
            l.record_topology(writer, *epoch).await?;
            json!({"writer": writer, "epoch": epoch})
        }
        Step::SetSyncStandby { writer, standby } => {
            l.set_sync_standby(writer, standby.as_deref()).await?;
            json!({"writer": writer, "sync_standby": standby})
        }
        Step::RebuildReplica { region, of } => {
            json!({"rebuilt": l.rebuild_replica(region, of).await?})
        }
        Step::MoveDns { to } => {
            p.check(to)?;
            st.admin()
                .set_primary(to)
                .await
                .map_err(|e| ProviderError::action("front door", "moving the PRIMARY record", e))?;
            json!({"dns_primary": to})
        }
        Step::VerifyWrite { region } => json!({"write_served_by": l.verify_write(region).await?}),
        Step::RunMigrations { .. }
        | Step::StartCanary { .. }
        | Step::SetCanaryWeight { .. }
        | Step::PromoteCanary { .. }
        | Step::StopCanary { .. } => super::deploy::run_step(p, &st, step).await?,
        other => {
            return Err(ProviderError::Unsupported {
                what: format!(
                "step `{}` belongs to another kind of environment; the local stack cannot run it",
                other.name()
            ),
            })
        }
    })
}

struct Local<'a> {
    p: &'a LocalProvider,
    st: &'a Stack,
}

fn db(region: &str) -> String {
    format!("{region} database")
}

impl Local<'_> {
    fn cluster(&self, region: &str) -> Result<Cluster, ProviderError> {
        self.p.check(region)?;
        self.st
            .cluster(region)
            .map_err(|e| ProviderError::fatal(db(region), "opening its data directory", e))
    }

    async fn blocking<T: Send + 'static>(
        region: &str,
        action: &str,
        f: impl FnOnce() -> Result<T, PgError> + Send + 'static,
    ) -> Result<T, ProviderError> {
        tokio::task::spawn_blocking(f)
            .await
            .map_err(|e| ProviderError::fatal(db(region), action, e))?
            .map_err(|e| ProviderError::action(db(region), action, e))
    }

    async fn connect(&self, region: &str) -> Result<sqlx::PgConnection, ProviderError> {
        use sqlx::Connection;
        tokio::time::timeout(
            SQL_TIMEOUT,
            sqlx::PgConnection::connect(&self.st.db_url(region)),
        )
        .await
        .map_err(|_| ProviderError::Timeout {
            what: format!("a connection to {region}'s database"),
            secs: SQL_TIMEOUT.as_secs(),
        })?
        .map_err(|e| ProviderError::action(db(region), "connecting", e))
    }

    async fn exec(&self, region: &str, sql: &str) -> Result<(), ProviderError> {
        let mut c = self.connect(region).await?;
        sqlx::query(sql)
            .execute(&mut c)
            .await
            .map_err(|e| ProviderError::action(db(region), "running SQL", e))?;
        Ok(())
    }

    async fn in_recovery(&self, region: &str) -> Result<bool, ProviderError> {
        let mut c = self.connect(region).await?;
        sqlx::query_scalar("SELECT pg_is_in_recovery()")
            .fetch_one(&mut c)
            .await
            .map_err(|e| ProviderError::action(db(region), "reading its role", e))
    }

    async fn block_writes(&self, blocked: bool) -> Result<(), ProviderError> {
        self.st
            .admin()
            .set_writes_blocked(blocked)
            .await
            .map(|_| ())
            .map_err(|e| {
                ProviderError::action(
                    "front door",
                    if blocked {
                        "blocking writes"
                    } else {
                        "unblocking writes"
                    },
                    e,
                )
            })
    }

    async fn fence(&self, region: &str) -> Result<serde_json::Value, ProviderError> {
        let cluster = self.cluster(region)?;
        let target = other_region(region);
        let mut outcome = "already-fenced";
        let mut not_fenced = None;
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
                outcome = "fenced";
            }
            Ok(true) => {}
            Err(_) => {
                if let Some(pid) = cluster.pid() {
                    // Alive but not answering (hung): STONITH, the whole instance.
                    crate::devstack::process::signal_tree(pid, nix::sys::signal::Signal::SIGKILL);
                    outcome = "fenced";
                } else {
                    outcome = "unreachable";
                    not_fenced = Some(format!(
                        "{region} could not be reached to fence; its data directory was marked to start only as a standby of {target}"
                    ));
                }
            }
        }
        // Stop it, then mark the data directory so it can only ever start as a standby of
        // the new writer: a restart (by anyone) cannot bring back a second writer.
        let c = cluster.clone();
        let port = self.st.spec().ports.link_to(target);
        let region_s = region.to_string();
        Self::blocking(region, "stopping and marking it standby-only", move || {
            if let Some(pid) = c.pid() {
                crate::devstack::process::signal_tree(pid, nix::sys::signal::Signal::SIGCONT);
            }
            if c.stop(StopMode::Fast, Duration::from_secs(5)).is_err() {
                c.stop(StopMode::Immediate, Duration::from_secs(15))?;
            }
            c.set_primary("127.0.0.1", port, &region_s, &region_s)
        })
        .await?;
        let marker = json!({"writer": target, "at": chrono::Utc::now()});
        write_private(&self.st.fence_marker(region), marker.to_string().as_bytes())
            .map_err(|e| ProviderError::action(db(region), "writing its fence marker", e))?;
        let mut v = json!({ "fence": outcome });
        if let Some(n) = not_fenced {
            v["not_fenced"] = json!(n);
        }
        Ok(v)
    }

    async fn stop_writer(&self, region: &str) -> Result<Option<String>, ProviderError> {
        let c = self.cluster(region)?;
        let last = match self.connect(region).await {
            Ok(mut conn) => sqlx::query_scalar::<_, String>("SELECT pg_current_wal_lsn()::text")
                .fetch_one(&mut conn)
                .await
                .ok(),
            Err(_) => None,
        };
        Self::blocking(region, "stopping it cleanly", move || {
            c.stop(StopMode::Fast, Duration::from_secs(60))
        })
        .await?;
        Ok(last)
    }

    async fn wait_caught_up(
        &self,
        replica: &str,
        timeout: Duration,
    ) -> Result<String, ProviderError> {
        self.p.check(replica)?;
        let start = Instant::now();
        let mut last: Option<u64> = None;
        loop {
            if start.elapsed() > timeout {
                return Err(ProviderError::Timeout {
                    what: format!("{replica} to replay all WAL"),
                    secs: timeout.as_secs(),
                });
            }
            if let Ok(mut c) = self.connect(replica).await {
                let row: Result<(bool, Option<String>, Option<String>), _> = sqlx::query_as(
                    "SELECT pg_is_in_recovery(), pg_last_wal_receive_lsn()::text, pg_last_wal_replay_lsn()::text",
                )
                .fetch_one(&mut c)
                .await;
                match row {
                    // Already promoted (a resumed operation): nothing left to wait for.
                    Ok((false, _, _)) => return Ok("promoted".into()),
                    Ok((true, Some(recv), Some(replay))) => {
                        let lsn = |s: &str| pgcluster::parse_lsn(s).unwrap_or(0);
                        let (recv, replay_n) = (lsn(&recv), lsn(&replay));
                        if replay_n >= recv && last == Some(replay_n) {
                            return Ok(replay);
                        }
                        last = Some(replay_n);
                    }
                    _ => {}
                }
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    async fn promote(&self, region: &str) -> Result<(), ProviderError> {
        let c = self.cluster(region)?;
        if !self.in_recovery(region).await? {
            return Ok(());
        }
        // A new writer must not wait for a synchronous standby it inherited from an older
        // life (a replica keeps the settings it had as a writer): which standby it waits
        // for is decided by a later step, once that standby streams.
        Self::blocking(region, "promoting it", move || {
            c.set_setting("synchronous_standby_names", "")?;
            c.reset_setting("default_transaction_read_only")?;
            c.promote(Duration::from_secs(60))
        })
        .await?;
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
        self.p.check(writer)?;
        let mut c = self.connect(writer).await?;
        // Bounded: a commit that waits for a missing standby must fail, not hang the plan.
        sqlx::query("SET statement_timeout = '20s'")
            .execute(&mut c)
            .await
            .map_err(|e| ProviderError::action(db(writer), "setting a statement timeout", e))?;
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
        .map_err(|e| ProviderError::action(db(writer), "recording the topology", e))?;
        Ok(())
    }

    async fn set_sync_standby(
        &self,
        writer: &str,
        standby: Option<&str>,
    ) -> Result<(), ProviderError> {
        let c = self.cluster(writer)?;
        let value = standby.unwrap_or("").to_string();
        Self::blocking(writer, "setting synchronous_standby_names", move || {
            c.set_setting("synchronous_standby_names", &value)
        })
        .await?;
        let Some(standby) = standby else {
            return Ok(());
        };
        let start = Instant::now();
        loop {
            let facts = crate::devstack::status::db_facts(&self.st.db_url(writer)).await;
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

    async fn rebuild_replica(&self, region: &str, of: &str) -> Result<&'static str, ProviderError> {
        self.p.check(of)?;
        let _ = self.cluster(region)?;
        use crate::devstack::rebuild::{rebuild_replica, Rebuilt};
        let outcome = rebuild_replica(self.st, region, of, &crate::shell::Shell::silent())
            .await
            .map_err(|e| {
                ProviderError::action(
                    db(region),
                    format!("rebuilding it as a replica of {of} (pg_rewind / pg_basebackup)"),
                    Msg(self.st.redact(&chain(&e))),
                )
            })?;
        Ok(match outcome {
            Rebuilt::AlreadyReplica => "already-replica",
            Rebuilt::Rewound => "rewound",
            Rebuilt::Recloned => "recloned",
        })
    }

    async fn verify_write(&self, expect_region: &str) -> Result<String, ProviderError> {
        let token =
            self.st.keys().token("pmctl-canary", 300).map_err(|e| {
                ProviderError::fatal("dev stack", "minting the verification token", e)
            })?;
        let url = format!(
            "{}/v1/landlord/callback-token/rotate",
            self.st.frontdoor_url()
        );
        let start = Instant::now();
        let mut last = String::new();
        // The front door may need a few health-check intervals to see the new writer; probe
        // gently so a slow recovery does not flood the 5xx metrics.
        while start.elapsed() < Duration::from_secs(30) {
            match self.p.http.post(&url).bearer_auth(&token).send().await {
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
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        Err(ProviderError::check(format!(
            "no write succeeded through the front door in {expect_region} within 30s (last: {last})"
        )))
    }
}
