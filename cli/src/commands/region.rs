//! `pmctl switchover | failover | failback | history`: thin over `ops::region`.

use super::{json, out, runtime, Global, Output};
use crate::error::{CliError, CliResult, EXIT_OK};
use crate::journal;
use crate::ops::plan::{OpKind, HASH_LEN};
use crate::ops::region::{self, Options, Outcome, RegionError, Request};
use comfy_table::{presets::UTF8_FULL_CONDENSED, Table};
use std::io::{BufRead, IsTerminal, Write};

pub(super) fn plan_hash(s: &str) -> Result<String, String> {
    if s.len() == HASH_LEN && s.chars().all(|c| c.is_ascii_hexdigit()) {
        Ok(s.to_ascii_lowercase())
    } else {
        Err(format!(
            "`{s}` is not a plan hash: expected the {HASH_LEN} hex digits `--dry-run` printed"
        ))
    }
}

#[derive(clap::Args, Debug)]
pub struct OpArgs {
    /// Target region (the new writer; for failback: the region to rebuild, default the
    /// one that is not the writer).
    #[arg(long)]
    to: Option<String>,
    /// Print the plan (and its hash) and exit without changing anything.
    #[arg(long)]
    dry_run: bool,
    /// Refuse to run unless the plan still hashes to this (from a reviewed --dry-run).
    #[arg(long, value_name = "HASH", value_parser = plan_hash)]
    plan_hash: Option<String>,
    /// Skip the confirmation prompt.
    #[arg(long, short = 'y')]
    yes: bool,
    /// Proceed although preflight found an unhealthy or ambiguous state.
    #[arg(long)]
    force: bool,
    /// Continue the interrupted operation from its last completed step.
    #[arg(long, conflicts_with_all = ["to", "dry_run", "plan_hash", "force", "switchover"])]
    resume: bool,
    /// failover with rpo = "async": accept losing the replica's lag.
    #[arg(long)]
    accept_data_loss: bool,
    /// failback: switch the writer back afterwards.
    #[arg(long)]
    switchover: bool,
}

fn err(e: RegionError) -> CliError {
    CliError::new(e.exit_code(), e)
}

pub fn run(g: &Global, op: OpKind, a: OpArgs) -> CliResult {
    if op != OpKind::Failback && a.to.is_none() && !a.resume {
        return Err(CliError::invalid(format!(
            "{} needs --to <region>",
            op.name()
        )));
    }
    if a.switchover && op != OpKind::Failback {
        return Err(CliError::invalid("--switchover applies to failback only"));
    }
    let p = g.provider()?;
    let shell = g.shell();
    let opts = Options {
        force: a.force,
        accept_data_loss: a.accept_data_loss,
        switchover_back: a.switchover,
        crash_after: None,
        note: None,
    }
    .with_crash_hook_from_env();
    let req = if a.resume {
        Request::Resume { op }
    } else {
        Request::New {
            op,
            to: a.to.clone(),
            dry_run: a.dry_run,
            plan_hash: a.plan_hash.clone(),
        }
    };
    let yes = a.yes;
    let resume = a.resume;
    let mut confirm = move |plan: &crate::ops::plan::Plan| {
        let _ = std::io::stderr().write_all(plan.render().as_bytes());
        if resume {
            let _ = writeln!(std::io::stderr(), "(resuming from the journal)");
        }
        ask(yes)
    };
    let outcome = runtime()
        .block_on(region::run(p.as_ref(), req, &opts, &shell, &mut confirm))
        .map_err(err)?;
    match outcome {
        Outcome::Executed(report) => finish(g, &report),
        Outcome::Planned(planned) => {
            if g.output == Output::Json {
                out(json(&planned));
            } else {
                let mut s = planned.plan.render();
                if planned.preflight.refusals.is_empty() {
                    s.push_str("Preflight: ok\n");
                } else {
                    s.push_str("Preflight would refuse:\n");
                    for r in &planned.preflight.refusals {
                        s.push_str(&format!("  - {r}\n"));
                    }
                }
                for w in &planned.preflight.warnings {
                    s.push_str(&format!("Warning: {w}\n"));
                }
                s.push_str(&format!("Run it: {}", rerun(g, op, &a, &planned.plan_hash)));
                out(s);
            }
            Ok(EXIT_OK)
        }
    }
}

