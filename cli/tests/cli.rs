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
        (vec!["load", "--rps", "0"], "--rps"),
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
