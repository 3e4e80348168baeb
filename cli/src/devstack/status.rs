//! What each component of a local stack is doing right now (`pmctl dev status`).

use super::net::NetState;
use super::stack::{Stack, StackError, REGIONS};
use serde::Serialize;
use std::path::Path;
use std::time::Duration;

#[derive(Debug, Clone, Serialize)]
pub struct ReplicaView {
    pub application_name: String,
    pub state: String,
    pub sync_state: String,
    pub lag_bytes: Option<i64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ComponentStatus {
    pub name: String,
    pub region: Option<String>,
    pub pid: Option<u32>,
    pub port: u16,
    pub running: bool,
    pub healthy: bool,
    /// `writer` | `replica` for databases and APIs.
    pub db_role: Option<String>,
    /// On a writer: its standbys as seen in pg_stat_replication.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub replicas: Vec<ReplicaView>,
    pub detail: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct StackStatus {
    pub state_dir: String,
    pub frontdoor: String,
    pub rpo: String,
    pub components: Vec<ComponentStatus>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub net: Option<NetState>,
}

impl StackStatus {
    pub fn all_healthy(&self) -> bool {
        self.components.iter().all(|c| c.running && c.healthy)
    }
}

/// Facts about one region's database, read over SQL with a short timeout.
#[derive(Debug, Clone, Default, Serialize)]
pub struct DbFacts {
    pub reachable: bool,
    pub in_recovery: bool,
    pub read_only: bool,
    pub lsn: Option<String>,
    pub replicas: Vec<ReplicaView>,
    pub sync_standby_names: Option<String>,
    /// Replica: its WAL receiver is streaming right now.
    pub receiving: bool,
    /// The replicated topology row (writer region, fencing epoch), when present.
    pub topology: Option<(String, i64)>,
    pub error: Option<String>,
}

pub async fn db_facts(url: &str) -> DbFacts {
    match tokio::time::timeout(Duration::from_secs(1), db_facts_inner(url)).await {
        Ok(Ok(f)) => f,
        Ok(Err(e)) => DbFacts {
            error: Some(e.to_string()),
            ..Default::default()
        },
        Err(_) => DbFacts {
            error: Some("timed out".into()),
            ..Default::default()
        },
    }
}

async fn db_facts_inner(url: &str) -> Result<DbFacts, sqlx::Error> {
    use sqlx::Connection;
    let mut c = sqlx::PgConnection::connect(url).await?;
    let (in_recovery, ro, sync): (bool, String, String) = sqlx::query_as(
        "SELECT pg_is_in_recovery(), current_setting('default_transaction_read_only'),
                current_setting('synchronous_standby_names')",
    )
    .fetch_one(&mut c)
    .await?;
    let lsn: Option<String> = if in_recovery {
        sqlx::query_scalar("SELECT pg_last_wal_replay_lsn()::text")
            .fetch_one(&mut c)
            .await?
    } else {
        sqlx::query_scalar("SELECT pg_current_wal_lsn()::text")
            .fetch_one(&mut c)
            .await?
    };
    let rows: Vec<(String, String, String, Option<i64>)> = sqlx::query_as(
        "SELECT application_name, state, sync_state,
                pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn)::bigint
         FROM pg_stat_replication WHERE NOT pg_is_in_recovery() ORDER BY application_name",
    )
    .fetch_all(&mut c)
    .await?;
    let receiving = in_recovery
        && sqlx::query_scalar::<_, i64>(
            "SELECT count(*) FROM pg_stat_wal_receiver WHERE status = 'streaming'",
        )
        .fetch_one(&mut c)
        .await?
            > 0;
    // The table is absent before migrations (a database being built).
    let topology: Option<(String, i64)> =
        sqlx::query_as("SELECT writer_region, epoch FROM region_topology WHERE singleton")
            .fetch_optional(&mut c)
            .await
            .unwrap_or(None);
    c.close().await.ok();
    Ok(DbFacts {
        receiving,
        topology,
        reachable: true,
        in_recovery,
        read_only: ro == "on",
        lsn,
        replicas: rows
            .into_iter()
            .map(
                |(application_name, state, sync_state, lag_bytes)| ReplicaView {
                    application_name,
                    state,
                    sync_state,
                    lag_bytes,
                },
            )
            .collect(),
        sync_standby_names: Some(sync),
        error: None,
    })
}

pub async fn status(root: &Path) -> Result<StackStatus, StackError> {
    let stack = Stack::open(root)?;
    let ports = &stack.spec().ports;
    let mut components = Vec::new();
    for r in REGIONS {
        let pid = stack.cluster(r).ok().and_then(|c| c.pid());
        let f = db_facts(&stack.db_url(r)).await;
        let role = f.reachable.then_some(if f.in_recovery {
            "replica"
        } else if f.read_only {
            "fenced"
        } else {
            "writer"
        });
        components.push(ComponentStatus {
            name: format!("postgres-{r}"),
            region: Some(r.into()),
            pid,
            port: ports.pg(r),
            running: pid.is_some(),
            healthy: f.reachable,
            db_role: role.map(String::from),
            replicas: f.replicas.clone(),
            detail: match (&f.error, &f.lsn) {
                (Some(e), _) => e.clone(),
                (None, Some(l)) => format!("lsn {l}"),
                _ => String::new(),
            },
        });
    }
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(2))
        .build()
        .expect("http client");
    for r in REGIONS {
        let pid = stack.api_pid(r);
        let (healthy, role, detail) =
            match http.get(format!("{}/ready", stack.api_url(r))).send().await {
                Ok(resp) => {
                    let ok = resp.status().is_success();
                    let v: serde_json::Value = resp.json().await.unwrap_or_default();
                    let role = v["db_role"].as_str().map(String::from);
                    let detail = format!(
                        "{} v{}",
                        v["status"].as_str().unwrap_or("?"),
                        v["version"].as_str().unwrap_or("?")
                    );
                    (ok, role, detail)
                }
                Err(e) => (false, None, format!("unreachable: {}", short(&e))),
            };
        components.push(ComponentStatus {
            name: format!("api-{r}"),
            region: Some(r.into()),
            pid,
            port: ports.api(r),
            running: pid.is_some(),
            healthy,
            db_role: role,
            replicas: vec![],
            detail,
        });
    }
    let net_pid = stack.net_pid();
    let net = stack.admin().state().await;
    components.push(ComponentStatus {
        name: "frontdoor".into(),
        region: None,
        pid: net_pid,
        port: ports.frontdoor,
        running: net_pid.is_some(),
        healthy: net.is_ok(),
        db_role: None,
        replicas: vec![],
        detail: match &net {
            Ok(s) => format!("primary {}, serving {}", s.primary, s.routing_to),
            Err(e) => e.to_string(),
        },
    });
    if stack.spec().autopilot.settings.enabled {
        let pid = stack.autopilot_pid();
        components.push(ComponentStatus {
            name: "autopilot".into(),
            region: None,
            pid,
            port: 0,
            running: pid.is_some(),
            healthy: pid.is_some(),
            db_role: None,
            replicas: vec![],
            detail: if pid.is_some() {
                "watching (pmctl autopilot status)".into()
            } else {
                "not running: `pmctl dev up` starts it".into()
            },
        });
    }
    Ok(StackStatus {
        state_dir: root.display().to_string(),
        frontdoor: stack.frontdoor_url(),
        rpo: stack.spec().rpo.to_string(),
        components,
        net: net.ok(),
    })
}

