//! AWS failures as pmctl reports them: the operation, the resource, AWS's error code and
//! whether trying again can help. Messages never carry credentials: the SDK's request is
//! not included, and anything shaped like an access key id in AWS's message is redacted.

use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use std::time::Duration;

use super::store::LockNote;

/// What kind of failure this is, for the caller's decision (retry, refuse, report).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ErrorKind {
    /// The service asked us to slow down (Throttling, TooManyRequestsException, …).
    Throttled,
    /// 5xx, timeouts, connection failures: the same call may succeed later.
    Transient,
    /// AccessDenied and other authentication/authorisation refusals.
    AccessDenied,
    /// The named resource does not exist (…NotFound…, NoSuch…, HTTP 404).
    NotFound,
    /// A precondition or state check failed (PreconditionFailed, Invalid…StateFault,
    /// a lock held by someone else).
    Conflict,
    /// The request was malformed or its parameters invalid.
    Invalid,
    /// Anything else (unreadable answer, request not built, waiting timed out).
    Other,
}

#[derive(Debug, thiserror::Error)]
pub enum AwsError {
    #[error("{operation} {resource}: AWS error {code} (HTTP {status}): {message}")]
    Service {
        operation: &'static str,
        resource: String,
        code: String,
        message: String,
        status: u16,
    },
    #[error("{operation} {resource}: no answer in time ({detail})")]
    Timeout {
        operation: &'static str,
        resource: String,
        detail: String,
    },
    #[error("{operation} {resource}: could not reach AWS ({detail})")]
    Unreachable {
        operation: &'static str,
        resource: String,
        detail: String,
    },
    #[error("{operation} {resource}: unreadable answer (HTTP {status}): {detail}")]
    BadResponse {
        operation: &'static str,
        resource: String,
        status: u16,
        detail: String,
    },
    #[error("{operation} {resource}: request not sent ({detail})")]
    NotSent {
        operation: &'static str,
        resource: String,
        detail: String,
    },
    /// AWS answered, but not with what pmctl needs (e.g. no member in a region).
    #[error("{operation} {resource}: {detail}")]
    Missing {
        operation: &'static str,
        resource: String,
        detail: String,
    },
    /// Input refused before any call was made.
    #[error("{operation} {resource}: {detail}")]
    InvalidInput {
        operation: &'static str,
        resource: String,
        detail: String,
    },
    #[error("timed out after {}s waiting for {what}; last seen: {last}", .waited.as_secs())]
    WaitTimedOut {
        what: String,
        waited: Duration,
        last: String,
    },
    #[error("the operations lock {resource} is held by {holder}")]
    LockHeld {
        resource: String,
        holder: Box<LockNote>,
    },
}

/// Error codes AWS uses for refused credentials or permissions.
const ACCESS_DENIED: &[&str] = &[
    "AccessDenied",
    "AccessDeniedException",
    "UnauthorizedOperation",
    "UnrecognizedClientException",
    "InvalidClientTokenId",
    "SignatureDoesNotMatch",
    "IncompleteSignature",
    "InvalidSignatureException",
    "ExpiredToken",
    "ExpiredTokenException",
    "AuthFailure",
    "MissingAuthenticationToken",
];

/// Server-side errors that AWS reports with a 4xx status but that pass.
const TRANSIENT_CODES: &[&str] = &[
    "InternalError",
    "InternalFailure",
    "InternalServiceError",
    "ServiceUnavailable",
    "ServiceUnavailableException",
    // S3: two conditional writes raced; AWS says to retry.
    "ConditionalRequestConflict",
];

const CONFLICT_CODES: &[&str] = &[
    "PreconditionFailed",
    "ConditionalCheckFailedException",
    "ResourceConflictException",
];

