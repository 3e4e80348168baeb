//! moto in server mode, started through pmctl's launcher (`scripts/moto-server`: moto
//! plus the patches in scripts/moto/), one server per test on a free 127.0.0.1 port,
//! killed on drop — also when the test fails.
//!
//! The venv comes from `$PMCTL_MOTO_VENV` (`scripts/test` exports it) or
//! `scripts/tools-venv moto`.
#![allow(dead_code)]

use pmctl::aws::sdk::{RegionConfigs, SdkSettings};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const REGIONS: [&str; 2] = ["us-east-1", "us-east-2"];
/// The test credentials; tests check that no error ever shows the secret.
pub const ACCESS_KEY: &str = "testing";
pub const SECRET_KEY: &str = "pmctl-test-secret-do-not-print";

pub struct Moto {
    child: Child,
    /// `http://127.0.0.1:PORT`
    pub endpoint: String,
    log: tempfile::NamedTempFile,
    http: reqwest::Client,
}

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
}

/// The virtualenv holding moto[server] and cbor2.
pub fn venv() -> PathBuf {
    if let Some(v) = std::env::var_os("PMCTL_MOTO_VENV").filter(|v| !v.is_empty()) {
        return PathBuf::from(v);
    }
    let out = Command::new(root().join("scripts/tools-venv"))
        .arg("moto")
        .stderr(Stdio::inherit())
        .output()
        .expect("running scripts/tools-venv moto (needs python3 with venv)");
    assert!(
        out.status.success(),
        "scripts/tools-venv moto failed; set PMCTL_MOTO_VENV or run scripts/test"
    );
    PathBuf::from(String::from_utf8(out.stdout).unwrap().trim())
}

impl Moto {
    /// Starts the launcher and waits until it answers as pmctl's (retrying on another
    /// port when the chosen one was taken meanwhile).
    pub async fn start() -> Moto {
        let python = venv().join("bin/python");
        let launcher = root().join("scripts/moto-server");
        let mut last_log = String::new();
        for _ in 0..5 {
            let port = pick_port();
            let log = tempfile::NamedTempFile::new().unwrap();
            let child = Command::new(&python)
                .arg(&launcher)
                .args(["-H", "127.0.0.1", "-p", &port.to_string()])
                .stdin(Stdio::null())
                .stdout(log.reopen().unwrap())
                .stderr(log.reopen().unwrap())
                .spawn()
                .unwrap_or_else(|e| panic!("spawning {}: {e}", launcher.display()));
            let mut moto = Moto {
                child,
                endpoint: format!("http://127.0.0.1:{port}"),
                log,
                http: reqwest::Client::builder()
                    .timeout(Duration::from_secs(10))
                    .build()
                    .unwrap(),
            };
            if moto.wait_ready(Duration::from_secs(60)).await {
                return moto;
            }
            last_log = moto.log();
        }
        panic!("scripts/moto-server did not start; its log:\n{last_log}");
    }

    async fn wait_ready(&mut self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return false; // exited: port taken, or broken install
            }
            if let Ok(r) = self
                .http
                .get(format!("{}/moto-api/pmctl/", self.endpoint))
                .send()
                .await
            {
                if let Ok(v) = r.json::<Value>().await {
                    if v["launcher"] == "pmctl" {
                        return true;
                    }
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        false
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log.path()).unwrap_or_default()
    }

    /// SDK settings aimed at this server: explicit endpoint and credentials (not the
    /// process environment, so parallel tests do not interfere), no retries.
    pub fn settings(&self) -> SdkSettings {
        settings_for(&self.endpoint)
    }

    pub async fn configs(&self) -> RegionConfigs {
        RegionConfigs::load(&REGIONS, &self.settings()).await
    }

