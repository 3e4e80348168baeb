//! Test harness: throwaway clusters in temp dirs on free ports.

use std::fs::File;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::Duration;

use sqlx::Executor;

use crate::cluster::{Cluster, InitOptions, StopMode};
use crate::error::PgError;
use crate::pgbin::PgBin;
use crate::sql;

/// Name prefix of test cluster directories in the system temp dir.
const PREFIX: &str = "pgcluster-test-";
/// Held (flock) by the owning process for the cluster's lifetime.
const LOCK_FILE: &str = "owner.lock";
/// Present in directories kept for debugging after a panic.
const KEEP_MARKER: &str = "KEPT-FOR-DEBUGGING";
const START_TIMEOUT: Duration = Duration::from_secs(60);
const STOP_TIMEOUT: Duration = Duration::from_secs(30);

static SHARED: OnceLock<TestCluster> = OnceLock::new();
static DB_COUNTER: AtomicU64 = AtomicU64::new(0);

/// A free TCP port on 127.0.0.1 in 12000–19999 (probed by binding it). Another process may
/// take it before you bind it: retry with a new one when a start fails with
/// [`PgError::is_port_in_use`].
pub fn free_port() -> Result<u16, PgError> {
    // Never an OS-assigned port: those come from the ephemeral range (32768–60999), where a
    // busy machine's outgoing connections can take the port between this probe and the
    // server's bind. Probe a fixed non-ephemeral range instead, starting at a different
    // place in each process (tests run as several processes at once).
    use std::sync::atomic::{AtomicU32, Ordering};
    const LO: u16 = 12000;
    const HI: u16 = 19999;
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let span = u32::from(HI - LO) + 1;
    let seed = std::process::id().wrapping_mul(2654435761) % span;
    for _ in 0..span {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let port = LO + ((seed + n * 7) % span) as u16;
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return Ok(port);
        }
    }
    Err(PgError::io(
        "finding a free port in 12000-19999",
        std::io::Error::new(std::io::ErrorKind::AddrInUse, "every port is busy"),
    ))
}

/// A throwaway PostgreSQL cluster for tests: a temp dir (`$TMPDIR/pgcluster-test-*`), a
/// free 127.0.0.1 port, fsync off. Dropping it stops the server (immediate) and removes
/// the directory — kept, with its path printed, when the thread is panicking. Directories
/// left by killed test processes are cleaned up by the next [`TestCluster::start`].
#[derive(Debug)]
pub struct TestCluster {
    cluster: Cluster,
    dir: PathBuf,
    torn_down: AtomicBool,
    _lock: File,
}

impl TestCluster {
    /// Initialises and starts a new cluster (retrying with another port if the chosen one
    /// was taken meanwhile).
    pub fn start() -> Result<TestCluster, PgError> {
        let bin = PgBin::locate()?;
        reap_stale_dirs(&bin);
        let dir = tempfile::Builder::new()
            .prefix(PREFIX)
            .tempdir()
            .map_err(|e| PgError::io("creating a temp dir for a test cluster", e))?
            .keep();
        let lock = lock_owner_file(&dir)?;
        let result = (|| {
            bin.prepare_path_for_postgres(&dir)?;
            let opts = InitOptions {
                port: free_port()?,
                fsync: false,
                settings: vec![("max_connections".into(), "300".into())],
                ..InitOptions::default()
            };
            let mut cluster = Cluster::init(&bin, &dir.join("data"), &opts)?;
            let mut attempts = 0;
            loop {
                match cluster.start(START_TIMEOUT) {
                    Ok(()) => return Ok(cluster),
                    Err(e) if e.is_port_in_use() && attempts < 5 => {
                        attempts += 1;
                        cluster.set_port(free_port()?)?;
                    }
                    Err(e) => return Err(e),
                }
            }
        })();
        match result {
            Ok(cluster) => Ok(TestCluster {
                cluster,
                dir,
                torn_down: AtomicBool::new(false),
                _lock: lock,
            }),
            Err(e) => {
                if let Ok(c) = Cluster::open(&bin, &dir.join("data")) {
                    let _ = c.stop(StopMode::Immediate, STOP_TIMEOUT);
                }
                let _ = std::fs::remove_dir_all(&dir);
                Err(e)
            }
        }
    }

