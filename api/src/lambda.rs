//! The AWS Lambda entry point (`src/bin/lambda.rs`): API Gateway HTTP API events (payload
//! format 2.0; REST API 1.0 events work too) served by the same [`crate::router`] as
//! `pm-api serve`.
//!
//! Settings come from the environment ([`settings_from_env`]); database credentials from an
//! AWS Secrets Manager secret (`DB_SECRET_ARN`, [`crate::db_secret`]) that is re-fetched when
//! the database refuses them. [`LambdaApp`] is the `tower::Service` that `lambda_http::run`
//! drives; [`handler`] feeds it one event in-process, through the same adapter, for tests.

use crate::auth::{AuthConfig, JwksSource, Verifier};
use crate::db_secret::{Check, DbTarget, SecretPool, SecretSource};
use crate::error::ApiError;
use crate::routes::callbacks::SourceIp;
use crate::{AppState, Settings};
use anyhow::{bail, Context as _};
use axum::response::{IntoResponse, Response};
use axum::Router;
use ipnet::IpNet;
use lambda_http::request::RequestContext;
use lambda_http::tower::ServiceExt as _;
use lambda_http::{RequestExt as _, Service};
use std::convert::Infallible;
use std::fmt;
use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

/// Connections per Lambda instance: one request at a time, behind RDS Proxy.
pub const DEFAULT_DB_POOL: u32 = 2;

/// Where the database credentials come from.
#[derive(Clone)]
pub enum DbConfig {
    /// `DB_SECRET_ARN` (+ `PM_DB_HOST`, `PM_DB_PORT`, `PM_DB_NAME`, `PM_DB_SSLMODE`).
    Secret { secret_id: String, target: DbTarget },
    /// `DATABASE_URL`, when no secret is named (local runs, e.g. `cargo lambda watch`).
    Url(String),
}

impl fmt::Debug for DbConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DbConfig::Secret { secret_id, target } => f
                .debug_struct("Secret")
                .field("secret_id", secret_id)
                .field("target", target)
                .finish(),
            // The URL may hold a password.
            DbConfig::Url(_) => f.write_str("Url(<redacted>)"),
        }
    }
}

/// Everything the Lambda reads from its environment.
#[derive(Debug, Clone)]
pub struct LambdaSettings {
    /// `PM_REGION`, reported by `/ready`.
    pub region: String,
    /// `PM_JWKS_JSON` (inline snapshot, preferred) or `PM_JWKS` (URL or file).
    pub jwks: Option<JwksSource>,
    /// `PM_JWT_ISSUER`.
    pub jwt_issuer: Option<String>,
    /// `PM_JWT_CLIENT_ID`.
    pub jwt_client_id: Option<String>,
    /// `PM_CALLBACK_ALLOW`, comma-separated CIDRs.
    pub callback_allow: Vec<IpNet>,
    /// `PM_TRUSTED_PROXIES`, comma-separated CIDRs.
    pub trusted_proxies: Vec<IpNet>,
    /// `PM_DB_POOL` (default [`DEFAULT_DB_POOL`]).
    pub db_pool: u32,
    /// `PM_LOG_JSON`.
    pub log_json: bool,
    /// `PM_MRI_RATE_BP`: Monthly Rental Income tax rate in basis points (as `pm-api serve`).
    pub mri_rate_bp: u32,
    pub database: DbConfig,
}

/// [`settings_from`] the process environment.
pub fn settings_from_env() -> anyhow::Result<LambdaSettings> {
    settings_from(|k| std::env::var(k).ok())
}

