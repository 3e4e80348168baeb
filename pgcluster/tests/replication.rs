//! Primary + synchronous streaming replica, promotion, then failback of the old primary
//! with pg_rewind: the two-region life cycle of `pmctl dev`.

mod common;

use std::time::Duration;

use common::{eventually, Env};
use pgcluster::{
    current_wal_lsn, ensure_physical_slot, free_port, is_in_recovery, last_replay_lsn,
    lsn_diff_bytes, replication_status, wait_ready, Cluster, InitOptions, PgError, ReplicaOptions,
    Signal, Status, StopMode,
};
use sqlx::{Connection, PgConnection};

const T: Duration = Duration::from_secs(30);
const HOST: &str = "127.0.0.1";

async fn exec(url: &str, sql: &str) {
    let mut conn = PgConnection::connect(url).await.expect("connect");
    let run = sqlx::raw_sql(sql).execute(&mut conn);
    tokio::time::timeout(T, run)
        .await
        .unwrap_or_else(|_| panic!("hung: {sql}"))
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
}

async fn notes(url: &str) -> Vec<String> {
    let Ok(mut conn) = PgConnection::connect(url).await else {
        return Vec::new();
    };
    sqlx::query_scalar("SELECT note FROM payments ORDER BY id")
        .fetch_all(&mut conn)
        .await
        .unwrap_or_default()
}

#[tokio::test]
async fn replica_promotion_and_rewind_failback() {
    let env = Env::new();
    let (east_port, west_port) = (free_port().unwrap(), free_port().unwrap());

    // east: the writer, waiting for west on every commit
    let east = env.track(
        &Cluster::init(
            &env.bin,
            &env.path("east"),
            &InitOptions {
                port: east_port,
                synchronous_standby_names: Some("west".into()),
                fsync: false,
                ..InitOptions::default()
            },
        )
        .unwrap(),
    );
    east.start(T).unwrap();
    let east_url = east.url("postgres");

    // west: a hot standby streaming from east through slot "west"
    let west = env.track(
        &Cluster::basebackup(
            &env.bin,
            HOST,
            east_port,
            &env.path("west"),
            &ReplicaOptions {
                port: west_port,
                slot: "west".into(),
                application_name: "west".into(),
            },
        )
        .unwrap(),
    );
    assert!(west.is_standby());
    assert_eq!(
        Cluster::open(&env.bin, west.data_dir()).unwrap().port(),
        west_port
    );
    west.start(T).unwrap();
    let west_url = west.url("postgres");
    wait_ready(&west_url, T).await.unwrap();
    assert!(is_in_recovery(&west_url).await.unwrap());
    assert!(!is_in_recovery(&east_url).await.unwrap());

    eventually("west streaming as sync standby", T, || async {
        replication_status(&east_url)
            .await
            .unwrap()
            .iter()
            .any(|r| {
                r.application_name == "west" && r.state == "streaming" && r.sync_state == "sync"
            })
    })
    .await;

    // a commit on east is acknowledged only once west has it, and west can read it
    exec(
        &east_url,
        "CREATE TABLE payments (id serial PRIMARY KEY, note text NOT NULL);
         INSERT INTO payments (note) VALUES ('rent march');",
    )
    .await;
    eventually("row replayed on west", T, || async {
        notes(&west_url).await == ["rent march"]
    })
    .await;
    eventually("west caught up (LSNs equal)", T, || async {
        let primary = current_wal_lsn(&east_url).await.unwrap();
        let replayed = last_replay_lsn(&west_url).await.unwrap().unwrap();
        lsn_diff_bytes(&primary, &replayed).unwrap() == 0
    })
    .await;
    let rows = replication_status(&east_url).await.unwrap();
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert!(
        rows[0].sent_lsn.is_some() && rows[0].replay_lsn.is_some(),
        "{rows:?}"
    );
    assert!(rows[0].replay_lag_bytes.unwrap() >= 0, "{rows:?}");

    // failover: promote west (idempotent), it takes writes at once (no sync standby)
    west.promote(T).unwrap();
    west.promote(T).unwrap();
    assert!(!west.is_standby());
    assert!(!is_in_recovery(&west_url).await.unwrap());
    exec(
        &west_url,
        "INSERT INTO payments (note) VALUES ('rent april (west)')",
    )
    .await;

    // east, cut off, still commits locally (its sync standby is gone) and then crashes:
    // its history diverges from west's, which is what pg_rewind undoes
    exec(
        &east_url,
        "SET synchronous_commit = local; INSERT INTO payments (note) VALUES ('diverged');",
    )
    .await;
    east.kill(Signal::SIGKILL).unwrap();
    eventually("east down", T, || async {
        east.status().unwrap() == Status::Stopped
    })
    .await;

    // failback: rewind east from west and make it west's standby
    assert!(ensure_physical_slot(&west_url, "east").await.unwrap());
    assert!(!ensure_physical_slot(&west_url, "east").await.unwrap());
    east.rewind(HOST, west_port).unwrap();
    assert!(
        east.is_standby(),
        "rewind leaves a standby-to-be, never a second primary"
    );
    assert_eq!(
        Cluster::open(&env.bin, east.data_dir()).unwrap().port(),
        east_port,
        "east keeps its own configuration after pg_rewind"
    );
    east.set_primary(HOST, west_port, "east", "east").unwrap();
    east.start(T).unwrap();
    wait_ready(&east_url, T).await.unwrap();
    assert!(is_in_recovery(&east_url).await.unwrap());

    exec(
        &west_url,
        "INSERT INTO payments (note) VALUES ('rent may (west)')",
    )
    .await;
    eventually("east follows west", T, || async {
        notes(&east_url).await == ["rent march", "rent april (west)", "rent may (west)"]
    })
    .await;
    eventually("east streaming from west", T, || async {
        replication_status(&west_url)
            .await
            .unwrap()
            .iter()
            .any(|r| r.application_name == "east" && r.state == "streaming")
    })
    .await;

    // a running primary cannot be turned into a standby; a running standby is re-pointed
    assert!(matches!(
        west.set_primary(HOST, east_port, "west", "west"),
        Err(PgError::Running { .. })
    ));
    east.set_primary(HOST, west_port, "east", "east").unwrap();
    assert!(matches!(
        east.rewind(HOST, west_port),
        Err(PgError::Running { .. })
    ));

    east.stop(StopMode::Fast, T).unwrap();
    west.stop(StopMode::Fast, T).unwrap();
}

