//! An exclusive lock on a state directory so two pmctl invocations cannot operate on one
//! stack at once. The lock is an OS file lock (released by the kernel when its holder
//! dies), plus a note of who holds it; a note left by a dead process is reported, not
//! silently ignored.

use serde::{Deserialize, Serialize};
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Holder {
    pub pid: u32,
    pub operation: String,
    pub since: chrono::DateTime<chrono::Utc>,
}

#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error("another pmctl (pid {}) is running `{}` on this stack since {}; wait for it to finish", .0.pid, .0.operation, .0.since.format("%H:%M:%S"))]
    Held(Holder),
    #[error("another pmctl holds the operations lock {0} (it has not said who yet); wait for it to finish")]
    HeldUnnamed(PathBuf),
    #[error("lock file {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// A shared (remote) lock is held by another operator's pmctl.
    #[error("the operations lock {location} is held by {holder}; wait for it to finish (a pmctl that died is recognised from its own machine at once, from any other when its lease of {ttl_secs}s has run out)")]
    HeldRemote {
        location: String,
        holder: String,
        ttl_secs: u64,
    },
    /// A shared (remote) lock could not be read or written.
    #[error("the operations lock {location}: {source}")]
    Remote {
        location: String,
        #[source]
        source: crate::provider::BoxError,
    },
}

/// Who holds the operations lock right now, read from its note without taking the lock
/// (a note left by a dead process does not count). Used by observers that must keep their
/// hands off while someone operates.
pub fn holder(dir: &Path) -> Option<Holder> {
    let text = std::fs::read_to_string(dir.join("pmctl.lock")).ok()?;
    let h: Holder = serde_json::from_str(text.trim()).ok()?;
    let alive = nix::sys::signal::kill(nix::unistd::Pid::from_raw(h.pid as i32), None).is_ok();
    (alive && h.pid != std::process::id()).then_some(h)
}

fn read_note(file: &mut File) -> Option<Holder> {
    let mut note = String::new();
    file.rewind().ok()?;
    file.read_to_string(&mut note).ok()?;
    serde_json::from_str(note.trim()).ok()
}

impl Holder {
    /// The warning to show when a dead pmctl left this note behind.
    pub fn stale_warning(&self) -> String {
        format!(
            "a previous pmctl (pid {}, `{}` since {}) died while holding the lock; check `pmctl history` and `pmctl status`",
            self.pid,
            self.operation,
            self.since.format("%Y-%m-%d %H:%M:%S UTC")
        )
    }
}

pub struct StateLock {
    file: File,
    path: PathBuf,
    /// A note left by a holder that died without releasing (crash): the caller decides
    /// whether that matters (an interrupted operation to resume).
    pub stale: Option<Holder>,
}

impl StateLock {
    pub fn acquire(dir: &Path, operation: &str) -> Result<StateLock, LockError> {
        StateLock::acquire_file(dir, "pmctl.lock", operation)
    }

    /// The same kind of lock in another file of the state directory (the autopilot holds
    /// its own, so only one runs per environment).
    pub fn acquire_file(dir: &Path, file: &str, operation: &str) -> Result<StateLock, LockError> {
        let path = dir.join(file);
        let e = |source| LockError::Io {
            path: path.clone(),
            source,
        };
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(e)?;
        let previous = read_note(&mut file);
        match file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                // The holder may be between taking the lock and writing its note: give it
                // a moment rather than naming nobody.
                let mut holder = previous;
                for _ in 0..50 {
                    if holder.is_some() {
                        break;
                    }
                    std::thread::sleep(std::time::Duration::from_millis(10));
                    holder = read_note(&mut file);
                }
                return Err(match holder {
                    Some(h) => LockError::Held(h),
                    None => LockError::HeldUnnamed(path.clone()),
                });
            }
            Err(std::fs::TryLockError::Error(err)) => return Err(e(err)),
        }
        let stale = previous.filter(|h| h.pid != std::process::id());
        let me = Holder {
            pid: std::process::id(),
            operation: operation.to_string(),
            since: chrono::Utc::now(),
        };
        // Overwrite in place, then cut: a concurrent reader never sees an empty note.
        let note = serde_json::to_string(&me).expect("json");
        file.rewind().map_err(e)?;
        file.write_all(note.as_bytes()).map_err(e)?;
        file.set_len(note.len() as u64).map_err(e)?;
        file.sync_all().map_err(e)?;
        Ok(StateLock { file, path, stale })
    }
}

impl Drop for StateLock {
    fn drop(&mut self) {
        // Clear the note first: an empty note means "released cleanly".
        let _ = self.file.set_len(0);
        let _ = self.file.sync_all();
        let _ = self.file.unlock();
        let _ = &self.path;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_holder_is_refused_with_the_first_named() {
        let dir = tempfile::tempdir().unwrap();
        let a = StateLock::acquire(dir.path(), "failover").unwrap();
        // flock locks are per open file description: a second open in this process conflicts.
        match StateLock::acquire(dir.path(), "switchover") {
            Err(LockError::Held(h)) => {
                assert_eq!(h.operation, "failover");
                assert_eq!(h.pid, std::process::id());
            }
            Err(other) => panic!("expected Held, got {other}"),
            Ok(_) => panic!("expected Held, got the lock"),
        }
        drop(a);
        let b = StateLock::acquire(dir.path(), "switchover").unwrap();
        assert!(b.stale.is_none(), "a clean release leaves no stale note");
    }

    #[test]
    fn a_note_left_by_a_dead_holder_is_reported_as_stale() {
        let dir = tempfile::tempdir().unwrap();
        // What a SIGKILLed pmctl leaves: its note, and (the kernel having released it) no lock.
        let note = Holder {
            pid: 999_999,
            operation: "failover".into(),
            since: chrono::Utc::now(),
        };
        std::fs::write(
            dir.path().join("pmctl.lock"),
            serde_json::to_string(&note).unwrap(),
        )
        .unwrap();
        let l = StateLock::acquire(dir.path(), "status").unwrap();
        let stale = l.stale.as_ref().expect("stale note reported");
        assert_eq!((stale.pid, stale.operation.as_str()), (999_999, "failover"));
    }
}