    /// The one cluster of this test process, started on first use and stopped (immediate)
    /// and deleted when the process exits (`atexit`). Panics, with the message saying how
    /// to install PostgreSQL, when it cannot start.
    pub fn shared() -> &'static TestCluster {
        SHARED.get_or_init(|| {
            let cluster = TestCluster::start()
                .unwrap_or_else(|e| panic!("could not start the shared test PostgreSQL: {e}"));
            // SAFETY: registering a plain extern "C" function with no preconditions.
            let rc = unsafe { libc::atexit(teardown_shared) };
            if rc != 0 {
                tracing::warn!("atexit registration failed: the shared test cluster will leak");
            }
            cluster
        })
    }

    /// Creates a fresh, uniquely named database and returns its URL.
    pub async fn create_database(&self) -> Result<String, PgError> {
        let n = DB_COUNTER.fetch_add(1, Ordering::Relaxed);
        let name = format!("test_{}_{n}", std::process::id());
        let admin = self.cluster.url("postgres");
        let mut conn = sql::connect(&admin).await?;
        conn.execute(format!("CREATE DATABASE \"{name}\"").as_str())
            .await
            .map_err(sql::sql_err(&admin, "CREATE DATABASE"))?;
        Ok(self.cluster.url(&name))
    }

    /// The cluster (port, data dir, log, control).
    pub fn cluster(&self) -> &Cluster {
        &self.cluster
    }

    /// `postgres://postgres@127.0.0.1:PORT/db`.
    pub fn url(&self, db: &str) -> String {
        self.cluster.url(db)
    }

    /// The temp dir holding the data dir and log.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Stops the server and removes (or, with `keep`, marks and keeps) the directory.
    /// Runs once.
    fn teardown(&self, keep: bool) {
        if self.torn_down.swap(true, Ordering::SeqCst) {
            return;
        }
        if let Err(e) = self.cluster.stop(StopMode::Immediate, STOP_TIMEOUT) {
            tracing::warn!(error = %e, "could not stop test cluster");
            let _ = self.cluster.kill(nix::sys::signal::Signal::SIGKILL);
        }
        if keep {
            let _ = std::fs::write(self.dir.join(KEEP_MARKER), b"");
            print_kept(&self.dir, &self.cluster);
        } else if let Err(e) = std::fs::remove_dir_all(&self.dir) {
            tracing::warn!(dir = %self.dir.display(), error = %e, "could not remove test cluster dir");
        }
    }
}

impl Drop for TestCluster {
    fn drop(&mut self) {
        self.teardown(std::thread::panicking());
    }
}

// The reader of a failing test needs the kept cluster's path; tracing may not be set up.
#[allow(clippy::print_stderr)]
fn print_kept(dir: &Path, cluster: &Cluster) {
    eprintln!(
        "pgcluster: test failed; kept the test cluster in {} (server log: {})",
        dir.display(),
        cluster.log_file().display()
    );
}

extern "C" fn teardown_shared() {
    let _ = std::panic::catch_unwind(|| {
        if let Some(cluster) = SHARED.get() {
            cluster.teardown(false);
        }
    });
}

fn lock_owner_file(dir: &Path) -> Result<File, PgError> {
    // Locked under another name first, so a reaper never finds it unlocked.
    let tmp = dir.join(format!("{LOCK_FILE}.new"));
    let file =
        File::create(&tmp).map_err(|e| PgError::io(format!("creating {}", tmp.display()), e))?;
    // SAFETY: flock on a valid, owned fd.
    if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
        return Err(PgError::io(
            format!("locking {}", tmp.display()),
            std::io::Error::last_os_error(),
        ));
    }
    std::fs::rename(&tmp, dir.join(LOCK_FILE))
        .map_err(|e| PgError::io(format!("renaming {}", tmp.display()), e))?;
    Ok(file)
}

/// Stops clusters and removes directories of test processes that died without cleaning up
/// (their owner lock is free). Kept-for-debugging directories are stopped but not removed.
fn reap_stale_dirs(bin: &PgBin) {
    let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else {
        return;
    };
    for entry in entries.flatten() {
        if !entry.file_name().to_string_lossy().starts_with(PREFIX) {
            continue;
        }
        let dir = entry.path();
        let Ok(file) = File::open(dir.join(LOCK_FILE)) else {
            continue; // being created, or not ours
        };
        // SAFETY: flock on a valid, owned fd.
        if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
            continue; // its owner is alive
        }
        if let Ok(cluster) = Cluster::open(bin, &dir.join("data")) {
            let _ = cluster.stop(StopMode::Immediate, STOP_TIMEOUT);
        }
        if !dir.join(KEEP_MARKER).exists() {
            tracing::debug!(dir = %dir.display(), "removing test cluster dir left by a dead process");
            let _ = std::fs::remove_dir_all(&dir);
        }
    }
}
