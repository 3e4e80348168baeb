//! The operation journal and the operations lock of an environment ([`StateStore`]).
//!
//! The journal is append-only JSON lines, fsync'd after every entry, so a crash of pmctl at
//! any point leaves a record of exactly which steps of which operation completed; `--resume`
//! continues from it and `pmctl history` lists it. It is read strictly: a torn *last* line
//! (pmctl killed mid-append) is reported and ignored — and moved aside before the next
//! append, so it can never swallow the next record — while any other line that does not
//! parse is an error naming the file and line. Entries hold plans, outcomes and errors,
//! never secrets.
//!
//! The local store keeps both in the state directory; an AWS environment keeps them in AWS
//! so two operators share them.

use crate::lock::{Holder, LockError, StateLock};
use crate::ops::plan::Plan;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    #[error("journal {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("journal {path}, line {line}: {reason} — the journal is damaged; nothing was changed. Inspect the line (keep a copy of the file), repair or remove it, then run the command again")]
    Corrupt {
        path: String,
        line: usize,
        reason: String,
    },
    #[error("journal {path}: {what}")]
    Remote {
        path: String,
        what: String,
        #[source]
        source: Option<crate::provider::BoxError>,
    },
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Entry {
    OpStarted {
        op_id: String,
        at: DateTime<Utc>,
        pid: u32,
        plan: Plan,
        plan_hash: String,
        /// Choices the operator made (e.g. `accept_data_loss`, `force`) and the facts they
        /// were made on (e.g. the lag at that moment).
        choices: serde_json::Value,
    },
    StepStarted {
        op_id: String,
        step: usize,
        at: DateTime<Utc>,
    },
    StepDone {
        op_id: String,
        step: usize,
        at: DateTime<Utc>,
        ms: u64,
        outcome: serde_json::Value,
    },
    StepFailed {
        op_id: String,
        step: usize,
        at: DateTime<Utc>,
        error: String,
        #[serde(default)]
        retryable: bool,
    },
    OpFinished {
        op_id: String,
        at: DateTime<Utc>,
        ok: bool,
        summary: String,
    },
}

impl Entry {
    pub fn op_id(&self) -> &str {
        match self {
            Entry::OpStarted { op_id, .. }
            | Entry::StepStarted { op_id, .. }
            | Entry::StepDone { op_id, .. }
            | Entry::StepFailed { op_id, .. }
            | Entry::OpFinished { op_id, .. } => op_id,
        }
    }
}

/// What reading a journal found: the entries, and warnings to show (a torn last line).
#[derive(Debug, Clone, Default)]
pub struct JournalRead {
    pub entries: Vec<Entry>,
    pub warnings: Vec<String>,
}

/// A held operations lock; released on drop.
pub trait OpLock: Send {
    /// A note left by a holder that died without releasing (crash).
    fn stale(&self) -> Option<&Holder>;
}

/// Where an environment keeps its operations lock and journal.
#[async_trait]
pub trait StateStore: Send + Sync {
    /// Where, for messages (`/path/journal.jsonl`, `s3://bucket/key`).
    fn location(&self) -> String;
    /// The exclusive operations lock; a second holder is refused, naming the first.
    async fn lock(&self, operation: &str) -> Result<Box<dyn OpLock>, LockError>;
    /// Appends one entry durably before returning.
    async fn append(&self, e: &Entry) -> Result<(), JournalError>;
    async fn read(&self) -> Result<JournalRead, JournalError>;
}

