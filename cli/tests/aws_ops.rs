//! The `aws` environment end to end: the built `pmctl` against its own patched moto per
//! test (tests/common/aws_world.rs seeds it with the real SDK and imports the recorded
//! `terraform output -json`), for `env import`, `status`, `switchover`, `failover`,
//! `failback`, crash safety with the shared S3 lock and journal, and AWS's errors.

#[path = "common/aws_world.rs"]
mod aws_world;
#[path = "common/moto.rs"]
mod moto;

use aws_sdk_cloudwatch::types::StateValue;
use aws_world::{World, BUCKET, PREFIX};
use serde_json::Value;

fn steps(plan: &Value) -> Vec<String> {
    plan["plan"]["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["step"].as_str().unwrap().to_string())
        .collect()
}

fn events(journal: &[Value], event: &str) -> Vec<Value> {
    journal
        .iter()
        .filter(|e| e["event"] == event)
        .cloned()
        .collect()
}

// --- 1. import + status --------------------------------------------------------------

#[tokio::test(flavor = "multi_thread")]
async fn import_writes_the_section_and_status_reads_the_environment() {
    let w = World::seeded().await;
    let before = std::fs::read_to_string(&w.config).unwrap();
    let bad = w.dir.path().join("bad.json");
    std::fs::write(
        &bad,
        r#"{"pmctl_environment": {"value": {"kind": "aws", "name": "prod", "regions": []}}}"#,
    )
    .unwrap();
    let r = w.pmctl(&["env", "import", bad.to_str().unwrap()]).await;
    assert_eq!(r.code, 2, "{r:?}");
    assert!(r.stderr.contains("nothing was written"), "{r:?}");
    assert_eq!(std::fs::read_to_string(&w.config).unwrap(), before);

    let r = w.pmctl(&["env", "import", &w.output_file()]).await;
    assert_eq!(r.code, 0, "{r:?}");
    assert!(r.stdout.contains("environment prod (aws) updated"), "{r:?}");
    let text = std::fs::read_to_string(&w.config).unwrap();
    // The operator's own settings, the other environment and the comment are kept.
    for kept in [
        "# The operator's own settings",
        "[environments.local]",
        "max_lag_ms = 1000",
        "poll_interval_ms = 100",
        &w.api_urls["us-east-1"],
    ] {
        assert!(text.contains(kept), "{kept} lost:\n{text}");
    }
    assert!(text.contains("[environments.prod.terraform]"), "{text}");
    assert!(
        text.contains("[[environments.prod.terraform.regions]]"),
        "{text}"
    );
    // Importing again changes nothing; from stdin too.
    let r = w
        .pmctl(&["env", "import", &w.output_file(), "-o", "json"])
        .await;
    assert_eq!(r.json()["action"], "unchanged", "{r:?}");
    assert_eq!(std::fs::read_to_string(&w.config).unwrap(), text);

    let r = w.pmctl(&["status", "-o", "json"]).await;
    assert_eq!(r.code, 0, "{r:?}");
    let s = r.json();
    assert_eq!(s["verdict"]["level"], "OK", "{s:#}");
    let t = &s["topology"];
    assert_eq!(t["rpo"], "async");
    assert_eq!(t["regions"][0]["name"], "us-east-1");
    assert_eq!(t["regions"][0]["db_role"], "writer");
    assert_eq!(t["regions"][1]["db_role"], "replica");
    assert_eq!(t["regions"][1]["streaming"], true);
    assert_eq!(t["regions"][1]["lag_ms"], 200);
    assert_eq!(t["regions"][0]["api_version"], "lambda-1");
    assert_eq!(t["regions"][1]["api_version"], "lambda-1");
    assert_eq!(t["dns"]["primary"], "us-east-1");
    assert_eq!(t["dns"]["routing_to"], "us-east-1");
    assert_eq!(t["alarms"], serde_json::json!([]));

    let r = w.pmctl(&["status"]).await;
    assert_eq!(r.code, 0, "{r:?}");
    for shown in [
        "PRIMARY ◀ serving",
        "streaming lag 200 ms",
        "cluster pm-prod-us-east-2 available",
        "OK",
    ] {
        assert!(r.stdout.contains(shown), "{shown} missing: {r:?}");
    }

    // An alarm fires: DEGRADED (exit 1), the alarm named.
    w.set_alarm("us-east-2", "lambda-errors", StateValue::Alarm)
        .await;
    let r = w.pmctl(&["status"]).await;
    assert_eq!(r.code, 1, "{r:?}");
    assert!(
        r.stdout.contains("DEGRADED") && r.stdout.contains("pm-prod-us-east-2-lambda-errors"),
        "{r:?}"
    );
    w.set_alarm("us-east-2", "lambda-errors", StateValue::Ok)
        .await;

    // The primary's health check fails: Route 53 answers with us-east-2, which is not the
    // writer: DOWN (exit 2).
    w.moto
        .set_health(&w.health_checks["us-east-1"], false)
        .await;
    let r = w.pmctl(&["status", "-o", "json"]).await;
    assert_eq!(r.code, 2, "{r:?}");
    let s = r.json();
    assert_eq!(s["topology"]["dns"]["routing_to"], "us-east-2");
    assert!(
        s["verdict"]["reasons"][0]
            .as_str()
            .unwrap()
            .contains("traffic goes to us-east-2"),
        "{s:#}"
    );
}

// --- 2. switchover, dry run, plan hash -------------------------------------------------

#[tokio::test(flavor = "multi_thread")]
async fn switchover_moves_the_writer_swaps_the_records_and_journals_every_step() {
    let w = World::new().await;
    let before = w.fingerprint().await;
    let r = w
        .pmctl(&["switchover", "--to", "us-east-2", "--dry-run", "-o", "json"])
        .await;
    assert_eq!(r.code, 0, "{r:?}");
    let planned = r.json();
    assert_eq!(
        steps(&planned),
        [
            "switchover-global-cluster",
            "wait-global-writer",
            "set-failover-records",
            "verify-regional-write"
        ]
    );
    assert!(
        planned["preflight"]["refusals"]
            .as_array()
            .unwrap()
            .is_empty(),
        "{planned:#}"
    );
    let hash = planned["plan_hash"].as_str().unwrap().to_string();
    let r = w
        .pmctl(&["switchover", "--to", "us-east-2", "--dry-run"])
        .await;
    for call in [
        "SwitchoverGlobalCluster",
        "DescribeGlobalClusters",
        "ChangeResourceRecordSets",
        &hash,
    ] {
        assert!(
            r.stdout.contains(call),
            "the dry run does not name {call}: {r:?}"
        );
    }
    assert_eq!(w.fingerprint().await, before, "a dry run changed something");

    // A change behind pmctl's back (the records moved in Route 53): the reviewed plan no
    // longer holds.
    w.swap_records_directly("us-east-2").await;
    let r = w
        .pmctl(&[
            "switchover",
            "--to",
            "us-east-2",
            "--plan-hash",
            &hash,
            "--yes",
        ])
        .await;
    assert_eq!(r.code, 3, "{r:?}");
    assert!(r.stderr.contains("the world changed"), "{r:?}");
    assert_eq!(w.writer().await, "us-east-1");
    w.swap_records_directly("us-east-1").await;

    let r = w
        .pmctl(&[
            "switchover",
            "--to",
            "us-east-2",
            "--plan-hash",
            &hash,
            "--yes",
        ])
        .await;
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(w.writer().await, "us-east-2");
    let records = w.records().await;
    assert_eq!(records["us-east-2"], "PRIMARY");
    assert_eq!(records["us-east-1"], "SECONDARY");
    assert_eq!(
        w.writes(),
        ["us-east-2"],
        "the write was verified in the new writer"
    );

    let journal = w.journal().await;
    assert_eq!(events(&journal, "op_started").len(), 1);
    assert_eq!(
        events(&journal, "op_started")[0]["plan_hash"],
        hash.as_str()
    );
    let done: Vec<u64> = events(&journal, "step_done")
        .iter()
        .map(|e| e["step"].as_u64().unwrap())
        .collect();
    assert_eq!(done, [1, 2, 3, 4]);
    assert_eq!(events(&journal, "step_started").len(), 4);
    assert_eq!(events(&journal, "op_finished")[0]["ok"], true);
    assert!(
        w.store_object("lock.json").await.is_none(),
        "the lock was released"
    );

    let r = w.pmctl(&["history", "-o", "json"]).await;
    assert_eq!(r.json()[0]["plan"]["to"], "us-east-2", "{r:?}");
    let r = w.pmctl(&["status", "-o", "json"]).await;
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(r.json()["topology"]["dns"]["routing_to"], "us-east-2");
}

// --- 3. failover + failback ------------------------------------------------------------

#[tokio::test(flavor = "multi_thread")]
async fn failover_is_lag_gated_fences_moves_and_failback_restores_the_start() {
    let w = World::new().await;
    w.moto.set_timing(0.5, 1.0).await;
    let start = w.fingerprint().await;
    // us-east-2 was 5 s behind when us-east-1 was lost (its RDS endpoint and its API).
    w.put_lag_ago("us-east-2", 5000.0, 60).await;
    w.moto
        .fail_region("rds", "us-east-1", "ServiceUnavailable", 503)
        .await;
    w.set_api_up("us-east-1", false);

    let r = w.pmctl(&["status"]).await;
    assert_eq!(r.code, 2, "{r:?}");
    let before = w.fingerprint().await;
    let r = w.pmctl(&["failover", "--to", "us-east-2", "--yes"]).await;
    assert_eq!(r.code, 3, "{r:?}");
    assert!(
        r.stderr.contains("[rpo-budget]") && r.stderr.contains("5000 ms"),
        "{r:?}"
    );
    assert_eq!(
        w.fingerprint().await,
        before,
        "a refused failover changed something"
    );

    let r = w
        .pmctl(&[
            "failover",
            "--to",
            "us-east-2",
            "--accept-data-loss",
            "--yes",
            "-o",
            "json",
        ])
        .await;
    assert_eq!(r.code, 0, "{r:?}");
    let report = r.json();
    assert_eq!(report["not_fenced"], serde_json::json!([]), "{report:#}");
    assert_eq!(w.writer().await, "us-east-2");
    assert_eq!(
        w.concurrency("us-east-1").await,
        Some(0),
        "the old region is fenced"
    );
    assert_eq!(w.records().await["us-east-2"], "PRIMARY");
    let journal = w.journal().await;
    let started = &events(&journal, "op_started")[0];
    assert_eq!(started["choices"]["accept_data_loss"], true);
    assert_eq!(started["choices"]["lag_ms_at_decision"], 5000);
    let plan: Vec<&str> = started["plan"]["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["step"].as_str().unwrap())
        .collect();
    assert_eq!(
        plan,
        [
            "set-api-concurrency",
            "failover-global-cluster",
            "wait-global-writer",
            "set-failover-records",
            "verify-regional-write"
        ]
    );
    let r = w.pmctl(&["status", "-o", "json"]).await;
    let status = r.json();
    let t = &status["topology"];
    assert!(
        t["regions"][0]["fenced"]
            .as_str()
            .unwrap()
            .contains("reserved concurrency 0"),
        "{t:#}"
    );

    // us-east-1 comes back; Aurora re-adds it as a secondary; it catches up.
    w.moto.clear_failures().await;
    w.set_api_up("us-east-1", true);
    w.put_lag("us-east-1", 100.0).await;
    let r = w
        .pmctl(&["failback", "--switchover", "--yes", "-o", "json"])
        .await;
    assert_eq!(r.code, 0, "{r:?}");
    let report = r.json();
    let names: Vec<&str> = report["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "wait-rejoined",
            "api-concurrency",
            "gate",
            "switchover-global",
            "wait-writer",
            "failover-records",
            "verify-write"
        ]
    );
    let end = w.fingerprint().await;
    assert_eq!(end["writer"], start["writer"]);
    assert_eq!(end["records"], start["records"]);
    assert_eq!(end["functions"], start["functions"], "concurrency restored");
    assert!(w.store_object("fences/us-east-1.json").await.is_none());
    // us-east-2 is the secondary again and has caught up.
    w.put_lag("us-east-2", 50.0).await;
    let r = w.pmctl(&["status"]).await;
    assert_eq!(r.code, 0, "{r:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn what_could_not_be_fenced_is_reported() {
    let w = World::new().await;
    w.moto
        .fail_region("rds", "us-east-1", "ServiceUnavailable", 503)
        .await;
    w.moto
        .fail_region("lambda", "us-east-1", "ServiceUnavailable", 503)
        .await;
    w.set_api_up("us-east-1", false);
    let r = w.pmctl(&["failover", "--to", "us-east-2", "--yes"]).await;
    assert_eq!(r.code, 0, "{r:?}");
    assert!(
        r.stdout
            .contains("NOT FENCED: us-east-1's API function pm-prod-us-east-1-api"),
        "{r:?}"
    );
    assert!(r.stdout.contains("ServiceUnavailable"), "{r:?}");
    assert_eq!(w.writer().await, "us-east-2");
}

// --- 4. crash safety and the shared lock ------------------------------------------------

#[tokio::test(flavor = "multi_thread")]
async fn a_crash_after_any_step_resumes_to_the_same_end_state() {
    let w = World::new().await;
    // us-east-1 reports its lag once it is the secondary.
    w.put_lag("us-east-1", 100.0).await;
    let mut to = "us-east-2";
    for n in 1..=4 {
        let n_text = n.to_string();
        let r = w
            .pmctl_env(
                &["switchover", "--to", to, "--yes"],
                &[("PMCTL_TEST_CRASH_AFTER_STEP", &n_text)],
            )
            .await;
        assert_eq!(r.code, 137, "step {n}: killed by the hook: {r:?}");
        assert!(
            w.store_object("lock.json").await.is_some(),
            "the dead pmctl's lock note stays"
        );
        let r = w.pmctl(&["status"]).await;
        assert!(r.stdout.contains("INTERRUPTED"), "step {n}: {r:?}");
        let r = w.pmctl(&["switchover", "--to", to, "--yes"]).await;
        assert_eq!(r.code, 3, "step {n}: a new operation is refused: {r:?}");
        assert!(
            r.stderr.contains("died while holding the lock"),
            "step {n}: {r:?}"
        );
        assert!(r.stderr.contains("--resume"), "step {n}: {r:?}");
        let r = w.pmctl(&["switchover", "--resume", "--yes"]).await;
        assert_eq!(r.code, 0, "step {n}: {r:?}");
        assert_eq!(w.writer().await, to, "step {n}");
        assert_eq!(w.records().await[to], "PRIMARY", "step {n}");
        assert!(w.store_object("lock.json").await.is_none());
        let r = w.pmctl(&["status"]).await;
        assert_eq!(r.code, 0, "step {n}: {r:?}");
        to = aws_world::other(to);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_crash_after_any_failover_step_resumes_to_the_same_end_state() {
    for n in 1..=5 {
        let w = World::new().await;
        w.moto
            .fail_region("rds", "us-east-1", "ServiceUnavailable", 503)
            .await;
        w.set_api_up("us-east-1", false);
        let n_text = n.to_string();
        let r = w
            .pmctl_env(
                &["failover", "--to", "us-east-2", "--yes"],
                &[("PMCTL_TEST_CRASH_AFTER_STEP", &n_text)],
            )
            .await;
        assert_eq!(r.code, 137, "step {n}: killed by the hook: {r:?}");
        let r = w.pmctl(&["failover", "--resume", "--yes"]).await;
        assert_eq!(r.code, 0, "step {n}: {r:?}");
        assert_eq!(w.writer().await, "us-east-2", "step {n}");
        assert_eq!(w.concurrency("us-east-1").await, Some(0), "step {n}");
        assert_eq!(w.records().await["us-east-2"], "PRIMARY", "step {n}");
        assert!(
            w.store_object("fences/us-east-1.json").await.is_some(),
            "step {n}"
        );
        let journal = w.journal().await;
        assert_eq!(events(&journal, "op_finished").len(), 1, "step {n}");
        assert_eq!(
            events(&journal, "step_done").len(),
            5,
            "step {n}: each step once"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_second_pmctl_is_refused_while_the_first_holds_the_shared_lock() {
    let w = World::new().await;
    // A switchover that takes a few seconds in Aurora.
    w.moto.set_timing(4.0, 0.0).await;
    let first = w.spawn(&["switchover", "--to", "us-east-2", "--yes"]);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while w.store_object("lock.json").await.is_none() {
        assert!(
            std::time::Instant::now() < deadline,
            "the first pmctl never took the lock"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let other_state = w.dir.path().join("elsewhere");
    let r = w
        .pmctl(&[
            "--state-dir",
            other_state.to_str().unwrap(),
            "failover",
            "--to",
            "us-east-2",
            "--yes",
        ])
        .await;
    assert_eq!(r.code, 3, "{r:?}");
    assert!(
        r.stderr
            .contains(&format!("s3://{BUCKET}/{PREFIX}/lock.json"))
            && r.stderr.contains("running `switchover`"),
        "{r:?}"
    );
    let first = tokio::task::spawn_blocking(move || aws_world::finish(first))
        .await
        .unwrap();
    assert_eq!(first.code, 0, "{first:?}");
    assert_eq!(w.writer().await, "us-east-2");
    assert!(w.store_object("lock.json").await.is_none());
}

// --- 5. AWS's errors -------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread")]
async fn aws_errors_name_the_code_and_resource_with_documented_exit_codes() {
    let w = World::new().await;
    w.put_lag("us-east-1", 100.0).await;

    // Throttled: exit 1, the call and AWS's code named, retry suggested.
    w.moto
        .fail("rds", "DescribeGlobalClusters", "Throttling", 400, Some(2))
        .await;
    let r = w.pmctl(&["status"]).await;
    assert_eq!(r.code, 1, "{r:?}");
    assert!(
        r.stderr.contains("Throttling")
            && r.stderr.contains("global cluster pm-prod")
            && r.stderr.contains("try again"),
        "{r:?}"
    );
    w.moto.clear_failures().await;

    // Denied in the middle of a switchover: the step fails (exit 4), the journal says
    // which; after the cause is fixed, --resume finishes it.
    w.moto
        .fail(
            "route53",
            "ChangeResourceRecordSets",
            "AccessDenied",
            403,
            None,
        )
        .await;
    let r = w.pmctl(&["switchover", "--to", "us-east-2", "--yes"]).await;
    assert_eq!(r.code, 4, "{r:?}");
    assert!(
        r.stderr.contains("AccessDenied") && r.stderr.contains("origin.api.pm.example.co.ke"),
        "{r:?}"
    );
    let journal = w.journal().await;
    let failed = events(&journal, "step_failed");
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0]["step"], 3);
    assert!(failed[0]["error"]
        .as_str()
        .unwrap()
        .contains("AccessDenied"));
    assert_eq!(
        w.writer().await,
        "us-east-2",
        "the writer moved (journaled as step 1-2)"
    );
    assert_eq!(
        w.records().await["us-east-1"],
        "PRIMARY",
        "the records did not"
    );
    w.moto.clear_failures().await;
    let r = w.pmctl(&["switchover", "--resume", "--yes"]).await;
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(w.records().await["us-east-2"], "PRIMARY");

    // A missing global cluster: invalid environment (exit 2), named.
    let text = std::fs::read_to_string(&w.config).unwrap();
    std::fs::write(
        &w.config,
        text.replace(
            "global_cluster_id = \"pm-prod\"",
            "global_cluster_id = \"pm-gone\"",
        ),
    )
    .unwrap();
    let r = w.pmctl(&["status"]).await;
    assert_eq!(r.code, 2, "{r:?}");
    assert!(
        r.stderr.contains("GlobalClusterNotFoundFault") && r.stderr.contains("pm-gone"),
        "{r:?}"
    );
    let r = w.pmctl(&["switchover", "--to", "us-east-1", "--yes"]).await;
    assert_eq!(r.code, 2, "{r:?}");

    // An unknown record: status DOWN naming it; a switchover is refused, nothing changed.
    std::fs::write(
        &w.config,
        text.replace(
            "record_name = \"origin.api.pm.example.co.ke\"",
            "record_name = \"nope.pm.example.co.ke\"",
        ),
    )
    .unwrap();
    let r = w.pmctl(&["status"]).await;
    assert_eq!(r.code, 2, "{r:?}");
    assert!(
        r.stdout
            .contains("no PRIMARY failover record nope.pm.example.co.ke"),
        "{r:?}"
    );
    let before = w.fingerprint().await;
    let r = w.pmctl(&["switchover", "--to", "us-east-1", "--yes"]).await;
    assert_eq!(r.code, 3, "{r:?}");
    assert!(
        r.stderr.contains("[no-alarms]") && r.stderr.contains("nope.pm.example.co.ke"),
        "{r:?}"
    );
    assert_eq!(w.fingerprint().await, before);

    // The shared store's bucket is missing: the lock cannot be taken (exit 1), named.
    std::fs::write(
        &w.config,
        text.replace(
            &format!("bucket = \"{BUCKET}\""),
            "bucket = \"pm-no-such-bucket\"",
        ),
    )
    .unwrap();
    let r = w.pmctl(&["switchover", "--to", "us-east-1", "--yes"]).await;
    assert_eq!(r.code, 1, "{r:?}");
    assert!(
        r.stderr.contains("NoSuchBucket") && r.stderr.contains("s3://pm-no-such-bucket/prod"),
        "{r:?}"
    );
    assert_eq!(w.writer().await, "us-east-2");
}
