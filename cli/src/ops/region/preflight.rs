//! Preflight: named rules that refuse an unhealthy or ambiguous state (`--force` overrides
//! them; [`plan`](super::plan) already refused the impossible). The same rules check the
//! region that is about to take writes in every operation — at plan time, and again in the
//! middle of a `failback --switchover` (the gate), where the target was just rebuilt.

use super::Options;
use crate::config::Rpo;
use crate::ops::plan::{OpKind, Plan, Step};
use crate::provider::{ApiState, DbRole, Provider, RegionState, Topology};
use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Refusal {
    /// The rule's name (stable; tests and runbooks refer to it).
    pub rule: &'static str,
    pub reason: String,
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} [{}]", self.reason, self.rule)
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Preflight {
    pub refusals: Vec<Refusal>,
    /// Worth saying, not worth refusing (e.g. a failover onto another API version).
    pub warnings: Vec<String>,
    /// The operator's choices and the facts they were made on (journaled).
    pub choices: serde_json::Value,
}

fn refuse(out: &mut Vec<Refusal>, rule: &'static str, reason: String) {
    out.push(Refusal { rule, reason });
}

/// Alarms about the recent past of the traffic (the 5xx ratio and p99 over the last
/// window), as opposed to the state of the regions now.
fn traffic_alarm(name: &str) -> bool {
    matches!(name, "api-5xx-rate" | "api-p99-latency")
}

/// The rules for a region about to become the writer by a planned switch from `from`.
/// `mid_recovery`: checked by the gate of a `failback --switchover`, where the recent
/// traffic alarms describe the outage being recovered from, not the target.
pub fn switch_target_rules(
    p: &dyn Provider,
    t: &Topology,
    from: &str,
    to: &str,
    mid_recovery: bool,
) -> Vec<Refusal> {
    let th = &p.settings().thresholds;
    let mut out = Vec::new();
    let Some(r) = t.region(to) else {
        return out;
    };
    target_api_rule(&mut out, r);
    if r.db_role != DbRole::Replica {
        refuse(
            &mut out,
            "target-replica",
            format!("{to}'s database is {}, not a replica of {from}", r.db_role),
        );
    } else if !r.streaming {
        refuse(
            &mut out,
            "target-streaming",
            format!("{to} is not streaming from {from}"),
        );
    }
    match (r.lag_bytes, r.lag_ms) {
        (Some(l), _) if l > th.max_lag_bytes => refuse(
            &mut out,
            "target-lag",
            format!("{to} is {l} bytes behind (limit {})", th.max_lag_bytes),
        ),
        (None, Some(ms)) if ms > th.max_lag_ms => refuse(
            &mut out,
            "target-lag",
            format!("{to} is {ms} ms behind (limit {})", th.max_lag_ms),
        ),
        (None, None) if r.db_role == DbRole::Replica => {
            refuse(&mut out, "target-lag", format!("{to}'s lag is unknown"))
        }
        _ => {}
    }
    if let Some(f) = &r.fenced {
        refuse(&mut out, "target-fenced", format!("{to} is fenced: {f}"));
    }
    for a in t
        .alarms
        .iter()
        .filter(|a| !(mid_recovery && traffic_alarm(&a.name)))
    {
        refuse(
            &mut out,
            "no-alarms",
            format!("alarm {} is firing: {}", a.name, a.detail),
        );
    }
    version_rule(&mut out, t, from, to);
    out
}

fn target_api_rule(out: &mut Vec<Refusal>, r: &RegionState) {
    match r.api {
        ApiState::Ready => {}
        ApiState::NotReady => refuse(out, "target-api", format!("API {} is not ready", r.name)),
        ApiState::Unreachable => refuse(
            out,
            "target-api",
            format!(
                "API {} does not answer (is its process running? `pmctl dev up` restarts it)",
                r.name
            ),
        ),
    }
}