/// Parses journal text strictly (see the module docs).
pub fn parse(location: &str, text: &str) -> Result<JournalRead, JournalError> {
    let mut out = JournalRead::default();
    let complete = text.ends_with('\n');
    let lines: Vec<&str> = text.split_terminator('\n').collect();
    let n = lines.len();
    for (i, l) in lines.iter().enumerate() {
        match serde_json::from_str::<Entry>(l) {
            Ok(e) => out.entries.push(e),
            Err(e) if i + 1 == n && !complete => out.warnings.push(format!(
                "journal {location}: its last line ({} bytes) is torn — pmctl was killed while writing it; ignored ({e})",
                l.len()
            )),
            Err(e) => {
                return Err(JournalError::Corrupt {
                    path: location.to_string(),
                    line: i + 1,
                    reason: if l.trim().is_empty() {
                        "empty line".into()
                    } else {
                        format!("not a journal entry ({e})")
                    },
                })
            }
        }
    }
    Ok(out)
}

/// The local store: `journal.jsonl` and `pmctl.lock` in the state directory.
pub struct FileStore {
    dir: PathBuf,
}

pub fn path(dir: &Path) -> PathBuf {
    dir.join("journal.jsonl")
}

impl FileStore {
    pub fn new(dir: &Path) -> FileStore {
        FileStore {
            dir: dir.to_path_buf(),
        }
    }

    fn io(&self) -> impl Fn(std::io::Error) -> JournalError + '_ {
        move |source| JournalError::Io {
            path: path(&self.dir).display().to_string(),
            source,
        }
    }

    /// Before appending: a torn last line is completed (when it is a whole entry that only
    /// lacks its newline) or moved to `journal.torn-<time>` and cut off, so the next record
    /// starts on a line of its own.
    fn repair_tail(&self, f: &mut std::fs::File) -> Result<Option<String>, JournalError> {
        let len = f.metadata().map_err(self.io())?.len();
        if len == 0 {
            return Ok(None);
        }
        let mut last = [0u8; 1];
        f.seek(SeekFrom::End(-1)).map_err(self.io())?;
        f.read_exact(&mut last).map_err(self.io())?;
        if last[0] == b'\n' {
            return Ok(None);
        }
        let mut text = Vec::new();
        f.seek(SeekFrom::Start(0)).map_err(self.io())?;
        f.read_to_end(&mut text).map_err(self.io())?;
        let start = text
            .iter()
            .rposition(|b| *b == b'\n')
            .map(|i| i + 1)
            .unwrap_or(0);
        let fragment = &text[start..];
        if serde_json::from_slice::<Entry>(fragment).is_ok() {
            f.seek(SeekFrom::End(0)).map_err(self.io())?;
            f.write_all(b"\n").map_err(self.io())?;
            f.sync_data().map_err(self.io())?;
            return Ok(None);
        }
        let aside = self.dir.join(format!(
            "journal.torn-{}",
            Utc::now().format("%Y%m%dT%H%M%S%.3f")
        ));
        std::fs::write(&aside, fragment).map_err(self.io())?;
        f.set_len(start as u64).map_err(self.io())?;
        f.sync_data().map_err(self.io())?;
        Ok(Some(format!(
            "journal {}: a torn last line ({} bytes) was moved to {}",
            path(&self.dir).display(),
            fragment.len(),
            aside.display()
        )))
    }

    pub fn read_sync(&self) -> Result<JournalRead, JournalError> {
        let p = path(&self.dir);
        let text = match std::fs::read(&p) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(JournalRead::default()),
            Err(e) => return Err(self.io()(e)),
        };
        let text = String::from_utf8_lossy(&text);
        parse(&p.display().to_string(), &text)
    }

    pub fn append_sync(&self, e: &Entry) -> Result<Option<String>, JournalError> {
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .read(true)
            .append(true)
            .open(path(&self.dir))
            .map_err(self.io())?;
        let note = self.repair_tail(&mut f)?;
        let mut line = serde_json::to_string(e).expect("journal entry serialises");
        line.push('\n');
        f.write_all(line.as_bytes())
            .and_then(|_| f.sync_data())
            .map_err(self.io())?;
        Ok(note)
    }
}

struct FileLock(StateLock);

impl OpLock for FileLock {
    fn stale(&self) -> Option<&Holder> {
        self.0.stale.as_ref()
    }
}

