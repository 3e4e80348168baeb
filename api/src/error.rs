//! `ApiError`: the one error type of the HTTP layer. Every variant maps to a status and an
//! RFC 9457 problem+json body. Internal causes are logged, never sent to clients, and no
//! variant carries request values (phones, IDs, tokens) into messages.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

/// One offending field: `name` is a JSON path such as `phone` or `items[2].amount`, a
/// header (`Idempotency-Key`), a query parameter or a statement cell.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct InvalidParam {
    pub name: String,
    /// Why it was refused; never echoes the submitted value.
    pub reason: String,
}

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{detail}")]
    BadRequest {
        detail: String,
        params: Vec<InvalidParam>,
    },
    #[error("{detail}")]
    Unprocessable {
        detail: String,
        params: Vec<InvalidParam>,
    },
    #[error("{0}")]
    Unauthorized(String),
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("{detail}")]
    Conflict {
        detail: String,
        params: Vec<InvalidParam>,
    },
    #[error("forbidden")]
    Forbidden,
    /// The database behind this region is a read-only replica (or fenced): writes go to the
    /// writer region, which may be mid-failover.
    #[error("this region is read-only")]
    ReadOnly { writer_region: Option<String> },
    #[error("database unavailable")]
    Unavailable,
    #[error("internal error")]
    Internal(#[source] Box<dyn std::error::Error + Send + Sync>),
}

/// Header naming the region whose database is the writer, on 503s from a read-only region.
pub const WRITER_REGION_HEADER: &str = "pm-writer-region";

impl ApiError {
    pub fn field(name: impl Into<String>, reason: impl Into<String>) -> ApiError {
        let name = name.into();
        let reason = reason.into();
        ApiError::BadRequest {
            detail: format!("invalid field `{name}`: {reason}"),
            params: vec![InvalidParam { name, reason }],
        }
    }

    pub fn unprocessable_field(name: impl Into<String>, reason: impl Into<String>) -> ApiError {
        let name = name.into();
        let reason = reason.into();
        ApiError::Unprocessable {
            detail: format!("`{name}`: {reason}"),
            params: vec![InvalidParam { name, reason }],
        }
    }

    pub fn conflict_field(name: impl Into<String>, reason: impl Into<String>) -> ApiError {
        let name = name.into();
        let reason = reason.into();
        ApiError::Conflict {
            detail: format!("`{name}`: {reason}"),
            params: vec![InvalidParam { name, reason }],
        }
    }

    pub fn internal(e: impl std::error::Error + Send + Sync + 'static) -> ApiError {
        ApiError::Internal(Box::new(e))
    }

    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::BadRequest { .. } => StatusCode::BAD_REQUEST,
            ApiError::Unprocessable { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Conflict { .. } => StatusCode::CONFLICT,
            ApiError::ReadOnly { .. } | ApiError::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

/// RFC 9457 problem details: the body of every error (`application/problem+json`).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Problem {
    /// e.g. `about:blank#invalid-request`
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    #[schema(minimum = 400, maximum = 599)]
    pub status: u16,
    /// Human-readable; never echoes submitted values.
    pub detail: String,
    /// The offending fields (JSON paths, header, parameter or column names).
    #[serde(rename = "invalid-params", skip_serializing_if = "Vec::is_empty")]
    #[schema(min_items = 1)]
    pub invalid_params: Vec<InvalidParam>,
    /// On a 503 from a read-only region: where writes go.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub writer_region: Option<String>,
}

impl Problem {
    pub fn new(status: StatusCode, kind: &str, detail: String, params: &[InvalidParam]) -> Problem {
        Problem {
            kind: kind.to_string(),
            title: status.canonical_reason().unwrap_or("error").to_string(),
            status: status.as_u16(),
            detail,
            invalid_params: params.to_vec(),
            writer_region: None,
        }
    }
}

/// A problem+json response for errors raised outside `ApiError` (e.g. middleware).
pub fn problem_response(
    status: StatusCode,
    kind: &str,
    detail: String,
    params: &[InvalidParam],
) -> Response {
    with_problem_type(
        (
            status,
            axum::Json(Problem::new(status, kind, detail, params)),
        )
            .into_response(),
    )
}

fn with_problem_type(mut resp: Response) -> Response {
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/problem+json"),
    );
    resp
}

impl ApiError {
    /// The problem document this error answers with (logging an internal cause).
    pub fn problem(&self) -> Problem {
        let status = self.status();
        let (kind, params): (&str, &[InvalidParam]) = match self {
            ApiError::BadRequest { params, .. } => ("about:blank#invalid-request", params),
            ApiError::Unprocessable { params, .. } => ("about:blank#unprocessable", params),
            ApiError::Conflict { params, .. } => ("about:blank#conflict", params),
            ApiError::Unauthorized(_) => ("about:blank#unauthorized", &[]),
            ApiError::NotFound(_) => ("about:blank#not-found", &[]),
            ApiError::ReadOnly { .. } => ("about:blank#read-only-region", &[]),
            _ => ("about:blank", &[]),
        };
        let detail = match self {
            ApiError::Internal(e) => {
                // The cause goes to the log only: it may quote SQL or values.
                tracing::error!(error = %e, "internal error");
                "internal error; the request was not applied".to_string()
            }
            ApiError::Unavailable => {
                "the database is unavailable; the request was not applied — retry".to_string()
            }
            ApiError::ReadOnly { .. } => {
                "this region's database is read-only (a replica, or fenced during a failover); \
                 the request was not applied — retry, writes go to the writer region"
                    .to_string()
            }
            other => other.to_string(),
        };
        let mut p = Problem::new(status, kind, detail, params);
        if let ApiError::ReadOnly { writer_region } = self {
            p.writer_region = writer_region.clone();
        }
        p
    }

