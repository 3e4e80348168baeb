//! The operations lock and journal two operators share, in one S3 bucket.
//!
//! Why S3: its conditional writes do what a lock needs — `PutObject If-None-Match: *`
//! creates the lock object only when none exists, `If-Match: <ETag>` rewrites or
//! deletes it only when nobody changed it since it was read — and moto implements both
//! faithfully (measured: scripts/moto/README.md). The journal is one JSON-lines object
//! appended to with the same compare-and-swap, so `--resume` works from any machine.
//!
//! Layout under `prefix`: `lock.json` (the holder's note), `journal.jsonl`.

use aws_sdk_s3::primitives::ByteStream;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::error::{AwsError, ErrorKind};

/// Who holds the lock. Never holds secrets: it is readable by everyone with access.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LockNote {
    /// Operator and machine, e.g. `alice@laptop`.
    pub holder: String,
    pub pid: u32,
    /// The command, e.g. `switchover --to us-east-2`.
    pub operation: String,
    pub since: DateTime<Utc>,
    /// Last renewal by the holder (its heartbeat); a note not renewed for the lease's
    /// length belongs to a pmctl that died. Notes without it count from `since`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub renewed: Option<DateTime<Utc>>,
}

impl LockNote {
    /// When the holder last showed it was alive.
    pub fn last_seen(&self) -> DateTime<Utc> {
        self.renewed.unwrap_or(self.since).max(self.since)
    }
}

impl std::fmt::Display for LockNote {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} (pid {}) running `{}` since {}",
            self.holder,
            self.pid,
            self.operation,
            self.since.format("%Y-%m-%d %H:%M:%S UTC")
        )
    }
}

/// Proof of holding the lock: the ETag of the lock object we wrote.
#[derive(Debug, Clone, PartialEq)]
pub struct LockLease {
    pub note: LockNote,
    pub etag: String,
}

/// Journal compare-and-swap attempts before giving up (another writer kept winning).
const APPEND_ATTEMPTS: usize = 8;

#[derive(Debug, Clone)]
pub struct SharedStore {
    client: aws_sdk_s3::Client,
    bucket: String,
    prefix: String,
}

fn is_conflict(e: &AwsError) -> bool {
    // 412 PreconditionFailed: the condition did not hold; 409 ConditionalRequestConflict:
    // a concurrent conditional write won.
    matches!(
        e,
        AwsError::Service {
            status: 409 | 412,
            ..
        }
    )
}

impl SharedStore {
    /// `config` is the config of the bucket's region. Path-style addressing is used when
    /// an endpoint override is set (emulators cannot serve `bucket.host` names).
    pub fn new(
        config: &aws_config::SdkConfig,
        bucket: impl Into<String>,
        prefix: impl Into<String>,
    ) -> SharedStore {
        let s3_config = aws_sdk_s3::config::Builder::from(config)
            .force_path_style(config.endpoint_url().is_some())
            .build();
        let prefix = prefix.into().trim_matches('/').to_string();
        SharedStore {
            client: aws_sdk_s3::Client::from_conf(s3_config),
            bucket: bucket.into(),
            prefix,
        }
    }

    fn key(&self, name: &str) -> String {
        if self.prefix.is_empty() {
            name.to_string()
        } else {
            format!("{}/{name}", self.prefix)
        }
    }

    fn resource(&self, name: &str) -> String {
        format!("s3://{}/{}", self.bucket, self.key(name))
    }

    async fn get(&self, name: &str) -> Result<Option<(Vec<u8>, String)>, AwsError> {
        const OP: &str = "GetObject";
        let out = match self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(self.key(name))
            .send()
            .await
        {
            Ok(out) => out,
            Err(e) => {
                let e = AwsError::from_sdk(OP, self.resource(name), e);
                return if e.kind() == ErrorKind::NotFound && e.code() == Some("NoSuchKey") {
                    Ok(None)
                } else {
                    Err(e)
                };
            }
        };
        let etag = out.e_tag().unwrap_or_default().to_string();
        let body = out
            .body
            .collect()
            .await
            .map_err(|e| AwsError::BadResponse {
                operation: OP,
                resource: self.resource(name),
                status: 200,
                detail: e.to_string(),
            })?;
        Ok(Some((body.into_bytes().to_vec(), etag)))
    }

    /// Writes `name` only if it does not exist (`None`) or still has ETag `expected`.
    async fn put_if(
        &self,
        name: &str,
        body: Vec<u8>,
        expected: Option<&str>,
        content_type: &str,
    ) -> Result<String, AwsError> {
        const OP: &str = "PutObject";
        let mut call = self
            .client
            .put_object()
            .bucket(&self.bucket)
            .key(self.key(name))
            .content_type(content_type)
            .body(ByteStream::from(body));
        call = match expected {
            None => call.if_none_match("*"),
            Some(etag) => call.if_match(etag),
        };
        let out = call
            .send()
            .await
            .map_err(|e| AwsError::from_sdk(OP, self.resource(name), e))?;
        Ok(out.e_tag().unwrap_or_default().to_string())
    }

    /// The current lock note and its ETag, if anyone holds the lock.
    pub async fn lock_holder(&self) -> Result<Option<(LockNote, String)>, AwsError> {
        let Some((body, etag)) = self.get("lock.json").await? else {
            return Ok(None);
        };
        let note = serde_json::from_slice(&body).map_err(|e| AwsError::BadResponse {
            operation: "GetObject",
            resource: self.resource("lock.json"),
            status: 200,
            detail: format!("the lock note is not pmctl's: {e}"),
        })?;
        Ok(Some((note, etag)))
    }

