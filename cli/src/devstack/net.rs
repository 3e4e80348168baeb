//! The "net" process of a local stack: the front door, every link and one admin API.
//!
//! `pmctl internal net --config <state-dir>/net.json` calls [`NetConfig::load`] then [`run`].
//! Tests (and anything that binds port 0) use [`NetServer::bind`] to learn the bound addresses
//! before [`NetServer::serve`].
//!
//! Admin API (every route but `/admin/health` needs `Authorization: Bearer <admin_token>`):
//!
//! | route                          | body                                   |
//! |--------------------------------|----------------------------------------|
//! | `GET /admin/health`            | — (no auth) → `200 ok`                 |
//! | `GET /admin/state`             | — → [`NetState`]                       |
//! | `PUT /admin/primary`           | `{"region":"west"}`                    |
//! | `PUT /admin/writes`            | `{"blocked":true}`                     |
//! | `PUT /admin/links/{name}`      | `{"mode":"latency","ms":200}` …        |
//! | `POST /admin/metrics/reset`    | —                                      |
//!
//! Mutating routes answer with the new [`NetState`]. Errors are `application/problem+json`.
//! The mutable state (PRIMARY, write block, link modes) is persisted to `state_file`
//! (write temp, fsync, rename) before a mutation is acknowledged, and loaded at start, so a
//! restarted net process keeps them; metrics and health are not persisted (health starts
//! healthy, as a new Route 53 check does).

use std::collections::BTreeMap;
use std::future::{Future, IntoFuture};
use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path as UrlPath, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tokio::net::TcpListener;
use tokio::sync::watch;

pub use super::frontdoor::{
    FrontDoorConfig, HealthCheckConfig, HealthSnapshot, LatencySummary, MetricsCounts,
    MetricsSnapshot, RecordSnapshot, RegionMetricsSnapshot, RegionRecord, Role,
};
pub use super::link::{LinkConfig, LinkMode, LinkSnapshot};

use super::frontdoor::{problem, FrontDoor};
use super::link::Link;

/// How long servers get to finish in-flight requests after shutdown is requested.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(3);

/// Everything the net process needs; `<state-dir>/net.json`.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct NetConfig {
    /// Where the admin API listens, e.g. `127.0.0.1:8090`.
    pub admin_listen: SocketAddr,
    /// Bearer token every admin request but `/admin/health` must carry.
    pub admin_token: String,
    /// Where PRIMARY, write block and link modes are persisted.
    pub state_file: PathBuf,
    pub frontdoor: FrontDoorConfig,
    #[serde(default)]
    pub links: Vec<LinkConfig>,
}

impl NetConfig {
    /// Reads and validates a JSON config file.
    pub fn load(path: &Path) -> Result<NetConfig, NetError> {
        let text = std::fs::read_to_string(path).map_err(|source| NetError::ReadConfig {
            path: path.to_path_buf(),
            source,
        })?;
        let config: NetConfig =
            serde_json::from_str(&text).map_err(|source| NetError::ParseConfig {
                path: path.to_path_buf(),
                source,
            })?;
        config.validate()?;
        Ok(config)
    }