/// Parses the settings from `get` (a variable lookup). Empty values count as unset
/// (Terraform writes empty strings for absent optional values).
pub fn settings_from(get: impl Fn(&str) -> Option<String>) -> anyhow::Result<LambdaSettings> {
    let get = |k: &str| {
        get(k)
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
    };
    let region = get("PM_REGION").context("PM_REGION is required")?;
    let jwks = get("PM_JWKS_JSON")
        .map(JwksSource::Inline)
        .or_else(|| get("PM_JWKS").map(|j| JwksSource::parse(&j)));
    let jwt_issuer = get("PM_JWT_ISSUER");
    let jwt_client_id = get("PM_JWT_CLIENT_ID");
    if jwks.is_some() && (jwt_issuer.is_none() || jwt_client_id.is_none()) {
        bail!("PM_JWT_ISSUER and PM_JWT_CLIENT_ID are required with PM_JWKS_JSON / PM_JWKS");
    }
    let cidrs = |name: &str| -> anyhow::Result<Vec<IpNet>> {
        get(name)
            .unwrap_or_default()
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| {
                s.parse()
                    .with_context(|| format!("{name}: `{s}` is not a CIDR (e.g. 196.201.214.0/24)"))
            })
            .collect()
    };
    let db_pool = match get("PM_DB_POOL") {
        None => DEFAULT_DB_POOL,
        Some(v) => v
            .parse::<u32>()
            .ok()
            .filter(|n| *n > 0)
            .with_context(|| format!("PM_DB_POOL must be a positive integer, not `{v}`"))?,
    };
    let log_json = match get("PM_LOG_JSON")
        .map(|v| v.to_ascii_lowercase())
        .as_deref()
    {
        None | Some("false" | "0" | "no" | "off") => false,
        Some("true" | "1" | "yes" | "on") => true,
        Some(other) => bail!("PM_LOG_JSON must be true or false, not `{other}`"),
    };
    let mri_rate_bp = match get("PM_MRI_RATE_BP") {
        None => crate::domain::tax::DEFAULT_MRI_RATE_BP,
        Some(v) => v
            .parse::<u32>()
            .ok()
            .filter(|bp| *bp <= 10_000)
            .with_context(|| format!("PM_MRI_RATE_BP must be 0..=10000 basis points, not `{v}`"))?,
    };
    let database = match (get("DB_SECRET_ARN"), get("DATABASE_URL")) {
        (Some(secret_id), _) => DbConfig::Secret {
            secret_id,
            target: DbTarget {
                host: get("PM_DB_HOST"),
                port: get("PM_DB_PORT")
                    .map(|p| {
                        p.parse()
                            .with_context(|| format!("PM_DB_PORT: `{p}` is not a port"))
                    })
                    .transpose()?,
                dbname: get("PM_DB_NAME"),
                ssl_mode: match get("PM_DB_SSLMODE") {
                    None => DbTarget::default().ssl_mode,
                    Some(m) => m.parse().ok().with_context(|| {
                        format!(
                            "PM_DB_SSLMODE: `{m}` is not one of disable, allow, prefer, \
                             require, verify-ca, verify-full"
                        )
                    })?,
                },
            },
        },
        (None, Some(url)) => DbConfig::Url(url),
        (None, None) => bail!("DB_SECRET_ARN (or, for local runs, DATABASE_URL) is required"),
    };
    Ok(LambdaSettings {
        region,
        jwks,
        jwt_issuer,
        jwt_client_id,
        callback_allow: cidrs("PM_CALLBACK_ALLOW")?,
        trusted_proxies: cidrs("PM_TRUSTED_PROXIES")?,
        db_pool,
        log_json,
        mri_rate_bp,
        database,
    })
}

