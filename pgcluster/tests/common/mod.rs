//! Shared helpers for the pgcluster integration tests (real PostgreSQL).
#![allow(dead_code)]
// Test diagnostics on failure go straight to stderr.
#![allow(clippy::print_stderr)]

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use pgcluster::{Cluster, PgBin, StopMode};

/// A temp dir usable by the postgres user, plus the clusters created in it; dropping it
/// stops every cluster (immediate) even when the test panicked, then removes the dir.
pub struct Env {
    pub bin: PgBin,
    clusters: Mutex<Vec<Cluster>>,
    dir: tempfile::TempDir,
}

impl Env {
    pub fn new() -> Env {
        let bin = PgBin::locate().expect("PostgreSQL binaries");
        let dir = tempfile::Builder::new()
            .prefix("pgcluster-it-")
            .tempdir()
            .expect("temp dir");
        bin.prepare_path_for_postgres(dir.path())
            .expect("prepare temp dir");
        Env {
            bin,
            clusters: Mutex::new(Vec::new()),
            dir,
        }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Registers a cluster to be stopped when the test ends.
    pub fn track(&self, cluster: &Cluster) -> Cluster {
        self.clusters.lock().unwrap().push(cluster.clone());
        cluster.clone()
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        let panicking = std::thread::panicking();
        for c in self
            .clusters
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
        {
            if panicking {
                eprintln!(
                    "--- server log of {} (port {}) ---\n{}",
                    c.data_dir().display(),
                    c.port(),
                    c.log_tail(40)
                );
            }
            if let Err(e) = c.stop(StopMode::Immediate, Duration::from_secs(30)) {
                eprintln!("could not stop {}: {e}", c.data_dir().display());
                let _ = c.kill(pgcluster::Signal::SIGKILL);
            }
        }
    }
}

/// True when no live (non-zombie) process has `pid`.
pub fn process_gone(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat
            .rsplit(')')
            .next()
            .and_then(|r| r.split_whitespace().next())
            .is_some_and(|s| s == "Z" || s == "X"),
    }
}

/// Pids of live processes whose command line mentions `needle` (e.g. a data dir).
pub fn processes_mentioning(needle: &Path) -> Vec<u32> {
    let needle = needle.to_string_lossy().into_owned();
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        if let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) {
            let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
            if cmdline.contains(&needle) && !process_gone(pid) {
                found.push(pid);
            }
        }
    }
    found
}

/// Polls `check` until it returns true or `timeout` passes.
pub async fn eventually<F, Fut>(what: &str, timeout: Duration, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let started = Instant::now();
    while !check().await {
        assert!(
            started.elapsed() < timeout,
            "timed out after {timeout:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
