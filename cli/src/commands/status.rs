//! `pmctl status`: both regions at a glance and a verdict. Exit 0 OK, 1 DEGRADED, 2 DOWN.

use super::{json, out, runtime, Global, Output};
use crate::error::{CliResult, EXIT_DEGRADED, EXIT_DOWN, EXIT_OK};
use crate::ops::status::{verdict, Level, StatusReport};
use crate::provider::Provider;
use comfy_table::{presets::UTF8_FULL_CONDENSED, Table};
use std::time::Duration;

#[derive(clap::Args, Debug)]
pub struct StatusArgs {
    /// Refresh every 2 seconds until interrupted.
    #[arg(long)]
    watch: bool,
}

pub fn run(g: &Global, a: StatusArgs) -> CliResult {
    let p = super::region::provider(g)?;
    let rt = runtime();
    loop {
        let t = rt.block_on(p.snapshot())?;
        let report = StatusReport {
            verdict: verdict(&t),
            topology: t,
        };
        if a.watch && g.output == Output::Table {
            out("\x1b[2J\x1b[H");
        }
        if g.output == Output::Json {
            out(json(&report));
        } else {
            out(render(&report));
        }
        if !a.watch {
            return Ok(match report.verdict.level {
                Level::Ok => EXIT_OK,
                Level::Degraded => EXIT_DEGRADED,
                Level::Down => EXIT_DOWN,
            });
        }
        std::thread::sleep(Duration::from_secs(2));
    }
}

pub fn render(r: &StatusReport) -> String {
    let t = &r.topology;
    let mut table = Table::new();
    table.load_preset(UTF8_FULL_CONDENSED);
    table.set_header([
        "region",
        "dns",
        "api",
        "database",
        "lsn",
        "replication",
        "epoch",
        "version",
    ]);
    for reg in &t.regions {
        let dns = t
            .dns
            .as_ref()
            .map(|d| {
                let mut s = if d.primary == reg.name {
                    "PRIMARY".to_string()
                } else {
                    "SECONDARY".to_string()
                };
                if d.routing_to == reg.name {
                    s.push_str(" ◀ serving");
                }
                s
            })
            .unwrap_or_else(|| "?".into());
        let repl = if !reg.standbys.is_empty() {
            reg.standbys
                .iter()
                .map(|s| format!("→ {} {} {}", s.name, s.state, s.sync_state))
                .collect::<Vec<_>>()
                .join(", ")
        } else if reg.db_role == crate::provider::DbRole::Replica {
            format!(
                "{} lag {}",
                if reg.streaming {
                    "streaming"
                } else {
                    "NOT streaming"
                },
                reg.lag_bytes
                    .map(|l| format!("{l} B"))
                    .unwrap_or_else(|| "?".into())
            )
        } else {
            "-".into()
        };
        table.add_row([
            reg.name.clone(),
            dns,
            if reg.api_healthy {
                "ready".into()
            } else {
                "NOT READY".into()
            },
            reg.db_role.to_string(),
            reg.lsn.clone().unwrap_or_else(|| "-".into()),
            repl,
            reg.topology
                .as_ref()
                .map(|t| format!("{} ({})", t.1, t.0))
                .unwrap_or_else(|| "-".into()),
            reg.api_version.clone().unwrap_or_else(|| "-".into()),
        ]);
    }
    let mut s = format!("environment {} · rpo {}\n{table}\n", t.environment, t.rpo);
    if let Some(tr) = &t.traffic {
        s.push_str(&format!(
            "traffic (last {}s): {} requests, {} 5xx, p99 {}\n",
            tr.window_secs,
            tr.requests,
            tr.errors_5xx,
            tr.p99_ms
                .map(|p| format!("{p:.0} ms"))
                .unwrap_or_else(|| "-".into())
        ));
    }
    if t.dns.as_ref().is_some_and(|d| d.writes_blocked) {
        s.push_str("writes: BLOCKED at the front door\n");
    }
    for a in &t.alarms {
        s.push_str(&format!("alarm {}: {}\n", a.name, a.detail));
    }
    s.push_str(&r.verdict.to_string());
    s
}
