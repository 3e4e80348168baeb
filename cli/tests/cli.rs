//! Every subcommand's --help, and bad invocations: clear errors, exit 2, nothing created.

mod common;

use common::*;

#[test]
fn every_subcommand_has_help() {
    let st = TestStack::new(26000, "");
    for cmd in [
        vec!["--help"],
        vec!["dev", "--help"],
        vec!["dev", "up", "--help"],
        vec!["dev", "down", "--help"],
        vec!["dev", "status", "--help"],
        vec!["dev", "logs", "--help"],
        vec!["dev", "link", "--help"],
        vec!["dev", "token", "--help"],
        vec!["status", "--help"],
        vec!["switchover", "--help"],
        vec!["failover", "--help"],
        vec!["failback", "--help"],
        vec!["history", "--help"],
        vec!["drill", "--help"],
        vec!["load", "--help"],
    ] {
        let r = st.run(&cmd);
        assert_eq!(r.code, 0, "{cmd:?}: {r:?}");
        assert!(r.stdout.contains("Usage:"), "{cmd:?}: {r:?}");
    }
    let r = st.run(&["--version"]);
    assert!(r.stdout.contains(env!("CARGO_PKG_VERSION")));
}

#[test]
fn bad_invocations_exit_2_and_create_nothing() {
    let st = TestStack::new(26010, "");
    for (args, expect) in [
        (vec!["switchover"], "--to"),
        (
            vec!["failover", "--to", "west", "--switchover"],
            "failback only",
        ),
        (
            vec!["load", "--mix", "c2b=1,bogus=2"],
            "unknown kind `bogus`",
        ),
        (vec!["load", "--rps", "0"], "more than 0"),
        (vec!["load", "--duration", "0s"], "--duration"),
        (
            vec!["switchover", "--to", "west", "--plan-hash", ""],
            "not a plan hash",
        ),
        (
            vec!["switchover", "--to", "west", "--plan-hash", "xyz"],
            "not a plan hash",
        ),
        (vec!["status"], "pmctl dev up"),
        (vec!["switchover", "--to", "west", "--yes"], "pmctl dev up"),
        (
            vec!["drill", "no-such-runbook.yaml"],
            "no-such-runbook.yaml",
        ),
        (
            vec!["dev", "link", "repl-to-east", "sideways"],
            "unknown link mode",
        ),
        (vec!["frobnicate"], "unrecognized subcommand"),
    ] {
        let r = st.run(&args);
        assert_eq!(r.code, 2, "{args:?}: {r:?}");
        assert!(r.stderr.contains(expect), "{args:?}: {r:?}");
    }
    assert!(!st.state.exists());
}

#[test]
fn bad_settings_and_runbooks_are_refused_by_name() {
    let st = TestStack::with_autopilot(
        26020,
        "[environments.local.thresholds]\nmax_lag_bytes = -1\nmax_5xx_ratio = 2.0\n",
        "interval_ms = 0",
    );
    let r = st.run(&["status"]);
    assert_eq!(r.code, 2, "{r:?}");
    assert!(
        r.stderr.contains("max_lag_bytes")
            && r.stderr.contains("max_5xx_ratio")
            && r.stderr.contains("autopilot.interval_ms"),
        "{r:?}"
    );
    let st = TestStack::new(26030, "");
    let rb = st.dir.path().join("zero.yaml");
    std::fs::write(
        &rb,
        "name: z\ntraffic: { rps: 10, duration: 5s }\nreaction: { kind: auto, at: 2s }\nobjectives: { rto: 5s, rpo: 0 }\n",
    )
    .unwrap();
    let r = st.run(&["drill", rb.to_str().unwrap(), "--check"]);
    assert_eq!(r.code, 2, "{r:?}");
    assert!(r.stderr.contains("reaction.at"), "{r:?}");
    assert!(!st.state.exists());
}

#[test]
fn a_damaged_journal_stops_history_and_operations_naming_the_line() {
    let st = TestStack::new(26040, "");
    std::fs::create_dir_all(&st.state).unwrap();
    let j = st.state.join("journal.jsonl");
    let good = r#"{"event":"op_finished","op_id":"x","at":"2026-01-01T00:00:00Z","ok":true,"summary":"s"}"#;
    std::fs::write(&j, format!("{good}\n{{garbage\n{good}\n")).unwrap();
    for args in [vec!["history"], vec!["failback", "--dry-run"]] {
        let r = st.run(&args);
        assert_ne!(r.code, 0, "{args:?}: {r:?}");
        assert!(
            r.stderr.contains("journal.jsonl, line 1")
                || r.stderr.contains("journal.jsonl, line 2"),
            "{args:?}: {r:?}"
        );
    }
    // Nothing was written by the refused commands.
    assert_eq!(
        std::fs::read_to_string(&j).unwrap(),
        format!("{good}\n{{garbage\n{good}\n")
    );
}
