//! Deploy and rollback plans: the engine's capabilities in order — migrations once on the
//! writer, then per region (standby first, then writer) start the canary, each traffic
//! step with its gate, promote — expanded by the provider into its steps.

use super::canary::{self, CanaryStep};
use super::{Facts, Request};

use crate::ops::plan::{OpKind, Plan};
use crate::ops::region::RegionError;
use crate::provider::{Capability, Provider, ReleaseSpec, Step, Topology};

fn impossible(why: String) -> RegionError {
    RegionError::Impossible(vec![why])
}

/// (writer, standby) — a deploy needs one writer to migrate and to order the regions.
pub(super) fn roles(p: &dyn Provider, t: &Topology) -> Result<(String, String), RegionError> {
    let Some(w) = t.single_writer() else {
        return Err(impossible(format!(
            "a deploy needs exactly one writer region ({} accept writes): fix the regions first (`pmctl status`)",
            t.writers().len()
        )));
    };
    let standby = p
        .regions()
        .into_iter()
        .find(|r| *r != w.name)
        .expect("two regions");
    Ok((w.name.clone(), standby))
}

fn check_region(p: &dyn Provider, r: &str) -> Result<(), RegionError> {
    if p.regions().iter().any(|x| x == r) {
        Ok(())
    } else {
        Err(RegionError::UnknownRegion {
            name: r.to_string(),
            known: p.regions().join(", "),
        })
    }
}

fn facts_text(t: &Topology) -> Vec<String> {
    let mut out = Vec::new();
    for r in &t.regions {
        out.push(format!(
            "{}: database {}, runs {}",
            r.name,
            r.db_role,
            r.api_version
                .as_deref()
                .unwrap_or("unknown (API not answering)")
        ));
    }
    out
}

fn expand(p: &dyn Provider, t: &Topology, caps: &[Capability]) -> Vec<Step> {
    caps.iter().flat_map(|c| p.expand(c, t)).collect()
}

/// The steps that put `release` on `region`: canary, traffic steps with their gates,
/// promotion.
fn region_steps(
    p: &dyn Provider,
    t: &Topology,
    region: &str,
    release: &ReleaseSpec,
    steps: &[CanaryStep],
    gate: &crate::provider::GateSpec,
) -> Vec<Step> {
    let mut out = expand(
        p,
        t,
        &[Capability::StartCanary {
            region: region.into(),
            release: release.clone(),
        }],
    );
    for s in steps {
        out.extend(expand(
            p,
            t,
            &[Capability::ShiftTraffic {
                region: region.into(),
                release: release.clone(),
                percent: s.percent,
            }],
        ));
        out.push(Step::WatchCanary {
            region: region.into(),
            percent: s.percent,
            window_secs: s.window.as_secs(),
            gate: gate.clone(),
        });
    }
    out.extend(expand(
        p,
        t,
        &[Capability::PromoteCanary {
            region: region.into(),
            release: release.clone(),
        }],
    ));
    out
}

/// `pmctl deploy`: the plan for `f.release`.
pub fn deploy_plan(p: &dyn Provider, f: &Facts, req: &Request) -> Result<Plan, RegionError> {
    let t = &f.topology;
    let (writer, standby) = roles(p, t)?;
    let release = f.release.as_ref().expect("deploy facts carry the release");
    let wanted: Vec<String> = match &req.region {
        Some(r) => {
            check_region(p, r)?;
            vec![r.clone()]
        }
        None => vec![standby.clone(), writer.clone()],
    };
    // A region that already runs this release has nothing to do (a re-run is a no-op).
    let runs = |r: &str| {
        let cur = f.releases.get(r).and_then(|x| x.current.as_ref());
        t.region(r).and_then(|s| s.api_version.as_deref()) == Some(release.version.as_str())
            && cur.is_none_or(|c| c.sha256 == release.sha256)
    };
    let regions: Vec<String> = wanted.iter().filter(|r| !runs(r)).cloned().collect();
    if regions.is_empty() {
        return Err(impossible(format!(
            "{} already run{} {}: nothing to deploy",
            wanted.join(" and "),
            if wanted.len() == 1 { "s" } else { "" },
            release.version
        )));
    }
    let mut steps = Vec::new();
    if !f.pending.is_empty() {
        steps.extend(expand(
            p,
            t,
            &[Capability::Migrate {
                region: writer.clone(),
                release: release.clone(),
            }],
        ));
    }
    for r in &regions {
        steps.extend(region_steps(p, t, r, release, &req.canary, &req.gate));
    }
    let mut facts = facts_text(t);
    facts.push(format!(
        "release {release}{}",
        release
            .artifact
            .as_deref()
            .map(|a| format!(" from {a}"))
            .unwrap_or_else(|| {
                " (no artifact: the built-in server, or a version already published)".into()
            })
    ));
    facts.push(if let Some(note) = &f.migrations_note {
        note.clone()
    } else if f.pending.is_empty() {
        "no pending migrations".into()
    } else {
        format!(
            "pending migrations: {}",
            f.pending
                .iter()
                .map(|m| format!("{} {}", m.version, m.description))
                .collect::<Vec<_>>()
                .join(", ")
        )
    });
    facts.push(format!("canary {}", canary::render(&req.canary)));
    let from: Vec<String> = regions
        .iter()
        .map(|r| {
            t.region(r)
                .and_then(|s| s.api_version.clone())
                .unwrap_or_else(|| "?".into())
        })
        .collect();
    let mut from_d = from.clone();
    from_d.dedup();
    let epoch = t.epoch();
    Ok(Plan {
        operation: OpKind::Deploy,
        provider: p.kind().to_string(),
        environment: p.environment().to_string(),
        from: from_d.join("+"),
        to: release.version.clone(),
        epoch: (epoch, epoch),
        facts,
        steps,
    })
}

/// `pmctl rollback [--region R]`: each region back to its previous release (the writer
/// first: it serves), promoted at once (no canary steps), the old version drained.
pub fn rollback_plan(
    p: &dyn Provider,
    f: &Facts,
    region: Option<&str>,
) -> Result<Plan, RegionError> {
    let t = &f.topology;
    let (writer, standby) = roles(p, t)?;
    let wanted: Vec<String> = match region {
        Some(r) => {
            check_region(p, r)?;
            vec![r.to_string()]
        }
        None => vec![writer, standby],
    };
    let mut steps = Vec::new();
    let mut from = Vec::new();
    let mut to = Vec::new();
    let mut missing = Vec::new();
    for r in &wanted {
        let prev = f.releases.get(r).and_then(|x| x.previous.clone());
        let Some(prev) = prev else {
            missing.push(r.clone());
            continue;
        };
        from.push(
            t.region(r)
                .and_then(|s| s.api_version.clone())
                .unwrap_or_else(|| "?".into()),
        );
        to.push(prev.version.clone());
        steps.extend(region_steps(p, t, r, &prev, &[], &super::default_gate()));
    }
    if steps.is_empty() {
        return Err(impossible(format!(
            "no previous release recorded for {}: nothing to roll back to (`pmctl deploy history`)",
            missing.join(" or ")
        )));
    }
    let mut facts = facts_text(t);
    for m in &missing {
        facts.push(format!("{m}: no previous release, left as it is"));
    }
    from.dedup();
    to.dedup();
    let epoch = t.epoch();
    Ok(Plan {
        operation: OpKind::Rollback,
        provider: p.kind().to_string(),
        environment: p.environment().to_string(),
        from: from.join("+"),
        to: to.join("+"),
        epoch: (epoch, epoch),
        facts,
        steps,
    })
}
