//! A single cluster's life: init, start/stop (idempotent), status and pid, signals, settings.

mod common;

use std::time::Duration;

use common::{eventually, process_gone, Env};
use pgcluster::{free_port, Cluster, InitOptions, PgError, Signal, Status, StopMode};
use sqlx::{Connection, PgConnection};

const T: Duration = Duration::from_secs(30);

async fn scalar_i32(url: &str, sql: &str) -> i32 {
    let mut conn = PgConnection::connect(url).await.expect("connect");
    sqlx::query_scalar(sql)
        .fetch_one(&mut conn)
        .await
        .expect(sql)
}

async fn work_mem(url: &str) -> String {
    let mut conn = PgConnection::connect(url).await.expect("connect");
    sqlx::query_scalar("SHOW work_mem")
        .fetch_one(&mut conn)
        .await
        .expect("SHOW work_mem")
}

fn parent_pid(pid: i32) -> u32 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("stat");
    let after = stat.rsplit(')').next().unwrap();
    after.split_whitespace().nth(1).unwrap().parse().unwrap()
}

#[tokio::test]
async fn init_start_stop_status_and_signals() {
    let env = Env::new();
    let port = free_port().unwrap();
    let opts = InitOptions {
        port,
        fsync: false,
        settings: vec![("work_mem".into(), "5MB".into())],
        ..InitOptions::default()
    };
    let c = env.track(&Cluster::init(&env.bin, &env.path("data"), &opts).unwrap());
    assert_eq!(c.status().unwrap(), Status::Stopped);
    assert_eq!(c.pid(), None);
    assert_eq!(c.port(), port);
    assert_eq!(
        c.url("app"),
        format!("postgres://postgres@127.0.0.1:{port}/app")
    );
    assert!(!c.is_standby());
    assert!(matches!(
        Cluster::init(&env.bin, c.data_dir(), &opts),
        Err(PgError::DataDirNotEmpty(_))
    ));

    // start is idempotent; status and pid name the real postmaster
    c.start(T).unwrap();
    c.start(T).unwrap();
    let Status::Running { pid } = c.status().unwrap() else {
        panic!("not running after start")
    };
    assert_eq!(c.pid(), Some(pid));
    let url = c.url("postgres");
    pgcluster::wait_ready(&url, T).await.unwrap();
    // keep the session open: its backend process lives only as long as the connection
    let mut session = PgConnection::connect(&url).await.unwrap();
    let backend: i32 = sqlx::query_scalar("SELECT pg_backend_pid()")
        .fetch_one(&mut session)
        .await
        .unwrap();
    assert_eq!(
        parent_pid(backend),
        pid,
        "the backend's parent is the postmaster"
    );
    drop(session);
    assert!(!pgcluster::is_in_recovery(&url).await.unwrap());
    assert!(c.log_file().exists());
    assert!(!c.log_file().starts_with(c.data_dir()));

    // open() finds the same cluster again, port included
    let reopened = Cluster::open(&env.bin, c.data_dir()).unwrap();
    assert_eq!(reopened.port(), port);
    assert_eq!(reopened.pid(), Some(pid));
    assert!(matches!(
        Cluster::open(&env.bin, &env.path("nothing")),
        Err(PgError::NotADataDir(_))
    ));

    // set_setting while running: written and reloaded
    assert_eq!(work_mem(&url).await, "5MB");
    c.set_setting("work_mem", "7MB").unwrap();
    eventually("work_mem reload", T, || async {
        work_mem(&url).await == "7MB"
    })
    .await;

    // stop is idempotent and really ends the postmaster
    c.stop(StopMode::Fast, T).unwrap();
    c.stop(StopMode::Fast, T).unwrap();
    assert_eq!(c.status().unwrap(), Status::Stopped);
    assert!(!c.data_dir().join("postmaster.pid").exists());
    assert!(process_gone(pid));
    assert!(matches!(
        c.kill(Signal::SIGKILL),
        Err(PgError::NotRunning(_))
    ));

    // SIGSTOP drill: a paused postmaster still stops
    c.start(T).unwrap();
    c.kill(Signal::SIGSTOP).unwrap();
    assert!(matches!(c.status().unwrap(), Status::Running { .. }));
    c.stop(StopMode::Fast, T).unwrap();
    assert_eq!(c.status().unwrap(), Status::Stopped);

    // SIGKILL drill: status notices, start again does crash recovery
    c.start(T).unwrap();
    let pid = c.pid().unwrap();
    c.kill(Signal::SIGKILL).unwrap();
    eventually("postmaster gone after SIGKILL", T, || async {
        c.status().unwrap() == Status::Stopped
    })
    .await;
    assert!(
        c.data_dir().join("postmaster.pid").exists(),
        "stale pid file left by SIGKILL"
    );
    c.start(T).unwrap();
    let new_pid = c.pid().unwrap();
    assert_ne!(new_pid, pid);
    assert_eq!(scalar_i32(&url, "SELECT 1").await, 1);
    c.stop(StopMode::Immediate, T).unwrap();
    assert!(process_gone(new_pid));
}