#[tokio::test]
async fn rewind_against_unrelated_cluster_is_impossible() {
    let env = Env::new();
    let (a_port, b_port) = (free_port().unwrap(), free_port().unwrap());
    let opts = |port| InitOptions {
        port,
        fsync: false,
        ..InitOptions::default()
    };
    let a = env.track(&Cluster::init(&env.bin, &env.path("a"), &opts(a_port)).unwrap());
    let b = env.track(&Cluster::init(&env.bin, &env.path("b"), &opts(b_port)).unwrap());
    b.start(T).unwrap();
    a.start(T).unwrap();
    a.stop(StopMode::Fast, T).unwrap();
    let err = a.rewind(HOST, b_port).unwrap_err();
    assert!(matches!(err, PgError::RewindImpossible { .. }), "{err}");
    assert!(err.to_string().contains("basebackup"), "{err}");
    // an unreachable source is not "impossible", just an error to retry
    b.stop(StopMode::Fast, T).unwrap();
    let err = a.rewind(HOST, b_port).unwrap_err();
    assert!(!matches!(err, PgError::RewindImpossible { .. }), "{err}");
    // basebackup refuses a non-empty target
    let err = Cluster::basebackup(
        &env.bin,
        HOST,
        b_port,
        a.data_dir(),
        &ReplicaOptions {
            port: a_port,
            slot: "x".into(),
            application_name: "x".into(),
        },
    )
    .unwrap_err();
    assert!(matches!(err, PgError::DataDirNotEmpty(_)), "{err}");
}
