//! `pmctl dev up` on an existing stack: start every stopped component — each one, whatever
//! the others do — then check that the replica follows the writer. Every failure is tagged
//! with its component and, where there is one, the command that fixes it.

use super::net::LinkMode;
use super::stack::{link_name, other_region, Stack, StackError, UpOutcome, REGIONS};
use super::status::{db_facts, roles, Roles};
use crate::shell::Shell;
use pgcluster::PgError;
use serde::Serialize;
use std::time::{Duration, Instant};

/// How long `dev up` waits for the replica to stream from the writer.
const STREAM_WAIT: Duration = Duration::from_secs(20);

/// One component `dev up` could not start (or a replica that cannot follow its writer).
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct ComponentFailure {
    /// `postgres-east`, `api-west`, `net`, `replication`.
    pub component: String,
    /// What went wrong (no secrets).
    pub error: String,
    /// The command that repairs it, when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
}

/// The command that rebuilds `region` as a replica of the current writer.
pub fn rebuild_command(region: &str) -> String {
    format!("pmctl dev rebuild {region}")
}

pub(super) async fn repair(stack: &Stack, shell: &Shell) -> Result<UpOutcome, StackError> {
    let mut started = Vec::new();
    let mut failures = Vec::new();

    // 1. PostgreSQL, both regions at once.
    let mut tasks = Vec::new();
    for r in REGIONS {
        if !stack.pg_dir(r).join("PG_VERSION").is_file() {
            failures.push(ComponentFailure {
                component: format!("postgres-{r}"),
                error: format!(
                    "{r}'s database directory {} is missing",
                    stack.pg_dir(r).display()
                ),
                fix: Some(rebuild_command(r)),
            });
            continue;
        }
        let (st, sh) = (stack.clone(), shell.clone());
        tasks.push((r, tokio::task::spawn_blocking(move || st.ensure_pg(r, &sh))));
    }
    for (r, task) in tasks {
        match task.await {
            Ok(Ok(true)) => started.push(format!("postgres-{r}")),
            Ok(Ok(false)) => {}
            Ok(Err(e)) => failures.push(pg_failure(stack, r, &e)),
            Err(e) => failures.push(ComponentFailure {
                component: format!("postgres-{r}"),
                error: format!("starting it panicked: {e}"),
                fix: None,
            }),
        }
    }

    // 2. Who writes, from the databases themselves.
    let roles = roles(stack).await;

    // 3. Front door and links (PRIMARY follows the writer) and both APIs, at once.
    let primary = roles.writer_or_recorded().map(String::from);
    let (net, api_a, api_b) = tokio::join!(
        stack.ensure_net(primary.as_deref(), shell),
        stack.ensure_api(REGIONS[0], shell),
        stack.ensure_api(REGIONS[1], shell),
    );
    for (component, result) in [
        ("net".to_string(), net),
        (format!("api-{}", REGIONS[0]), api_a),
        (format!("api-{}", REGIONS[1]), api_b),
    ] {
        match result {
            Ok(true) => started.push(component),
            Ok(false) => {}
            Err(e) => failures.push(ComponentFailure {
                component,
                error: stack.redact(&error_chain(&e)),
                fix: None,
            }),
        }
    }

    // 3b. Faults a killed drill left behind (frozen database, links down): undone. Their
    // errors are the drill's, so the front door's recent figures are cleared too.
    let healed = super::faults::heal_pending(stack).await;
    if !healed.is_empty() {
        for h in &healed {
            shell.status("Healed", h);
        }
        let _ = stack.admin().reset_metrics().await;
        started.push("faults healed".into());
    }

    // 4. The replica must follow the writer.
    if let Some(f) = check_replication(stack, &roles, &failures, shell).await {
        failures.push(f);
    }

    // 5. The witness, once the regions it watches are up.
    match stack.ensure_autopilot(shell).await {
        Ok(true) => started.push("autopilot".into()),
        Ok(false) => {}
        Err(e) => failures.push(ComponentFailure {
            component: "autopilot".into(),
            error: stack.redact(&error_chain(&e)),
            fix: None,
        }),
    }

    if !failures.is_empty() {
        return Err(StackError::Incomplete { started, failures });
    }
    if started.is_empty() {
        return Ok(UpOutcome::AlreadyUp);
    }
    // Best effort: checks of APIs that were still starting may have failed.
    let _ = stack.wait_frontdoor_settled().await;
    Ok(UpOutcome::Repaired { started })
}

