//! The engine's decisions on the fake provider: steps of every operation, each preflight
//! refusal, resume from every step, failures and the gate. No PostgreSQL, no processes.

use super::*;
use crate::journal::FileStore;
use crate::provider::fake::{FakeProvider, World};
use crate::provider::{ApiState, Capability, DbRole, Settings, Step};

struct T {
    _dir: tempfile::TempDir,
    p: FakeProvider,
}

fn fake(w: World) -> T {
    let dir = tempfile::tempdir().unwrap();
    let p = FakeProvider::new(w, Box::new(FileStore::new(dir.path())));
    T { _dir: dir, p }
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn caps(plan: &Plan) -> Vec<String> {
    plan.steps
        .iter()
        .map(|s| match s {
            Step::Fake { capability } => serde_json::to_value(capability).unwrap()["capability"]
                .as_str()
                .unwrap()
                .to_string(),
            other => other.name().to_string(),
        })
        .collect()
}

fn new(op: OpKind, to: Option<&str>) -> Request {
    Request::New {
        op,
        to: to.map(String::from),
        dry_run: false,
        plan_hash: None,
    }
}

fn plan_of(t: &T, op: OpKind, to: Option<&str>, opts: &Options) -> Result<Plan, RegionError> {
    let topo = t.p.world().topology;
    plan(&t.p, &topo, op, to, opts)
}

fn go(t: &T, req: Request, opts: &Options) -> Result<Outcome, RegionError> {
    let mut yes = |_: &Plan| true;
    rt().block_on(run(&t.p, req, opts, &Shell::silent(), &mut yes))
}

fn refusal_rules(t: &T, op: OpKind, to: Option<&str>, opts: &Options) -> Vec<&'static str> {
    let topo = t.p.world().topology;
    let plan = plan(&t.p, &topo, op, to, opts).unwrap();
    preflight(&t.p, &topo, &plan, opts)
        .refusals
        .into_iter()
        .map(|r| r.rule)
        .collect()
}

fn failed_over() -> World {
    let mut w = World::healthy();
    w.kill("east");
    w
}

/// West writer after a failover; east down and fenced.
fn after_failover() -> World {
    let mut w = failed_over();
    let e = w.region_mut("east");
    e.fenced = Some("fenced".into());
    // Its API process came back (`dev up`) but its database is down: not ready.
    e.api = ApiState::NotReady;
    let wst = w.region_mut("west");
    wst.db_role = DbRole::Writer;
    wst.topology = Some(("west".into(), 2));
    let d = w.topology.dns.as_mut().unwrap();
    d.primary = "west".into();
    d.routing_to = "west".into();
    w
}

#[test]
fn switchover_steps_on_a_healthy_world() {
    let t = fake(World::healthy());
    let p = plan_of(&t, OpKind::Switchover, Some("west"), &Options::default()).unwrap();
    assert_eq!(
        caps(&p),
        [
            "pause-writes",
            "route-traffic-to",
            "planned-switch",
            "resume-writes",
            "verify-write"
        ]
    );
    assert_eq!(p.epoch, (1, 2));
    assert_eq!((p.from.as_str(), p.to.as_str()), ("east", "west"));
    assert!(refusal_rules(&t, OpKind::Switchover, Some("west"), &Options::default()).is_empty());
    // The planned switch keeps RPO zero: the old writer becomes the synchronous standby.
    assert!(p.steps.iter().any(|s| matches!(
        s,
        Step::Fake {
            capability: Capability::PlannedSwitch {
                sync: true,
                epoch: 2,
                ..
            }
        }
    )));
}

#[test]
fn failover_steps_healthy_and_with_writes_left_blocked() {
    let t = fake(failed_over());
    let p = plan_of(&t, OpKind::Failover, Some("west"), &Options::default()).unwrap();
    assert_eq!(
        caps(&p),
        ["fence", "promote", "route-traffic-to", "verify-write"]
    );
    let mut w = failed_over();
    w.topology.dns.as_mut().unwrap().writes_blocked = true;
    let t = fake(w);
    let p = plan_of(&t, OpKind::Failover, Some("west"), &Options::default()).unwrap();
    assert_eq!(
        caps(&p),
        [
            "fence",
            "promote",
            "route-traffic-to",
            "resume-writes",
            "verify-write"
        ]
    );
    // The operator's acceptance of data loss reaches the provider's promote.
    let opts = Options {
        accept_data_loss: true,
        ..Default::default()
    };
    let p = plan_of(&t, OpKind::Failover, Some("west"), &opts).unwrap();
    assert!(p.steps.iter().any(|s| matches!(
        s,
        Step::Fake {
            capability: Capability::Promote {
                allow_data_loss: true,
                ..
            }
        }
    )));
}

