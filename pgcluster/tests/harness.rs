//! The test harness itself: shared cluster, per-test databases, cleanup.

mod common;

use std::time::Duration;

use common::{process_gone, processes_mentioning};
use pgcluster::TestCluster;
use sqlx::{Connection, PgConnection};

const CHILD_ENV: &str = "PGCLUSTER_HARNESS_CHILD_OUT";

#[tokio::test]
async fn shared_cluster_gives_distinct_databases() {
    let tc = TestCluster::shared();
    assert!(
        std::ptr::eq(tc, TestCluster::shared()),
        "one shared cluster per process"
    );
    let a = tc.create_database().await.unwrap();
    let b = tc.create_database().await.unwrap();
    assert_ne!(a, b);
    assert!(a.starts_with(&format!(
        "postgres://postgres@127.0.0.1:{}/",
        tc.cluster().port()
    )));

    let mut ca = PgConnection::connect(&a).await.unwrap();
    sqlx::raw_sql("CREATE TABLE only_in_a (x int)")
        .execute(&mut ca)
        .await
        .unwrap();
    let mut cb = PgConnection::connect(&b).await.unwrap();
    let n: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM information_schema.tables WHERE table_name = 'only_in_a'",
    )
    .fetch_one(&mut cb)
    .await
    .unwrap();
    assert_eq!(n, 0, "databases are separate");
}

#[tokio::test]
async fn shared_cluster_is_safe_from_many_threads() {
    let handles: Vec<_> = (0..4)
        .map(|_| tokio::spawn(async { TestCluster::shared().create_database().await.unwrap() }))
        .collect();
    let mut urls = Vec::new();
    for h in handles {
        urls.push(h.await.unwrap());
    }
    urls.sort();
    urls.dedup();
    assert_eq!(urls.len(), 4);
}

#[test]
fn dropped_test_clusters_leave_nothing_behind() {
    let (a, b) = (TestCluster::start().unwrap(), TestCluster::start().unwrap());
    assert_ne!(a.cluster().port(), b.cluster().port());
    let mut left = Vec::new();
    for tc in [a, b] {
        let pid = tc.cluster().pid().expect("running");
        left.push((pid, tc.dir().to_path_buf()));
        drop(tc);
    }
    for (pid, dir) in left {
        assert!(process_gone(pid), "postmaster {pid} still alive");
        assert!(!dir.exists(), "{} not removed", dir.display());
        assert_eq!(processes_mentioning(&dir), Vec::<u32>::new());
    }
}

/// Runs in a child test process (see below): uses the shared cluster and reports where.
#[tokio::test]
#[ignore = "run by shared_cluster_is_removed_at_process_exit in a child process"]
async fn child_uses_shared_cluster() {
    let out = std::env::var(CHILD_ENV).expect("child only");
    let tc = TestCluster::shared();
    tc.create_database().await.unwrap();
    let pid = tc.cluster().pid().unwrap();
    std::fs::write(out, format!("{pid}\n{}", tc.dir().display())).unwrap();
}

#[test]
fn shared_cluster_is_removed_at_process_exit() {
    let report = tempfile::NamedTempFile::new().unwrap();
    let status = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "child_uses_shared_cluster",
            "--ignored",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, report.path())
        .stdout(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    let text = std::fs::read_to_string(report.path()).unwrap();
    let (pid, dir) = text.split_once('\n').expect("child report");
    let pid: u32 = pid.parse().unwrap();
    let dir = std::path::Path::new(dir);
    // atexit ran before the child exited, so nothing to wait for
    std::thread::sleep(Duration::from_millis(10));
    assert!(
        process_gone(pid),
        "shared postmaster {pid} outlived its test process"
    );
    assert!(!dir.exists(), "{} not removed at exit", dir.display());
}

const PANIC_CHILD_ENV: &str = "PGCLUSTER_HARNESS_PANIC_CHILD";

/// Runs in a child test process (see below): panics while owning a test cluster.
#[test]
#[ignore = "run by a_panicking_test_keeps_its_cluster_dir in a child process"]
fn child_panics_with_test_cluster() {
    assert!(std::env::var_os(PANIC_CHILD_ENV).is_some(), "child only");
    let _tc = TestCluster::start().unwrap();
    panic!("deliberate failure");
}

#[test]
fn a_panicking_test_keeps_its_cluster_dir() {
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "child_panics_with_test_cluster", "--ignored"])
        .env(PANIC_CHILD_ENV, "1")
        .output()
        .unwrap();
    assert!(!out.status.success());
    // libtest shows a failed test's captured stderr in its report on stdout
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let line = text
        .lines()
        .find(|l| l.contains("kept the test cluster in "))
        .unwrap_or_else(|| panic!("no kept-dir message in:\n{text}"));
    let dir = line
        .split("kept the test cluster in ")
        .nth(1)
        .and_then(|r| r.split(" (server log").next())
        .unwrap();
    let dir = std::path::Path::new(dir);
    assert!(
        dir.join("data").join("PG_VERSION").exists(),
        "{}",
        dir.display()
    );
    assert_eq!(
        processes_mentioning(dir),
        Vec::<u32>::new(),
        "server stopped anyway"
    );
    std::fs::remove_dir_all(dir).unwrap();
}

const KILLED_CHILD_ENV: &str = "PGCLUSTER_HARNESS_KILLED_CHILD_OUT";

/// Runs in a child test process (see below): starts a test cluster, reports, then hangs
/// until killed.
#[test]
#[ignore = "run by clusters_of_killed_test_processes_are_reaped in a child process"]
fn child_is_killed_holding_a_test_cluster() {
    let out = std::env::var(KILLED_CHILD_ENV).expect("child only");
    let tc = TestCluster::start().unwrap();
    let pid = tc.cluster().pid().unwrap();
    std::fs::write(&out, format!("{pid}\n{}", tc.dir().display())).unwrap();
    std::thread::sleep(Duration::from_secs(120));
}

#[tokio::test]
async fn clusters_of_killed_test_processes_are_reaped() {
    let report = tempfile::NamedTempFile::new().unwrap();
    let mut child = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "child_is_killed_holding_a_test_cluster",
            "--ignored",
        ])
        .env(KILLED_CHILD_ENV, report.path())
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let started = std::time::Instant::now();
    let text = loop {
        let text = std::fs::read_to_string(report.path()).unwrap_or_default();
        if text.contains('\n') {
            break text;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "child did not report"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    child.kill().unwrap(); // SIGKILL: no Drop, no atexit
    child.wait().unwrap();
    let (pid, dir) = text.split_once('\n').unwrap();
    let (pid, dir): (u32, std::path::PathBuf) = (pid.parse().unwrap(), dir.into());
    assert!(!process_gone(pid), "the leaked postmaster is still running");

    // the next TestCluster::start (here or in any other test process) cleans up
    drop(TestCluster::start().unwrap());
    common::eventually("leaked cluster reaped", Duration::from_secs(30), || async {
        process_gone(pid) && !dir.exists()
    })
    .await;
}
