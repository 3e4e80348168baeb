//! A drill killed right after its fault leaves that fault in place (links down, a frozen or
//! killed process). `pmctl dev up` — the command status recommends — must return the stack
//! to OK with every acknowledged payment present, for every fault kind.

mod common;

use common::*;
use std::time::{Duration, Instant};

const FAULTS: &[&str] = &[
    "kill-db",
    "kill-api",
    "kill-region",
    "partition",
    "isolate",
    "hang",
    "slow-link",
];

/// Starts a long drill with `fault` at 1 s (no reaction) and SIGKILLs pmctl as soon as the
/// fault is in its event log.
fn kill_drill_after_fault(st: &TestStack, fault: &str) {
    let extra = if fault == "slow-link" {
        ", latency_ms: 300"
    } else {
        ""
    };
    let rb = st.dir.path().join(format!("{fault}.yaml"));
    std::fs::write(
        &rb,
        format!(
            "name: killed-{fault}\ntraffic: {{ rps: 10, duration: 120s }}\nfaults:\n  - {{ kind: {fault}, at: 1s{extra} }}\n\
             reaction: {{ kind: none }}\nobjectives: {{ rto: 10s, rpo: 0 }}\ncleanup: none\n"
        ),
    )
    .unwrap();
    let dir = st.dir.path().join(format!("report-{fault}"));
    let mut child = st
        .cmd(&[
            "drill",
            rb.to_str().unwrap(),
            "--report-dir",
            dir.to_str().unwrap(),
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let events = dir.join("events.jsonl");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let text = std::fs::read_to_string(&events).unwrap_or_default();
        if text.contains("\"name\":\"fault\"") {
            break;
        }
        if let Some(s) = child.try_wait().unwrap() {
            panic!("{fault}: the drill ended ({s}) before its fault");
        }
        assert!(Instant::now() < deadline, "{fault}: the fault never came");
        std::thread::sleep(Duration::from_millis(50));
    }
    child.kill().unwrap();
    child.wait().unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn dev_up_returns_the_stack_to_ok_after_a_drill_killed_after_each_fault() {
    let mut st = TestStack::new(27200, "");
    st.up();
    let lease = seed_lease(&st, "landlord-k").await;
    for fault in FAULTS {
        let w = PaymentWriter::start(&st, "landlord-k", &lease);
        eventually(Duration::from_secs(20), || async {
            (w.count() >= 5).then_some(())
        })
        .await
        .expect("payments flow before the fault");

        kill_drill_after_fault(&st, fault);
        // The fault outlived its drill: status says so and names the repair.
        let (code, s) = status(&st);
        assert_ne!(code, 0, "{fault}: status OK with the fault in place: {s}");

        let r = st.run(&["dev", "up"]);
        assert_eq!(r.code, 0, "{fault}: {r:?}");
        // Up to the 5xx alarm's 60 s window and then some: the requests that failed while
        // the fault was in place keep `api-5xx-rate` firing until they leave the window.
        let ok = eventually(Duration::from_secs(80), || async {
            let (code, s) = status(&st);
            (code == 0).then_some(s)
        })
        .await;
        assert!(ok.is_some(), "{fault}: never OK again: {:?}", status(&st));
        // Writes flow again, then every acknowledged payment is on the writer.
        let before = w.count();
        eventually(Duration::from_secs(20), || async {
            (w.count() > before + 3).then_some(())
        })
        .await
        .unwrap_or_else(|| panic!("{fault}: writes do not flow after dev up"));
        let acked = w.stop().await;
        let (_, s) = status(&st);
        assert_eq!(role(&s, "east"), "writer", "{fault}: {s}");
        assert_eq!(
            missing_payments(&st, "east", &acked).await,
            Vec::<String>::new(),
            "{fault}"
        );
    }
}
