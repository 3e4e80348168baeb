//! Binding and serving the net process: front door, links and admin API together.

use std::collections::BTreeMap;
use std::future::{Future, IntoFuture};
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use sha2::{Digest, Sha256};
use tokio::net::TcpListener;
use tokio::sync::watch;

use super::super::frontdoor::FrontDoor;
use super::super::link::Link;
use super::admin::{admin_router, Admin};
use super::{NetConfig, NetError, PersistedState};

/// How long servers get to finish in-flight requests after shutdown is requested.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(3);
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
