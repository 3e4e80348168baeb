//! The verdict for each DOWN and DEGRADED cause, on synthetic topologies.

use super::*;
use crate::provider::fake::World;
use crate::provider::{Alarm, ApiState, DbRole, FaultKind, FaultSpec, PendingFault};

fn judge(w: &World, cx: &Context) -> Verdict {
    verdict(&w.topology, cx)
}

fn level(w: &World) -> (Level, String) {
    let v = judge(w, &Context::default());
    (v.level, v.reasons.join("; "))
}

#[test]
fn healthy_is_ok() {
    assert_eq!(level(&World::healthy()).0, Level::Ok);
}

#[test]
fn each_down_cause() {
    let down = |w: World, why: &str| {
        let (l, r) = level(&w);
        assert_eq!(l, Level::Down, "{r}");
        assert!(r.contains(why), "expected `{why}` in {r}");
    };
    let mut w = World::healthy();
    w.kill("east");
    down(w, "no region's database accepts writes");
    let mut w = World::healthy();
    w.region_mut("west").db_role = DbRole::Writer;
    down(w, "split brain");
    let mut w = World::healthy();
    w.topology.dns.as_mut().unwrap().routing_to = "west".into();
    down(w, "traffic goes to west but the writer is east");
    let mut w = World::healthy();
    w.topology.dns.as_mut().unwrap().writes_blocked = true;
    down(w, "writes are blocked");
    let mut w = World::healthy();
    w.topology.dns = None;
    down(w, "cannot be read");
    let mut w = World::healthy();
    w.region_mut("east").writes_stall = Some("east commits wait: writes hang".into());
    down(w, "writes hang");
}

#[test]
fn each_degraded_cause() {
    let degraded = |w: World, cx: Context, why: &str| {
        let v = judge(&w, &cx);
        let r = v.reasons.join("; ");
        assert_eq!(v.level, Level::Degraded, "{r}");
        assert!(r.contains(why), "expected `{why}` in {r}");
    };
    let none = Context::default;
    let mut w = World::healthy();
    w.region_mut("west").api_healthy = false;
    w.region_mut("west").api = ApiState::NotReady;
    degraded(w, none(), "API west is not ready");
    let mut w = World::healthy();
    w.region_mut("west").db_role = DbRole::Down;
    w.region_mut("west").api_healthy = true;
    degraded(w, none(), "database west is unreachable");
    let mut w = World::healthy();
    w.region_mut("west").db_role = DbRole::Down;
    w.region_mut("west").fenced = Some("fenced by failover to east".into());
    degraded(w, none(), "database west is fenced by failover");
    let mut w = World::healthy();
    w.region_mut("west").streaming = false;
    degraded(w, none(), "replica west is not streaming");
    let mut w = World::healthy();
    w.topology.alarms.push(Alarm {
        name: "rpo-protection".into(),
        detail: "no sync standby".into(),
    });
    degraded(w, none(), "alarm rpo-protection");
    let mut w = World::healthy();
    w.topology.dns.as_mut().unwrap().primary = "west".into();
    degraded(w, none(), "DNS PRIMARY is west");
    let op = OpenOperation {
        op_id: "x".into(),
        operation: "switchover",
        from: "east".into(),
        to: "west".into(),
        done: 3,
        total: 10,
        writes_blocked: false,
    };
    degraded(
        World::healthy(),
        Context {
            open_operation: Some(op),
            pending_faults: vec![],
            journal_error: None,
        },
        "pmctl switchover --resume --yes",
    );
    let fault = PendingFault {
        fault: FaultSpec {
            kind: FaultKind::Hang,
            region: "east".into(),
            latency_ms: None,
        },
        injected_at: chrono::Utc::now(),
        pid: 4242,
        owner_alive: false,
    };
    degraded(
        World::healthy(),
        Context {
            open_operation: None,
            pending_faults: vec![fault],
            journal_error: None,
        },
        "`pmctl dev up` heals it",
    );
}
