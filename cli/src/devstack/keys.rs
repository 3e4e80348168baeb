//! The dev stack's identity provider stand-in: an RSA key pair whose JWKS the local API
//! processes trust, so pmctl (load, drills, `dev token`) can mint landlord tokens shaped
//! like Cognito ID tokens.

use base64::Engine;
use rsa::pkcs1::{DecodeRsaPrivateKey, EncodeRsaPrivateKey};
use rsa::traits::PublicKeyParts;
use serde_json::json;
use std::path::{Path, PathBuf};

pub const DEV_ISSUER: &str = "https://pmctl.local/dev-user-pool";
pub const DEV_CLIENT_ID: &str = "pmctl-dev";
const KID: &str = "pmctl-dev-1";

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("writing dev signing key under {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("dev signing key {path} is unreadable or corrupt")]
    Corrupt { path: PathBuf },
    #[error("generating the dev signing key: {0}")]
    Keygen(String),
}

pub struct DevKeys {
    pub key_file: PathBuf,
    pub jwks_file: PathBuf,
}

impl DevKeys {
    pub fn at(dir: &Path) -> DevKeys {
        DevKeys {
            key_file: dir.join("dev-signing-key.pem"),
            jwks_file: dir.join("jwks.json"),
        }
    }

    /// Creates the key pair and JWKS once; reuses existing files.
    pub fn ensure(&self) -> Result<(), KeyError> {
        if self.key_file.exists() && self.jwks_file.exists() {
            return Ok(());
        }
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |source| KeyError::Io { path, source }
        };
        let key = rsa::RsaPrivateKey::new(&mut rand::thread_rng(), 2048)
            .map_err(|e| KeyError::Keygen(e.to_string()))?;
        let pem = key
            .to_pkcs1_pem(Default::default())
            .map_err(|e| KeyError::Keygen(e.to_string()))?;
        let b64 = |b: Vec<u8>| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b);
        let jwks = json!({"keys": [{
            "kty": "RSA", "alg": "RS256", "use": "sig", "kid": KID,
            "n": b64(key.n().to_bytes_be()), "e": b64(key.e().to_bytes_be()),
        }]});
        if let Some(dir) = self.key_file.parent() {
            std::fs::create_dir_all(dir).map_err(io(dir))?;
        }
        super::stack::write_private(&self.key_file, pem.as_bytes()).map_err(io(&self.key_file))?;
        std::fs::write(&self.jwks_file, jwks.to_string()).map_err(io(&self.jwks_file))?;
        Ok(())
    }

    /// A Cognito-style ID token for landlord `sub`, valid for `ttl_secs`.
    pub fn token(&self, sub: &str, ttl_secs: u64) -> Result<String, KeyError> {
        let corrupt = || KeyError::Corrupt {
            path: self.key_file.clone(),
        };
        let pem = std::fs::read_to_string(&self.key_file).map_err(|_| corrupt())?;
        // Validate the PEM is an RSA key before handing it to the encoder.
        rsa::RsaPrivateKey::from_pkcs1_pem(&pem).map_err(|_| corrupt())?;
        let key = jsonwebtoken::EncodingKey::from_rsa_pem(pem.as_bytes()).map_err(|_| corrupt())?;
        let now = chrono::Utc::now().timestamp() as u64;
        let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
        header.kid = Some(KID.into());
        let claims = json!({
            "sub": sub, "iss": DEV_ISSUER, "aud": DEV_CLIENT_ID, "token_use": "id",
            "iat": now, "exp": now + ttl_secs,
        });
        jsonwebtoken::encode(&header, &claims, &key).map_err(|_| corrupt())
    }
}