#[test]
fn failback_steps_with_and_without_switchover() {
    let t = fake(after_failover());
    let p = plan_of(&t, OpKind::Failback, None, &Options::default()).unwrap();
    assert_eq!(caps(&p), ["rebuild-as-replica"]);
    assert_eq!((p.from.as_str(), p.to.as_str()), ("west", "east"));
    assert_eq!(p.epoch, (2, 2));
    let opts = Options {
        switchover_back: true,
        ..Default::default()
    };
    let p = plan_of(&t, OpKind::Failback, None, &opts).unwrap();
    assert_eq!(
        caps(&p),
        [
            "rebuild-as-replica",
            "gate",
            "pause-writes",
            "route-traffic-to",
            "planned-switch",
            "resume-writes",
            "verify-write"
        ]
    );
    assert_eq!(p.epoch, (2, 3));
}

#[test]
fn impossible_operations_are_refused_by_name() {
    let t = fake(World::healthy());
    let e = plan_of(&t, OpKind::Switchover, Some("east"), &Options::default()).unwrap_err();
    assert!(
        e.to_string()
            .contains("east is already the writer: nothing to do"),
        "{e}"
    );
    let e = plan_of(&t, OpKind::Switchover, Some("moon"), &Options::default()).unwrap_err();
    assert!(matches!(e, RegionError::UnknownRegion { .. }), "{e}");
    assert_eq!(e.exit_code(), crate::error::EXIT_INVALID);
    let t = fake(failed_over());
    let e = plan_of(&t, OpKind::Switchover, Some("west"), &Options::default()).unwrap_err();
    assert!(
        e.to_string().contains("use `pmctl failover --to west`"),
        "{e}"
    );
    let e = plan_of(&t, OpKind::Failback, None, &Options::default()).unwrap_err();
    assert!(
        e.to_string()
            .contains("no region's database accepts writes"),
        "{e}"
    );
    let mut w = World::healthy();
    w.kill("west");
    let t = fake(w);
    let e = plan_of(&t, OpKind::Failover, Some("west"), &Options::default()).unwrap_err();
    assert!(e.to_string().contains("nothing to promote"), "{e}");
}

#[test]
fn each_switchover_refusal() {
    let no = Options::default();
    let check = |w: World, rule: &str| {
        let t = fake(w);
        let rules = refusal_rules(&t, OpKind::Switchover, Some("west"), &no);
        assert!(rules.contains(&rule), "expected {rule}, got {rules:?}");
    };
    let mut w = World::healthy();
    w.region_mut("west").api = ApiState::NotReady;
    check(w, "target-api");
    let mut w = World::healthy();
    w.region_mut("west").api = ApiState::Unreachable;
    check(w, "target-api");
    let mut w = World::healthy();
    w.region_mut("west").streaming = false;
    check(w, "target-streaming");
    let mut w = World::healthy();
    w.region_mut("west").lag_bytes = Some(1 << 30);
    check(w, "target-lag");
    let mut w = World::healthy();
    w.region_mut("west").lag_bytes = None;
    check(w, "target-lag");
    let mut w = World::healthy();
    w.region_mut("west").fenced = Some("x".into());
    check(w, "target-fenced");
    let mut w = World::healthy();
    w.topology.alarms.push(crate::provider::Alarm {
        name: "api-5xx-rate".into(),
        detail: "x".into(),
    });
    check(w, "no-alarms");
    let mut w = World::healthy();
    w.region_mut("west").api_version = Some("2.0.0".into());
    check(w.clone(), "same-version");
    // Same versions in a failover are a warning, not a refusal.
    w.kill("east");
    let t = fake(w);
    let topo = t.p.world().topology;
    let pl = plan(&t.p, &topo, OpKind::Failover, Some("west"), &no).unwrap();
    let pre = preflight(&t.p, &topo, &pl, &no);
    assert!(pre.refusals.is_empty(), "{:?}", pre.refusals);
    assert!(
        pre.warnings[0].contains("another version"),
        "{:?}",
        pre.warnings
    );
}

