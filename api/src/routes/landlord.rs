//! The landlord's own settings: M-Pesa callback token and paybill short code.

use super::begin_write;
use crate::auth::Landlord;
use crate::error::ApiError;
use crate::extract::Json;
use crate::state::AppState;
use crate::store::landlords;
use axum::extract::State;
use axum::routing::{get, post, put};
use axum::Router;
use serde::Deserialize;
use serde_json::{json, Value};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/landlord", get(show))
        .route("/v1/landlord/callback-token/rotate", post(rotate))
        .route("/v1/landlord/shortcode", put(set_shortcode))
}

fn view(id: &str, token: &str, shortcode: Option<&str>) -> Value {
    json!({
        "id": id,
        "shortcode": shortcode,
        "callback_token": token,
        "callback_paths": {
            "c2b_validation": format!("/v1/callbacks/c2b/{token}/validation"),
            "c2b_confirmation": format!("/v1/callbacks/c2b/{token}/confirmation"),
            "stk": format!("/v1/callbacks/stk/{token}"),
        }
    })
}

async fn show(
    State(st): State<AppState>,
    Landlord(me): Landlord,
) -> Result<axum::Json<Value>, ApiError> {
    let mut c = st.db.acquire().await?;
    if let Some(l) = landlords::get(&mut c, &me).await? {
        return Ok(axum::Json(view(
            &l.id,
            &l.callback_token,
            l.shortcode.as_deref(),
        )));
    }
    drop(c);
    let mut tx = begin_write(&st, &me).await?;
    let l = landlords::get(&mut tx, &me)
        .await?
        .ok_or(ApiError::NotFound("landlord"))?;
    tx.commit().await?;
    Ok(axum::Json(view(
        &l.id,
        &l.callback_token,
        l.shortcode.as_deref(),
    )))
}

async fn rotate(
    State(st): State<AppState>,
    Landlord(me): Landlord,
) -> Result<axum::Json<Value>, ApiError> {
    let mut tx = begin_write(&st, &me).await?;
    let token = landlords::rotate_token(&mut tx, &me).await?;
    let l = landlords::get(&mut tx, &me)
        .await?
        .ok_or(ApiError::NotFound("landlord"))?;
    tx.commit().await?;
    tracing::info!("callback token rotated");
    Ok(axum::Json(view(&me, &token, l.shortcode.as_deref())))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ShortcodeBody {
    shortcode: String,
}

async fn set_shortcode(
    State(st): State<AppState>,
    Landlord(me): Landlord,
    Json(b): Json<ShortcodeBody>,
) -> Result<axum::Json<Value>, ApiError> {
    let sc = b.shortcode.trim();
    if !(5..=7).contains(&sc.len()) || !sc.bytes().all(|c| c.is_ascii_digit()) {
        return Err(ApiError::field(
            "shortcode",
            "must be a paybill/till number of 5 to 7 digits",
        ));
    }
    let mut tx = begin_write(&st, &me).await?;
    landlords::set_shortcode(&mut tx, &me, sc).await?;
    let l = landlords::get(&mut tx, &me)
        .await?
        .ok_or(ApiError::NotFound("landlord"))?;
    tx.commit().await?;
    Ok(axum::Json(view(
        &l.id,
        &l.callback_token,
        l.shortcode.as_deref(),
    )))
}
