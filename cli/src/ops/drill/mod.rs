//! `pmctl drill`: a game day from a YAML runbook. Real traffic (the open-loop load
//! generator), a real fault, the reaction (pmctl's own failover engine, a planned
//! switchover, or nothing), then measurement: RTO from the request log, RPO by reading back
//! every acknowledged payment from the writer. Every event is appended to `events.jsonl` in
//! the report directory as it happens, so a killed drill can still be reported
//! (`pmctl drill --report DIR`). Cleanup runs whatever happened.
//!
//! Everything goes through the environment's provider: faults, traffic endpoints and
//! credentials, read-back, and the region-change engine.

pub mod certificate;
mod cleanup;
pub mod events;
mod react;
pub mod report;
pub mod runbook;
pub mod suite;

use super::load::{self, Kind, Outcome, RequestRecord};
use crate::journal;
use crate::provider::{Acknowledged, FaultSpec, Provider, ProviderError};
use crate::shell::Shell;
use events::{Ctx, EventLog};
use report::{DrillReport, Event};
use runbook::Runbook;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

#[derive(Debug, thiserror::Error)]
pub enum DrillError {
    #[error("the environment is not in a steady state, so the drill did not start:\n  - {}", .0.join("\n  - "))]
    NotSteady(Vec<String>),
    #[error("the runbook needs fault `{kind}`, which environment `{env}` cannot inject (it can: {supported}); nothing was started")]
    UnsupportedFault {
        kind: &'static str,
        env: String,
        supported: String,
    },
    #[error("the runbook's fault region `{0}` is not a region of this environment")]
    UnknownRegion(String),
    #[error("writing the drill report in {dir}: {source}")]
    Report {
        dir: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Provider(#[from] ProviderError),
    #[error(transparent)]
    Journal(#[from] crate::journal::JournalError),
    #[error(transparent)]
    Load(#[from] load::LoadError),
}

pub struct DrillRun<'a> {
    pub provider: &'a dyn Provider,
    pub report_dir: PathBuf,
    pub shell: &'a Shell,
}

impl DrillRun<'_> {
    /// Refuses a runbook the environment cannot run, before anything starts.
    pub fn check(&self, rb: &Runbook) -> Result<(), DrillError> {
        let p = self.provider;
        let supported = p.faults().supported();
        for f in &rb.faults {
            if !supported.contains(&f.kind) {
                return Err(DrillError::UnsupportedFault {
                    kind: f.kind.name(),
                    env: p.environment().to_string(),
                    supported: if supported.is_empty() {
                        "none".into()
                    } else {
                        supported
                            .iter()
                            .map(|k| k.name())
                            .collect::<Vec<_>>()
                            .join(", ")
                    },
                });
            }
            if let Some(r) = &f.region {
                if !p.regions().contains(r) {
                    return Err(DrillError::UnknownRegion(r.clone()));
                }
            }
        }
        Ok(())
    }

    pub async fn run(&self, rb: &Runbook) -> Result<DrillReport, DrillError> {
        let p = self.provider;
        let shell = self.shell;
        self.check(rb)?;
        // 1. The environment: brought up when not running (local), faults a killed drill
        //    left behind healed.
        p.prepare(shell).await?;

        // 2. Steady state, before touching anything.
        let t = p.snapshot().await?;
        let (ops, warnings) = journal::load(p.store()).await?;
        for w in warnings {
            shell.warn(w);
        }
        let cx = super::status::Context::default();
        let v = super::status::verdict(&t, &cx);
        let mut not_steady = Vec::new();
        if rb.steady_state.status == "ok" && v.level != super::status::Level::Ok {
            not_steady.extend(v.reasons.clone());
        }
        if let Some(max) = rb.steady_state.max_lag_bytes {
            for r in &t.regions {
                if r.lag_bytes.is_some_and(|l| l > max) {
                    not_steady.push(format!(
                        "{} lags {} bytes (steady state allows {max})",
                        r.name,
                        r.lag_bytes.unwrap_or(0)
                    ));
                }
            }
        }
        if let Err(e) = super::region::ensure_no_open_operation(&ops) {
            not_steady.push(e.to_string());
        }
        if rb.reaction.kind == runbook::ReactionKind::Auto {
            // The autopilot is the reaction: it must be running and free to act.
            let a = super::autopilot::status(&p.state_dir());
            match &a.running {
                None => not_steady.push(
                    "the runbook's reaction is the autopilot, which is not running (`pmctl dev up` starts it)".into(),
                ),
                Some(r) if r.dry_run => {
                    not_steady.push("the autopilot runs in dry-run mode: it would not react".into())
                }
                Some(_) if !a.armed => not_steady.push(
                    "the autopilot is paused or waiting out a cool-down (`pmctl autopilot resume`)".into(),
                ),
                _ => {}
            }
        }
        let writer = t.single_writer().map(|w| w.name.clone());
        if writer.is_none() && not_steady.is_empty() {
            not_steady.push("there is no single writer region".into());
        }
        if !not_steady.is_empty() {
            return Err(DrillError::NotSteady(not_steady));
        }
        let writer = writer.expect("checked");

        // 3. Traffic target: a landlord of its own, seeded through the entry point.
        let run_id = format!("d{}", &uuid::Uuid::new_v4().simple().to_string()[..7]);
        let entry = p.traffic().entry_url()?;
        let token = p
            .traffic()
            .token(&format!("drill-{run_id}"), Duration::from_secs(7200))?;
        let target = load::seed(&entry, &token, load::DEFAULT_LEASES, &run_id).await?;

        let report_err = |source| DrillError::Report {
            dir: self.report_dir.clone(),
            source,
        };
        std::fs::create_dir_all(&self.report_dir).map_err(report_err)?;
        let log = EventLog::create(&self.report_dir.join("events.jsonl")).map_err(report_err)?;
        let ctx = Arc::new(Ctx {
            t0: std::time::Instant::now(),
            t0_utc: chrono::Utc::now(),
            log: log.clone(),
            markers: Mutex::new(vec![]),
        });
        let meta = report::Meta {
            runbook: rb.name.clone(),
            description: rb.description.clone(),
            environment: p.environment().to_string(),
            rpo_mode: t.rpo.to_string(),
            writer_at_start: writer.clone(),
            started_at: ctx.t0_utc,
            objectives: report::ObjectiveSpec {
                rto_ms: rb.objectives.rto.0.as_millis() as u64,
                rpo: rb.objectives.rpo,
            },
            traffic: format!(
                "{} rps{} for {}, mix c2b {} / manual {} / read {}",
                rb.traffic.rps,
                rb.traffic
                    .ramp_to_rps
                    .map(|r| format!(" → {r} rps"))
                    .unwrap_or_default(),
                humantime::format_duration(rb.traffic.duration.0),
                rb.traffic.mix.c2b,
                rb.traffic.mix.manual,
                rb.traffic.mix.read
            ),
            version: t.region(&writer).and_then(|r| r.api_version.clone()),
            versions: t
                .regions
                .iter()
                .map(|r| (r.name.clone(), r.api_version.clone()))
                .collect(),
        };
        log.write(&Event::Meta(meta.clone()));
        shell.status(
            "Drill",
            format!(
                "{}: traffic for {}, writer {writer}",
                rb.name,
                humantime::format_duration(rb.traffic.duration.0)
            ),
        );

        // A reaction other than the autopilot's: the autopilot keeps its hands off while
        // this drill runs (its note dies with this process).
        let note_dir = p.state_dir();
        if rb.reaction.kind != runbook::ReactionKind::Auto {
            let _ = super::autopilot::state::write_drill_note(
                &note_dir,
                &super::autopilot::state::DrillNote {
                    pid: std::process::id(),
                    runbook: rb.name.clone(),
                    reaction: match rb.reaction.kind {
                        runbook::ReactionKind::None => "none".into(),
                        _ => "switchover".into(),
                    },
                },
            );
        }

        // 4. Traffic, the request log, faults, the reaction, the abort watch — concurrently.
        let stop = CancellationToken::new();
        let records: Arc<Mutex<Vec<RequestRecord>>> = Arc::default();
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let spec = load::LoadSpec {
            rps: rb.traffic.rps,
            ramp_to_rps: rb.traffic.ramp_to_rps,
            duration: rb.traffic.duration.0,
            mix: rb.traffic.mix,
            timeout: rb.traffic.timeout.0,
        };
        let aborted: Arc<Mutex<Option<String>>> = Arc::default();
        let load_run = load::run(target.clone(), spec, ctx.t0, tx, stop.clone());
        let collect = async {
            while let Some(r) = rx.recv().await {
                log.write(&Event::Request(r.clone()));
                records.lock().expect("records").push(r);
            }
        };
        let faults = async {
            let mut faults = rb.faults.clone();
            faults.sort_by_key(|f| f.at.0);
            for f in faults {
                tokio::select! {
                    _ = stop.cancelled() => return,
                    _ = tokio::time::sleep_until((ctx.t0 + f.at.0).into()) => {}
                }
                let spec = FaultSpec {
                    kind: f.kind,
                    region: f.region.clone().unwrap_or_else(|| writer.clone()),
                    latency_ms: f.latency_ms,
                };
                let detail = match p.faults().inject(&spec).await {
                    Ok(d) => d,
                    Err(e) => format!("could not inject: {e}"),
                };
                ctx.mark(
                    "fault",
                    format!("{} {}: {detail}", spec.kind.name(), spec.region),
                );
            }
        };
        let reaction = react::react(p, &ctx, rb, &writer, stop.clone());
        let watch = watch(&ctx, rb, &records, &aborted, stop.clone());
        // Traffic ends the drill; the reaction is given time to finish (cleanup must not
        // race a failover in progress), the rest stops with the traffic.
        let (_, _, _, reaction_done, _) = tokio::join!(
            async {
                load_run.await;
                stop.cancel();
            },
            collect,
            faults,
            tokio::time::timeout(rb.traffic.duration.0 + Duration::from_secs(180), reaction),
            watch,
        );
        if reaction_done.is_err() {
            ctx.mark(
                "reaction-timeout",
                "the reaction did not finish within 180s of the end of traffic",
            );
        }
        ctx.mark("traffic-end", "");

        // 5. RPO: every acknowledged payment, read back from the writer now.
        let records = records.lock().expect("records").clone();
        let verify = verify(p, &records).await;
        log.write(&Event::Verify(verify.clone()));

        // 6. Cleanup, whatever happened (the autopilot's hands stay off until it is done).
        let (note, cleaned) = cleanup::cleanup(p, rb.cleanup, &writer, shell).await;
        super::autopilot::state::clear_drill_note(&note_dir);
        if !cleaned {
            // The verdict is about the objectives; the operator must still learn that the
            // environment was not restored.
            shell.warn(format!(
                "cleanup incomplete, the environment may not be back to its start: {note} (see `pmctl status`)"
            ));
        }
        ctx.mark("cleanup", note);
        let aborted = aborted.lock().expect("aborted").clone();
        log.write(&Event::Finished {
            aborted: aborted.clone(),
        });

        let markers = ctx.markers.lock().expect("markers").clone();
        let rep = report::build(meta, &records, &markers, Some(verify), aborted);
        report::write_all(&self.report_dir, &rep).map_err(report_err)?;
        // The versions it ran on, for `pmctl deploy --require-drill`.
        let standby = p
            .regions()
            .into_iter()
            .find(|r| *r != writer)
            .unwrap_or_default();
        let cert = certificate::Certificate {
            at: chrono::Utc::now(),
            runbook: rep.meta.runbook.clone(),
            passed: rep.passed,
            writer: writer.clone(),
            standby,
            versions: rep.meta.versions.clone(),
        };
        if let Err(e) = certificate::record(&p.state_dir(), &cert) {
            shell.warn(format!(
                "could not record the drill certificate in {}: {e}",
                certificate::path(&p.state_dir()).display()
            ));
        }
        Ok(rep)
    }
}

/// Stops the drill early on Ctrl-C, SIGTERM, or the runbook's abort condition.
async fn watch(
    ctx: &Ctx,
    rb: &Runbook,
    records: &Mutex<Vec<RequestRecord>>,
    aborted: &Mutex<Option<String>>,
    stop: CancellationToken,
) {
    let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(t) => t,
        Err(_) => return,
    };
    let abort = &rb.abort;
    let mut bad_since: Option<f64> = None;
    let why = loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(Duration::from_millis(500)) => {}
            _ = tokio::signal::ctrl_c() => break "interrupted (Ctrl-C)".to_string(),
            _ = term.recv() => break "interrupted (SIGTERM)".to_string(),
        }
        let now = ctx.now_ms();
        let win = abort.window.0.as_secs_f64() * 1000.0;
        let (n, bad) = {
            let r = records.lock().expect("records");
            let recent: Vec<_> = r.iter().filter(|x| x.done_ms >= now - 2000.0).collect();
            (
                recent.len(),
                recent.iter().filter(|x| x.outcome != Outcome::Ok).count(),
            )
        };
        let over = n > 0 && (bad as f64 / n as f64) > abort.max_error_ratio;
        match (over, bad_since) {
            (true, None) => bad_since = Some(now),
            (true, Some(s)) if now - s >= win => {
                break format!(
                    "error ratio above {:.0}% for {}",
                    abort.max_error_ratio * 100.0,
                    humantime::format_duration(abort.window.0)
                )
            }
            (false, _) => bad_since = None,
            _ => {}
        }
    };
    *aborted.lock().expect("aborted") = Some(why.clone());
    ctx.mark("abort", why);
    stop.cancel();
}

