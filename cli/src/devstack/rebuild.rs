//! `pmctl dev rebuild REGION`: make a region's database a streaming replica of the current
//! writer again — pg_rewind, or a fresh pg_basebackup when rewinding is impossible or the
//! data directory is gone. The repair for a diverged former writer, which `dev up` names.

use super::repair::error_chain;
use super::stack::{link_name, Stack, StackError};
use super::status::{db_facts, roles};
use crate::config::Rpo;
use crate::lock::StateLock;
use crate::shell::Shell;
use pgcluster::{Cluster, PgBin, PgError, ReplicaOptions, StopMode};
use serde::Serialize;
use std::path::Path;
use std::time::{Duration, Instant};

/// How long the rebuilt replica (and, with RPO zero, its sync state) may take to appear.
const STREAM_TIMEOUT: Duration = Duration::from_secs(90);

/// What rebuilding did to the region's data directory.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Rebuilt {
    /// It already streamed from the writer: its data was left alone.
    AlreadyReplica,
    /// pg_rewind brought it onto the writer's timeline.
    Rewound,
    /// Copied afresh from the writer (pg_basebackup).
    Recloned,
}

#[derive(Debug, Serialize)]
pub struct RebuildReport {
    pub region: String,
    /// The writer it now streams from.
    pub writer: String,
    pub outcome: Rebuilt,
    /// With `rpo = "zero"`: it is the writer's synchronous standby again.
    pub sync_standby: bool,
}

/// `pmctl dev rebuild REGION` (under the stack's lock): refuses unless another region is
/// the writer and the replication link to it is up; then rebuilds, waits until the region
/// streams, makes it the synchronous standby (RPO zero) and starts its API if stopped.
pub async fn rebuild(
    root: &Path,
    region: &str,
    shell: &Shell,
) -> Result<RebuildReport, StackError> {
    let stack = Stack::open(root)?;
    let _lock = StateLock::acquire(root, "dev rebuild")?;
    if let Some(h) = &_lock.stale {
        shell.warn(h.stale_warning());
    }
    let roles = roles(&stack).await;
    let writer = match roles.writer.clone() {
        Some(w) if w == region => {
            return Err(StackError::Refused(format!(
                "{region} is the writer; rebuild the other region, or move the writer first \
                 (`pmctl switchover`)"
            )))
        }
        Some(w) => w,
        None if roles.writers.len() > 1 => {
            return Err(StackError::Refused(format!(
                "{} all accept writes (split brain): which one to keep is an operator's \
                 decision; see `pmctl status`",
                roles.writers.join(" and ")
            )))
        }
        None => {
            return Err(StackError::Refused(format!(
                "no region accepts writes, so there is nothing to rebuild {region} from; start \
                 the writer (`pmctl dev up`) or promote one (`pmctl failover`)"
            )))
        }
    };
    // The copy and the stream go through the link to the writer.
    stack.ensure_net(Some(&writer), shell).await?;
    let link = link_name(&writer);
    let state = stack
        .admin()
        .state()
        .await
        .map_err(|e| StackError::Other(format!("front door admin API: {}", error_chain(&e))))?;
    if let Some(l) = state
        .links
        .iter()
        .find(|l| l.name == link && l.mode != super::net::LinkMode::Up)
    {
        return Err(StackError::Refused(format!(
            "link {link} is {}: {region} cannot reach {writer}; run `pmctl dev link {link} up` first",
            l.mode
        )));
    }

    let outcome = rebuild_replica(&stack, region, &writer, shell).await?;
    let sync_standby = stack.spec().rpo == Rpo::Zero;
    if sync_standby {
        make_sync_standby(&stack, &writer, region).await?;
    }
    stack.ensure_api(region, shell).await?;
    Ok(RebuildReport {
        region: region.to_string(),
        writer,
        outcome,
        sync_standby,
    })
}