#[test]
fn each_failover_refusal() {
    let no = Options::default();
    // The writer is fine and the replica streams: that is a switchover's job.
    let t = fake(World::healthy());
    assert_eq!(
        refusal_rules(&t, OpKind::Failover, Some("west"), &no),
        ["writer-healthy"]
    );
    // A target whose API is dead would take writes nobody can reach.
    let mut w = failed_over();
    w.region_mut("west").api = ApiState::Unreachable;
    let t = fake(w);
    assert_eq!(
        refusal_rules(&t, OpKind::Failover, Some("west"), &no),
        ["target-api"]
    );
    // Async replication: unknown lag is over any budget, unless data loss is accepted.
    let mut w = failed_over();
    w.topology.rpo = crate::config::Rpo::Async;
    let t = fake(w);
    assert_eq!(
        refusal_rules(&t, OpKind::Failover, Some("west"), &no),
        ["rpo-budget"]
    );
    let yes = Options {
        accept_data_loss: true,
        ..Default::default()
    };
    assert!(refusal_rules(&t, OpKind::Failover, Some("west"), &yes).is_empty());
    // ... and the lag at the decision is journaled with the choice.
    let topo = t.p.world().topology;
    let pl = plan(&t.p, &topo, OpKind::Failover, Some("west"), &yes).unwrap();
    let pre = preflight(&t.p, &topo, &pl, &yes);
    assert_eq!(pre.choices["accept_data_loss"], true);
    assert!(pre.choices.get("lag_bytes_at_decision").is_some());
    // Lag measured in time (AWS) within the budget passes without --accept-data-loss.
    let mut w = failed_over();
    w.topology.rpo = crate::config::Rpo::Async;
    w.region_mut("west").lag_ms = Some(50);
    let t = fake(w).p_with_budget_ms(100);
    assert!(refusal_rules(&t, OpKind::Failover, Some("west"), &no).is_empty());
}

impl T {
    fn p_with_budget_ms(self, ms: u64) -> T {
        let mut s = Settings::default();
        s.thresholds.failover_max_lag_ms = ms;
        let world = self.p.world();
        let dir = self._dir;
        let p = FakeProvider::new(world, Box::new(FileStore::new(dir.path()))).with_settings(s);
        T { _dir: dir, p }
    }
}

#[test]
fn each_failback_refusal() {
    let no = Options::default();
    let back = Options {
        switchover_back: true,
        ..Default::default()
    };
    let mut w = after_failover();
    w.region_mut("west").api = ApiState::NotReady;
    let t = fake(w);
    assert_eq!(
        refusal_rules(&t, OpKind::Failback, None, &no),
        ["writer-api"]
    );
    // Moving the writer back into a region whose API does not even answer is refused.
    let mut w = after_failover();
    w.region_mut("east").api = ApiState::Unreachable;
    let t = fake(w);
    assert!(refusal_rules(&t, OpKind::Failback, None, &no).is_empty());
    assert_eq!(
        refusal_rules(&t, OpKind::Failback, None, &back),
        ["target-api"]
    );
}

#[test]
fn preflight_refusal_changes_nothing_and_force_overrides() {
    let t = fake(World::healthy());
    let before = t.p.world();
    let e = go(&t, new(OpKind::Failover, Some("west")), &Options::default()).unwrap_err();
    assert!(matches!(e, RegionError::Preflight { .. }), "{e}");
    assert_eq!(e.exit_code(), crate::error::EXIT_REFUSED);
    assert_eq!(t.p.world(), before);
    assert!(rt()
        .block_on(t.p.store().read())
        .unwrap()
        .entries
        .is_empty());
    let forced = Options {
        force: true,
        ..Default::default()
    };
    go(&t, new(OpKind::Failover, Some("west")), &forced).unwrap();
    assert_eq!(
        t.p.world().topology.region("west").unwrap().db_role,
        DbRole::Writer
    );
}

#[test]
fn dry_run_changes_nothing_and_drift_is_refused() {
    let t = fake(World::healthy());
    let before = t.p.world();
    let req = Request::New {
        op: OpKind::Switchover,
        to: Some("west".into()),
        dry_run: true,
        plan_hash: None,
    };
    let Outcome::Planned(planned) = go(&t, req, &Options::default()).unwrap() else {
        panic!("a dry run plans")
    };
    assert_eq!(t.p.world(), before);
    // The world changes: the reviewed hash no longer matches.
    t.p.world.lock().unwrap().region_mut("west").api = ApiState::NotReady;
    let req = Request::New {
        op: OpKind::Switchover,
        to: Some("west".into()),
        dry_run: false,
        plan_hash: Some(planned.plan_hash.clone()),
    };
    let e = go(&t, req, &Options::default()).unwrap_err();
    assert!(matches!(e, RegionError::Drift { .. }), "{e}");
    assert_eq!(t.p.world().log, Vec::<String>::new());
}

/// Runs `req` to completion with a crash after step `n` and a resume; returns the world.
fn crash_and_resume(
    w: World,
    op: OpKind,
    to: Option<&str>,
    opts: &Options,
    n: usize,
) -> (World, T) {
    let t = fake(w);
    let crashing = Options {
        crash_after: Some((n, CrashMode::Return)),
        ..opts.clone()
    };
    let e = go(&t, new(op, to), &crashing).unwrap_err();
    assert!(matches!(e, RegionError::Crashed(x) if x == n), "{e}");
    // A new operation is refused while this one is open, naming how to continue.
    let e = go(&t, new(op, to), opts).unwrap_err();
    assert!(e.to_string().contains("--resume --yes"), "{e}");
    go(&t, Request::Resume { op }, opts).unwrap();
    (t.p.world(), t)
}

