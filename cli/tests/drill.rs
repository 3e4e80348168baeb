//! `pmctl drill`: every shipped runbook on a real local stack, failing objectives, an honest
//! RPO counter, and bad runbooks.

mod common;

use common::*;
use serde_json::Value;
use std::path::{Path, PathBuf};

fn runbook(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../runbooks")
        .join(format!("{name}.yaml"))
        .display()
        .to_string()
}

struct Drill {
    code: i32,
    stdout: String,
    stderr: String,
    dir: PathBuf,
    report: Value,
}

fn drill(st: &mut TestStack, runbook: &str) -> Drill {
    st.up = true; // the drill brings the stack up; make sure the guard tears it down
    let dir = st.dir.path().join("report");
    let junit = st.dir.path().join("junit.xml");
    let r = st.run(&[
        "drill",
        runbook,
        "--report-dir",
        dir.to_str().unwrap(),
        "--junit",
        junit.to_str().unwrap(),
    ]);
    let report = std::fs::read_to_string(dir.join("report.json"))
        .map(|t| serde_json::from_str(&t).unwrap())
        .unwrap_or(Value::Null);
    Drill {
        code: r.code,
        stdout: r.stdout,
        stderr: r.stderr,
        dir,
        report,
    }
}

fn assert_report_files(d: &Drill) {
    for f in [
        "report.json",
        "report.md",
        "timeline.svg",
        "junit.xml",
        "events.jsonl",
    ] {
        assert!(d.dir.join(f).is_file(), "{f} missing");
    }
    // The SVG is well-formed SVG with the bars and markers a browser would draw.
    let svg = std::fs::read_to_string(d.dir.join("timeline.svg")).unwrap();
    let doc = roxmltree::Document::parse(&svg).expect("timeline.svg is not well-formed XML");
    let root = doc.root_element();
    assert_eq!(root.tag_name().name(), "svg");
    assert_eq!(
        root.tag_name().namespace(),
        Some("http://www.w3.org/2000/svg")
    );
    assert!(root.attribute("viewBox").is_some());
    assert!(
        root.descendants()
            .filter(|n| n.has_tag_name("rect"))
            .count()
            > 10,
        "no bars"
    );
    // JUnit: testsuites > testsuite(tests, failures) > testcase(name, classname)[failure].
    let xml = std::fs::read_to_string(d.dir.join("junit.xml")).unwrap();
    let doc = roxmltree::Document::parse(&xml).expect("junit.xml is not well-formed");
    let root = doc.root_element();
    assert_eq!(root.tag_name().name(), "testsuites");
    let suite = root
        .children()
        .find(|n| n.has_tag_name("testsuite"))
        .expect("testsuite");
    let cases: Vec<_> = suite
        .children()
        .filter(|n| n.has_tag_name("testcase"))
        .collect();
    assert_eq!(
        suite.attribute("tests").unwrap().parse::<usize>().unwrap(),
        cases.len()
    );
    let failed = cases
        .iter()
        .filter(|c| c.children().any(|n| n.has_tag_name("failure")))
        .count();
    assert_eq!(
        suite
            .attribute("failures")
            .unwrap()
            .parse::<usize>()
            .unwrap(),
        failed
    );
    for c in &cases {
        assert!(c.attribute("name").is_some() && c.attribute("classname").is_some());
    }
}

fn shipped(port_base: u16, name: &str) {
    let mut st = TestStack::with_autopilot(port_base, "", "");
    let d = drill(&mut st, &runbook(name));
    assert_eq!(
        d.code, 0,
        "drill {name} failed:\n{}\n{}",
        d.stdout, d.stderr
    );
    assert_eq!(d.report["passed"], true);
    assert_eq!(d.report["lost_acknowledged_payments"], 0);
    assert_eq!(d.report["duplicate_credits"], 0);
    assert!(
        d.report["traffic"]["acknowledged_writes"].as_u64().unwrap() > 50,
        "{}",
        d.report["traffic"]
    );
    assert_report_files(&d);
    // Cleanup restored the starting topology: east writer, west streaming sync replica.
    let (code, s) = status(&st);
    assert_eq!(
        code,
        0,
        "stack not OK after the drill's cleanup: {s}\ndrill stderr:\n{}\nevents:\n{}",
        d.stderr,
        std::fs::read_to_string(d.dir.join("events.jsonl")).unwrap_or_default()
    );
    assert_eq!(role(&s, "east"), "writer");
}

#[test]
fn region_outage() {
    shipped(25000, "region-outage");
}

#[test]
fn db_crash() {
    shipped(25100, "db-crash");
}

#[test]
fn network_partition() {
    shipped(25200, "network-partition");
}

#[test]
fn hung_primary() {
    shipped(25300, "hung-primary");
}

#[test]
fn planned_switchover() {
    shipped(25400, "planned-switchover");
}

/// Issue 13: failover in the middle of a rent-day spike, RPO 0.
#[test]
fn rent_day() {
    shipped(31000, "rent-day");
}

