//! Test harness: a real PostgreSQL (one throwaway cluster per test binary, a fresh database
//! per test), the real `pm-api` binary on a free port, real HTTP, and RS256 tokens signed
//! with a key whose JWKS the server loads from a file.
#![allow(dead_code)]

use base64::Engine;
use rsa::pkcs1::EncodeRsaPrivateKey;
use rsa::traits::PublicKeyParts;
use serde_json::{json, Value};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

pub const ISSUER: &str = "https://cognito-idp.test.example/pool-1";
pub const CLIENT_ID: &str = "test-client";

pub struct Keys {
    pub kid: String,
    pub pem: String,
    pub other_pem: String, // a key the server does not know
    pub jwks_file: tempfile::NamedTempFile,
}

fn keygen() -> rsa::RsaPrivateKey {
    rsa::RsaPrivateKey::new(&mut rand::thread_rng(), 2048).expect("rsa keygen")
}

pub fn keys() -> &'static Keys {
    static K: OnceLock<Keys> = OnceLock::new();
    K.get_or_init(|| {
        let key = keygen();
        let other = keygen();
        let b64 = |b: Vec<u8>| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b);
        let kid = "test-key-1".to_string();
        let jwks = json!({"keys": [{
            "kty": "RSA", "alg": "RS256", "use": "sig", "kid": kid,
            "n": b64(key.n().to_bytes_be()), "e": b64(key.e().to_bytes_be()),
        }]});
        let mut f = tempfile::NamedTempFile::new().unwrap();
        std::io::Write::write_all(&mut f, jwks.to_string().as_bytes()).unwrap();
        Keys {
            kid,
            pem: key.to_pkcs1_pem(Default::default()).unwrap().to_string(),
            other_pem: other.to_pkcs1_pem(Default::default()).unwrap().to_string(),
            jwks_file: f,
        }
    })
}

pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// Signs claims with the server-known key (or `other` key) under the known kid.
pub fn sign(claims: &Value, other_key: bool) -> String {
    let k = keys();
    let pem = if other_key { &k.other_pem } else { &k.pem };
    let mut h = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
    h.kid = Some(k.kid.clone());
    jsonwebtoken::encode(
        &h,
        claims,
        &jsonwebtoken::EncodingKey::from_rsa_pem(pem.as_bytes()).unwrap(),
    )
    .unwrap()
}

/// A valid Cognito-style ID token for landlord `sub`.
pub fn token(sub: &str) -> String {
    sign(
        &json!({"sub": sub, "iss": ISSUER, "aud": CLIENT_ID, "token_use": "id",
                "exp": now() + 3600, "iat": now()}),
        false,
    )
}

pub struct TestApp {
    pub base: String,
    pub db_url: String,
    pub http: reqwest::Client,
    child: Child,
    logs: Arc<Mutex<String>>,
}

pub async fn fresh_db() -> String {
    pgcluster::TestCluster::shared()
        .create_database()
        .await
        .expect("create test database")
}

impl TestApp {
    pub async fn spawn() -> TestApp {
        let db = fresh_db().await;
        TestApp::spawn_on(&db, &[]).await
    }

