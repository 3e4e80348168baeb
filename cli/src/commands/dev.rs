//! `pmctl dev up | down | status | logs | link | rebuild | token`.

use super::{json, out, runtime, Global, Output};
use crate::devstack::stack::{self, StackSpec};
use crate::devstack::{Stack, StackError, REGIONS};
use crate::error::{
    CliError, CliResult, EXIT_DEGRADED, EXIT_FAILED, EXIT_INVALID, EXIT_OK, EXIT_REFUSED,
};
use clap::Subcommand;
use comfy_table::{presets::UTF8_FULL_CONDENSED, Table};

#[derive(Subcommand, Debug)]
pub enum DevCmd {
    /// Start the local two-region stack (idempotent; repairs a half-started stack: starts
    /// every component it can and reports each one that fails, with its fix).
    Up {
        /// Put every port at a fixed offset from this one (front door = BASE, APIs BASE+1/+2,
        /// admin BASE+9, PostgreSQL BASE+11/+12, links BASE+13/+14).
        #[arg(long)]
        port_base: Option<u16>,
        /// Replication mode: `zero` (synchronous) or `async`; overrides pmctl.toml.
        #[arg(long, value_parser = ["zero", "async"])]
        rpo: Option<String>,
        /// Do not start the autopilot (the witness that fails over by itself).
        #[arg(long)]
        no_autopilot: bool,
    },
    /// Stop every component and remove the stack's data.
    Down {
        /// Keep the state directory (databases, logs) after stopping.
        #[arg(long)]
        keep_data: bool,
    },
    /// Each component: pid, port, health, database role, replication.
    Status,
    /// Print a component's log (api-east, api-west, postgres-east, postgres-west, net,
    /// autopilot).
    Logs {
        component: Option<String>,
        /// Lines from the end of each log.
        #[arg(long, short = 'n', default_value_t = 50)]
        lines: usize,
    },
    /// Set a link's mode: up, down (partition), blackhole (hang), latency:<ms>.
    Link {
        /// repl-to-east or repl-to-west.
        name: String,
        /// up | down | blackhole | latency:<ms>
        mode: String,
    },
    /// Rebuild a region's database as a streaming replica of the current writer (pg_rewind,
    /// or a fresh copy): the fix for a diverged former writer that `dev up` reports.
    Rebuild {
        /// The region to rebuild (not the writer).
        #[arg(value_parser = REGIONS)]
        region: String,
    },
    /// Print a landlord bearer token the local APIs accept (for curl).
    Token {
        #[arg(long, default_value = "landlord-dev")]
        sub: String,
        #[arg(long, default_value_t = 3600)]
        ttl_secs: u64,
    },
}