/// Reads back every acknowledged payment through the provider.
async fn verify(p: &dyn Provider, records: &[RequestRecord]) -> report::Verify {
    let acked_at = |k: Kind| -> Vec<(String, f64)> {
        records
            .iter()
            .filter(|r| r.kind == k)
            .filter_map(|r| r.ack.clone().map(|a| (a, r.done_ms)))
            .collect()
    };
    let receipts = acked_at(Kind::C2b);
    let ids = acked_at(Kind::Manual);
    let mut v = report::Verify {
        acknowledged: (receipts.len() + ids.len()) as u64,
        checked_on: None,
        missing: vec![],
        missing_window_ms: None,
        duplicate_credits: 0,
        error: None,
    };
    let acked = Acknowledged {
        receipts: receipts.iter().map(|r| r.0.clone()).collect(),
        payment_ids: ids.iter().map(|r| r.0.clone()).collect(),
    };
    match p.readback().readback(&acked).await {
        Ok(r) => {
            v.checked_on = Some(r.checked_on);
            v.duplicate_credits = r.duplicate_credits;
            let when: std::collections::HashMap<&str, f64> = receipts
                .iter()
                .chain(ids.iter())
                .map(|(a, t)| (a.as_str(), *t))
                .collect();
            let times: Vec<f64> = r
                .missing
                .iter()
                .filter_map(|m| when.get(m.as_str()).copied())
                .collect();
            if !times.is_empty() {
                let lo = times.iter().copied().fold(f64::MAX, f64::min);
                let hi = times.iter().copied().fold(0.0, f64::max);
                v.missing_window_ms = Some((lo, hi));
            }
            v.missing = r.missing;
        }
        Err(e) => v.error = Some(crate::provider::chain(&e)),
    }
    v
}