#[tokio::test]
async fn port_taken_gives_start_failed_with_server_log() {
    let env = Env::new();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let opts = InitOptions {
        port,
        fsync: false,
        ..InitOptions::default()
    };
    let mut c = env.track(&Cluster::init(&env.bin, &env.path("data"), &opts).unwrap());
    let err = c.start(T).unwrap_err();
    assert!(err.is_port_in_use(), "{err}");
    let msg = err.to_string();
    assert!(
        msg.contains("did not start") && msg.contains("server log"),
        "{msg}"
    );
    assert_eq!(c.status().unwrap(), Status::Stopped);

    // move it to a free port and start
    c.set_port(free_port().unwrap()).unwrap();
    let c = env.track(&c);
    c.start(T).unwrap();
    assert_eq!(
        Cluster::open(&env.bin, c.data_dir()).unwrap().port(),
        c.port()
    );
    pgcluster::wait_ready(&c.url("postgres"), T).await.unwrap();
    c.stop(StopMode::Fast, T).unwrap();
    drop(listener);
}

#[test]
fn version_and_bindir() {
    let bin = pgcluster::PgBin::locate().unwrap();
    assert!(bin.bindir().join("initdb").exists());
    let v = bin.version().unwrap();
    assert!(v.chars().next().unwrap().is_ascii_digit(), "{v}");
    assert!(bin.major_version().unwrap() >= 10);
    assert_eq!(
        bin.runs_as_postgres(),
        nix::unistd::Uid::effective().is_root()
    );
}

const CHILD_ENV: &str = "PGCLUSTER_LIFECYCLE_CHILD_DATA_DIR";

/// Runs in a child process (see below): starts an existing cluster and exits at once.
#[test]
#[ignore = "run by postmaster_outlives_the_process_that_started_it in a child process"]
fn child_starts_cluster_and_exits() {
    let dir = std::env::var_os(CHILD_ENV).expect("child only");
    let bin = pgcluster::PgBin::locate().unwrap();
    Cluster::open(&bin, std::path::Path::new(&dir))
        .unwrap()
        .start(T)
        .unwrap();
}

#[tokio::test]
async fn postmaster_outlives_the_process_that_started_it() {
    let env = Env::new();
    let opts = InitOptions {
        port: free_port().unwrap(),
        fsync: false,
        ..InitOptions::default()
    };
    let c = env.track(&Cluster::init(&env.bin, &env.path("data"), &opts).unwrap());
    let status = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "child_starts_cluster_and_exits", "--ignored"])
        .env(CHILD_ENV, c.data_dir())
        .stdout(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    assert!(matches!(c.status().unwrap(), Status::Running { .. }));
    pgcluster::wait_ready(&c.url("postgres"), T).await.unwrap();
    c.stop(StopMode::Fast, T).unwrap();
}
