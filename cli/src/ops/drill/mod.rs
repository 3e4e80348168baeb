//! `pmctl drill`: a game day from a YAML runbook. Real traffic (the open-loop load
//! generator), a real fault, the reaction (pmctl's own failover engine, a planned
//! switchover, or nothing), then measurement: RTO from the request log, RPO by reading back
//! every acknowledged payment from the writer. Every event is appended to `events.jsonl` in
//! the report directory as it happens, so a killed drill can still be reported
//! (`pmctl drill --report DIR`). Cleanup runs whatever happened.

pub mod report;
pub mod runbook;

use super::load::{self, Kind, Outcome, RequestRecord};
use super::plan::OpKind;
use super::region::{self, Options};
use crate::devstack::stack::{self, other_region, Stack, StackSpec};
use crate::lock::StateLock;
use crate::provider::local::LocalProvider;
use crate::provider::{DbRole, Provider};
use crate::shell::Shell;
use report::{DrillReport, Event, Marker};
use runbook::{Cleanup, FaultKind, ReactionKind, Runbook};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[derive(Debug, thiserror::Error)]
pub enum DrillError {
    #[error("the stack is not in a steady state, so the drill did not start:\n  - {}", .0.join("\n  - "))]
    NotSteady(Vec<String>),
    #[error("writing the drill report in {dir}: {source}")]
    Report {
        dir: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "the runbook targets environment `{0}`; drills run on local environments only for now"
    )]
    NotLocal(String),
    #[error(transparent)]
    Stack(#[from] crate::devstack::StackError),
    #[error(transparent)]
    Provider(#[from] crate::provider::ProviderError),
    #[error(transparent)]
    Load(#[from] load::LoadError),
    #[error("{0}")]
    Other(String),
}

/// Appends events as JSON lines; flushed to the OS at once, fsync'd at least every 250 ms.
#[derive(Clone)]
pub struct EventLog {
    inner: Arc<Mutex<(std::fs::File, Instant)>>,
}

impl EventLog {
    pub fn create(path: &Path) -> std::io::Result<EventLog> {
        // A fresh log: a report directory reused by a later drill must not mix two runs.
        let f = std::fs::OpenOptions::new()
            .create(true)
            .write(true)
            .truncate(true)
            .open(path)?;
        Ok(EventLog {
            inner: Arc::new(Mutex::new((f, Instant::now()))),
        })
    }

    pub fn write(&self, e: &Event) {
        let mut line = serde_json::to_string(e).expect("event serialises");
        line.push('\n');
        let mut g = self.inner.lock().expect("event log");
        let _ = g.0.write_all(line.as_bytes());
        if g.1.elapsed() > Duration::from_millis(250) || !matches!(e, Event::Request(_)) {
            let _ = g.0.sync_data();
            g.1 = Instant::now();
        }
    }
}

pub struct DrillRun<'a> {
    pub env: String,
    pub state_dir: PathBuf,
    pub spec: StackSpec,
    pub report_dir: PathBuf,
    pub shell: &'a Shell,
}

struct Ctx {
    t0: Instant,
    t0_utc: chrono::DateTime<chrono::Utc>,
    log: EventLog,
    markers: Mutex<Vec<Marker>>,
}

impl Ctx {
    fn now_ms(&self) -> f64 {
        self.t0.elapsed().as_secs_f64() * 1000.0
    }
    fn mark(&self, name: &str, detail: impl Into<String>) {
        let m = Marker {
            name: name.to_string(),
            t_ms: self.now_ms(),
            detail: detail.into(),
        };
        self.log.write(&Event::Marker(m.clone()));
        self.markers.lock().expect("markers").push(m);
    }
    fn mark_at(&self, name: &str, at: chrono::DateTime<chrono::Utc>, detail: impl Into<String>) {
        let t_ms = (at - self.t0_utc).num_microseconds().unwrap_or(0) as f64 / 1000.0;
        let m = Marker {
            name: name.to_string(),
            t_ms,
            detail: detail.into(),
        };
        self.log.write(&Event::Marker(m.clone()));
        self.markers.lock().expect("markers").push(m);
    }
}

impl DrillRun<'_> {
    pub async fn run(&self, rb: &Runbook) -> Result<DrillReport, DrillError> {
        let shell = self.shell;
        // 1. The stack: brought up when not running (local environments only).
        stack::up(&self.state_dir, self.spec.clone(), shell).await?;
        let st = Stack::open(&self.state_dir)?;
        let p = LocalProvider::new(&self.env, st.clone());

        // 2. Steady state, before touching anything.
        let t = p.snapshot().await?;
        let v = super::status::verdict(&t);
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
        if let Err(e) = region::ensure_no_open_operation(&self.state_dir) {
            not_steady.push(e.to_string());
        }
        if !not_steady.is_empty() {
            return Err(DrillError::NotSteady(not_steady));
        }
        let writer = t
            .writers()
            .first()
            .map(|w| w.name.clone())
            .expect("steady state has a writer");
        let rpo_mode = t.rpo;

        // 3. Traffic target: a landlord of its own, seeded through the front door.
        let run_id = format!("d{}", &uuid::Uuid::new_v4().simple().to_string()[..7]);
        let token = st
            .keys()
            .token(&format!("drill-{run_id}"), 7200)
            .map_err(|e| DrillError::Other(e.to_string()))?;
        let target = load::seed(&st.frontdoor_url(), &token, load::DEFAULT_LEASES, &run_id).await?;

        std::fs::create_dir_all(&self.report_dir).map_err(|source| DrillError::Report {
            dir: self.report_dir.clone(),
            source,
        })?;
        let log = EventLog::create(&self.report_dir.join("events.jsonl")).map_err(|source| {
            DrillError::Report {
                dir: self.report_dir.clone(),
                source,
            }
        })?;
        let ctx = Arc::new(Ctx {
            t0: Instant::now(),
            t0_utc: chrono::Utc::now(),
            log: log.clone(),
            markers: Mutex::new(vec![]),
        });
        let meta = report::Meta {
            runbook: rb.name.clone(),
            description: rb.description.clone(),
            environment: self.env.clone(),
            rpo_mode: rpo_mode.to_string(),
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

        // 4. Traffic, the request log, faults, the reaction, the abort watch — concurrently.
        let stop = Arc::new(AtomicBool::new(false));
        let records: Arc<Mutex<Vec<RequestRecord>>> = Arc::default();
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let spec = load::LoadSpec {
            rps: rb.traffic.rps,
            ramp_to_rps: rb.traffic.ramp_to_rps,
            duration: rb.traffic.duration.0,
            mix: rb.traffic.mix,
            timeout: rb.traffic.timeout.0,
        };
        let load_task = tokio::spawn(load::run(target.clone(), spec, ctx.t0, tx, stop.clone()));
        let collector = {
            let (records, log) = (records.clone(), log.clone());
            tokio::spawn(async move {
                while let Some(r) = rx.recv().await {
                    log.write(&Event::Request(r.clone()));
                    records.lock().expect("records").push(r);
                }
            })
        };
        let aborted: Arc<Mutex<Option<String>>> = Arc::default();
        let injected: Arc<Mutex<Vec<(FaultKind, String)>>> = Arc::default();
        let faults = {
            let (ctx, st, injected, stop) =
                (ctx.clone(), st.clone(), injected.clone(), stop.clone());
            let mut faults = rb.faults.clone();
            faults.sort_by_key(|f| f.at.0);
            let writer = writer.clone();
            tokio::spawn(async move {
                for f in faults {
                    tokio::time::sleep_until((ctx.t0 + f.at.0).into()).await;
                    if stop.load(Ordering::Relaxed) {
                        return;
                    }
                    let region = f.region.clone().unwrap_or_else(|| writer.clone());
                    let detail = inject(&st, f.kind, &region, f.latency_ms).await;
                    ctx.mark(
                        "fault",
                        format!(
                            "{} {region}: {detail}",
                            serde_json::to_value(f.kind).unwrap().as_str().unwrap()
                        ),
                    );
                    injected.lock().expect("faults").push((f.kind, region));
                }
            })
        };
        let reaction = {
            let (ctx, stop) = (ctx.clone(), stop.clone());
            let rb = rb.clone();
            let dir = self.state_dir.clone();
            let env = self.env.clone();
            let st = st.clone();
            let writer = writer.clone();
            tokio::spawn(async move { react(&ctx, &rb, &dir, &env, st, &writer, stop).await })
        };
        let watch = {
            let (records, ctx, aborted, stop) =
                (records.clone(), ctx.clone(), aborted.clone(), stop.clone());
            let abort = rb.abort.clone();
            tokio::spawn(async move {
                let mut term =
                    tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
                        .expect("SIGTERM handler");
                let mut bad_since: Option<f64> = None;
                loop {
                    tokio::select! {
                        _ = tokio::time::sleep(Duration::from_millis(500)) => {}
                        _ = tokio::signal::ctrl_c() => { *aborted.lock().unwrap() = Some("interrupted (Ctrl-C)".into()); break; }
                        _ = term.recv() => { *aborted.lock().unwrap() = Some("interrupted (SIGTERM)".into()); break; }
                    }
                    if stop.load(Ordering::Relaxed) {
                        return;
                    }
                    let now = ctx.now_ms();
                    let win = abort.window.0.as_secs_f64() * 1000.0;
                    let (n, bad) = {
                        let r = records.lock().unwrap();
                        let recent: Vec<_> =
                            r.iter().filter(|x| x.done_ms >= now - 2000.0).collect();
                        (
                            recent.len(),
                            recent.iter().filter(|x| x.outcome != Outcome::Ok).count(),
                        )
                    };
                    let over = n > 0 && (bad as f64 / n as f64) > abort.max_error_ratio;
                    match (over, bad_since) {
                        (true, None) => bad_since = Some(now),
                        (true, Some(s)) if now - s >= win => {
                            *aborted.lock().unwrap() = Some(format!(
                                "error ratio above {:.0}% for {}",
                                abort.max_error_ratio * 100.0,
                                humantime::format_duration(abort.window.0)
                            ));
                            break;
                        }
                        (false, _) => bad_since = None,
                        _ => {}
                    }
                }
                ctx.mark("abort", aborted.lock().unwrap().clone().unwrap_or_default());
                stop.store(true, Ordering::Relaxed);
            })
        };

        let _ = load_task.await;
        stop.store(true, Ordering::Relaxed);
        let _ = collector.await;
        watch.abort();
        faults.abort();
        // Let a failover in progress finish: cleanup must not race it.
        match tokio::time::timeout(Duration::from_secs(180), reaction).await {
            Ok(Ok(())) => {}
            _ => ctx.mark(
                "reaction-timeout",
                "the reaction did not finish within 180s",
            ),
        }
        ctx.mark("traffic-end", "");

        // 5. RPO: every acknowledged payment, read back from the writer now.
        let records = records.lock().unwrap().clone();
        let verify = verify_rpo(&p, &records).await;
        log.write(&Event::Verify(verify.clone()));

        // 6. Cleanup, whatever happened.
        let faults_done = injected.lock().unwrap().clone();
        let cleanup_note = cleanup(
            &self.state_dir,
            &self.env,
            &self.spec,
            &st,
            rb.cleanup,
            &faults_done,
            &writer,
            shell,
        )
        .await;
        ctx.mark("cleanup", cleanup_note);
        let aborted = aborted.lock().unwrap().clone();
        log.write(&Event::Finished {
            aborted: aborted.clone(),
        });

        let markers = ctx.markers.lock().unwrap().clone();
        let rep = report::build(meta, &records, &markers, Some(verify), aborted);
        report::write_all(&self.report_dir, &rep).map_err(|source| DrillError::Report {
            dir: self.report_dir.clone(),
            source,
        })?;
        Ok(rep)
    }
}

/// Injects a fault for real; returns what was done.
async fn inject(st: &Stack, kind: FaultKind, region: &str, latency_ms: Option<u64>) -> String {
    use crate::devstack::net::LinkMode;
    use crate::devstack::process;
    use nix::sys::signal::Signal;
    let kill_db = |sig: Signal| match st.cluster(region).map(|c| c.pid()) {
        // The whole instance (postmaster and backends): backends holding pooled connections
        // must not keep serving after a "crash", nor keep answering during a "hang".
        Ok(Some(pid)) => {
            let n = process::signal_tree(pid, sig);
            format!(
                "{sig:?} postgres pid {pid} and {} backends",
                n.saturating_sub(1)
            )
        }
        _ => "postgres not running".to_string(),
    };
    let kill_api = || match st.api_pid(region) {
        Some(pid) => {
            let _ = process::signal(pid, Signal::SIGKILL);
            format!("SIGKILL api pid {pid}")
        }
        None => "api not running".to_string(),
    };
    match kind {
        FaultKind::KillDb => kill_db(Signal::SIGKILL),
        FaultKind::KillApi => kill_api(),
        FaultKind::KillRegion => format!("{}; {}", kill_api(), kill_db(Signal::SIGKILL)),
        FaultKind::Hang => kill_db(Signal::SIGSTOP),
        FaultKind::Partition | FaultKind::SlowLink => {
            let mode = if kind == FaultKind::Partition {
                LinkMode::Down
            } else {
                LinkMode::Latency {
                    ms: latency_ms.unwrap_or(100),
                }
            };
            let admin = st.admin();
            let mut done = Vec::new();
            for r in stack::REGIONS {
                let name = stack::link_name(r);
                match admin.set_link_mode(&name, mode).await {
                    Ok(_) => done.push(format!("{name} {mode:?}")),
                    Err(e) => done.push(format!("{name}: {e}")),
                }
            }
            done.join(", ")
        }
    }
}

/// A write probe straight at a region's API (not through the front door): the detection
/// rule of an `auto` reaction counts consecutive failures of it.
async fn probe(http: &reqwest::Client, st: &Stack, region: &str, token: &str) -> bool {
    matches!(
        http.post(format!("{}/v1/landlord/callback-token/rotate", st.api_url(region)))
            .bearer_auth(token)
            .send()
            .await,
        Ok(r) if r.status().is_success()
    )
}

async fn react(
    ctx: &Ctx,
    rb: &Runbook,
    dir: &Path,
    env: &str,
    st: Stack,
    writer: &str,
    stop: Arc<AtomicBool>,
) {
    let target = other_region(writer).to_string();
    let op = match rb.reaction.kind {
        ReactionKind::None => return,
        ReactionKind::Switchover => {
            let at = rb.reaction.at.map(|a| a.0).unwrap_or_default();
            tokio::time::sleep_until((ctx.t0 + at).into()).await;
            ctx.mark("reaction", format!("planned switchover to {target}"));
            OpKind::Switchover
        }
        ReactionKind::Auto => {
            let interval = rb.reaction.check_interval.0;
            let http = reqwest::Client::builder()
                .timeout(interval.max(Duration::from_millis(300)))
                .build()
                .expect("http");
            let token = match st.keys().token("pmctl-drill-probe", 7200) {
                Ok(t) => t,
                Err(_) => return,
            };
            let mut fails = 0;
            loop {
                if stop.load(Ordering::Relaxed) {
                    return;
                }
                let tick = Instant::now();
                if probe(&http, &st, writer, &token).await {
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
    let p = LocalProvider::new(env, st);
    let result: Result<region::ExecReport, String> = async {
        let _lock =
            StateLock::acquire(dir, &format!("drill {}", op.name())).map_err(|e| e.to_string())?;
        let t = p.snapshot().await.map_err(|e| e.to_string())?;
        let opts = Options {
            force: false,
            accept_data_loss: rb.reaction.accept_data_loss,
            switchover_back: false,
        };
        let plan = region::plan(&p, &t, op, Some(&target), &opts).map_err(|e| e.to_string())?;
        let (reasons, choices) = region::preflight(&t, &plan, &p.stack.spec().thresholds, &opts);
        if !reasons.is_empty() {
            return Err(format!("preflight refused: {}", reasons.join("; ")));
        }
        region::execute(&p, dir, plan, choices, &Shell::silent())
            .await
            .map_err(|e| e.to_string())
    }
    .await;
    match result {
        Ok(rep) => {
            // Step completion times from the journal, on the drill's clock.
            let journal = crate::journal::read(dir).unwrap_or_default();
            for e in journal {
                if let crate::journal::Entry::StepDone {
                    op_id, step, at, ..
                } = e
                {
                    if op_id != rep.op_id {
                        continue;
                    }
                    let name = rep.steps.get(step - 1).map(|s| s.name).unwrap_or("");
                    let marker = match name {
                        "promote" => Some("promoted"),
                        "move-dns" => Some("dns-moved"),
                        "fence-writer" => Some("fenced"),
                        _ => None,
                    };
                    if let Some(m) = marker {
                        ctx.mark_at(m, at, format!("{} step {step}", op.name()));
                    }
                }
            }
            ctx.mark(
                &format!("{}-done", op.name()),
                format!("operation {} in {} ms", rep.op_id, rep.total_ms),
            );
        }
        Err(e) => ctx.mark(&format!("{}-failed", op.name()), e),
    }
}

async fn verify_rpo(p: &LocalProvider, records: &[RequestRecord]) -> report::Verify {
    let receipts: Vec<(String, f64)> = records
        .iter()
        .filter(|r| r.kind == Kind::C2b)
        .filter_map(|r| r.ack.clone().map(|a| (a, r.done_ms)))
        .collect();
    let ids: Vec<(String, f64)> = records
        .iter()
        .filter(|r| r.kind == Kind::Manual)
        .filter_map(|r| r.ack.clone().map(|a| (a, r.done_ms)))
        .collect();
    let acked = (receipts.len() + ids.len()) as u64;
    let mut v = report::Verify {
        acknowledged: acked,
        checked_on: None,
        missing: vec![],
        missing_window_ms: None,
        duplicate_credits: 0,
        error: None,
    };
    // Wait (bounded) for a single writer: cleanup has not run yet, a failover may just have ended.
    let mut writer = None;
    for _ in 0..50 {
        if let Ok(t) = p.snapshot().await {
            if let [w] = t.writers().as_slice() {
                writer = Some(w.name.clone());
                break;
            }
            if t.regions.iter().all(|r| r.db_role != DbRole::Writer)
                && t.regions.iter().any(|r| r.db_role == DbRole::Replica)
            {
                // No writer at all (nobody reacted): read what the surviving replica has.
                writer = t
                    .regions
                    .iter()
                    .find(|r| r.db_role == DbRole::Replica)
                    .map(|r| r.name.clone());
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let Some(w) = writer else {
        v.error = Some("no database could be read to verify acknowledged payments".into());
        return v;
    };
    v.checked_on = Some(w.clone());
    use sqlx::Connection;
    let res: Result<(), sqlx::Error> = async {
        let mut c = sqlx::PgConnection::connect(&p.stack.db_url(&w)).await?;
        let rs: Vec<String> = receipts.iter().map(|r| r.0.clone()).collect();
        let have: Vec<String> = sqlx::query_scalar("SELECT receipt FROM payments WHERE receipt = ANY($1)").bind(&rs).fetch_all(&mut c).await?;
        let have: std::collections::HashSet<String> = have.into_iter().collect();
        let idv: Vec<uuid::Uuid> = ids.iter().filter_map(|i| i.0.parse().ok()).collect();
        let have_ids: Vec<uuid::Uuid> = sqlx::query_scalar("SELECT id FROM payments WHERE id = ANY($1)").bind(&idv).fetch_all(&mut c).await?;
        let have_ids: std::collections::HashSet<String> = have_ids.into_iter().map(|u| u.to_string()).collect();
        let mut missing: Vec<(String, f64)> = receipts.iter().filter(|r| !have.contains(&r.0)).cloned().collect();
        missing.extend(ids.iter().filter(|i| !have_ids.contains(&i.0)).cloned());
        let dup: i64 = sqlx::query_scalar(
            "SELECT (SELECT count(*) FROM (SELECT receipt FROM payments WHERE receipt = ANY($1) GROUP BY receipt HAVING count(*) > 1) d)
                  + (SELECT count(*) FROM payments p WHERE p.receipt = ANY($1)
                       AND (SELECT COALESCE(SUM(a.amount), 0) FROM allocations a WHERE a.payment_id = p.id) > p.amount)",
        )
        .bind(&rs)
        .fetch_one(&mut c)
        .await?;
        v.duplicate_credits = dup as u64;
        if !missing.is_empty() {
            let lo = missing.iter().map(|m| m.1).fold(f64::MAX, f64::min);
            let hi = missing.iter().map(|m| m.1).fold(0.0, f64::max);
            v.missing_window_ms = Some((lo, hi));
        }
        v.missing = missing.into_iter().map(|m| m.0).collect();
        Ok(())
    }
    .await;
    if let Err(e) = res {
        v.error = Some(format!("reading payments from {w}: {e}"));
    }
    v
}

/// Heals every fault, then restores the stack per the runbook. Never fails: it reports.
#[allow(clippy::too_many_arguments)]
async fn cleanup(
    dir: &Path,
    env: &str,
    spec: &StackSpec,
    st: &Stack,
    how: Cleanup,
    injected: &[(FaultKind, String)],
    writer_at_start: &str,
    shell: &Shell,
) -> String {
    let mut notes = Vec::new();
    // Heal: links up, hung processes continued.
    let admin = st.admin();
    for r in stack::REGIONS {
        let _ = admin
            .set_link_mode(&stack::link_name(r), crate::devstack::net::LinkMode::Up)
            .await;
    }
    for (kind, region) in injected {
        if *kind == FaultKind::Hang {
            if let Some(pid) = st.cluster(region).ok().and_then(|c| c.pid()) {
                crate::devstack::process::signal_tree(pid, nix::sys::signal::Signal::SIGCONT);
            }
        }
    }
    if !injected.is_empty() {
        notes.push("faults healed".to_string());
    }
    // The drill's own errors must not keep the 5xx / latency alarms firing afterwards.
    let _ = admin.reset_metrics().await;
    // Restart whatever was killed (a fenced region restarts only as a standby).
    match stack::up(dir, spec.clone(), &Shell::silent()).await {
        Ok(_) => {}
        Err(e) => notes.push(format!("repair failed: {e}")),
    }
    match how {
        Cleanup::None => {}
        Cleanup::Down => match stack::down(dir, false, &Shell::silent()).await {
            Ok(_) => notes.push("stack removed".into()),
            Err(e) => notes.push(format!("dev down failed: {e}")),
        },
        Cleanup::Failback => {
            let p = LocalProvider::new(env, st.clone());
            let t = match p.snapshot().await {
                Ok(t) => t,
                Err(e) => return format!("{}; snapshot failed: {e}", notes.join("; ")),
            };
            let moved = t
                .writers()
                .first()
                .is_some_and(|w| w.name != writer_at_start);
            let replica_ok = t
                .regions
                .iter()
                .any(|r| r.db_role == DbRole::Replica && r.streaming);
            if moved || !replica_ok {
                shell.status("Cleanup", "failback to restore the starting topology");
                let res: Result<(), String> = async {
                    let _lock =
                        StateLock::acquire(dir, "drill cleanup").map_err(|e| e.to_string())?;
                    let opts = Options {
                        force: true,
                        accept_data_loss: true,
                        switchover_back: moved,
                    };
                    let plan = region::plan(&p, &t, OpKind::Failback, None, &opts)
                        .map_err(|e| e.to_string())?;
                    region::execute(
                        &p,
                        dir,
                        plan,
                        serde_json::json!({"drill_cleanup": true}),
                        &Shell::silent(),
                    )
                    .await
                    .map(|_| ())
                    .map_err(|e| e.to_string())
                }
                .await;
                match res {
                    Ok(()) => notes.push(format!("failback done; writer {writer_at_start}")),
                    Err(e) => notes.push(format!("failback failed: {e}")),
                }
            }
        }
    }
    if notes.is_empty() {
        "nothing to clean up".into()
    } else {
        notes.join("; ")
    }
}
