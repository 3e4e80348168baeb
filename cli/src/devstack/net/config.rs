//! The net process's configuration, `<state-dir>/net.json`, and its validation.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::{FrontDoorConfig, LinkConfig, NetError};

/// Everything the net process needs; `<state-dir>/net.json`.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct NetConfig {
    /// Where the admin API listens, e.g. `127.0.0.1:8090`.
    pub admin_listen: SocketAddr,
    /// Bearer token every admin request but `/admin/health` must carry.
    pub admin_token: String,
    /// Where PRIMARY, write block and link modes are persisted.
    pub state_file: PathBuf,
    pub frontdoor: FrontDoorConfig,
    #[serde(default)]
    pub links: Vec<LinkConfig>,
}

impl NetConfig {
    /// Reads and validates a JSON config file.
    pub fn load(path: &Path) -> Result<NetConfig, NetError> {
        let text = std::fs::read_to_string(path).map_err(|source| NetError::ReadConfig {
            path: path.to_path_buf(),
            source,
        })?;
        let config: NetConfig =
            serde_json::from_str(&text).map_err(|source| NetError::ParseConfig {
                path: path.to_path_buf(),
                source,
            })?;
        config.validate()?;
        Ok(config)
    }

    /// Checks the whole config; the error lists every problem found.
    pub fn validate(&self) -> Result<(), NetError> {
        let mut problems = self.frontdoor.problems();
        if self.admin_token.trim().is_empty() {
            problems.push("admin_token must not be empty".to_string());
        }
        if self.state_file.as_os_str().is_empty() {
            problems.push("state_file must not be empty".to_string());
        }
        for (i, link) in self.links.iter().enumerate() {
            if link.name.is_empty()
                || !link
                    .name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            {
                problems.push(format!(
                    "link name {:?} must be non-empty letters, digits, '-' or '_'",
                    link.name
                ));
            }
            if self.links[..i].iter().any(|l| l.name == link.name) {
                problems.push(format!("duplicate link name {:?}", link.name));
            }
            if link.listen == link.target {
                problems.push(format!(
                    "link {:?} listens on its own target {}",
                    link.name, link.target
                ));
            }
        }
        // Two listeners on one fixed port would only fail at bind time; say so now.
        let mut fixed: Vec<(SocketAddr, String)> = vec![
            (self.admin_listen, "admin API".to_string()),
            (self.frontdoor.listen, "front door".to_string()),
        ];
        fixed.extend(
            self.links
                .iter()
                .map(|l| (l.listen, format!("link {}", l.name))),
        );
        for (i, (addr, what)) in fixed.iter().enumerate() {
            if addr.port() == 0 {
                continue;
            }
            if let Some((_, other)) = fixed[..i].iter().find(|(a, _)| a == addr) {
                problems.push(format!("{what} and {other} both listen on {addr}"));
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(NetError::InvalidConfig(problems))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> NetConfig {
        serde_json::from_str(
            r#"{
              "admin_listen": "127.0.0.1:8090",
              "admin_token": "secret",
              "state_file": "/tmp/x/net-state.json",
              "frontdoor": {
                "listen": "127.0.0.1:8080",
                "initial_primary": "east",
                "regions": [
                  {"name": "east", "upstream": "http://127.0.0.1:8081"},
                  {"name": "west", "upstream": "http://127.0.0.1:8082"}
                ]
              },
              "links": [
                {"name": "repl-west-east", "listen": "127.0.0.1:6442", "target": "127.0.0.1:5441"}
              ]
            }"#,
        )
        .unwrap()
    }

    #[test]
    fn example_config_is_valid() {
        config().validate().unwrap();
    }

    #[test]
    fn config_errors_list_every_problem() {
        let mut cfg = config();
        cfg.admin_token = " ".into();
        cfg.links.push(cfg.links[0].clone());
        cfg.frontdoor.listen = cfg.admin_listen;
        let msg = cfg.validate().unwrap_err().to_string();
        assert!(msg.contains("admin_token must not be empty"), "{msg}");
        assert!(
            msg.contains("duplicate link name \"repl-west-east\""),
            "{msg}"
        );
        assert!(
            msg.contains("front door and admin API both listen on 127.0.0.1:8090"),
            "{msg}"
        );
    }
}
