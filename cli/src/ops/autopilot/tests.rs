//! The policy, case by case: when the autopilot acts, and every reason it does not.

use super::policy::*;
use crate::config::Rpo;
use std::time::Duration;

fn view(name: &str, witness: bool, peer: bool, in_recovery: Option<bool>) -> RegionView {
    let r = |up: bool| {
        if up {
            Reach::Up
        } else {
            Reach::Down {
                why: "refused".into(),
            }
        }
    };
    RegionView {
        name: name.into(),
        witness: r(witness),
        from_peer: r(peer),
        in_recovery: if witness { in_recovery } else { None },
        entry_healthy: None,
    }
}

/// East is the writer; how the witness and the peer see it.
fn obs(east_witness: bool, east_peer: bool) -> Observation {
    Observation {
        regions: vec![
            view("east", east_witness, east_peer, Some(false)),
            view("west", true, true, Some(true)),
        ],
        writer: Some("east".into()),
        lag_bytes: Some(0),
        lag_ms: None,
        fencing: Fencing::Possible,
        operation: None,
    }
}

fn policy() -> Policy {
    Policy {
        detection_window: Duration::from_millis(500),
        cooldown: Duration::from_secs(600),
        rpo: Rpo::Zero,
        max_lag_bytes: 0,
        max_lag_ms: 0,
        dry_run: false,
    }
}

fn now() -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::from_timestamp(1_800_000_000, 0).unwrap()
}

/// Decides at 0 ms and again at `later` ms with the same observation.
fn run(o: &Observation, m: &mut Memory, p: &Policy, later: u64) -> (Decision, Decision) {
    let first = decide(o, m, p, 0, now());
    let second = decide(o, m, p, later, now());
    (first, second)
}

fn reason(d: &Decision) -> String {
    match d {
        Decision::Hold { reason, .. } => reason.clone(),
        other => panic!("expected a hold, got {other:?}"),
    }
}

#[test]
fn a_lost_region_fails_over_after_the_window_only() {
    let mut m = Memory::default();
    let (first, second) = run(&obs(false, false), &mut m, &policy(), 499);
    assert!(matches!(first, Decision::Watching { .. }), "{first:?}");
    assert!(
        matches!(
            second,
            Decision::Watching {
                lost_for_ms: 499,
                ..
            }
        ),
        "{second:?}"
    );
    let third = decide(&obs(false, false), &mut m, &policy(), 500, now());
    let Decision::Failover {
        from,
        to,
        accept_data_loss,
        ..
    } = third
    else {
        panic!("{third:?}")
    };
    assert_eq!(
        (from.as_str(), to.as_str(), accept_data_loss),
        ("east", "west", false)
    );
}

#[test]
fn reaching_the_writer_again_resets_the_window() {
    let mut m = Memory::default();
    decide(&obs(false, false), &mut m, &policy(), 0, now());
    assert!(matches!(
        decide(&obs(true, true), &mut m, &policy(), 300, now()),
        Decision::Healthy { .. }
    ));
    let d = decide(&obs(false, false), &mut m, &policy(), 600, now());
    assert!(
        matches!(d, Decision::Watching { lost_for_ms: 0, .. }),
        "{d:?}"
    );
}

#[test]
fn a_partition_where_the_witness_reaches_the_writer_never_promotes() {
    let mut m = Memory::default();
    let (_, d) = run(&obs(true, false), &mut m, &policy(), 60_000);
    assert!(reason(&d).contains("partition"), "{d:?}");
    // Nor does losing only the witness's own path.
    let (_, d) = run(&obs(false, true), &mut m, &policy(), 60_000);
    assert!(reason(&d).contains("witness's own path"), "{d:?}");
}

#[test]
fn no_target_no_failover() {
    let mut o = obs(false, false);
    o.regions[1] = view("west", false, true, None);
    let mut m = Memory::default();
    let (_, d) = run(&o, &mut m, &policy(), 1000);
    assert!(reason(&d).contains("cannot take over"), "{d:?}");
    let mut o = obs(false, false);
    o.regions[1].in_recovery = Some(false);
    let (_, d) = run(&o, &mut Memory::default(), &policy(), 1000);
    assert!(reason(&d).contains("cannot take over"), "{d:?}");
}