/// The command that runs exactly the reviewed plan (every flag that shapes it).
fn rerun(g: &Global, op: OpKind, a: &OpArgs, hash: &str) -> String {
    let mut s = String::from("pmctl");
    if g.env != crate::config::DEFAULT_ENV {
        s.push_str(&format!(" --env {}", g.env));
    }
    s.push(' ');
    s.push_str(op.name());
    if let Some(t) = &a.to {
        s.push_str(&format!(" --to {t}"));
    }
    if a.switchover {
        s.push_str(" --switchover");
    }
    if a.accept_data_loss {
        s.push_str(" --accept-data-loss");
    }
    s.push_str(&format!(" --plan-hash {hash}"));
    s
}

pub(super) fn ask(yes: bool) -> bool {
    if yes {
        return true;
    }
    if !std::io::stdin().is_terminal() {
        let _ = writeln!(
            std::io::stderr(),
            "not a terminal and no --yes: refusing to change regions without confirmation"
        );
        return false;
    }
    let _ = write!(std::io::stderr(), "Proceed? [y/N] ");
    let _ = std::io::stderr().flush();
    let mut line = String::new();
    let _ = std::io::stdin().lock().read_line(&mut line);
    matches!(line.trim(), "y" | "Y" | "yes")
}

fn finish(g: &Global, r: &region::ExecReport) -> CliResult {
    if g.output == Output::Json {
        out(json(r));
    } else {
        let mut t = Table::new();
        t.load_preset(UTF8_FULL_CONDENSED);
        t.set_header(["#", "step", "ms", "outcome"]);
        for s in &r.steps {
            t.add_row([
                s.step.to_string(),
                s.name.to_string(),
                if s.resumed {
                    "(done before)".into()
                } else {
                    s.ms.to_string()
                },
                s.outcome.to_string(),
            ]);
        }
        let mut s = format!(
            "{} {} → {}: done in {} ms (operation {})\n{t}",
            r.operation.name(),
            r.from,
            r.to,
            r.total_ms,
            r.op_id
        );
        if let Some(p) = r.write_pause_ms {
            s.push_str(&format!("\nwrite pause: {p} ms"));
        }
        for n in &r.not_fenced {
            s.push_str(&format!("\nNOT FENCED: {n}"));
        }
        out(s);
    }
    Ok(EXIT_OK)
}

pub fn history(g: &Global) -> CliResult {
    let p = g.provider()?;
    let (ops, warnings) = runtime()
        .block_on(journal::load(p.store()))
        .map_err(|e| CliError::new(crate::error::EXIT_FAILED, e))?;
    let shell = g.shell();
    for w in warnings {
        shell.warn(w);
    }
    if g.output == Output::Json {
        out(json(&ops));
        return Ok(EXIT_OK);
    }
    let mut t = Table::new();
    t.load_preset(UTF8_FULL_CONDENSED);
    t.set_header([
        "operation",
        "kind",
        "from → to",
        "started",
        "steps",
        "epoch",
        "result",
    ]);
    for o in &ops {
        t.add_row([
            o.op_id.clone(),
            o.plan.operation.name().to_string(),
            format!("{} → {}", o.plan.from, o.plan.to),
            o.started_at.format("%Y-%m-%d %H:%M:%S").to_string(),
            format!("{}/{}", o.done.len(), o.plan.steps.len()),
            format!("{} → {}", o.plan.epoch.0, o.plan.epoch.1),
            if o.is_open() && o.writes_blocked() {
                format!("{} (writes BLOCKED)", o.state())
            } else {
                o.state().to_string()
            },
        ]);
    }
    out(t);
    Ok(EXIT_OK)
}
