//! Database credentials from AWS Secrets Manager (the Lambda entry point).
//!
//! The secret is JSON in the shape RDS and its rotation functions use:
//! `{"username", "password", "host", "port", "dbname"}` (+ optional `engine` and others,
//! ignored). It is fetched once per cold start; when PostgreSQL (or RDS Proxy) later refuses
//! the credentials — the password was rotated — [`SecretPool::check`] fetches it again, swaps
//! the pool's connect options ([`sqlx::PgPool::set_connect_options`]) and retries once.
//!
//! The password never reaches logs, errors or `Debug` output: errors name the secret and the
//! offending field, never a value.

use aws_sdk_secretsmanager::error::DisplayErrorContext;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions, PgSslMode};
use sqlx::PgPool;
use std::fmt;
use std::time::{Duration, Instant};

/// How long a connection probe may take before the request goes ahead without it (the route
/// then reports the database as it finds it). Authentication failures come back in one round
/// trip; this only bounds the wait when the database is down.
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(1);

/// After a re-fetch returned the credentials already in use (the secret is wrong, not
/// rotated), further auth failures do not call Secrets Manager again for this long.
pub const UNCHANGED_REFETCH_INTERVAL: Duration = Duration::from_secs(5);

/// One set of database credentials, parsed from the secret.
#[derive(Clone, PartialEq, Eq)]
pub struct DbSecret {
    pub username: String,
    password: String,
    pub host: String,
    pub port: u16,
    pub dbname: Option<String>,
    pub engine: Option<String>,
}

impl fmt::Debug for DbSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DbSecret")
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("dbname", &self.dbname)
            .field("engine", &self.engine)
            .finish()
    }
}

/// What the secret does not decide: where this region's API connects (its RDS Proxy, not
/// the cluster endpoint the rotation function keeps in the secret — and the replica secret
/// in region 2 holds region 1's endpoint), and TLS.
#[derive(Debug, Clone)]
pub struct DbTarget {
    /// Overrides the secret's `host` (`PM_DB_HOST`).
    pub host: Option<String>,
    /// Overrides the secret's `port` (`PM_DB_PORT`).
    pub port: Option<u16>,
    /// Overrides the secret's `dbname` (`PM_DB_NAME`).
    pub dbname: Option<String>,
    /// `PM_DB_SSLMODE`; the Lambda's default is `require` (RDS Proxy requires TLS).
    pub ssl_mode: PgSslMode,
}

impl Default for DbTarget {
    fn default() -> Self {
        DbTarget {
            host: None,
            port: None,
            dbname: None,
            ssl_mode: PgSslMode::Require,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("fetching secret {secret_id} from Secrets Manager: {detail}")]
    Fetch { secret_id: String, detail: String },
    #[error("secret {secret_id} has no SecretString (binary secrets are not supported)")]
    NotString { secret_id: String },
    #[error("secret {secret_id} is not a database secret: {why}")]
    Shape { secret_id: String, why: String },
}

impl DbSecret {
    /// Parses the secret's JSON. Errors say which field is wrong, never what it holds (a
    /// serde error message could quote the password).
    pub fn parse(secret_id: &str, text: &str) -> Result<DbSecret, SecretError> {
        let shape = |why: &str| SecretError::Shape {
            secret_id: secret_id.to_string(),
            why: why.to_string(),
        };
        let v: serde_json::Value =
            serde_json::from_str(text).map_err(|_| shape("not valid JSON"))?;
        let obj = v.as_object().ok_or_else(|| shape("not a JSON object"))?;
        let string = |key: &str| -> Result<Option<String>, SecretError> {
            match obj.get(key) {
                None | Some(serde_json::Value::Null) => Ok(None),
                Some(serde_json::Value::String(s)) => Ok(Some(s.clone())),
                Some(_) => Err(shape(&format!("field `{key}` is not a string"))),
            }
        };
        let required = |key: &str| -> Result<String, SecretError> {
            string(key)?
                .filter(|s| !s.is_empty())
                .ok_or_else(|| shape(&format!("field `{key}` is missing or empty")))
        };
        // RDS writes the port as a number; hand-made secrets often hold a string.
        let port = match obj.get("port") {
            None | Some(serde_json::Value::Null) => 5432,
            Some(serde_json::Value::Number(n)) => n
                .as_u64()
                .and_then(|p| u16::try_from(p).ok())
                .ok_or_else(|| shape("field `port` is not a port number"))?,
            Some(serde_json::Value::String(s)) => s
                .trim()
                .parse()
                .map_err(|_| shape("field `port` is not a port number"))?,
            Some(_) => return Err(shape("field `port` is not a port number")),
        };
        if let Some(engine) = string("engine")? {
            if !engine.to_ascii_lowercase().starts_with("postgres")
                && !engine.eq_ignore_ascii_case("aurora-postgresql")
            {
                return Err(shape("field `engine` is not postgres"));
            }
        }
        Ok(DbSecret {
            username: required("username")?,
            password: required("password")?,
            host: required("host")?,
            port,
            dbname: string("dbname")?.filter(|s| !s.is_empty()),
            engine: string("engine")?,
        })
    }

