//! Deploy preflight: named rules, like the region changes' (`--force` overrides them).

use super::{Facts, Request};
use crate::ops::drill::certificate;
use crate::ops::plan::Plan;
use crate::ops::region::{Preflight, Refusal};
use crate::provider::{ApiState, Provider};

fn refuse(out: &mut Vec<Refusal>, rule: &'static str, reason: String) {
    out.push(Refusal { rule, reason });
}

/// The regions a plan changes.
fn regions(plan: &Plan) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for s in &plan.steps {
        if let Some(region) = s.promotes_release() {
            if !out.iter().any(|r| r == region) {
                out.push(region.to_string());
            }
        }
    }
    out
}

pub fn preflight(
    p: &dyn Provider,
    f: &Facts,
    plan: &Plan,
    req: Option<&Request>,
    force: bool,
) -> Preflight {
    let t = &f.topology;
    let mut out = Vec::new();
    let mut warnings = Vec::new();
    for m in f.pending.iter().filter(|m| !m.breaking.is_empty()) {
        refuse(
            &mut out,
            "migration-compatible",
            format!(
                "migration {} ({}) would break the running version: {} (expand/contract: README \"Deploy\")",
                m.version,
                m.description,
                m.breaking.join("; ")
            ),
        );
    }
    let changed = regions(plan);
    for r in &changed {
        match t.region(r).map(|s| s.api) {
            Some(ApiState::Ready) => {}
            _ => refuse(
                &mut out,
                "region-api",
                format!("API {r} is not ready: a canary beside it could not be judged"),
            ),
        }
        if f.releases.get(r).is_some_and(|x| x.canary_running) {
            warnings.push(format!(
                "{r} has a canary running from an earlier deploy; this deploy replaces it"
            ));
        }
    }
    for a in &t.alarms {
        refuse(
            &mut out,
            "no-alarms",
            format!(
                "alarm {} is firing: {} (a canary's errors could not be told apart)",
                a.name, a.detail
            ),
        );
    }
    if req.is_some_and(|r| r.require_drill) {
        if let (Ok((writer, standby)), Some(rel)) = (super::plan::roles(p, t), &f.release) {
            if changed.contains(&writer) {
                let certs = certificate::load(&p.state_dir());
                if certificate::certifying(&certs, &rel.version).is_none() {
                    let last = certs
                        .iter()
                        .rev()
                        .find(|c| c.passed)
                        .map(|c| {
                            format!(
                                "the last passed drill ({}, {}) ran {} in its standby region {}",
                                c.runbook,
                                c.at.format("%Y-%m-%d %H:%M"),
                                c.standby_version().unwrap_or("an unknown version"),
                                c.standby
                            )
                        })
                        .unwrap_or_else(|| "no drill has passed in this environment".into());
                    refuse(
                        &mut out,
                        "drill-certified",
                        format!(
                            "--require-drill: {} has not passed a drill in the standby region ({last}); deploy it to {standby} first (`pmctl deploy --region {standby}`), run a drill, then deploy to {writer}",
                            rel.version
                        ),
                    );
                }
            }
        }
    }
    let choices = serde_json::json!({
        "force": force,
        "require_drill": req.is_some_and(|r| r.require_drill),
        "canary": req.map(|r| super::canary::render(&r.canary)),
    });
    Preflight {
        refusals: out,
        warnings,
        choices,
    }
}
