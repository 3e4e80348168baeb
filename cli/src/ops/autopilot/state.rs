//! The autopilot's files in the state directory: `autopilot.json` (what it remembers across
//! restarts: paused, the last automatic failover), `autopilot.jsonl` (every decision and
//! every non-decision with its reason, appended and fsync'd), `run/autopilot.ready` (the
//! running autopilot and its settings), and `autopilot.lock` (one autopilot at a time).

use super::policy::{Decision, Memory, Observation};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Record {
    pub at: DateTime<Utc>,
    #[serde(flatten)]
    pub decision: Decision,
    /// What was done about it (a failover's result, a resume, a page), if anything.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outcome: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observation: Option<Observation>,
}

/// Written once the autopilot observes: who runs, with which policy.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Ready {
    pub pid: u32,
    pub started_at: DateTime<Utc>,
    pub environment: String,
    pub dry_run: bool,
    pub interval_ms: u64,
    pub detection_window_ms: u64,
    pub cooldown_secs: u64,
}

pub struct Files {
    pub dir: PathBuf,
}

impl Files {
    pub fn new(dir: &Path) -> Files {
        Files {
            dir: dir.to_path_buf(),
        }
    }
    pub fn memory_path(&self) -> PathBuf {
        self.dir.join("autopilot.json")
    }
    pub fn journal_path(&self) -> PathBuf {
        self.dir.join("autopilot.jsonl")
    }
    pub fn ready_path(&self) -> PathBuf {
        self.dir.join("run").join("autopilot.ready")
    }

    pub fn load_memory(&self) -> Memory {
        std::fs::read_to_string(self.memory_path())
            .ok()
            .and_then(|t| serde_json::from_str(&t).ok())
            .unwrap_or_default()
    }

    pub fn save_memory(&self, m: &Memory) -> std::io::Result<()> {
        crate::sys::write_private(
            &self.memory_path(),
            serde_json::to_string_pretty(m).expect("json").as_bytes(),
        )
    }

    /// Read-modify-write of the persisted part (pause / resume / re-arm).
    pub fn update_memory(&self, f: impl FnOnce(&mut Memory)) -> std::io::Result<Memory> {
        let mut m = self.load_memory();
        f(&mut m);
        self.save_memory(&m)?;
        Ok(m)
    }

    pub fn append(&self, r: &Record) -> std::io::Result<()> {
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .read(true)
            .open(self.journal_path())?;
        // A line torn by a crash must not swallow this record: start on a fresh line.
        let len = f.metadata()?.len();
        let mut line = serde_json::to_string(r).expect("json");
        line.push('\n');
        if len > 0 {
            use std::io::{Read, Seek, SeekFrom};
            let mut last = [0u8; 1];
            f.seek(SeekFrom::End(-1))?;
            f.read_exact(&mut last)?;
            if last[0] != b'\n' {
                line.insert(0, '\n');
            }
        }
        f.write_all(line.as_bytes())?;
        f.sync_data()
    }

    /// The last `n` records (lines that do not parse — a torn line — are skipped).
    pub fn tail(&self, n: usize) -> Vec<Record> {
        let text = std::fs::read_to_string(self.journal_path()).unwrap_or_default();
        let mut v: Vec<Record> = text
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect();
        let skip = v.len().saturating_sub(n);
        v.drain(..skip);
        v
    }

    pub fn ready(&self) -> Option<Ready> {
        let r: Ready =
            serde_json::from_str(&std::fs::read_to_string(self.ready_path()).ok()?).ok()?;
        crate::sys::alive(r.pid).then_some(r)
    }

    pub fn write_ready(&self, r: &Ready) -> std::io::Result<()> {
        std::fs::create_dir_all(self.dir.join("run"))?;
        crate::sys::write_private(
            &self.ready_path(),
            serde_json::to_string(r).expect("json").as_bytes(),
        )
    }
}

/// A running drill whose reaction is not the autopilot (`none`, `switchover`) asks it to
/// keep its hands off while it runs; a note left by a drill that died does not count.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct DrillNote {
    pub pid: u32,
    pub runbook: String,
    pub reaction: String,
}

fn drill_note_path(dir: &Path) -> PathBuf {
    dir.join("drill.json")
}

pub fn write_drill_note(dir: &Path, note: &DrillNote) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    crate::sys::write_private(
        &drill_note_path(dir),
        serde_json::to_string(note).expect("json").as_bytes(),
    )
}

pub fn clear_drill_note(dir: &Path) {
    let _ = std::fs::remove_file(drill_note_path(dir));
}

pub fn drill_note(dir: &Path) -> Option<DrillNote> {
    let n: DrillNote =
        serde_json::from_str(&std::fs::read_to_string(drill_note_path(dir)).ok()?).ok()?;
    crate::sys::alive(n.pid).then_some(n)
}