fn write_runbook(st: &TestStack, name: &str, text: &str) -> String {
    let p = st.dir.path().join(format!("{name}.yaml"));
    std::fs::write(&p, text).unwrap();
    p.display().to_string()
}

#[test]
fn no_reaction_means_no_recovery_and_an_impossible_rto_fails_by_name() {
    let mut st = TestStack::with_autopilot(25500, "", "");
    let rb = write_runbook(&st, "nobody-home", "name: nobody-home\ntraffic: { rps: 15, duration: 10s }\nfaults:\n  - { kind: kill-db, at: 3s }\nreaction: { kind: none }\nobjectives: { rto: 30s, rpo: 0 }\n");
    let d = drill(&mut st, &rb);
    assert_eq!(d.code, 1, "{}\n{}", d.stdout, d.stderr);
    assert!(d.stdout.contains("did not recover"), "{}", d.stdout);
    assert_eq!(d.report["objectives"][0]["name"], "rto");
    assert_eq!(d.report["objectives"][0]["passed"], false);
    assert_report_files(&d);

    let rb = write_runbook(&st, "too-fast", "name: too-fast\ntraffic: { rps: 15, duration: 12s }\nfaults:\n  - { kind: kill-db, at: 3s }\nreaction: { kind: auto }\nobjectives: { rto: 1ms, rpo: 0 }\n");
    let d = drill(&mut st, &rb);
    assert_eq!(d.code, 1, "{}\n{}", d.stdout, d.stderr);
    let objectives = d.report["objectives"].as_array().unwrap();
    let rto = objectives.iter().find(|o| o["name"] == "rto").unwrap();
    assert_eq!(rto["passed"], false, "{rto}");
    assert!(
        d.stdout.contains("| rto |") && d.stdout.contains("FAIL"),
        "{}",
        d.stdout
    );
    let rpo = objectives.iter().find(|o| o["name"] == "rpo").unwrap();
    assert_eq!(
        rpo["passed"], true,
        "the failover itself lost nothing: {rpo}"
    );
    let junit = std::fs::read_to_string(st.dir.path().join("junit.xml")).unwrap();
    let doc = roxmltree::Document::parse(&junit).expect("JUnit XML parses");
    let rto_case = doc
        .descendants()
        .find(|n| n.has_tag_name("testcase") && n.attribute("name") == Some("rto"))
        .expect("an rto test case");
    assert!(
        rto_case.children().any(|c| c.has_tag_name("failure")),
        "{junit}"
    );
}

