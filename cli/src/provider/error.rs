//! Errors of the provider boundary: what failed, on which component, why (the `source`
//! chain), and whether trying again may help.

pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

#[derive(Debug, thiserror::Error)]
pub enum ProviderError {
    #[error("unknown region `{0}`")]
    UnknownRegion(String),
    /// An action on one component (a region's database, the front door, an AWS resource)
    /// failed.
    #[error("{component}: {action}")]
    Action {
        component: String,
        action: String,
        retryable: bool,
        #[source]
        source: BoxError,
    },
    /// A condition the step waits for did not hold in time.
    #[error("timed out after {secs}s waiting for {what}")]
    Timeout { what: String, secs: u64 },
    /// A check failed (no source error: the world is not as required).
    #[error("{what}")]
    Check { what: String, retryable: bool },
    /// The environment cannot do this at all (e.g. a fault kind it does not support).
    #[error("{what}")]
    Unsupported { what: String },
    /// The environment is not there (e.g. no local stack): nothing was changed.
    #[error("{what}")]
    NotSetUp { what: String },
}

impl ProviderError {
    /// Failed with a cause; transient causes (connection refused, timeouts) are retryable.
    pub fn action(
        component: impl Into<String>,
        action: impl Into<String>,
        source: impl Into<BoxError>,
    ) -> ProviderError {
        ProviderError::Action {
            component: component.into(),
            action: action.into(),
            retryable: true,
            source: source.into(),
        }
    }

    /// Failed with a cause that retrying will not fix (bad request, denied, not found).
    pub fn fatal(
        component: impl Into<String>,
        action: impl Into<String>,
        source: impl Into<BoxError>,
    ) -> ProviderError {
        ProviderError::Action {
            component: component.into(),
            action: action.into(),
            retryable: false,
            source: source.into(),
        }
    }

    pub fn check(what: impl Into<String>) -> ProviderError {
        ProviderError::Check {
            what: what.into(),
            retryable: true,
        }
    }

    /// Whether running the same step again may succeed (the engine says so when it stops).
    pub fn retryable(&self) -> bool {
        match self {
            ProviderError::Action { retryable, .. } | ProviderError::Check { retryable, .. } => {
                *retryable
            }
            ProviderError::Timeout { .. } => true,
            ProviderError::UnknownRegion(_)
            | ProviderError::Unsupported { .. }
            | ProviderError::NotSetUp { .. } => false,
        }
    }
}

/// `error: cause: cause…` on one line, for journals and step reports.
pub fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        let m = c.to_string();
        if !s.contains(&m) {
            s.push_str(": ");
            s.push_str(&m);
        }
        cur = c.source();
    }
    s
}

/// A plain message as an error source.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Msg(pub String);

impl Msg {
    pub fn boxed(m: impl Into<String>) -> BoxError {
        Box::new(Msg(m.into()))
    }
}
