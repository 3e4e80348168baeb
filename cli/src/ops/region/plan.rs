//! Composing an operation from capabilities; the provider expands each into its steps.

use super::{Options, RegionError};
use crate::config::Rpo;
use crate::ops::plan::{OpKind, Plan};
use crate::provider::{ApiState, Capability, DbRole, Provider, Step, Topology};

fn check_region(p: &dyn Provider, name: &str) -> Result<(), RegionError> {
    let regions = p.regions();
    if regions.iter().any(|r| r == name) {
        Ok(())
    } else {
        Err(RegionError::UnknownRegion {
            name: name.to_string(),
            known: regions.join(", "),
        })
    }
}

fn other(p: &dyn Provider, r: &str) -> String {
    p.regions()
        .into_iter()
        .find(|x| x != r)
        .expect("two regions")
}

/// Stable facts (no LSNs, lags or times) the plan is made from.
fn facts(t: &Topology) -> Vec<String> {
    let mut f = Vec::new();
    for r in &t.regions {
        let repl = match r.db_role {
            DbRole::Replica if r.streaming => ", streaming",
            DbRole::Replica => ", not streaming",
            _ => "",
        };
        let fenced = if r.fenced.is_some() { ", fenced" } else { "" };
        let api = match r.api {
            ApiState::Ready => "ready",
            ApiState::NotReady => "not ready",
            ApiState::Unreachable => "not answering",
        };
        f.push(format!(
            "{}: database {}{repl}{fenced}, API {api}",
            r.name, r.db_role
        ));
    }
    if let Some(d) = &t.dns {
        f.push(format!(
            "DNS PRIMARY {}{}",
            d.primary,
            if d.writes_blocked {
                ", writes blocked"
            } else {
                ""
            }
        ));
    } else {
        f.push("DNS / front door unreadable".into());
    }
    f.push(format!("rpo {}", t.rpo));
    f
}

/// The capabilities of a planned switch `from` → `to`.
fn switchover_caps(from: &str, to: &str, epoch: i64, rpo: Rpo) -> Vec<Capability> {
    vec![
        Capability::PauseWrites,
        Capability::RouteTrafficTo { region: to.into() },
        Capability::PlannedSwitch {
            from: from.into(),
            to: to.into(),
            epoch,
            sync: rpo == Rpo::Zero,
        },
        Capability::ResumeWrites,
        Capability::VerifyWrite { region: to.into() },
    ]
}

