//! moto in server mode: the AWS emulator the tests point the official SDK at.
//!
//! `$PMCTL_MOTO_VENV/bin/moto_server` (`scripts/test` exports the variable; without it
//! `scripts/tools-venv moto` creates or finds the cached virtualenv) on a free 127.0.0.1
//! port, one server per test, killed on drop — also when the test fails.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const REGION: &str = "us-east-1";

pub struct Moto {
    child: Child,
    /// `http://127.0.0.1:PORT`: what `AWS_ENDPOINT_URL` is set to.
    pub endpoint: String,
    log: tempfile::NamedTempFile,
}

/// The virtualenv holding moto[server].
pub fn venv() -> PathBuf {
    if let Some(v) = std::env::var_os("PMCTL_MOTO_VENV").filter(|v| !v.is_empty()) {
        return PathBuf::from(v);
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root");
    let out = Command::new(root.join("scripts/tools-venv"))
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
    /// Starts moto_server and waits until it answers (retrying on another port when the
    /// chosen one was taken meanwhile).
    pub async fn start() -> Moto {
        let exe = venv().join("bin/moto_server");
        let mut last_log = String::new();
        for _ in 0..5 {
            let port = pgcluster::free_port().expect("free port");
            let log = tempfile::NamedTempFile::new().unwrap();
            let child = Command::new(&exe)
                .args(["-H", "127.0.0.1", "-p", &port.to_string()])
                .stdin(Stdio::null())
                .stdout(log.reopen().unwrap())
                .stderr(log.reopen().unwrap())
                .spawn()
                .unwrap_or_else(|e| panic!("spawning {}: {e}", exe.display()));
            let mut moto = Moto {
                child,
                endpoint: format!("http://127.0.0.1:{port}"),
                log,
            };
            if moto.wait_ready(Duration::from_secs(60)).await {
                return moto;
            }
            last_log = moto.log();
            // Dropping `moto` kills the server.
        }
        panic!("moto_server did not start; its log:\n{last_log}");
    }

    async fn wait_ready(&mut self, timeout: Duration) -> bool {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(2))
            .build()
            .unwrap();
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return false; // exited: port taken, or broken install
            }
            if let Ok(r) = http
                .get(format!("{}/moto-api/", self.endpoint))
                .send()
                .await
            {
                if r.status().is_success() {
                    return true;
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        false
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log.path()).unwrap_or_default()
    }

    /// An SDK config aimed at this server (set on the loader, not in the process
    /// environment, so tests running in parallel threads do not interfere).
    pub async fn sdk_config(&self) -> aws_config::SdkConfig {
        use aws_sdk_secretsmanager::config::{Credentials, Region};
        aws_config::defaults(aws_config::BehaviorVersion::latest())
            .endpoint_url(&self.endpoint)
            .region(Region::new(REGION))
            .credentials_provider(Credentials::new("testing", "testing", None, None, "moto"))
            .load()
            .await
    }

    /// The environment a child process needs to reach this server through the SDK's
    /// default chain.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ENDPOINT_URL", self.endpoint.clone()),
            ("AWS_ACCESS_KEY_ID", "testing".into()),
            ("AWS_SECRET_ACCESS_KEY", "testing".into()),
            ("AWS_REGION", REGION.into()),
        ]
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