pub fn run(g: &Global, cmd: DevCmd) -> CliResult {
    let (dir, env) = g.local()?;
    let shell = g.shell();
    let rt = runtime();
    match cmd {
        DevCmd::Up {
            port_base,
            rpo,
            no_autopilot,
        } => {
            let rpo = rpo.as_deref().map(|r| match r {
                "async" => crate::config::Rpo::Async,
                _ => crate::config::Rpo::Zero,
            });
            let mut spec = StackSpec::from_env(&env, port_base, rpo).map_err(CliError::invalid)?;
            spec.autopilot.env = g.env.clone();
            if no_autopilot {
                spec.autopilot.settings.enabled = false;
            }
            let outcome = match rt.block_on(stack::up(&dir, spec, &shell)) {
                Ok(o) => o,
                Err(e @ StackError::Incomplete { .. }) => {
                    if g.output == Output::Json {
                        if let StackError::Incomplete { started, failures } = &e {
                            out(json(&serde_json::json!({
                                "outcome": "incomplete",
                                "started": started,
                                "failures": failures,
                                "state_dir": dir,
                            })));
                        }
                    }
                    return Err(stack_error(e));
                }
                Err(e) => return Err(stack_error(e)),
            };
            match &outcome {
                stack::UpOutcome::AlreadyUp => {
                    shell.status("Up", "stack already running; nothing to do")
                }
                stack::UpOutcome::Repaired { started } => {
                    shell.status("Repaired", format!("started {}", started.join(", ")))
                }
                stack::UpOutcome::Created => {}
            }
            let st = Stack::open(&dir).map_err(stack_error)?;
            // Which region writes, as the databases say (after a failover: west).
            let writer = rt.block_on(crate::devstack::status::roles(&st)).writer;
            if g.output == Output::Json {
                out(json(&serde_json::json!({
                    "outcome": outcome,
                    "frontdoor": st.frontdoor_url(),
                    "writer": writer,
                    "state_dir": dir,
                })));
            } else {
                let roles = match &writer {
                    Some(w) => format!("{w} writer, {} replica", stack::other_region(w)),
                    None => "no writer region: see `pmctl status`".to_string(),
                };
                out(format!(
                    "stack up: front door {} ({roles}, rpo {})\n\
                     try:  curl -H \"Authorization: Bearer $(pmctl dev token)\" {}/v1/properties",
                    st.frontdoor_url(),
                    st.spec().rpo,
                    st.frontdoor_url()
                ));
            }
            Ok(EXIT_OK)
        }
        DevCmd::Down { keep_data } => {
            let r = rt
                .block_on(stack::down(&dir, keep_data, &shell))
                .map_err(stack_error)?;
            if g.output == Output::Json {
                out(json(&r));
            } else {
                shell.status(
                    "Down",
                    format!(
                        "stopped {}{}",
                        if r.stopped.is_empty() {
                            "nothing".to_string()
                        } else {
                            r.stopped.join(", ")
                        },
                        if r.removed {
                            "; data removed"
                        } else {
                            "; data kept"
                        }
                    ),
                );
            }
            Ok(EXIT_OK)
        }
        DevCmd::Status => {
            let st = rt.block_on(stack::status(&dir)).map_err(stack_error)?;
            if g.output == Output::Json {
                out(json(&st));
            } else {
                let mut t = Table::new();
                t.load_preset(UTF8_FULL_CONDENSED);
                t.set_header([
                    "component",
                    "pid",
                    "port",
                    "health",
                    "role",
                    "replication",
                    "detail",
                ]);
                for c in &st.components {
                    let repl = c
                        .replicas
                        .iter()
                        .map(|r| {
                            format!(
                                "{} {} {} lag {}",
                                r.application_name,
                                r.state,
                                r.sync_state,
                                r.lag_bytes
                                    .map(|b| format!("{b} B"))
                                    .unwrap_or_else(|| "?".into())
                            )
                        })
                        .collect::<Vec<_>>()
                        .join("; ");
                    t.add_row([
                        c.name.clone(),
                        c.pid.map(|p| p.to_string()).unwrap_or_else(|| "-".into()),
                        c.port.to_string(),
                        match (c.running, c.healthy) {
                            (true, true) => "ok".into(),
                            (true, false) => "unhealthy".into(),
                            (false, true) => "ok (no pid)".into(),
                            (false, false) => "stopped".into(),
                        },
                        c.db_role.clone().unwrap_or_else(|| "-".into()),
                        repl,
                        c.detail.clone(),
                    ]);
                }
                out(t);
            }
            Ok(if st.all_healthy() {
                EXIT_OK
            } else {
                EXIT_DEGRADED
            })
        }
        DevCmd::Logs { component, lines } => {
            let st = Stack::open(&dir).map_err(stack_error)?;
            let known = [
                "postgres-east",
                "postgres-west",
                "api-east",
                "api-west",
                "net",
                "autopilot",
            ];
            let pick: Vec<&str> = match component.as_deref() {
                None => known.to_vec(),
                Some(c) if known.contains(&c) => vec![c],
                Some(c) => {
                    return Err(CliError::invalid(format!(
                        "unknown component `{c}` (one of: {})",
                        known.join(", ")
                    )))
                }
            };
            for c in pick {
                let path = match c.strip_prefix("postgres-") {
                    Some(r) => st.cluster(r).map_err(stack_error)?.log_file().to_path_buf(),
                    None => st.log(c),
                };
                let text = std::fs::read_to_string(&path).unwrap_or_default();
                let all: Vec<&str> = text.lines().collect();
                out(format!("==> {c} ({}) <==", path.display()));
                for l in &all[all.len().saturating_sub(lines)..] {
                    out(l);
                }
            }
            Ok(EXIT_OK)
        }
        DevCmd::Link { name, mode } => {
            use crate::devstack::net::LinkMode;
            let mode = match mode.as_str() {
                "up" => LinkMode::Up,
                "down" => LinkMode::Down,
                "blackhole" => LinkMode::Blackhole,
                m => match m.strip_prefix("latency:").map(str::parse::<u64>) {
                    Some(Ok(ms)) => LinkMode::Latency { ms },
                    _ => {
                        return Err(CliError::invalid(format!(
                            "unknown link mode `{m}` (up, down, blackhole, latency:<ms>)"
                        )))
                    }
                },
            };
            let st = Stack::open(&dir).map_err(stack_error)?;
            let state = rt.block_on(st.admin().set_link_mode(&name, mode))?;
            let now = state
                .links
                .iter()
                .find(|l| l.name == name)
                .map_or_else(|| "unknown".to_string(), |l| l.mode.to_string());
            shell.status("Link", format!("{name} is now {now}"));
            Ok(EXIT_OK)
        }
        DevCmd::Rebuild { region } => {
            let report = rt
                .block_on(crate::devstack::rebuild::rebuild(&dir, &region, &shell))
                .map_err(stack_error)?;
            if g.output == Output::Json {
                out(json(&report));
            } else {
                out(format!(
                    "{} rebuilt ({}): streams from {}{}",
                    report.region,
                    match report.outcome {
                        crate::devstack::rebuild::Rebuilt::AlreadyReplica => "already a replica",
                        crate::devstack::rebuild::Rebuilt::Rewound => "pg_rewind",
                        crate::devstack::rebuild::Rebuilt::Recloned => "fresh copy",
                    },
                    report.writer,
                    if report.sync_standby {
                        ", synchronous standby"
                    } else {
                        ""
                    }
                ));
            }
            Ok(EXIT_OK)
        }
        DevCmd::Token { sub, ttl_secs } => {
            let st = Stack::open(&dir).map_err(stack_error)?;
            out(st.keys().token(&sub, ttl_secs)?);
            Ok(EXIT_OK)
        }
    }
}

/// Exit codes of the dev stack's errors: a wrong or empty state directory is invalid input
/// (2); a refusal or a held lock is 3; anything else (including a `dev up` that could not
/// start every component) is 1.
fn stack_error(e: StackError) -> CliError {
    let code = match &e {
        StackError::NotUp(_) | StackError::StateDir { .. } => EXIT_INVALID,
        StackError::Refused(_) | StackError::Lock(crate::lock::LockError::Held(_)) => EXIT_REFUSED,
        _ => EXIT_FAILED,
    };
    CliError::new(code, e)
}