/// The API's state, as `pm-api serve` builds it, plus the secret-backed pool when the
/// credentials come from Secrets Manager. `sdk` = `None` loads the default AWS config
/// (`aws_config::load_defaults`, which honours `AWS_ENDPOINT_URL`) when a secret is named.
pub async fn build_state(
    s: &LambdaSettings,
    sdk: Option<&aws_config::SdkConfig>,
) -> anyhow::Result<(AppState, Option<Arc<SecretPool>>)> {
    let options = crate::pool_options(s.db_pool);
    let (pool, secrets) = match &s.database {
        DbConfig::Url(url) => (
            options
                .connect_lazy(url)
                .map_err(|_| anyhow::anyhow!("DATABASE_URL is not a valid PostgreSQL URL"))?,
            None,
        ),
        DbConfig::Secret { secret_id, target } => {
            let loaded;
            let sdk = match sdk {
                Some(c) => c,
                None => {
                    loaded = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
                    &loaded
                }
            };
            let sp =
                SecretPool::connect(options, SecretSource::new(sdk, secret_id), target.clone())
                    .await?;
            (sp.pool().clone(), Some(Arc::new(sp)))
        }
    };
    let verifier = match &s.jwks {
        None => None,
        Some(source) => {
            let v = Verifier::new(AuthConfig {
                jwks: source.clone(),
                issuer: s.jwt_issuer.clone().context("PM_JWT_ISSUER is required")?,
                client_id: s
                    .jwt_client_id
                    .clone()
                    .context("PM_JWT_CLIENT_ID is required")?,
            });
            if let Err(e) = v.preload().await {
                // A URL may be briefly unreachable; an inline snapshot or a file must be right.
                if !matches!(source, JwksSource::Url(_)) {
                    return Err(e).context("loading the JWKS (PM_JWKS_JSON / PM_JWKS)");
                }
                tracing::warn!(error = %e, "JWKS not loaded yet; will retry on first request");
            }
            Some(v)
        }
    };
    let state = AppState::new(
        pool,
        Settings {
            region: s.region.clone(),
            callback_allow: s.callback_allow.clone(),
            trusted_proxies: s.trusted_proxies.clone(),
        },
        verifier,
    )
    .with_mri_rate_bp(s.mri_rate_bp);
    Ok((state, secrets))
}

/// The Lambda's HTTP service: the API's router behind a small shim that records the
/// caller's address and keeps the database credentials fresh.
#[derive(Clone)]
pub struct LambdaApp {
    router: Router,
    secrets: Option<Arc<SecretPool>>,
}

impl LambdaApp {
    pub fn new(state: AppState, secrets: Option<Arc<SecretPool>>) -> LambdaApp {
        LambdaApp {
            router: crate::router(state),
            secrets,
        }
    }

    /// [`build_state`] then [`LambdaApp::new`]: the cold start.
    pub async fn build(
        s: &LambdaSettings,
        sdk: Option<&aws_config::SdkConfig>,
    ) -> anyhow::Result<LambdaApp> {
        let (state, secrets) = build_state(s, sdk).await?;
        Ok(LambdaApp::new(state, secrets))
    }

    /// Serves one request.
    ///
    /// With credentials from a secret, every request but `/health` first makes sure the
    /// pool can hand out a connection ([`SecretPool::check`]: on an auth failure the secret
    /// is re-fetched and the connection retried once). When the database still refuses the
    /// credentials, the request is not run: 503 problem+json (`/ready` runs and reports it
    /// in its own shape).
    pub async fn call(&self, req: lambda_http::Request) -> Response {
        let mut req = req;
        if let Some(ip) = source_ip(&req) {
            req.extensions_mut().insert(SourceIp(ip));
        }
        if let Some(secrets) = &self.secrets {
            let path = req.uri().path();
            let (needs_db, reports_itself) = (path != "/health", path == "/ready");
            if needs_db && secrets.check().await == Check::AuthFailed && !reports_itself {
                // Never the path: callback paths carry a secret token.
                tracing::warn!(
                    method = %req.method(),
                    status = 503,
                    "request refused: the database rejects the credentials"
                );
                return ApiError::Unavailable.into_response();
            }
        }
        match self.router.clone().oneshot(req).await {
            Ok(resp) => resp,
            Err(never) => match never {},
        }
    }
}

/// The caller's address from the API Gateway request context (API Gateway takes it from
/// its TCP connection; `X-Forwarded-For` is client-controlled).
fn source_ip(req: &lambda_http::Request) -> Option<IpAddr> {
    let ip = match req.request_context_ref()? {
        RequestContext::ApiGatewayV2(c) => c.http.source_ip.as_deref(),
        RequestContext::ApiGatewayV1(c) => c.identity.source_ip.as_deref(),
        _ => None,
    }?;
    ip.trim().parse().ok()
}

impl Service<lambda_http::Request> for LambdaApp {
    type Response = Response;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: lambda_http::Request) -> Self::Future {
        let app = self.clone();
        Box::pin(async move { Ok(app.call(req).await) })
    }
}

/// Runs the Lambda runtime loop (`lambda_http::run`) over `app`.
pub async fn run(app: LambdaApp) -> Result<(), lambda_http::Error> {
    lambda_http::run(app).await
}

