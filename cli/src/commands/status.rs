//! `pmctl status`: both regions at a glance and a verdict. Exit 0 OK, 1 DEGRADED, 2 DOWN.

use super::{json, out, runtime, Global, Output};
use crate::error::{CliResult, EXIT_DEGRADED, EXIT_DOWN, EXIT_OK};
use crate::ops::status::{self, Level, StatusError, StatusReport};
use comfy_table::{presets::UTF8_FULL_CONDENSED, Table};
use std::time::Duration;

#[derive(clap::Args, Debug)]
pub struct StatusArgs {
    /// Refresh every 2 seconds until interrupted.
    #[arg(long)]
    watch: bool,
}

pub fn run(g: &Global, a: StatusArgs) -> CliResult {
    let p = g.provider()?;
    let rt = runtime();
    let shell = g.shell();
    loop {
        let report = match rt.block_on(status::run(p.as_ref())) {
            Ok(r) => r,
            Err(StatusError::Provider(e)) => return Err(super::provider_error(e)),
        };
        for w in &report.warnings {
            shell.warn(w);
        }
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
                match (reg.lag_bytes, reg.lag_ms) {
                    (Some(l), _) => format!("{l} B"),
                    (None, Some(ms)) => format!("{ms} ms"),
                    _ => "?".into(),
                }
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
            match (&reg.fenced, reg.db_role) {
                (Some(_), crate::provider::DbRole::Down) => "down (fenced)".to_string(),
                (Some(_), r) => format!("{r} (fenced)"),
                (None, r) => r.to_string(),
            },
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
    for reg in &t.regions {
        if let Some(d) = reg.detail.as_deref().filter(|d| !d.is_empty()) {
            s.push_str(&format!("{}: {d}\n", reg.name));
        }
    }
    if let Some(tr) = &t.traffic {
        s.push_str(&format!(
            "traffic (last {}s): {} requests, {} 5xx, {} shed over capacity, p99 {}\n",
            tr.window_secs,
            tr.requests,
            tr.errors_5xx,
            tr.shed,
            tr.p99_ms
                .map(|p| format!("{p:.0} ms"))
                .unwrap_or_else(|| "-".into())
        ));
    }
    if t.dns.as_ref().is_some_and(|d| d.writes_blocked) {
        s.push_str("writes: BLOCKED at the front door\n");
    }
    if let Some(op) = &r.open_operation {
        s.push_str(&format!(
            "operation: {} {} → {} INTERRUPTED after step {}/{} (`pmctl {} --resume --yes`)\n",
            op.operation, op.from, op.to, op.done, op.total, op.operation
        ));
    }
    for f in &r.pending_faults {
        s.push_str(&format!(
            "fault: {} on {} (injected {} by pmctl pid {}{})\n",
            f.fault.kind.name(),
            f.fault.region,
            f.injected_at.format("%H:%M:%S"),
            f.pid,
            if f.owner_alive { ", running" } else { ", gone" }
        ));
    }
    for a in &t.alarms {
        s.push_str(&format!("alarm {}: {}\n", a.name, a.detail));
    }
    s.push_str(&r.verdict.to_string());
    s
}