    /// Checks the whole config; the error lists every problem found.
    pub fn validate(&self) -> Result<(), NetError> {
        let mut problems = self.frontdoor.problems();
        if self.admin_token.trim().is_empty() {
            problems.push("admin_token must not be empty".to_string());
        }
        if self.state_file.as_os_str().is_empty() {
            problems.push("state_file must not be empty".to_string());
        }
        for (i, link) in self.links.iter().enumerate() {
            if link.name.is_empty()
                || !link
                    .name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            {
                problems.push(format!(
                    "link name {:?} must be non-empty letters, digits, '-' or '_'",
                    link.name
                ));
            }
            if self.links[..i].iter().any(|l| l.name == link.name) {
                problems.push(format!("duplicate link name {:?}", link.name));
            }
            if link.listen == link.target {
                problems.push(format!(
                    "link {:?} listens on its own target {}",
                    link.name, link.target
                ));
            }
        }
        // Two listeners on one fixed port would only fail at bind time; say so now.
        let mut fixed: Vec<(SocketAddr, String)> = vec![
            (self.admin_listen, "admin API".to_string()),
            (self.frontdoor.listen, "front door".to_string()),
        ];
        fixed.extend(
            self.links
                .iter()
                .map(|l| (l.listen, format!("link {}", l.name))),
        );
        for (i, (addr, what)) in fixed.iter().enumerate() {
            if addr.port() == 0 {
                continue;
            }
            if let Some((_, other)) = fixed[..i].iter().find(|(a, _)| a == addr) {
                problems.push(format!("{what} and {other} both listen on {addr}"));
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(NetError::InvalidConfig(problems))
        }
    }
}

/// Errors of the net process.
#[derive(Debug, thiserror::Error)]
pub enum NetError {
    #[error("cannot read net config {path}")]
    ReadConfig {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("cannot parse net config {path}")]
    ParseConfig {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error("invalid net config: {}", .0.join("; "))]
    InvalidConfig(Vec<String>),
    #[error("cannot listen on {addr} for the {purpose} (is another net process running?)")]
    Bind {
        purpose: String,
        addr: SocketAddr,
        #[source]
        source: io::Error,
    },
    #[error("bad state file {path}: {reason} (fix it or delete it to start from the config)")]
    BadState { path: PathBuf, reason: String },
    #[error("cannot read state file {path}")]
    ReadState {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("cannot write state file {path}")]
    WriteState {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("the {purpose} server failed")]
    Serve {
        purpose: String,
        #[source]
        source: io::Error,
    },
}

/// What survives a restart of the net process.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct PersistedState {
    pub primary: String,
    pub writes_blocked: bool,
    pub links: BTreeMap<String, LinkMode>,
    pub updated_at: DateTime<Utc>,
}

impl PersistedState {
    /// Reads the state file; `Ok(None)` when there is none.
    pub fn load(path: &Path) -> Result<Option<PersistedState>, NetError> {
        match std::fs::read(path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|e| NetError::BadState {
                    path: path.to_path_buf(),
                    reason: e.to_string(),
                }),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(NetError::ReadState {
                path: path.to_path_buf(),
                source,
            }),
        }
    }

    /// Writes atomically: temp file in the same directory, fsync, rename, fsync directory.
    pub fn save(&self, path: &Path) -> io::Result<()> {
        use std::io::Write as _;
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        let mut tmp = path.as_os_str().to_owned();
        tmp.push(".tmp");
        let tmp = PathBuf::from(tmp);
        let mut json = serde_json::to_vec_pretty(self).map_err(io::Error::other)?;
        json.push(b'\n');
        {
            let mut file = std::fs::File::create(&tmp)?;
            file.write_all(&json)?;
            file.sync_all()?;
        }
        std::fs::rename(&tmp, path)?;
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            // Best effort: makes the rename itself durable.
            if let Ok(dir) = std::fs::File::open(dir) {
                let _ = dir.sync_all();
            }
        }
        Ok(())
    }
}

/// The admin API's full snapshot (`GET /admin/state`).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct NetState {
    pub generated_at: DateTime<Utc>,
    pub started_at: DateTime<Utc>,
    pub frontdoor_listen: SocketAddr,
    pub admin_listen: SocketAddr,
    pub records: Vec<RecordSnapshot>,
    /// The PRIMARY region.
    pub primary: String,
    pub health: Vec<HealthSnapshot>,
    /// The region new requests go to now (failover routing applied).
    pub routing_to: String,
    pub writes_blocked: bool,
    pub links: Vec<LinkSnapshot>,
    pub metrics: MetricsSnapshot,
}

struct Admin {
    frontdoor: Arc<FrontDoor>,
    links: BTreeMap<String, Arc<Link>>,
    token_digest: [u8; 32],
    state_file: PathBuf,
    /// Serialises mutations so the state file always holds the latest state.
    mutate: tokio::sync::Mutex<()>,
    started_at: DateTime<Utc>,
    frontdoor_listen: SocketAddr,
    admin_listen: SocketAddr,
}