    /// Connect options for these credentials at `target` (which wins over the secret's
    /// host, port and dbname). `PGPASSWORD` and `~/.pgpass` are not consulted.
    pub fn connect_options(&self, target: &DbTarget) -> Result<PgConnectOptions, String> {
        let dbname = target
            .dbname
            .as_deref()
            .or(self.dbname.as_deref())
            .ok_or("the secret has no `dbname` and PM_DB_NAME is not set")?;
        Ok(PgConnectOptions::new_without_pgpass()
            .host(target.host.as_deref().unwrap_or(&self.host))
            .port(target.port.unwrap_or(self.port))
            .username(&self.username)
            .password(&self.password)
            .database(dbname)
            .ssl_mode(target.ssl_mode)
            .application_name("pm-api-lambda"))
    }
}

/// Reads one secret through the official SDK client.
#[derive(Clone)]
pub struct SecretSource {
    client: aws_sdk_secretsmanager::Client,
    secret_id: String,
}

impl SecretSource {
    /// `sdk` is the one `aws_config` of the process (it honours `AWS_ENDPOINT_URL`).
    pub fn new(sdk: &aws_config::SdkConfig, secret_id: impl Into<String>) -> SecretSource {
        SecretSource {
            client: aws_sdk_secretsmanager::Client::new(sdk),
            secret_id: secret_id.into(),
        }
    }

    pub fn secret_id(&self) -> &str {
        &self.secret_id
    }

    /// `GetSecretValue` (the `AWSCURRENT` version), parsed.
    pub async fn fetch(&self) -> Result<DbSecret, SecretError> {
        let out = self
            .client
            .get_secret_value()
            .secret_id(&self.secret_id)
            .send()
            .await
            .map_err(|e| SecretError::Fetch {
                secret_id: self.secret_id.clone(),
                detail: DisplayErrorContext(&e).to_string(),
            })?;
        let text = out.secret_string().ok_or_else(|| SecretError::NotString {
            secret_id: self.secret_id.clone(),
        })?;
        DbSecret::parse(&self.secret_id, text)
    }
}

/// A PostgreSQL auth failure: `invalid_password` (28P01) or
/// `invalid_authorization_specification` (28000; RDS Proxy and pg_hba rejections).
pub fn is_auth_error(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Database(db) => matches!(db.code().as_deref(), Some("28P01" | "28000")),
        _ => false,
    }
}

/// What a connection probe found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Check {
    /// A connection is available (possibly after re-fetching the secret).
    Ok,
    /// The database refuses the credentials, even those just re-fetched.
    AuthFailed,
    /// The database could not be reached (or the probe timed out): not a credentials
    /// problem; the request goes ahead and reports it.
    Unreachable,
}

struct RefreshState {
    current: DbSecret,
    /// Bumped whenever the pool's connect options change.
    generation: u64,
    /// The last re-fetch that returned the credentials already in use.
    unchanged_at: Option<Instant>,
}

/// A lazy pool whose credentials come from a secret and are re-fetched when refused.
pub struct SecretPool {
    pool: PgPool,
    source: SecretSource,
    target: DbTarget,
    state: tokio::sync::Mutex<RefreshState>,
}

