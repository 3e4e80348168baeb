//! The landlord's own settings: M-Pesa callback token and paybill short code.

use super::ApiRoute;
use crate::auth::Landlord;
use crate::domain::Shortcode;
use crate::error::{doc, ApiError};
use crate::extract::Json;
use crate::service;
use crate::state::AppState;
use axum::extract::State;
use serde::{Deserialize, Serialize};

pub fn routes() -> Vec<ApiRoute> {
    vec![
        ApiRoute::get("/v1/landlord", show),
        ApiRoute::post("/v1/landlord/callback-token/rotate", rotate),
        ApiRoute::put("/v1/landlord/shortcode", set_shortcode),
    ]
}

/// The callback URLs to register with Daraja (relative to the API's public base URL).
#[derive(Serialize, utoipa::ToSchema)]
pub struct CallbackPaths {
    pub c2b_validation: String,
    pub c2b_confirmation: String,
    pub stk: String,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct LandlordView {
    /// The JWT `sub`.
    pub id: String,
    #[schema(value_type = Option<Shortcode>)]
    pub shortcode: Option<String>,
    /// Secret: whoever knows it can post callbacks for this landlord.
    pub callback_token: String,
    pub callback_paths: CallbackPaths,
}

fn view(id: &str, token: &str, shortcode: Option<&str>) -> axum::Json<LandlordView> {
    axum::Json(LandlordView {
        id: id.to_string(),
        shortcode: shortcode.map(str::to_string),
        callback_token: token.to_string(),
        callback_paths: CallbackPaths {
            c2b_validation: format!("/v1/callbacks/c2b/{token}/validation"),
            c2b_confirmation: format!("/v1/callbacks/c2b/{token}/confirmation"),
            stk: format!("/v1/callbacks/stk/{token}"),
        },
    })
}

/// The landlord (created on first use) with its callback token and paths.
#[utoipa::path(get, path = "/v1/landlord", operation_id = "getLandlord", tag = "landlord",
    responses((status = 200, description = "the landlord", body = LandlordView),
        (status = 401, response = doc::Unauthorized),
        (status = 503, response = doc::Unavailable)))]
async fn show(
    State(st): State<AppState>,
    Landlord(me): Landlord,
) -> Result<axum::Json<LandlordView>, ApiError> {
    let l = service::landlord::get_or_create(&st, &me).await?;
    Ok(view(&l.id, &l.callback_token, l.shortcode.as_deref()))
}

/// Replaces the callback token; the old one stops working at once.
#[utoipa::path(post, path = "/v1/landlord/callback-token/rotate", operation_id = "rotateCallbackToken", tag = "landlord",
    responses((status = 200, description = "the new token", body = LandlordView),
        (status = 401, response = doc::Unauthorized),
        (status = 503, response = doc::Unavailable)))]
async fn rotate(
    State(st): State<AppState>,
    Landlord(me): Landlord,
) -> Result<axum::Json<LandlordView>, ApiError> {
    let l = service::landlord::rotate_token(&st, &me).await?;
    Ok(view(&l.id, &l.callback_token, l.shortcode.as_deref()))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ShortcodeBody {
    shortcode: Shortcode,
}

/// Sets the paybill short code.
#[utoipa::path(put, path = "/v1/landlord/shortcode", operation_id = "setShortcode", tag = "landlord",
    request_body = ShortcodeBody,
    responses((status = 200, description = "updated", body = LandlordView),
        (status = 400, response = doc::BadRequest),
        (status = 401, response = doc::Unauthorized),
        (status = 409, response = doc::Conflict),
        (status = 503, response = doc::Unavailable)))]
async fn set_shortcode(
    State(st): State<AppState>,
    Landlord(me): Landlord,
    Json(b): Json<ShortcodeBody>,
) -> Result<axum::Json<LandlordView>, ApiError> {
    let l = service::landlord::set_shortcode(&st, &me, &b.shortcode).await?;
    Ok(view(&l.id, &l.callback_token, l.shortcode.as_deref()))
}