impl Admin {
    fn state(&self) -> NetState {
        NetState {
            generated_at: Utc::now(),
            started_at: self.started_at,
            frontdoor_listen: self.frontdoor_listen,
            admin_listen: self.admin_listen,
            records: self.frontdoor.records(),
            primary: self.frontdoor.primary().to_string(),
            health: self.frontdoor.health(),
            routing_to: self.frontdoor.routing_to().to_string(),
            writes_blocked: self.frontdoor.writes_blocked(),
            links: self.links.values().map(|l| l.snapshot()).collect(),
            metrics: self.frontdoor.metrics(),
        }
    }

    fn persisted(&self) -> PersistedState {
        PersistedState {
            primary: self.frontdoor.primary().to_string(),
            writes_blocked: self.frontdoor.writes_blocked(),
            links: self
                .links
                .iter()
                .map(|(name, link)| (name.clone(), link.mode()))
                .collect(),
            updated_at: Utc::now(),
        }
    }

    async fn persist(&self) -> Result<(), NetError> {
        let state = self.persisted();
        let path = self.state_file.clone();
        let result = tokio::task::spawn_blocking(move || state.save(&path))
            .await
            .unwrap_or_else(|e| Err(io::Error::other(e)));
        result.map_err(|source| NetError::WriteState {
            path: self.state_file.clone(),
            source,
        })
    }

    /// Persists after a mutation and answers with the new state (500 if persisting failed).
    async fn persisted_response(&self) -> Response {
        match self.persist().await {
            Ok(()) => Json(self.state()).into_response(),
            Err(err) => {
                tracing::error!(error = %error_chain(&err), "cannot persist net state");
                problem(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "State not persisted",
                    &format!(
                        "the change is in force but was not persisted: {}",
                        error_chain(&err)
                    ),
                )
            }
        }
    }
}

/// A bound, not yet serving, net process: every port is held.
pub struct NetServer {
    admin: Arc<Admin>,
    admin_listener: TcpListener,
    frontdoor_listener: TcpListener,
}

impl NetServer {
    /// Validates the config, loads the state file, binds the admin API, the front door and
    /// every link (a busy port is an error naming the port and its purpose), and writes the
    /// state file.
    pub async fn bind(config: NetConfig) -> Result<NetServer, NetError> {
        config.validate()?;
        let loaded = PersistedState::load(&config.state_file)?;
        let (primary, writes_blocked, mut modes) = match loaded {
            Some(state) => {
                if !config
                    .frontdoor
                    .regions
                    .iter()
                    .any(|r| r.name == state.primary)
                {
                    return Err(NetError::BadState {
                        path: config.state_file.clone(),
                        reason: format!(
                            "its primary {:?} is not among the configured regions ({})",
                            state.primary,
                            config.frontdoor.region_names().join(", ")
                        ),
                    });
                }
                for name in state.links.keys() {
                    if !config.links.iter().any(|l| &l.name == name) {
                        tracing::warn!(link = %name, "state file names a link that is no longer configured; ignored");
                    }
                }
                tracing::info!(path = %config.state_file.display(), primary = %state.primary,
                    writes_blocked = state.writes_blocked, "loaded net state");
                (state.primary, state.writes_blocked, state.links)
            }
            None => (
                config.frontdoor.initial_primary.clone(),
                false,
                BTreeMap::new(),
            ),
        };

        let bind = |addr: SocketAddr, purpose: String| async move {
            match TcpListener::bind(addr).await {
                Ok(listener) => Ok(listener),
                Err(source) => Err(NetError::Bind {
                    purpose,
                    addr,
                    source,
                }),
            }
        };
        let admin_listener = bind(config.admin_listen, "admin API".to_string()).await?;
        let frontdoor_listener = bind(config.frontdoor.listen, "front door".to_string()).await?;
        let local = |l: &TcpListener, purpose: &str, addr: SocketAddr| {
            l.local_addr().map_err(|source| NetError::Bind {
                purpose: purpose.to_string(),
                addr,
                source,
            })
        };
        let admin_listen = local(&admin_listener, "admin API", config.admin_listen)?;
        let frontdoor_listen = local(&frontdoor_listener, "front door", config.frontdoor.listen)?;

        // Links start forwarding at once; dropping a `Link` stops it, so an early return
        // below leaves nothing running.
        let mut links = BTreeMap::new();
        for link_config in &config.links {
            let mode = modes.remove(&link_config.name).unwrap_or_default();
            let link = Link::start(link_config, mode)
                .await
                .map_err(|source| NetError::Bind {
                    purpose: format!("link {}", link_config.name),
                    addr: link_config.listen,
                    source,
                })?;
            links.insert(link_config.name.clone(), Arc::new(link));
        }

        let frontdoor = FrontDoor::new(&config.frontdoor, &primary, writes_blocked)
            .map_err(|problem| NetError::InvalidConfig(vec![problem]))?;
        let admin = Arc::new(Admin {
            frontdoor,
            links,
            token_digest: Sha256::digest(config.admin_token.as_bytes()).into(),
            state_file: config.state_file.clone(),
            mutate: tokio::sync::Mutex::new(()),
            started_at: Utc::now(),
            frontdoor_listen,
            admin_listen,
        });
        admin.persist().await?;
        Ok(NetServer {
            admin,
            admin_listener,
            frontdoor_listener,
        })
    }

