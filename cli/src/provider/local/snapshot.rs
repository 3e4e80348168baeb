//! The local stack's topology: each region's database (over SQL, one short connection) and
//! API (`/ready`), the front door's records, health and traffic, derived alarms.

use super::LocalProvider;
use crate::config::Rpo;
use crate::devstack::stack::{Stack, REGIONS};
use crate::provider::*;

async fn api_state(p: &LocalProvider, st: &Stack, region: &str) -> (ApiState, Option<String>) {
    match p
        .http
        .get(format!("{}/ready", st.api_url(region)))
        .timeout(Duration::from_secs(2))
        .send()
        .await
    {
        Ok(r) => {
            let ok = r.status().is_success();
            let v: serde_json::Value = r.json().await.unwrap_or_default();
            (
                if ok {
                    ApiState::Ready
                } else {
                    ApiState::NotReady
                },
                v["version"].as_str().map(String::from),
            )
        }
        Err(_) => (ApiState::Unreachable, None),
    }
}

async fn region_state(p: &LocalProvider, st: &Stack, region: &str) -> RegionState {
    // Database and API concurrently: a hung region costs one timeout, not two.
    let db_url = st.db_url(region);
    let (facts, (api, api_version)) = tokio::join!(
        crate::devstack::status::db_facts(&db_url),
        api_state(p, st, region)
    );
    let db_role = if !facts.reachable {
        DbRole::Down
    } else if facts.in_recovery {
        DbRole::Replica
    } else if facts.read_only {
        DbRole::Fenced
    } else {
        DbRole::Writer
    };
    let marker: Option<serde_json::Value> = std::fs::read_to_string(st.fence_marker(region))
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok());
    let fenced = marker
        .filter(|_| !(db_role == DbRole::Replica && facts.receiving))
        .map(|m| {
            format!(
                "fenced by failover to {}: it can start only as a standby; `pmctl failback` rebuilds it",
                m["writer"].as_str().unwrap_or("?"),
            )
        });
    let standbys: Vec<StandbyView> = facts
        .replicas
        .iter()
        .map(|r| StandbyView {
            name: r.application_name.clone(),
            state: r.state.clone(),
            sync_state: r.sync_state.clone(),
            lag_bytes: r.lag_bytes,
        })
        .collect();
    let sync_names = facts
        .sync_standby_names
        .clone()
        .filter(|_| !facts.in_recovery);
    let writes_stall = match (&db_role, sync_names.as_deref()) {
        (DbRole::Writer, Some(names)) if !names.trim().is_empty() => {
            let connected = standbys
                .iter()
                .any(|s| s.sync_state == "sync" && s.state == "streaming");
            (!connected).then(|| {
                format!(
                    "{region} commits wait for its synchronous standby `{names}`, which is not connected: writes hang"
                )
            })
        }
        _ => None,
    };
    RegionState {
        name: region.to_string(),
        api_healthy: api == ApiState::Ready,
        api,
        api_version,
        db_role,
        streaming: facts.receiving,
        lag_bytes: None,
        lag_ms: None,
        fenced,
        writes_stall,
        topology: facts.topology.clone(),
        lsn: facts.lsn.clone(),
        standbys,
        sync_standby_names: sync_names,
        detail: facts.error.clone(),
    }
}

fn lsn(s: &str) -> Option<u64> {
    pgcluster::parse_lsn(s).ok()
}

pub(super) async fn snapshot(p: &LocalProvider) -> Result<Topology, ProviderError> {
    let st = p.stack()?;
    let (a, b) = tokio::join!(
        region_state(p, &st, REGIONS[0]),
        region_state(p, &st, REGIONS[1])
    );
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
    let net = st.admin().state().await.ok();
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
            t.shed += r.window.shed;
            if let Some(l) = &r.window.latency_ms {
                t.p99_ms = Some(t.p99_ms.unwrap_or(0.0).max(l.p99));
            }
        }
        t
    });
    // The RPO mode is the stack's own (it was created with it); thresholds come from the
    // configuration of this run.
    let settings = Settings {
        rpo: st.spec().rpo,
        thresholds: p.settings.thresholds.clone(),
    };
    let mut alarms = derived_alarms(traffic.as_ref(), &regions, &settings);
    for r in &regions {
        if r.db_role == DbRole::Writer && settings.rpo == Rpo::Zero {
            let sync = r
                .standbys
                .iter()
                .any(|s| s.sync_state == "sync" && s.state == "streaming");
            if !sync && r.writes_stall.is_none() {
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
        environment: p.env.clone(),
        rpo: settings.rpo,
        regions,
        dns,
        traffic,
        alarms,
        taken_at: chrono::Utc::now(),
    })
}