    async fn admin(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut req = self
            .http
            .request(method, format!("{}/moto-api/pmctl/{path}", self.endpoint));
        if let Some(body) = body {
            req = req.json(&body);
        }
        let resp = req.send().await.expect("admin call");
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or(Value::Null))
    }

    /// POST to an admin endpoint; panics unless it succeeds.
    pub async fn admin_post(&self, path: &str, body: Value) -> Value {
        let (status, answer) = self.admin(reqwest::Method::POST, path, Some(body)).await;
        assert_eq!(status, 200, "POST /moto-api/pmctl/{path}: {answer}");
        answer
    }

    /// POST to an admin endpoint, returning the status and answer (for refusals).
    pub async fn admin_try(&self, path: &str, body: Value) -> (u16, Value) {
        self.admin(reqwest::Method::POST, path, Some(body)).await
    }

    /// Makes the next `times` calls of `service`/`operation` fail with `code`/`status`.
    pub async fn fail(
        &self,
        service: &str,
        operation: &str,
        code: &str,
        status: u16,
        times: Option<u32>,
    ) {
        let mut body = serde_json::json!({"service": service, "operation": operation, "code": code, "status": status});
        if let Some(times) = times {
            body["times"] = times.into();
        }
        self.admin_post("fail", body).await;
    }

    /// Like [`fail`](Self::fail), limited to one region's endpoint.
    pub async fn fail_region(&self, service: &str, region: &str, code: &str, status: u16) {
        self.admin_post(
            "fail",
            serde_json::json!({"service": service, "region": region, "code": code, "status": status}),
        )
        .await;
    }

    pub async fn clear_failures(&self) {
        let (status, _) = self.admin(reqwest::Method::DELETE, "fail", None).await;
        assert_eq!(status, 200);
    }

    pub async fn set_health(&self, health_check_id: &str, healthy: bool) {
        self.admin_post(
            "health-check-status",
            serde_json::json!({"id": health_check_id, "healthy": healthy}),
        )
        .await;
    }

    pub async fn set_health_by_region(&self, health_check_id: &str, regions: Value) {
        self.admin_post(
            "health-check-status",
            serde_json::json!({"id": health_check_id, "regions": regions}),
        )
        .await;
    }

    pub async fn set_timing(&self, transition_seconds: f64, rejoin_seconds: f64) {
        self.admin_post(
            "config",
            serde_json::json!({
                "global_cluster_transition_seconds": transition_seconds,
                "rejoin_seconds": rejoin_seconds
            }),
        )
        .await;
    }

    /// moto's own reset, which also clears the launcher's state.
    pub async fn reset(&self) {
        let r = self
            .http
            .post(format!("{}/moto-api/reset", self.endpoint))
            .send()
            .await
            .expect("reset");
        assert!(r.status().is_success());
    }
}

/// A free 127.0.0.1 port: from `PMCTL_TEST_PORT_RANGE` (`LOW-HIGH`, for machines where
/// tests must stay in a given range), else any the kernel gives.
pub fn pick_port() -> u16 {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let range = std::env::var("PMCTL_TEST_PORT_RANGE").ok().and_then(|r| {
        let (lo, hi) = r.split_once('-')?;
        let (lo, hi): (u16, u16) = (lo.trim().parse().ok()?, hi.trim().parse().ok()?);
        (lo <= hi).then_some((lo, hi))
    });
    let Some((lo, hi)) = range else {
        return pgcluster::free_port().expect("free port");
    };
    let span = u32::from(hi - lo) + 1;
    // Start at a different place in each test process, then walk the range.
    let seed = std::process::id() % span;
    for _ in 0..span {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let port = lo + ((seed + n * 7) % span) as u16;
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free port in PMCTL_TEST_PORT_RANGE {lo}-{hi}");
}

/// Test SDK settings aimed at `endpoint`.
pub fn settings_for(endpoint: &str) -> SdkSettings {
    SdkSettings {
        endpoint_url: Some(endpoint.to_string()),
        credentials: Some(
            aws_credential_types::provider::SharedCredentialsProvider::new(
                aws_credential_types::Credentials::new(ACCESS_KEY, SECRET_KEY, None, None, "moto"),
            ),
        ),
        max_attempts: 1,
        connect_timeout: Duration::from_secs(2),
        attempt_timeout: Duration::from_secs(20),
        operation_timeout: Duration::from_secs(30),
        ..SdkSettings::default()
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