    /// Takes the lock, or fails with [`AwsError::LockHeld`] naming the holder.
    pub async fn acquire(&self, note: LockNote) -> Result<LockLease, AwsError> {
        let body = serde_json::to_vec(&note).expect("serialising a lock note");
        // A holder that releases between our refused write and our read: try again.
        for _ in 0..3 {
            match self
                .put_if("lock.json", body.clone(), None, "application/json")
                .await
            {
                Ok(etag) => return Ok(LockLease { note, etag }),
                Err(e) if is_conflict(&e) => {
                    if let Some((holder, _)) = self.lock_holder().await? {
                        return Err(AwsError::LockHeld {
                            resource: self.resource("lock.json"),
                            holder: Box::new(holder),
                        });
                    }
                }
                Err(e) => return Err(e),
            }
        }
        Err(AwsError::missing(
            "PutObject",
            self.resource("lock.json"),
            "the lock kept changing hands; try again",
        ))
    }

    /// Rewrites our note (e.g. a new step); fails if the lock is no longer ours.
    pub async fn renew(&self, lease: &LockLease, note: LockNote) -> Result<LockLease, AwsError> {
        let body = serde_json::to_vec(&note).expect("serialising a lock note");
        let etag = self
            .put_if("lock.json", body, Some(&lease.etag), "application/json")
            .await?;
        Ok(LockLease { note, etag })
    }

    /// Releases our lock (only if it is still the one we wrote).
    pub async fn release(&self, lease: LockLease) -> Result<(), AwsError> {
        self.delete_if("lock.json", &lease.etag).await
    }

    /// Removes a lock left by a dead holder, only if it is still the note the caller
    /// read (its ETag), so two operators breaking it at once cannot remove a fresh one.
    pub async fn break_lock(&self, etag: &str) -> Result<(), AwsError> {
        self.delete_if("lock.json", etag).await
    }

    async fn delete_if(&self, name: &str, etag: &str) -> Result<(), AwsError> {
        const OP: &str = "DeleteObject";
        match self
            .client
            .delete_object()
            .bucket(&self.bucket)
            .key(self.key(name))
            .if_match(etag)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e) => {
                let e = AwsError::from_sdk(OP, self.resource(name), e);
                // Already gone: released is released.
                if e.code() == Some("NoSuchKey") {
                    Ok(())
                } else {
                    Err(e)
                }
            }
        }
    }

    /// `s3://bucket/prefix/name`, for messages.
    pub fn location(&self, name: &str) -> String {
        self.resource(name)
    }

    /// Reads a small object under the prefix (`None` when there is none).
    pub async fn read_object(&self, name: &str) -> Result<Option<Vec<u8>>, AwsError> {
        Ok(self.get(name).await?.map(|(body, _)| body))
    }

    /// Writes a small object under the prefix, unconditionally.
    pub async fn write_object(&self, name: &str, body: Vec<u8>) -> Result<(), AwsError> {
        const OP: &str = "PutObject";
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(self.key(name))
            .content_type("application/json")
            .body(ByteStream::from(body))
            .send()
            .await
            .map_err(|e| AwsError::from_sdk(OP, self.resource(name), e))?;
        Ok(())
    }

    /// Removes an object under the prefix (already gone is fine).
    pub async fn remove_object(&self, name: &str) -> Result<(), AwsError> {
        const OP: &str = "DeleteObject";
        self.client
            .delete_object()
            .bucket(&self.bucket)
            .key(self.key(name))
            .send()
            .await
            .map_err(|e| AwsError::from_sdk(OP, self.resource(name), e))?;
        Ok(())
    }

    /// Appends one line (no newline inside) to the shared journal.
    pub async fn append_journal(&self, line: &str) -> Result<(), AwsError> {
        if line.contains('\n') {
            return Err(AwsError::invalid(
                "PutObject",
                self.resource("journal.jsonl"),
                "a journal line cannot contain a newline",
            ));
        }
        let mut last = None;
        for _ in 0..APPEND_ATTEMPTS {
            let (mut body, etag) = match self.get("journal.jsonl").await? {
                Some((body, etag)) => (body, Some(etag)),
                None => (Vec::new(), None),
            };
            body.extend_from_slice(line.as_bytes());
            body.push(b'\n');
            match self
                .put_if(
                    "journal.jsonl",
                    body,
                    etag.as_deref(),
                    "application/x-ndjson",
                )
                .await
            {
                Ok(_) => return Ok(()),
                Err(e) if is_conflict(&e) => last = Some(e),
                Err(e) => return Err(e),
            }
        }
        Err(last.expect("at least one attempt"))
    }

    /// Every line of the shared journal, oldest first (empty when there is none).
    pub async fn read_journal(&self) -> Result<Vec<String>, AwsError> {
        let Some((body, _)) = self.get("journal.jsonl").await? else {
            return Ok(Vec::new());
        };
        let text = String::from_utf8(body).map_err(|e| AwsError::BadResponse {
            operation: "GetObject",
            resource: self.resource("journal.jsonl"),
            status: 200,
            detail: format!("the journal is not UTF-8: {e}"),
        })?;
        Ok(text
            .lines()
            .filter(|l| !l.is_empty())
            .map(str::to_string)
            .collect())
    }
}
