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
    /// is appended to the `[environments.local]` table. Without the autopilot: tests of
    /// manual operations must not race a control plane that acts by itself.
    pub fn new(port_base: u16, extra_toml: &str) -> TestStack {
        Self::build(port_base, extra_toml, "enabled = false\n")
    }

    /// A stack whose `dev up` starts the autopilot (with `autopilot_toml` settings).
    pub fn with_autopilot(port_base: u16, extra_toml: &str, autopilot_toml: &str) -> TestStack {
        Self::build(port_base, extra_toml, autopilot_toml)
    }

    fn build(port_base: u16, extra_toml: &str, autopilot_toml: &str) -> TestStack {
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
                 [environments.local.health]\ninterval_ms = 200\ntimeout_ms = 150\nfailure_threshold = 3\nsuccess_threshold = 2\n\
                 [environments.local.autopilot]\n{autopilot_toml}\n"
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
    /// The region's database URL, with the stack's superuser password.
    pub fn db_url(&self, region: &str) -> String {
        pmctl::devstack::Stack::open(&self.state)
            .expect("stack.json")
            .db_url(region)
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
        [0, 1, 2, 9, 11, 12, 13, 14, 15, 16]
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

pub use pmctl::devstack::process::alive;

impl Drop for TestStack {
    #[allow(clippy::print_stderr)]
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

/// A landlord with one lease, created through the front door; returns the lease id.
pub async fn seed_lease(st: &TestStack, landlord: &str) -> String {
    let http = http();
    let token = st.token(landlord);
    let post = |path: &str, body: serde_json::Value| {
        let rq = http
            .post(format!("{}{path}", st.frontdoor()))
            .bearer_auth(&token)
            .json(&body);
        async move {
            let r = rq.send().await.unwrap();
            let s = r.status().as_u16();
            let v: Value = r.json().await.unwrap();
            assert_eq!(s, 201, "{v}");
            v["id"].as_str().unwrap().to_string()
        }
    };
    let p = post(
        "/v1/properties",
        serde_json::json!({"name": "Rent Day Towers", "county": "Nairobi", "address": "Ngong Rd"}),
    )
    .await;
    let u = post("/v1/units", serde_json::json!({"property_id": p, "label": "A1", "monthly_rent": 20000, "deposit": 20000, "account_ref": "RDT-A1"})).await;
    let t = post(
        "/v1/tenants",
        serde_json::json!({"name": "Mwangi", "phone": "0711000111"}),
    )
    .await;
    post(
        "/v1/leases",
        serde_json::json!({"unit_id": u, "tenant_id": t, "start_date": "2026-01-01"}),
    )
    .await
}

/// Posts manual payments through the front door continuously; every 201 is an acknowledged
/// payment whose id is recorded. 503s (writes blocked, read-only region) are retried with the
/// same Idempotency-Key, as a well-behaved client would.
pub struct PaymentWriter {
    pub acked: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    pub errors: std::sync::Arc<std::sync::atomic::AtomicU64>,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    handle: Option<tokio::task::JoinHandle<()>>,
}

impl PaymentWriter {
    pub fn start(st: &TestStack, landlord: &str, lease: &str) -> PaymentWriter {
        use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
        use std::sync::{Arc, Mutex};
        let acked = Arc::new(Mutex::new(Vec::new()));
        let errors = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (a, e, s) = (acked.clone(), errors.clone(), stop.clone());
        let url = format!("{}/v1/payments", st.frontdoor());
        let token = st.token(landlord);
        let lease = lease.to_string();
        let handle = tokio::spawn(async move {
            let http = reqwest::Client::builder()
                .timeout(Duration::from_secs(5))
                .build()
                .unwrap();
            let mut n = 0u64;
            while !s.load(Ordering::Relaxed) {
                n += 1;
                let key = format!("pay-{n}");
                loop {
                    if s.load(Ordering::Relaxed) {
                        return;
                    }
                    let r = http
                        .post(&url)
                        .bearer_auth(&token)
                        .header("Idempotency-Key", &key)
                        .json(&serde_json::json!({"lease_id": lease, "amount": 100, "method": "cash"}))
                        .send()
                        .await;
                    match r {
                        Ok(r) if r.status().as_u16() == 201 => {
                            let v: Value = r.json().await.unwrap_or_default();
                            if let Some(id) = v["id"].as_str() {
                                a.lock().unwrap().push(id.to_string());
                            }
                            break;
                        }
                        _ => {
                            e.fetch_add(1, Ordering::Relaxed);
                            tokio::time::sleep(Duration::from_millis(50)).await;
                        }
                    }
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        });
        PaymentWriter {
            acked,
            errors,
            stop,
            handle: Some(handle),
        }
    }

    pub fn count(&self) -> usize {
        self.acked.lock().unwrap().len()
    }

    pub async fn stop(mut self) -> Vec<String> {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        if let Some(h) = self.handle.take() {
            let _ = h.await;
        }
        self.acked.lock().unwrap().clone()
    }
}

/// Acknowledged payment ids missing from `region`'s database.
pub async fn missing_payments(st: &TestStack, region: &str, acked: &[String]) -> Vec<String> {
    use sqlx::Connection;
    let mut c = sqlx::PgConnection::connect(&st.db_url(region))
        .await
        .unwrap();
    let have: Vec<String> = sqlx::query_scalar("SELECT id::text FROM payments")
        .fetch_all(&mut c)
        .await
        .unwrap();
    let have: std::collections::HashSet<String> = have.into_iter().collect();
    acked
        .iter()
        .filter(|id| !have.contains(*id))
        .cloned()
        .collect()
}

/// `pmctl status -o json`.
pub fn status(st: &TestStack) -> (i32, Value) {
    let r = st.run(&["status", "-o", "json"]);
    (r.code, r.json())
}

pub fn role(status: &Value, region: &str) -> String {
    status["topology"]["regions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == region)
        .unwrap()["db_role"]
        .as_str()
        .unwrap()
        .to_string()
}

pub fn dns_primary(status: &Value) -> String {
    status["topology"]["dns"]["primary"]
        .as_str()
        .unwrap_or("?")
        .to_string()
}