fn version_rule(out: &mut Vec<Refusal>, t: &Topology, a: &str, b: &str) {
    let (Some(va), Some(vb)) = (
        t.region(a).and_then(|r| r.api_version.clone()),
        t.region(b).and_then(|r| r.api_version.clone()),
    ) else {
        return;
    };
    if va != vb {
        refuse(
            out,
            "same-version",
            format!("the regions run different API versions ({a} {va}, {b} {vb}): finish or roll back the deploy first"),
        );
    }
}

/// Reasons to refuse (empty: go), warnings, and the journaled choices.
pub fn preflight(p: &dyn Provider, t: &Topology, plan: &Plan, opts: &Options) -> Preflight {
    let th = &p.settings().thresholds;
    let mut out = Vec::new();
    let mut warnings = Vec::new();
    let mut choices =
        serde_json::json!({ "force": opts.force, "accept_data_loss": opts.accept_data_loss });
    let target = t.region(&plan.to);
    match plan.operation {
        OpKind::Switchover => out = switch_target_rules(p, t, &plan.from, &plan.to, false),
        OpKind::Failover => {
            if let Some(r) = target {
                target_api_rule(&mut out, r);
                if let Some(f) = &r.fenced {
                    refuse(
                        &mut out,
                        "target-fenced",
                        format!("{} is fenced: {f}", r.name),
                    );
                }
            }
            let from = t.region(&plan.from);
            let writer_healthy =
                from.is_some_and(|f| f.db_role == DbRole::Writer && f.api == ApiState::Ready);
            if writer_healthy && target.is_some_and(|r| r.streaming) {
                refuse(
                    &mut out,
                    "writer-healthy",
                    format!(
                        "{} is healthy and {} is streaming from it: use `pmctl switchover --to {}` for a planned move",
                        plan.from, plan.to, plan.to
                    ),
                );
            }
            if t.rpo == Rpo::Async {
                // Patroni's maximum_lag_on_failover, made explicit.
                let lag_b = target.and_then(|r| r.lag_bytes);
                let lag_ms = target.and_then(|r| r.lag_ms);
                choices["lag_bytes_at_decision"] = serde_json::json!(lag_b);
                choices["lag_ms_at_decision"] = serde_json::json!(lag_ms);
                let over = match (lag_b, lag_ms) {
                    (Some(l), _) => l > th.failover_max_lag_bytes,
                    (None, Some(ms)) => ms > th.failover_max_lag_ms,
                    (None, None) => true,
                };
                if over && !opts.accept_data_loss {
                    refuse(
                        &mut out,
                        "rpo-budget",
                        format!(
                            "rpo is async and {}'s lag is {} (budget {} bytes / {} ms): acknowledged writes may be lost; pass --accept-data-loss to proceed",
                            plan.to,
                            target.map(|r| r.lag_text()).unwrap_or_else(|| "unknown".into()),
                            th.failover_max_lag_bytes,
                            th.failover_max_lag_ms,
                        ),
                    );
                }
            }
            let mut v = Vec::new();
            version_rule(&mut v, t, &plan.from, &plan.to);
            warnings.extend(
                v.into_iter()
                    .map(|r| format!("failover onto another version: {}", r.reason)),
            );
        }
        // Deploys have their own preflight (`ops::deploy::preflight`).
        OpKind::Deploy | OpKind::Rollback => {}
        OpKind::Failback => {
            if let Some(w) = t.region(&plan.from) {
                if w.api != ApiState::Ready {
                    refuse(
                        &mut out,
                        "writer-api",
                        format!("API {} (the writer) is not ready", w.name),
                    );
                }
            }
            if plan.steps.iter().any(|s| matches!(s, Step::Gate { .. })) {
                // The rebuilt region will take writes: its API must at least be running
                // (its database may be down until rebuilt; the gate checks the rest).
                if let Some(r) = target.filter(|r| r.api == ApiState::Unreachable) {
                    refuse(
                        &mut out,
                        "target-api",
                        format!(
                            "API {} does not answer, so the writer cannot move there after the rebuild; start it (`pmctl dev up`) first, or fail back without --switchover",
                            r.name
                        ),
                    );
                }
            }
        }
    }
    Preflight {
        refusals: out,
        warnings,
        choices,
    }
}
