//! An AWS environment's steps: how each capability is done with Aurora Global Database,
//! Route 53 and Lambda, and the code that runs each step. Every step checks the world
//! first and does nothing that is already done, so a re-run after a crash is safe.

use super::{api_token, aws_error, AwsProvider, API_TOKEN_ENV};
use crate::provider::*;
use serde_json::json;
use std::time::Instant;

/// Capability → AWS steps.
///
/// Traffic follows the writer: the record swap comes at the end of the capability that
/// moves the writer (`PlannedSwitch`, `Promote`), once Aurora reports the new writer — the
/// order of ARC's region switch (Aurora block, then Route 53) — because a region whose
/// cluster is still a secondary fails every write sent to it. `RouteTrafficTo` on its own
/// therefore only swaps the records when `region` already is the writer. Aurora's managed
/// switchover blocks writes itself: no separate pause.
pub(super) fn expand(cap: &Capability, t: &Topology) -> Vec<Step> {
    match cap.clone() {
        Capability::PauseWrites | Capability::ResumeWrites => vec![],
        Capability::Migrate { .. }
        | Capability::StartCanary { .. }
        | Capability::ShiftTraffic { .. }
        | Capability::PromoteCanary { .. }
        | Capability::AbortCanary { .. } => super::deploy::expand(cap),
        Capability::RouteTrafficTo { region } => {
            if t.single_writer().is_some_and(|w| w.name == region) {
                vec![Step::SetFailoverRecords { primary: region }]
            } else {
                vec![]
            }
        }
        Capability::PlannedSwitch { to, .. } => vec![
            Step::SwitchoverGlobalCluster { to: to.clone() },
            Step::WaitGlobalWriter { region: to.clone() },
            Step::SetFailoverRecords { primary: to },
        ],
        Capability::Fence { region, .. } => vec![Step::SetApiConcurrency {
            region,
            value: Some(0),
        }],
        // The old writer is lost: only FailoverGlobalCluster with AllowDataLoss promotes a
        // secondary without it (without the flag AWS runs a switchover, which needs every
        // member available). The operator's acceptance is a preflight rule, journaled.
        Capability::Promote { region, .. } => vec![
            Step::FailoverGlobalCluster {
                to: region.clone(),
                allow_data_loss: true,
            },
            Step::WaitGlobalWriter {
                region: region.clone(),
            },
            Step::SetFailoverRecords { primary: region },
        ],
        // Aurora re-adds a recovered region as a secondary by itself; pmctl waits for it,
        // then lifts the fence.
        Capability::RebuildAsReplica { region, .. } => vec![
            Step::WaitSecondaryRejoined {
                region: region.clone(),
            },
            Step::SetApiConcurrency {
                region,
                value: None,
            },
        ],
        Capability::VerifyWrite { region } => vec![Step::VerifyRegionalWrite { region }],
    }
}

/// Reports progress only when it says something new (waits poll often).
struct Reporter<'a> {
    progress: Progress<'a>,
    last: String,
    start: Instant,
}

