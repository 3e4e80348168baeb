//! Issue 12, defect 2: after a partition failover the former writer (east) has WAL west
//! never received. `dev up` must still start everything else — the writer and the front
//! door — report east with the command that rebuilds it, and that command must work.

mod common;

use common::*;
use serde_json::{json, Value};
use std::time::Duration;

fn net_primary(st: &TestStack) -> String {
    let r = st.must(&["dev", "status", "-o", "json"]).json();
    r["net"]["primary"].as_str().unwrap_or("?").to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn partition_failover_then_restart_reports_and_rebuilds_the_diverged_region() {
    let mut st = TestStack::new(27000, "");
    st.up();
    let lease = seed_lease(&st, "landlord-1").await;
    let token = st.token("landlord-1");
    let http = http();
    let pay = |key: &'static str| {
        let rq = http
            .post(format!("{}/v1/payments", st.frontdoor()))
            .bearer_auth(&token)
            .header("Idempotency-Key", key)
            .json(&json!({"lease_id": lease, "amount": 1000, "method": "cash"}));
        async move {
            let r = rq.send().await.unwrap();
            let region = r.headers()["x-pm-region"].to_str().unwrap().to_string();
            assert_eq!(r.status().as_u16(), 201);
            let v: Value = r.json().await.unwrap();
            (v["id"].as_str().unwrap().to_string(), region)
        }
    };
    let (before, region) = pay("before-partition").await;
    assert_eq!(region, "east");

    // The reproduction, as written in the issue.
    st.must(&["dev", "link", "repl-to-east", "down"]);
    st.must(&["failover", "--to", "west", "--yes"]);
    st.must(&["dev", "link", "repl-to-east", "up"]);
    let r = st.run(&["dev", "up"]);
    assert_eq!(r.code, 1, "east cannot follow west: {r:?}");
    assert!(
        r.stderr.contains("postgres-east") && r.stderr.contains("diverged"),
        "{r:?}"
    );
    assert!(r.stderr.contains("fix: pmctl dev rebuild east"), "{r:?}");
    st.must(&["dev", "down", "--keep-data"]);
    let r = st.run(&["dev", "up", "-o", "json"]);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(
        r.stderr.contains("not a child of this server's history"),
        "{r:?}"
    );
    let report = r.json();
    assert_eq!(report["outcome"], "incomplete", "{report}");
    let failures = report["failures"].as_array().unwrap();
    assert_eq!(failures.len(), 1, "only east fails: {report}");
    assert_eq!(failures[0]["component"], "postgres-east");
    assert_eq!(failures[0]["fix"], "pmctl dev rebuild east");
    // Everything else was started: the writer, both APIs and the front door.
    let started: Vec<&str> = report["started"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    for c in ["postgres-west", "net", "api-east", "api-west"] {
        assert!(started.contains(&c), "{c} not started: {report}");
    }
    // … and writes go through the front door to west.
    let landed = eventually(Duration::from_secs(10), || {
        let rq = http
            .post(format!("{}/v1/payments", st.frontdoor()))
            .bearer_auth(&token)
            .header("Idempotency-Key", "during-east-down")
            .json(&json!({"lease_id": lease, "amount": 1000, "method": "cash"}));
        async move {
            let r = rq.send().await.ok()?;
            (r.status().as_u16() == 201).then(|| r.headers()["x-pm-region"].clone())
        }
    })
    .await;
    assert_eq!(landed.unwrap(), "west");

    // The writer is the one that refuses to be rebuilt.
    let r = st.run(&["dev", "rebuild", "west"]);
    assert_eq!(r.code, 3, "{r:?}");
    assert!(r.stderr.contains("west is the writer"), "{r:?}");

    // The command `dev up` named repairs east.
    let r = st.must(&["dev", "rebuild", "east"]);
    assert!(
        r.stdout.contains("east rebuilt") && r.stdout.contains("streams from west"),
        "{r:?}"
    );
    let (code, s) = status(&st);
    assert_eq!(code, 0, "status after rebuild: {s}");
    assert_eq!(role(&s, "west"), "writer");
    assert_eq!(role(&s, "east"), "replica");
    let (after, region) = pay("after-rebuild").await;
    assert_eq!(region, "west");
    let acked = vec![before, after];
    assert!(missing_payments(&st, "west", &acked).await.is_empty());
    let on_east = eventually(Duration::from_secs(10), || {
        let (st, acked) = (&st, acked.clone());
        async move {
            missing_payments(st, "east", &acked)
                .await
                .is_empty()
                .then_some(())
        }
    })
    .await;
    assert!(on_east.is_some(), "east did not replay the payments");

    // It restarts like any replica now, and `dev up` names the real writer.
    st.must(&["dev", "down", "--keep-data"]);
    // A re-created net process starts with the writer the databases record as PRIMARY.
    std::fs::remove_file(st.state.join("net.json")).unwrap();
    std::fs::remove_file(st.state.join("net-state.json")).unwrap();
    let r = st.must(&["dev", "up"]);
    assert!(r.stdout.contains("(west writer, east replica"), "{r:?}");
    assert_eq!(net_primary(&st), "west");
    let (code, s) = status(&st);
    assert_eq!(code, 0, "{s}");
}
