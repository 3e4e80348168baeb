//! The HTTP server behind `pm-api serve` (also hosted by `pmctl internal api` so the dev
//! stack runs from a single binary when pm-api is not installed beside pmctl).

use crate::auth::{AuthConfig, JwksSource, Verifier};
use crate::{router, AppState, Settings};
use anyhow::Context;
use std::net::SocketAddr;

#[derive(clap::Args)]
pub struct ServeArgs {
    /// Address to listen on (port 0 picks a free port; the bound address is printed).
    #[arg(long, env = "PM_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    pub database_url: String,
    /// This deployment's region name, reported by /ready.
    #[arg(long, env = "PM_REGION")]
    pub region: String,
    /// JWKS to verify bearer tokens: a file path or an http(s) URL. Without it every
    /// authenticated route answers 401.
    #[arg(long, env = "PM_JWKS")]
    pub jwks: Option<String>,
    /// Required token issuer (`iss`), e.g. https://cognito-idp.<region>.amazonaws.com/<pool>.
    #[arg(long, env = "PM_JWT_ISSUER", requires = "jwks")]
    pub jwt_issuer: Option<String>,
    /// App client id tokens must be issued for (`aud` / `client_id`).
    #[arg(long, env = "PM_JWT_CLIENT_ID", requires = "jwks")]
    pub jwt_client_id: Option<String>,
    /// Networks allowed to call M-Pesa callbacks (comma-separated CIDRs); default any.
    #[arg(long, env = "PM_CALLBACK_ALLOW", value_delimiter = ',')]
    pub callback_allow: Vec<ipnet::IpNet>,
    /// Proxies whose X-Forwarded-For is trusted (comma-separated CIDRs).
    #[arg(long, env = "PM_TRUSTED_PROXIES", value_delimiter = ',')]
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// Apply migrations before serving.
    #[arg(long, env = "PM_MIGRATE")]
    pub migrate: bool,
    /// Log as JSON lines.
    #[arg(long, env = "PM_LOG_JSON")]
    pub log_json: bool,
    #[arg(long, env = "PM_DB_POOL", default_value_t = 20)]
    pub db_pool: u32,
    /// When a stored M-Pesa callback is parsed, matched and allocated: `inline` (in the
    /// request, before the answer) or `deferred` (by the inbox worker, in batches; the
    /// request only stores it).
    #[arg(long, env = "PM_ALLOCATION", value_enum, default_value_t = crate::state::Allocation::Inline)]
    pub allocation: crate::state::Allocation,
    /// Admission control: requests running at once (0 = no limit). Default: the pool size.
    #[arg(long, env = "PM_MAX_IN_FLIGHT")]
    pub max_in_flight: Option<usize>,
    /// Requests that may wait for a slot when all are busy; beyond, 503 + Retry-After at once.
    #[arg(long, env = "PM_MAX_QUEUE", default_value_t = 64)]
    pub max_queue: usize,
    /// How long a request may wait for a slot before it is refused (503 + Retry-After).
    #[arg(long, env = "PM_QUEUE_TIMEOUT_MS", default_value_t = 50)]
    pub queue_timeout_ms: u64,
    /// Kenya's Monthly Rental Income tax rate in basis points (750 = 7.5 %), used by the
    /// owner statement report.
    #[arg(long, env = "PM_MRI_RATE_BP", default_value_t = crate::domain::tax::DEFAULT_MRI_RATE_BP,
          value_parser = clap::value_parser!(u32).range(0..=10_000))]
    pub mri_rate_bp: u32,
}

/// Serves until SIGTERM/Ctrl-C, then drains connections and closes the pool.
pub async fn serve(a: ServeArgs) -> anyhow::Result<()> {
    crate::telemetry::init(a.log_json);
    let pool = crate::pool_options(a.db_pool)
        .connect_lazy(&a.database_url)
        .context("invalid --database-url")?;
    if a.migrate {
        // A replica (or fenced writer) cannot be migrated: its writer's migrations replicate.
        let (read_only,): (bool,) = sqlx::query_as(
            "SELECT pg_is_in_recovery() OR current_setting('default_transaction_read_only') = 'on'",
        )
        .fetch_one(&pool)
        .await
        .context("connecting to the database to migrate")?;
        if read_only {
            tracing::info!("database is read-only (replica or fenced); migrations skipped");
        } else {
            crate::migrate::run(&pool, false)
                .await
                .context("applying migrations")?;
        }
    }
    let verifier = match &a.jwks {
        Some(j) => {
            let v = Verifier::new(AuthConfig {
                jwks: JwksSource::parse(j),
                issuer: a
                    .jwt_issuer
                    .clone()
                    .context("--jwt-issuer is required with --jwks")?,
                client_id: a
                    .jwt_client_id
                    .clone()
                    .context("--jwt-client-id is required with --jwks")?,
            });
            if let Err(e) = v.preload().await {
                // A URL may be briefly unreachable (its region down); a file must be right.
                if matches!(JwksSource::parse(j), JwksSource::File(_)) {
                    return Err(e).context("loading --jwks");
                }
                tracing::warn!(error = %e, "JWKS not loaded yet; will retry on first request");
            }
            Some(v)
        }
        None => None,
    };
    // `/ready` gets its own connection: it never waits behind the requests' pool.
    let health_pool = crate::pool_options(1)
        .acquire_timeout(std::time::Duration::from_secs(1))
        .connect_lazy_with((*pool.connect_options()).clone());
    let max_in_flight = a.max_in_flight.unwrap_or(a.db_pool as usize);
    let admission = (max_in_flight > 0).then(|| {
        crate::admission::Admission::new(crate::admission::Limits {
            max_in_flight,
            max_queue: a.max_queue,
            queue_timeout: std::time::Duration::from_millis(a.queue_timeout_ms),
        })
    });
    let state = AppState::new(
        pool.clone(),
        Settings {
            region: a.region.clone(),
            callback_allow: a.callback_allow,
            trusted_proxies: a.trusted_proxies,
        },
        verifier,
    )
    .with_mri_rate_bp(a.mri_rate_bp)
    .with_health_db(health_pool)
    .with_allocation(a.allocation)
    .with_admission(admission);
    // Process deferred callbacks, and sweep up any left pending (every second). Two, so
    // one worker's round trips to the database do not bound allocation on rent day.
    let workers: Vec<_> = (0..2)
        .map(|_| {
            crate::service::inbox::spawn_worker(state.clone(), std::time::Duration::from_secs(1))
        })
        .collect();
    let listener = tokio::net::TcpListener::bind(a.listen)
        .await
        .with_context(|| format!("binding {}", a.listen))?;
    let addr = listener.local_addr()?;
    tracing::info!(%addr, region = %a.region, version = crate::version(), "listening");
    #[allow(clippy::print_stdout)]
    {
        println!("pm-api listening on {addr}");
    }
    let app = router(state.clone());
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown_signal())
    .await?;
    // Whatever is still pending stays stored; the next writer's worker processes it.
    for w in &workers {
        w.abort();
    }
    let _ = tokio::time::timeout(
        std::time::Duration::from_secs(2),
        crate::service::inbox::drain(&state),
    )
    .await;
    pool.close().await;
    tracing::info!("stopped");
    Ok(())
}

async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler");
    tokio::select! {
        _ = term.recv() => {},
        _ = tokio::signal::ctrl_c() => {},
    }
    tracing::info!("shutting down");
}
