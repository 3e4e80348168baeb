//! Drill measurement and reports: `report.json`, `report.md`, `timeline.svg`, `junit.xml`.

use crate::ops::load::{self, Outcome, RequestRecord};
use serde::{Deserialize, Serialize};
use std::fmt::Write as _;
use std::path::Path;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ObjectiveSpec {
    pub rto_ms: u64,
    pub rpo: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Meta {
    pub runbook: String,
    pub description: String,
    pub environment: String,
    pub rpo_mode: String,
    pub writer_at_start: String,
    pub started_at: chrono::DateTime<chrono::Utc>,
    pub objectives: ObjectiveSpec,
    pub traffic: String,
    /// The API version the drill ran against (the writer region's at the start).
    #[serde(default)]
    pub version: Option<String>,
    /// Each region's API version at the start (the drill certifies them).
    #[serde(default)]
    pub versions: std::collections::BTreeMap<String, Option<String>>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Marker {
    pub name: String,
    pub t_ms: f64,
    pub detail: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Verify {
    pub acknowledged: u64,
    pub checked_on: Option<String>,
    /// Acknowledged receipts / payment ids not found on the writer.
    pub missing: Vec<String>,
    pub missing_window_ms: Option<(f64, f64)>,
    pub duplicate_credits: u64,
    pub error: Option<String>,
}

/// One line of `events.jsonl`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Event {
    Meta(Meta),
    Request(RequestRecord),
    Marker(Marker),
    Verify(Verify),
    Finished { aborted: Option<String> },
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ObjectiveResult {
    pub name: String,
    pub target: String,
    pub measured: String,
    pub passed: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DrillReport {
    pub meta: Meta,
    pub passed: bool,
    pub objectives: Vec<ObjectiveResult>,
    pub fault_at_ms: Option<f64>,
    /// From the fault to the first acknowledged write sent after it; None = never recovered.
    pub rto_ms: Option<f64>,
    pub detection_ms: Option<f64>,
    pub promotion_ms: Option<f64>,
    pub dns_move_ms: Option<f64>,
    /// Failed requests between the fault and recovery (or the end), by kind of failure.
    pub errors_during_outage: std::collections::BTreeMap<String, u64>,
    pub lost_acknowledged_payments: Option<u64>,
    pub lost_window_ms: Option<(f64, f64)>,
    pub duplicate_credits: Option<u64>,
    pub verify_error: Option<String>,
    pub traffic: load::LoadSummary,
    pub markers: Vec<Marker>,
    pub aborted: Option<String>,
    /// Requests per 100 ms bucket by outcome, for the timeline.
    pub buckets: Vec<[u32; 4]>,
    pub messages: Vec<String>,
}

pub fn read_events(path: &Path) -> std::io::Result<Vec<Event>> {
    let text = std::fs::read_to_string(path)?;
    // A torn last line (killed mid-write) is skipped.
    Ok(text
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect())
}

fn fmt_ms(ms: f64) -> String {
    if ms >= 1000.0 {
        format!("{:.2} s", ms / 1000.0)
    } else {
        format!("{ms:.0} ms")
    }
}

pub fn build(
    meta: Meta,
    records: &[RequestRecord],
    markers: &[Marker],
    verify: Option<Verify>,
    aborted: Option<String>,
) -> DrillReport {
    let find = |n: &str| markers.iter().find(|m| m.name == n).map(|m| m.t_ms);
    // The outage starts at the first fault; a drill without faults measures from the
    // planned reaction (a switchover's write pause).
    let fault = find("fault").or_else(|| find("reaction"));
    let rto = fault.and_then(|f| {
        records
            .iter()
            .filter(|r| r.kind.is_write() && r.ack.is_some() && r.scheduled_ms >= f)
            .map(|r| r.done_ms)
            .fold(None, |a: Option<f64>, d| Some(a.map_or(d, |a| a.min(d))))
            .map(|first| first - f)
    });
    let mut errors_during = std::collections::BTreeMap::new();
    if let Some(f) = fault {
        let end = rto.map(|r| f + r).unwrap_or(f64::MAX);
        for r in records
            .iter()
            .filter(|r| r.scheduled_ms >= f && r.scheduled_ms <= end && r.outcome != Outcome::Ok)
        {
            *errors_during
                .entry(r.outcome.name().to_string())
                .or_insert(0) += 1;
        }
    }
    let rel = |m: Option<f64>| match (m, fault) {
        (Some(m), Some(f)) => Some(m - f),
        _ => None,
    };
    let span_ms = records.iter().map(|r| r.done_ms).fold(0.0, f64::max);
    let traffic = load::summarize(
        records,
        std::time::Duration::from_secs_f64((span_ms / 1000.0).max(0.001)),
    );
    let mut objectives = Vec::new();
    let mut messages = Vec::new();
    let rto_target = meta.objectives.rto_ms as f64;
    objectives.push(ObjectiveResult {
        name: "rto".into(),
        target: format!("≤ {}", fmt_ms(rto_target)),
        measured: match (fault, rto) {
            (None, _) => "no fault injected".into(),
            (_, Some(r)) => fmt_ms(r),
            (_, None) => "not recovered".into(),
        },
        passed: match (fault, rto) {
            (None, _) => true,
            (_, Some(r)) => r <= rto_target,
            _ => false,
        },
    });
    if fault.is_some() && rto.is_none() {
        messages.push("the service did not recover within the drill: no write was acknowledged after the fault".into());
    }
    let lost = verify
        .as_ref()
        .filter(|v| v.error.is_none())
        .map(|v| v.missing.len() as u64);
    objectives.push(ObjectiveResult {
        name: "rpo".into(),
        target: format!("≤ {} lost acknowledged payments", meta.objectives.rpo),
        measured: match (&verify, lost) {
            (_, Some(l)) => format!(
                "{l} of {} lost",
                verify.as_ref().map(|v| v.acknowledged).unwrap_or(0)
            ),
            (Some(v), None) => format!("not verified: {}", v.error.clone().unwrap_or_default()),
            (None, None) => "not verified (the drill ended before read-back)".into(),
        },
        passed: lost.is_some_and(|l| l <= meta.objectives.rpo),
    });
    let dups = verify
        .as_ref()
        .filter(|v| v.error.is_none())
        .map(|v| v.duplicate_credits);
    objectives.push(ObjectiveResult {
        name: "no-duplicate-credits".into(),
        target: "0".into(),
        measured: dups
            .map(|d| d.to_string())
            .unwrap_or_else(|| "not verified".into()),
        passed: dups == Some(0),
    });
    if let Some(a) = &aborted {
        messages.push(format!("aborted: {a}"));
    }
    // 100 ms buckets by scheduled time: ok, 5xx/4xx, timeout, connect/other.
    let n = (span_ms / 100.0).ceil() as usize + 1;
    let mut buckets = vec![[0u32; 4]; n.min(100_000)];
    for r in records {
        let i = ((r.scheduled_ms / 100.0) as usize).min(buckets.len() - 1);
        let k = match r.outcome {
            Outcome::Ok => 0,
            Outcome::Http5xx | Outcome::Http4xx => 1,
            Outcome::Timeout => 2,
            _ => 3,
        };
        buckets[i][k] += 1;
    }
    let passed = objectives.iter().all(|o| o.passed) && aborted.is_none();
    DrillReport {
        passed,
        objectives,
        fault_at_ms: fault,
        rto_ms: rto,
        detection_ms: rel(find("detected")),
        promotion_ms: rel(find("promoted")),
        dns_move_ms: rel(find("dns-moved")),
        errors_during_outage: errors_during,
        lost_acknowledged_payments: lost,
        lost_window_ms: verify.as_ref().and_then(|v| v.missing_window_ms),
        duplicate_credits: dups,
        verify_error: verify.as_ref().and_then(|v| v.error.clone()),
        traffic,
        markers: markers.to_vec(),
        aborted,
        buckets,
        messages,
        meta,
    }
}

/// Rebuilds a report from `events.jsonl` alone (`pmctl drill --report DIR`).
pub fn from_events(dir: &Path) -> std::io::Result<DrillReport> {
    let events = read_events(&dir.join("events.jsonl"))?;
    let mut meta = None;
    let mut records = Vec::new();
    let mut markers = Vec::new();
    let mut verify = None;
    let mut aborted = None;
    let mut finished = false;
    for e in events {
        match e {
            Event::Meta(m) => meta = Some(m),
            Event::Request(r) => records.push(r),
            Event::Marker(m) => markers.push(m),
            Event::Verify(v) => verify = Some(v),
            Event::Finished { aborted: a } => {
                aborted = a;
                finished = true;
            }
        }
    }
    let meta = meta.ok_or_else(|| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "events.jsonl has no drill header",
        )
    })?;
    let mut rep = build(meta, &records, &markers, verify, aborted);
    if !finished {
        rep.messages.push(
            "the drill did not finish (pmctl was stopped): this report holds what was recorded"
                .into(),
        );
        rep.passed = false;
    }
    Ok(rep)
}

pub fn markdown(r: &DrillReport) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "## Drill `{}` — {}\n",
        r.meta.runbook,
        if r.passed { "PASSED" } else { "FAILED" }
    );
    if !r.meta.description.is_empty() {
        let _ = writeln!(s, "{}\n", r.meta.description);
    }
    let _ = writeln!(
        s,
        "| objective | target | measured | result |\n|---|---|---|---|"
    );
    for o in &r.objectives {
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} |",
            o.name,
            o.target,
            o.measured,
            if o.passed { "✅ pass" } else { "❌ FAIL" }
        );
    }
    let opt = |v: Option<f64>| v.map(fmt_ms).unwrap_or_else(|| "-".into());
    let _ = writeln!(s, "\n| measurement | value |\n|---|---|");
    let _ = writeln!(
        s,
        "| environment / rpo mode | {} / {} |",
        r.meta.environment, r.meta.rpo_mode
    );
    let _ = writeln!(s, "| traffic | {} |", r.meta.traffic);
    let _ = writeln!(
        s,
        "| requests (achieved rps) | {} ({:.1}/s) |",
        r.traffic.requests, r.traffic.achieved_rps
    );
    let _ = writeln!(
        s,
        "| latency p50 / p90 / p99 / max | {:.0} / {:.0} / {:.0} / {:.0} ms |",
        r.traffic.latency_ms.p50,
        r.traffic.latency_ms.p90,
        r.traffic.latency_ms.p99,
        r.traffic.latency_ms.max
    );
    let _ = writeln!(s, "| fault at | {} |", opt(r.fault_at_ms));
    let _ = writeln!(s, "| detection after fault | {} |", opt(r.detection_ms));
    let _ = writeln!(s, "| promotion after fault | {} |", opt(r.promotion_ms));
    let _ = writeln!(s, "| DNS move after fault | {} |", opt(r.dns_move_ms));
    let _ = writeln!(
        s,
        "| first acknowledged write after fault (RTO) | {} |",
        opt(r.rto_ms)
    );
    let errs = if r.errors_during_outage.is_empty() {
        "none".to_string()
    } else {
        r.errors_during_outage
            .iter()
            .map(|(k, v)| format!("{v} {k}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let _ = writeln!(s, "| failed requests during the outage | {errs} |");
    let _ = writeln!(
        s,
        "| acknowledged payments lost | {} |",
        r.lost_acknowledged_payments
            .map(|l| l.to_string())
            .unwrap_or_else(|| "not verified".into())
    );
    if let Some((a, b)) = r.lost_window_ms {
        let _ = writeln!(
            s,
            "| lost payments acknowledged between | {} and {} |",
            fmt_ms(a),
            fmt_ms(b)
        );
    }
    let _ = writeln!(
        s,
        "| duplicate credits | {} |",
        r.duplicate_credits
            .map(|d| d.to_string())
            .unwrap_or_else(|| "not verified".into())
    );
    let _ = writeln!(s, "\nTimeline:");
    for m in &r.markers {
        let _ = writeln!(s, "- {:>9} {} {}", fmt_ms(m.t_ms), m.name, m.detail);
    }
    for m in &r.messages {
        let _ = writeln!(s, "\n**{m}**");
    }
    s
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Requests per 100 ms stacked by outcome, with markers for fault, detection, promotion,
/// DNS move and the first good write.
pub fn svg(r: &DrillReport) -> String {
    let (w, h, left, top, bottom) = (1000.0, 320.0, 50.0, 30.0, 40.0);
    let plot_h = h - top - bottom;
    let n = r.buckets.len().max(1) as f64;
    let bw = (w - left - 10.0) / n;
    let max = r
        .buckets
        .iter()
        .map(|b| b.iter().sum::<u32>())
        .max()
        .unwrap_or(1)
        .max(1) as f64;
    let colors = ["#2e7d32", "#c62828", "#ef6c00", "#757575"];
    let mut s = format!(
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}" font-family="sans-serif" font-size="11">"#
    );
    let _ = write!(
        s,
        r#"<title>Drill {} timeline</title><rect width="{w}" height="{h}" fill="white"/>"#,
        esc(&r.meta.runbook)
    );
    let _ = write!(
        s,
        r#"<text x="{left}" y="18" font-size="13">{} — requests per 100 ms (green ok, red 4xx/5xx, orange timeout, grey connect/other)</text>"#,
        esc(&r.meta.runbook)
    );
    for (i, b) in r.buckets.iter().enumerate() {
        let mut y = top + plot_h;
        for (k, c) in colors.iter().enumerate() {
            if b[k] == 0 {
                continue;
            }
            let bh = b[k] as f64 / max * plot_h;
            y -= bh;
            let _ = write!(
                s,
                r#"<rect x="{:.2}" y="{:.2}" width="{:.2}" height="{:.2}" fill="{c}"/>"#,
                left + i as f64 * bw,
                y,
                bw.max(0.5),
                bh
            );
        }
    }
    let _ = write!(
        s,
        r#"<line x1="{left}" y1="{}" x2="{}" y2="{}" stroke="black"/>"#,
        top + plot_h,
        w - 10.0,
        top + plot_h
    );
    let secs = (n / 10.0).ceil() as usize;
    let step = (secs / 10).max(1);
    for t in (0..=secs).step_by(step) {
        let x = left + t as f64 * 10.0 * bw;
        let _ = write!(
            s,
            r#"<text x="{x:.1}" y="{}" text-anchor="middle">{t}s</text>"#,
            top + plot_h + 14.0
        );
    }
    let mut marks: Vec<(String, f64)> = r
        .markers
        .iter()
        .filter(|m| {
            matches!(
                m.name.as_str(),
                "fault" | "detected" | "promoted" | "dns-moved" | "reaction" | "abort"
            )
        })
        .map(|m| (m.name.clone(), m.t_ms))
        .collect();
    if let (Some(f), Some(rto)) = (r.fault_at_ms, r.rto_ms) {
        marks.push(("first good write".into(), f + rto));
    }
    for (j, (name, t)) in marks.iter().enumerate() {
        let x = left + t / 100.0 * bw;
        let _ = write!(
            s,
            r##"<line x1="{x:.1}" y1="{top}" x2="{x:.1}" y2="{}" stroke="#1565c0" stroke-dasharray="4 2"/>"##,
            top + plot_h
        );
        let _ = write!(
            s,
            r##"<text x="{:.1}" y="{}" fill="#1565c0">{}</text>"##,
            x + 2.0,
            top + 12.0 + (j % 4) as f64 * 12.0,
            esc(name)
        );
    }
    let _ = write!(
        s,
        r#"<text x="{left}" y="{}">max {max} requests / 100 ms</text>"#,
        h - 6.0
    );
    s.push_str("</svg>\n");
    s
}

/// The drill as a JUnit test suite: one test case per objective.
pub fn junit_suite(r: &DrillReport) -> quick_junit::TestSuite {
    use quick_junit::{NonSuccessKind, TestCase, TestCaseStatus, TestSuite};
    let mut suite = TestSuite::new(format!("drill.{}", r.meta.runbook));
    suite.set_timestamp(r.meta.started_at.fixed_offset());
    suite.set_time(std::time::Duration::from_secs_f64(
        r.traffic.duration_s.max(0.0),
    ));
    for o in &r.objectives {
        let status = if o.passed {
            TestCaseStatus::success()
        } else {
            let mut s = TestCaseStatus::non_success(NonSuccessKind::Failure);
            s.set_message(format!(
                "{}: measured {}, target {}",
                o.name, o.measured, o.target
            ));
            s.set_type("ObjectiveMissed");
            s.set_description(r.messages.join("\n"));
            s
        };
        let mut case = TestCase::new(o.name.clone(), status);
        case.set_classname(format!("drill.{}", r.meta.runbook));
        suite.add_test_case(case);
    }
    if let Some(a) = &r.aborted {
        let mut s = TestCaseStatus::non_success(NonSuccessKind::Error);
        s.set_message(format!("aborted: {a}"));
        let mut case = TestCase::new("completed", s);
        case.set_classname(format!("drill.{}", r.meta.runbook));
        suite.add_test_case(case);
    }
    suite
}

/// JUnit XML of one or more drills.
pub fn junit_many(reports: &[&DrillReport]) -> String {
    let mut report = quick_junit::Report::new("pmctl drill");
    for r in reports {
        report.add_test_suite(junit_suite(r));
    }
    report.to_string().unwrap_or_default()
}

pub fn junit(r: &DrillReport) -> String {
    junit_many(&[r])
}

pub fn write_all(dir: &Path, r: &DrillReport) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    std::fs::write(
        dir.join("report.json"),
        serde_json::to_string_pretty(r).expect("json"),
    )?;
    std::fs::write(dir.join("report.md"), markdown(r))?;
    std::fs::write(dir.join("timeline.svg"), svg(r))?;
    std::fs::write(dir.join("junit.xml"), junit(r))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::load::Kind;

    fn meta(rto_ms: u64, rpo: u64) -> Meta {
        Meta {
            runbook: "t".into(),
            description: String::new(),
            environment: "fake".into(),
            rpo_mode: "zero".into(),
            writer_at_start: "east".into(),
            started_at: chrono::DateTime::from_timestamp(1_800_000_000, 0).unwrap(),
            objectives: ObjectiveSpec { rto_ms, rpo },
            traffic: String::new(),
            version: None,
            versions: Default::default(),
        }
    }

    fn req(seq: u64, kind: Kind, at: f64, took: f64, ok: bool) -> RequestRecord {
        RequestRecord {
            seq,
            kind,
            scheduled_ms: at,
            done_ms: at + took,
            latency_ms: took,
            outcome: if ok { Outcome::Ok } else { Outcome::Http5xx },
            status: Some(if ok { 200 } else { 503 }),
            region: None,
            ack: (ok && kind.is_write()).then(|| format!("R{seq}")),
            retry_after: false,
        }
    }

    fn marker(name: &str, t_ms: f64) -> Marker {
        Marker {
            name: name.into(),
            t_ms,
            detail: String::new(),
        }
    }

    /// Writes every 100 ms; the fault at 1 s; writes fail until 1.8 s; a read succeeding in
    /// the outage does not end it.
    fn outage() -> (Vec<RequestRecord>, Vec<Marker>) {
        let mut r = Vec::new();
        for i in 0..30u64 {
            let at = i as f64 * 100.0;
            let down = (1000.0..1800.0).contains(&at);
            r.push(req(i, Kind::C2b, at, 10.0, !down));
        }
        r.push(req(100, Kind::Read, 1200.0, 5.0, true));
        let m = vec![
            marker("fault", 1000.0),
            marker("detected", 1300.0),
            marker("promoted", 1600.0),
            marker("dns-moved", 1650.0),
        ];
        (r, m)
    }

    fn verify(acked: u64, missing: &[&str], window: Option<(f64, f64)>) -> Verify {
        Verify {
            acknowledged: acked,
            checked_on: Some("west".into()),
            missing: missing.iter().map(|s| s.to_string()).collect(),
            missing_window_ms: window,
            duplicate_credits: 0,
            error: None,
        }
    }

    #[test]
    fn rto_is_fault_to_the_first_acknowledged_write_after_it() {
        let (r, m) = outage();
        let rep = build(meta(1000, 0), &r, &m, Some(verify(22, &[], None)), None);
        // First write scheduled after the fault that succeeded: the one at 1.8 s, done at 1.81 s.
        assert_eq!(rep.rto_ms, Some(810.0));
        assert_eq!(rep.detection_ms, Some(300.0));
        assert_eq!(rep.promotion_ms, Some(600.0));
        assert_eq!(rep.dns_move_ms, Some(650.0));
        assert_eq!(rep.errors_during_outage.get("http5xx"), Some(&8));
        assert!(rep.passed, "{:?}", rep.objectives);
        // A tighter objective fails by name.
        let rep = build(meta(500, 0), &r, &m, Some(verify(22, &[], None)), None);
        assert!(!rep.passed);
        let rto = rep.objectives.iter().find(|o| o.name == "rto").unwrap();
        assert!(!rto.passed && rto.measured == "810 ms", "{rto:?}");
    }

    #[test]
    fn a_lost_acknowledged_payment_fails_rpo_with_its_window() {
        let (r, m) = outage();
        let v = verify(22, &["R5", "R7"], Some((510.0, 710.0)));
        let rep = build(meta(1000, 0), &r, &m, Some(v.clone()), None);
        assert_eq!(rep.lost_acknowledged_payments, Some(2));
        assert_eq!(rep.lost_window_ms, Some((510.0, 710.0)));
        let rpo = rep.objectives.iter().find(|o| o.name == "rpo").unwrap();
        assert!(!rpo.passed && rpo.measured == "2 of 22 lost", "{rpo:?}");
        assert!(!rep.passed);
        // An RPO budget of 2 accepts it.
        assert!(build(meta(1000, 2), &r, &m, Some(v), None).passed);
    }

    #[test]
    fn no_recovery_and_no_readback_fail() {
        let (mut r, m) = outage();
        r.retain(|x| x.scheduled_ms < 1000.0 || !x.kind.is_write() || x.ack.is_none());
        let rep = build(meta(1000, 0), &r, &m, None, None);
        assert_eq!(rep.rto_ms, None);
        assert!(!rep.passed);
        assert!(rep.objectives.iter().any(|o| o.name == "rto" && !o.passed));
        assert!(rep
            .objectives
            .iter()
            .any(|o| o.name == "rpo" && o.measured.contains("not verified")));
        let junit = junit(&rep);
        assert!(junit.contains("ObjectiveMissed"), "{junit}");
        assert!(junit.contains("drill.t"), "{junit}");
    }
}
