//! Idempotent requests: a request is known by a hash of its parsed content, so the same
//! key with the same request replays the first answer, and with another request is refused.

use sha2::{Digest, Sha256};

/// The hash of a request's canonical JSON (parsed values, so whitespace and key order of
/// the original body do not matter).
pub fn request_hash(canonical: &serde_json::Value) -> String {
    hex::encode(Sha256::digest(canonical.to_string().as_bytes()))
}

/// What a key already used means for a new request.
#[derive(Debug, PartialEq, Eq)]
pub enum Reuse {
    /// Same request: answer what was answered then.
    Replay,
    /// Another request under the same key: refuse.
    Mismatch,
}

pub fn reuse(stored_hash: &str, hash: &str) -> Reuse {
    if stored_hash == hash {
        Reuse::Replay
    } else {
        Reuse::Mismatch
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn same_content_same_hash() {
        let a = request_hash(&json!({"a": 1, "b": "x"}));
        let b = request_hash(&json!({"a": 1, "b": "x"}));
        assert_eq!(reuse(&a, &b), Reuse::Replay);
        assert_eq!(reuse(&a, &request_hash(&json!({"a": 2}))), Reuse::Mismatch);
    }
}
