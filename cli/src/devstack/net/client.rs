//! Typed client for the net process's admin API.

use std::time::Duration;

use serde::Deserialize;

use super::{error_chain, LinkMode, NetState};

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

    /// Gives `region`'s canary target its weight (its counts start again).
    pub async fn set_canary(
        &self,
        region: &str,
        spec: &super::CanarySpec,
    ) -> Result<NetState, AdminError> {
        let body = serde_json::to_value(spec).map_err(|e| AdminError::Protocol {
            url: self.base_url.clone(),
            reason: e.to_string(),
        })?;
        let path = format!("/admin/canary/{}", encode_segment(region));
        self.call(reqwest::Method::PUT, &path, Some(body)).await
    }

    /// Removes `region`'s canary target (idempotent).
    pub async fn clear_canary(&self, region: &str) -> Result<NetState, AdminError> {
        let path = format!("/admin/canary/{}", encode_segment(region));
        self.call(reqwest::Method::DELETE, &path, None).await
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

    #[test]
    fn segment_encoding() {
        assert_eq!(encode_segment("repl-west-east"), "repl-west-east");
        assert_eq!(encode_segment("a/b c"), "a%2Fb%20c");
    }
}
