//! Password authentication: a cluster created with a superuser password refuses connections
//! without it (normal and replication), while every program pgcluster runs — pg_basebackup,
//! the replica's WAL receiver, psql, pg_rewind — authenticates through the password file.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

use common::{eventually, Env};
use pgcluster::{
    ensure_physical_slot, free_port, passfile_for, read_password, replication_status, wait_ready,
    write_passfile, Cluster, InitOptions, ReplicaOptions, Signal, Status,
};
use sqlx::{Connection, PgConnection};

const T: Duration = Duration::from_secs(30);
const HOST: &str = "127.0.0.1";
const PASSWORD: &str = "s3cret:with\\odd chars";

async fn connect_err(url: &str) -> String {
    match PgConnection::connect(url).await {
        Ok(_) => panic!("{url} connected"),
        Err(e) => e.to_string(),
    }
}

#[tokio::test]
async fn password_cluster_refuses_strangers_and_replicates_with_its_passfile() {
    let env = Env::new();
    let (east_port, west_port) = (free_port().unwrap(), free_port().unwrap());
    let east = env.track(
        &Cluster::init(
            &env.bin,
            &env.path("east"),
            &InitOptions {
                port: east_port,
                fsync: false,
                superuser_password: Some(PASSWORD.into()),
                ..InitOptions::default()
            },
        )
        .unwrap(),
    );
    // The password file: beside the data dir, 0600, owned by whoever runs PostgreSQL.
    let passfile = passfile_for(east.data_dir());
    assert_eq!(east.passfile(), passfile);
    let meta = std::fs::metadata(&passfile).unwrap();
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    assert_eq!(
        read_password(east.data_dir()).unwrap().as_deref(),
        Some(PASSWORD)
    );
    assert!(
        !env.path("east.pwfile").exists(),
        "initdb's password file is removed"
    );
    let hba = std::fs::read_to_string(east.data_dir().join("pg_hba.conf")).unwrap();
    assert!(!hba.contains("trust"), "{hba}");

    east.start(T).unwrap();
    let east_url = east.url("postgres");
    assert!(
        east_url.contains(":s3cret%3Awith%5Codd%20chars@"),
        "{east_url}"
    );
    wait_ready(&east_url, T).await.unwrap();

    // Without the password, or with a wrong one: refused.
    let anon = format!("postgres://postgres@{HOST}:{east_port}/postgres");
    let e = connect_err(&anon).await;
    assert!(e.contains("password"), "{e}");
    let wrong = format!("postgres://postgres:wrong@{HOST}:{east_port}/postgres");
    let e = connect_err(&wrong).await;
    assert!(e.contains("password authentication failed"), "{e}");
    // A replication connection without the password is refused too (psql speaks it).
    let out = env
        .bin
        .command("psql")
        .arg(format!(
            "host={HOST} port={east_port} user=postgres dbname=postgres replication=database"
        ))
        .args(["-w", "-X", "-c", "IDENTIFY_SYSTEM"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("password"), "{stderr}");

    // A replica created through pg_basebackup with the password file streams.
    write_passfile(&env.bin, &env.path("west"), PASSWORD).unwrap();
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
    let auto = std::fs::read_to_string(west.data_dir().join("postgresql.auto.conf")).unwrap();
    assert!(
        !auto.contains("s3cret"),
        "no password in the replica's config: {auto}"
    );
    assert!(auto.contains("passfile="), "{auto}");
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

    // Failover and pg_rewind of the old primary authenticate the same way.
    west.promote(T).unwrap();
    east.kill(Signal::SIGKILL).unwrap();
    eventually("east down", T, || async {
        east.status().unwrap() == Status::Stopped
    })
    .await;
    assert!(ensure_physical_slot(&west_url, "east").await.unwrap());
    east.rewind(HOST, west_port).unwrap();
    east.set_primary(HOST, west_port, "east", "east").unwrap();
    east.start(T).unwrap();
    eventually("east streaming from west", T, || async {
        replication_status(&west_url)
            .await
            .unwrap()
            .iter()
            .any(|r| r.application_name == "east" && r.state == "streaming")
    })
    .await;
    for c in [&east, &west] {
        let log = std::fs::read_to_string(c.log_file()).unwrap();
        assert!(
            !log.contains("s3cret"),
            "password in {}",
            c.log_file().display()
        );
    }
}