/// A PostgreSQL start failure, diagnosed: a diverged former writer gets the rebuild command.
fn pg_failure(stack: &Stack, region: &str, e: &StackError) -> ComponentFailure {
    let component = format!("postgres-{region}");
    if let Some(why) = stack
        .cluster(region)
        .ok()
        .and_then(|c| c.timeline_divergence())
    {
        return diverged(region, &why);
    }
    let error = match e {
        StackError::Postgres {
            source: PgError::StartFailed { log_tail, .. },
            ..
        } => {
            let fatal = log_tail
                .lines()
                .rev()
                .find(|l| l.contains("FATAL:") || l.contains("PANIC:"))
                .map(|l| l.trim().to_string())
                .unwrap_or_else(|| "see its log".to_string());
            format!("did not start: {fatal} (pmctl dev logs postgres-{region})")
        }
        other => error_chain(other),
    };
    ComponentFailure {
        component,
        error: stack.redact(&error),
        fix: None,
    }
}

fn diverged(region: &str, why: &str) -> ComponentFailure {
    ComponentFailure {
        component: format!("postgres-{region}"),
        error: format!(
            "{region}'s database has diverged from the writer's timeline: it holds WAL the \
             writer never received (it was the writer before a failover), so it can neither \
             stream nor restart as a standby. PostgreSQL says: {}",
            why.replace('\n', " ")
        ),
        fix: Some(rebuild_command(region)),
    }
}

/// `None` when the non-writer region streams from the writer (or cannot be expected to:
/// its link is deliberately not up, or its failure is already reported).
async fn check_replication(
    stack: &Stack,
    roles: &Roles,
    failures: &[ComponentFailure],
    shell: &Shell,
) -> Option<ComponentFailure> {
    let failed = |r: &str| {
        failures
            .iter()
            .any(|f| f.component == format!("postgres-{r}"))
    };
    if roles.writers.len() > 1 {
        return Some(ComponentFailure {
            component: "replication".into(),
            error: format!(
                "{} all accept writes (split brain); see `pmctl status`",
                roles.writers.join(" and ")
            ),
            fix: None,
        });
    }
    let Some(writer) = roles.writer.as_deref() else {
        if REGIONS.iter().any(|r| failed(r)) {
            return None;
        }
        return Some(ComponentFailure {
            component: "replication".into(),
            error: "no region accepts writes (both databases are standbys or read-only); \
                    see `pmctl status`"
                .into(),
            fix: None,
        });
    };
    let replica = other_region(writer);
    if failed(replica) {
        return None;
    }
    if let Some(f) = roles.facts(replica) {
        if f.reachable && !f.in_recovery {
            return Some(ComponentFailure {
                component: format!("postgres-{replica}"),
                error: format!(
                    "{replica} is a fenced former writer (read-only), not a standby of {writer}"
                ),
                fix: Some(rebuild_command(replica)),
            });
        }
    }
    let link = link_name(writer);
    if let Ok(state) = stack.admin().state().await {
        if let Some(l) = state
            .links
            .iter()
            .find(|l| l.name == link && l.mode != LinkMode::Up)
        {
            shell.warn(format!(
                "{replica} cannot stream from {writer} while link {link} is {} \
                 (`pmctl dev link {link} up`)",
                l.mode
            ));
            return None;
        }
    }
    let started = Instant::now();
    let writer_url = stack.db_url(writer);
    // The standby streams through its physical slot on the writer; a writer promoted while
    // this region was dead may never have created it (then streaming fails forever with
    // `replication slot "…" does not exist`). Creating it is idempotent and changes no role.
    if let Err(e) = pgcluster::ensure_physical_slot(&writer_url, replica).await {
        shell.warn(stack.redact(&format!(
            "could not ensure replication slot {replica} on {writer}: {}",
            error_chain(&e)
        )));
    }
    loop {
        let facts = db_facts(&writer_url).await;
        // Streaming on the writer's timeline: a diverged former writer also shows up as
        // streaming for a moment (it receives its old timeline up to the fork, then fails).
        if facts
            .replicas
            .iter()
            .any(|s| s.application_name == replica && s.state == "streaming")
            && super::rebuild::on_writers_timeline(stack, replica, writer).await
        {
            return None;
        }
        let cluster = stack.cluster(replica).ok();
        if let Some(why) = cluster.as_ref().and_then(|c| c.timeline_divergence()) {
            return Some(diverged(replica, &why));
        }
        if started.elapsed() >= STREAM_WAIT {
            let last_error = cluster
                .map(|c| c.log_tail(30))
                .unwrap_or_default()
                .lines()
                .rev()
                .find(|l| l.contains("FATAL:") || l.contains("ERROR:"))
                .map(|l| format!(" (its log says: {})", l.trim()))
                .unwrap_or_default();
            return Some(ComponentFailure {
                component: format!("postgres-{replica}"),
                error: stack.redact(&format!(
                    "{replica} is a standby but has not streamed from {writer} within {}s{last_error}",
                    STREAM_WAIT.as_secs()
                )),
                fix: Some(rebuild_command(replica)),
            });
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// An error and its causes, `: `-separated, each once.
pub(crate) fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}
