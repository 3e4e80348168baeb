//! A former primary that wrote WAL its promoted successor never received cannot follow it:
//! running, it never streams; restarted, it refuses to start. `timeline_divergence` says
//! so in PostgreSQL's words, and pg_rewind repairs it.

mod common;

use std::time::Duration;

use common::{eventually, Env};
use pgcluster::{
    ensure_physical_slot, free_port, replication_status, wait_ready, Cluster, InitOptions, PgError,
    ReplicaOptions, StopMode,
};
use sqlx::{Connection, PgConnection};

const T: Duration = Duration::from_secs(30);
const HOST: &str = "127.0.0.1";

async fn exec(url: &str, sql: &str) {
    let mut conn = PgConnection::connect(url).await.expect("connect");
    sqlx::raw_sql(sql)
        .execute(&mut conn)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
}

#[tokio::test]
async fn diverged_former_primary_is_diagnosed_and_rewound() {
    let env = Env::new();
    let (east_port, west_port) = (free_port().unwrap(), free_port().unwrap());
    let east = env.track(
        &Cluster::init(
            &env.bin,
            &env.path("east"),
            &InitOptions {
                port: east_port,
                fsync: false,
                ..InitOptions::default()
            },
        )
        .unwrap(),
    );
    east.start(T).unwrap();
    let east_url = east.url("postgres");
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
    west.start(T).unwrap();
    let west_url = west.url("postgres");
    eventually("west streaming", T, || async {
        replication_status(&east_url)
            .await
            .unwrap()
            .iter()
            .any(|r| r.application_name == "west" && r.state == "streaming")
    })
    .await;
    assert_eq!(west.timeline_divergence(), None);

    // West is promoted while east goes on writing (a partition), then east is stopped.
    west.promote(T).unwrap();
    exec(
        &east_url,
        "CREATE TABLE lost (id int); INSERT INTO lost VALUES (1);",
    )
    .await;
    east.stop(StopMode::Fast, T).unwrap();
    assert_eq!(east.timeline_divergence(), None, "no replication yet");

    // As a standby of west it starts (it is consistent) but cannot follow.
    ensure_physical_slot(&west_url, "east").await.unwrap();
    east.set_primary(HOST, west_port, "east", "east").unwrap();
    east.start(T).unwrap();
    eventually("east reports the fork", T, || async {
        east.timeline_divergence()
            .is_some_and(|why| why.contains("forked off current database system timeline"))
    })
    .await;
    let why = east.timeline_divergence().unwrap();
    assert!(why.starts_with("LOG:"), "no log line prefix: {why}");

    // Restarted, it refuses to start at all.
    east.stop(StopMode::Fast, T).unwrap();
    let err = east.start(T).unwrap_err();
    assert!(matches!(err, PgError::StartFailed { .. }), "{err}");
    let why = east.timeline_divergence().unwrap();
    assert!(
        why.contains("is not a child of this server's history") && why.contains("DETAIL:"),
        "{why}"
    );

    // pg_rewind puts it on west's timeline: it streams and the diagnosis clears.
    east.rewind(HOST, west_port).unwrap();
    east.set_primary(HOST, west_port, "east", "east").unwrap();
    east.start(T).unwrap();
    wait_ready(&east_url, T).await.unwrap();
    eventually("east streaming from west", T, || async {
        replication_status(&west_url)
            .await
            .unwrap()
            .iter()
            .any(|r| r.application_name == "east" && r.state == "streaming")
    })
    .await;
    eventually("diagnosis cleared", T, || async {
        east.timeline_divergence().is_none()
    })
    .await;
}