impl AwsError {
    pub fn kind(&self) -> ErrorKind {
        match self {
            AwsError::Service { code, status, .. } => classify(code, *status),
            AwsError::Timeout { .. } | AwsError::Unreachable { .. } => ErrorKind::Transient,
            AwsError::BadResponse { status, .. } if *status >= 500 => ErrorKind::Transient,
            AwsError::Missing { .. } => ErrorKind::NotFound,
            AwsError::InvalidInput { .. } => ErrorKind::Invalid,
            AwsError::LockHeld { .. } => ErrorKind::Conflict,
            AwsError::BadResponse { .. }
            | AwsError::NotSent { .. }
            | AwsError::WaitTimedOut { .. } => ErrorKind::Other,
        }
    }

    /// Whether the same call may succeed if tried again (throttling, 5xx, timeouts).
    pub fn retryable(&self) -> bool {
        matches!(self.kind(), ErrorKind::Throttled | ErrorKind::Transient)
    }

    /// AWS's error code, when AWS answered with one.
    pub fn code(&self) -> Option<&str> {
        match self {
            AwsError::Service { code, .. } => Some(code),
            _ => None,
        }
    }

    /// The API operation that failed, when one did.
    pub fn operation(&self) -> Option<&'static str> {
        match self {
            AwsError::Service { operation, .. }
            | AwsError::Timeout { operation, .. }
            | AwsError::Unreachable { operation, .. }
            | AwsError::BadResponse { operation, .. }
            | AwsError::NotSent { operation, .. }
            | AwsError::Missing { operation, .. }
            | AwsError::InvalidInput { operation, .. } => Some(operation),
            AwsError::WaitTimedOut { .. } | AwsError::LockHeld { .. } => None,
        }
    }

    pub(crate) fn missing(
        operation: &'static str,
        resource: impl Into<String>,
        detail: impl Into<String>,
    ) -> AwsError {
        AwsError::Missing {
            operation,
            resource: resource.into(),
            detail: detail.into(),
        }
    }

    pub(crate) fn invalid(
        operation: &'static str,
        resource: impl Into<String>,
        detail: impl Into<String>,
    ) -> AwsError {
        AwsError::InvalidInput {
            operation,
            resource: resource.into(),
            detail: detail.into(),
        }
    }

    /// Converts an SDK failure, naming the operation and the resource it was about.
    pub fn from_sdk<E>(
        operation: &'static str,
        resource: impl Into<String>,
        err: SdkError<E, aws_smithy_runtime_api::http::Response>,
    ) -> AwsError
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
    {
        let resource = resource.into();
        match &err {
            SdkError::ServiceError(service) => {
                let status = service.raw().status().as_u16();
                let inner = service.err();
                AwsError::Service {
                    operation,
                    resource,
                    code: inner.code().unwrap_or("Unknown").to_string(),
                    message: redact(inner.message().unwrap_or("")),
                    status,
                }
            }
            SdkError::TimeoutError(_) => AwsError::Timeout {
                operation,
                resource,
                detail: "the operation timeout passed".into(),
            },
            SdkError::DispatchFailure(failure) => {
                let detail = redact(&error_chain(&err));
                if failure.is_timeout() {
                    AwsError::Timeout {
                        operation,
                        resource,
                        detail,
                    }
                } else if failure.is_user() {
                    AwsError::NotSent {
                        operation,
                        resource,
                        detail,
                    }
                } else {
                    AwsError::Unreachable {
                        operation,
                        resource,
                        detail,
                    }
                }
            }
            SdkError::ResponseError(response) => AwsError::BadResponse {
                operation,
                resource,
                status: response.raw().status().as_u16(),
                detail: redact(&error_chain(&err)),
            },
            SdkError::ConstructionFailure(_) => AwsError::NotSent {
                operation,
                resource,
                detail: redact(&error_chain(&err)),
            },
            _ => AwsError::NotSent {
                operation,
                resource,
                detail: redact(&error_chain(&err)),
            },
        }
    }
}