#[async_trait]
impl StateStore for FileStore {
    fn location(&self) -> String {
        path(&self.dir).display().to_string()
    }
    async fn lock(&self, operation: &str) -> Result<Box<dyn OpLock>, LockError> {
        Ok(Box::new(FileLock(StateLock::acquire(
            &self.dir, operation,
        )?)))
    }
    async fn append(&self, e: &Entry) -> Result<(), JournalError> {
        if let Some(note) = self.append_sync(e)? {
            tracing::warn!("{note}");
        }
        Ok(())
    }
    async fn read(&self) -> Result<JournalRead, JournalError> {
        self.read_sync()
    }
}

/// One operation as reconstructed from the journal.
#[derive(Debug, Clone, Serialize)]
pub struct OpRecord {
    pub op_id: String,
    pub started_at: DateTime<Utc>,
    pub pid: u32,
    pub plan: Plan,
    pub plan_hash: String,
    pub choices: serde_json::Value,
    /// Completed steps (1-based) and their outcomes.
    pub done: BTreeMap<usize, serde_json::Value>,
    pub failed: Option<(usize, String)>,
    pub finished: Option<(DateTime<Utc>, bool, String)>,
}

impl OpRecord {
    pub fn state(&self) -> &'static str {
        match &self.finished {
            Some((_, true, _)) => "ok",
            Some((_, false, _)) => "failed",
            None if self.failed.is_some() => "failed (resumable)",
            None => "interrupted",
        }
    }
    pub fn is_open(&self) -> bool {
        self.finished.is_none()
    }
    /// Whether the steps done so far leave writes blocked at the entry point.
    pub fn writes_blocked(&self) -> bool {
        let mut blocked = false;
        for (i, s) in self.plan.steps.iter().enumerate() {
            if self.done.contains_key(&(i + 1)) {
                match s {
                    crate::provider::Step::BlockWrites => blocked = true,
                    crate::provider::Step::UnblockWrites => blocked = false,
                    _ => {}
                }
            }
        }
        blocked
    }
}

/// The operations in journal order. An entry for an operation the journal never started is
/// an error: it means a record was lost.
pub fn operations(location: &str, entries: &[Entry]) -> Result<Vec<OpRecord>, JournalError> {
    let mut ops: Vec<OpRecord> = Vec::new();
    for (i, e) in entries.iter().enumerate() {
        match e.clone() {
            Entry::OpStarted {
                op_id,
                at,
                pid,
                plan,
                plan_hash,
                choices,
            } => ops.push(OpRecord {
                op_id,
                started_at: at,
                pid,
                plan,
                plan_hash,
                choices,
                done: BTreeMap::new(),
                failed: None,
                finished: None,
            }),
            other => {
                let Some(op) = ops.iter_mut().rev().find(|o| o.op_id == other.op_id()) else {
                    return Err(JournalError::Corrupt {
                        path: location.to_string(),
                        line: i + 1,
                        reason: format!(
                            "entry for operation {} whose start is not in the journal",
                            other.op_id()
                        ),
                    });
                };
                match other {
                    Entry::StepDone { step, outcome, .. } => {
                        op.done.insert(step, outcome);
                        if op.failed.as_ref().is_some_and(|f| f.0 == step) {
                            op.failed = None;
                        }
                    }
                    Entry::StepFailed { step, error, .. } => op.failed = Some((step, error)),
                    Entry::OpFinished {
                        at, ok, summary, ..
                    } => op.finished = Some((at, ok, summary)),
                    _ => {}
                }
            }
        }
    }
    Ok(ops)
}

/// Reads a store and reconstructs its operations; warnings (a torn last line) included.
pub async fn load(store: &dyn StateStore) -> Result<(Vec<OpRecord>, Vec<String>), JournalError> {
    let r = store.read().await?;
    let ops = operations(&store.location(), &r.entries)?;
    Ok((ops, r.warnings))
}

