//! The net process (front door, links, admin API) over real TCP on 127.0.0.1, port 0.
//!
//! Fake regions are small axum servers with a switchable `/ready`; link targets are TCP echo
//! servers. Every test stops what it starts.

use std::collections::BTreeMap;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{any, get};
use axum::{Json, Router};
use pmctl::devstack::net::{
    AdminClient, AdminError, FrontDoorConfig, HealthCheckConfig, LinkConfig, LinkMode, NetConfig,
    NetError, NetServer, RegionRecord, Role,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

const TOKEN: &str = "test-admin-token";
const INTERVAL_MS: u64 = 50;

// ---------------------------------------------------------------------------------------------
// Fake regions

struct RegionState {
    name: &'static str,
    ready: AtomicBool,
    writes: AtomicU64,
    /// `db_role` in the `/ready` body (none: plain text, as a non-pm-api answers).
    role: std::sync::Mutex<Option<&'static str>>,
    /// `/ready` answers after this long (a busy region).
    ready_delay_ms: AtomicU64,
}

struct FakeRegion {
    state: Arc<RegionState>,
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl FakeRegion {
    async fn start(name: &'static str) -> FakeRegion {
        let state = Arc::new(RegionState {
            name,
            ready: AtomicBool::new(true),
            writes: AtomicU64::new(0),
            role: std::sync::Mutex::new(None),
            ready_delay_ms: AtomicU64::new(0),
        });
        let app = Router::new()
            .route(
                "/ready",
                get(|State(s): State<Arc<RegionState>>| async move {
                    let delay = s.ready_delay_ms.load(Ordering::SeqCst);
                    if delay > 0 {
                        tokio::time::sleep(Duration::from_millis(delay)).await;
                    }
                    let role = *s.role.lock().unwrap();
                    if !s.ready.load(Ordering::SeqCst) {
                        (StatusCode::SERVICE_UNAVAILABLE, "not ready".to_string())
                    } else if let Some(role) = role {
                        (
                            StatusCode::OK,
                            serde_json::json!({"status": "ready", "db_role": role}).to_string(),
                        )
                    } else {
                        (StatusCode::OK, "ready".to_string())
                    }
                }),
            )
            .route(
                "/slow",
                get(|| async {
                    tokio::time::sleep(Duration::from_secs(3)).await;
                    "late"
                }),
            )
            .route("/fail", get(|| async { StatusCode::INTERNAL_SERVER_ERROR }))
            // What pm-api's admission control answers over capacity.
            .route(
                "/shed",
                get(|| async {
                    (
                        StatusCode::SERVICE_UNAVAILABLE,
                        [("retry-after", "1"), ("x-pm-shed", "1")],
                    )
                }),
            )
            .route("/echo", any(echo))
            .with_state(state.clone());
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    let _ = stopped.await;
                })
                .await
                .unwrap();
        });
        FakeRegion {
            state,
            addr,
            stop: Some(stop),
            task: Some(task),
        }
    }

    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn set_ready(&self, ready: bool) {
        self.state.ready.store(ready, Ordering::SeqCst);
    }

    fn set_role(&self, role: &'static str) {
        *self.state.role.lock().unwrap() = Some(role);
    }

    fn set_ready_delay(&self, ms: u64) {
        self.state.ready_delay_ms.store(ms, Ordering::SeqCst);
    }

    /// Stops the server; its port then refuses connections.
    async fn stop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            tokio::time::timeout(Duration::from_secs(5), task)
                .await
                .expect("fake region stops")
                .unwrap();
        }
    }
}

