//! The autopilot on a real local stack: it fails over a lost region by itself, fences an
//! isolated writer, never promotes during a partition the witness sees through, waits for a
//! human inside its cool-down, and finishes its own failover when killed half-way.

mod common;

use common::*;
use serde_json::Value;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

fn history(st: &TestStack) -> Vec<Value> {
    st.must(&["history", "-o", "json"])
        .json()
        .as_array()
        .cloned()
        .unwrap_or_default()
}

fn failovers(st: &TestStack) -> usize {
    history(st)
        .iter()
        .filter(|o| o["plan"]["operation"] == "failover")
        .count()
}

fn decisions(st: &TestStack) -> Vec<Value> {
    std::fs::read_to_string(st.state.join("autopilot.jsonl"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

async fn decision_with(st: &TestStack, needle: &str, within: Duration) -> Value {
    eventually(within, || async {
        decisions(st)
            .into_iter()
            .find(|d| d.to_string().contains(needle))
    })
    .await
    .unwrap_or_else(|| {
        panic!(
            "no autopilot decision containing `{needle}`; journal:\n{}",
            std::fs::read_to_string(st.state.join("autopilot.jsonl")).unwrap_or_default()
        )
    })
}

async fn finished_failovers(st: &TestStack, n: usize, within: Duration) {
    let ok = eventually(within, || async {
        let h = history(st);
        let done = h
            .iter()
            .filter(|o| o["plan"]["operation"] == "failover" && o["finished"][1] == true)
            .count();
        (done >= n).then_some(())
    })
    .await;
    assert!(
        ok.is_some(),
        "expected {n} finished failovers; history: {:?}; decisions: {:?}",
        history(st),
        decisions(st)
    );
}

fn pid_of(st: &TestStack, component: &str) -> i32 {
    let f = match component.strip_prefix("postgres-") {
        Some(r) => st.state.join(r).join("pg/postmaster.pid"),
        None => st.state.join("run").join(format!("{component}.pid")),
    };
    std::fs::read_to_string(f)
        .unwrap()
        .lines()
        .next()
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

fn kill_region(st: &TestStack, region: &str) {
    for c in [format!("api-{region}"), format!("postgres-{region}")] {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid_of(st, &c)),
            nix::sys::signal::Signal::SIGKILL,
        );
    }
}

fn links(st: &TestStack, names: &[&str], mode: &str) {
    for n in names {
        st.must(&["dev", "link", n, mode]);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_partition_never_promotes_and_an_isolated_writer_is_fenced() {
    let mut st = TestStack::with_autopilot(28100, "", "");
    st.up();
    let lease = seed_lease(&st, "landlord-p").await;
    let w = PaymentWriter::start(&st, "landlord-p", &lease);

    // The regions lose each other; the witness still reaches east.
    links(&st, &["repl-to-east", "repl-to-west"], "down");
    let d = decision_with(
        &st,
        "a partition, not a lost region",
        Duration::from_secs(20),
    )
    .await;
    assert_eq!(d["page"], true, "a partition pages: {d}");
    // Proving an absence takes time: several detection windows with nothing promoted.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        failovers(&st),
        0,
        "promoted during a partition: {:?}",
        history(&st)
    );
    let (code, s) = status(&st);
    assert_eq!(code, 2, "writes hang with rpo zero and no standby: {s}");
    assert_eq!(role(&s, "east"), "writer");
    links(&st, &["repl-to-east", "repl-to-west"], "up");

    // East cut off from west *and* from the witness: fenced, west promoted.
    links(
        &st,
        &["repl-to-east", "repl-to-west", "witness-to-east"],
        "down",
    );
    finished_failovers(&st, 1, Duration::from_secs(30)).await;
    let op = history(&st).into_iter().last().unwrap();
    assert_eq!(op["choices"]["autopilot"], true, "{op}");
    assert!(op["choices"]["reason"]
        .as_str()
        .unwrap()
        .contains("unreachable from the witness"));
    links(
        &st,
        &["repl-to-east", "repl-to-west", "witness-to-east"],
        "up",
    );
    let acked = w.stop().await;

    // After healing, the old writer cannot take a write, even straight at its own API.
    let token = st.token("landlord-p");
    let r = http()
        .post(format!("{}/v1/payments", st.api("east")))
        .bearer_auth(&token)
        .header("Idempotency-Key", "to-the-fenced-east")
        .json(&serde_json::json!({"lease_id": lease, "amount": 100, "method": "cash"}))
        .send()
        .await
        .unwrap();
    assert_ne!(r.status().as_u16(), 201, "the fenced east took a write");
    let (_, s) = status(&st);
    assert_eq!(role(&s, "west"), "writer");
    assert_ne!(role(&s, "east"), "writer");
    assert_eq!(
        missing_payments(&st, "west", &acked).await,
        Vec::<String>::new()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_second_outage_inside_the_cool_down_pages_and_waits_for_a_human() {
    let pages = tempfile::NamedTempFile::new().unwrap();
    let mut st = TestStack::with_autopilot(
        28200,
        "",
        &format!(
            "notify_command = \"cat >> {}; echo >> {}\"",
            pages.path().display(),
            pages.path().display()
        ),
    );
    st.up();
    kill_region(&st, "east");
    finished_failovers(&st, 1, Duration::from_secs(30)).await;
    // East comes back as west's replica without a journaled operation (no human failback):
    // the cool-down stays.
    let _ = st.run(&["dev", "up"]);
    st.must(&["dev", "rebuild", "east"]);
    let (code, s) = status(&st);
    assert_eq!(code, 0, "{s}");

    kill_region(&st, "west");
    let d = decision_with(&st, "cool-down", Duration::from_secs(30)).await;
    assert_eq!(d["page"], true, "{d}");
    assert_eq!(
        failovers(&st),
        1,
        "a second automatic failover inside the cool-down"
    );
    let paged = eventually(Duration::from_secs(10), || async {
        std::fs::read_to_string(pages.path())
            .ok()
            .filter(|t| t.contains("cool-down"))
    })
    .await;
    assert!(
        paged.is_some(),
        "the notify command was not run for the page"
    );
    let r = st.run(&["autopilot", "status"]);
    assert_eq!(r.code, 1, "not armed in a cool-down: {r:?}");

    // A human re-arms it: it acts on the outage at once.
    st.must(&["autopilot", "resume"]);
    finished_failovers(&st, 2, Duration::from_secs(30)).await;
    let (_, s) = status(&st);
    assert_eq!(role(&s, "east"), "writer");
}

struct Autopilot(Child);

impl Drop for Autopilot {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn autopilot(st: &TestStack, crash_after: Option<usize>) -> Autopilot {
    let mut c = Command::new(pmctl_bin());
    c.args(["--state-dir"])
        .arg(&st.state)
        .arg("--config")
        .arg(&st.config)
        .args(["autopilot", "run"])
        .env_remove("PMCTL_ENV")
        .env_remove("PMCTL_TEST_CRASH_AFTER_STEP")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    if let Some(n) = crash_after {
        c.env("PMCTL_TEST_CRASH_AFTER_STEP", n.to_string());
    }
    Autopilot(c.spawn().expect("pmctl autopilot run"))
}

#[tokio::test(flavor = "multi_thread")]
async fn a_killed_autopilot_finishes_its_failover_when_restarted() {
    // dev up does not start it here: the test runs it, with the crash hook.
    let mut st = TestStack::new(28300, "");
    st.up();
    let lease = seed_lease(&st, "landlord-k").await;
    for step in 1..=6usize {
        let w = PaymentWriter::start(&st, "landlord-k", &lease);
        let mut ap = autopilot(&st, Some(step));
        let ready = eventually(Duration::from_secs(30), || async {
            st.run(&["autopilot", "status"])
                .stdout
                .contains("running")
                .then_some(())
        })
        .await;
        assert!(ready.is_some(), "step {step}: the autopilot did not start");
        kill_region(&st, "east");
        // It dies right after journaling `step`.
        let start = std::time::Instant::now();
        let died = loop {
            if let Some(s) = ap.0.try_wait().ok().flatten() {
                break Some(s);
            }
            if start.elapsed() > Duration::from_secs(30) {
                break None;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        assert!(
            died.is_some(),
            "step {step}: the autopilot was not killed by the hook"
        );
        let h = history(&st);
        assert_eq!(
            h.last().unwrap()["finished"],
            Value::Null,
            "step {step}: {h:?}"
        );
        // Restarted, it finishes what it began.
        let _ap = autopilot(&st, None);
        let done = eventually(Duration::from_secs(60), || async {
            let h = history(&st);
            (h.last().unwrap()["finished"][1] == true).then_some(())
        })
        .await;
        assert!(
            done.is_some(),
            "step {step}: not finished: {:?}",
            history(&st)
        );
        let acked = w.stop().await;
        let (_, s) = status(&st);
        assert_eq!(role(&s, "west"), "writer", "step {step}");
        assert_eq!(
            missing_payments(&st, "west", &acked).await,
            Vec::<String>::new(),
            "step {step}"
        );
        drop(_ap);
        // Back to the start for the next step.
        let _ = st.run(&["dev", "up"]);
        let r = st.run(&["failback", "--switchover", "--yes"]);
        assert_eq!(r.code, 0, "step {step}: {r:?}");
        drop(ap);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn slow_links_short_hangs_and_load_cause_no_failover() {
    let mut st = TestStack::with_autopilot(28400, "", "");
    st.up();
    // Latency on every link, below the detection window.
    links(
        &st,
        &[
            "repl-to-east",
            "repl-to-west",
            "witness-to-east",
            "witness-to-west",
        ],
        "latency:100",
    );
    let load = st
        .cmd(&[
            "load",
            "--rps",
            "150",
            "--duration",
            "12s",
            "--mix",
            "c2b=60,manual=20,read=20",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let _load = Autopilot(load);
    // Brief freezes of the writer, each shorter than the window.
    let pg = pid_of(&st, "postgres-east");
    for _ in 0..8 {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pg),
            nix::sys::signal::Signal::SIGSTOP,
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pg),
            nix::sys::signal::Signal::SIGCONT,
        );
        tokio::time::sleep(Duration::from_millis(1000)).await;
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    links(
        &st,
        &[
            "repl-to-east",
            "repl-to-west",
            "witness-to-east",
            "witness-to-west",
        ],
        "up",
    );
    assert_eq!(failovers(&st), 0, "spurious failover: {:?}", decisions(&st));
    let (_, s) = status(&st);
    assert_eq!(role(&s, "east"), "writer");
}
