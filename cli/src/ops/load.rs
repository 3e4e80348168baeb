//! `pmctl load`: an open-loop traffic generator. Requests leave on a fixed schedule whether
//! or not earlier ones have answered, and latency is measured from the *scheduled* send
//! time, so a stall shows up as latency instead of hiding (no coordinated omission).

use super::drill::runbook::Mix;
use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Hash, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    C2b,
    Manual,
    Read,
}

impl Kind {
    pub fn is_write(self) -> bool {
        self != Kind::Read
    }
    pub fn name(self) -> &'static str {
        match self {
            Kind::C2b => "c2b",
            Kind::Manual => "manual",
            Kind::Read => "read",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Hash, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Ok,
    Http4xx,
    Http5xx,
    Timeout,
    Connect,
    Other,
}

impl Outcome {
    pub fn name(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Http4xx => "http4xx",
            Outcome::Http5xx => "http5xx",
            Outcome::Timeout => "timeout",
            Outcome::Connect => "connect",
            Outcome::Other => "other",
        }
    }
}

/// One request, as the load generator saw it. Times are ms since the load started.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RequestRecord {
    pub seq: u64,
    pub kind: Kind,
    pub scheduled_ms: f64,
    pub done_ms: f64,
    /// From the scheduled send time to the answer.
    pub latency_ms: f64,
    pub outcome: Outcome,
    pub status: Option<u16>,
    pub region: Option<String>,
    /// For an acknowledged write: the M-Pesa receipt (c2b) or the payment id (manual).
    pub ack: Option<String>,
    /// The answer carried `Retry-After` (a shed or blocked request says when to retry).
    #[serde(default)]
    pub retry_after: bool,
}

#[derive(Debug, Clone)]
pub struct LoadSpec {
    pub rps: f64,
    pub ramp_to_rps: Option<f64>,
    pub duration: Duration,
    pub mix: Mix,
    pub timeout: Duration,
}

/// Where to send and as whom.
#[derive(Debug, Clone)]
pub struct Target {
    pub base_url: String,
    pub token: String,
    pub callback_token: String,
    /// (lease id, unit account reference)
    pub leases: Vec<(String, String)>,
    /// Prefix making receipts and idempotency keys unique to this run.
    pub run_id: String,
}

#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("seeding test data through {url}: {what}")]
    Seed { url: String, what: String },
}

/// Leases a load run spreads its payments over. Payments on one lease allocate one after
/// the other (row lock), so a handful of leases would measure lock contention, not the
/// API: rent day is many tenants paying once each.
pub const DEFAULT_LEASES: usize = 50;