impl<'a> Reporter<'a> {
    fn new(progress: Progress<'a>) -> Reporter<'a> {
        Reporter {
            progress,
            last: String::new(),
            start: Instant::now(),
        }
    }
    fn say(&mut self, what: String) {
        if what != self.last {
            (self.progress)(format!(
                "{:>5.1}s  {what}",
                self.start.elapsed().as_secs_f64()
            ));
            self.last = what;
        }
    }
}

pub(super) async fn run(
    p: &AwsProvider,
    step: &Step,
    progress: Progress<'_>,
) -> Result<serde_json::Value, ProviderError> {
    if let Some(r) = super::deploy::run(p, step, progress).await {
        return r;
    }
    match step {
        Step::SwitchoverGlobalCluster { to } => start_move(p, to, None).await,
        Step::FailoverGlobalCluster {
            to,
            allow_data_loss,
        } => start_move(p, to, Some(*allow_data_loss)).await,
        Step::WaitGlobalWriter { region } => wait_writer(p, region, progress).await,
        Step::WaitSecondaryRejoined { region } => wait_rejoined(p, region, progress).await,
        Step::SetApiConcurrency {
            region,
            value: Some(0),
        } => fence(p, region, progress).await,
        Step::SetApiConcurrency {
            region,
            value: Some(n),
        } => {
            let r = p.region_env(region)?;
            p.clients()
                .await
                .lambda
                .set_reserved_concurrency(region, &r.lambda_function_name, *n)
                .await
                .map_err(|e| aws_error("setting the API's concurrency", e))?;
            Ok(json!({"function": r.lambda_function_name, "concurrency": n}))
        }
        Step::SetApiConcurrency {
            region,
            value: None,
        } => unfence(p, region).await,
        Step::SetFailoverRecords { primary } => set_records(p, primary).await,
        Step::VerifyRegionalWrite { region } => verify_write(p, region, progress).await,
        other => Err(ProviderError::Unsupported {
            what: format!(
                "step {} is not an AWS step (the plan was made for another environment)",
                other.name()
            ),
        }),
    }
}

/// SwitchoverGlobalCluster (`failover: None`) or FailoverGlobalCluster, unless the
/// writer is already there or that very operation is under way.
async fn start_move(
    p: &AwsProvider,
    to: &str,
    failover: Option<bool>,
) -> Result<serde_json::Value, ProviderError> {
    let c = p.clients().await;
    let target = p.region_env(to)?;
    let gc =
        c.db.describe()
            .await
            .map_err(|e| aws_error("reading the global database", e))?;
    let call = if failover.is_some() {
        "FailoverGlobalCluster"
    } else {
        "SwitchoverGlobalCluster"
    };
    let target_arn = gc
        .member_in(to)
        .map(|m| m.cluster_arn.clone())
        .unwrap_or_else(|| target.aurora_cluster_arn.clone());
    if let Some(op) = &gc.failover {
        if op.to_cluster_arn.as_deref() == Some(target_arn.as_str()) {
            return Ok(json!({"call": call, "skipped": "already under way", "status": op.status}));
        }
        return Err(ProviderError::Check {
            what: format!(
                "global cluster {}: another {} is under way ({} → {}); wait for it, then `--resume`",
                gc.id,
                op.status,
                op.from_cluster_arn.as_deref().unwrap_or("?"),
                op.to_cluster_arn.as_deref().unwrap_or("?")
            ),
            retryable: true,
        });
    }
    if gc.writer_region() == Some(to) {
        return Ok(json!({"call": call, "skipped": format!("{to} is already the writer")}));
    }
    let answered = match failover {
        None => c.db.switchover(to).await,
        Some(allow) => c.db.failover(to, allow).await,
    }
    .map_err(|e| aws_error(&format!("starting the move of the writer to {to}"), e))?;
    Ok(json!({
        "call": call,
        "target": target_arn,
        "allow_data_loss": failover.unwrap_or(false),
        "status": answered.failover.map(|f| f.status),
    }))
}

async fn wait_writer(
    p: &AwsProvider,
    region: &str,
    progress: Progress<'_>,
) -> Result<serde_json::Value, ProviderError> {
    p.region_env(region)?;
    let c = p.clients().await;
    let start = Instant::now();
    let mut rep = Reporter::new(progress);
    let gc =
        c.db.wait_until_writer(region, p.wait_timeout(), |w| rep.say(w.to_string()))
            .await
            .map_err(|e| aws_error(&format!("waiting for the writer in {region}"), e))?;
    Ok(json!({
        "writer": gc.writer_region(),
        "waited_ms": start.elapsed().as_millis() as u64,
    }))
}

/// Waits until `region`'s cluster is a connected, available secondary whose lag is
/// known and within `max_lag_ms`.
async fn wait_rejoined(
    p: &AwsProvider,
    region: &str,
    progress: Progress<'_>,
) -> Result<serde_json::Value, ProviderError> {
    p.region_env(region)?;
    let c = p.clients().await;
    let limit = p.settings.thresholds.max_lag_ms;
    let lookback = Duration::from_secs(p.config.waits.lag_lookback_secs);
    let start = Instant::now();
    let mut rep = Reporter::new(progress);
    loop {
        let state = match c.db.describe().await {
            Err(e) if e.retryable() => e.to_string(),
            Err(e) => return Err(aws_error("reading the global database", e)),
            Ok(gc) => match gc.member_in(region) {
                None => format!(
                    "{region} is not a member of global cluster {} (Aurora re-adds a recovered region; a region lost for good needs a new secondary cluster)",
                    gc.id
                ),
                Some(m) if m.is_writer => {
                    return Err(ProviderError::Check {
                        what: format!("{region} is the writer again: there is nothing to fail back (check `pmctl status`)"),
                        retryable: false,
                    })
                }
                Some(m) => {
                    let sync = m.synchronization_status.clone().unwrap_or_default();
                    if !(sync.is_empty() || sync == "connected") {
                        format!("{region} is a secondary, synchronization {sync}")
                    } else {
                        match c.db.cluster_status(region, &m.cluster_id).await {
                            Err(e) if e.retryable() => e.to_string(),
                            Err(e) => {
                                return Err(aws_error(&format!("reading {region}'s cluster"), e))
                            }
                            Ok(s) if s != "available" => {
                                format!("{region}'s cluster {} is {s}", m.cluster_id)
                            }
                            Ok(_) => match c
                                .cloudwatch
                                .replication_lag(region, &m.cluster_id, lookback)
                                .await
                            {
                                Err(e) if e.retryable() => e.to_string(),
                                Err(e) => {
                                    return Err(aws_error(
                                        &format!("reading {region}'s replication lag"),
                                        e,
                                    ))
                                }
                                Ok(lag) => match lag.worst() {
                                    Some(d) if d.as_millis() as u64 <= limit => {
                                        return Ok(json!({
                                            "rejoined": region,
                                            "lag_ms": d.as_millis() as u64,
                                            "waited_ms": start.elapsed().as_millis() as u64,
                                        }))
                                    }
                                    Some(d) => format!(
                                        "{region} is connected, {} ms behind (budget {limit} ms)",
                                        d.as_millis()
                                    ),
                                    None => format!(
                                        "{region} is connected; its lag is not reported yet"
                                    ),
                                },
                            },
                        }
                    }
                }
            },
        };
        rep.say(state.clone());
        if start.elapsed() + p.poll_interval() > p.wait_timeout() {
            return Err(ProviderError::Timeout {
                what: format!("{region} to rejoin as a secondary within budget (last: {state})"),
                secs: start.elapsed().as_secs(),
            });
        }
        tokio::time::sleep(p.poll_interval()).await;
    }
}

fn fence_note(region: &str) -> String {
    format!("fences/{region}.json")
}

/// The application-tier fence: the region's API function's reserved concurrency = 0, its
/// earlier setting kept beside the lock so failback restores it. The old region may be
/// lost: what cannot be fenced is reported (`not_fenced`), not an error — Aurora's own
/// failover demotes the old writer when its region comes back.
async fn fence(
    p: &AwsProvider,
    region: &str,
    progress: Progress<'_>,
) -> Result<serde_json::Value, ProviderError> {
    let r = p.region_env(region)?;
    let f = &r.lambda_function_name;
    let c = p.clients().await;
    let mut last = None;
    for attempt in 0..3 {
        if attempt > 0 {
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        let current = match c.lambda.reserved_concurrency(region, f).await {
            Ok(v) => v,
            Err(e) if e.retryable() => {
                progress(format!("reading {region}'s API concurrency: {e}"));
                last = Some(e);
                continue;
            }
            Err(e) => {
                last = Some(e);
                break;
            }
        };
        if current == Some(0) {
            return Ok(json!({"fenced": true, "function": f, "already": true}));
        }
        let note = json!({"function": f, "previous": current, "at": chrono::Utc::now()});
        let kept = c
            .store
            .write_object(&fence_note(region), note.to_string().into_bytes())
            .await;
        match c.lambda.set_reserved_concurrency(region, f, 0).await {
            Ok(()) => {
                return Ok(json!({
                    "fenced": true,
                    "function": f,
                    "previous": current,
                    "previous_kept": kept.as_ref().err().map(|e| e.to_string()).unwrap_or_else(|| "yes".into()),
                }))
            }
            Err(e) if e.retryable() => {
                progress(format!("PutFunctionConcurrency in {region}: {e}"));
                last = Some(e);
            }
            Err(e) => {
                last = Some(e);
                break;
            }
        }
    }
    let e = last.map(|e| e.to_string()).unwrap_or_default();
    Ok(json!({
        "fenced": false,
        "function": f,
        "error": e,
        "not_fenced": format!(
            "{region}'s API function {f} ({e}): requests may reach {region}'s old writer through our API until Aurora demotes it; fence it when {region} answers: aws lambda put-function-concurrency --region {region} --function-name {f} --reserved-concurrent-executions 0"
        ),
    }))
}

/// Lifts the fence: the concurrency recorded when fencing (none recorded: unreserved).
async fn unfence(p: &AwsProvider, region: &str) -> Result<serde_json::Value, ProviderError> {
    let r = p.region_env(region)?;
    let f = &r.lambda_function_name;
    let c = p.clients().await;
    let note_name = fence_note(region);
    let current = c
        .lambda
        .reserved_concurrency(region, f)
        .await
        .map_err(|e| aws_error("reading the API's concurrency", e))?;
    let note = c
        .store
        .read_object(&note_name)
        .await
        .map_err(|e| aws_error("reading the fence note", e))?;
    let previous = note
        .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
        .and_then(|v| v["previous"].as_i64());
    if current != Some(0) {
        let _ = c.store.remove_object(&note_name).await;
        return Ok(json!({"function": f, "skipped": "not fenced", "concurrency": current}));
    }
    match previous.filter(|n| *n > 0) {
        Some(n) => c
            .lambda
            .set_reserved_concurrency(region, f, n as i32)
            .await
            .map_err(|e| aws_error("restoring the API's concurrency", e))?,
        None => c
            .lambda
            .delete_reserved_concurrency(region, f)
            .await
            .map_err(|e| aws_error("restoring the API's concurrency", e))?,
    }
    c.store
        .remove_object(&note_name)
        .await
        .map_err(|e| aws_error("removing the fence note", e))?;
    Ok(
        json!({"function": f, "restored": previous.map(|n| n.to_string()).unwrap_or_else(|| "unreserved".into())}),
    )
}

async fn set_records(p: &AwsProvider, primary: &str) -> Result<serde_json::Value, ProviderError> {
    let pr = p.region_env(primary)?;
    let sr = p.other_region(primary)?;
    let tf = p.tf();
    let out = p
        .clients()
        .await
        .route53
        .route_primary_to(
            &tf.hosted_zone_id,
            &tf.record_name,
            &pr.route53_set_identifier,
            &sr.route53_set_identifier,
        )
        .await
        .map_err(|e| aws_error(&format!("moving the PRIMARY record to {primary}"), e))?;
    Ok(json!({
        "primary": primary,
        "changed": out.changed,
        "change_id": out.change_id,
        "status": out.status,
    }))
}

/// A real write through the region's own API, with the operator's token. Without a token
/// the write is not verified, and the outcome says so.
async fn verify_write(
    p: &AwsProvider,
    region: &str,
    progress: Progress<'_>,
) -> Result<serde_json::Value, ProviderError> {
    let base = p.api_url(region)?;
    let Some(token) = api_token() else {
        progress(format!(
            "NOT verified: {API_TOKEN_ENV} is not set (a test landlord's bearer token)"
        ));
        return Ok(json!({"verified": false, "why": format!("{API_TOKEN_ENV} is not set")}));
    };
    let url = format!("{base}/v1/landlord/callback-token/rotate");
    let start = Instant::now();
    let limit = Duration::from_secs(p.config.waits.verify_timeout_secs);
    let mut rep = Reporter::new(progress);
    let mut last;
    loop {
        match p.http.post(&url).bearer_auth(&token).send().await {
            Ok(r) => {
                let served_by = r
                    .headers()
                    .get("x-pm-region")
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_string);
                let status = r.status().as_u16();
                // The body (a new callback token) is never read.
                if r.status().is_success() && served_by.as_deref().is_none_or(|s| s == region) {
                    return Ok(json!({"verified": true, "region": region, "status": status}));
                }
                last = format!(
                    "HTTP {status} from {}",
                    served_by.as_deref().unwrap_or("an unnamed region")
                );
            }
            Err(e) => last = format!("no answer ({})", crate::provider::chain(&e)),
        }
        rep.say(format!("write through {region}'s API: {last}"));
        if start.elapsed() + Duration::from_millis(500) > limit {
            return Err(ProviderError::check(format!(
                "no write succeeded through {region}'s API ({base}) within {}s (last: {last})",
                limit.as_secs()
            )));
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}
