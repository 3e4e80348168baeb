//! The one show path and the one list path every resource shares (`service::Shown`,
//! `service::Listed`); each resource's handler only names its type and documents itself.

use crate::error::ApiError;
use crate::extract::query_from_pairs;
use crate::service::{self, Listed, Shown};
use crate::state::AppState;
use crate::store::page::{Page, PageQuery};
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::Json;
use serde::de::DeserializeOwned;

/// `GET /v1/<resource>/{id}`.
pub async fn show<R: Shown>(st: &AppState, me: &str, key: &str) -> Result<Json<R>, ApiError> {
    service::show::<R>(st, me, key).await.map(Json)
}

/// `GET /v1/<resource>` with its filters and `limit`/`cursor`.
pub async fn list<R: Listed>(
    st: &AppState,
    me: &str,
    q: ListParams<R::Filter>,
) -> Result<Json<Page<R>>, ApiError> {
    service::list::<R>(st, me, &q.filter, q.page.bounds())
        .await
        .map(Json)
}

/// A list's query: the page parameters and the resource's own filters (unknown
/// parameters are refused, naming them).
pub struct ListParams<F> {
    pub page: PageQuery,
    pub filter: F,
}

impl<S: Send + Sync, F: DeserializeOwned> FromRequestParts<S> for ListParams<F> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        let q = parts.uri.query().unwrap_or("");
        let (page, rest): (Vec<_>, Vec<_>) = form_urlencoded::parse(q.as_bytes())
            .into_owned()
            .partition(|(k, _)| k == "limit" || k == "cursor");
        Ok(ListParams {
            page: query_from_pairs(page)?,
            filter: query_from_pairs(rest)?,
        })
    }
}

/// Handlers for a resource's show and list, documented by the caller's `#[utoipa::path]`.
pub type Show<R> = Result<Json<R>, ApiError>;
pub type List<R> = Result<Json<Page<R>>, ApiError>;