fn short(e: &reqwest::Error) -> String {
    if e.is_connect() {
        "connection refused".into()
    } else if e.is_timeout() {
        "timed out".into()
    } else {
        e.to_string()
    }
}

/// Which region writes, as the databases say (never assumed from the region order).
#[derive(Debug, Clone, Default, Serialize)]
pub struct Roles {
    /// The one reachable region that is out of recovery and not read-only.
    pub writer: Option<String>,
    /// Every such region (two: split brain).
    pub writers: Vec<String>,
    /// The writer named by the replicated topology row with the highest epoch seen in any
    /// reachable region (known even when the writer itself is down).
    pub recorded_writer: Option<String>,
    /// Each region's facts, in [`REGIONS`] order.
    pub facts: Vec<(String, DbFacts)>,
}

impl Roles {
    pub fn facts(&self, region: &str) -> Option<&DbFacts> {
        self.facts.iter().find(|(r, _)| r == region).map(|(_, f)| f)
    }

    /// The live writer, else the recorded one.
    pub fn writer_or_recorded(&self) -> Option<&str> {
        self.writer.as_deref().or(self.recorded_writer.as_deref())
    }
}

/// Reads both regions' roles concurrently.
pub async fn roles(stack: &Stack) -> Roles {
    let (url_a, url_b) = (stack.db_url(REGIONS[0]), stack.db_url(REGIONS[1]));
    let (a, b) = tokio::join!(db_facts(&url_a), db_facts(&url_b));
    let facts = vec![(REGIONS[0].to_string(), a), (REGIONS[1].to_string(), b)];
    let writers: Vec<String> = facts
        .iter()
        .filter(|(_, f)| f.reachable && !f.in_recovery && !f.read_only)
        .map(|(r, _)| r.clone())
        .collect();
    let recorded_writer = facts
        .iter()
        .filter_map(|(_, f)| f.topology.clone())
        .max_by_key(|(_, epoch)| *epoch)
        .map(|(w, _)| w);
    Roles {
        writer: (writers.len() == 1).then(|| writers[0].clone()),
        writers,
        recorded_writer,
        facts,
    }
}
