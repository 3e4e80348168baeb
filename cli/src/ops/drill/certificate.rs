//! Drill certificates: every finished drill appends which version each region ran and
//! whether every objective was met to `<state-dir>/drills.jsonl`. `pmctl deploy
//! --require-drill` deploys a version to the writer region only when a passed drill ran
//! it in the standby region (the region a failover would land on).

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Certificate {
    pub at: chrono::DateTime<chrono::Utc>,
    pub runbook: String,
    pub passed: bool,
    /// The writer region when the drill started, and the standby (the other).
    pub writer: String,
    pub standby: String,
    /// The version each region's API reported when the drill started.
    pub versions: BTreeMap<String, Option<String>>,
}

impl Certificate {
    /// The version the drill exercised in its standby region.
    pub fn standby_version(&self) -> Option<&str> {
        self.versions.get(&self.standby).and_then(|v| v.as_deref())
    }
}

pub fn path(state_dir: &Path) -> PathBuf {
    state_dir.join("drills.jsonl")
}

pub fn record(state_dir: &Path, c: &Certificate) -> std::io::Result<()> {
    std::fs::create_dir_all(state_dir)?;
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path(state_dir))?;
    let mut line = serde_json::to_string(c).map_err(std::io::Error::other)?;
    line.push('\n');
    f.write_all(line.as_bytes())?;
    f.sync_data()
}

/// Every certificate recorded (lines that do not parse — a torn last line — are skipped).
pub fn load(state_dir: &Path) -> Vec<Certificate> {
    std::fs::read_to_string(path(state_dir))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

/// The newest passed drill that ran `version` in its standby region.
pub fn certifying<'a>(certs: &'a [Certificate], version: &str) -> Option<&'a Certificate> {
    certs
        .iter()
        .rev()
        .find(|c| c.passed && c.standby_version() == Some(version))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cert(passed: bool, east: &str, west: &str) -> Certificate {
        Certificate {
            at: chrono::Utc::now(),
            runbook: "region-outage".into(),
            passed,
            writer: "east".into(),
            standby: "west".into(),
            versions: [
                ("east".to_string(), Some(east.to_string())),
                ("west".to_string(), Some(west.to_string())),
            ]
            .into(),
        }
    }

    #[test]
    fn only_a_passed_drill_with_the_version_in_the_standby_certifies() {
        let dir = tempfile::tempdir().unwrap();
        record(dir.path(), &cert(false, "1", "2")).unwrap();
        record(dir.path(), &cert(true, "2", "1")).unwrap();
        let certs = load(dir.path());
        assert_eq!(certs.len(), 2);
        assert!(
            certifying(&certs, "2").is_none(),
            "failed, or 2 ran in the writer only"
        );
        record(dir.path(), &cert(true, "1", "2")).unwrap();
        assert!(certifying(&load(dir.path()), "2").is_some());
    }
}
