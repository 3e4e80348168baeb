//! `pmctl deploy`: the built binaries on real local stacks (ports 22000–22999).
//!
//! A "new version" without a second source tree: a release on the local stack is a server
//! program, so each test writes small wrapper scripts around this very pmctl
//! (`pmctl internal api …`, the same server code as pm-api) that report another version
//! (`--version`; the deploy then labels the process with `PM_API_VERSION`). The bad build
//! is a wrapper whose database sessions are read-only: it starts, answers `/ready`, and
//! fails every write with a 5xx — the "configuration that makes writes fail".

mod common;

use common::{pmctl_bin, TestStack};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

/// A release: a script that serves like pm-api and reports `version`.
fn release(dir: &Path, version: &str, bad: bool) -> PathBuf {
    let p = dir.join(format!("pm-api-{version}"));
    let breakage = if bad {
        "export DATABASE_URL=\"${DATABASE_URL}?options=-c%20default_transaction_read_only%3Don\"\n"
    } else {
        ""
    };
    std::fs::write(
        &p,
        format!(
            "#!/bin/sh\nif [ \"$1\" = \"--version\" ]; then echo \"pm-api {version}\"; exit 0; fi\n{breakage}exec {} internal api \"$@\"\n",
            pmctl_bin()
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    p
}

fn versions(s: &TestStack) -> (String, String) {
    let st = s.run(&["status", "-o", "json"]).json();
    let v = |r: &str| {
        st["topology"]["regions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["name"] == r)
            .and_then(|x| x["api_version"].as_str())
            .unwrap_or("?")
            .to_string()
    };
    (v("east"), v("west"))
}

/// `pmctl load` in the background; its JSON summary when it ends.
struct Load(std::process::Child);

impl Load {
    fn start(s: &TestStack, secs: u64) -> Load {
        let d = format!("{secs}s");
        Load(
            s.cmd(&["load", "--rps", "20", "--duration", &d, "-o", "json", "-q"])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap(),
        )
    }
    fn finish(self) -> Value {
        let out = self.0.wait_with_output().unwrap();
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!(
                "load printed no JSON ({e}): {}\n{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            )
        })
    }
}

fn wait_load_started(s: &TestStack) {
    // The generator seeds its landlord first; wait until its traffic reaches the front door.
    let start = std::time::Instant::now();
    while start.elapsed() < Duration::from_secs(60) {
        let st = s.run(&["status", "-o", "json"]).json();
        if st["topology"]["traffic"]["requests"].as_u64().unwrap_or(0) > 20 {
            return;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    panic!("load never reached the front door");
}

#[test]
fn deploy_build_is_reproducible_and_checks_the_architecture() {
    let dir = tempfile::tempdir().unwrap();
    // Any small x86_64 ELF that answers `--version` stands in for the lambda binary here
    // (coreutils' `true`); the packaging is what is under test. A real `cargo build` run
    // is in the README ("Deploy"), with two clean builds compared.
    let bin = dir.path().join("lambda");
    std::fs::copy("/usr/bin/true", &bin).unwrap();
    let reported =
        String::from_utf8_lossy(&Command::new(&bin).arg("--version").output().unwrap().stdout)
            .lines()
            .next()
            .and_then(|l| l.split_whitespace().last())
            .unwrap()
            .to_string();
    let build = |out: &str| {
        let o = Command::new(pmctl_bin())
            .args([
                "deploy", "build", "--arch", "x86_64", "-o", "json", "--binary",
            ])
            .arg(&bin)
            .arg("--out-dir")
            .arg(dir.path().join(out))
            .current_dir(dir.path())
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        serde_json::from_slice::<Value>(&o.stdout).unwrap()
    };
    let a = build("a");
    // Another mtime, another umask-made directory: the zip must not notice.
    let f = std::fs::File::options().append(true).open(&bin).unwrap();
    f.set_modified(std::time::SystemTime::now() + Duration::from_secs(3600))
        .unwrap();
    drop(f);
    let b = build("b");
    assert_eq!(a["sha256"], b["sha256"], "same input, same zip");
    let (za, zb) = (
        std::fs::read(a["zip"].as_str().unwrap()).unwrap(),
        std::fs::read(b["zip"].as_str().unwrap()).unwrap(),
    );
    assert_eq!(za, zb, "byte-identical");
    assert_eq!(
        a["version"],
        reported.as_str(),
        "the version the binary reports"
    );
    assert_eq!(a["runtime"], "provided.al2023");
    assert!(a["zip"]
        .as_str()
        .unwrap()
        .ends_with(&format!("pm-api-{reported}-x86_64.zip")));
    // What Lambda will unpack: one executable `bootstrap`.
    let l = Command::new("unzip")
        .args(["-Z", "-l"])
        .arg(a["zip"].as_str().unwrap())
        .output();
    if let Ok(l) = l {
        let text = String::from_utf8_lossy(&l.stdout);
        assert!(
            text.contains("-rwxr-xr-x") && text.contains("bootstrap"),
            "{text}"
        );
        assert!(text.contains("1 file"), "{text}");
    }
    // The architecture check is explicit: an x86_64 binary is not an arm64 artifact.
    let o = Command::new(pmctl_bin())
        .args(["deploy", "build", "--arch", "arm64", "--binary"])
        .arg(&bin)
        .current_dir(dir.path())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(
        err.contains("built for x86_64") && err.contains("deploys arm64"),
        "{err}"
    );
    let o = Command::new(pmctl_bin())
        .args(["deploy", "build", "--arch", "sparc"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("not a Lambda architecture"));
}

#[test]
fn bad_canary_specs_are_refused_before_anything() {
    let s = TestStack::new(22980, "");
    for (spec, says) in [
        ("10%", "expected PERCENT%:DURATION"),
        ("120%:1m", "from 1% to 99%"),
        ("50%:1m,10%:1m", "shares must rise"),
        ("10%:later", "is not a duration"),
    ] {
        let r = s.run(&["deploy", "--canary", spec, "--dry-run"]);
        assert_eq!(r.code, 2, "{spec}: {r:?}");
        assert!(r.stderr.contains(says), "{spec}: {r:?}");
    }
}

#[test]
fn good_deploy_under_load_then_a_bad_build_is_rolled_back_by_its_gate() {
    let mut s = TestStack::new(
        22000,
        "[environments.local.deploy]\ncanary = \"10%:8s,50%:8s\"\n",
    );
    s.up();
    let rel = s.dir.path().to_path_buf();
    let v2 = release(&rel, "0.2.0", false);
    let bad = release(&rel, "0.3.0-bad", true);

    // A dry run changes nothing and names every step.
    let dry = s.must(&[
        "deploy",
        "--artifact",
        v2.to_str().unwrap(),
        "--dry-run",
        "-o",
        "json",
    ]);
    let plan = dry.json();
    let names: Vec<&str> = plan["plan"]["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["step"].as_str().unwrap())
        .collect();
    assert_eq!(names.iter().filter(|n| **n == "promote-canary").count(), 2);
    assert_eq!(plan["plan"]["steps"][0]["region"], "west", "standby first");
    assert_eq!(versions(&s), ("0.1.0".into(), "0.1.0".into()));

    // 1. A good build under load: zero failed requests, both regions on it.
    let load = Load::start(&s, 45);
    wait_load_started(&s);
    let r = s.run(&[
        "deploy",
        "--artifact",
        v2.to_str().unwrap(),
        "--yes",
        "-o",
        "json",
    ]);
    assert_eq!(r.code, 0, "{r:?}");
    let rep = r.json();
    assert_eq!(rep["consistent"], true, "{rep}");
    let east_10 = rep["exec"]["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["name"] == "watch-canary" && x["outcome"]["region"] == "east")
        .unwrap()
        .clone();
    assert!(
        east_10["outcome"]["figures"]["requests"].as_u64().unwrap() > 0,
        "the canary got traffic: {east_10}"
    );
    let summary = load.finish();
    assert_eq!(
        summary["ok"], summary["requests"],
        "no request failed during the deploy: {summary}"
    );
    assert_eq!(versions(&s), ("0.2.0".into(), "0.2.0".into()));

    // 2. A build whose writes fail: the gate fires in the first window, the region rolls
    //    back, the old version serves, the report names the gate.
    let load = Load::start(&s, 30);
    wait_load_started(&s);
    let r = s.run(&[
        "deploy",
        "--artifact",
        bad.to_str().unwrap(),
        "--yes",
        "-o",
        "json",
    ]);
    assert_eq!(r.code, 1, "{r:?}");
    let rep = r.json();
    let gate = &rep["gate"];
    assert_eq!(gate["rule"], "canary-5xx", "{rep}");
    assert_eq!(gate["region"], "east");
    assert_eq!(gate["percent"], 10, "fired in the first step");
    assert!(
        gate["at_ms"].as_u64().unwrap() < 8000,
        "within its window: {gate}"
    );
    assert!(rep["exec"]["halted"]
        .as_str()
        .unwrap()
        .contains("canary-5xx"));
    let _ = load.finish();
    // East (the writer) never left 0.2.0; the standby took the build (no traffic reaches
    // a standby region, so its gate only sees readiness) and the report says so.
    assert_eq!(rep["versions"]["east"], "0.2.0");
    assert_eq!(rep["versions"]["west"], "0.3.0-bad");
    assert_eq!(rep["consistent"], false);
    let st = s.run(&["status", "-o", "json"]).json();
    assert_eq!(st["topology"]["regions"][0]["api_version"], "0.2.0");
    // Writes through the front door are served by the old version.
    let token = s.token("after-bad-deploy");
    let rt = tokio::runtime::Runtime::new().unwrap();
    let code = rt.block_on(async {
        common::http()
            .post(format!(
                "{}/v1/landlord/callback-token/rotate",
                s.frontdoor()
            ))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    });
    assert_eq!(code, 200);

    // 3. The standby back to its previous release, journaled; history shows all three.
    let r = s.must(&["rollback", "--region", "west", "--yes"]);
    assert!(r.stdout.contains("west: runs 0.2.0"), "{r:?}");
    assert_eq!(versions(&s), ("0.2.0".into(), "0.2.0".into()));
    let h = s.must(&["deploy", "history", "-o", "json"]).json();
    let h = h.as_array().unwrap();
    let kinds: Vec<(&str, &str)> = h
        .iter()
        .map(|x| (x["kind"].as_str().unwrap(), x["result"].as_str().unwrap()))
        .collect();
    assert_eq!(
        kinds,
        [("deploy", "ok"), ("deploy", "failed"), ("rollback", "ok")]
    );
    assert!(h[1]["summary"]
        .as_str()
        .unwrap()
        .contains("gate canary-5xx fired in east"));
    // A region restarted by `dev up` runs its current release, not the built-in one.
    let pid = std::fs::read_to_string(s.state.join("run/api-east.pid")).unwrap();
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid.trim().parse().unwrap()),
        nix::sys::signal::Signal::SIGKILL,
    );
    std::thread::sleep(Duration::from_millis(300));
    s.must(&["dev", "up"]);
    assert_eq!(versions(&s).0, "0.2.0");
}

#[test]
fn a_killed_deploy_resumes_and_the_interlocks_refuse() {
    let mut s = TestStack::new(22020, "[environments.local.deploy]\ncanary = \"10%:2s\"\n");
    s.up();
    let rel = s.dir.path().to_path_buf();
    let v2 = release(&rel, "0.2.0", false);
    let v3 = release(&rel, "0.3.0", false);

    // kill -9 right after west is promoted (step 4 of 8).
    let r = s
        .cmd(&["deploy", "--artifact", v2.to_str().unwrap(), "--yes"])
        .env("PMCTL_TEST_CRASH_AFTER_STEP", "4")
        .output()
        .unwrap();
    assert_eq!(r.status.code(), None, "killed by SIGKILL");
    assert_eq!(versions(&s), ("0.1.0".into(), "0.2.0".into()));
    // The open deploy blocks new operations, region changes included.
    let r = s.run(&["deploy", "--artifact", v3.to_str().unwrap(), "--yes"]);
    assert_eq!(r.code, 3, "{r:?}");
    assert!(r.stderr.contains("pmctl deploy --resume --yes"), "{r:?}");
    let r = s.run(&["switchover", "--to", "west", "--yes"]);
    assert_eq!(r.code, 3, "{r:?}");
    let r = s.run(&["deploy", "--resume", "--yes", "-o", "json"]);
    assert_eq!(r.code, 0, "{r:?}");
    let rep = r.json();
    assert_eq!(rep["consistent"], true);
    let resumed = rep["exec"]["steps"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|x| x["resumed"] == true)
        .count();
    assert_eq!(resumed, 4, "steps 1–4 came from the journal");
    assert_eq!(versions(&s), ("0.2.0".into(), "0.2.0".into()));

    // Interlock 1: the standby on 0.3.0, the writer on 0.2.0 → switchover refused, naming
    // both versions.
    s.must(&[
        "deploy",
        "--artifact",
        v3.to_str().unwrap(),
        "--region",
        "west",
        "--yes",
    ]);
    let r = s.run(&["switchover", "--to", "west", "--yes"]);
    assert_eq!(r.code, 3, "{r:?}");
    assert!(
        r.stderr.contains("same-version")
            && r.stderr.contains("east 0.2.0")
            && r.stderr.contains("west 0.3.0"),
        "{r:?}"
    );

    // Interlock 2: 0.3.0 has passed no drill in the standby region → --require-drill
    // refuses to put it on the writer; nothing changes.
    let r = s.run(&[
        "deploy",
        "--artifact",
        v3.to_str().unwrap(),
        "--require-drill",
        "--yes",
    ]);
    assert_eq!(r.code, 3, "{r:?}");
    assert!(
        r.stderr.contains("drill-certified") && r.stderr.contains("0.3.0 has not passed a drill"),
        "{r:?}"
    );
    assert_eq!(versions(&s), ("0.2.0".into(), "0.3.0".into()));
    // A passed drill that ran 0.3.0 in the standby (as `pmctl drill` records it) lifts it.
    let cert = serde_json::json!({
        "at": chrono::Utc::now(), "runbook": "region-outage", "passed": true,
        "writer": "east", "standby": "west",
        "versions": {"east": "0.2.0", "west": "0.3.0"},
    });
    std::fs::write(s.state.join("drills.jsonl"), format!("{cert}\n")).unwrap();
    let r = s.run(&[
        "deploy",
        "--artifact",
        v3.to_str().unwrap(),
        "--require-drill",
        "--dry-run",
    ]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(r.stdout.contains("Preflight: ok"), "{r:?}");
}
