//! Bearer JWT verification, Cognito user-pool style: RS256 signatures checked against a JWKS
//! (from a file or a URL, cached; refetched when a token names an unknown key), `iss`,
//! `exp`, `token_use`, and the app client (`aud` for ID tokens, `client_id` for access
//! tokens). The landlord is the token's `sub`.

use crate::error::ApiError;
use crate::state::AppState;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{decode, decode_header, Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::RwLock;

#[derive(Debug, Clone)]
pub enum JwksSource {
    File(PathBuf),
    Url(String),
    /// The JWKS document itself (a snapshot taken at deploy time: the Lambda's
    /// `PM_JWKS_JSON`), so tokens verify without reaching the identity provider.
    Inline(String),
}

impl JwksSource {
    /// `http(s)://…` is a URL; anything else a file path.
    pub fn parse(s: &str) -> JwksSource {
        if s.starts_with("http://") || s.starts_with("https://") {
            JwksSource::Url(s.to_string())
        } else {
            JwksSource::File(PathBuf::from(s))
        }
    }
}

#[derive(Debug, Clone)]
pub struct AuthConfig {
    pub jwks: JwksSource,
    pub issuer: String,
    /// The user pool app client id tokens must be issued for.
    pub client_id: String,
}

#[derive(Debug, thiserror::Error)]
pub enum JwksError {
    #[error("reading JWKS file {path}: {source}")]
    File {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("fetching JWKS from {url}: {source}")]
    Fetch { url: String, source: reqwest::Error },
    #[error("JWKS is not a valid JSON Web Key Set: {0}")]
    Parse(serde_json::Error),
}

/// Don't hammer the JWKS endpoint when tokens with unknown `kid`s arrive.
const MIN_REFRESH: Duration = Duration::from_secs(30);

/// Keys by `kid`, and when they were last fetched.
type KeyCache = (HashMap<String, Arc<DecodingKey>>, Option<Instant>);

pub struct Verifier {
    cfg: AuthConfig,
    keys: RwLock<KeyCache>,
    http: reqwest::Client,
}

#[derive(Debug, Deserialize)]
struct Claims {
    sub: String,
    token_use: Option<String>,
    #[serde(default)]
    aud: Option<serde_json::Value>,
    client_id: Option<String>,
}

impl Verifier {
    pub fn new(cfg: AuthConfig) -> Verifier {
        Verifier {
            cfg,
            keys: RwLock::new((HashMap::new(), None)),
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(5))
                .build()
                .expect("reqwest client"),
        }
    }

    /// Loads the JWKS now (startup), so a bad file fails fast instead of on the first request.
    pub async fn preload(&self) -> Result<(), JwksError> {
        self.refresh().await
    }

    async fn fetch(&self) -> Result<JwkSet, JwksError> {
        let text = match &self.cfg.jwks {
            JwksSource::Inline(json) => json.clone(),
            JwksSource::File(path) => {
                tokio::fs::read_to_string(path)
                    .await
                    .map_err(|source| JwksError::File {
                        path: path.clone(),
                        source,
                    })?
            }
            JwksSource::Url(url) => self
                .http
                .get(url)
                .send()
                .await
                .and_then(|r| r.error_for_status())
                .map_err(|source| JwksError::Fetch {
                    url: url.clone(),
                    source,
                })?
                .text()
                .await
                .map_err(|source| JwksError::Fetch {
                    url: url.clone(),
                    source,
                })?,
        };
        serde_json::from_str(&text).map_err(JwksError::Parse)
    }

    async fn refresh(&self) -> Result<(), JwksError> {
        let set = self.fetch().await?;
        let mut map = HashMap::new();
        for jwk in &set.keys {
            if let (Some(kid), Ok(key)) = (jwk.common.key_id.clone(), DecodingKey::from_jwk(jwk)) {
                map.insert(kid, Arc::new(key));
            }
        }
        *self.keys.write().await = (map, Some(Instant::now()));
        Ok(())
    }

    async fn key(&self, kid: &str) -> Option<Arc<DecodingKey>> {
        {
            let guard = self.keys.read().await;
            if let Some(k) = guard.0.get(kid) {
                return Some(k.clone());
            }
            if guard.1.is_some_and(|t| t.elapsed() < MIN_REFRESH) {
                return None;
            }
        }
        // Unknown kid (key rotation) or never loaded: refetch. On failure keep the cached keys:
        // if the identity region is down, tokens signed with known keys still verify.
        if let Err(e) = self.refresh().await {
            tracing::warn!(error = %e, "JWKS refresh failed; using cached keys");
        }
        self.keys.read().await.0.get(kid).cloned()
    }

    /// Verifies a bearer token and returns the landlord id (`sub`).
    pub async fn verify(&self, token: &str) -> Result<String, ApiError> {
        let unauthorized = |why: &str| ApiError::Unauthorized(format!("invalid token: {why}"));
        let header = decode_header(token).map_err(|_| unauthorized("malformed"))?;
        if header.alg != Algorithm::RS256 {
            return Err(unauthorized("algorithm must be RS256"));
        }
        let kid = header.kid.ok_or_else(|| unauthorized("no key id"))?;
        let key = self
            .key(&kid)
            .await
            .ok_or_else(|| unauthorized("unknown signing key"))?;
        let mut v = Validation::new(Algorithm::RS256);
        v.set_issuer(&[&self.cfg.issuer]);
        v.validate_aud = false; // access tokens carry client_id instead of aud; checked below
        v.set_required_spec_claims(&["exp", "iss", "sub"]);
        v.leeway = 30;
        let data = decode::<Claims>(token, &key, &v).map_err(|e| {
            use jsonwebtoken::errors::ErrorKind::*;
            match e.kind() {
                ExpiredSignature => unauthorized("expired"),
                InvalidIssuer => unauthorized("wrong issuer"),
                InvalidSignature => unauthorized("bad signature"),
                _ => unauthorized("rejected"),
            }
        })?;
        let c = data.claims;
        let aud_ok = |aud: &Option<serde_json::Value>| match aud {
            Some(serde_json::Value::String(a)) => *a == self.cfg.client_id,
            Some(serde_json::Value::Array(a)) => a.iter().any(|x| x == &*self.cfg.client_id),
            _ => false,
        };
        let client_ok = match c.token_use.as_deref() {
            Some("id") => aud_ok(&c.aud),
            Some("access") => c.client_id.as_deref() == Some(self.cfg.client_id.as_str()),
            _ => return Err(unauthorized("token_use must be id or access")),
        };
        if !client_ok {
            return Err(unauthorized("issued for another client"));
        }
        if c.sub.is_empty() || c.sub.len() > 128 {
            return Err(unauthorized("bad subject"));
        }
        Ok(c.sub)
    }
}

/// The authenticated landlord (JWT `sub`). Every query is scoped by it.
#[derive(Debug, Clone)]
pub struct Landlord(pub String);

impl FromRequestParts<AppState> for Landlord {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let verifier = state
            .verifier
            .as_ref()
            .ok_or_else(|| ApiError::Unauthorized("authentication is not configured".into()))?;
        let value = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| ApiError::Unauthorized("missing bearer token".into()))?;
        let token = value
            .strip_prefix("Bearer ")
            .or_else(|| value.strip_prefix("bearer "))
            .ok_or_else(|| {
                ApiError::Unauthorized("expected `Authorization: Bearer <token>`".into())
            })?;
        verifier.verify(token.trim()).await.map(Landlord)
    }
}