    /// Starts `pm-api serve` against `db_url` with extra CLI args.
    pub async fn spawn_on(db_url: &str, extra: &[&str]) -> TestApp {
        let k = keys();
        let mut child = Command::new(env!("CARGO_BIN_EXE_pm-api"))
            .args([
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--region",
                "east",
                "--migrate",
            ])
            .args(["--database-url", db_url])
            .arg("--jwks")
            .arg(k.jwks_file.path())
            .args(["--jwt-issuer", ISSUER, "--jwt-client-id", CLIENT_ID])
            .args(extra)
            .env("RUST_LOG", "info")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn pm-api");
        let logs = Arc::new(Mutex::new(String::new()));
        let stderr = child.stderr.take().unwrap();
        let sink = logs.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let mut s = sink.lock().unwrap();
                s.push_str(&line);
                s.push('\n');
            }
        });
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut lines = BufReader::new(stdout).lines();
            if let Some(Ok(l)) = lines.next() {
                let _ = tx.send(l);
            }
            for _ in lines {}
        });
        let line = match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(l) => l,
            Err(_) => {
                let _ = child.kill();
                panic!("pm-api did not start; logs:\n{}", logs.lock().unwrap());
            }
        };
        let addr = line.rsplit(' ').next().unwrap().to_string();
        TestApp {
            base: format!("http://{addr}"),
            db_url: db_url.to_string(),
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .unwrap(),
            child,
            logs,
        }
    }

    pub fn logs(&self) -> String {
        self.logs.lock().unwrap().clone()
    }

    /// The logs once they contain every one of `lines`: the server writes a request's log
    /// line after the response has gone out, and its output reaches us through a pipe.
    pub async fn logs_containing(&self, lines: &[&str]) -> String {
        let deadline = std::time::Instant::now() + Duration::from_secs(15);
        loop {
            let logs = self.logs();
            if lines.iter().all(|l| logs.contains(l)) {
                return logs;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "the logs never showed {lines:?}:\n{logs}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    pub async fn get(&self, who: &str, path: &str) -> (u16, Value) {
        let r = self
            .http
            .get(self.url(path))
            .bearer_auth(token(who))
            .send()
            .await
            .unwrap();
        status_json(r).await
    }

    pub async fn post(&self, who: &str, path: &str, body: Value) -> (u16, Value) {
        let r = self
            .http
            .post(self.url(path))
            .bearer_auth(token(who))
            .json(&body)
            .send()
            .await
            .unwrap();
        status_json(r).await
    }

    pub async fn put(&self, who: &str, path: &str, body: Value) -> (u16, Value) {
        let r = self
            .http
            .put(self.url(path))
            .bearer_auth(token(who))
            .json(&body)
            .send()
            .await
            .unwrap();
        status_json(r).await
    }

    pub async fn patch(&self, who: &str, path: &str, body: Value) -> (u16, Value) {
        let r = self
            .http
            .patch(self.url(path))
            .bearer_auth(token(who))
            .json(&body)
            .send()
            .await
            .unwrap();
        status_json(r).await
    }

    /// GET with an `Accept` header; returns status, content type and the raw body.
    pub async fn get_accept(&self, who: &str, path: &str, accept: &str) -> (u16, String, String) {
        let r = self
            .http
            .get(self.url(path))
            .bearer_auth(token(who))
            .header("accept", accept)
            .send()
            .await
            .unwrap();
        let s = r.status().as_u16();
        let ct = r
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        (s, ct, r.text().await.unwrap())
    }

    /// POSTs a raw body with a content type, with a JWT.
    pub async fn post_body(
        &self,
        who: &str,
        path: &str,
        content_type: &str,
        body: impl Into<reqwest::Body>,
    ) -> (u16, Value) {
        let r = self
            .http
            .post(self.url(path))
            .bearer_auth(token(who))
            .header("content-type", content_type)
            .body(body)
            .send()
            .await
            .unwrap();
        status_json(r).await
    }

    /// POSTs without a JWT (callbacks), raw body.
    pub async fn post_raw(&self, path: &str, body: &str) -> (u16, Value) {
        let r = self
            .http
            .post(self.url(path))
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
            .await
            .unwrap();
        status_json(r).await
    }

    /// The landlord's callback token (creates the landlord on first use).
    pub async fn callback_token(&self, who: &str) -> String {
        let (s, v) = self.get(who, "/v1/landlord").await;
        assert_eq!(s, 200, "{v}");
        v["callback_token"].as_str().unwrap().to_string()
    }

    pub async fn db(&self) -> sqlx_free::Db {
        sqlx_free::Db::connect(&self.db_url).await
    }

    /// Counts of every table: to prove a failed request changed nothing.
    /// The reason the newest quarantined callback of `who` is quarantined.
    pub async fn quarantine_reason(&self, who: &str) -> String {
        let (s, v) = self
            .get(who, "/v1/callback-inbox?status=quarantined&limit=1")
            .await;
        assert_eq!(s, 200, "{v}");
        v["items"][0]["error"].as_str().unwrap_or("").to_string()
    }

    pub async fn snapshot(&self) -> Value {
        self.db().await.table_counts().await
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub async fn status_json(r: reqwest::Response) -> (u16, Value) {
    let s = r.status().as_u16();
    let text = r.text().await.unwrap();
    let v = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (s, v)
}

/// Minimal direct database access for assertions, through psql-free SQL via pgcluster's sqlx.
pub mod sqlx_free {
    use serde_json::{json, Value};

    pub struct Db(pub sqlx::PgPool);

    impl Db {
        pub async fn connect(url: &str) -> Db {
            Db(sqlx::PgPool::connect(url).await.expect("connect test db"))
        }

        pub async fn count(&self, sql: &str) -> i64 {
            sqlx::query_scalar::<_, i64>(sql)
                .fetch_one(&self.0)
                .await
                .unwrap_or_else(|e| panic!("{sql}: {e}"))
        }

        pub async fn table_counts(&self) -> Value {
            let mut out = serde_json::Map::new();
            for t in [
                "landlords",
                "properties",
                "units",
                "tenants",
                "leases",
                "invoices",
                "payments",
                "allocations",
                "stk_requests",
                "idempotency_keys",
                "expenses",
                "maintenance_requests",
                "audit_log",
            ] {
                out.insert(
                    t.into(),
                    json!(self.count(&format!("SELECT count(*) FROM {t}")).await),
                );
            }
            Value::Object(out)
        }

        pub async fn exec(&self, sql: &str) {
            sqlx::query(sql)
                .execute(&self.0)
                .await
                .unwrap_or_else(|e| panic!("{sql}: {e}"));
        }
    }
}

/// Follows `next_cursor` through every page of a list; returns the ids in order.
pub async fn all_ids(app: &TestApp, who: &str, path: &str) -> Vec<String> {
    let sep = if path.contains('?') { '&' } else { '?' };
    let mut ids = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let url = match &cursor {
            Some(c) => format!("{path}{sep}cursor={c}"),
            None => path.to_string(),
        };
        let (s, v) = app.get(who, &url).await;
        assert_eq!(s, 200, "{url}: {v}");
        for i in v["items"].as_array().unwrap() {
            ids.push(i["id"].as_str().unwrap().to_string());
        }
        match v["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => return ids,
        }
    }
}

/// Sets up property → unit → tenant → lease for `who`; returns (unit_id, tenant_id, lease_id).
pub async fn rental(
    app: &TestApp,
    who: &str,
    account_ref: &str,
    rent: i64,
) -> (String, String, String) {
    let (s, p) = app
        .post(who, "/v1/properties", json!({"name": "Kilimani Heights", "county": "Nairobi", "address": "Argwings Kodhek Rd"}))
        .await;
    assert_eq!(s, 201, "{p}");
    let (s, u) = app
        .post(
            who,
            "/v1/units",
            json!({"property_id": p["id"], "label": format!("Unit {account_ref}"),
            "monthly_rent": rent, "deposit": rent, "account_ref": account_ref}),
        )
        .await;
    assert_eq!(s, 201, "{u}");
    let (s, t) = app
        .post(
            who,
            "/v1/tenants",
            json!({"name": "Wanjiru Kamau", "phone": "0712345678", "national_id": "12345678"}),
        )
        .await;
    assert_eq!(s, 201, "{t}");
    let (s, l) = app
        .post(who, "/v1/leases", json!({"unit_id": u["id"], "tenant_id": t["id"], "start_date": "2026-01-01", "due_day": 5}))
        .await;
    assert_eq!(s, 201, "{l}");
    (
        u["id"].as_str().unwrap().into(),
        t["id"].as_str().unwrap().into(),
        l["id"].as_str().unwrap().into(),
    )
}

pub fn c2b(trans_id: &str, amount: &str, bill_ref: &str) -> Value {
    json!({
        "TransactionType": "Pay Bill", "TransID": trans_id, "TransTime": "20260205093000",
        "TransAmount": amount, "BusinessShortCode": "600984", "BillRefNumber": bill_ref,
        "InvoiceNumber": "", "OrgAccountBalance": "49197.00", "ThirdPartyTransID": "",
        "MSISDN": "2547 ***** 126", "FirstName": "WANJIRU", "MiddleName": "", "LastName": "KAMAU"
    })
}