    pub fn admin_addr(&self) -> SocketAddr {
        self.admin.admin_listen
    }

    pub fn frontdoor_addr(&self) -> SocketAddr {
        self.admin.frontdoor_listen
    }

    /// The address a link actually listens on.
    pub fn link_addr(&self, name: &str) -> Option<SocketAddr> {
        self.admin.links.get(name).map(|l| l.listen_addr())
    }

    /// Serves until `shutdown` completes (or a server fails), then stops gracefully: servers
    /// get [`SHUTDOWN_GRACE`] to finish in-flight requests, health checks stop, links close.
    pub async fn serve(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), NetError> {
        let NetServer {
            admin,
            admin_listener,
            frontdoor_listener,
        } = self;
        let (stop_tx, stop_rx) = watch::channel(false);
        let stop_signal = |mut rx: watch::Receiver<bool>| async move {
            let _ = rx.wait_for(|stop| *stop).await;
        };

        let health_checks = admin.frontdoor.spawn_health_checks();
        let fd_app = admin
            .frontdoor
            .router()
            .into_make_service_with_connect_info::<SocketAddr>();
        let mut fd_task = tokio::spawn(
            axum::serve(frontdoor_listener, fd_app)
                .with_graceful_shutdown(stop_signal(stop_rx.clone()))
                .into_future(),
        );
        let mut admin_task = tokio::spawn(
            axum::serve(admin_listener, admin_router(admin.clone()))
                .with_graceful_shutdown(stop_signal(stop_rx.clone()))
                .into_future(),
        );
        tracing::info!(
            frontdoor = %admin.frontdoor_listen,
            admin = %admin.admin_listen,
            links = ?admin.links.values().map(|l| (l.name().to_string(), l.listen_addr())).collect::<Vec<_>>(),
            primary = %admin.frontdoor.primary(),
            "net process serving"
        );

        let served = |purpose: &str, joined: Result<io::Result<()>, tokio::task::JoinError>| {
            let source = match joined {
                Ok(Ok(())) => io::Error::other("stopped unexpectedly"),
                Ok(Err(e)) => e,
                Err(e) => io::Error::other(e),
            };
            Err(NetError::Serve {
                purpose: purpose.to_string(),
                source,
            })
        };
        let result = tokio::select! {
            () = shutdown => Ok(()),
            joined = &mut fd_task => served("front door", joined),
            joined = &mut admin_task => served("admin API", joined),
        };
        tracing::info!("net process stopping");
        let _ = stop_tx.send(true);
        for task in [&mut fd_task, &mut admin_task] {
            if !task.is_finished()
                && tokio::time::timeout(SHUTDOWN_GRACE, &mut *task)
                    .await
                    .is_err()
            {
                // Connections axum already spawned may outlive this; the process exits next.
                tracing::warn!(
                    "in-flight requests still open after the grace period; closing them"
                );
                task.abort();
            }
        }
        for task in health_checks {
            task.abort();
        }
        for link in admin.links.values() {
            link.shutdown().await;
        }
        tracing::info!("net process stopped");
        result
    }
}