impl Drop for FakeRegion {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

async fn echo(State(s): State<Arc<RegionState>>, req: Request) -> impl IntoResponse {
    let (parts, body) = req.into_parts();
    if parts.method != axum::http::Method::GET {
        s.writes.fetch_add(1, Ordering::SeqCst);
    }
    let body = axum::body::to_bytes(body, 1 << 20).await.unwrap();
    let headers: BTreeMap<String, String> = parts
        .headers
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("?").to_string()))
        .collect();
    Json(serde_json::json!({
        "region": s.name,
        "method": parts.method.as_str(),
        "path": parts.uri.path(),
        "query": parts.uri.query(),
        "headers": headers,
        "body": String::from_utf8_lossy(&body),
    }))
}

// ---------------------------------------------------------------------------------------------
// TCP echo server (link target)

struct EchoServer {
    addr: SocketAddr,
    task: JoinHandle<()>,
}

impl EchoServer {
    async fn start() -> EchoServer {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let task = tokio::spawn(async move {
            // Connection tasks live in the JoinSet: aborting this task closes them all.
            let mut conns = tokio::task::JoinSet::new();
            loop {
                let Ok((mut stream, _)) = listener.accept().await else {
                    return;
                };
                conns.spawn(async move {
                    let (mut r, mut w) = stream.split();
                    let _ = tokio::io::copy(&mut r, &mut w).await;
                });
                while conns.try_join_next().is_some() {}
            }
        });
        EchoServer { addr, task }
    }
}

impl Drop for EchoServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

// ---------------------------------------------------------------------------------------------
// The net process under test

fn net_config(east: &str, west: &str, state_dir: &Path, links: Vec<LinkConfig>) -> NetConfig {
    NetConfig {
        admin_listen: "127.0.0.1:0".parse().unwrap(),
        admin_token: TOKEN.to_string(),
        state_file: state_dir.join("net-state.json"),
        frontdoor: FrontDoorConfig {
            listen: "127.0.0.1:0".parse().unwrap(),
            regions: vec![
                RegionRecord {
                    name: "east".into(),
                    upstream: east.into(),
                },
                RegionRecord {
                    name: "west".into(),
                    upstream: west.into(),
                },
            ],
            initial_primary: "east".into(),
            health: HealthCheckConfig {
                path: "/ready".into(),
                interval_ms: INTERVAL_MS,
                timeout_ms: 500,
                failure_threshold: 3,
                success_threshold: 3,
            },
            upstream_timeout_ms: 1000,
            window_secs: 60,
        },
        links,
    }
}

struct Net {
    admin: AdminClient,
    frontdoor: String,
    admin_url: String,
    links: BTreeMap<String, SocketAddr>,
    http: reqwest::Client,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<Result<(), NetError>>>,
}

impl Net {
    async fn start(config: NetConfig) -> Net {
        let names: Vec<String> = config.links.iter().map(|l| l.name.clone()).collect();
        let server = NetServer::bind(config).await.expect("net binds");
        let admin_url = format!("http://{}", server.admin_addr());
        let frontdoor = format!("http://{}", server.frontdoor_addr());
        let links = names
            .iter()
            .map(|n| (n.clone(), server.link_addr(n).unwrap()))
            .collect();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(server.serve(async move {
            let _ = stopped.await;
        }));
        Net {
            admin: AdminClient::new(&admin_url, TOKEN).unwrap(),
            frontdoor,
            admin_url,
            links,
            http: reqwest::Client::builder().no_proxy().build().unwrap(),
            stop: Some(stop),
            task: Some(task),
        }
    }

    async fn stop(mut self) {
        let _ = self.stop.take().unwrap().send(());
        tokio::time::timeout(Duration::from_secs(10), self.task.take().unwrap())
            .await
            .expect("net stops within its grace period")
            .unwrap()
            .expect("net serves without error");
    }

    fn url(&self, path: &str) -> String {
        format!("{}{}", self.frontdoor, path)
    }

    /// The region that served `GET /echo`.
    async fn served_by(&self) -> String {
        let resp = self.http.get(self.url("/echo")).send().await.unwrap();
        region_of(&resp)
    }

    fn link(&self, name: &str) -> SocketAddr {
        self.links[name]
    }
}