impl SecretPool {
    /// Fetches the secret (once per cold start) and builds a lazy pool with it: no
    /// connection is opened until a request needs one.
    pub async fn connect(
        options: PgPoolOptions,
        source: SecretSource,
        target: DbTarget,
    ) -> Result<SecretPool, SecretError> {
        let secret = source.fetch().await?;
        let connect = secret
            .connect_options(&target)
            .map_err(|why| SecretError::Shape {
                secret_id: source.secret_id.clone(),
                why,
            })?;
        tracing::info!(
            secret = %source.secret_id,
            user = %secret.username,
            "database credentials loaded from Secrets Manager"
        );
        Ok(SecretPool {
            pool: options.connect_lazy_with(connect),
            source,
            target,
            state: tokio::sync::Mutex::new(RefreshState {
                current: secret,
                generation: 0,
                unchanged_at: None,
            }),
        })
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Makes sure a connection can be had: acquires one (bounded by [`PROBE_TIMEOUT`]) and
    /// returns it to the pool, where the request's handler picks it up. When the database
    /// refuses the credentials, re-fetches the secret, swaps the pool's connect options and
    /// acquires once more.
    pub async fn check(&self) -> Check {
        let generation = self.state.lock().await.generation;
        let err = match self.probe().await {
            Ok(()) => return Check::Ok,
            Err(None) => return Check::Unreachable,
            Err(Some(e)) if !is_auth_error(&e) => return Check::Unreachable,
            Err(Some(e)) => e,
        };
        let code = match &err {
            sqlx::Error::Database(db) => db.code().map(|c| c.into_owned()),
            _ => None,
        };
        tracing::warn!(
            code = code.as_deref().unwrap_or(""),
            secret = %self.source.secret_id,
            "the database refused the credentials"
        );
        match self.refresh(generation).await {
            Ok(true) => {}
            Ok(false) => return Check::AuthFailed,
            Err(e) => {
                tracing::warn!(error = %e, "could not re-fetch the database secret");
                return Check::AuthFailed;
            }
        }
        match self.probe().await {
            Ok(()) => Check::Ok,
            Err(Some(e)) if is_auth_error(&e) => {
                tracing::warn!(
                    secret = %self.source.secret_id,
                    "the database refuses the re-fetched credentials too"
                );
                Check::AuthFailed
            }
            Err(_) => Check::Unreachable,
        }
    }

    /// `Err(None)` = timed out.
    async fn probe(&self) -> Result<(), Option<sqlx::Error>> {
        match tokio::time::timeout(PROBE_TIMEOUT, self.pool.acquire()).await {
            Ok(Ok(_conn)) => Ok(()),
            Ok(Err(e)) => Err(Some(e)),
            Err(_) => Err(None),
        }
    }

    /// Re-fetches the secret unless another caller already swapped the credentials since
    /// `seen_generation`. True when the pool now has different credentials to try.
    pub async fn refresh(&self, seen_generation: u64) -> Result<bool, SecretError> {
        let mut st = self.state.lock().await;
        if st.generation != seen_generation {
            return Ok(true);
        }
        if st
            .unchanged_at
            .is_some_and(|t| t.elapsed() < UNCHANGED_REFETCH_INTERVAL)
        {
            tracing::debug!(
                secret = %self.source.secret_id,
                "the secret was re-fetched moments ago without a change; not fetching again yet"
            );
            return Ok(false);
        }
        tracing::info!(secret = %self.source.secret_id, "re-fetching the database secret");
        let fresh = match self.source.fetch().await {
            Ok(s) => s,
            Err(e) => {
                st.unchanged_at = Some(Instant::now());
                return Err(e);
            }
        };
        if fresh == st.current {
            st.unchanged_at = Some(Instant::now());
            tracing::warn!(
                secret = %self.source.secret_id,
                "the re-fetched secret is unchanged"
            );
            return Ok(false);
        }
        let options = fresh
            .connect_options(&self.target)
            .map_err(|why| SecretError::Shape {
                secret_id: self.source.secret_id.clone(),
                why,
            })?;
        self.pool.set_connect_options(options);
        st.current = fresh;
        st.generation += 1;
        st.unchanged_at = None;
        tracing::info!(
            secret = %self.source.secret_id,
            generation = st.generation,
            "database credentials re-fetched from Secrets Manager"
        );
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_rds_shape_and_never_shows_the_password() {
        let s = DbSecret::parse(
            "arn:x",
            r#"{"engine":"postgres","host":"db.example","port":5432,"dbname":"pm",
                "username":"pm_admin","password":"hunter2-very-secret","dbClusterIdentifier":"c"}"#,
        )
        .unwrap();
        assert_eq!(s.username, "pm_admin");
        assert_eq!(s.port, 5432);
        assert_eq!(s.dbname.as_deref(), Some("pm"));
        assert!(!format!("{s:?}").contains("hunter2"));
        let o = s
            .connect_options(&DbTarget {
                host: Some("proxy.example".into()),
                ..DbTarget::default()
            })
            .unwrap();
        assert_eq!(o.get_host(), "proxy.example");
        assert_eq!(o.get_database(), Some("pm"));
        // A string port is accepted too.
        let s = DbSecret::parse(
            "arn:x",
            r#"{"host":"h","port":"6432","username":"u","password":"p","dbname":"d"}"#,
        )
        .unwrap();
        assert_eq!(s.port, 6432);
    }

    #[test]
    fn shape_errors_name_the_field_not_the_value() {
        for (text, field) in [
            (r#"{"host":"h","username":"u","dbname":"d"}"#, "password"),
            (
                r#"{"host":"h","username":"u","password":12345678,"dbname":"d"}"#,
                "password",
            ),
            (
                r#"{"host":"h","username":"u","password":"p","port":"s3cr3t"}"#,
                "port",
            ),
            (
                r#"{"host":"h","username":"u","password":"p","engine":"mysql"}"#,
                "engine",
            ),
        ] {
            let e = DbSecret::parse("arn:x", text).unwrap_err().to_string();
            assert!(e.contains(field), "{e}");
            assert!(!e.contains("12345678") && !e.contains("s3cr3t"), "{e}");
        }
        let e = DbSecret::parse("arn:x", r#"{"password":"zq9"x"}"#)
            .unwrap_err()
            .to_string();
        assert!(e.contains("not valid JSON") && !e.contains("zq9"), "{e}");
        let s = DbSecret::parse("arn:x", r#"{"host":"h","username":"u","password":"p"}"#).unwrap();
        assert!(s.connect_options(&DbTarget::default()).is_err());
    }
}