/// Builds the plan for `op` towards `to` (failback: `to` is the region to rebuild; None =
/// the region that is not the writer). Refuses what makes no sense (not overridable).
pub fn plan(
    p: &dyn Provider,
    t: &Topology,
    op: OpKind,
    to: Option<&str>,
    opts: &Options,
) -> Result<Plan, RegionError> {
    if let Some(to) = to {
        check_region(p, to)?;
    }
    let epoch = t.epoch().max(1);
    let mut caps: Vec<Capability> = Vec::new();
    let (from, to) = match op {
        OpKind::Deploy | OpKind::Rollback => {
            return Err(RegionError::Impossible(vec![format!(
                "a {} is planned by `pmctl {}`, not by the region-change engine",
                op.name(),
                op.name()
            )]))
        }
        OpKind::Switchover | OpKind::Failover => {
            let Some(to) = to else {
                return Err(RegionError::Impossible(vec![format!(
                    "{} needs a target region (--to)",
                    op.name()
                )]));
            };
            let to = to.to_string();
            let from = other(p, &to);
            let target = t.region(&to).expect("checked");
            if target.db_role == DbRole::Writer {
                let what = if t.writers().len() > 1 {
                    format!("{to} is a writer, and so is {from} (split brain): fence {from} with `pmctl failover --to {to}`")
                } else {
                    format!("{to} is already the writer: nothing to do")
                };
                return Err(RegionError::Impossible(vec![what]));
            }
            if matches!(target.db_role, DbRole::Down | DbRole::Fenced) {
                return Err(RegionError::Impossible(vec![format!(
                    "{to}'s database is {}: there is nothing to promote",
                    target.db_role
                )]));
            }
            if op == OpKind::Switchover {
                if t.single_writer().map(|w| w.name.as_str()) != Some(from.as_str()) {
                    return Err(RegionError::Impossible(vec![format!(
                        "{from} is not the one writer (database {}): a switchover needs a healthy writer; use `pmctl failover --to {to}`",
                        t.region(&from).map(|r| r.db_role.to_string()).unwrap_or_default()
                    )]));
                }
                caps = switchover_caps(&from, &to, epoch + 1, t.rpo);
            } else {
                caps.push(Capability::Fence {
                    region: from.clone(),
                    epoch: epoch + 1,
                });
                caps.push(Capability::Promote {
                    region: to.clone(),
                    from: from.clone(),
                    epoch: epoch + 1,
                    allow_data_loss: opts.accept_data_loss,
                });
                caps.push(Capability::RouteTrafficTo { region: to.clone() });
                if t.dns.as_ref().is_some_and(|d| d.writes_blocked) {
                    caps.push(Capability::ResumeWrites);
                }
                caps.push(Capability::VerifyWrite { region: to.clone() });
            }
            (from, to)
        }
        OpKind::Failback => {
            let Some(writer) = t.single_writer().map(|w| w.name.clone()) else {
                let n = t.writers().len();
                return Err(RegionError::Impossible(vec![if n == 0 {
                    "failback needs a writer region to rebuild the other from, and no region's database accepts writes (start the writer's region with `pmctl dev up`, or `pmctl failover` to the surviving region)".into()
                } else {
                    "failback needs exactly one writer region, and two accept writes (split brain): fence one with `pmctl failover --to <region>` first".into()
                }]));
            };
            let rebuild = match to {
                Some(r) if r == writer => {
                    return Err(RegionError::Impossible(vec![format!(
                        "{r} is the writer; failback rebuilds the other region"
                    )]))
                }
                Some(r) => r.to_string(),
                None => other(p, &writer),
            };
            caps.push(Capability::RebuildAsReplica {
                region: rebuild.clone(),
                of: writer.clone(),
                sync: t.rpo == Rpo::Zero,
            });
            if t.dns.as_ref().is_some_and(|d| d.writes_blocked) && !opts.switchover_back {
                caps.push(Capability::ResumeWrites);
            }
            let mut steps_tail = Vec::new();
            if opts.switchover_back {
                steps_tail = switchover_caps(&writer, &rebuild, epoch + 1, t.rpo);
            }
            let mut steps: Vec<Step> = caps.iter().flat_map(|c| p.expand(c, t)).collect();
            if opts.switchover_back {
                // The rebuilt region must be a healthy target before the writer moves.
                steps.push(Step::Gate {
                    to: rebuild.clone(),
                });
                steps.extend(steps_tail.iter().flat_map(|c| p.expand(c, t)));
            }
            return Ok(finish(p, t, op, writer, rebuild, epoch, steps));
        }
    };
    let steps = caps.iter().flat_map(|c| p.expand(c, t)).collect();
    Ok(finish(p, t, op, from, to, epoch, steps))
}

fn finish(
    p: &dyn Provider,
    t: &Topology,
    op: OpKind,
    from: String,
    to: String,
    epoch: i64,
    steps: Vec<Step>,
) -> Plan {
    let moves_writer =
        op != OpKind::Failback || steps.iter().any(|s| matches!(s, Step::Gate { .. }));
    Plan {
        operation: op,
        provider: p.kind().to_string(),
        environment: p.environment().to_string(),
        from,
        to,
        epoch: (epoch, if moves_writer { epoch + 1 } else { epoch }),
        facts: facts(t),
        steps,
    }
}
