//! After the drill, whatever happened: heal the faults, restart what was killed, and
//! restore the starting topology (per the runbook) through the same engine as
//! `pmctl failback`. Never fails: it reports what it did and what it could not (the
//! `bool`: everything it tried succeeded).

use super::runbook::Cleanup;
use crate::journal;
use crate::ops::plan::OpKind;
use crate::ops::region::{self, Options, Request};
use crate::provider::{DbRole, Provider};
use crate::shell::Shell;

pub async fn cleanup(
    p: &dyn Provider,
    how: Cleanup,
    writer_at_start: &str,
    shell: &Shell,
) -> (String, bool) {
    let mut notes = Vec::new();
    let mut ok = true;
    match p.faults().heal_all().await {
        Ok(done) if !done.is_empty() => notes.push("faults healed".to_string()),
        Ok(_) => {}
        Err(e) => {
            ok = false;
            notes.push(format!("healing faults failed: {e}"))
        }
    }
    // The drill's own errors must not keep the 5xx / latency alarms firing afterwards.
    let _ = p.reset_metrics().await;
    // Restart whatever was killed (a fenced region restarts only as a standby).
    if let Err(e) = p.repair().await {
        ok = false;
        notes.push(format!("repair failed: {e}"));
    }
    let mut yes = |_: &crate::ops::plan::Plan| true;
    let quiet = Shell::silent();
    // A reaction that stopped half-way is finished first: nothing else may run over it.
    if let Ok((ops, _)) = journal::load(p.store()).await {
        if let Some(open) = journal::open_operation(&ops) {
            let op = open.plan.operation;
            match region::run(
                p,
                Request::Resume { op },
                &Options::default(),
                &quiet,
                &mut yes,
            )
            .await
            {
                Ok(_) => notes.push(format!("resumed the interrupted {}", op.name())),
                Err(e) => {
                    ok = false;
                    notes.push(format!(
                        "resuming the interrupted {} failed: {e}",
                        op.name()
                    ))
                }
            }
        }
    }
    match how {
        Cleanup::None => {}
        Cleanup::Down => match p.teardown().await {
            Ok(()) => notes.push("environment torn down".into()),
            Err(e) => {
                ok = false;
                notes.push(format!("teardown failed: {e}"))
            }
        },
        Cleanup::Failback => {
            let t = match p.snapshot().await {
                Ok(t) => t,
                Err(e) => return (format!("{}; snapshot failed: {e}", notes.join("; ")), false),
            };
            let moved = t.single_writer().is_some_and(|w| w.name != writer_at_start);
            let replica_ok = t
                .regions
                .iter()
                .any(|r| r.db_role == DbRole::Replica && r.streaming);
            if moved || !replica_ok {
                shell.status("Cleanup", "failback to restore the starting topology");
                let opts = Options {
                    switchover_back: moved,
                    ..Options::default()
                };
                let req = Request::New {
                    op: OpKind::Failback,
                    to: None,
                    dry_run: false,
                    plan_hash: None,
                };
                match region::run(p, req, &opts, &quiet, &mut yes).await {
                    Ok(_) => notes.push(format!("failback done; writer {writer_at_start}")),
                    Err(e) => {
                        ok = false;
                        notes.push(format!("failback failed: {e}"))
                    }
                }
            }
        }
    }
    let note = if notes.is_empty() {
        "nothing to clean up".into()
    } else {
        notes.join("; ")
    };
    (note, ok)
}
