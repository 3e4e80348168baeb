//! `pmctl deploy` / `rollback` on the `aws` environment, end to end: the built `pmctl`
//! against its own patched moto per test (tests/common/aws_world.rs): versions published
//! in both regions (standby first), alias weights stepped and read back, a firing alarm
//! or the canary version's errors rolling that region back, `--dry-run` changing nothing,
//! and a deploy killed after a step finished by `--resume`.

#[path = "common/aws_world.rs"]
mod aws_world;
#[path = "common/moto.rs"]
mod moto;

use aws_sdk_cloudwatch::types::StateValue;
use aws_world::World;
use pmctl::ops::deploy::zip;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const STANDBY: &str = "us-east-2";
const WRITER: &str = "us-east-1";

/// A release zip as `pmctl deploy build` makes it (its comment names version and
/// architecture); the `bootstrap` is never run (moto stores code without docker).
fn release_zip(dir: &Path, version: &str) -> PathBuf {
    let body = format!("#!/bin/sh\n# pm-api {version}: a stand-in, never invoked\n");
    let bytes = zip::write(
        &mut [zip::Entry {
            name: "bootstrap",
            mode: 0o755,
            data: body.as_bytes(),
        }],
        &format!("pm-api {version} arm64"),
    )
    .unwrap();
    let path = dir.join(format!("pm-api-{version}-arm64.zip"));
    std::fs::write(&path, bytes).unwrap();
    path
}

fn steps(plan: &Value) -> Vec<String> {
    plan["plan"]["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            format!(
                "{} {}",
                s["step"].as_str().unwrap(),
                s["region"].as_str().unwrap_or("")
            )
        })
        .collect()
}

type AliasState = (String, BTreeMap<String, u8>);

/// Every distinct state of both aliases while a deploy runs, in order, per region.
struct AliasWatch {
    seen: Arc<Mutex<Vec<(Instant, String, AliasState)>>>,
    stop: Arc<std::sync::atomic::AtomicBool>,
    task: tokio::task::JoinHandle<()>,
}

impl AliasWatch {
    fn start(w: &World) -> AliasWatch {
        let clients: Vec<(String, aws_sdk_lambda::Client)> = [WRITER, STANDBY]
            .iter()
            .map(|r| (r.to_string(), w.lambda(r)))
            .collect();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (s, st) = (seen.clone(), stop.clone());
        let task = tokio::spawn(async move {
            let mut last: BTreeMap<String, AliasState> = BTreeMap::new();
            while !st.load(std::sync::atomic::Ordering::SeqCst) {
                for (region, c) in &clients {
                    let Ok(a) = c
                        .get_alias()
                        .function_name(aws_world::function(region))
                        .name(aws_world::ALIAS)
                        .send()
                        .await
                    else {
                        continue;
                    };
                    let weights = a
                        .routing_config()
                        .and_then(|r| r.additional_version_weights())
                        .map(|w| {
                            w.iter()
                                .map(|(k, v)| (k.clone(), (v * 100.0).round() as u8))
                                .collect()
                        })
                        .unwrap_or_default();
                    let state = (a.function_version().unwrap().to_string(), weights);
                    if last.get(region) != Some(&state) {
                        last.insert(region.clone(), state.clone());
                        s.lock()
                            .unwrap()
                            .push((Instant::now(), region.clone(), state));
                    }
                }
                tokio::time::sleep(Duration::from_millis(40)).await;
            }
        });
        AliasWatch { seen, stop, task }
    }

    async fn finish(self) -> Vec<(Instant, String, AliasState)> {
        self.stop.store(true, std::sync::atomic::Ordering::SeqCst);
        let _ = self.task.await;
        self.seen.lock().unwrap().clone()
    }
}

fn states_of(seen: &[(Instant, String, AliasState)], region: &str) -> Vec<AliasState> {
    seen.iter()
        .filter(|(_, r, _)| r == region)
        .map(|(_, _, s)| s.clone())
        .collect()
}