    /// The response headers that go with this error's status.
    pub fn decorate(&self, resp: &mut Response) {
        let h = resp.headers_mut();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        if self.status() == StatusCode::SERVICE_UNAVAILABLE {
            h.insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        if let ApiError::ReadOnly {
            writer_region: Some(w),
        } = self
        {
            if let Ok(v) = HeaderValue::from_str(w) {
                h.insert(WRITER_REGION_HEADER, v);
            }
        }
        if self.status() == StatusCode::UNAUTHORIZED {
            h.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut resp = (self.status(), axum::Json(self.problem())).into_response();
        self.decorate(&mut resp);
        resp
    }
}

/// Maps database errors: read-only transactions (a replica or a fenced writer) → 503,
/// connection failures → 503, constraint violations → 409 naming the field, else 500.
impl From<sqlx::Error> for ApiError {
    fn from(e: sqlx::Error) -> ApiError {
        match &e {
            sqlx::Error::Database(db) => {
                let code = db.code();
                match code.as_deref() {
                    // read_only_sql_transaction; admin_shutdown/cannot_connect_now during failover
                    Some("25006") => ApiError::ReadOnly {
                        writer_region: None,
                    },
                    Some("57P01") | Some("57P02") | Some("57P03") => ApiError::Unavailable,
                    Some("23505") | Some("23P01") | Some("23503") | Some("23514") => {
                        constraint_error(db.constraint())
                    }
                    _ => ApiError::internal(e),
                }
            }
            sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::Io(_)
            | sqlx::Error::Tls(_) => ApiError::Unavailable,
            sqlx::Error::RowNotFound => ApiError::NotFound("resource"),
            _ => ApiError::internal(e),
        }
    }
}

fn constraint_error(constraint: Option<&str>) -> ApiError {
    match constraint {
        Some("units_account_ref_unique") => ApiError::conflict_field(
            "account_ref",
            "another unit already uses this account reference",
        ),
        Some("units_label_unique") => {
            ApiError::conflict_field("label", "this property already has a unit with this label")
        }
        Some("leases_one_active_per_unit") => ApiError::conflict_field(
            "unit_id",
            "the unit already has a lease overlapping these dates",
        ),
        Some("landlords_shortcode_key") => ApiError::conflict_field(
            "shortcode",
            "this short code is registered to another landlord",
        ),
        Some(other) => {
            // Constraint names are schema internals: logged, not sent.
            tracing::warn!(constraint = other, "unmapped constraint violation");
            ApiError::Conflict {
                detail: "conflicts with existing data".into(),
                params: vec![],
            }
        }
        None => ApiError::Conflict {
            detail: "conflicts with existing data".into(),
            params: vec![],
        },
    }
}

/// The error responses of the OpenAPI document, one per status.
pub mod doc {
    use super::Problem;

    /// Invalid request (it does not match this document): `invalid-params` names the field;
    /// nothing was changed.
    #[derive(utoipa::ToResponse)]
    #[response(content_type = "application/problem+json")]
    #[allow(dead_code)]
    pub struct BadRequest(Problem);

    /// Missing, expired or otherwise invalid bearer token.
    #[derive(utoipa::ToResponse)]
    #[response(content_type = "application/problem+json", headers(("WWW-Authenticate" = String, description = "`Bearer`")))]
    #[allow(dead_code)]
    pub struct Unauthorized(Problem);

    /// No such resource for this landlord (another landlord's resource is not found too).
    #[derive(utoipa::ToResponse)]
    #[response(content_type = "application/problem+json")]
    #[allow(dead_code)]
    pub struct NotFound(Problem);

    /// Conflicts with the resource's state or existing data; `invalid-params` names the field.
    #[derive(utoipa::ToResponse)]
    #[response(content_type = "application/problem+json")]
    #[allow(dead_code)]
    pub struct Conflict(Problem);

    /// Matches this document but cannot be processed (it refers to a missing resource, a
    /// file cannot be read, …); `invalid-params` names the field; nothing was changed.
    #[derive(utoipa::ToResponse)]
    #[response(content_type = "application/problem+json")]
    #[allow(dead_code)]
    pub struct Unprocessable(Problem);

    /// Refused (callbacks from outside the allowed source networks).
    #[derive(utoipa::ToResponse)]
    #[response(content_type = "application/problem+json")]
    #[allow(dead_code)]
    pub struct Forbidden(Problem);

    /// The database is unavailable or read-only in this region; retry. Nothing was changed.
    #[derive(utoipa::ToResponse)]
    #[response(content_type = "application/problem+json", headers(
        ("Retry-After" = String, description = "seconds to wait before retrying"),
        ("pm-writer-region" = String, description = "the region whose database takes writes (read-only regions only)")))]
    #[allow(dead_code)]
    pub struct Unavailable(Problem);
}