/// Binds everything (see [`NetServer::bind`]), then serves until `shutdown` completes.
pub async fn run(
    config: NetConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), NetError> {
    NetServer::bind(config).await?.serve(shutdown).await
}

fn admin_router(admin: Arc<Admin>) -> Router {
    let authed = Router::new()
        .route("/admin/state", get(get_state))
        .route("/admin/primary", put(put_primary))
        .route("/admin/writes", put(put_writes))
        .route("/admin/links/{name}", put(put_link))
        .route("/admin/metrics/reset", post(reset_metrics))
        .route_layer(middleware::from_fn_with_state(admin.clone(), require_token));
    Router::new()
        .route("/admin/health", get(|| async { "ok" }))
        .merge(authed)
        .fallback(|| async { problem(StatusCode::NOT_FOUND, "Not found", "no such admin route") })
        .with_state(admin)
}

async fn require_token(State(admin): State<Arc<Admin>>, req: Request, next: Next) -> Response {
    let presented = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    let ok = match presented {
        // Compare fixed-length digests without an early exit: constant time in the token.
        Some(token) => {
            let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
            digest
                .iter()
                .zip(admin.token_digest.iter())
                .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                == 0
        }
        None => false,
    };
    if ok {
        return next.run(req).await;
    }
    let mut resp = problem(
        StatusCode::UNAUTHORIZED,
        "Unauthorized",
        "admin API requests need `Authorization: Bearer <admin_token>` with the token from net.json",
    );
    resp.headers_mut()
        .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    resp
}

/// Parses a JSON body; see [`bad_body`] for the answer on failure.
fn parse_body<T: DeserializeOwned>(body: &Bytes) -> Result<T, serde_json::Error> {
    serde_json::from_slice(body)
}

/// 400 problem+json for a body that does not parse.
fn bad_body(err: serde_json::Error) -> Response {
    problem(
        StatusCode::BAD_REQUEST,
        "Bad request body",
        &format!("invalid JSON body: {err}"),
    )
}

