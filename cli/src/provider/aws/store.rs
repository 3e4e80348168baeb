//! The operations lock and journal of an AWS environment, in S3 (`crate::aws::store`), so
//! two operators on two machines share them.
//!
//! The lock is a lease: its note names the holder (`user@host`, pid, operation) and is
//! renewed by a heartbeat every third of the lease. A note is stale — its holder died —
//! when it was written on this machine by a process that no longer exists, or when it has
//! not been renewed for a whole lease (from any machine). A stale note is broken with a
//! conditional delete (only that very note), reported, and the unfinished operation it
//! left in the journal blocks new operations until `--resume` finishes it.

use super::{build_clients, Clients};
use crate::aws::store::{LockLease, LockNote, SharedStore};
use crate::aws::AwsError;
use crate::config::AwsEnv;
use crate::journal::{self, Entry, JournalError, JournalRead, OpLock, StateStore};
use crate::lock::{Holder, LockError};
use async_trait::async_trait;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::OnceCell;

pub(super) struct AwsStore {
    location: String,
    clients: Arc<OnceCell<Clients>>,
    config: AwsEnv,
    ttl: Duration,
}

impl AwsStore {
    pub(super) fn new(
        location: String,
        clients: Arc<OnceCell<Clients>>,
        config: AwsEnv,
        ttl: Duration,
    ) -> AwsStore {
        AwsStore {
            location,
            clients,
            config,
            ttl,
        }
    }

    async fn shared(&self) -> &SharedStore {
        &build_clients(&self.clients, &self.config).await.store
    }

    fn remote(&self, e: AwsError) -> LockError {
        LockError::Remote {
            location: format!("{}/lock.json", self.location),
            source: Box::new(e),
        }
    }

    fn journal_error(&self, what: &str, e: AwsError) -> JournalError {
        JournalError::Remote {
            path: format!("{}/journal.jsonl", self.location),
            what: what.to_string(),
            source: Some(Box::new(e)),
        }
    }
}

/// `user@host` of this pmctl.
fn me() -> String {
    let user = std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .unwrap_or_else(|_| "unknown".into());
    let host = nix::unistd::gethostname()
        .ok()
        .and_then(|h| h.into_string().ok())
        .unwrap_or_else(|| "unknown-host".into());
    format!("{user}@{host}")
}

fn alive(pid: u32) -> bool {
    // EPERM means it exists (another user's process).
    !matches!(
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid as i32), None),
        Err(nix::errno::Errno::ESRCH)
    )
}

/// Why a note's holder is known to be gone, if it is.
fn stale_because(note: &LockNote, ttl: Duration) -> Option<String> {
    if note.holder == me() && note.pid != std::process::id() && !alive(note.pid) {
        return Some(format!("its process {} on this machine is gone", note.pid));
    }
    let age = chrono::Utc::now() - note.last_seen();
    let ttl_c = chrono::Duration::from_std(ttl).unwrap_or(chrono::Duration::MAX);
    (age > ttl_c).then(|| {
        format!(
            "it has not been renewed for {}s (lease {}s)",
            age.num_seconds(),
            ttl.as_secs()
        )
    })
}

pub(super) struct AwsLock {
    lease: Arc<Mutex<Option<LockLease>>>,
    heartbeat: Option<tokio::task::JoinHandle<()>>,
    store: SharedStore,
    stale: Option<Holder>,
}

impl OpLock for AwsLock {
    fn stale(&self) -> Option<&Holder> {
        self.stale.as_ref()
    }
}