/// One invocation in-process: `event` (an API Gateway HTTP API v2, REST API or ALB event,
/// as JSON) goes through the adapter `lambda_http::run` uses, and the proxy response
/// (`{"statusCode", "headers", "body", "isBase64Encoded", …}`) comes back as JSON — what
/// the Lambda service would return to API Gateway.
pub async fn handler(
    app: &LambdaApp,
    event: serde_json::Value,
) -> Result<serde_json::Value, lambda_http::Error> {
    // The request deserializer reads raw JSON text (it tries each event shape in turn).
    let payload: lambda_http::request::LambdaRequest =
        serde_json::from_str(&serde_json::to_string(&event)?)?;
    let mut adapter = lambda_http::Adapter::from(app.clone());
    let context = lambda_http::Context::default();
    let resp = adapter
        .call(lambda_http::LambdaEvent::new(payload, context))
        .await?;
    Ok(serde_json::to_value(resp)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn settings(vars: &[(&str, &str)]) -> anyhow::Result<LambdaSettings> {
        let m: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        settings_from(|k| m.get(k).cloned())
    }

    #[test]
    fn settings_prefer_the_inline_jwks_and_the_secret() {
        let s = settings(&[
            ("PM_REGION", "us-east-1"),
            ("PM_JWKS", "https://cognito-idp.example/jwks.json"),
            ("PM_JWKS_JSON", r#"{"keys":[]}"#),
            ("PM_JWT_ISSUER", "iss"),
            ("PM_JWT_CLIENT_ID", "cid"),
            ("PM_CALLBACK_ALLOW", "196.201.214.0/24, 196.201.213.0/24"),
            (
                "DB_SECRET_ARN",
                "arn:aws:secretsmanager:us-east-1:1:secret:x",
            ),
            ("DATABASE_URL", "postgres://u:pw@h/db"),
            ("PM_DB_HOST", "proxy.example"),
            ("PM_LOG_JSON", "true"),
        ])
        .unwrap();
        assert!(matches!(s.jwks, Some(JwksSource::Inline(_))));
        assert_eq!(s.callback_allow.len(), 2);
        assert_eq!(s.db_pool, DEFAULT_DB_POOL);
        assert!(s.log_json);
        match &s.database {
            DbConfig::Secret { target, .. } => {
                assert_eq!(target.host.as_deref(), Some("proxy.example"));
                assert!(matches!(
                    target.ssl_mode,
                    sqlx::postgres::PgSslMode::Require
                ));
            }
            other => panic!("{other:?}"),
        }
        assert!(!format!("{s:?}").contains("pw@"));
    }

    #[test]
    fn bad_settings_are_named() {
        let base = [("PM_REGION", "r"), ("DATABASE_URL", "postgres://u:pw@h/db")];
        let err = |extra: &[(&str, &str)]| {
            let mut v = base.to_vec();
            v.extend_from_slice(extra);
            format!("{:#}", settings(&v).unwrap_err())
        };
        assert!(err(&[("PM_DB_POOL", "0")]).contains("PM_DB_POOL"));
        assert!(err(&[("PM_CALLBACK_ALLOW", "nope")]).contains("PM_CALLBACK_ALLOW"));
        assert!(err(&[("PM_JWKS_JSON", "{}")]).contains("PM_JWT_ISSUER"));
        assert!(err(&[("PM_LOG_JSON", "maybe")]).contains("PM_LOG_JSON"));
        assert!(err(&[("PM_MRI_RATE_BP", "10001")]).contains("PM_MRI_RATE_BP"));
        assert!(
            format!("{:#}", settings(&[("PM_REGION", "r")]).unwrap_err()).contains("DB_SECRET_ARN")
        );
        assert!(format!("{:#}", settings(&[]).unwrap_err()).contains("PM_REGION"));
        let s = settings(&[
            ("PM_REGION", "r"),
            ("DB_SECRET_ARN", "arn"),
            ("PM_DB_SSLMODE", "sometimes"),
        ]);
        assert!(format!("{:#}", s.unwrap_err()).contains("PM_DB_SSLMODE"));
    }
}
