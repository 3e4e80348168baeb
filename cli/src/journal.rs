//! The operation journal: append-only JSONL in the state directory, fsync'd after every
//! entry, so a crash of pmctl at any point leaves a record of exactly which steps of which
//! operation completed. `--resume` continues from it; `pmctl history` lists it. Entries
//! hold plans, outcomes and errors — never secrets (no tokens, passwords or URLs with
//! credentials are put into them).

use crate::ops::plan::Plan;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    #[error("journal {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

#[derive(Debug, Clone, Serialize, Deserialize)]
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

pub struct Journal {
    path: PathBuf,
    file: File,
}

pub fn path(dir: &Path) -> PathBuf {
    dir.join("journal.jsonl")
}

impl Journal {
    pub fn open(dir: &Path) -> Result<Journal, JournalError> {
        let path = path(dir);
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(|source| JournalError::Io {
                path: path.clone(),
                source,
            })?;
        Ok(Journal { path, file })
    }

    /// Appends one entry and fsyncs it before returning.
    pub fn append(&mut self, e: &Entry) -> Result<(), JournalError> {
        let mut line = serde_json::to_string(e).expect("journal entry serialises");
        line.push('\n');
        self.file
            .write_all(line.as_bytes())
            .and_then(|_| self.file.sync_data())
            .map_err(|source| JournalError::Io {
                path: self.path.clone(),
                source,
            })
    }
}

/// Every readable entry; a torn last line (crash mid-write) is ignored.
pub fn read(dir: &Path) -> Result<Vec<Entry>, JournalError> {
    let p = path(dir);
    let f = match File::open(&p) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(vec![]),
        Err(source) => return Err(JournalError::Io { path: p, source }),
    };
    Ok(BufReader::new(f)
        .lines()
        .map_while(Result::ok)
        .filter_map(|l| serde_json::from_str(&l).ok())
        .collect())
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
}

pub fn operations(dir: &Path) -> Result<Vec<OpRecord>, JournalError> {
    let mut ops: Vec<OpRecord> = Vec::new();
    for e in read(dir)? {
        match e {
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
                if let Some(op) = ops.iter_mut().rev().find(|o| o.op_id == other.op_id()) {
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
    }
    Ok(ops)
}

/// The operation that started but never finished, if any (at most one: the lock ensures it).
pub fn open_operation(dir: &Path) -> Result<Option<OpRecord>, JournalError> {
    Ok(operations(dir)?.into_iter().rev().find(|o| o.is_open()))
}
