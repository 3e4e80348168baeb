//! `pmctl load`: open-loop traffic against the front door of a local stack.

use super::{json, out, runtime, Global, Output};
use crate::error::{CliError, CliResult, EXIT_OK};
use crate::ops::drill::runbook::Mix;
use crate::ops::load::{self, LoadSpec};
use comfy_table::{presets::UTF8_FULL_CONDENSED, Table};
use std::time::{Duration, Instant};

#[derive(clap::Args, Debug)]
pub struct LoadArgs {
    /// Requests per second at the start.
    #[arg(long, default_value_t = 20.0)]
    rps: f64,
    /// Ramp linearly to this rate by the end (e.g. 100× for rent day).
    #[arg(long)]
    ramp_to: Option<f64>,
    /// How long, e.g. 30s, 2m.
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
    duration: Duration,
    /// Weights: c2b=60,manual=20,read=20.
    #[arg(long, default_value = "c2b=60,manual=20,read=20")]
    mix: String,
    /// Per-request timeout.
    #[arg(long, default_value = "5s", value_parser = humantime::parse_duration)]
    timeout: Duration,
    /// Leases (tenants) the payments are spread over.
    #[arg(long, default_value_t = load::DEFAULT_LEASES as u16, value_parser = clap::value_parser!(u16).range(1..=2000))]
    leases: u16,
}

fn parse_mix(s: &str) -> Result<Mix, CliError> {
    let mut m = Mix {
        c2b: 0,
        manual: 0,
        read: 0,
    };
    for part in s.split(',') {
        let (k, v) = part
            .split_once('=')
            .ok_or_else(|| CliError::invalid(format!("--mix: `{part}` is not kind=weight")))?;
        let v: u32 = v
            .trim()
            .parse()
            .map_err(|_| CliError::invalid(format!("--mix: weight `{v}` is not a number")))?;
        match k.trim() {
            "c2b" => m.c2b = v,
            "manual" => m.manual = v,
            "read" => m.read = v,
            other => {
                return Err(CliError::invalid(format!(
                    "--mix: unknown kind `{other}` (c2b, manual, read)"
                )))
            }
        }
    }
    if m.c2b + m.manual + m.read == 0 {
        return Err(CliError::invalid("--mix: all weights are zero"));
    }
    Ok(m)
}

/// The highest `--rps` / `--ramp-to`: a bound on what one generator schedules (the
/// benchmark's 3× spike above a 2,500 rps sustained rate needs 7,500).
const MAX_RPS: f64 = 20_000.0;

pub fn run(g: &Global, a: LoadArgs) -> CliResult {
    let valid = |r: f64| r > 0.0 && r <= MAX_RPS;
    if !valid(a.rps) || a.ramp_to.is_some_and(|r| !valid(r)) {
        return Err(CliError::invalid(format!(
            "--rps and --ramp-to must be more than 0 and at most {MAX_RPS}"
        )));
    }
    if a.duration.is_zero() || a.timeout.is_zero() {
        return Err(CliError::invalid(
            "--duration and --timeout must be more than 0",
        ));
    }
    let mix = parse_mix(&a.mix)?;
    let p = g.provider()?;
    let traffic = p.traffic();
    let entry = traffic.entry_url().map_err(super::provider_error)?;
    let rt = runtime();
    let run_id = format!("l{}", &uuid::Uuid::new_v4().simple().to_string()[..7]);
    let token = traffic
        .token(&format!("load-{run_id}"), Duration::from_secs(7200))
        .map_err(super::provider_error)?;
    let target = rt.block_on(load::seed(&entry, &token, a.leases as usize, &run_id))?;
    let spec = LoadSpec {
        rps: a.rps,
        ramp_to_rps: a.ramp_to,
        duration: a.duration,
        mix,
        timeout: a.timeout,
    };
    let shell = g.shell();
    shell.status(
        "Load",
        format!(
            "{} rps{} for {} against {}",
            a.rps,
            a.ramp_to.map(|r| format!(" → {r}")).unwrap_or_default(),
            humantime::format_duration(a.duration),
            entry
        ),
    );
    let records = rt.block_on(async {
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let t0 = Instant::now();
        let h = tokio::spawn(load::run(
            target,
            spec,
            t0,
            tx,
            tokio_util::sync::CancellationToken::new(),
        ));
        let mut v = Vec::new();
        while let Some(r) = rx.recv().await {
            v.push(r);
        }
        let _ = h.await;
        v
    });
    let s = load::summarize(&records, a.duration);
    if g.output == Output::Json {
        out(json(&s));
    } else {
        let mut t = Table::new();
        t.load_preset(UTF8_FULL_CONDENSED);
        t.set_header([
            "requests",
            "rps achieved",
            "ok",
            "errors",
            "p50 ms",
            "p90 ms",
            "p99 ms",
            "max ms",
            "acked writes",
        ]);
        t.add_row([
            s.requests.to_string(),
            format!("{:.1}", s.achieved_rps),
            s.ok.to_string(),
            if s.errors.is_empty() {
                "0".into()
            } else {
                s.errors
                    .iter()
                    .map(|(k, v)| format!("{v} {k}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            },
            format!("{:.1}", s.latency_ms.p50),
            format!("{:.1}", s.latency_ms.p90),
            format!("{:.1}", s.latency_ms.p99),
            format!("{:.1}", s.latency_ms.max),
            s.acknowledged_writes.to_string(),
        ]);
        out(t);
        if s.refused.requests > 0 {
            out(format!(
                "refused (503/429): {}, {} with Retry-After, p99 {:.1} ms, max {:.1} ms",
                s.refused.requests,
                s.refused.with_retry_after,
                s.refused.latency_ms.p99,
                s.refused.latency_ms.max
            ));
        }
    }
    Ok(EXIT_OK)
}
