//! The drill's reaction: nobody; a planned switchover at a set time (through the same engine
//! and plan as `pmctl switchover`); or `auto` — the autopilot, the always-on control plane
//! production uses, which the drill only watches: it waits for the autopilot's failover in
//! the journal and marks detection, promotion and the DNS move on the drill's clock.

use super::events::Ctx;
use super::runbook::{ReactionKind, Runbook};
use crate::journal::{self, Entry};
use crate::ops::plan::OpKind;
use crate::ops::region::{self, Options, Outcome, Request};
use crate::provider::Provider;
use crate::shell::Shell;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

pub async fn react(
    p: &dyn Provider,
    ctx: &Ctx,
    rb: &Runbook,
    writer: &str,
    stop: CancellationToken,
) {
    let Some(target) = p.regions().into_iter().find(|r| r != writer) else {
        return;
    };
    match rb.reaction.kind {
        ReactionKind::None => {}
        ReactionKind::Auto => watch_autopilot(p, ctx, stop).await,
        ReactionKind::Switchover => {
            let at = rb.reaction.at.map(|a| a.0).unwrap_or_default();
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tokio::time::sleep_until((ctx.t0 + at).into()) => {}
            }
            ctx.mark("reaction", format!("planned switchover to {target}"));
            let req = Request::New {
                op: OpKind::Switchover,
                to: Some(target),
                dry_run: false,
                plan_hash: None,
            };
            let mut yes = |_: &crate::ops::plan::Plan| true;
            match region::run(p, req, &Options::default(), &Shell::silent(), &mut yes).await {
                Ok(Outcome::Executed(rep)) => {
                    for (n, at) in &rep.finished_at {
                        if let Some(m) = marker(rep.steps.get(n - 1).map(|s| s.name).unwrap_or(""))
                        {
                            ctx.mark_at(m, *at, format!("switchover step {n}"));
                        }
                    }
                    ctx.mark(
                        "switchover-done",
                        format!("operation {} in {} ms", rep.op_id, rep.total_ms),
                    );
                }
                Ok(Outcome::Planned(_)) => {}
                Err(e) => ctx.mark("switchover-failed", e.to_string()),
            }
        }
    }
}

fn marker(step: &str) -> Option<&'static str> {
    match step {
        "promote" | "failover-global" | "switchover-global" => Some("promoted"),
        "move-dns" | "failover-records" => Some("dns-moved"),
        "fence-writer" | "api-concurrency" => Some("fenced"),
        _ => None,
    }
}

/// Waits for the autopilot's failover (started after the drill began) and marks it. Once
/// traffic ends it waits only for a failover already under way.
async fn watch_autopilot(p: &dyn Provider, ctx: &Ctx, stop: CancellationToken) {
    let mut seen: Option<String> = None;
    loop {
        if let Ok(r) = p.store().read().await {
            if let Ok(ops) = journal::operations(&p.store().location(), &r.entries) {
                let mine = ops.iter().find(|o| {
                    o.choices["autopilot"] == true
                        && o.plan.operation == OpKind::Failover
                        && o.started_at >= ctx.t0_utc
                });
                if let Some(op) = mine {
                    if seen.is_none() {
                        let decided = op.choices["decided_at"]
                            .as_str()
                            .and_then(|t| t.parse::<chrono::DateTime<chrono::Utc>>().ok())
                            .unwrap_or(op.started_at);
                        ctx.mark_at(
                            "detected",
                            decided,
                            format!("autopilot: {}", op.choices["reason"].as_str().unwrap_or("")),
                        );
                        seen = Some(op.op_id.clone());
                    }
                    if let Some((_, ok, summary)) = &op.finished {
                        for e in &r.entries {
                            if let Entry::StepDone {
                                op_id, step, at, ..
                            } = e
                            {
                                if *op_id != op.op_id {
                                    continue;
                                }
                                let name = op.plan.steps.get(step - 1).map(|s| s.name());
                                if let Some(m) = name.and_then(marker) {
                                    ctx.mark_at(m, *at, format!("autopilot failover step {step}"));
                                }
                            }
                        }
                        ctx.mark(
                            if *ok {
                                "failover-done"
                            } else {
                                "failover-failed"
                            },
                            format!("autopilot operation {}: {summary}", op.op_id),
                        );
                        return;
                    }
                }
            }
        }
        if stop.is_cancelled() && seen.is_none() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
