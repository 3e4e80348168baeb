//! `pmctl switchover | failover | failback | history`: thin over `ops::region`.

use super::{json, out, runtime, Global, Output};
use crate::devstack::Stack;
use crate::error::{CliError, CliResult, EXIT_OK, EXIT_REFUSED};
use crate::journal;
use crate::lock::StateLock;
use crate::ops::plan::OpKind;
use crate::ops::region::{self, Options, RegionError};
use crate::provider::local::LocalProvider;
use crate::provider::Provider;
use comfy_table::{presets::UTF8_FULL_CONDENSED, Table};
use std::io::{BufRead, IsTerminal, Write};

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
    #[arg(long, value_name = "HASH")]
    plan_hash: Option<String>,
    /// Skip the confirmation prompt.
    #[arg(long, short = 'y')]
    yes: bool,
    /// Proceed although preflight found an unhealthy or ambiguous state.
    #[arg(long)]
    force: bool,
    /// Continue the interrupted operation from its last completed step.
    #[arg(long, conflicts_with_all = ["to", "dry_run", "plan_hash", "force"])]
    resume: bool,
    /// failover with rpo = "async": accept losing the replica's lag.
    #[arg(long)]
    accept_data_loss: bool,
    /// failback: switch the writer back afterwards.
    #[arg(long)]
    switchover: bool,
}

pub fn provider(g: &Global) -> Result<LocalProvider, CliError> {
    let (dir, _) = g.local()?;
    let stack = Stack::open(&dir)?;
    Ok(LocalProvider::new(&g.env, stack))
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
    let p = provider(g)?;
    let dir = p.stack.root.clone();
    let shell = g.shell();
    let rt = runtime();
    let opts = Options {
        force: a.force,
        accept_data_loss: a.accept_data_loss,
        switchover_back: a.switchover,
    };

    if !a.dry_run {
        // Held for the whole operation: a second pmctl is refused.
        let _lock = StateLock::acquire(&dir, op.name()).map_err(CliError::refused)?;
        if let Some(h) = &_lock.stale {
            shell.warn(h.stale_warning());
        }
        if a.resume {
            let rec =
                journal::open_operation(&dir)?.ok_or_else(|| err(RegionError::NothingToResume))?;
            if rec.plan.operation != op {
                return Err(err(RegionError::WrongResume {
                    found: rec.plan.operation.name(),
                    asked: op.name(),
                }));
            }
            shell.status("Plan", format!("{} (from the journal)", rec.plan.hash()));
            eprint_plan(&rec.plan.render());
            confirm(a.yes)?;
            let report = rt
                .block_on(region::resume(&p, &dir, rec, &shell))
                .map_err(err)?;
            return finish(g, &report);
        }
        region::ensure_no_open_operation(&dir).map_err(err)?;
        let t = rt.block_on(p.snapshot())?;
        let plan = region::plan(&p, &t, op, a.to.as_deref(), &opts).map_err(err)?;
        if let Some(h) = &a.plan_hash {
            if *h != plan.hash() {
                return Err(err(RegionError::Drift {
                    expected: h.clone(),
                    actual: plan.hash(),
                }));
            }
        }
        let (reasons, choices) = region::preflight(&t, &plan, &p.stack.spec().thresholds, &opts);
        if !reasons.is_empty() {
            if !a.force {
                return Err(err(RegionError::Preflight {
                    op: op.name(),
                    reasons,
                }));
            }
            for r in &reasons {
                shell.warn(format!("--force: ignoring: {r}"));
            }
        }
        eprint_plan(&plan.render());
        confirm(a.yes)?;
        let report = rt
            .block_on(region::execute(&p, &dir, plan, choices, &shell))
            .map_err(err)?;
        return finish(g, &report);
    }

    // --dry-run: the same plan value execution would run; nothing changes.
    let t = rt.block_on(p.snapshot())?;
    let plan = region::plan(&p, &t, op, a.to.as_deref(), &opts).map_err(err)?;
    let (reasons, _) = region::preflight(&t, &plan, &p.stack.spec().thresholds, &opts);
    if g.output == Output::Json {
        out(json(
            &serde_json::json!({ "plan": plan, "plan_hash": plan.hash(), "preflight": reasons }),
        ));
    } else {
        let mut s = plan.render();
        if reasons.is_empty() {
            s.push_str("Preflight: ok\n");
        } else {
            s.push_str("Preflight would refuse:\n");
            for r in &reasons {
                s.push_str(&format!("  - {r}\n"));
            }
        }
        s.push_str(&format!(
            "Run it: pmctl {} {}--plan-hash {}",
            op.name(),
            a.to.as_ref()
                .map(|t| format!("--to {t} "))
                .unwrap_or_default(),
            plan.hash()
        ));
        out(s);
    }
    Ok(EXIT_OK)
}

fn eprint_plan(text: &str) {
    let _ = std::io::stderr().write_all(text.as_bytes());
}

fn confirm(yes: bool) -> Result<(), CliError> {
    if yes {
        return Ok(());
    }
    if !std::io::stdin().is_terminal() {
        return Err(CliError::new(
            EXIT_REFUSED,
            anyhow::anyhow!(
                "not a terminal and no --yes: refusing to change regions without confirmation"
            ),
        ));
    }
    let _ = write!(std::io::stderr(), "Proceed? [y/N] ");
    let _ = std::io::stderr().flush();
    let mut line = String::new();
    let _ = std::io::stdin().lock().read_line(&mut line);
    if matches!(line.trim(), "y" | "Y" | "yes") {
        Ok(())
    } else {
        Err(CliError::new(
            EXIT_REFUSED,
            anyhow::anyhow!("not confirmed; nothing changed"),
        ))
    }
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
    let (dir, _) = g.local()?;
    let ops = journal::operations(&dir)?;
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
            o.state().to_string(),
        ]);
    }
    out(t);
    Ok(EXIT_OK)
}
