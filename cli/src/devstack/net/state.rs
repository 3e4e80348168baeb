//! The net process's persisted state: what survives its restart.

use std::collections::BTreeMap;
use std::io;
use std::path::Path;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::super::stack::write_private;
use super::{LinkMode, NetError};

/// What survives a restart of the net process.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct PersistedState {
    pub primary: String,
    pub writes_blocked: bool,
    pub links: BTreeMap<String, LinkMode>,
    pub updated_at: DateTime<Utc>,
}

impl PersistedState {
    /// Reads the state file; `Ok(None)` when there is none.
    pub fn load(path: &Path) -> Result<Option<PersistedState>, NetError> {
        match std::fs::read(path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|e| NetError::BadState {
                    path: path.to_path_buf(),
                    reason: e.to_string(),
                }),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(NetError::ReadState {
                path: path.to_path_buf(),
                source,
            }),
        }
    }

    /// Writes atomically (see [`write_private`]): a reader sees the old or the new state.
    pub fn save(&self, path: &Path) -> io::Result<()> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        let mut json = serde_json::to_vec_pretty(self).map_err(io::Error::other)?;
        json.push(b'\n');
        write_private(path, &json)
    }
}
