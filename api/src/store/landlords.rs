//! Landlords: created on first use from the JWT `sub`; own a callback token and a short code.

use rand::RngCore;
use sqlx::PgConnection;
use subtle::ConstantTimeEq;

/// Length of the token's public lookup prefix.
const TOKEN_ID_LEN: usize = 16;

/// 32 random bytes in hex. Hex cannot spell the words Safaricom refuses in callback URLs
/// ("exe", "cmd", "sql", "query", "mpesa", …).
pub fn new_callback_token() -> String {
    let mut b = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut b);
    hex::encode(b)
}

#[derive(Debug, sqlx::FromRow)]
pub struct LandlordRow {
    pub id: String,
    pub callback_token: String,
    pub shortcode: Option<String>,
}

pub async fn ensure(conn: &mut PgConnection, id: &str) -> Result<(), sqlx::Error> {
    let token = new_callback_token();
    sqlx::query(
        "INSERT INTO landlords (id, callback_token_id, callback_token) VALUES ($1, $2, $3)
         ON CONFLICT (id) DO NOTHING",
    )
    .bind(id)
    .bind(&token[..TOKEN_ID_LEN])
    .bind(&token)
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn get(conn: &mut PgConnection, id: &str) -> Result<Option<LandlordRow>, sqlx::Error> {
    sqlx::query_as("SELECT id, callback_token, shortcode FROM landlords WHERE id = $1")
        .bind(id)
        .fetch_optional(conn)
        .await
}

pub async fn rotate_token(conn: &mut PgConnection, id: &str) -> Result<String, sqlx::Error> {
    let token = new_callback_token();
    sqlx::query("UPDATE landlords SET callback_token_id = $2, callback_token = $3 WHERE id = $1")
        .bind(id)
        .bind(&token[..TOKEN_ID_LEN])
        .bind(&token)
        .execute(conn)
        .await?;
    Ok(token)
}

pub async fn set_shortcode(
    conn: &mut PgConnection,
    id: &str,
    shortcode: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE landlords SET shortcode = $2 WHERE id = $1")
        .bind(id)
        .bind(shortcode)
        .execute(conn)
        .await?;
    Ok(())
}

/// The lookup prefix of a well-formed callback token (64 hex digits), else `None`.
pub fn token_id(token: &str) -> Option<&str> {
    (token.len() == 64 && token.bytes().all(|b| b.is_ascii_hexdigit()))
        .then(|| &token[..TOKEN_ID_LEN])
}

/// The landlord owning a callback token. The prefix finds the row; the whole token is then
/// compared in constant time, so response timing says nothing about how much matched.
pub async fn by_callback_token(
    conn: &mut PgConnection,
    token: &str,
) -> Result<Option<String>, sqlx::Error> {
    let Some(id) = token_id(token) else {
        return Ok(None);
    };
    let row: Option<(String, String)> =
        sqlx::query_as("SELECT id, callback_token FROM landlords WHERE callback_token_id = $1")
            .bind(id)
            .fetch_optional(conn)
            .await?;
    Ok(row.and_then(|(id, stored)| {
        bool::from(stored.as_bytes().ct_eq(token.as_bytes())).then_some(id)
    }))
}