#[test]
fn the_rpo_counter_sees_a_loss_with_async_replication() {
    // A lag budget large enough that the autopilot fails over although west is behind:
    // what that loses is exactly what the read-back must find.
    let mut st = TestStack::with_autopilot(
        25600,
        "rpo = \"async\"\n[environments.local.thresholds]\nfailover_max_lag_bytes = 1000000000",
        "",
    );
    let rb = write_runbook(
        &st,
        "async-loss",
        "name: async-loss\ndescription: replication cut, then the writer dies; async replication loses what west never got\n\
         traffic: { rps: 20, duration: 14s, timeout: 4s, mix: { c2b: 70, manual: 30, read: 0 } }\n\
         faults:\n  - { kind: partition, at: 2s }\n  - { kind: kill-db, at: 6s }\n\
         reaction: { kind: auto }\n\
         objectives: { rto: 30s, rpo: 0 }\n",
    );
    let d = drill(&mut st, &rb);
    assert_eq!(d.code, 1, "{}\n{}", d.stdout, d.stderr);
    let lost = d.report["lost_acknowledged_payments"]
        .as_u64()
        .expect("RPO verified");
    assert!(lost > 0, "the counter saw no loss: {}", d.report);
    // What is lost was committed between the cut and the writer's death, so it was
    // acknowledged after the cut and sent before the kill took effect — its answer at most
    // one request timeout (4 s) later. The kill is marked once it has taken effect, which
    // on a loaded machine can be seconds after 6 s: the bound is that marker, not the
    // schedule; and a loaded machine answers slowly, so not the marker alone.
    let killed_at = d.report["markers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["name"] == "fault" && m["detail"].as_str().unwrap().starts_with("kill-db"))
        .and_then(|m| m["t_ms"].as_f64())
        .expect("the kill is marked");
    let window = &d.report["lost_window_ms"];
    assert!(
        window[0].as_f64().unwrap() >= 1500.0 && window[1].as_f64().unwrap() <= killed_at + 4000.0,
        "lost writes outside the cut window (kill took effect at {killed_at} ms): {window}\nmarkers: {}",
        d.report["markers"]
    );
    let rpo = d.report["objectives"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["name"] == "rpo")
        .unwrap()
        .clone();
    assert_eq!(rpo["passed"], false);
}

#[test]
fn bad_runbooks_are_refused_before_anything_starts() {
    let st = TestStack::with_autopilot(25700, "", "");
    let base = "name: bad\ntraffic: { rps: 10, duration: 10s }\nfaults:\n  - { kind: kill-db, at: 2s }\nreaction: { kind: auto }\nobjectives: { rto: 5s, rpo: 0 }\n";
    let cases = [
        (
            "unknown-fault",
            base.replace("kill-db", "kill-moon"),
            "faults[0].kind",
        ),
        (
            "missing-objective",
            base.replace("objectives: { rto: 5s, rpo: 0 }", "objectives: { rto: 5s }"),
            "rpo",
        ),
        (
            "wrong-type",
            base.replace("rps: 10", "rps: many"),
            "traffic.rps",
        ),
        ("unknown-field", format!("{base}colour: blue\n"), "colour"),
    ];
    for (name, text, field) in cases {
        let p = write_runbook(&st, name, &text);
        let r = st.run(&["drill", &p]);
        assert_eq!(r.code, 2, "{name}: {r:?}");
        assert!(
            r.stderr.contains(field) && r.stderr.contains("line"),
            "{name}: {r:?}"
        );
    }
    assert!(!st.state.exists(), "a refused drill started something");
}

#[test]
fn a_killed_drill_can_still_be_reported() {
    let mut st = TestStack::with_autopilot(25800, "", "");
    st.up = true;
    let rb = write_runbook(&st, "long", "name: long\ntraffic: { rps: 15, duration: 60s }\nfaults:\n  - { kind: kill-api, at: 2s }\nreaction: { kind: none }\nobjectives: { rto: 10s, rpo: 0 }\n");
    let dir = st.dir.path().join("report");
    let mut child = st
        .cmd(&["drill", &rb, "--report-dir", dir.to_str().unwrap()])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Wait until traffic has flowed past the fault, then kill pmctl outright.
    let events = dir.join("events.jsonl");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let text = std::fs::read_to_string(&events).unwrap_or_default();
        if text.contains("\"name\":\"fault\"") && text.lines().count() > 60 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the drill never got going"
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let r = st.run(&["drill", "--report", dir.to_str().unwrap()]);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(r.stdout.contains("did not finish"), "{r:?}");
    assert!(r.stdout.contains("fault kill-api"), "{r:?}");
    for f in ["report.json", "report.md", "timeline.svg", "junit.xml"] {
        assert!(dir.join(f).is_file(), "{f}");
    }
}

#[test]
fn an_abort_condition_stops_the_drill_early_and_cleanup_still_runs() {
    let mut st = TestStack::with_autopilot(25900, "", "");
    let rb = write_runbook(
        &st,
        "abort",
        "name: abort\ntraffic: { rps: 15, duration: 60s }\nfaults:\n  - { kind: kill-db, at: 2s }\n\
         reaction: { kind: none }\nobjectives: { rto: 10s, rpo: 0 }\nabort: { max_error_ratio: 0.5, for: 2s }\n",
    );
    let d = drill(&mut st, &rb);
    assert_eq!(d.code, 1, "{}\n{}", d.stdout, d.stderr);
    // Traffic ended well before its 60 s schedule, by the drill's own clock (not the
    // test's, which also counts the stack's start-up on a busy machine).
    let ended = d.report["markers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["name"] == "traffic-end")
        .and_then(|m| m["t_ms"].as_f64())
        .expect("a traffic-end marker");
    assert!(
        ended < 40_000.0,
        "the drill did not stop early: traffic ended at {ended} ms"
    );
    assert!(
        d.report["aborted"]
            .as_str()
            .unwrap()
            .contains("error ratio"),
        "{}",
        d.report
    );
    assert!(d.stdout.contains("aborted"), "{}", d.stdout);
    // Cleanup ran: the killed database is back and the stack is healthy.
    let (code, s) = status(&st);
    assert_eq!(code, 0, "{s}");
}

#[test]
fn sigterm_stops_the_drill_and_cleanup_still_runs() {
    let mut st = TestStack::with_autopilot(26100, "", "");
    st.up = true;
    let rb = write_runbook(&st, "term", "name: term\ntraffic: { rps: 15, duration: 60s }\nfaults:\n  - { kind: partition, at: 2s }\nreaction: { kind: none }\nobjectives: { rto: 10s, rpo: 0 }\n");
    let dir = st.dir.path().join("report");
    let mut child = st
        .cmd(&["drill", &rb, "--report-dir", dir.to_str().unwrap()])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let events = dir.join("events.jsonl");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while !std::fs::read_to_string(&events)
        .unwrap_or_default()
        .contains("\"name\":\"fault\"")
    {
        assert!(std::time::Instant::now() < deadline, "the fault never came");
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    let status_code = child.wait().unwrap();
    assert_eq!(status_code.code(), Some(1));
    let report: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("report.json")).unwrap()).unwrap();
    assert!(
        report["aborted"].as_str().unwrap().contains("SIGTERM"),
        "{report}"
    );
    // The partition was healed by cleanup.
    let net: Value =
        serde_json::from_str(&std::fs::read_to_string(st.state.join("net-state.json")).unwrap())
            .unwrap();
    assert!(
        !net.to_string().contains("\"down\""),
        "links still down: {net}"
    );
    let (code, s) = status(&st);
    assert_eq!(code, 0, "{s}");
}