fn state(main: &str, weights: &[(&str, u8)]) -> AliasState {
    (
        main.to_string(),
        weights.iter().map(|(v, w)| (v.to_string(), *w)).collect(),
    )
}

/// Runs `pmctl ARGS` in the background (a deploy with windows), does `during` meanwhile
/// and waits for it; when `during` fails, pmctl is killed and its output shown.
async fn run_while<F, Fut>(w: &World, args: &[&str], during: F) -> (i32, String, String)
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = Result<(), String>>,
{
    let mut child = w.spawn(args);
    let failed = during().await.err();
    if failed.is_some() {
        let _ = child.kill();
    }
    let out = tokio::task::spawn_blocking(move || child.wait_with_output().unwrap())
        .await
        .unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout).to_string(),
        String::from_utf8_lossy(&out.stderr).to_string(),
    );
    if let Some(why) = failed {
        panic!("{why}\n--- pmctl stdout\n{stdout}\n--- pmctl stderr\n{stderr}");
    }
    assert!(
        !stdout.contains(aws_world::API_TOKEN) && !stderr.contains(aws_world::API_TOKEN),
        "the API token was printed"
    );
    (out.status.code().unwrap_or(-1), stdout, stderr)
}

async fn wait_for<F, Fut>(what: &str, limit: Duration, mut f: F) -> Result<(), String>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = Instant::now();
    while !f().await {
        if start.elapsed() > limit {
            return Err(format!("timed out waiting for {what}"));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_deploy_publishes_in_both_regions_steps_the_alias_weights_and_rolls_back() {
    let w = World::new().await;
    let z = release_zip(w.dir.path(), "0.2.0");
    let z = z.to_str().unwrap();
    let args = [
        "deploy",
        "--artifact",
        z,
        "--canary",
        "10%:2s,50%:2s",
        "-o",
        "json",
    ];

    // 1. --dry-run: the plan, standby first, and nothing changed in AWS.
    let before = w.fingerprint().await;
    let r = w.pmctl(&[&args[..], &["--dry-run"]].concat()).await;
    assert_eq!(r.code, 0, "{r:?}");
    let plan = r.json();
    let per_region = |r: &str| {
        vec![
            format!("publish-version {r}"),
            format!("set-alias-weight {r}"),
            format!("watch-canary {r}"),
            format!("set-alias-weight {r}"),
            format!("watch-canary {r}"),
            format!("promote-alias {r}"),
        ]
    };
    assert_eq!(
        steps(&plan),
        [per_region(STANDBY), per_region(WRITER)].concat(),
        "{plan:#}"
    );
    let facts = plan["plan"]["facts"].to_string();
    assert!(
        facts.contains("migrations are not applied by pmctl on AWS"),
        "{facts}"
    );
    assert_eq!(w.fingerprint().await, before, "--dry-run changed AWS");

    // 2. The deploy, with every alias state watched from outside.
    let watch = AliasWatch::start(&w);
    let (code, stdout, stderr) =
        run_while(&w, &[&args[..], &["--yes"]].concat(), || async { Ok(()) }).await;
    let seen = watch.finish().await;
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    let rep: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(rep["consistent"], true, "{rep:#}");
    assert_eq!(rep["versions"][STANDBY], "0.2.0", "{rep:#}");
    assert_eq!(rep["versions"][WRITER], "0.2.0", "{rep:#}");
    for region in [STANDBY, WRITER] {
        assert_eq!(
            states_of(&seen, region),
            vec![
                state("1", &[]),
                state("1", &[("2", 10)]),
                state("1", &[("2", 50)]),
                state("2", &[]),
            ],
            "{region}: the alias went through each step"
        );
        let versions = w.versions(region).await;
        assert_eq!(versions.len(), 2, "{region}: {versions:?}");
        assert!(
            versions[1].1.starts_with("pm-api 0.2.0 sha256:"),
            "{versions:?}"
        );
    }
    // The standby was done before the writer started.
    let standby_done = seen
        .iter()
        .find(|(_, r, s)| r == STANDBY && *s == state("2", &[]))
        .unwrap()
        .0;
    let writer_started = seen
        .iter()
        .find(|(_, r, s)| r == WRITER && *s == state("1", &[("2", 10)]))
        .unwrap()
        .0;
    assert!(standby_done < writer_started, "standby first");
    // Each shift read the alias back.
    let shifts: Vec<&Value> = rep["exec"]["steps"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["name"] == "shift-traffic")
        .collect();
    assert_eq!(shifts.len(), 4, "{rep:#}");
    assert_eq!(shifts[0]["outcome"]["read_back"]["2"], 0.1, "{rep:#}");
    assert_eq!(shifts[1]["outcome"]["read_back"]["2"], 0.5, "{rep:#}");

    let r = w.pmctl(&["status", "-o", "json"]).await;
    let t = &r.json()["topology"];
    assert_eq!(t["regions"][0]["api_version"], "0.2.0", "{t:#}");
    assert_eq!(t["regions"][1]["api_version"], "0.2.0", "{t:#}");
    // Deploying the same release again has nothing to do.
    let r = w.pmctl(&[&args[..], &["--yes"]].concat()).await;
    assert_ne!(r.code, 0, "{r:?}");
    assert!(r.stderr.contains("already run 0.2.0"), "{r:?}");

    // 3. Rollback: both regions back to the version they ran, no new version published.
    let r = w.pmctl(&["deploy", "history", "-o", "json"]).await;
    assert_eq!(r.code, 0, "{r:?}");
    assert!(r.stdout.contains("0.2.0"), "{r:?}");
    let r = w.pmctl(&["rollback", "--yes", "-o", "json"]).await;
    assert_eq!(r.code, 0, "{r:?}");
    for region in [STANDBY, WRITER] {
        assert_eq!(w.alias(region).await, ("1".to_string(), BTreeMap::new()));
        assert_eq!(w.versions(region).await.len(), 2, "{region}: reused");
    }
    let r = w.pmctl(&["status", "-o", "json"]).await;
    assert_eq!(
        r.json()["topology"]["regions"][0]["api_version"],
        "lambda-1",
        "{r:?}"
    );
}

/// Runs the deploy `args` and, once the standby's alias gives version 2 its 10 %, `act`.
async fn deploy_and_at_ten<F, Fut>(w: &World, args: &[&str], act: F) -> (i32, String, String)
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let at_ten =
        || async { w.alias(STANDBY).await == ("1".to_string(), [("2".to_string(), 0.1)].into()) };
    run_while(w, args, || async {
        wait_for(
            "the standby's canary at 10%",
            Duration::from_secs(60),
            at_ten,
        )
        .await?;
        act().await;
        Ok(())
    })
    .await
}

#[tokio::test(flavor = "multi_thread")]
async fn a_firing_alarm_or_the_canarys_errors_roll_the_region_back_and_stop_the_deploy() {
    let w = World::new().await;
    let z = release_zip(w.dir.path(), "0.2.0");
    let args = [
        "deploy",
        "--artifact",
        z.to_str().unwrap(),
        "--canary",
        "10%:30s,50%:30s",
        "--yes",
        "-o",
        "json",
    ];

    // 1. An alarm fires while the standby's canary has 10%.
    let started = Instant::now();
    let (code, stdout, stderr) = deploy_and_at_ten(&w, &args, || async {
        w.set_alarm(STANDBY, "lambda-errors", StateValue::Alarm)
            .await
    })
    .await;
    assert_eq!(code, 1, "the deploy failed: {stdout}\n{stderr}");
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "stopped within the first step's window"
    );
    let rep: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(rep["gate"]["rule"], "alarm", "{rep:#}");
    assert_eq!(rep["gate"]["region"], STANDBY, "{rep:#}");
    assert_eq!(rep["gate"]["percent"], 10, "{rep:#}");
    assert!(
        rep["gate"]["detail"]
            .as_str()
            .unwrap()
            .contains(&aws_world::alarm(STANDBY, "lambda-errors")),
        "{rep:#}"
    );
    assert!(stderr.contains("gate alarm fired in us-east-2"), "{stderr}");
    // The standby serves its old version again; the writer was never touched.
    assert_eq!(w.alias(STANDBY).await, ("1".to_string(), BTreeMap::new()));
    assert_eq!(w.alias(WRITER).await, ("1".to_string(), BTreeMap::new()));
    assert_eq!(
        w.versions(WRITER).await.len(),
        1,
        "nothing published in the writer region"
    );
    assert_eq!(
        rep["consistent"], true,
        "both regions on the old version: {rep:#}"
    );

    // 2. The canary version's own errors (Lambda's per-version metrics) fire the gate too.
    w.set_alarm(STANDBY, "lambda-errors", StateValue::Ok).await;
    let (code, stdout, stderr) = deploy_and_at_ten(&w, &args, || async {
        w.put_version_metrics(STANDBY, "2", 40.0, 12.0).await
    })
    .await;
    assert_eq!(code, 1, "{stdout}\n{stderr}");
    let rep: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(rep["gate"]["rule"], "canary-5xx", "{rep:#}");
    assert_eq!(rep["gate"]["figures"]["requests"], 40, "{rep:#}");
    assert_eq!(rep["gate"]["figures"]["errors_5xx"], 12, "{rep:#}");
    assert_eq!(w.alias(STANDBY).await, ("1".to_string(), BTreeMap::new()));
    assert_eq!(
        w.versions(STANDBY).await.len(),
        2,
        "the second deploy reused the version the first published"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_deploy_killed_after_any_step_resumes_to_both_regions_on_the_new_version() {
    let w = World::new().await;
    // 1 publish, 2 shift, 3 watch, 4 promote (standby); 5–8 the writer.
    for (n, version) in [(1, "0.2.0"), (2, "0.3.0"), (4, "0.4.0"), (6, "0.5.0")] {
        let z = release_zip(w.dir.path(), version);
        let n_text = n.to_string();
        let r = w
            .pmctl_env(
                &[
                    "deploy",
                    "--artifact",
                    z.to_str().unwrap(),
                    "--canary",
                    "10%:1s",
                    "--yes",
                ],
                &[("PMCTL_TEST_CRASH_AFTER_STEP", &n_text)],
            )
            .await;
        assert_eq!(r.code, 137, "step {n}: killed by the hook: {r:?}");
        let r = w.pmctl(&["status"]).await;
        assert!(r.stdout.contains("INTERRUPTED"), "step {n}: {r:?}");
        let r = w
            .pmctl(&["deploy", "--resume", "--yes", "-o", "json"])
            .await;
        assert_eq!(r.code, 0, "step {n}: {r:?}");
        let rep = r.json();
        assert_eq!(rep["consistent"], true, "step {n}: {rep:#}");
        assert_eq!(rep["versions"][WRITER], version, "step {n}: {rep:#}");
        let resumed = rep["exec"]["steps"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|s| s["resumed"] == true)
            .count();
        assert_eq!(
            resumed, n,
            "step {n}: the steps before came from the journal"
        );
        for region in [STANDBY, WRITER] {
            let (main, weights) = w.alias(region).await;
            assert!(weights.is_empty(), "step {n}: {region}: {weights:?}");
            let versions = w.versions(region).await;
            let mine = versions
                .iter()
                .find(|(_, d)| d.starts_with(&format!("pm-api {version} ")))
                .unwrap_or_else(|| panic!("step {n}: {region}: {versions:?}"));
            assert_eq!(main, mine.0, "step {n}: {region}");
            assert_eq!(
                versions
                    .iter()
                    .filter(|(_, d)| d.starts_with(&format!("pm-api {version} ")))
                    .count(),
                1,
                "step {n}: {region}: published once"
            );
        }
        assert!(w.store_object("lock.json").await.is_none(), "step {n}");
    }
}