#[test]
fn resume_from_every_step_reaches_the_same_end_state() {
    let cases: Vec<(World, OpKind, Option<&str>, Options)> = vec![
        (
            World::healthy(),
            OpKind::Switchover,
            Some("west"),
            Options::default(),
        ),
        (
            failed_over(),
            OpKind::Failover,
            Some("west"),
            Options::default(),
        ),
        (
            after_failover(),
            OpKind::Failback,
            None,
            Options {
                switchover_back: true,
                ..Default::default()
            },
        ),
    ];
    for (w, op, to, opts) in cases {
        let clean = fake(w.clone());
        let Outcome::Executed(rep) = go(&clean, new(op, to), &opts).unwrap() else {
            panic!()
        };
        let want = clean.p.world().topology;
        for n in 1..=rep.steps.len() {
            let (got, t) = crash_and_resume(w.clone(), op, to, &opts, n);
            assert_eq!(got.topology, want, "{op:?}: crash after step {n}");
            // Every step ran exactly once: resume skipped the journaled ones.
            assert_eq!(got.log, clean.p.world().log, "{op:?}: crash after step {n}");
            let (ops, _) = rt().block_on(journal::load(t.p.store())).unwrap();
            assert_eq!(ops.len(), 1);
            assert_eq!(ops[0].state(), "ok");
        }
    }
}

#[test]
fn a_failed_step_is_journaled_and_resumable() {
    let mut w = failed_over();
    w.fail.push(("promote".into(), 1));
    let t = fake(w);
    let e = go(&t, new(OpKind::Failover, Some("west")), &Options::default()).unwrap_err();
    let RegionError::StepFailed {
        step, retryable, ..
    } = &e
    else {
        panic!("{e}")
    };
    assert_eq!((*step, *retryable), (2, true));
    assert_eq!(e.exit_code(), crate::error::EXIT_INTERRUPTED);
    let (ops, _) = rt().block_on(journal::load(t.p.store())).unwrap();
    assert_eq!(ops[0].state(), "failed (resumable)");
    go(
        &t,
        Request::Resume {
            op: OpKind::Failover,
        },
        &Options::default(),
    )
    .unwrap();
    assert_eq!(
        t.p.world().topology.region("west").unwrap().db_role,
        DbRole::Writer
    );
    // Asking to resume the wrong kind, or nothing, is clear.
    let e = go(
        &t,
        Request::Resume {
            op: OpKind::Failover,
        },
        &Options::default(),
    )
    .unwrap_err();
    assert!(matches!(e, RegionError::NothingToResume), "{e}");
}

#[test]
fn the_gate_keeps_the_writer_when_the_rebuilt_region_is_unhealthy() {
    let mut w = after_failover();
    // East's database comes back, but its API does not answer after the rebuild.
    w.region_mut("east").api = ApiState::NotReady;
    w.api_after_rebuild = ApiState::NotReady;
    let t = fake(w);
    let opts = Options {
        switchover_back: true,
        ..Default::default()
    };
    let e = go(&t, new(OpKind::Failback, None), &opts).unwrap_err();
    let RegionError::StepFailed { name, error, .. } = &e else {
        panic!("{e}")
    };
    assert_eq!(*name, "gate");
    assert!(error.contains("API east is not ready"), "{error}");
    let w = t.p.world();
    // The rebuild happened; nothing else did: west still writes and serves.
    assert_eq!(w.log, ["rebuild-as-replica"]);
    assert_eq!(w.topology.region("west").unwrap().db_role, DbRole::Writer);
    assert_eq!(w.topology.dns.as_ref().unwrap().routing_to, "west");
    assert!(!w.topology.dns.as_ref().unwrap().writes_blocked);
}

#[test]
fn a_second_operation_is_refused_while_the_lock_is_held() {
    let t = fake(World::healthy());
    let lock = rt().block_on(t.p.store().lock("failover")).unwrap();
    let e = go(
        &t,
        new(OpKind::Switchover, Some("west")),
        &Options::default(),
    )
    .unwrap_err();
    assert!(e.to_string().contains("running `failover`"), "{e}");
    assert_eq!(e.exit_code(), crate::error::EXIT_REFUSED);
    drop(lock);
}

#[test]
fn not_confirmed_changes_nothing() {
    let t = fake(World::healthy());
    let mut no = |_: &Plan| false;
    let e = rt()
        .block_on(run(
            &t.p,
            new(OpKind::Switchover, Some("west")),
            &Options::default(),
            &Shell::silent(),
            &mut no,
        ))
        .unwrap_err();
    assert!(matches!(e, RegionError::NotConfirmed));
    assert!(t.p.world().log.is_empty());
}