/// The operation that started but never finished, if any (at most one: the lock ensures it).
pub fn open_operation(ops: &[OpRecord]) -> Option<&OpRecord> {
    ops.iter().rev().find(|o| o.is_open())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::plan::OpKind;

    fn plan() -> Plan {
        Plan {
            operation: OpKind::Switchover,
            provider: "fake".into(),
            environment: "t".into(),
            from: "east".into(),
            to: "west".into(),
            epoch: (1, 2),
            facts: vec![],
            steps: vec![crate::provider::Step::BlockWrites],
        }
    }

    fn started(id: &str) -> Entry {
        Entry::OpStarted {
            op_id: id.into(),
            at: Utc::now(),
            pid: 1,
            plan: plan(),
            plan_hash: plan().hash(),
            choices: serde_json::json!({}),
        }
    }

    fn finished(id: &str) -> Entry {
        Entry::OpFinished {
            op_id: id.into(),
            at: Utc::now(),
            ok: true,
            summary: "done".into(),
        }
    }

    #[test]
    fn a_torn_last_line_is_a_warning_and_the_next_append_starts_clean() {
        let dir = tempfile::tempdir().unwrap();
        let s = FileStore::new(dir.path());
        s.append_sync(&started("a")).unwrap();
        let full = serde_json::to_string(&finished("a")).unwrap();
        // pmctl killed in the middle of writing op_finished.
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(path(dir.path()))
            .unwrap();
        f.write_all(&full.as_bytes()[..full.len() / 2]).unwrap();
        drop(f);
        let r = s.read_sync().unwrap();
        assert_eq!(r.entries.len(), 1);
        assert_eq!(r.warnings.len(), 1, "{:?}", r.warnings);
        assert!(r.warnings[0].contains("torn"), "{:?}", r.warnings);
        let ops = operations("j", &r.entries).unwrap();
        assert!(open_operation(&ops).is_some(), "the op is open again");

        // --resume appends op_finished: it must be a record of its own.
        let note = s.append_sync(&finished("a")).unwrap();
        assert!(note.unwrap().contains("moved to"));
        let r = s.read_sync().unwrap();
        assert!(r.warnings.is_empty(), "{:?}", r.warnings);
        assert_eq!(r.entries.len(), 2);
        let ops = operations("j", &r.entries).unwrap();
        assert!(open_operation(&ops).is_none());
        let aside: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().starts_with("journal.torn-"))
            .collect();
        assert_eq!(aside.len(), 1, "the fragment is kept for inspection");
    }

    #[test]
    fn a_whole_last_entry_without_its_newline_is_kept() {
        let dir = tempfile::tempdir().unwrap();
        let s = FileStore::new(dir.path());
        s.append_sync(&started("a")).unwrap();
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(path(dir.path()))
            .unwrap();
        f.write_all(serde_json::to_string(&finished("a")).unwrap().as_bytes())
            .unwrap();
        drop(f);
        assert_eq!(s.read_sync().unwrap().entries.len(), 2);
        s.append_sync(&started("b")).unwrap();
        let r = s.read_sync().unwrap();
        assert_eq!(r.entries.len(), 3);
        assert!(r.warnings.is_empty());
    }

    #[test]
    fn a_bad_line_in_the_middle_is_an_error_naming_the_line() {
        let dir = tempfile::tempdir().unwrap();
        let s = FileStore::new(dir.path());
        s.append_sync(&started("a")).unwrap();
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(path(dir.path()))
            .unwrap();
        f.write_all(b"{\"event\":\"garbage\n").unwrap();
        drop(f);
        s.append_sync(&finished("a")).unwrap();
        let e = s.read_sync().unwrap_err().to_string();
        assert!(e.contains("line 2") && e.contains("journal.jsonl"), "{e}");
    }

    #[test]
    fn an_entry_of_an_unknown_operation_is_an_error() {
        let e = operations("j", &[finished("ghost")])
            .unwrap_err()
            .to_string();
        assert!(e.contains("line 1") && e.contains("ghost"), "{e}");
    }
}