#[test]
fn async_replication_acts_only_within_the_lag_budget() {
    let mut p = policy();
    p.rpo = Rpo::Async;
    p.max_lag_bytes = 1000;
    // Last known lag (seen while the writer was reachable) over budget: page, no promotion.
    let mut m = Memory::default();
    let mut healthy = obs(true, true);
    healthy.lag_bytes = Some(5000);
    decide(&healthy, &mut m, &p, 0, now());
    let (_, d) = run(&obs(false, false), &mut m, &p, 1000);
    assert!(reason(&d).contains("a human decides"), "{d:?}");
    // Within budget: fails over, accepting at most the budget.
    let mut m = Memory::default();
    healthy.lag_bytes = Some(10);
    decide(&healthy, &mut m, &p, 0, now());
    let d = decide(&obs(false, false), &mut m, &p, 10, now());
    let d2 = decide(&obs(false, false), &mut m, &p, 600, now());
    assert!(matches!(d, Decision::Watching { .. }));
    assert!(
        matches!(
            d2,
            Decision::Failover {
                accept_data_loss: true,
                ..
            }
        ),
        "{d2:?}"
    );
    // Never measured: unknown is over any budget.
    let (_, d) = run(&obs(false, false), &mut Memory::default(), &p, 1000);
    assert!(reason(&d).contains("unknown"), "{d:?}");
}

#[test]
fn cool_down_pause_dry_run_and_fencing_hold_with_a_page() {
    let mut m = Memory {
        last_auto_failover: Some(now() - chrono::Duration::seconds(60)),
        ..Default::default()
    };
    let (_, d) = run(&obs(false, false), &mut m, &policy(), 1000);
    assert!(
        matches!(&d, Decision::Hold { page: true, reason } if reason.contains("cool-down")),
        "{d:?}"
    );
    // After the cool-down it acts again.
    let mut m = Memory {
        last_auto_failover: Some(now() - chrono::Duration::seconds(601)),
        ..Default::default()
    };
    let (_, d) = run(&obs(false, false), &mut m, &policy(), 1000);
    assert!(matches!(d, Decision::Failover { .. }), "{d:?}");

    let mut m = Memory {
        paused: true,
        ..Default::default()
    };
    let (_, d) = run(&obs(false, false), &mut m, &policy(), 1000);
    assert!(reason(&d).contains("paused"), "{d:?}");

    let mut p = policy();
    p.dry_run = true;
    let (_, d) = run(&obs(false, false), &mut Memory::default(), &p, 1000);
    assert!(
        reason(&d).contains("dry run: would fail over east → west"),
        "{d:?}"
    );

    let mut o = obs(false, false);
    o.fencing = Fencing::Impossible {
        why: "the region's control plane does not answer".into(),
    };
    let (_, d) = run(&o, &mut Memory::default(), &policy(), 1000);
    assert!(reason(&d).contains("cannot be fenced"), "{d:?}");
    // Provably gone is as good as fenced.
    let mut o = obs(false, false);
    o.fencing = Fencing::WriterGone;
    let (_, d) = run(&o, &mut Memory::default(), &policy(), 1000);
    assert!(matches!(d, Decision::Failover { .. }), "{d:?}");
}

#[test]
fn hands_off_while_someone_operates_or_nobody_knows_the_writer() {
    let mut o = obs(false, false);
    o.operation = Some("pmctl pid 7 is running `switchover`".into());
    let mut m = Memory::default();
    let (_, d) = run(&o, &mut m, &policy(), 60_000);
    assert!(reason(&d).contains("hands off"), "{d:?}");
    assert_eq!(m.lost_since_ms, None, "an operation resets the window");
    let mut o = obs(false, false);
    o.writer = None;
    let (_, d) = run(&o, &mut Memory::default(), &policy(), 60_000);
    assert!(reason(&d).contains("no single writer"), "{d:?}");
}
