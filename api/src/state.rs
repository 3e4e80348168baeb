//! Shared application state and settings.

use crate::auth::Verifier;
use ipnet::IpNet;
use sqlx::PgPool;
use std::net::IpAddr;
use std::sync::Arc;

/// Settings that shape request handling (the server and the Lambda entry point both build it).
#[derive(Debug, Clone, Default)]
pub struct Settings {
    /// This deployment's region name, reported by `/ready` (e.g. `east`, `us-east-1`).
    pub region: String,
    /// Source networks allowed to call the M-Pesa callback URLs; empty = any.
    pub callback_allow: Vec<IpNet>,
    /// Proxies whose `X-Forwarded-For` is trusted (e.g. the front door, API Gateway).
    pub trusted_proxies: Vec<IpNet>,
}

/// When a stored callback is parsed, matched and allocated (`--allocation`; `allocation`
/// in pmctl.toml's `[environments.local.api]`).
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Default,
    clap::ValueEnum,
    serde::Serialize,
    serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Allocation {
    /// In the request, right after the raw callback is stored (before the answer).
    #[default]
    Inline,
    /// By the inbox worker, in batches, after the answer: the request only stores.
    Deferred,
}

impl Allocation {
    /// The value of `--allocation` / `PM_ALLOCATION`.
    pub fn as_str(self) -> &'static str {
        match self {
            Allocation::Inline => "inline",
            Allocation::Deferred => "deferred",
        }
    }
}

#[derive(Clone)]
pub struct AppState {
    pub db: PgPool,
    /// The pool `/ready` uses: its own connection, so readiness never waits behind the
    /// requests' pool (the Lambda entry point, one request at a time, shares `db`).
    pub health_db: PgPool,
    pub settings: Arc<Settings>,
    pub verifier: Option<Arc<Verifier>>,
    /// Kenya's Monthly Rental Income tax rate in basis points (750 = 7.5 %), used by the
    /// owner statement. `pm-api serve --mri-rate-bp` / `PM_MRI_RATE_BP`.
    pub mri_rate_bp: u32,
    pub allocation: Allocation,
    /// Wakes the inbox worker (deferred allocation).
    pub inbox_wakeup: Arc<tokio::sync::Notify>,
    /// Admission control for everything but the health endpoints; `None` = unlimited.
    pub admission: Option<Arc<crate::admission::Admission>>,
    /// The inbox's group commit, started on first use (on the runtime serving requests).
    intake: Arc<std::sync::OnceLock<crate::service::intake::Intake>>,
}

impl AppState {
    pub fn new(db: PgPool, settings: Settings, verifier: Option<Verifier>) -> AppState {
        AppState {
            health_db: db.clone(),
            db,
            settings: Arc::new(settings),
            verifier: verifier.map(Arc::new),
            mri_rate_bp: crate::domain::tax::DEFAULT_MRI_RATE_BP,
            allocation: Allocation::Inline,
            inbox_wakeup: Arc::new(tokio::sync::Notify::new()),
            admission: None,
            intake: Arc::default(),
        }
    }

    /// The inbox's group commit (started by the first callback).
    pub fn intake(&self) -> &crate::service::intake::Intake {
        self.intake
            .get_or_init(|| crate::service::intake::Intake::start(self.db.clone()))
    }

    /// A separate pool for `/ready`.
    pub fn with_health_db(mut self, pool: PgPool) -> AppState {
        self.health_db = pool;
        self
    }

    pub fn with_allocation(mut self, a: Allocation) -> AppState {
        self.allocation = a;
        self
    }

    pub fn with_admission(mut self, a: Option<crate::admission::Admission>) -> AppState {
        self.admission = a.map(Arc::new);
        self
    }

    /// Sets the Monthly Rental Income tax rate (basis points, 0–10 000).
    pub fn with_mri_rate_bp(mut self, bp: u32) -> AppState {
        self.mri_rate_bp = bp.min(10_000);
        self
    }
}

/// The client's address: the peer, or — when the peer is a trusted proxy — the nearest
/// untrusted address in `X-Forwarded-For` (rightmost first, as proxies append).
pub fn client_ip(peer: Option<IpAddr>, xff: Option<&str>, trusted: &[IpNet]) -> Option<IpAddr> {
    let peer = peer?;
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|n| n.contains(ip));
    if !is_trusted(&peer) {
        return Some(peer);
    }
    let mut last = peer;
    if let Some(xff) = xff {
        for part in xff.rsplit(',') {
            match part.trim().parse::<IpAddr>() {
                Ok(ip) if is_trusted(&ip) => last = ip,
                Ok(ip) => return Some(ip),
                Err(_) => return None, // a garbled chain cannot be trusted
            }
        }
    }
    Some(last)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xff_only_from_trusted_proxies() {
        let trusted: Vec<IpNet> = vec!["10.0.0.0/8".parse().unwrap()];
        let peer: IpAddr = "10.1.1.1".parse().unwrap();
        let outside: IpAddr = "196.201.214.200".parse().unwrap();
        assert_eq!(
            client_ip(Some(peer), Some("1.2.3.4, 196.201.214.200"), &trusted),
            Some(outside)
        );
        // An untrusted peer's XFF is ignored.
        assert_eq!(
            client_ip(Some(outside), Some("10.0.0.5"), &trusted),
            Some(outside)
        );
        assert_eq!(client_ip(Some(peer), Some("bogus"), &trusted), None);
    }
}
