//! An in-memory environment for unit tests of the engine's decisions: two regions whose
//! state a test scripts, one step per capability that changes that state as the real thing
//! would, scripted failures, and a real journal (any [`StateStore`]). Not a stand-in for the
//! local stack or AWS in anything but tests of plan, preflight, resume and verdicts.

use super::*;
use std::sync::Mutex;

#[derive(Debug, Clone, PartialEq)]
pub struct World {
    pub topology: Topology,
    /// Capability names (`planned-switch`, `fence` …) that fail when run, and how often.
    pub fail: Vec<(String, u32)>,
    /// Every step run, in order (`planned-switch east→west` …).
    pub log: Vec<String>,
    /// After a rebuild, the rebuilt region's API answers like this.
    pub api_after_rebuild: ApiState,
}

impl World {
    /// Two healthy regions: `east` writer, `west` its streaming synchronous replica.
    pub fn healthy() -> World {
        let region = |name: &str, role: DbRole| RegionState {
            api_healthy: true,
            api: ApiState::Ready,
            api_version: Some("1.0.0".into()),
            db_role: role,
            streaming: role == DbRole::Replica,
            lag_bytes: (role == DbRole::Replica).then_some(0),
            topology: Some(("east".into(), 1)),
            ..RegionState::unknown(name)
        };
        World {
            topology: Topology {
                environment: "fake".into(),
                rpo: crate::config::Rpo::Zero,
                regions: vec![
                    region("east", DbRole::Writer),
                    region("west", DbRole::Replica),
                ],
                dns: Some(DnsState {
                    primary: "east".into(),
                    routing_to: "east".into(),
                    healthy: vec![("east".into(), true), ("west".into(), true)],
                    writes_blocked: false,
                }),
                traffic: None,
                alarms: vec![],
                taken_at: chrono::DateTime::from_timestamp(1_800_000_000, 0).expect("time"),
            },
            fail: vec![],
            log: vec![],
            api_after_rebuild: ApiState::Ready,
        }
    }

    pub fn region_mut(&mut self, name: &str) -> &mut RegionState {
        self.topology
            .regions
            .iter_mut()
            .find(|r| r.name == name)
            .expect("region")
    }

    /// The region's database and API are gone (killed).
    pub fn kill(&mut self, name: &str) {
        let r = self.region_mut(name);
        r.db_role = DbRole::Down;
        r.api = ApiState::Unreachable;
        r.api_healthy = false;
        r.streaming = false;
        r.lag_bytes = None;
        r.topology = None;
        let other = if name == "east" { "west" } else { "east" };
        let o = self.region_mut(other);
        o.streaming = false;
        o.lag_bytes = None;
    }
}

pub struct FakeProvider {
    pub world: Mutex<World>,
    settings: Settings,
    store: Box<dyn StateStore>,
}

impl FakeProvider {
    pub fn new(world: World, store: Box<dyn StateStore>) -> FakeProvider {
        FakeProvider {
            settings: Settings {
                rpo: world.topology.rpo,
                thresholds: Default::default(),
            },
            world: Mutex::new(world),
            store,
        }
    }

    pub fn with_settings(mut self, s: Settings) -> FakeProvider {
        self.settings = s;
        self
    }

    pub fn world(&self) -> World {
        self.world.lock().expect("world").clone()
    }
}

fn cap_name(c: &Capability) -> &'static str {
    match c {
        Capability::PauseWrites => "pause-writes",
        Capability::ResumeWrites => "resume-writes",
        Capability::RouteTrafficTo { .. } => "route-traffic-to",
        Capability::PlannedSwitch { .. } => "planned-switch",
        Capability::Fence { .. } => "fence",
        Capability::Promote { .. } => "promote",
        Capability::RebuildAsReplica { .. } => "rebuild-as-replica",
        Capability::VerifyWrite { .. } => "verify-write",
        Capability::Migrate { .. } => "migrate",
        Capability::StartCanary { .. } => "start-canary",
        Capability::ShiftTraffic { .. } => "shift-traffic",
        Capability::PromoteCanary { .. } => "promote-canary",
        Capability::AbortCanary { .. } => "abort-canary",
    }
}

