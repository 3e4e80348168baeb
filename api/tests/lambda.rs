//! The Lambda entry point, tested at its boundary.
//!
//! The Lambda service itself cannot run here. Its double is the event it would deliver: an
//! API Gateway HTTP API **payload format 2.0** event (as API Gateway builds it for a
//! `$default`-stage `AWS_PROXY` integration), fed in-process to `pm_api::lambda::handler` —
//! the same `lambda_http` adapter `lambda_http::run` uses — which returns the proxy response
//! API Gateway would turn into HTTP. One test also runs the real `lambda` binary against a
//! fake Lambda Runtime API (the HTTP protocol the Lambda service speaks to `bootstrap`), so
//! the environment parsing and the default AWS config chain are exercised too.
//!
//! Behind it everything is real: PostgreSQL (pgcluster), the `pm-api serve` binary for
//! comparisons, and AWS Secrets Manager served by moto in server mode through the official
//! SDK.

mod common;
#[path = "common/moto.rs"]
mod moto;

use base64::Engine;
use common::{c2b, keys, status_json, token, TestApp, CLIENT_ID, ISSUER};
use moto::Moto;
use pm_api::auth::JwksSource;
use pm_api::db_secret::DbTarget;
use pm_api::lambda::{handler, DbConfig, LambdaApp, LambdaSettings};
use serde_json::{json, Value};
use sqlx::postgres::{PgConnectOptions, PgSslMode};
use sqlx::{ConnectOptions, Connection, PgConnection};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

// ---------------------------------------------------------------------------------------
// Captured logs: everything this test process logs (debug and up, every crate: sqlx, the
// AWS SDK, hyper, pm-api) lands in one buffer, so a test can prove no password leaked.
// ---------------------------------------------------------------------------------------

fn log_buffer() -> &'static Arc<Mutex<Vec<u8>>> {
    static BUF: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    BUF.get_or_init(|| {
        let buf = Arc::new(Mutex::new(Vec::new()));
        let sink = buf.clone();
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new("debug"))
            .with_ansi(false)
            .with_writer(move || Sink(sink.clone()))
            .try_init();
        buf
    })
}