async fn get_state(State(admin): State<Arc<Admin>>) -> Json<NetState> {
    Json(admin.state())
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct PrimaryBody {
    region: String,
}

async fn put_primary(State(admin): State<Arc<Admin>>, body: Bytes) -> Response {
    let body: PrimaryBody = match parse_body(&body) {
        Ok(b) => b,
        Err(err) => return bad_body(err),
    };
    let _guard = admin.mutate.lock().await;
    if let Err(err) = admin.frontdoor.set_primary(&body.region) {
        return problem(StatusCode::BAD_REQUEST, "Unknown region", &err.to_string());
    }
    admin.persisted_response().await
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct WritesBody {
    blocked: bool,
}

async fn put_writes(State(admin): State<Arc<Admin>>, body: Bytes) -> Response {
    let body: WritesBody = match parse_body(&body) {
        Ok(b) => b,
        Err(err) => return bad_body(err),
    };
    let _guard = admin.mutate.lock().await;
    admin.frontdoor.set_writes_blocked(body.blocked);
    admin.persisted_response().await
}

async fn put_link(
    State(admin): State<Arc<Admin>>,
    UrlPath(name): UrlPath<String>,
    body: Bytes,
) -> Response {
    let Some(link) = admin.links.get(&name).cloned() else {
        return problem(
            StatusCode::NOT_FOUND,
            "Unknown link",
            &format!(
                "no link named {name:?} (known: {})",
                admin.links.keys().cloned().collect::<Vec<_>>().join(", ")
            ),
        );
    };
    let mode: LinkMode = match parse_body(&body) {
        Ok(m) => m,
        Err(err) => return bad_body(err),
    };
    let _guard = admin.mutate.lock().await;
    if let Err(err) = link.set_mode(mode).await {
        return problem(
            StatusCode::CONFLICT,
            "Link mode not changed",
            &format!(
                "cannot set link {name} to {mode}: cannot listen on {} again: {err}",
                link.listen_addr()
            ),
        );
    }
    admin.persisted_response().await
}

async fn reset_metrics(State(admin): State<Arc<Admin>>) -> Json<NetState> {
    admin.frontdoor.reset_metrics();
    Json(admin.state())
}

fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// Typed client for the admin API.
#[derive(Clone, Debug)]
pub struct AdminClient {
    base_url: String,
    token: String,
    timeout: Duration,
    http: reqwest::Client,
}

/// Errors of [`AdminClient`]: [`AdminError::is_unreachable`] tells "no net process answering"
/// apart from "the net process answered and refused".
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error("invalid admin API URL {url:?}: {reason}")]
    InvalidUrl { url: String, reason: String },
    #[error("cannot build the HTTP client")]
    Client(#[source] reqwest::Error),
    #[error("net process unreachable at {url} (is the local stack up? try `pmctl dev up`)")]
    Unreachable {
        url: String,
        #[source]
        source: reqwest::Error,
    },
    #[error("net process at {url} did not answer within {timeout:?}")]
    Timeout { url: String, timeout: Duration },
    #[error("net process refused the admin token (HTTP 401): check admin_token in net.json")]
    Unauthorized,
    #[error("net process refused the request (HTTP {status}): {title}: {detail}")]
    Refused {
        status: u16,
        title: String,
        detail: String,
    },
    #[error("unexpected answer from net process at {url}: {reason}")]
    Protocol { url: String, reason: String },
}

impl AdminError {
    /// True when no net process answered (not running, wrong address, hung).
    pub fn is_unreachable(&self) -> bool {
        matches!(
            self,
            AdminError::Unreachable { .. } | AdminError::Timeout { .. }
        )
    }

    /// The HTTP status of a refusal.
    pub fn status(&self) -> Option<u16> {
        match self {
            AdminError::Unauthorized => Some(401),
            AdminError::Refused { status, .. } => Some(*status),
            _ => None,
        }
    }
}

#[derive(Deserialize)]
struct ProblemBody {
    #[serde(default)]
    title: String,
    #[serde(default)]
    detail: String,
}

impl AdminClient {
    /// Default per-request timeout.
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

    /// `base_url` like `http://127.0.0.1:8090`.
    pub fn new(base_url: &str, token: &str) -> Result<AdminClient, AdminError> {
        Self::with_timeout(base_url, token, Self::DEFAULT_TIMEOUT)
    }

    pub fn with_timeout(
        base_url: &str,
        token: &str,
        timeout: Duration,
    ) -> Result<AdminClient, AdminError> {
        let parsed = reqwest::Url::parse(base_url).map_err(|e| AdminError::InvalidUrl {
            url: base_url.to_string(),
            reason: e.to_string(),
        })?;
        if parsed.scheme() != "http" && parsed.scheme() != "https" {
            return Err(AdminError::InvalidUrl {
                url: base_url.to_string(),
                reason: "scheme must be http or https".to_string(),
            });
        }
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .no_proxy()
            .build()
            .map_err(AdminError::Client)?;
        Ok(AdminClient {
            base_url: base_url.trim_end_matches('/').to_string(),
            token: token.to_string(),
            timeout,
            http,
        })
    }

    /// `GET /admin/health` (no token): `Ok` when the net process is live.
    pub async fn health(&self) -> Result<(), AdminError> {
        let url = format!("{}/admin/health", self.base_url);
        let resp = self.http.get(&url).send().await;
        self.check(&url, resp).await.map(|_| ())
    }

    pub async fn state(&self) -> Result<NetState, AdminError> {
        self.call(reqwest::Method::GET, "/admin/state", None).await
    }

    /// UPSERTs the records so `region` is PRIMARY.
    pub async fn set_primary(&self, region: &str) -> Result<NetState, AdminError> {
        let body = serde_json::json!({ "region": region });
        self.call(reqwest::Method::PUT, "/admin/primary", Some(body))
            .await
    }

    pub async fn set_writes_blocked(&self, blocked: bool) -> Result<NetState, AdminError> {
        let body = serde_json::json!({ "blocked": blocked });
        self.call(reqwest::Method::PUT, "/admin/writes", Some(body))
            .await
    }

    pub async fn set_link_mode(&self, name: &str, mode: LinkMode) -> Result<NetState, AdminError> {
        let body = serde_json::to_value(mode).map_err(|e| AdminError::Protocol {
            url: self.base_url.clone(),
            reason: e.to_string(),
        })?;
        let path = format!("/admin/links/{}", encode_segment(name));
        self.call(reqwest::Method::PUT, &path, Some(body)).await
    }

    pub async fn reset_metrics(&self) -> Result<NetState, AdminError> {
        self.call(reqwest::Method::POST, "/admin/metrics/reset", None)
            .await
    }

    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> Result<NetState, AdminError> {
        let url = format!("{}{}", self.base_url, path);
        let mut req = self.http.request(method, &url).bearer_auth(&self.token);
        if let Some(body) = body {
            req = req.json(&body);
        }
        let resp = req.send().await;
        let resp = self.check(&url, resp).await?;
        resp.json::<NetState>()
            .await
            .map_err(|e| self.transport_error(&url, e))
    }

    /// Maps transport failures and non-2xx answers to [`AdminError`].
    async fn check(
        &self,
        url: &str,
        resp: Result<reqwest::Response, reqwest::Error>,
    ) -> Result<reqwest::Response, AdminError> {
        let resp = resp.map_err(|e| self.transport_error(url, e))?;
        let status = resp.status();
        if status.is_success() {
            return Ok(resp);
        }
        if status == reqwest::StatusCode::UNAUTHORIZED {
            return Err(AdminError::Unauthorized);
        }
        let text = resp.text().await.unwrap_or_default();
        let (title, detail) = match serde_json::from_str::<ProblemBody>(&text) {
            Ok(p) => (p.title, p.detail),
            Err(_) => (
                status.canonical_reason().unwrap_or("error").to_string(),
                text,
            ),
        };
        Err(AdminError::Refused {
            status: status.as_u16(),
            title,
            detail,
        })
    }

    fn transport_error(&self, url: &str, err: reqwest::Error) -> AdminError {
        if err.is_timeout() {
            AdminError::Timeout {
                url: url.to_string(),
                timeout: self.timeout,
            }
        } else if err.is_decode() || err.is_body() {
            AdminError::Protocol {
                url: url.to_string(),
                reason: error_chain(&err),
            }
        } else {
            AdminError::Unreachable {
                url: url.to_string(),
                source: err,
            }
        }
    }
}

/// Percent-encodes a URL path segment (link names are plain, but be safe).
fn encode_segment(segment: &str) -> String {
    segment
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> NetConfig {
        serde_json::from_str(
            r#"{
              "admin_listen": "127.0.0.1:8090",
              "admin_token": "secret",
              "state_file": "/tmp/x/net-state.json",
              "frontdoor": {
                "listen": "127.0.0.1:8080",
                "initial_primary": "east",
                "regions": [
                  {"name": "east", "upstream": "http://127.0.0.1:8081"},
                  {"name": "west", "upstream": "http://127.0.0.1:8082"}
                ]
              },
              "links": [
                {"name": "repl-west-east", "listen": "127.0.0.1:6442", "target": "127.0.0.1:5441"}
              ]
            }"#,
        )
        .unwrap()
    }

    #[test]
    fn example_config_is_valid() {
        config().validate().unwrap();
    }

    #[test]
    fn config_errors_list_every_problem() {
        let mut cfg = config();
        cfg.admin_token = " ".into();
        cfg.links.push(cfg.links[0].clone());
        cfg.frontdoor.listen = cfg.admin_listen;
        let msg = cfg.validate().unwrap_err().to_string();
        assert!(msg.contains("admin_token must not be empty"), "{msg}");
        assert!(
            msg.contains("duplicate link name \"repl-west-east\""),
            "{msg}"
        );
        assert!(
            msg.contains("front door and admin API both listen on 127.0.0.1:8090"),
            "{msg}"
        );
    }

    #[test]
    fn segment_encoding() {
        assert_eq!(encode_segment("repl-west-east"), "repl-west-east");
        assert_eq!(encode_segment("a/b c"), "a%2Fb%20c");
    }
}
