//! One module per resource, each listing its routes (`routes()`); [`table`] is the single
//! list `crate::router` builds the axum Router from, and the one the OpenAPI test checks
//! against `/openapi.json` (every (method, path) must be documented). Handlers only
//! extract (into domain types), call one `service` function and render: no SQL here.

pub mod audit;
pub mod callbacks;
pub mod expenses;
pub mod health;
pub mod inbox;
pub mod invoices;
pub mod landlord;
pub mod leases;
pub mod maintenance;
pub mod openapi;
pub mod payments;
pub mod properties;
pub mod reconciliations;
pub mod reports;
pub mod resource;
pub mod tenants;
pub mod units;

use crate::state::AppState;
use axum::handler::Handler;
use axum::http::Method;
use axum::routing::{MethodFilter, MethodRouter};

/// One route: its method and path template (as documented in OpenAPI) and the handler.
/// Built only through [`ApiRoute::get`] & co., so the method routed is the method named.
pub struct ApiRoute {
    pub method: Method,
    pub path: &'static str,
    pub(crate) handler: MethodRouter<AppState>,
}

impl ApiRoute {
    fn on<H, T>(method: Method, filter: MethodFilter, path: &'static str, h: H) -> ApiRoute
    where
        H: Handler<T, AppState>,
        T: 'static,
    {
        ApiRoute {
            method,
            path,
            handler: axum::routing::on(filter, h),
        }
    }

    pub fn get<H: Handler<T, AppState>, T: 'static>(path: &'static str, h: H) -> ApiRoute {
        ApiRoute::on(Method::GET, MethodFilter::GET, path, h)
    }

    pub fn post<H: Handler<T, AppState>, T: 'static>(path: &'static str, h: H) -> ApiRoute {
        ApiRoute::on(Method::POST, MethodFilter::POST, path, h)
    }

    pub fn put<H: Handler<T, AppState>, T: 'static>(path: &'static str, h: H) -> ApiRoute {
        ApiRoute::on(Method::PUT, MethodFilter::PUT, path, h)
    }

    pub fn patch<H: Handler<T, AppState>, T: 'static>(path: &'static str, h: H) -> ApiRoute {
        ApiRoute::on(Method::PATCH, MethodFilter::PATCH, path, h)
    }

    /// Wraps the handler (route layers: a middleware, a body limit).
    pub fn map(
        mut self,
        f: impl FnOnce(MethodRouter<AppState>) -> MethodRouter<AppState>,
    ) -> ApiRoute {
        self.handler = f(self.handler);
        self
    }
}

/// Every route of the API.
pub fn table(state: &AppState) -> Vec<ApiRoute> {
    [
        health::routes(),
        openapi::routes(),
        landlord::routes(),
        properties::routes(),
        units::routes(),
        tenants::routes(),
        leases::routes(),
        invoices::routes(),
        payments::routes(),
        maintenance::routes(),
        expenses::routes(),
        reports::routes(),
        reconciliations::routes(),
        audit::routes(),
        callbacks::routes(state),
        inbox::routes(),
    ]
    .into_iter()
    .flatten()
    .collect()
}