struct Sink(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Sink {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn logs() -> String {
    String::from_utf8_lossy(&log_buffer().lock().unwrap()).into_owned()
}

// ---------------------------------------------------------------------------------------
// Events and responses
// ---------------------------------------------------------------------------------------

const HOST: &str = "us-east-1.api.pm.example.co.ke";
/// A Safaricom callback address.
const SAFARICOM_IP: &str = "196.201.214.200";

struct Req<'a> {
    method: &'a str,
    path: &'a str,
    query: &'a str,
    bearer: Option<String>,
    body: Option<String>,
    base64: bool,
    source_ip: &'a str,
}

impl<'a> Req<'a> {
    fn get(path: &'a str) -> Req<'a> {
        Req {
            method: "GET",
            path,
            query: "",
            bearer: None,
            body: None,
            base64: false,
            source_ip: SAFARICOM_IP,
        }
    }
    fn post(path: &'a str, body: &Value) -> Req<'a> {
        Req {
            method: "POST",
            body: Some(body.to_string()),
            ..Req::get(path)
        }
    }
    fn auth(mut self, who: &str) -> Self {
        self.bearer = Some(token(who));
        self
    }
}

/// The event API Gateway (HTTP API, `$default` stage, payload 2.0) sends for `r`.
fn event(r: &Req) -> Value {
    let mut headers = serde_json::Map::new();
    headers.insert("host".into(), json!(HOST));
    headers.insert("user-agent".into(), json!("Apache-HttpClient/4.5.13"));
    headers.insert("x-forwarded-for".into(), json!(r.source_ip));
    headers.insert("x-forwarded-port".into(), json!("443"));
    headers.insert("x-forwarded-proto".into(), json!("https"));
    headers.insert(
        "x-amzn-trace-id".into(),
        json!("Root=1-67a0c0de-0123456789abcdef01234567"),
    );
    if let Some(t) = &r.bearer {
        headers.insert("authorization".into(), json!(format!("Bearer {t}")));
    }
    if let Some(b) = &r.body {
        headers.insert("content-type".into(), json!("application/json"));
        headers.insert("content-length".into(), json!(b.len().to_string()));
    }
    let body = r.body.as_ref().map(|b| {
        if r.base64 {
            Value::String(base64::engine::general_purpose::STANDARD.encode(b))
        } else {
            Value::String(b.clone())
        }
    });
    let mut ev = json!({
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": r.path,
        "rawQueryString": r.query,
        "headers": headers,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "a1b2c3d4e5",
            "domainName": HOST,
            "domainPrefix": "us-east-1",
            "http": {
                "method": r.method,
                "path": r.path,
                "protocol": "HTTP/1.1",
                "sourceIp": r.source_ip,
                "userAgent": "Apache-HttpClient/4.5.13"
            },
            "requestId": "Ab1cDEfGhIjKlMn=",
            "routeKey": "$default",
            "stage": "$default",
            "time": "05/Feb/2026:06:30:00 +0000",
            "timeEpoch": 1770273000000u64
        },
        "isBase64Encoded": r.base64
    });
    if let Some(b) = body {
        ev["body"] = b;
    }
    ev
}

/// Status, JSON body and content type of a proxy response.
#[derive(Debug, PartialEq)]
struct Answer {
    status: u16,
    content_type: String,
    body: Value,
}

fn answer(resp: &Value) -> Answer {
    let text = match resp["body"].as_str() {
        Some(b) if resp["isBase64Encoded"] == json!(true) => {
            String::from_utf8(base64::engine::general_purpose::STANDARD.decode(b).unwrap()).unwrap()
        }
        Some(b) => b.to_string(),
        None => String::new(),
    };
    Answer {
        status: resp["statusCode"].as_u64().expect("statusCode") as u16,
        content_type: resp["headers"]["content-type"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
        body: serde_json::from_str(&text).unwrap_or(Value::String(text)),
    }
}

async fn invoke(app: &LambdaApp, r: Req<'_>) -> Answer {
    let resp = tokio::time::timeout(Duration::from_secs(30), handler(app, event(&r)))
        .await
        .expect("the handler answers within 30 s")
        .expect("the handler returns a proxy response");
    answer(&resp)
}

/// The same request against `pm-api serve`.
async fn local(app: &TestApp, r: Req<'_>) -> Answer {
    let url = if r.query.is_empty() {
        app.url(r.path)
    } else {
        format!("{}?{}", app.url(r.path), r.query)
    };
    let mut b = app
        .http
        .request(r.method.parse().unwrap(), url)
        .header("x-forwarded-for", r.source_ip);
    if let Some(t) = &r.bearer {
        b = b.bearer_auth(t);
    }
    if let Some(body) = &r.body {
        b = b
            .header("content-type", "application/json")
            .body(body.clone());
    }
    let resp = b.send().await.unwrap();
    let content_type = resp
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    let (status, body) = status_json(resp).await;
    Answer {
        status,
        content_type,
        body,
    }
}

fn jwks_json() -> String {
    std::fs::read_to_string(keys().jwks_file.path()).unwrap()
}

fn settings(database: DbConfig, callback_allow: &str) -> LambdaSettings {
    LambdaSettings {
        region: "east".into(),
        jwks: Some(JwksSource::Inline(jwks_json())),
        jwt_issuer: Some(ISSUER.into()),
        jwt_client_id: Some(CLIENT_ID.into()),
        callback_allow: callback_allow
            .split(',')
            .filter(|s| !s.is_empty())
            .map(|s| s.parse().unwrap())
            .collect(),
        trusted_proxies: vec![],
        db_pool: 2,
        log_json: false,
        mri_rate_bp: pm_api::domain::tax::DEFAULT_MRI_RATE_BP,
        database,
    }
}

/// A connection whose statements are not logged (they carry passwords).
async fn admin(url: &str) -> PgConnection {
    let opts: PgConnectOptions = url.parse().unwrap();
    PgConnection::connect_with(&opts.disable_statement_logging())
        .await
        .unwrap_or_else(|e| panic!("connecting as admin: {e}"))
}

async fn exec(c: &mut PgConnection, sql: &str) {
    sqlx::raw_sql(sql)
        .execute(&mut *c)
        .await
        .unwrap_or_else(|e| panic!("admin statement failed: {e}"));
}

fn fresh_password() -> String {
    format!("pw-{}", uuid::Uuid::new_v4().simple())
}

// ---------------------------------------------------------------------------------------
// 1. Same answers as the local server
// ---------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread")]
async fn the_lambda_answers_like_the_local_server() {
    log_buffer();
    let allow = "127.0.0.1/32,196.201.214.0/24";
    let db = common::fresh_db().await;
    let server = TestApp::spawn_on(&db, &["--callback-allow", allow]).await; // migrates
    let lambda = LambdaApp::build(&settings(DbConfig::Url(db.clone()), allow), None)
        .await
        .expect("cold start");

    // Health and readiness.
    for path in ["/health", "/ready"] {
        let (l, s) = (
            invoke(&lambda, Req::get(path)).await,
            local(&server, Req::get(path)).await,
        );
        assert_eq!(l, s, "{path}");
        assert_eq!(l.status, 200, "{path}: {:?}", l.body);
    }
    assert_eq!(
        invoke(&lambda, Req::get("/ready")).await.body["db_role"],
        "writer"
    );

    // A landlord's rental, made through the local server; its callback token.
    let who = "landlord-lambda-1";
    let (_unit, tenant, _lease) = common::rental(&server, who, "B7", 15000).await;
    let cb = server.callback_token(who).await;
    let confirm = format!("/v1/callbacks/c2b/{cb}/confirmation");

    // The landlord as seen through each (JWT verified against the inline JWKS snapshot).
    assert_eq!(
        invoke(&lambda, Req::get("/v1/landlord").auth(who)).await,
        local(&server, Req::get("/v1/landlord").auth(who)).await
    );

    // A C2B confirmation: one receipt through each, same shape; then each receipt again
    // through the other (idempotent on the receipt).
    let l = invoke(
        &lambda,
        Req::post(&confirm, &c2b("TBL1LAMBD1", "7500.00", "b7")),
    )
    .await;
    let s = local(
        &server,
        Req::post(&confirm, &c2b("TBL1LOCAL1", "7500.00", "b7")),
    )
    .await;
    assert_eq!(l, s);
    assert_eq!(l.status, 200, "{:?}", l.body);
    // API Gateway base64-encodes bodies it does not consider text; the adapter decodes.
    let dup_l = invoke(
        &lambda,
        Req {
            base64: true,
            ..Req::post(&confirm, &c2b("TBL1LOCAL1", "7500.00", "b7"))
        },
    )
    .await;
    let dup_s = local(
        &server,
        Req::post(&confirm, &c2b("TBL1LAMBD1", "7500.00", "b7")),
    )
    .await;
    assert_eq!(dup_l, dup_s);
    let db_handle = server.db().await;
    assert_eq!(
        db_handle
            .count("SELECT count(*) FROM payments WHERE receipt IN ('TBL1LAMBD1','TBL1LOCAL1')")
            .await,
        2,
        "each receipt credited once"
    );

    // The tenant's statement (both payments) and the payments list read the same.
    let statement = format!("/v1/tenants/{tenant}/statement");
    let l = invoke(&lambda, Req::get(&statement).auth(who)).await;
    assert_eq!(l, local(&server, Req::get(&statement).auth(who)).await);
    assert_eq!(l.status, 200, "{:?}", l.body);
    let l = invoke(
        &lambda,
        Req {
            query: "limit=1",
            ..Req::get("/v1/payments").auth(who)
        },
    )
    .await;
    let s = local(
        &server,
        Req {
            query: "limit=1",
            ..Req::get("/v1/payments").auth(who)
        },
    )
    .await;
    assert_eq!(l, s);

    // Errors are the same problem+json.
    for r in [Req::get("/v1/nope"), Req::get("/v1/landlord")] {
        let l = invoke(&lambda, r).await;
        assert!(l.status >= 400);
        assert_eq!(l.content_type, "application/problem+json");
    }
    assert_eq!(
        invoke(&lambda, Req::get("/v1/nope")).await,
        local(&server, Req::get("/v1/nope")).await
    );

    // The callback allow-list sees API Gateway's source IP (requestContext.http.sourceIp),
    // not a client-supplied X-Forwarded-For.
    let mut outsider = event(&Req {
        source_ip: "203.0.113.9",
        ..Req::post(&confirm, &c2b("TBL1OUTSD1", "100", "b7"))
    });
    outsider["headers"]["x-forwarded-for"] = json!(SAFARICOM_IP);
    let refused = answer(&handler(&lambda, outsider).await.unwrap());
    assert_eq!(refused.status, 403, "{:?}", refused.body);
    assert_eq!(refused.content_type, "application/problem+json");
}

// ---------------------------------------------------------------------------------------
// 2 + 3. Credentials from Secrets Manager (moto), password auth, rotation, a wrong secret
// ---------------------------------------------------------------------------------------

const ROLE: &str = "pm_app";
const DB: &str = "pm";

fn secret_json(port: u16, password: &str) -> String {
    json!({
        "engine": "postgres",
        "host": "127.0.0.1",
        "port": port,
        "dbname": DB,
        "username": ROLE,
        "password": password,
        "dbClusterIdentifier": "pm-test-us-east-1"
    })
    .to_string()
}

/// Makes PostgreSQL demand a password (SCRAM) from `ROLE`, ahead of the cluster's trust
/// lines, and waits until the reload took effect.
async fn require_password(cluster: &pgcluster::TestCluster) {
    let hba = cluster.cluster().data_dir().join("pg_hba.conf");
    let old = std::fs::read_to_string(&hba).unwrap();
    let line =
        format!("host    all             {ROLE}          127.0.0.1/32            scram-sha-256\n");
    // Rewriting the existing file keeps its owner (postgres, when we run as root) and mode.
    std::fs::write(&hba, format!("{line}{old}")).unwrap();
    cluster
        .cluster()
        .kill(pgcluster::Signal::SIGHUP)
        .expect("reload PostgreSQL");
    let no_password = PgConnectOptions::new_without_pgpass()
        .host("127.0.0.1")
        .port(cluster.cluster().port())
        .username(ROLE)
        .database(DB)
        .ssl_mode(PgSslMode::Disable);
    for _ in 0..100 {
        match PgConnection::connect_with(&no_password).await {
            Err(e) if pm_api::db_secret::is_auth_error(&e) => return,
            Err(sqlx::Error::Protocol(_)) | Err(sqlx::Error::Configuration(_)) => return,
            _ => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
    panic!("PostgreSQL still lets {ROLE} in without a password after the pg_hba.conf reload");
}

/// Ends the role's sessions: what an idle timeout, a frozen Lambda or the proxy does to a
/// pooled connection. The next request must open a new one, with the current password.
async fn drop_sessions(admin: &mut PgConnection) {
    exec(
        admin,
        &format!(
            "SELECT pg_terminate_backend(pid, 5000) FROM pg_stat_activity WHERE usename = '{ROLE}'"
        ),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn credentials_come_from_secrets_manager_and_survive_rotation() {
    log_buffer();
    // A dedicated cluster: its pg_hba.conf is changed.
    let cluster = tokio::task::spawn_blocking(pgcluster::TestCluster::start)
        .await
        .unwrap()
        .expect("start a PostgreSQL cluster");
    let port = cluster.cluster().port();
    let (p1, p2, p3, wrong) = (
        fresh_password(),
        fresh_password(),
        fresh_password(),
        fresh_password(),
    );
    let mut su = admin(&cluster.url("postgres")).await;
    exec(
        &mut su,
        &format!("CREATE ROLE {ROLE} LOGIN PASSWORD '{p1}'"),
    )
    .await;
    exec(&mut su, &format!("CREATE DATABASE {DB} OWNER {ROLE}")).await;
    require_password(&cluster).await;
    {
        // The schema, created by the application role itself (with its password).
        let opts = PgConnectOptions::new_without_pgpass()
            .host("127.0.0.1")
            .port(port)
            .username(ROLE)
            .password(&p1)
            .database(DB)
            .ssl_mode(PgSslMode::Disable)
            .disable_statement_logging();
        let pool = sqlx::PgPool::connect_with(opts)
            .await
            .expect("pm_app login");
        pm_api::MIGRATOR.run(&pool).await.expect("migrations");
        pool.close().await;
    }

    let moto = Moto::start().await;
    let sdk = moto.sdk_config().await;
    let sm = aws_sdk_secretsmanager::Client::new(&sdk);
    let arn = sm
        .create_secret()
        .name("pm-test/aurora/master")
        .secret_string(secret_json(port, &p1))
        .send()
        .await
        .expect("create the secret in moto")
        .arn()
        .unwrap()
        .to_string();
    let put = |password: String| {
        let sm = sm.clone();
        let arn = arn.clone();
        async move {
            sm.put_secret_value()
                .secret_id(arn)
                .secret_string(secret_json(port, &password))
                .send()
                .await
                .expect("put_secret_value");
        }
    };
    let db = DbConfig::Secret {
        secret_id: arn.clone(),
        target: DbTarget {
            ssl_mode: PgSslMode::Disable, // the test cluster has no TLS; RDS Proxy: require
            ..DbTarget::default()
        },
    };
    let lambda = LambdaApp::build(&settings(db.clone(), ""), Some(&sdk))
        .await
        .expect("cold start");

    // Connected with the secret's credentials.
    let ready = invoke(&lambda, Req::get("/ready")).await;
    assert_eq!(ready.status, 200, "{:?}", ready.body);
    assert_eq!(ready.body["db_role"], "writer");
    let who = "landlord-secret-1";
    let me = invoke(&lambda, Req::get("/v1/landlord").auth(who)).await;
    assert_eq!(me.status, 200, "{:?}", me.body);
    let cb = me.body["callback_token"].as_str().unwrap().to_string();
    let mut app_db = admin(&format!(
        "postgres://{ROLE}:{p1}@127.0.0.1:{port}/{DB}?sslmode=disable"
    ))
    .await;
    let (user,): (String,) = sqlx::query_as(
        "SELECT DISTINCT usename::text FROM pg_stat_activity WHERE application_name = 'pm-api-lambda'",
    )
    .fetch_one(&mut app_db)
    .await
    .unwrap();
    assert_eq!(
        user, ROLE,
        "the Lambda's sessions log in as the secret's user"
    );
    app_db.close().await.unwrap();

    // Rotation: the password changes in the database and in the secret; the pooled
    // sessions end. The next request re-fetches the secret and succeeds, same handler.
    exec(&mut su, &format!("ALTER ROLE {ROLE} PASSWORD '{p2}'")).await;
    put(p2.clone()).await;
    drop_sessions(&mut su).await;
    let me = invoke(&lambda, Req::get("/v1/landlord").auth(who)).await;
    assert_eq!(me.status, 200, "after rotation: {:?}", me.body);
    assert!(logs().contains("database credentials re-fetched from Secrets Manager"));
    let ready = invoke(&lambda, Req::get("/ready")).await;
    assert_eq!(ready.status, 200, "{:?}", ready.body);

    // A wrong secret (the database has yet another password): 503 problem+json, database
    // unavailable — in the running handler and in a freshly started one.
    exec(&mut su, &format!("ALTER ROLE {ROLE} PASSWORD '{p3}'")).await;
    put(wrong.clone()).await;
    drop_sessions(&mut su).await;
    let cold = LambdaApp::build(&settings(db.clone(), ""), Some(&sdk))
        .await
        .expect("a cold start does not connect yet");
    for app in [&lambda, &cold] {
        let r = invoke(app, Req::get("/v1/landlord").auth(who)).await;
        assert_eq!(r.status, 503, "{:?}", r.body);
        assert_eq!(r.content_type, "application/problem+json");
        assert!(
            r.body["detail"]
                .as_str()
                .unwrap()
                .contains("database is unavailable"),
            "{:?}",
            r.body
        );
        let confirm = format!("/v1/callbacks/c2b/{cb}/confirmation");
        let r = invoke(app, Req::post(&confirm, &c2b("TBL2WRONG1", "100", "x"))).await;
        assert_eq!(r.status, 503, "{:?}", r.body);
        assert_eq!(r.content_type, "application/problem+json");
        // Readiness reports it in its own shape; liveness does not need the database.
        let r = invoke(app, Req::get("/ready")).await;
        assert_eq!(r.status, 503, "{:?}", r.body);
        assert_eq!(r.body["status"], "unavailable");
        assert_eq!(invoke(app, Req::get("/health")).await.status, 200);
    }

    // No password anywhere in what this process logged (sqlx, the AWS SDK, pm-api).
    let captured = logs();
    assert!(captured.contains("the database refused the credentials"));
    for (name, pw) in [("p1", &p1), ("p2", &p2), ("p3", &p3), ("wrong", &wrong)] {
        assert!(
            !captured.contains(pw.as_str()),
            "password {name} in the logs"
        );
    }
    su.close().await.unwrap();
    drop(moto);
    drop(cluster);
}

// ---------------------------------------------------------------------------------------
// The real `lambda` binary behind a fake Lambda Runtime API
// ---------------------------------------------------------------------------------------

mod runtime_api {
    //! The Lambda Runtime API (`/2018-06-01/runtime/...`) as the Lambda service serves it to
    //! a custom runtime: `bootstrap` long-polls `invocation/next`, then posts the response.

    use axum::extract::{Path, State};
    use axum::http::{HeaderMap, StatusCode};
    use axum::routing::{get, post};
    use axum::Router;
    use serde_json::Value;
    use std::collections::{HashMap, VecDeque};
    use std::sync::{Arc, Mutex};
    use tokio::sync::{oneshot, Notify};

    #[derive(Default)]
    struct Inner {
        queue: Mutex<VecDeque<(String, Value)>>,
        waiting: Mutex<HashMap<String, oneshot::Sender<Result<Value, String>>>>,
        ready: Notify,
        init_error: Mutex<Option<String>>,
    }

    #[derive(Clone)]
    pub struct RuntimeApi {
        inner: Arc<Inner>,
        pub addr: std::net::SocketAddr,
        task: Arc<tokio::task::JoinHandle<()>>,
    }

    impl Drop for RuntimeApi {
        fn drop(&mut self) {
            if Arc::strong_count(&self.task) == 1 {
                self.task.abort();
            }
        }
    }

    impl RuntimeApi {
        pub async fn start() -> RuntimeApi {
            let inner = Arc::new(Inner::default());
            let app = Router::new()
                .route("/2018-06-01/runtime/invocation/next", get(next))
                .route(
                    "/2018-06-01/runtime/invocation/{id}/response",
                    post(response),
                )
                .route("/2018-06-01/runtime/invocation/{id}/error", post(error))
                .route("/2018-06-01/runtime/init/error", post(init_error))
                .with_state(inner.clone());
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            let task = tokio::spawn(async move {
                let _ = axum::serve(listener, app).await;
            });
            RuntimeApi {
                inner,
                addr,
                task: Arc::new(task),
            }
        }

        /// Delivers `event` to the function and waits for its answer.
        pub async fn invoke(&self, event: Value) -> Result<Value, String> {
            let id = uuid::Uuid::new_v4().to_string();
            let (tx, rx) = oneshot::channel();
            self.inner.waiting.lock().unwrap().insert(id.clone(), tx);
            self.inner.queue.lock().unwrap().push_back((id, event));
            self.inner.ready.notify_one();
            match tokio::time::timeout(std::time::Duration::from_secs(60), rx).await {
                Ok(Ok(r)) => r,
                _ => Err(format!(
                    "no answer from the function (init error: {:?})",
                    self.inner.init_error.lock().unwrap()
                )),
            }
        }
    }

    async fn next(State(st): State<Arc<Inner>>) -> (HeaderMap, String) {
        loop {
            let notified = st.ready.notified();
            if let Some((id, ev)) = st.queue.lock().unwrap().pop_front() {
                let mut h = HeaderMap::new();
                let deadline = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap()
                    .as_millis()
                    + 15_000;
                h.insert("lambda-runtime-aws-request-id", id.parse().unwrap());
                h.insert(
                    "lambda-runtime-deadline-ms",
                    deadline.to_string().parse().unwrap(),
                );
                h.insert(
                    "lambda-runtime-invoked-function-arn",
                    "arn:aws:lambda:us-east-1:123456789012:function:pm-test-us-east-1-api:live"
                        .parse()
                        .unwrap(),
                );
                h.insert("content-type", "application/json".parse().unwrap());
                return (h, ev.to_string());
            }
            notified.await;
        }
    }

    async fn response(
        State(st): State<Arc<Inner>>,
        Path(id): Path<String>,
        body: String,
    ) -> StatusCode {
        if let Some(tx) = st.waiting.lock().unwrap().remove(&id) {
            let _ = tx.send(serde_json::from_str(&body).map_err(|e| e.to_string()));
        }
        StatusCode::ACCEPTED
    }

    async fn error(
        State(st): State<Arc<Inner>>,
        Path(id): Path<String>,
        body: String,
    ) -> StatusCode {
        if let Some(tx) = st.waiting.lock().unwrap().remove(&id) {
            let _ = tx.send(Err(body));
        }
        StatusCode::ACCEPTED
    }

    async fn init_error(State(st): State<Arc<Inner>>, body: String) -> StatusCode {
        *st.init_error.lock().unwrap() = Some(body);
        StatusCode::ACCEPTED
    }
}

/// Kills the child on drop (the test may fail half-way).
struct Bootstrap(std::process::Child, tempfile::NamedTempFile);

impl Drop for Bootstrap {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_bootstrap_binary_reads_its_environment_and_the_secret() {
    log_buffer();
    let db = common::fresh_db().await;
    // The schema (the deploy pipeline runs `pm-api migrate`).
    let pool = sqlx::PgPool::connect(&db).await.unwrap();
    pm_api::MIGRATOR.run(&pool).await.unwrap();
    pool.close().await;
    let url: url_parts::Parts = url_parts::parse(&db);

    let moto = Moto::start().await;
    let sm = aws_sdk_secretsmanager::Client::new(&moto.sdk_config().await);
    // The shared test cluster trusts 127.0.0.1 (the password test above makes PostgreSQL
    // check it); here the point is the path from environment to secret to database.
    let secret = json!({"engine": "postgres", "host": "db.invalid", "port": 1,
        "dbname": "wrong", "username": "postgres", "password": fresh_password()});
    let arn = sm
        .create_secret()
        .name("pm-test/bootstrap")
        .secret_string(secret.to_string())
        .send()
        .await
        .unwrap()
        .arn()
        .unwrap()
        .to_string();

    let rt = runtime_api::RuntimeApi::start().await;
    let log = tempfile::NamedTempFile::new().unwrap();
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_lambda"));
    cmd.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("AWS_LAMBDA_RUNTIME_API", rt.addr.to_string())
        .env("AWS_LAMBDA_FUNCTION_NAME", "pm-test-us-east-1-api")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "512")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "1")
        .env("PM_REGION", "east")
        .env("PM_REGION_ROLE", "primary")
        .env("PM_JWKS", "https://cognito-idp.invalid/jwks.json") // PM_JWKS_JSON wins
        .env("PM_JWKS_JSON", jwks_json())
        .env("PM_JWT_ISSUER", ISSUER)
        .env("PM_JWT_CLIENT_ID", CLIENT_ID)
        .env("PM_CALLBACK_ALLOW", "196.201.214.0/24")
        .env("PM_DB_POOL", "2")
        .env("PM_LOG_JSON", "true")
        .env("DB_SECRET_ARN", &arn)
        // Where this region's API connects (the RDS Proxy in AWS), over the secret's host.
        .env("PM_DB_HOST", &url.host)
        .env("PM_DB_PORT", url.port.to_string())
        .env("PM_DB_NAME", &url.db)
        .env("PM_DB_SSLMODE", "disable")
        .env("RUST_LOG", "info")
        .stdin(std::process::Stdio::null())
        .stdout(log.reopen().unwrap())
        .stderr(log.reopen().unwrap());
    for (k, v) in moto.env() {
        cmd.env(k, v);
    }
    let child = Bootstrap(cmd.spawn().expect("spawn the lambda binary"), log);
    let bootstrap_log = || std::fs::read_to_string(child.1.path()).unwrap_or_default();

    let ready = rt
        .invoke(event(&Req::get("/ready")))
        .await
        .unwrap_or_else(|e| panic!("{e}\nbootstrap log:\n{}", bootstrap_log()));
    let ready = answer(&ready);
    assert_eq!(ready.status, 200, "{:?}\n{}", ready.body, bootstrap_log());
    assert_eq!(ready.body["region"], "east");
    assert_eq!(ready.body["db_role"], "writer");

    let who = "landlord-bootstrap-1";
    let me = answer(
        &rt.invoke(event(&Req::get("/v1/landlord").auth(who)))
            .await
            .unwrap(),
    );
    assert_eq!(me.status, 200, "{:?}", me.body);
    let cb = me.body["callback_token"].as_str().unwrap();
    let outsider = answer(
        &rt.invoke(event(&Req {
            source_ip: "203.0.113.9",
            ..Req::post(
                &format!("/v1/callbacks/c2b/{cb}/validation"),
                &c2b("TBL3OUTSD1", "100", "x"),
            )
        }))
        .await
        .unwrap(),
    );
    assert_eq!(outsider.status, 403, "PM_CALLBACK_ALLOW applies");

    // JSON log lines (PM_LOG_JSON), no secret in them.
    let log = bootstrap_log();
    assert!(
        log.lines()
            .any(|l| l.starts_with('{') && l.contains("Lambda ready")),
        "{log}"
    );
    assert!(!log.contains(secret["password"].as_str().unwrap()));
    drop(child);
    drop(moto);
}

/// Host, port and database of a `postgres://user@host:port/db` URL.
mod url_parts {
    pub struct Parts {
        pub host: String,
        pub port: u16,
        pub db: String,
    }

    pub fn parse(url: &str) -> Parts {
        let rest = url.split_once("://").unwrap().1;
        let rest = rest.rsplit_once('@').map(|(_, r)| r).unwrap_or(rest);
        let (hostport, db) = rest.split_once('/').unwrap();
        let (host, port) = hostport.rsplit_once(':').unwrap();
        Parts {
            host: host.into(),
            port: port.parse().unwrap(),
            db: db.split('?').next().unwrap().into(),
        }
    }
}