/// Creates a landlord with `n` leased units through the API (the front door).
pub async fn seed(
    base_url: &str,
    token: &str,
    n: usize,
    run_id: &str,
) -> Result<Target, LoadError> {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("http client");
    let err = |what: String| LoadError::Seed {
        url: base_url.to_string(),
        what,
    };
    let post = |path: &str, body: serde_json::Value| {
        let rq = http
            .post(format!("{base_url}{path}"))
            .bearer_auth(token)
            .json(&body);
        async move {
            let r = rq.send().await.map_err(|e| e.to_string())?;
            let s = r.status();
            let v: serde_json::Value = r.json().await.map_err(|e| e.to_string())?;
            if !s.is_success() {
                return Err(format!("HTTP {s}: {}", v["detail"]));
            }
            Ok::<_, String>(v)
        }
    };
    let p = post(
        "/v1/properties",
        serde_json::json!({"name": format!("Load {run_id}"), "county": "Nairobi", "address": "Loadgen Rd"}),
    )
    .await
    .map_err(err)?;
    let mut leases = Vec::new();
    for i in 0..n {
        let aref = format!("L{}-{i}", &run_id[..run_id.len().min(8)]);
        let u = post("/v1/units", serde_json::json!({"property_id": p["id"], "label": format!("U{i}"), "monthly_rent": 15000, "deposit": 15000, "account_ref": aref}))
            .await
            .map_err(err)?;
        let t = post("/v1/tenants", serde_json::json!({"name": format!("Tenant {i}"), "phone": format!("07{:08}", 10_000_000 + i)}))
            .await
            .map_err(err)?;
        let l = post("/v1/leases", serde_json::json!({"unit_id": u["id"], "tenant_id": t["id"], "start_date": "2026-01-01", "due_day": 5}))
            .await
            .map_err(err)?;
        leases.push((l["id"].as_str().unwrap_or_default().to_string(), aref));
    }
    let landlord = http
        .get(format!("{base_url}/v1/landlord"))
        .bearer_auth(token)
        .send()
        .await
        .map_err(|e| err(e.to_string()))?
        .json::<serde_json::Value>()
        .await
        .map_err(|e| err(e.to_string()))?;
    Ok(Target {
        base_url: base_url.to_string(),
        token: token.to_string(),
        callback_token: landlord["callback_token"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
        leases,
        run_id: run_id.to_string(),
    })
}

/// The request schedule: offsets (s) of each send, rate ramping linearly.
pub fn schedule(spec: &LoadSpec) -> Vec<f64> {
    let total = spec.duration.as_secs_f64();
    let r0 = spec.rps;
    let r1 = spec.ramp_to_rps.unwrap_or(r0);
    let mut t = 0.0;
    let mut out = Vec::new();
    while t < total {
        out.push(t);
        let rate = r0 + (r1 - r0) * (t / total);
        t += 1.0 / rate.max(0.01);
    }
    out
}

fn kind_for(i: u64, mix: &Mix) -> Kind {
    // Deterministic weighted round robin over 100 slots.
    let total = (mix.c2b + mix.manual + mix.read).max(1) as u64;
    let slot = (i * 37) % total;
    if slot < mix.c2b as u64 {
        Kind::C2b
    } else if slot < (mix.c2b + mix.manual) as u64 {
        Kind::Manual
    } else {
        Kind::Read
    }
}

/// Runs the schedule; every finished request goes to `sink`. Stops early when `stop` is
/// cancelled (requests in flight finish).
pub async fn run(
    target: Target,
    spec: LoadSpec,
    t0: Instant,
    sink: mpsc::UnboundedSender<RequestRecord>,
    stop: CancellationToken,
) {
    let http = reqwest::Client::builder()
        .timeout(spec.timeout)
        .pool_max_idle_per_host(64)
        .build()
        .expect("http client");
    let target = Arc::new(target);
    let mut tasks = tokio::task::JoinSet::new();
    for (i, at) in schedule(&spec).into_iter().enumerate() {
        let when = t0 + Duration::from_secs_f64(at);
        tokio::select! {
            _ = stop.cancelled() => break,
            _ = tokio::time::sleep_until(when.into()) => {}
        }
        let (http, target, sink) = (http.clone(), target.clone(), sink.clone());
        let kind = kind_for(i as u64, &spec.mix);
        tasks.spawn(async move {
            let rec = one(&http, &target, i as u64, kind, at * 1000.0, t0).await;
            let _ = sink.send(rec);
        });
        // Reap finished tasks so the set stays small.
        while tasks.try_join_next().is_some() {}
    }
    while tasks.join_next().await.is_some() {}
}

async fn one(
    http: &reqwest::Client,
    t: &Target,
    seq: u64,
    kind: Kind,
    scheduled_ms: f64,
    t0: Instant,
) -> RequestRecord {
    let (lease, aref) = &t.leases[(seq as usize) % t.leases.len().max(1)];
    let amount = 100 + (seq * 7919) % 4900;
    let receipt = format!("{}{seq:07}", t.run_id.to_ascii_uppercase());
    let rq = match kind {
        Kind::C2b => {
            let now = chrono::Utc::now() + chrono::Duration::hours(3);
            http.post(format!(
                "{}/v1/callbacks/c2b/{}/confirmation",
                t.base_url, t.callback_token
            ))
            .json(&serde_json::json!({
                "TransactionType": "Pay Bill", "TransID": receipt,
                "TransTime": now.format("%Y%m%d%H%M%S").to_string(),
                "TransAmount": format!("{amount}.00"), "BusinessShortCode": "600984",
                "BillRefNumber": aref, "InvoiceNumber": "", "OrgAccountBalance": "",
                "ThirdPartyTransID": "", "MSISDN": "2547 ***** 000",
                "FirstName": "LOAD", "MiddleName": "", "LastName": "TEST"
            }))
        }
        Kind::Manual => http
            .post(format!("{}/v1/payments", t.base_url))
            .bearer_auth(&t.token)
            .header("Idempotency-Key", format!("{}-{seq}", t.run_id))
            .json(&serde_json::json!({"lease_id": lease, "amount": amount, "method": "cash"})),
        Kind::Read => http
            .get(format!("{}/v1/leases/{lease}/arrears", t.base_url))
            .bearer_auth(&t.token),
    };
    let res = rq.send().await;
    let mut retry_after = false;
    let (outcome, status, region, ack) = match res {
        Ok(r) => {
            let status = r.status().as_u16();
            retry_after = r.headers().contains_key(reqwest::header::RETRY_AFTER);
            let region = r
                .headers()
                .get("x-pm-region")
                .and_then(|v| v.to_str().ok())
                .map(String::from);
            let body: serde_json::Value = r.json().await.unwrap_or_default();
            let ok = match kind {
                Kind::C2b => status == 200 && body["ResultCode"] == 0,
                Kind::Manual => status == 201,
                Kind::Read => status == 200,
            };
            let ack = match kind {
                Kind::C2b if ok => Some(receipt),
                Kind::Manual if ok => body["id"].as_str().map(String::from),
                _ => None,
            };
            let outcome = if ok {
                Outcome::Ok
            } else if status >= 500 {
                Outcome::Http5xx
            } else if status >= 400 {
                Outcome::Http4xx
            } else {
                Outcome::Other
            };
            (outcome, Some(status), region, ack)
        }
        Err(e) if e.is_timeout() => (Outcome::Timeout, None, None, None),
        Err(e) if e.is_connect() => (Outcome::Connect, None, None, None),
        Err(_) => (Outcome::Other, None, None, None),
    };
    let done_ms = t0.elapsed().as_secs_f64() * 1000.0;
    RequestRecord {
        seq,
        kind,
        scheduled_ms,
        done_ms,
        latency_ms: (done_ms - scheduled_ms).max(0.0),
        outcome,
        status,
        region,
        ack,
        retry_after,
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LoadSummary {
    pub requests: u64,
    pub duration_s: f64,
    pub achieved_rps: f64,
    pub ok: u64,
    pub errors: BTreeMap<String, u64>,
    pub by_kind: BTreeMap<String, u64>,
    pub latency_ms: Percentiles,
    pub acknowledged_writes: u64,
    /// Requests refused with 503 or 429 (over capacity, writes blocked, read-only).
    #[serde(default)]
    pub refused: Refused,
}

/// The refused requests: how many said when to retry, and how fast they were answered
/// (shedding is only useful when it is fast).
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct Refused {
    pub requests: u64,
    pub with_retry_after: u64,
    pub latency_ms: Percentiles,
}

#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct Percentiles {
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub max: f64,
}

fn percentiles(h: &Histogram<u64>) -> Percentiles {
    if h.is_empty() {
        return Percentiles::default();
    }
    let q = |p: f64| h.value_at_quantile(p) as f64 / 1000.0;
    Percentiles {
        p50: q(0.5),
        p90: q(0.9),
        p99: q(0.99),
        max: h.max() as f64 / 1000.0,
    }
}

pub fn summarize(records: &[RequestRecord], duration: Duration) -> LoadSummary {
    let histogram = || Histogram::<u64>::new_with_bounds(1, 3_600_000_000, 3).expect("histogram");
    let (mut h, mut refused_h) = (histogram(), histogram());
    let mut refused = Refused::default();
    let mut errors = BTreeMap::new();
    let mut by_kind = BTreeMap::new();
    let mut ok = 0;
    let mut acked = 0;
    for r in records {
        let us = ((r.latency_ms * 1000.0) as u64).max(1);
        let _ = h.record(us);
        if matches!(r.status, Some(503 | 429)) {
            refused.requests += 1;
            refused.with_retry_after += u64::from(r.retry_after);
            let _ = refused_h.record(us);
        }
        *by_kind.entry(r.kind.name().to_string()).or_insert(0) += 1;
        if r.outcome == Outcome::Ok {
            ok += 1;
        } else {
            *errors.entry(r.outcome.name().to_string()).or_insert(0) += 1;
        }
        if r.ack.is_some() {
            acked += 1;
        }
    }
    let secs = duration.as_secs_f64().max(0.001);
    refused.latency_ms = percentiles(&refused_h);
    LoadSummary {
        requests: records.len() as u64,
        duration_s: secs,
        achieved_rps: records.len() as f64 / secs,
        ok,
        errors,
        by_kind,
        latency_ms: percentiles(&h),
        acknowledged_writes: acked,
        refused,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refused_requests_are_counted_with_their_latency() {
        let rec = |seq, status, latency_ms, retry_after| RequestRecord {
            seq,
            kind: Kind::C2b,
            scheduled_ms: 0.0,
            done_ms: latency_ms,
            latency_ms,
            outcome: if status == 200 {
                Outcome::Ok
            } else {
                Outcome::Http5xx
            },
            status: Some(status),
            region: None,
            ack: None,
            retry_after,
        };
        let recs = vec![
            rec(0, 200, 40.0, false),
            rec(1, 503, 2.0, true),
            rec(2, 503, 9.0, false),
            rec(3, 500, 1.0, false),
        ];
        let s = summarize(&recs, Duration::from_secs(1));
        assert_eq!((s.refused.requests, s.refused.with_retry_after), (2, 1));
        assert!(
            (s.refused.latency_ms.max - 9.0).abs() < 0.1,
            "{:?}",
            s.refused
        );
        assert!(s.latency_ms.max >= 39.9);
    }

    #[test]
    fn schedule_is_open_loop_and_ramps() {
        let flat = schedule(&LoadSpec {
            rps: 10.0,
            ramp_to_rps: None,
            duration: Duration::from_secs(2),
            mix: Mix::default(),
            timeout: Duration::from_secs(1),
        });
        assert_eq!(flat.len(), 20);
        assert!((flat[1] - 0.1).abs() < 1e-9);
        let ramp = schedule(&LoadSpec {
            rps: 10.0,
            ramp_to_rps: Some(100.0),
            duration: Duration::from_secs(2),
            mix: Mix::default(),
            timeout: Duration::from_secs(1),
        });
        // Average rate 55/s over 2 s, give or take the discretisation.
        assert!((100..=115).contains(&ramp.len()), "{}", ramp.len());
        let last_gap = ramp[ramp.len() - 1] - ramp[ramp.len() - 2];
        assert!(last_gap < 0.02, "the rate did not ramp up: {last_gap}");
    }

    #[test]
    fn mix_is_respected() {
        let mix = Mix {
            c2b: 60,
            manual: 20,
            read: 20,
        };
        let mut n = BTreeMap::new();
        for i in 0..1000 {
            *n.entry(kind_for(i, &mix)).or_insert(0) += 1;
        }
        assert_eq!(n[&Kind::C2b], 600);
        assert_eq!(n[&Kind::Manual], 200);
        assert_eq!(n[&Kind::Read], 200);
    }

    #[test]
    fn stalls_show_as_latency_from_the_schedule() {
        let recs = vec![RequestRecord {
            seq: 0,
            kind: Kind::Read,
            scheduled_ms: 0.0,
            done_ms: 3000.0,
            latency_ms: 3000.0,
            outcome: Outcome::Ok,
            status: Some(200),
            region: None,
            ack: None,
            retry_after: false,
        }];
        let s = summarize(&recs, Duration::from_secs(1));
        assert!(s.latency_ms.max >= 2990.0);
        assert_eq!(s.refused.requests, 0);
    }
}
