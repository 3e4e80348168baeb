//! The landlord's own settings: M-Pesa callback token and paybill short code.

use super::begin_write;
use crate::domain::Shortcode;
use crate::error::ApiError;
use crate::state::AppState;
use crate::store::landlords::{self, LandlordRow};

/// The landlord, created on first use.
pub async fn get_or_create(st: &AppState, me: &str) -> Result<LandlordRow, ApiError> {
    let mut c = st.db.acquire().await?;
    if let Some(l) = landlords::get(&mut c, me).await? {
        return Ok(l);
    }
    drop(c);
    let mut tx = begin_write(st, me).await?;
    let l = landlords::get(&mut tx, me)
        .await?
        .ok_or(ApiError::NotFound("landlord"))?;
    tx.commit().await?;
    Ok(l)
}

/// Replaces the callback token; the old one stops working at once.
pub async fn rotate_token(st: &AppState, me: &str) -> Result<LandlordRow, ApiError> {
    let mut tx = begin_write(st, me).await?;
    landlords::rotate_token(&mut tx, me).await?;
    let l = landlords::get(&mut tx, me)
        .await?
        .ok_or(ApiError::NotFound("landlord"))?;
    tx.commit().await?;
    tracing::info!("callback token rotated");
    Ok(l)
}

pub async fn set_shortcode(
    st: &AppState,
    me: &str,
    sc: &Shortcode,
) -> Result<LandlordRow, ApiError> {
    let mut tx = begin_write(st, me).await?;
    landlords::set_shortcode(&mut tx, me, sc.as_str()).await?;
    let l = landlords::get(&mut tx, me)
        .await?
        .ok_or(ApiError::NotFound("landlord"))?;
    tx.commit().await?;
    Ok(l)
}

/// The landlord whose callback token this is, or a 404 (an unknown token names nobody).
pub async fn by_callback_token(st: &AppState, token: &str) -> Result<String, ApiError> {
    let mut c = st.db.acquire().await?;
    landlords::by_callback_token(&mut c, token)
        .await?
        .ok_or(ApiError::NotFound("callback"))
}