impl Drop for AwsLock {
    fn drop(&mut self) {
        if let Some(h) = self.heartbeat.take() {
            h.abort();
        }
        let Some(lease) = self.lease.lock().ok().and_then(|mut l| l.take()) else {
            return;
        };
        let store = self.store.clone();
        let release = async move {
            let mine = lease.note.clone();
            if store.release(lease).await.is_ok() {
                return;
            }
            // A renewal may have landed after the heartbeat was stopped: remove the note
            // if it is still ours, whatever its ETag.
            match store.lock_holder().await {
                Ok(Some((note, etag))) if note.holder == mine.holder && note.pid == mine.pid => {
                    if let Err(e) = store.break_lock(&etag).await {
                        tracing::warn!("releasing the shared operations lock: {e}");
                    }
                }
                Ok(_) => {}
                Err(e) => tracing::warn!("releasing the shared operations lock: {e}"),
            }
        };
        // Drop cannot await: block this worker (multi-threaded runtime, as the binary
        // runs) or, on another runtime, hand the release to it.
        match tokio::runtime::Handle::try_current() {
            Ok(h) if h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
                tokio::task::block_in_place(|| h.block_on(release))
            }
            Ok(h) => {
                h.spawn(release);
            }
            Err(_) => {
                if let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    rt.block_on(release);
                }
            }
        }
    }
}

#[async_trait]
impl StateStore for AwsStore {
    fn location(&self) -> String {
        self.location.clone()
    }

    async fn lock(&self, operation: &str) -> Result<Box<dyn OpLock>, LockError> {
        let store = self.shared().await.clone();
        let mut stale = None;
        for _ in 0..3 {
            let note = LockNote {
                holder: me(),
                pid: std::process::id(),
                operation: operation.to_string(),
                since: chrono::Utc::now(),
                renewed: None,
            };
            match store.acquire(note).await {
                Ok(lease) => {
                    let lease = Arc::new(Mutex::new(Some(lease)));
                    let heartbeat = tokio::spawn(heartbeat(store.clone(), lease.clone(), self.ttl));
                    return Ok(Box::new(AwsLock {
                        lease,
                        heartbeat: Some(heartbeat),
                        store,
                        stale,
                    }));
                }
                Err(AwsError::LockHeld { .. }) => {
                    let Some((held, etag)) =
                        store.lock_holder().await.map_err(|e| self.remote(e))?
                    else {
                        continue; // released meanwhile
                    };
                    match stale_because(&held, self.ttl) {
                        Some(why) => {
                            tracing::warn!("breaking the stale operations lock: {why}");
                            store.break_lock(&etag).await.map_err(|e| self.remote(e))?;
                            stale = Some(Holder {
                                pid: held.pid,
                                operation: format!("{} on {}", held.operation, held.holder),
                                since: held.since,
                            });
                        }
                        None => {
                            return Err(LockError::HeldRemote {
                                location: format!("{}/lock.json", self.location),
                                holder: held.to_string(),
                                ttl_secs: self.ttl.as_secs(),
                            })
                        }
                    }
                }
                Err(e) => return Err(self.remote(e)),
            }
        }
        Err(self.remote(AwsError::Missing {
            operation: "PutObject",
            resource: format!("{}/lock.json", self.location),
            detail: "the lock kept changing hands; try again".into(),
        }))
    }

    async fn append(&self, e: &Entry) -> Result<(), JournalError> {
        let line = serde_json::to_string(e).expect("journal entries serialise");
        self.shared()
            .await
            .append_journal(&line)
            .await
            .map_err(|err| self.journal_error("appending an entry", err))
    }

    async fn read(&self) -> Result<JournalRead, JournalError> {
        let lines = self
            .shared()
            .await
            .read_journal()
            .await
            .map_err(|err| self.journal_error("reading it", err))?;
        let mut text = lines.join("\n");
        if !text.is_empty() {
            text.push('\n');
        }
        journal::parse(&format!("{}/journal.jsonl", self.location), &text)
    }
}

/// Renews the lease every third of its length until aborted (the lock is dropped).
async fn heartbeat(store: SharedStore, lease: Arc<Mutex<Option<LockLease>>>, ttl: Duration) {
    loop {
        tokio::time::sleep(ttl / 3).await;
        let Some(current) = lease.lock().ok().and_then(|l| l.clone()) else {
            return;
        };
        let mut note = current.note.clone();
        note.renewed = Some(chrono::Utc::now());
        match store.renew(&current, note).await {
            Ok(next) => {
                if let Ok(mut l) = lease.lock() {
                    if l.is_some() {
                        *l = Some(next);
                    }
                }
            }
            Err(e) => tracing::warn!("renewing the shared operations lock: {e}"),
        }
    }
}