impl Drop for Net {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

fn region_of(resp: &reqwest::Response) -> String {
    resp.headers()
        .get("x-pm-region")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default()
}

/// Polls `check` every 20 ms until it holds; panics after `limit`. Returns the time it took.
async fn wait_until<F, Fut>(what: &str, limit: Duration, mut check: F) -> Duration
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let started = Instant::now();
    loop {
        if check().await {
            return started.elapsed();
        }
        assert!(started.elapsed() < limit, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn regions() -> (FakeRegion, FakeRegion) {
    (
        FakeRegion::start("east").await,
        FakeRegion::start("west").await,
    )
}

// ---------------------------------------------------------------------------------------------
// Front door

#[tokio::test]
async fn forwards_requests_to_primary_with_region_header() {
    let dir = tempfile::tempdir().unwrap();
    let (mut east, mut west) = regions().await;
    let net = Net::start(net_config(&east.url(), &west.url(), dir.path(), vec![])).await;

    let resp = net
        .http
        .post(net.url("/echo?tenant=7&x=a%20b"))
        .header("x-custom", "kept")
        .header("connection", "x-hop")
        .header("x-hop", "dropped")
        .header("x-forwarded-for", "10.0.0.9")
        .body("rent=1000")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(region_of(&resp), "east");
    let seen: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(seen["region"], "east");
    assert_eq!(seen["method"], "POST");
    assert_eq!(seen["path"], "/echo");
    assert_eq!(seen["query"], "tenant=7&x=a%20b");
    assert_eq!(seen["body"], "rent=1000");
    let headers = &seen["headers"];
    assert_eq!(headers["x-custom"], "kept");
    assert!(
        headers.get("x-hop").is_none(),
        "hop-by-hop header leaked: {headers}"
    );
    assert_eq!(headers["x-forwarded-for"], "10.0.0.9, 127.0.0.1");
    assert_eq!(headers["x-forwarded-proto"], "http");

    // Upstream 5xx passes through and counts as a 5xx of that region.
    let resp = net.http.get(net.url("/fail")).send().await.unwrap();
    assert_eq!(resp.status(), 500);
    assert_eq!(region_of(&resp), "east");
    // A shed request (503 marked by admission control) passes through with Retry-After and
    // counts as shed, not as a 5xx: over capacity is not failing.
    let resp = net.http.get(net.url("/shed")).send().await.unwrap();
    assert_eq!(resp.status(), 503);
    assert_eq!(resp.headers()["retry-after"], "1");

    let state = net.admin.state().await.unwrap();
    assert_eq!(state.primary, "east");
    assert_eq!(state.routing_to, "east");
    let east_metrics = &state.metrics.regions[0];
    assert_eq!(east_metrics.region, "east");
    assert_eq!(east_metrics.cumulative.requests, 3);
    assert_eq!(east_metrics.cumulative.errors_5xx, 1);
    assert_eq!(east_metrics.cumulative.shed, 1);
    assert_eq!(east_metrics.window.shed, 1);
    assert_eq!(east_metrics.window.requests, 3);
    let latency = east_metrics.cumulative.latency_ms.unwrap();
    assert!(
        latency.max > 0.0 && latency.p50 <= latency.max,
        "{latency:?}"
    );
    assert_eq!(state.metrics.regions[1].cumulative.requests, 0);

    let state = net.admin.reset_metrics().await.unwrap();
    assert_eq!(state.metrics.regions[0].cumulative.requests, 0);
    assert!(state.metrics.regions[0].cumulative.latency_ms.is_none());

    net.stop().await;
    east.stop().await;
    west.stop().await;
}

#[tokio::test]
async fn fails_over_after_failure_threshold_and_fails_back_after_success_threshold() {
    let dir = tempfile::tempdir().unwrap();
    let (mut east, mut west) = regions().await;
    let net = Net::start(net_config(&east.url(), &west.url(), dir.path(), vec![])).await;
    // A new check starts healthy: traffic goes to PRIMARY at once.
    assert_eq!(net.served_by().await, "east");

    east.set_ready(false);
    let took = wait_until("failover to west", Duration::from_secs(5), || async {
        net.served_by().await == "west"
    })
    .await;
    // Three consecutive failures are at least two intervals apart from the first.
    assert!(
        took >= Duration::from_millis(2 * INTERVAL_MS - 10),
        "failed over too early: {took:?}"
    );
    let state = net.admin.state().await.unwrap();
    assert_eq!(
        state.primary, "east",
        "failover routing does not change the records"
    );
    assert_eq!(state.routing_to, "west");
    let east_health = &state.health[0];
    assert!(!east_health.healthy);
    assert!(east_health.consecutive_fail >= 3);
    assert!(
        east_health.last_error.as_deref().unwrap().contains("503"),
        "{east_health:?}"
    );
    assert!(east_health.last_check.is_some());

    east.set_ready(true);
    let took = wait_until("fail back to east", Duration::from_secs(5), || async {
        net.served_by().await == "east"
    })
    .await;
    assert!(
        took >= Duration::from_millis(2 * INTERVAL_MS - 10),
        "recovered before success_threshold checks: {took:?}"
    );
    let state = net.admin.state().await.unwrap();
    assert!(state.health[0].healthy);
    assert!(state.health[0].consecutive_ok >= 3);
    assert!(state.health[0].last_error.is_none());

    net.stop().await;
    east.stop().await;
    west.stop().await;
}

#[tokio::test]
async fn both_unhealthy_fails_open_to_primary_and_dead_upstream_is_502() {
    let dir = tempfile::tempdir().unwrap();
    let (mut east, mut west) = regions().await;
    let net = Net::start(net_config(&east.url(), &west.url(), dir.path(), vec![])).await;

    east.set_ready(false);
    wait_until("failover to west", Duration::from_secs(5), || async {
        net.served_by().await == "west"
    })
    .await;
    west.set_ready(false);
    wait_until("both unhealthy", Duration::from_secs(5), || async {
        let state = net.admin.state().await.unwrap();
        state.health.iter().all(|h| !h.healthy)
    })
    .await;
    // Fail open: PRIMARY answers again.
    assert_eq!(net.served_by().await, "east");
    assert_eq!(net.admin.state().await.unwrap().routing_to, "east");

    // Nobody listens any more: 502 problem+json naming the attempted region.
    east.stop().await;
    west.stop().await;
    let resp = net.http.get(net.url("/echo")).send().await.unwrap();
    assert_eq!(resp.status(), 502);
    assert_eq!(region_of(&resp), "east");
    assert_eq!(
        resp.headers()["content-type"].to_str().unwrap(),
        "application/problem+json"
    );
    let problem: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(problem["status"], 502);
    assert!(
        problem["detail"].as_str().unwrap().contains("east"),
        "{problem}"
    );
    let state = net.admin.state().await.unwrap();
    assert!(state.metrics.regions[0].cumulative.errors_5xx >= 1);

    net.stop().await;
}

/// A writer (east) and its replica (west), as pm-api's `/ready` reports them.
async fn writer_and_replica() -> (FakeRegion, FakeRegion) {
    let (east, west) = regions().await;
    east.set_role("writer");
    west.set_role("replica");
    (east, west)
}

#[tokio::test]
async fn a_busy_writer_never_sends_traffic_to_the_replica() {
    let dir = tempfile::tempdir().unwrap();
    let (mut east, mut west) = writer_and_replica().await;
    let net = Net::start(net_config(&east.url(), &west.url(), dir.path(), vec![])).await;
    wait_until("west seen as a replica", Duration::from_secs(5), || async {
        let st = net.admin.state().await.unwrap();
        st.health[1].db_role.as_deref() == Some("replica")
    })
    .await;
    let st = net.admin.state().await.unwrap();
    assert!(
        st.health[1].healthy,
        "a replica answers: healthy, not writable"
    );
    assert!(st.health[0].healthy && st.routing_to == "east");
    // Overload: east's /ready times out, then answers errors — unhealthy, but busy, not
    // gone. Traffic stays on the writer.
    east.set_ready_delay(700);
    wait_until("east unhealthy", Duration::from_secs(10), || async {
        !net.admin.state().await.unwrap().health[0].healthy
    })
    .await;
    east.set_ready_delay(0);
    east.set_ready(false);
    tokio::time::sleep(Duration::from_millis(5 * INTERVAL_MS)).await;
    let st = net.admin.state().await.unwrap();
    assert!(!st.health[0].healthy, "{:?}", st.health[0]);
    assert_eq!(st.routing_to, "east", "load moved traffic: {:?}", st.health);
    assert_eq!(net.served_by().await, "east");
    east.set_ready(true);
    // A promoted west (the writer now) is a target like any writer.
    west.set_role("writer");
    east.set_ready(false);
    wait_until(
        "traffic to the new writer",
        Duration::from_secs(5),
        || async { net.served_by().await == "west" },
    )
    .await;
    net.stop().await;
    east.stop().await;
    west.stop().await;
}

#[tokio::test]
async fn a_dead_writer_api_still_moves_traffic_to_the_live_replica() {
    let dir = tempfile::tempdir().unwrap();
    let (mut east, mut west) = writer_and_replica().await;
    let net = Net::start(net_config(&east.url(), &west.url(), dir.path(), vec![])).await;
    assert_eq!(net.served_by().await, "east");
    // Nothing listens at east any more (the API was killed): an outage, not load.
    east.stop().await;
    let took = wait_until("traffic to west", Duration::from_secs(5), || async {
        net.served_by().await == "west"
    })
    .await;
    assert!(
        took >= Duration::from_millis(2 * INTERVAL_MS - 10),
        "moved before failure_threshold checks: {took:?}"
    );
    let st = net.admin.state().await.unwrap();
    assert!(st.health[0].unreachable_streak >= 3, "{:?}", st.health[0]);
    assert_eq!(st.primary, "east", "routing, not the records, moved");
    net.stop().await;
    west.stop().await;
}

#[tokio::test]
async fn slow_upstream_is_504() {
    let dir = tempfile::tempdir().unwrap();
    let (mut east, mut west) = regions().await;
    let mut config = net_config(&east.url(), &west.url(), dir.path(), vec![]);
    config.frontdoor.upstream_timeout_ms = 300;
    let net = Net::start(config).await;

    let started = Instant::now();
    let resp = net.http.get(net.url("/slow")).send().await.unwrap();
    assert_eq!(resp.status(), 504);
    assert!(started.elapsed() >= Duration::from_millis(300));
    assert!(started.elapsed() < Duration::from_secs(2));
    assert_eq!(region_of(&resp), "east");
    let problem: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(problem["title"], "Upstream timeout");

    net.stop().await;
    east.stop().await;
    west.stop().await;
}

#[tokio::test]
async fn upsert_primary_takes_effect_on_next_request() {
    let dir = tempfile::tempdir().unwrap();
    let (mut east, mut west) = regions().await;
    let net = Net::start(net_config(&east.url(), &west.url(), dir.path(), vec![])).await;
    assert_eq!(net.served_by().await, "east");

    let state = net.admin.set_primary("west").await.unwrap();
    assert_eq!(state.primary, "west");
    assert_eq!(state.routing_to, "west");
    let roles: Vec<(String, Role)> = state
        .records
        .iter()
        .map(|r| (r.region.clone(), r.role))
        .collect();
    assert_eq!(
        roles,
        vec![
            ("east".to_string(), Role::Secondary),
            ("west".to_string(), Role::Primary)
        ]
    );
    assert_eq!(net.served_by().await, "west");

    let err = net.admin.set_primary("north").await.unwrap_err();
    assert_eq!(err.status(), Some(400));
    assert!(err.to_string().contains("north"), "{err}");
    assert!(!err.is_unreachable());
    assert_eq!(net.served_by().await, "west");

    net.stop().await;
    east.stop().await;
    west.stop().await;
}

#[tokio::test]
async fn write_block_rejects_writes_and_passes_reads() {
    let dir = tempfile::tempdir().unwrap();
    let (mut east, mut west) = regions().await;
    let net = Net::start(net_config(&east.url(), &west.url(), dir.path(), vec![])).await;

    let state = net.admin.set_writes_blocked(true).await.unwrap();
    assert!(state.writes_blocked);
    for method in [
        reqwest::Method::POST,
        reqwest::Method::PUT,
        reqwest::Method::DELETE,
    ] {
        let resp = net
            .http
            .request(method.clone(), net.url("/echo"))
            .body("x")
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 503, "{method}");
        assert_eq!(resp.headers()["retry-after"], "1");
        assert_eq!(resp.headers()["content-type"], "application/problem+json");
    }
    assert_eq!(
        east.state.writes.load(Ordering::SeqCst),
        0,
        "a blocked write reached east"
    );
    let resp = net.http.get(net.url("/echo")).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let state = net.admin.state().await.unwrap();
    assert_eq!(state.metrics.write_blocked_rejections, 3);

    net.admin.set_writes_blocked(false).await.unwrap();
    let resp = net
        .http
        .post(net.url("/echo"))
        .body("x")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(east.state.writes.load(Ordering::SeqCst), 1);

    net.stop().await;
    east.stop().await;
    west.stop().await;
}

// ---------------------------------------------------------------------------------------------
// Admin API

#[tokio::test]
async fn admin_api_requires_the_token() {
    let dir = tempfile::tempdir().unwrap();
    let (mut east, mut west) = regions().await;
    let net = Net::start(net_config(&east.url(), &west.url(), dir.path(), vec![])).await;
    let http = &net.http;

    let health = http
        .get(format!("{}/admin/health", net.admin_url))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
    assert_eq!(health.text().await.unwrap(), "ok");

    let url = format!("{}/admin/state", net.admin_url);
    let missing = http.get(&url).send().await.unwrap();
    assert_eq!(missing.status(), 401);
    assert_eq!(
        missing.headers()["content-type"],
        "application/problem+json"
    );
    let wrong = http.get(&url).bearer_auth("nope").send().await.unwrap();
    assert_eq!(wrong.status(), 401);
    let prefix = http
        .get(&url)
        .bearer_auth(&TOKEN[..TOKEN.len() - 1])
        .send()
        .await
        .unwrap();
    assert_eq!(prefix.status(), 401);
    let put = http
        .put(format!("{}/admin/writes", net.admin_url))
        .body(r#"{"blocked":true}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(put.status(), 401);
    assert!(!net.admin.state().await.unwrap().writes_blocked);

    let bad_client = AdminClient::new(&net.admin_url, "wrong").unwrap();
    let err = bad_client.state().await.unwrap_err();
    assert!(matches!(err, AdminError::Unauthorized), "{err:?}");
    assert!(!err.is_unreachable());

    // Bad bodies are 400 problem+json; unknown links 404.
    let bad = http
        .put(format!("{}/admin/writes", net.admin_url))
        .bearer_auth(TOKEN)
        .body("{\"blocked\":\"maybe\"}")
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);
    assert_eq!(bad.headers()["content-type"], "application/problem+json");
    let err = net
        .admin
        .set_link_mode("nowhere", LinkMode::Down)
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(404));

    let admin_url = net.admin_url.clone();
    net.stop().await;

    // Nothing listens any more: unreachable, not refused.
    let err = net_admin_after_stop(&admin_url).await;
    assert!(err.is_unreachable(), "{err:?}");

    east.stop().await;
    west.stop().await;
}

async fn net_admin_after_stop(base: &str) -> AdminError {
    let client = AdminClient::with_timeout(base, TOKEN, Duration::from_secs(2)).unwrap();
    client.state().await.unwrap_err()
}

#[tokio::test]
async fn state_persists_across_restart() {
    let dir = tempfile::tempdir().unwrap();
    let (mut east, mut west) = regions().await;
    let echo = EchoServer::start().await;
    let links = vec![LinkConfig {
        name: "repl-west-east".into(),
        listen: "127.0.0.1:0".parse().unwrap(),
        target: echo.addr,
    }];
    let config = net_config(&east.url(), &west.url(), dir.path(), links);

    let net = Net::start(config.clone()).await;
    net.admin.set_primary("west").await.unwrap();
    net.admin.set_writes_blocked(true).await.unwrap();
    net.admin
        .set_link_mode("repl-west-east", LinkMode::Latency { ms: 25 })
        .await
        .unwrap();
    net.stop().await;
    assert!(config.state_file.exists());

    let net = Net::start(config.clone()).await;
    let state = net.admin.state().await.unwrap();
    assert_eq!(state.primary, "west");
    assert!(state.writes_blocked);
    assert_eq!(state.links[0].mode, LinkMode::Latency { ms: 25 });
    assert_eq!(net.served_by().await, "west");
    net.stop().await;

    // A corrupt state file is an error, not a silent reset (it might hold a write block).
    std::fs::write(&config.state_file, "{not json").unwrap();
    let err = NetServer::bind(config.clone()).await.err().unwrap();
    assert!(matches!(err, NetError::BadState { .. }), "{err:?}");

    east.stop().await;
    west.stop().await;
}

#[tokio::test]
async fn busy_port_is_an_error_naming_the_port_and_its_purpose() {
    let dir = tempfile::tempdir().unwrap();
    let taken = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let taken_addr = taken.local_addr().unwrap();
    let mut config = net_config(
        "http://127.0.0.1:1",
        "http://127.0.0.1:2",
        dir.path(),
        vec![],
    );
    config.frontdoor.listen = taken_addr;
    let err = NetServer::bind(config.clone()).await.err().unwrap();
    let msg = err.to_string();
    assert!(
        msg.contains(&taken_addr.to_string()) && msg.contains("front door"),
        "{msg}"
    );

    config.frontdoor.listen = "127.0.0.1:0".parse().unwrap();
    config.links = vec![LinkConfig {
        name: "repl-west-east".into(),
        listen: taken_addr,
        target: "127.0.0.1:1".parse().unwrap(),
    }];
    let msg = NetServer::bind(config).await.err().unwrap().to_string();
    assert!(
        msg.contains(&taken_addr.to_string()) && msg.contains("link repl-west-east"),
        "{msg}"
    );
}

// ---------------------------------------------------------------------------------------------
// Links

async fn round_trip(
    stream: &mut TcpStream,
    payload: &[u8],
    limit: Duration,
) -> io::Result<Vec<u8>> {
    stream.write_all(payload).await?;
    let mut buf = vec![0u8; payload.len()];
    tokio::time::timeout(limit, stream.read_exact(&mut buf))
        .await
        .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "no answer"))??;
    Ok(buf)
}