fn apply(w: &mut World, c: &Capability) -> Result<serde_json::Value, ProviderError> {
    use serde_json::json;
    let name = cap_name(c);
    if let Some(f) = w.fail.iter_mut().find(|f| f.0 == name && f.1 > 0) {
        f.1 -= 1;
        return Err(ProviderError::check(format!("scripted failure of {name}")));
    }
    let t = &mut w.topology;
    let out = match c {
        Capability::PauseWrites | Capability::ResumeWrites => {
            let blocked = matches!(c, Capability::PauseWrites);
            t.dns.as_mut().expect("dns").writes_blocked = blocked;
            json!({"writes_blocked": blocked})
        }
        Capability::RouteTrafficTo { region } => {
            let d = t.dns.as_mut().expect("dns");
            d.primary = region.clone();
            d.routing_to = region.clone();
            json!({"dns_primary": region})
        }
        Capability::PlannedSwitch {
            from, to, epoch, ..
        } => {
            for r in t.regions.iter_mut() {
                if r.name == *to {
                    r.db_role = DbRole::Writer;
                    r.streaming = false;
                    r.lag_bytes = None;
                } else if r.name == *from {
                    r.db_role = DbRole::Replica;
                    r.streaming = true;
                    r.lag_bytes = Some(0);
                }
                r.topology = Some((to.clone(), *epoch));
            }
            json!({"writer": to})
        }
        Capability::Fence { region, .. } => {
            let r = t
                .regions
                .iter_mut()
                .find(|r| r.name == *region)
                .expect("region");
            let reachable = r.db_role != DbRole::Down;
            r.db_role = if reachable {
                DbRole::Fenced
            } else {
                DbRole::Down
            };
            r.fenced = Some("fenced by failover".into());
            if reachable {
                json!({"fence": "fenced"})
            } else {
                json!({"fence": "unreachable", "not_fenced": format!("{region} could not be reached")})
            }
        }
        Capability::Promote { region, epoch, .. } => {
            let r = t
                .regions
                .iter_mut()
                .find(|r| r.name == *region)
                .expect("region");
            r.db_role = DbRole::Writer;
            r.streaming = false;
            r.lag_bytes = None;
            r.topology = Some((region.clone(), *epoch));
            json!({"promoted": region})
        }
        Capability::RebuildAsReplica { region, of, .. } => {
            let epoch = t.region(of).and_then(|r| r.topology.clone());
            let api = w.api_after_rebuild;
            let r = w
                .topology
                .regions
                .iter_mut()
                .find(|r| r.name == *region)
                .expect("region");
            r.db_role = DbRole::Replica;
            r.streaming = true;
            r.lag_bytes = Some(0);
            r.fenced = None;
            r.api = api;
            r.api_healthy = api == ApiState::Ready;
            r.topology = epoch;
            json!({"rebuilt": "rewound"})
        }
        Capability::VerifyWrite { region } => {
            let ok = t
                .region(region)
                .is_some_and(|r| r.db_role == DbRole::Writer)
                && t.dns
                    .as_ref()
                    .is_some_and(|d| d.routing_to == *region && !d.writes_blocked);
            if !ok {
                return Err(ProviderError::check(format!(
                    "no write succeeded in {region}"
                )));
            }
            json!({"write_served_by": region})
        }
        Capability::PromoteCanary { region, release } => {
            if let Some(r) = t.regions.iter_mut().find(|r| r.name == *region) {
                r.api_version = Some(release.version.clone());
            }
            json!({"version": release.version})
        }
        Capability::Migrate { .. }
        | Capability::StartCanary { .. }
        | Capability::ShiftTraffic { .. }
        | Capability::AbortCanary { .. } => json!({ "fake": name }),
    };
    Ok(out)
}

#[async_trait]
impl Provider for FakeProvider {
    fn kind(&self) -> &'static str {
        "fake"
    }
    fn environment(&self) -> &str {
        "fake"
    }
    fn regions(&self) -> Vec<String> {
        vec!["east".into(), "west".into()]
    }
    fn settings(&self) -> &Settings {
        &self.settings
    }
    async fn snapshot(&self) -> Result<Topology, ProviderError> {
        Ok(self.world.lock().expect("world").topology.clone())
    }
    fn expand(&self, cap: &Capability, _t: &Topology) -> Vec<Step> {
        vec![Step::Fake {
            capability: cap.clone(),
        }]
    }
    async fn run_step(
        &self,
        step: &Step,
        _progress: Progress<'_>,
    ) -> Result<serde_json::Value, ProviderError> {
        let Step::Fake { capability } = step else {
            return Err(ProviderError::Unsupported {
                what: format!("the fake provider cannot run `{}`", step.name()),
            });
        };
        let mut w = self.world.lock().expect("world");
        let out = apply(&mut w, capability)?;
        w.log.push(cap_name(capability).to_string());
        Ok(out)
    }
    fn faults(&self) -> &dyn Faults {
        &Nothing
    }
    fn traffic(&self) -> &dyn Traffic {
        self
    }
    fn readback(&self) -> &dyn Readback {
        self
    }
    fn store(&self) -> &dyn StateStore {
        self.store.as_ref()
    }
    async fn prepare(&self, _shell: &Shell) -> Result<(), ProviderError> {
        Ok(())
    }
    async fn repair(&self) -> Result<Vec<String>, ProviderError> {
        Ok(vec![])
    }
    async fn reset_metrics(&self) -> Result<(), ProviderError> {
        Ok(())
    }
}

impl Traffic for FakeProvider {
    fn entry_url(&self) -> Result<String, ProviderError> {
        Ok("http://fake.invalid".into())
    }
    fn region_url(&self, region: &str) -> Result<String, ProviderError> {
        Ok(format!("http://{region}.fake.invalid"))
    }
    fn token(&self, subject: &str, _ttl: Duration) -> Result<String, ProviderError> {
        Ok(format!("fake-token-{subject}"))
    }
}

#[async_trait]
impl Readback for FakeProvider {
    async fn readback(&self, _acked: &Acknowledged) -> Result<ReadbackReport, ProviderError> {
        let t = self.snapshot().await?;
        Ok(ReadbackReport {
            checked_on: t
                .single_writer()
                .map(|w| w.name.clone())
                .unwrap_or_default(),
            missing: vec![],
            duplicate_credits: 0,
        })
    }
}
