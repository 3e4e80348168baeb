//! The proxy itself: write block, routing and forwarding of one request.

use std::error::Error as StdError;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use axum::body::Body;
use axum::extract::{ConnectInfo, State};
use axum::http::header::{self, HeaderMap, HeaderName, HeaderValue};
use axum::http::{Method, Request, Response, StatusCode, Uri, Version};
use axum::Router;

use super::metrics::Outcome;
use super::{FrontDoor, Region, REGION_HEADER, SHED_HEADER};

impl FrontDoor {
    /// The proxy: every path and method goes through [`FrontDoor::handle`]. Serve it with
    /// `into_make_service_with_connect_info::<SocketAddr>()` (for `X-Forwarded-For`).
    pub fn router(self: &Arc<Self>) -> Router {
        Router::new()
            .fallback(
                |State(fd): State<Arc<FrontDoor>>,
                 ConnectInfo(peer): ConnectInfo<SocketAddr>,
                 req: Request<Body>| async move { fd.handle(peer, req).await },
            )
            .with_state(self.clone())
    }

    /// Handles one client request: write block, routing, forwarding, metrics.
    pub async fn handle(&self, peer: SocketAddr, req: Request<Body>) -> Response<Body> {
        if self.writes_blocked() && !is_read(req.method()) {
            self.write_blocked_rejections
                .fetch_add(1, Ordering::Relaxed);
            let mut resp = problem(
                StatusCode::SERVICE_UNAVAILABLE,
                "Writes are blocked",
                "the front door is blocking writes for a planned switchover; retry shortly",
            );
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            return resp;
        }
        let index = self.route_index();
        let region = &self.regions[index];
        let target = self.pick_target(index);
        let upstream = match &target {
            super::canary::Target::Stable => region.upstream.as_str(),
            super::canary::Target::Canary(u) => u.as_str(),
        };
        let started = Instant::now();
        let mut resp = self.forward(region, upstream, peer, req).await;
        let (elapsed, is_5xx) = (started.elapsed(), resp.status().is_server_error());
        let outcome = if !is_5xx {
            Outcome::Answered
        } else if resp.status() == StatusCode::SERVICE_UNAVAILABLE
            && resp.headers().contains_key(SHED_HEADER)
        {
            Outcome::Shed
        } else {
            Outcome::ServerError
        };
        self.record(index, elapsed, outcome);
        // A deploy's canary gate counts shed requests as failures: a build that sheds
        // where the stable one does not is worse, whatever the reason.
        self.record_target(index, &target, elapsed, is_5xx);
        if let Ok(value) = HeaderValue::from_str(&region.name) {
            resp.headers_mut().insert(REGION_HEADER, value);
        }
        resp
    }

    async fn forward(
        &self,
        region: &Region,
        upstream: &str,
        peer: SocketAddr,
        req: Request<Body>,
    ) -> Response<Body> {
        let (mut parts, body) = req.into_parts();
        let path = parts
            .uri
            .path_and_query()
            .map(|p| p.as_str())
            .unwrap_or("/");
        let uri: Uri = match format!("{upstream}{path}").parse() {
            Ok(uri) => uri,
            Err(err) => {
                return problem(
                    StatusCode::BAD_REQUEST,
                    "Bad request target",
                    &format!("cannot forward {path:?}: {err}"),
                )
            }
        };
        let original_host = parts.headers.get(header::HOST).cloned();
        strip_hop_by_hop(&mut parts.headers);
        // The client sets Host from the upstream URI.
        parts.headers.remove(header::HOST);
        let xff = match parts
            .headers
            .get("x-forwarded-for")
            .and_then(|v| v.to_str().ok())
        {
            Some(prior) => format!("{prior}, {}", peer.ip()),
            None => peer.ip().to_string(),
        };
        if let Ok(value) = HeaderValue::from_str(&xff) {
            parts.headers.insert("x-forwarded-for", value);
        }
        if let Some(host) = original_host {
            parts.headers.insert("x-forwarded-host", host);
        }
        parts
            .headers
            .insert("x-forwarded-proto", HeaderValue::from_static("http"));
        parts.uri = uri;
        parts.version = Version::HTTP_11;
        let upstream_req = Request::from_parts(parts, body);

        match tokio::time::timeout(self.upstream_timeout, self.client.request(upstream_req)).await {
            Ok(Ok(resp)) => {
                let (mut parts, body) = resp.into_parts();
                strip_hop_by_hop(&mut parts.headers);
                Response::from_parts(parts, Body::new(body))
            }
            Ok(Err(err)) => {
                let what = if err.is_connect() {
                    "cannot connect to"
                } else {
                    "request failed at"
                };
                let detail = format!(
                    "{what} region {} upstream {}: {}",
                    region.name,
                    upstream,
                    error_chain(&err)
                );
                tracing::debug!(region = %region.name, "{detail}");
                problem(StatusCode::BAD_GATEWAY, "Upstream unavailable", &detail)
            }
            Err(_) => problem(
                StatusCode::GATEWAY_TIMEOUT,
                "Upstream timeout",
                &format!(
                    "region {} upstream {} sent no response within {} ms",
                    region.name,
                    upstream,
                    self.upstream_timeout.as_millis()
                ),
            ),
        }
    }
}

fn is_read(method: &Method) -> bool {
    matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

const HOP_BY_HOP: [&str; 8] = [
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// Removes hop-by-hop headers, including those the `Connection` header names.
fn strip_hop_by_hop(headers: &mut HeaderMap) {
    let named: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|name| HeaderName::from_bytes(name.trim().as_bytes()).ok())
        .collect();
    for name in named {
        headers.remove(name);
    }
    for name in HOP_BY_HOP {
        headers.remove(name);
    }
}

/// An error and its causes, `: `-separated.
pub(super) fn error_chain(err: &dyn StdError) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

/// An `application/problem+json` response (RFC 9457).
pub fn problem(status: StatusCode, title: &str, detail: &str) -> Response<Body> {
    let body = serde_json::json!({
        "type": "about:blank",
        "title": title,
        "status": status.as_u16(),
        "detail": detail,
    });
    let mut resp = Response::new(Body::from(body.to_string()));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/problem+json"),
    );
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hop_by_hop_headers_are_stripped() {
        let mut headers = HeaderMap::new();
        headers.insert(
            "connection",
            HeaderValue::from_static("keep-alive, x-secret"),
        );
        headers.insert("keep-alive", HeaderValue::from_static("timeout=5"));
        headers.insert("x-secret", HeaderValue::from_static("1"));
        headers.insert("transfer-encoding", HeaderValue::from_static("chunked"));
        headers.insert("x-kept", HeaderValue::from_static("1"));
        strip_hop_by_hop(&mut headers);
        assert_eq!(headers.len(), 1);
        assert!(headers.contains_key("x-kept"));
    }
}
