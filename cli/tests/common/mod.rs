//! Drives the built `pmctl` binary against its own local stack: each test gets its own
//! state dir and port range, and the stack is torn down on drop even when the test fails.
#![allow(dead_code)]

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

pub fn pmctl_bin() -> &'static str {
    env!("CARGO_BIN_EXE_pmctl")
}

pub struct TestStack {
    pub dir: tempfile::TempDir,
    pub state: PathBuf,
    pub config: PathBuf,
    pub port_base: u16,
    pub up: bool,
}

pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| {
            panic!(
                "stdout is not JSON ({e}):\n{}\nstderr:\n{}",
                self.stdout, self.stderr
            )
        })
    }
}

impl std::fmt::Debug for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "exit {}\n--- stdout\n{}\n--- stderr\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

impl TestStack {
    /// A stack description (not started): `port_base` must be unique per test; `extra_toml`
    /// is appended to the `[environments.local]` table.
    pub fn new(port_base: u16, extra_toml: &str) -> TestStack {
        let dir = tempfile::Builder::new()
            .prefix("pmctl-test")
            .tempdir()
            .unwrap();
        let state = dir.path().join("state");
        let config = dir.path().join("pmctl.toml");
        std::fs::write(
            &config,
            format!(
                "[environments.local]\nkind = \"local\"\nport_base = {port_base}\n{extra_toml}\n\
                 [environments.local.health]\ninterval_ms = 200\ntimeout_ms = 150\nfailure_threshold = 3\nsuccess_threshold = 2\n"
            ),
        )
        .unwrap();
        TestStack {
            dir,
            state,
            config,
            port_base,
            up: false,
        }
    }

    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(pmctl_bin());
        c.args(args)
            .arg("--state-dir")
            .arg(&self.state)
            .arg("--config")
            .arg(&self.config)
            .env_remove("PMCTL_ENV")
            .current_dir(self.dir.path());
        c
    }

    pub fn run(&self, args: &[&str]) -> Run {
        let out: Output = self.cmd(args).output().expect("run pmctl");
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into(),
            stderr: String::from_utf8_lossy(&out.stderr).into(),
        }
    }

    pub fn must(&self, args: &[&str]) -> Run {
        let r = self.run(args);
        assert_eq!(r.code, 0, "pmctl {args:?} failed: {r:?}");
        r
    }

    pub fn up(&mut self) -> Run {
        self.up = true;
        self.must(&["dev", "up"])
    }

    pub fn frontdoor(&self) -> String {
        format!("http://127.0.0.1:{}", self.port_base)
    }
    pub fn api(&self, region: &str) -> String {
        format!(
            "http://127.0.0.1:{}",
            self.port_base + if region == "east" { 1 } else { 2 }
        )
    }
    pub fn pg_port(&self, region: &str) -> u16 {
        self.port_base + if region == "east" { 11 } else { 12 }
    }
    pub fn db_url(&self, region: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/pm", self.pg_port(region))
    }
    pub fn admin(&self) -> String {
        format!("http://127.0.0.1:{}", self.port_base + 9)
    }
    pub fn admin_token(&self) -> String {
        let v: Value =
            serde_json::from_str(&std::fs::read_to_string(self.state.join("stack.json")).unwrap())
                .unwrap();
        v["admin_token"].as_str().unwrap().to_string()
    }
    pub fn token(&self, sub: &str) -> String {
        self.must(&["dev", "token", "--sub", sub])
            .stdout
            .trim()
            .to_string()
    }
    pub fn ports(&self) -> Vec<u16> {
        [0, 1, 2, 9, 11, 12, 13, 14]
            .iter()
            .map(|o| self.port_base + o)
            .collect()
    }

    /// Every pid the stack recorded (API/net pid files, PostgreSQL postmaster.pid).
    pub fn pids(&self) -> Vec<u32> {
        let mut pids = Vec::new();
        if let Ok(rd) = std::fs::read_dir(self.state.join("run")) {
            for e in rd.flatten() {
                if let Ok(t) = std::fs::read_to_string(e.path()) {
                    if let Ok(p) = t.trim().parse() {
                        pids.push(p);
                    }
                }
            }
        }
        for r in ["east", "west"] {
            if let Ok(t) =
                std::fs::read_to_string(self.state.join(r).join("pg").join("postmaster.pid"))
            {
                if let Some(Ok(p)) = t.lines().next().map(|l| l.trim().parse()) {
                    pids.push(p);
                }
            }
        }
        pids
    }
}

pub fn alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().next())
            .is_some_and(|s| s != "Z" && s != "X"),
        Err(_) => false,
    }
}

impl Drop for TestStack {
    fn drop(&mut self) {
        if !self.up {
            return;
        }
        let pids = self.pids();
        let r = self.run(&["dev", "down"]);
        if r.code != 0 {
            eprintln!("teardown: dev down failed: {r:?}");
        }
        // Belt and braces: nothing of this stack may outlive the test.
        for p in pids {
            if alive(p) {
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(p as i32),
                    nix::sys::signal::Signal::SIGKILL,
                );
            }
        }
    }
}

pub fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

/// Polls `f` until it returns Some or `timeout` passes.
pub async fn eventually<T, F, Fut>(timeout: Duration, mut f: F) -> Option<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let start = Instant::now();
    loop {
        if let Some(v) = f().await {
            return Some(v);
        }
        if start.elapsed() > timeout {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

pub async fn sql_one<T>(url: &str, q: &str) -> Result<T, sqlx::Error>
where
    T: Send + Unpin + for<'r> sqlx::Decode<'r, sqlx::Postgres> + sqlx::Type<sqlx::Postgres>,
{
    use sqlx::Connection;
    let mut c = sqlx::PgConnection::connect(url).await?;
    let v = sqlx::query_scalar::<_, T>(q).fetch_one(&mut c).await;
    let _ = c.close().await;
    v
}

pub fn port_bound(port: u16) -> bool {
    std::net::TcpListener::bind(("127.0.0.1", port)).is_err()
}

pub fn unused(_: &Path) {}
