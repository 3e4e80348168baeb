//! The scheduled DR-drill workflow parses and has the jobs users rely on.

use serde_yaml::Value;

fn workflow() -> Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../.github/workflows/dr-drills.yml"
    );
    let text = std::fs::read_to_string(path).expect("the workflow file exists");
    serde_yaml::from_str(&text).expect("the workflow is valid YAML")
}

fn steps(job: &Value) -> Vec<&Value> {
    job["steps"].as_sequence().expect("steps").iter().collect()
}

fn uses(job: &Value, action: &str) -> bool {
    steps(job)
        .iter()
        .any(|s| s["uses"].as_str().is_some_and(|u| u.starts_with(action)))
}

fn runs(job: &Value, needle: &str) -> bool {
    steps(job)
        .iter()
        .any(|s| s["run"].as_str().is_some_and(|r| r.contains(needle)))
}

#[test]
fn weekly_and_manual_triggers() {
    let w = workflow();
    // YAML 1.1 reads a bare `on` as a boolean; serde_yaml keeps it a string key.
    let on = &w["on"];
    let cron = on["schedule"][0]["cron"].as_str().expect("a cron schedule");
    assert_eq!(cron.split_whitespace().count(), 5, "{cron}");
    assert_ne!(
        cron.split_whitespace().nth(4),
        Some("*"),
        "weekly, not daily: {cron}"
    );
    assert!(on.get("workflow_dispatch").is_some());
}

#[test]
fn the_local_job_runs_every_runbook_and_publishes_the_results() {
    let w = workflow();
    let job = &w["jobs"]["local"];
    assert!(runs(job, "cargo build --release"), "builds pmctl");
    assert!(runs(job, "pmctl drill"), "runs the drills");
    assert!(runs(job, "runbooks/"), "every shipped runbook");
    assert!(runs(job, "--junit"), "one combined JUnit file");
    assert!(
        uses(job, "actions/upload-artifact"),
        "report directories as artifacts"
    );
    assert!(uses(job, "mikepenz/action-junit-report"), "JUnit published");
    assert!(runs(job, "GITHUB_STEP_SUMMARY") && runs(job, "report.md"));
    // Results are kept even when a drill fails.
    for s in steps(job) {
        let name = s["name"].as_str().unwrap_or_default();
        if name.contains("Upload") || name.contains("Publish") || name.contains("summary") {
            assert_eq!(s["if"].as_str(), Some("always()"), "step {name}");
        }
    }
}

#[test]
fn the_aws_job_runs_only_when_configured() {
    let w = workflow();
    let job = &w["jobs"]["aws"];
    let cond = job["if"].as_str().expect("the AWS job is conditional");
    assert!(cond.contains("PMCTL_AWS_ENV"), "{cond}");
    assert!(uses(job, "aws-actions/configure-aws-credentials"));
    assert!(runs(job, "--env") && runs(job, "pmctl") && runs(job, "drill"));
    assert!(uses(job, "actions/upload-artifact"));
}
