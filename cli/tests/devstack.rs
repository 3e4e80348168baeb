//! `pmctl dev`: the local two-region stack, driven through the built binary.

mod common;

use common::*;
use serde_json::json;
use std::time::{Duration, Instant};

#[tokio::test(flavor = "multi_thread")]
async fn dev_up_replicates_is_idempotent_and_down_leaves_nothing() {
    let mut st = TestStack::new(23000, "");
    let r = st.up();
    assert!(r.stdout.contains(&st.frontdoor()), "{r:?}");
    let token = st.token("landlord-1");
    let http = http();

    // A payment posted through the front door is readable from west's API within 1 s.
    let lease = seed_lease(&st, "landlord-1").await;
    let resp = http
        .post(format!("{}/v1/payments", st.frontdoor()))
        .bearer_auth(&token)
        .header("Idempotency-Key", "first-rent")
        .json(&json!({"lease_id": lease, "amount": 20000, "method": "cash"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 201);
    assert_eq!(resp.headers()["x-pm-region"], "east");
    let id = resp.json::<serde_json::Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let start = Instant::now();
    let seen = eventually(Duration::from_secs(1), || {
        let (http, url, token) = (
            http.clone(),
            format!("{}/v1/payments/{id}", st.api("west")),
            token.clone(),
        );
        async move {
            let r = http.get(url).bearer_auth(token).send().await.ok()?;
            (r.status().as_u16() == 200).then_some(())
        }
    })
    .await;
    assert!(
        seen.is_some(),
        "payment not on west after {:?}",
        start.elapsed()
    );

    // `pmctl load`: open-loop traffic against this stack.
    let l = st
        .must(&["load", "--rps", "20", "--duration", "2s", "-o", "json"])
        .json();
    let n = l["requests"].as_u64().unwrap();
    assert!(
        (38..=42).contains(&n),
        "open loop sent {n} requests in 2 s at 20 rps"
    );
    assert!(l["acknowledged_writes"].as_u64().unwrap() > 20, "{l}");
    assert_eq!(l["ok"], l["requests"], "{l}");

    // Status: east writer, west streaming in sync mode.
    let s = st.must(&["dev", "status", "-o", "json"]).json();
    let comp = |name: &str| {
        s["components"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == name)
            .unwrap()
            .clone()
    };
    assert_eq!(comp("postgres-east")["db_role"], "writer");
    assert_eq!(comp("postgres-west")["db_role"], "replica");
    let repl = &comp("postgres-east")["replicas"][0];
    assert_eq!(repl["application_name"], "west");
    assert_eq!(repl["state"], "streaming");
    assert_eq!(repl["sync_state"], "sync");
    assert_eq!(comp("api-west")["db_role"], "replica");

    // Up again: a no-op that says so, same processes.
    let pids = st.pids();
    assert_eq!(pids.len(), 5, "{pids:?}");
    let again = st.must(&["dev", "up"]);
    assert!(again.stderr.contains("nothing to do"), "{again:?}");
    assert_eq!(st.pids(), pids);

    // Down: every process gone, every port free, state removed.
    st.must(&["dev", "down"]);
    st.up = false;
    for p in &pids {
        assert!(!alive(*p), "pid {p} survived dev down");
    }
    for port in st.ports() {
        assert!(!port_bound(port), "port {port} still bound");
    }
    assert!(!st.state.exists());
}

#[tokio::test(flavor = "multi_thread")]
async fn front_door_fails_over_fails_open_and_obeys_the_admin_api() {
    let mut st = TestStack::new(23100, "");
    st.up();
    let http = http();
    let region_of = |url: String| {
        let http = http.clone();
        async move {
            let r = http.get(url).send().await.ok()?;
            Some((
                r.status().as_u16(),
                r.headers().get("x-pm-region")?.to_str().ok()?.to_string(),
            ))
        }
    };
    assert_eq!(
        region_of(format!("{}/ready", st.frontdoor()))
            .await
            .unwrap()
            .1,
        "east"
    );

    // Kill east's API: traffic moves to west once the health check has failed 3 times
    // (interval 200 ms → ~600–800 ms; the bound here is loose on purpose).
    let east_api: u32 = std::fs::read_to_string(st.state.join("run/api-east.pid"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(east_api as i32),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    let start = Instant::now();
    let moved = eventually(Duration::from_secs(5), || {
        let f = region_of(format!("{}/ready", st.frontdoor()));
        async move { f.await.filter(|(_, r)| r == "west") }
    })
    .await;
    assert!(moved.is_some(), "traffic did not move to west");
    assert!(
        start.elapsed() < Duration::from_secs(3),
        "failover took {:?}",
        start.elapsed()
    );

    // Both down: Route 53 fails open to PRIMARY (east), which cannot answer → 502 from east.
    let west_api: u32 = std::fs::read_to_string(st.state.join("run/api-west.pid"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(west_api as i32),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    let open = eventually(Duration::from_secs(5), || {
        let f = region_of(format!("{}/ready", st.frontdoor()));
        async move { f.await.filter(|(s, r)| r == "east" && *s == 502) }
    })
    .await;
    assert!(open.is_some(), "both unhealthy did not route to PRIMARY");

    // `dev up` repairs the half-dead stack.
    let r = st.must(&["dev", "up"]);
    assert!(
        r.stderr.contains("api-east") && r.stderr.contains("api-west"),
        "{r:?}"
    );

    // Admin API: refuses a missing or wrong token; UPSERT of PRIMARY applies to the next request.
    let put = |tok: Option<String>| {
        let mut rq = http
            .put(format!("{}/admin/primary", st.admin()))
            .json(&json!({"region": "west"}));
        if let Some(t) = tok {
            rq = rq.bearer_auth(t);
        }
        async move { rq.send().await.unwrap().status().as_u16() }
    };
    assert_eq!(put(None).await, 401);
    assert_eq!(put(Some("wrong".into())).await, 401);
    // Wait until west is healthy again, then move PRIMARY there.
    let healthy = eventually(Duration::from_secs(5), || {
        let f = region_of(format!("{}/ready", st.api("west")));
        async move { f.await.filter(|(s, _)| *s == 200) }
    });
    let _ = healthy.await;
    assert_eq!(put(Some(st.admin_token())).await, 200);
    let served = region_of(format!("{}/ready", st.frontdoor()))
        .await
        .unwrap();
    assert_eq!(served.1, "west");
}

#[tokio::test(flavor = "multi_thread")]
async fn replication_link_down_blocks_sync_commits_and_up_resumes() {
    let mut st = TestStack::new(23200, "");
    st.up();
    let east = st.db_url("east");
    let west = st.db_url("west");
    sql_one::<i32>(&east, "SELECT 1").await.unwrap();
    let exec = |url: String, q: &'static str| async move {
        use sqlx::Connection;
        let mut c = sqlx::PgConnection::connect(&url).await.unwrap();
        sqlx::query(q).execute(&mut c).await.map(|_| ())
    };
    exec(east.clone(), "CREATE TABLE IF NOT EXISTS probe (v int)")
        .await
        .unwrap();

    let r = st.must(&["dev", "link", "repl-to-east", "down"]);
    assert!(r.stderr.contains("repl-to-east is now down"), "{r:?}");
    // A synchronous commit on east cannot be acknowledged without west.
    let blocked = tokio::spawn(exec(east.clone(), "INSERT INTO probe VALUES (1)"));
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(
        !blocked.is_finished(),
        "a commit was acknowledged while west was cut off"
    );
    // WAL does not flow: west is behind east.
    let lag = |east: String, west: String| async move {
        let e: String = sql_one(&east, "SELECT pg_current_wal_lsn()::text")
            .await
            .ok()?;
        let w: Option<String> = sql_one(&west, "SELECT pg_last_wal_replay_lsn()::text")
            .await
            .ok()?;
        let parse = |s: &str| {
            let (a, b) = s.split_once('/').unwrap();
            (u64::from_str_radix(a, 16).unwrap() << 32) | u64::from_str_radix(b, 16).unwrap()
        };
        Some(parse(&e) as i64 - parse(&w?) as i64)
    };
    assert!(
        lag(east.clone(), west.clone()).await.unwrap() > 0,
        "west is not behind"
    );
    let n: i64 = sql_one(&west, "SELECT count(*) FROM probe").await.unwrap();
    assert_eq!(n, 0);

    st.must(&["dev", "link", "repl-to-east", "up"]);
    // The walreceiver reconnects (within `wal_retrieve_retry_interval`, 1 s), the commit is acknowledged, lag → 0.
    tokio::time::timeout(Duration::from_secs(30), blocked)
        .await
        .expect("commit still blocked after link up")
        .unwrap()
        .unwrap();
    let caught_up = eventually(Duration::from_secs(30), || {
        let f = lag(east.clone(), west.clone());
        async move { f.await.filter(|l| *l == 0) }
    })
    .await;
    assert!(caught_up.is_some(), "lag did not return to 0");
    let n: i64 = sql_one(&west, "SELECT count(*) FROM probe").await.unwrap();
    assert_eq!(n, 1);
}

#[test]
fn bad_invocations_are_clear_and_change_nothing() {
    let st = TestStack::new(23300, "");
    // No stack in the state dir: invalid input (2), for every command that needs one.
    for args in [
        &["dev", "status"][..],
        &["dev", "down"],
        &["dev", "logs"],
        &["dev", "token"],
        &["dev", "link", "repl-to-east", "down"],
        &["dev", "rebuild", "east"],
    ] {
        let r = st.run(args);
        assert_eq!(r.code, 2, "{args:?}: {r:?}");
        assert!(
            r.stderr.contains("no stack in") && r.stderr.contains("dev up"),
            "{r:?}"
        );
    }
    let r = st.run(&["dev", "rebuild", "north"]);
    assert_eq!(r.code, 2, "{r:?}");
    assert!(r.stderr.contains("north"), "{r:?}");
    // A state dir that is a file.
    let file = st.dir.path().join("not-a-dir");
    std::fs::write(&file, "x").unwrap();
    let out = std::process::Command::new(pmctl_bin())
        .args(["dev", "up", "--state-dir"])
        .arg(&file)
        .arg("--config")
        .arg(&st.config)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("not a directory"), "{stderr}");
    let r = st.run(&["dev", "up", "--port-base", "80"]);
    assert_eq!(r.code, 2, "{r:?}");
    assert!(r.stderr.contains("port base"), "{r:?}");
    let r = st.run(&["--env", "nowhere", "dev", "status"]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("unknown environment `nowhere`"), "{r:?}");
    assert!(!st.state.exists(), "a refused command created state");

    // A busy port is named, and nothing is started.
    let _hold = std::net::TcpListener::bind(("127.0.0.1", 23302)).unwrap();
    let r = st.run(&["dev", "up"]);
    assert_ne!(r.code, 0);
    assert!(
        r.stderr.contains("23302") && r.stderr.contains("API west"),
        "{r:?}"
    );
}