/// Rebuilds `region` as a streaming replica of `writer` (through the link to `writer`) and
/// waits until `writer` sees it streaming. Takes no lock and does not touch
/// `synchronous_standby_names` (for callers with their own plan, e.g. the local provider).
pub async fn rebuild_replica(
    stack: &Stack,
    region: &str,
    writer: &str,
    shell: &Shell,
) -> Result<Rebuilt, StackError> {
    let component = format!("PostgreSQL {region}");
    let pg = |source: PgError| StackError::Postgres {
        component: component.clone(),
        source,
    };
    let writer_url = stack.db_url(writer);
    if streams_from(stack, region, writer).await
        && db_facts(&stack.db_url(region)).await.in_recovery
        && on_writers_timeline(stack, region, writer).await
    {
        // It follows already (e.g. a fenced writer that came back able to follow): only
        // the settings of its life as a writer go, as after a rewind.
        let c = stack.cluster(region)?;
        tokio::task::spawn_blocking(move || -> Result<(), PgError> {
            c.set_setting("synchronous_standby_names", "")?;
            c.reset_setting("default_transaction_read_only")
        })
        .await
        .map_err(|e| StackError::Other(format!("rebuilding {region}: {e}")))?
        .map_err(pg)?;
        let _ = std::fs::remove_file(stack.fence_marker(region));
        return Ok(Rebuilt::AlreadyReplica);
    }
    pgcluster::ensure_physical_slot(&writer_url, region)
        .await
        .map_err(|source| StackError::Postgres {
            component: format!("PostgreSQL {writer}"),
            source,
        })?;
    let link = stack.spec().ports.link_to(writer);
    let port = stack.spec().ports.pg(region);
    let dir = stack.pg_dir(region);
    let password = stack.db_password();
    let region_s = region.to_string();
    shell.status("Rebuilding", format!("{region} from {writer} (pg_rewind)"));
    let outcome = tokio::task::spawn_blocking(move || -> Result<Rebuilt, PgError> {
        let bin = PgBin::locate()?;
        // The copy authenticates with the region's own password file (same password).
        if let Some(pw) = &password {
            if pgcluster::read_password(&dir)?.is_none() {
                pgcluster::write_passfile(&bin, &dir, pw)?;
            }
        }
        let reclone = |bin: &PgBin| -> Result<Rebuilt, PgError> {
            if dir.exists() {
                std::fs::remove_dir_all(&dir).map_err(|e| PgError::Io {
                    context: format!("removing {}", dir.display()),
                    source: e,
                })?;
            }
            Cluster::basebackup(
                bin,
                "127.0.0.1",
                link,
                &dir,
                &ReplicaOptions {
                    port,
                    slot: region_s.clone(),
                    application_name: region_s.clone(),
                },
            )?;
            Ok(Rebuilt::Recloned)
        };
        let outcome = if dir.join("PG_VERSION").is_file() {
            let c = Cluster::open(&bin, &dir)?;
            if let Some(pid) = c.pid() {
                // A SIGSTOPped (hung) server must be continued to shut down.
                super::process::signal_tree(pid, nix::sys::signal::Signal::SIGCONT);
            }
            if c.stop(StopMode::Fast, Duration::from_secs(10)).is_err() {
                c.stop(StopMode::Immediate, Duration::from_secs(15))?;
            }
            match c.rewind("127.0.0.1", link) {
                Ok(()) => Rebuilt::Rewound,
                Err(PgError::RewindImpossible { .. }) => reclone(&bin)?,
                Err(e) => return Err(e),
            }
        } else {
            reclone(&bin)?
        };
        let c = Cluster::open(&bin, &dir)?;
        c.set_primary("127.0.0.1", link, &region_s, &region_s)?;
        // Once promoted it must not wait for a standby of its own; a fence's read-only
        // setting (kept through pg_rewind with the rest of its configuration) goes.
        c.set_setting("synchronous_standby_names", "")?;
        c.reset_setting("default_transaction_read_only")?;
        c.start(Duration::from_secs(60))?;
        Ok(outcome)
    })
    .await
    .map_err(|e| StackError::Other(format!("rebuilding {region}: {e}")))?
    .map_err(pg)?;
    // Its own slot for the writer (from when it wrote) would retain WAL forever.
    let _ = pgcluster::drop_slot(&stack.db_url(region), writer).await;
    let start = Instant::now();
    while !streams_from(stack, region, writer).await {
        if start.elapsed() > STREAM_TIMEOUT {
            return Err(StackError::NotReady {
                component: format!("{region} streaming from {writer}"),
                secs: STREAM_TIMEOUT.as_secs(),
                why: "not in the writer's pg_stat_replication".into(),
                log: stack
                    .cluster(region)
                    .map(|c| c.log_file().to_path_buf())
                    .unwrap_or_default(),
            });
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // It follows the writer again: no longer fenced.
    let _ = std::fs::remove_file(stack.fence_marker(region));
    shell.status(
        "Rebuilt",
        format!(
            "{region} streams from {writer} ({})",
            match outcome {
                Rebuilt::AlreadyReplica => "already did",
                Rebuilt::Rewound => "rewound",
                Rebuilt::Recloned => "re-cloned",
            }
        ),
    );
    Ok(outcome)
}

/// The region's WAL receiver streams on the writer's current timeline. A former writer
/// restarted as a standby without a rewind can show up in the writer's
/// `pg_stat_replication` between its retries while its WAL has forked off (it receives
/// on the old timeline, or not at all): that one needs pg_rewind.
pub(crate) async fn on_writers_timeline(stack: &Stack, region: &str, writer: &str) -> bool {
    use sqlx::Connection;
    async fn one(url: &str, sql: &str) -> Option<i64> {
        let q = async {
            let mut c = sqlx::PgConnection::connect(url).await.ok()?;
            let v = sqlx::query_scalar::<_, Option<i64>>(sql)
                .fetch_optional(&mut c)
                .await
                .ok()
                .flatten()
                .flatten();
            c.close().await.ok();
            v
        };
        // A hung server is not a follower.
        tokio::time::timeout(Duration::from_secs(2), q)
            .await
            .ok()
            .flatten()
    }
    let (writer_url, region_url) = (stack.db_url(writer), stack.db_url(region));
    let writer_tli = one(
        &writer_url,
        "SELECT ('x' || substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8))::bit(32)::int::bigint",
    );
    let received_tli = one(
        &region_url,
        "SELECT received_tli::bigint FROM pg_stat_wal_receiver WHERE status = 'streaming'",
    );
    let (w, r) = tokio::join!(writer_tli, received_tli);
    matches!((w, r), (Some(w), Some(r)) if w == r)
}

async fn streams_from(stack: &Stack, region: &str, writer: &str) -> bool {
    db_facts(&stack.db_url(writer))
        .await
        .replicas
        .iter()
        .any(|s| s.application_name == region && s.state == "streaming")
}

/// Sets the writer's `synchronous_standby_names` to `standby` and waits until it is `sync`.
async fn make_sync_standby(stack: &Stack, writer: &str, standby: &str) -> Result<(), StackError> {
    let c = stack.cluster(writer)?;
    let value = stack.sync_names_for(writer);
    tokio::task::spawn_blocking(move || c.set_setting("synchronous_standby_names", &value))
        .await
        .map_err(|e| StackError::Other(e.to_string()))?
        .map_err(|source| StackError::Postgres {
            component: format!("PostgreSQL {writer}"),
            source,
        })?;
    let start = Instant::now();
    loop {
        let facts = db_facts(&stack.db_url(writer)).await;
        if facts
            .replicas
            .iter()
            .any(|r| r.application_name == standby && r.sync_state == "sync")
        {
            return Ok(());
        }
        if start.elapsed() > STREAM_TIMEOUT {
            return Err(StackError::NotReady {
                component: format!("{standby} as {writer}'s synchronous standby"),
                secs: STREAM_TIMEOUT.as_secs(),
                why: "sync_state is not `sync`".into(),
                log: stack.log("net"),
            });
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
