//! Read-only regions (a fenced writer, a real streaming replica) and personal data in logs.

mod common;

use common::*;
use serde_json::json;

#[tokio::test]
async fn phone_and_national_id_never_reach_the_logs() {
    let app = TestApp::spawn().await;
    let phone = "0798123456";
    let bad_phone = "0898123456";
    let national_id = "31415926";
    // Fails validation on the phone, with a national ID in the same body.
    let (s, v) = app
        .post(
            "landlord-a",
            "/v1/tenants",
            json!({"name": "Achieng Odhiambo", "phone": bad_phone, "national_id": national_id}),
        )
        .await;
    assert_eq!(s, 400, "{v}");
    // Fails validation on the national ID, with a valid phone in the same body.
    let (s, _) = app
        .post(
            "landlord-a",
            "/v1/tenants",
            json!({"name": "Achieng Odhiambo", "phone": phone, "national_id": "3141-5926!"}),
        )
        .await;
    assert_eq!(s, 400);
    // Wrong JSON type for the phone (serde would quote the value in its message).
    let (s, _) = app
        .post(
            "landlord-a",
            "/v1/tenants",
            json!({"name": "Achieng Odhiambo", "phone": 798123456u64}),
        )
        .await;
    assert_eq!(s, 400);
    let (s, _) = app
        .post(
            "landlord-a",
            "/v1/tenants",
            json!({"name": "Achieng Odhiambo", "phone": phone, "national_id": national_id}),
        )
        .await;
    assert_eq!(s, 201);
    // The log lines exist (so this test can see a leak) …
    let logs = app.logs_containing(&["/v1/tenants", "400"]).await;
    // … and hold none of the personal data, in any normalisation.
    for secret in [
        phone,
        bad_phone,
        national_id,
        "798123456",
        "254798123456",
        "898123456",
        "3141-5926",
    ] {
        assert!(!logs.contains(secret), "log leaks `{secret}`:\n{logs}");
    }
}

#[tokio::test]
async fn callback_token_never_reaches_the_logs() {
    let app = TestApp::spawn().await;
    rental(&app, "landlord-a", "L-1", 5_000).await;
    let token = app.callback_token("landlord-a").await;
    let (s, _) = app
        .post_raw(
            &format!("/v1/callbacks/c2b/{token}/confirmation"),
            &c2b("SBKLOG1", "5.00", "L-1").to_string(),
        )
        .await;
    assert_eq!(s, 200);
    let logs = app
        .logs_containing(&["/v1/callbacks/c2b/{token}/confirmation"])
        .await;
    assert!(!logs.contains(&token), "token leaked:\n{logs}");
}

#[tokio::test]
async fn writes_against_a_fenced_read_only_database_are_503_naming_the_writer() {
    let db_url = fresh_db().await;
    // Start normally (migrations need a writable database), create data, then fence it the
    // way pmctl does: read-only by default for every new session.
    let app = TestApp::spawn_on(&db_url, &[]).await;
    rental(&app, "landlord-a", "M-1", 5_000).await;
    let db = app.db().await;
    db.exec("INSERT INTO region_topology (writer_region, epoch) VALUES ('west', 2)")
        .await;
    let dbname = db_url.rsplit('/').next().unwrap().to_string();
    db.exec(&format!(
        "ALTER DATABASE \"{dbname}\" SET default_transaction_read_only = on"
    ))
    .await;
    drop(app);
    let app = TestApp::spawn_on(&db_url, &[]).await;
    let before = app.snapshot().await;

    let r = app
        .http
        .post(app.url("/v1/properties"))
        .bearer_auth(token("landlord-a"))
        .json(&json!({"name": "n", "county": "c", "address": "a"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 503);
    assert_eq!(r.headers()["pm-writer-region"], "west");
    assert_eq!(r.headers()["content-type"], "application/problem+json");
    // Reads still work.
    let (s, _) = app.get("landlord-a", "/v1/properties").await;
    assert_eq!(s, 200);
    let (s, ready) = app.get("landlord-a", "/ready").await;
    assert_eq!(s, 200);
    assert_eq!(ready["db_role"], "replica");
    assert_eq!(ready["fenced"], true);
    assert_eq!(ready["writer_region"], "west");
    assert_eq!(app.snapshot().await, before);
}

#[tokio::test]
async fn writes_against_a_streaming_replica_are_503() {
    use pgcluster::{Cluster, InitOptions, PgBin, ReplicaOptions, StopMode};
    use std::time::Duration;
    let bin = PgBin::locate().expect("PostgreSQL binaries");
    let dir = tempfile::Builder::new()
        .prefix("pm-api-replica")
        .tempdir()
        .unwrap();
    let free = || {
        std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port()
    };
    let (p1, p2) = (free(), free());
    let primary_dir = dir.path().join("primary");
    let replica_dir = dir.path().join("replica");
    bin.prepare_path_for_postgres(dir.path()).unwrap();
    let primary = Cluster::init(
        &bin,
        &primary_dir,
        &InitOptions {
            port: p1,
            synchronous_standby_names: None,
            settings: vec![],
            fsync: false,
            superuser_password: None,
        },
    )
    .unwrap();
    struct Stop(Vec<Cluster>);
    impl Drop for Stop {
        fn drop(&mut self) {
            for c in &self.0 {
                let _ = c.stop(StopMode::Immediate, Duration::from_secs(20));
            }
        }
    }
    let mut guard = Stop(vec![primary.clone()]);
    primary.start(Duration::from_secs(30)).unwrap();
    // Migrate on the primary through a first API process, then stand up the replica.
    let url = primary.url("postgres");
    {
        let _a = TestApp::spawn_on(&url, &[]).await;
    }
    let replica = Cluster::basebackup(
        &bin,
        "127.0.0.1",
        p1,
        &replica_dir,
        &ReplicaOptions {
            port: p2,
            slot: "west".into(),
            application_name: "west".into(),
        },
    )
    .unwrap();
    guard.0.push(replica.clone());
    replica.start(Duration::from_secs(30)).unwrap();
    assert!(pgcluster::is_in_recovery(&replica.url("postgres"))
        .await
        .unwrap());

    let app = TestApp::spawn_on(&replica.url("postgres"), &[]).await;
    let (s, v) = app
        .post(
            "landlord-a",
            "/v1/properties",
            json!({"name": "n", "county": "c", "address": "a"}),
        )
        .await;
    assert_eq!(s, 503, "{v}");
    let (s, ready) = app.get("landlord-a", "/ready").await;
    assert_eq!(s, 200);
    assert_eq!(ready["db_role"], "replica");
    drop(app);
    drop(guard);
}
