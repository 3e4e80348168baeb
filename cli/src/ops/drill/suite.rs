//! `pmctl drill DIR`: every runbook in a directory, in file-name order, with one combined
//! JUnit file. All are parsed before the first one starts: one bad runbook refuses the set.

use super::runbook::{Runbook, RunbookError};
use std::path::{Path, PathBuf};

/// The runbooks (`*.yaml`, `*.yml`) of `dir`, parsed, in file-name order.
pub fn runbooks_in(dir: &Path) -> Result<Vec<(PathBuf, Runbook)>, RunbookError> {
    let read_err = |source| RunbookError::Read {
        path: dir.display().to_string(),
        source,
    };
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(read_err)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file() && p.extension().is_some_and(|e| e == "yaml" || e == "yml"))
        .collect();
    paths.sort();
    if paths.is_empty() {
        return Err(RunbookError::Invalid {
            path: dir.display().to_string(),
            message: "no runbooks (*.yaml) in this directory".into(),
        });
    }
    paths
        .into_iter()
        .map(|p| Runbook::load(&p).map(|r| (p, r)))
        .collect()
}
