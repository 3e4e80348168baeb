//! Real faults on the local stack: signals to real processes, link modes on real
//! connections. Each fault's undo is recorded before it is injected
//! (`devstack::faults`), so a drill killed right after still leaves a way back.

use super::LocalProvider;
use crate::devstack::faults::{self as record, Record, Undo};
use crate::devstack::net::LinkMode;
use crate::devstack::{process, stack};
use crate::provider::*;
use nix::sys::signal::Signal;

/// Every link that reaches `region` or leaves it: replication both ways and the witness's.
fn isolating(st: &crate::devstack::Stack, region: &str) -> Vec<String> {
    let mut l: Vec<String> = stack::REGIONS.iter().map(|r| stack::link_name(r)).collect();
    if st.spec().ports.witness_to(region) != 0 {
        l.push(stack::witness_link_name(region));
    }
    l
}

#[async_trait]
impl Faults for LocalProvider {
    fn supported(&self) -> Vec<FaultKind> {
        vec![
            FaultKind::KillDb,
            FaultKind::KillApi,
            FaultKind::KillRegion,
            FaultKind::Partition,
            FaultKind::Hang,
            FaultKind::SlowLink,
            FaultKind::Isolate,
        ]
    }

    async fn inject(&self, f: &FaultSpec) -> Result<String, ProviderError> {
        self.check(&f.region)?;
        let st = self.stack()?;
        let region = f.region.as_str();
        let links: Vec<String> = stack::REGIONS.iter().map(|r| stack::link_name(r)).collect();
        let undo = match f.kind {
            FaultKind::KillDb | FaultKind::KillApi | FaultKind::KillRegion => Undo::Restart,
            FaultKind::Hang => Undo::ContinueDb {
                region: region.to_string(),
            },
            FaultKind::Partition | FaultKind::SlowLink => Undo::LinksUp {
                links: links.clone(),
            },
            FaultKind::Isolate => Undo::LinksUp {
                links: isolating(&st, region),
            },
        };
        record::record(
            &st,
            Record {
                id: uuid::Uuid::new_v4().simple().to_string(),
                fault: f.kind.name().to_string(),
                region: region.to_string(),
                latency_ms: f.latency_ms,
                undo,
                pid: std::process::id(),
                at: chrono::Utc::now(),
            },
        )
        .map_err(|e| ProviderError::fatal("dev stack", "recording the fault's undo", e))?;

        let kill_db = |sig: Signal| match st.cluster(region).map(|c| c.pid()) {
            // The whole instance (postmaster and backends): backends holding pooled
            // connections must not keep serving after a "crash", nor answer during a "hang".
            Ok(Some(pid)) => {
                let n = process::signal_tree(pid, sig);
                format!(
                    "{sig:?} postgres pid {pid} and {} backends",
                    n.saturating_sub(1)
                )
            }
            _ => "postgres not running".to_string(),
        };
        let kill_api = || match st.api_pid(region) {
            Some(pid) => {
                let _ = process::signal(pid, Signal::SIGKILL);
                format!("SIGKILL api pid {pid}")
            }
            None => "api not running".to_string(),
        };
        Ok(match f.kind {
            FaultKind::KillDb => kill_db(Signal::SIGKILL),
            FaultKind::KillApi => kill_api(),
            FaultKind::KillRegion => format!("{}; {}", kill_api(), kill_db(Signal::SIGKILL)),
            FaultKind::Hang => kill_db(Signal::SIGSTOP),
            FaultKind::Partition | FaultKind::SlowLink => {
                let mode = if f.kind == FaultKind::Partition {
                    LinkMode::Down
                } else {
                    LinkMode::Latency {
                        ms: f.latency_ms.unwrap_or(100),
                    }
                };
                let admin = st.admin();
                let mut done = Vec::new();
                for name in &links {
                    match admin.set_link_mode(name, mode).await {
                        Ok(_) => done.push(format!("{name} {mode}")),
                        Err(e) => done.push(format!("{name}: {e}")),
                    }
                }
                done.join(", ")
            }
            FaultKind::Isolate => {
                let admin = st.admin();
                let mut done = Vec::new();
                for name in isolating(&st, region) {
                    match admin.set_link_mode(&name, LinkMode::Down).await {
                        Ok(_) => done.push(format!("{name} down")),
                        Err(e) => done.push(format!("{name}: {e}")),
                    }
                }
                done.join(", ")
            }
        })
    }

    async fn heal_all(&self) -> Result<Vec<String>, ProviderError> {
        let st = self.stack()?;
        Ok(record::heal_pending(&st).await)
    }

    fn pending(&self) -> Vec<PendingFault> {
        let Ok(st) = self.stack() else {
            return vec![];
        };
        record::pending(&st)
            .into_iter()
            .filter_map(|r| {
                let kind: FaultKind =
                    serde_json::from_value(serde_json::Value::String(r.fault.clone())).ok()?;
                Some(PendingFault {
                    fault: FaultSpec {
                        kind,
                        region: r.region,
                        latency_ms: r.latency_ms,
                    },
                    injected_at: r.at,
                    pid: r.pid,
                    owner_alive: process::alive(r.pid) && r.pid != std::process::id(),
                })
            })
            .collect()
    }
}