/// Reads until EOF or an error; true when the connection ended within `limit`.
async fn sees_end(stream: &mut TcpStream, limit: Duration) -> bool {
    let mut buf = [0u8; 64];
    matches!(
        tokio::time::timeout(limit, stream.read(&mut buf)).await,
        Ok(Ok(0)) | Ok(Err(_))
    )
}

#[tokio::test]
async fn link_modes_up_down_blackhole_latency() {
    let dir = tempfile::tempdir().unwrap();
    let echo = EchoServer::start().await;
    let name = "repl-west-east";
    let links = vec![LinkConfig {
        name: name.into(),
        listen: "127.0.0.1:0".parse().unwrap(),
        target: echo.addr,
    }];
    // Regions are never contacted in this test beyond health checks.
    let net = Net::start(net_config(
        "http://127.0.0.1:1",
        "http://127.0.0.1:2",
        dir.path(),
        links,
    ))
    .await;
    let addr = net.link(name);
    let short = Duration::from_millis(300);
    let enough = Duration::from_secs(3);

    // up: bytes flow and are counted.
    let mut conn = TcpStream::connect(addr).await.unwrap();
    assert_eq!(
        round_trip(&mut conn, b"hello", enough).await.unwrap(),
        b"hello"
    );
    let link = &net.admin.state().await.unwrap().links[0];
    assert_eq!(link.mode, LinkMode::Up);
    assert_eq!(link.active_connections, 1);
    assert_eq!((link.bytes_to_target, link.bytes_from_target), (5, 5));

    // down: the live connection is cut, new connections are refused.
    let state = net.admin.set_link_mode(name, LinkMode::Down).await.unwrap();
    assert_eq!(state.links[0].mode, LinkMode::Down);
    assert!(
        sees_end(&mut conn, enough).await,
        "existing connection not cut"
    );
    let err = TcpStream::connect(addr).await.unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::ConnectionRefused);
    assert_eq!(
        net.admin.state().await.unwrap().links[0].active_connections,
        0
    );

    // up again: the listener is back on the same address.
    net.admin.set_link_mode(name, LinkMode::Up).await.unwrap();
    let mut conn = TcpStream::connect(addr).await.unwrap();
    assert_eq!(
        round_trip(&mut conn, b"again", enough).await.unwrap(),
        b"again"
    );

    // blackhole: new connections are accepted but never answered; live ones freeze.
    net.admin
        .set_link_mode(name, LinkMode::Blackhole)
        .await
        .unwrap();
    let mut fresh = TcpStream::connect(addr).await.expect("blackhole accepts");
    let err = round_trip(&mut fresh, b"anyone?", short).await.unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::TimedOut);
    let err = round_trip(&mut conn, b"frozen", short).await.unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::TimedOut);
    let before = net.admin.state().await.unwrap().links[0].clone();
    assert_eq!(before.active_connections, 2, "frozen connections stay open");

    // blackhole → up resumes: what was sent meanwhile arrives, in order.
    net.admin.set_link_mode(name, LinkMode::Up).await.unwrap();
    let mut buf = [0u8; 6];
    tokio::time::timeout(enough, conn.read_exact(&mut buf))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(&buf, b"frozen");
    let mut buf = [0u8; 7];
    tokio::time::timeout(enough, fresh.read_exact(&mut buf))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(&buf, b"anyone?");

    // latency: each direction is delayed, live connections included.
    net.admin
        .set_link_mode(name, LinkMode::Latency { ms: 250 })
        .await
        .unwrap();
    let started = Instant::now();
    assert_eq!(
        round_trip(&mut conn, b"slow", enough).await.unwrap(),
        b"slow"
    );
    let rtt = started.elapsed();
    assert!(
        rtt >= Duration::from_millis(500),
        "round trip {rtt:?} < 2 × 250 ms"
    );
    // Order is kept across many chunks.
    let payload: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    assert_eq!(
        round_trip(&mut conn, &payload, enough).await.unwrap(),
        payload
    );

    // back to up: fast again.
    net.admin.set_link_mode(name, LinkMode::Up).await.unwrap();
    let started = Instant::now();
    assert_eq!(
        round_trip(&mut conn, b"fast", enough).await.unwrap(),
        b"fast"
    );
    assert!(started.elapsed() < Duration::from_millis(250));

    // Shutting the net process down closes its link connections.
    net.stop().await;
    assert!(sees_end(&mut conn, enough).await);
    drop(echo);
}
