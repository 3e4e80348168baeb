//! The drill's reaction: nobody, a planned switchover at a set time, or automatic failover
//! when write probes of the writer region keep failing — each through the same engine and
//! plan as `pmctl switchover` / `pmctl failover`.

use super::events::Ctx;
use super::runbook::{ReactionKind, Runbook};
use crate::ops::plan::OpKind;
use crate::ops::region::{self, Options, Outcome, Request};
use crate::provider::Provider;
use crate::shell::Shell;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// A write probe straight at a region's own API (not through the entry point).
async fn probe(http: &reqwest::Client, url: &str, token: &str) -> bool {
    matches!(
        http.post(format!("{url}/v1/landlord/callback-token/rotate"))
            .bearer_auth(token)
            .send()
            .await,
        Ok(r) if r.status().is_success()
    )
}

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
    let op = match rb.reaction.kind {
        ReactionKind::None => return,
        ReactionKind::Switchover => {
            let at = rb.reaction.at.map(|a| a.0).unwrap_or_default();
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tokio::time::sleep_until((ctx.t0 + at).into()) => {}
            }
            ctx.mark("reaction", format!("planned switchover to {target}"));
            OpKind::Switchover
        }
        ReactionKind::Auto => {
            let interval = rb.reaction.check_interval.0;
            let http = reqwest::Client::builder()
                .timeout(interval.max(Duration::from_millis(300)))
                .build()
                .expect("http");
            let (Ok(url), Ok(token)) = (
                p.traffic().region_url(writer),
                p.traffic()
                    .token("pmctl-drill-probe", Duration::from_secs(7200)),
            ) else {
                ctx.mark("reaction-failed", "no probe endpoint or credentials");
                return;
            };
            let mut fails = 0;
            loop {
                if stop.is_cancelled() {
                    return;
                }
                let tick = Instant::now();
                if probe(&http, &url, &token).await {
                    fails = 0;
                } else {
                    fails += 1;
                    if fails >= rb.reaction.detect_failures {
                        ctx.mark(
                            "detected",
                            format!("{fails} consecutive failed write probes of {writer}"),
                        );
                        break;
                    }
                }
                tokio::time::sleep(interval.saturating_sub(tick.elapsed())).await;
            }
            OpKind::Failover
        }
    };
    let opts = Options {
        force: false,
        accept_data_loss: rb.reaction.accept_data_loss,
        switchover_back: false,
        crash_after: None,
    };
    let req = Request::New {
        op,
        to: Some(target),
        dry_run: false,
        plan_hash: None,
    };
    let mut yes = |_: &crate::ops::plan::Plan| true;
    match region::run(p, req, &opts, &Shell::silent(), &mut yes).await {
        Ok(Outcome::Executed(rep)) => {
            // Step completion times, on the drill's clock.
            for (n, at) in &rep.finished_at {
                let name = rep.steps.get(n - 1).map(|s| s.name).unwrap_or("");
                let marker = match name {
                    "promote" | "failover-global" | "switchover-global" => Some("promoted"),
                    "move-dns" | "failover-records" => Some("dns-moved"),
                    "fence-writer" => Some("fenced"),
                    _ => None,
                };
                if let Some(m) = marker {
                    ctx.mark_at(m, *at, format!("{} step {n}", op.name()));
                }
            }
            ctx.mark(
                &format!("{}-done", op.name()),
                format!("operation {} in {} ms", rep.op_id, rep.total_ms),
            );
        }
        Ok(Outcome::Planned(_)) => {}
        Err(e) => ctx.mark(&format!("{}-failed", op.name()), e.to_string()),
    }
}