fn classify(code: &str, status: u16) -> ErrorKind {
    use aws_runtime::retries::classifiers::{THROTTLING_ERRORS, TRANSIENT_ERRORS};
    if THROTTLING_ERRORS.contains(&code) {
        ErrorKind::Throttled
    } else if TRANSIENT_ERRORS.contains(&code) || TRANSIENT_CODES.contains(&code) || status >= 500 {
        ErrorKind::Transient
    } else if status == 429 {
        ErrorKind::Throttled
    } else if ACCESS_DENIED.contains(&code) || status == 401 || status == 403 {
        ErrorKind::AccessDenied
    } else if code.contains("NotFound") || code.starts_with("NoSuch") || status == 404 {
        ErrorKind::NotFound
    } else if CONFLICT_CODES.contains(&code)
        || (code.starts_with("Invalid") && code.ends_with("StateFault"))
        || status == 409
        || status == 412
    {
        ErrorKind::Conflict
    } else if (400..500).contains(&status) {
        ErrorKind::Invalid
    } else {
        ErrorKind::Other
    }
}

/// The error and its causes on one line (the SDK's Display alone says only "dispatch
/// failure").
fn error_chain(err: &dyn std::error::Error) -> String {
    let mut out = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = cause.source();
    }
    out
}

/// Replaces anything shaped like an AWS access key id (AKIA…/ASIA…, 20 characters).
pub(crate) fn redact(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut word = String::new();
    let flush = |word: &mut String, out: &mut String| {
        let looks_like_key = word.len() == 20
            && (word.starts_with("AKIA") || word.starts_with("ASIA"))
            && word
                .chars()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit());
        out.push_str(if looks_like_key {
            "[access key id]"
        } else {
            word
        });
        word.clear();
    };
    for c in text.chars() {
        if c.is_ascii_alphanumeric() {
            word.push(c);
        } else {
            flush(&mut word, &mut out);
            out.push(c);
        }
    }
    flush(&mut word, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_classified_the_way_aws_documents_them() {
        assert_eq!(classify("Throttling", 400), ErrorKind::Throttled);
        assert_eq!(
            classify("TooManyRequestsException", 429),
            ErrorKind::Throttled
        );
        assert_eq!(classify("SlowDown", 503), ErrorKind::Throttled);
        assert_eq!(classify("InternalFailure", 500), ErrorKind::Transient);
        assert_eq!(classify("Whatever", 502), ErrorKind::Transient);
        assert_eq!(classify("AccessDenied", 403), ErrorKind::AccessDenied);
        assert_eq!(
            classify("AccessDeniedException", 400),
            ErrorKind::AccessDenied
        );
        assert_eq!(
            classify("GlobalClusterNotFoundFault", 404),
            ErrorKind::NotFound
        );
        assert_eq!(classify("NoSuchHostedZone", 404), ErrorKind::NotFound);
        assert_eq!(
            classify("ResourceNotFoundException", 404),
            ErrorKind::NotFound
        );
        assert_eq!(classify("PreconditionFailed", 412), ErrorKind::Conflict);
        assert_eq!(
            classify("InvalidDBClusterStateFault", 400),
            ErrorKind::Conflict
        );
        // Route 53: the previous change is still being applied; the SDK retries it too.
        assert_eq!(
            classify("PriorRequestNotComplete", 400),
            ErrorKind::Throttled
        );
        assert_eq!(classify("InvalidParameterValue", 400), ErrorKind::Invalid);
        assert_eq!(classify("ValidationError", 400), ErrorKind::Invalid);
    }

    #[test]
    fn retryable_only_for_throttling_and_transient_failures() {
        let service = |code: &str, status| AwsError::Service {
            operation: "Op",
            resource: "r".into(),
            code: code.into(),
            message: String::new(),
            status,
        };
        assert!(service("Throttling", 400).retryable());
        assert!(service("InternalFailure", 500).retryable());
        assert!(!service("AccessDenied", 403).retryable());
        assert!(!service("DBClusterNotFoundFault", 404).retryable());
        assert!(!service("ValidationError", 400).retryable());
        let timeout = AwsError::Timeout {
            operation: "Op",
            resource: "r".into(),
            detail: String::new(),
        };
        assert!(timeout.retryable());
    }

    #[test]
    fn access_key_ids_are_redacted() {
        assert_eq!(
            redact("key AKIAIOSFODNN7EXAMPLE is not valid; AKIAshort stays"),
            "key [access key id] is not valid; AKIAshort stays"
        );
    }
}
