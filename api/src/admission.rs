//! Admission control: at most `max_in_flight` requests run at once; a few more may wait
//! briefly (`max_queue`, each at most `queue_timeout`) for a slot; everything beyond is
//! answered at once with 503 + `Retry-After` instead of queueing until the pool's acquire
//! timeout. Past capacity, goodput stays at capacity and admitted requests stay fast.
//! `/health` and `/ready` are never queued or shed: an overloaded region is busy, not dead.

use crate::error::problem_response;
use crate::state::AppState;
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;

/// Admission limits (`pm-api serve --max-in-flight/--max-queue/--queue-timeout-ms`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub max_in_flight: usize,
    pub max_queue: usize,
    pub queue_timeout: Duration,
}

pub struct Admission {
    limits: Limits,
    slots: Semaphore,
    waiting: AtomicUsize,
    shed: AtomicU64,
    started: Instant,
    /// Milliseconds since `started` of the last "shedding" log line (one per second).
    last_log_ms: AtomicU64,
}

impl Admission {
    pub fn new(limits: Limits) -> Admission {
        Admission {
            limits,
            slots: Semaphore::new(limits.max_in_flight.max(1)),
            waiting: AtomicUsize::new(0),
            shed: AtomicU64::new(0),
            started: Instant::now(),
            last_log_ms: AtomicU64::new(0),
        }
    }

    /// Requests refused since start.
    pub fn shed_count(&self) -> u64 {
        self.shed.load(Ordering::Relaxed)
    }

    fn note_shed(&self) {
        let n = self.shed.fetch_add(1, Ordering::Relaxed) + 1;
        let now = self.started.elapsed().as_millis() as u64;
        let last = self.last_log_ms.load(Ordering::Relaxed);
        if now.saturating_sub(last) >= 1000
            && self
                .last_log_ms
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            tracing::warn!(
                shed_total = n,
                max_in_flight = self.limits.max_in_flight,
                "over capacity: shedding requests (503 + Retry-After)"
            );
        }
    }
}

/// Marks a 503 as load shedding (capacity, by design) rather than a failure: the front
/// door counts such answers apart from its 5xx, so a spike that was shed does not keep the
/// `api-5xx-rate` alarm firing after it ends. A read-only or unavailable database is still a
/// 5xx.
pub const SHED_HEADER: &str = "x-pm-shed";

/// Health endpoints bypass admission.
fn exempt(path: &str) -> bool {
    path == "/ready" || path == "/health"
}

const OVERLOADED: &str =
    "the API is over capacity; the request was not applied — retry after the time in Retry-After";

/// 503 + `Retry-After`; Daraja-shaped (`ResultCode`) on the M-Pesa callback paths.
fn overloaded(path: &str) -> Response {
    let mut resp = if path.starts_with("/v1/callbacks/") {
        let status = StatusCode::SERVICE_UNAVAILABLE;
        let mut body = serde_json::to_value(crate::error::Problem::new(
            status,
            "about:blank#overloaded",
            OVERLOADED.to_string(),
            &[],
        ))
        .unwrap_or_default();
        body["ResultCode"] = if path.ends_with("/validation") {
            "C2B00016".into()
        } else {
            1.into()
        };
        body["ResultDesc"] = format!("Rejected: {OVERLOADED}").into();
        let mut r = (status, axum::Json(body)).into_response();
        r.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        r
    } else {
        problem_response(
            StatusCode::SERVICE_UNAVAILABLE,
            "about:blank#overloaded",
            OVERLOADED.to_string(),
            &[],
        )
    };
    resp.headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    resp.headers_mut()
        .insert(SHED_HEADER, HeaderValue::from_static("1"));
    resp
}

/// The middleware (a layer outside the router's others, so a shed request costs nothing
/// more than this).
pub async fn admit(State(st): State<AppState>, req: Request, next: Next) -> Response {
    let Some(a) = st.admission.as_deref() else {
        return next.run(req).await;
    };
    if exempt(req.uri().path()) {
        return next.run(req).await;
    }
    let permit = match a.slots.try_acquire() {
        Ok(p) => p,
        Err(_) => {
            if a.waiting.fetch_add(1, Ordering::AcqRel) >= a.limits.max_queue {
                a.waiting.fetch_sub(1, Ordering::AcqRel);
                a.note_shed();
                return overloaded(req.uri().path());
            }
            let got = tokio::time::timeout(a.limits.queue_timeout, a.slots.acquire()).await;
            a.waiting.fetch_sub(1, Ordering::AcqRel);
            match got {
                Ok(Ok(p)) => p,
                _ => {
                    a.note_shed();
                    return overloaded(req.uri().path());
                }
            }
        }
    };
    let resp = next.run(req).await;
    drop(permit);
    resp
}
