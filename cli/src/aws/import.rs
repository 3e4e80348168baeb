//! `pmctl env import`: writes (or updates) an AWS environment's section of `pmctl.toml`
//! from `terraform output -json pmctl_environment`, keeping everything else in the file —
//! other environments, comments, and the section's own pmctl settings (thresholds, sdk,
//! waits, api_urls). Only the section's `kind` and its `terraform` table are written; the
//! `terraform` table is replaced as a whole, so keys Terraform stopped exporting go.

use super::env::{AwsEnvironment, EnvError};
use toml_edit::{Array, ArrayOfTables, DocumentMut, Item, Table, Value};

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error(transparent)]
    Output(#[from] EnvError),
    #[error("{path}: not valid TOML ({message}); nothing was written")]
    Config { path: String, message: String },
    #[error("{path}: {message}; nothing was written")]
    Conflict { path: String, message: String },
    #[error("environment name `{0}` is not usable (letters, digits, `-` and `_` only)")]
    BadName(String),
}

/// What an import did.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Imported {
    pub environment: String,
    /// `created` (new section), `updated` (values changed) or `unchanged`.
    pub action: &'static str,
    pub regions: Vec<String>,
    pub global_cluster_id: String,
    pub ops_store: String,
}

const HEADER: &str = "# Written by `pmctl env import` from `terraform output -json pmctl_environment`;\n# re-run the import after `terraform apply` instead of editing this table.\n";

/// The new text of the config file (`existing`: its current text, if any) with
/// environment `name` set from `env`.
pub fn import(
    path: &str,
    existing: Option<&str>,
    name: &str,
    env: &AwsEnvironment,
) -> Result<(String, Imported), ImportError> {
    if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return Err(ImportError::BadName(name.to_string()));
    }
    let mut doc: DocumentMut =
        existing
            .unwrap_or("")
            .parse()
            .map_err(|e: toml_edit::TomlError| ImportError::Config {
                path: path.to_string(),
                message: e.to_string().trim().to_string(),
            })?;
    let conflict = |message: String| ImportError::Conflict {
        path: path.to_string(),
        message,
    };
    let root = doc.as_table_mut();
    if !root.contains_key("environments") {
        let mut t = Table::new();
        t.set_implicit(true);
        root.insert("environments", Item::Table(t));
    }
    let envs = root["environments"]
        .as_table_mut()
        .ok_or_else(|| conflict("`environments` is not a table".into()))?;
    let created = !envs.contains_key(name);
    if created {
        envs.insert(name, Item::Table(Table::new()));
    }
    let section = envs[name]
        .as_table_mut()
        .ok_or_else(|| conflict(format!("`environments.{name}` is not a table")))?;
    if let Some(kind) = section.get("kind").and_then(|k| k.as_str()) {
        if kind != "aws" {
            return Err(conflict(format!(
                "environment `{name}` is a `{kind}` environment; import into another name (--name)"
            )));
        }
    }
    let before = section.get("terraform").map(|t| t.to_string());
    section.insert("kind", toml_edit::value("aws"));
    let value = serde_json::to_value(env).expect("the environment serialises");
    let Item::Table(mut table) = to_item(&value) else {
        unreachable!("an object becomes a table")
    };
    table.decor_mut().set_prefix(format!("\n{HEADER}"));
    section.insert("terraform", Item::Table(table));
    let after = section.get("terraform").map(|t| t.to_string());
    let action = if created {
        "created"
    } else if strip(&before) == strip(&after) {
        "unchanged"
    } else {
        "updated"
    };
    let ops = &env.ops_store;
    Ok((
        doc.to_string(),
        Imported {
            environment: name.to_string(),
            action,
            regions: env.region_names().into_iter().map(String::from).collect(),
            global_cluster_id: env.global_cluster_id.clone(),
            ops_store: format!("s3://{}/{}", ops.bucket, ops.prefix),
        },
    ))
}

/// The table's values without its formatting, for comparing.
fn strip(t: &Option<String>) -> Option<String> {
    t.as_ref().map(|s| {
        s.lines()
            .filter(|l| !l.trim_start().starts_with('#') && !l.trim().is_empty())
            .collect::<Vec<_>>()
            .join("\n")
    })
}

/// JSON → TOML: objects are tables, lists of objects arrays of tables; `null` is left out
/// (TOML has none).
fn to_item(v: &serde_json::Value) -> Item {
    match v {
        serde_json::Value::Object(map) => {
            let mut t = Table::new();
            for (k, v) in map {
                if !v.is_null() {
                    t.insert(k, to_item(v));
                }
            }
            Item::Table(t)
        }
        serde_json::Value::Array(items)
            if items.iter().all(|i| i.is_object()) && !items.is_empty() =>
        {
            let mut a = ArrayOfTables::new();
            for i in items {
                if let Item::Table(t) = to_item(i) {
                    a.push(t);
                }
            }
            Item::ArrayOfTables(a)
        }
        other => Item::Value(to_value(other)),
    }
}

fn to_value(v: &serde_json::Value) -> Value {
    match v {
        serde_json::Value::Bool(b) => Value::from(*b),
        serde_json::Value::Number(n) => match n.as_i64() {
            Some(i) => Value::from(i),
            None => Value::from(n.as_f64().unwrap_or_default()),
        },
        serde_json::Value::String(s) => Value::from(s.as_str()),
        serde_json::Value::Array(items) => {
            let mut a = Array::new();
            for i in items.iter().filter(|i| !i.is_null()) {
                a.push(to_value(i));
            }
            Value::Array(a)
        }
        serde_json::Value::Object(map) => {
            let mut t = toml_edit::InlineTable::new();
            for (k, v) in map.iter().filter(|(_, v)| !v.is_null()) {
                t.insert(k, to_value(v));
            }
            Value::InlineTable(t)
        }
        serde_json::Value::Null => Value::from(""),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env() -> AwsEnvironment {
        let text = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/data/terraform-output.json"
        ))
        .unwrap();
        AwsEnvironment::from_terraform_json(&text).unwrap()
    }

    #[test]
    fn import_keeps_the_rest_of_the_file_and_reads_back() {
        let existing = "# mine\n[environments.local]\nkind = \"local\" # the dev stack\n\n[environments.prod]\nkind = \"aws\"\nhealth_rule = \"route53\"\n[environments.prod.thresholds]\nmax_lag_ms = 250\n";
        let (text, done) = import("pmctl.toml", Some(existing), "prod", &env()).unwrap();
        assert_eq!(done.action, "updated");
        for kept in [
            "# mine",
            "kind = \"local\" # the dev stack",
            "health_rule = \"route53\"",
            "max_lag_ms = 250",
        ] {
            assert!(text.contains(kept), "{kept} lost:\n{text}");
        }
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("pmctl.toml");
        std::fs::write(&p, &text).unwrap();
        let e = crate::config::resolve(Some(&p), "prod", None).unwrap();
        let crate::config::EnvKind::Aws(a) = e.kind else {
            panic!("not aws")
        };
        assert_eq!(
            a.terraform,
            env(),
            "the imported table reads back as exported"
        );
        assert_eq!(a.thresholds.max_lag_ms, 250);
        // A second import changes nothing.
        let (again, done) = import("pmctl.toml", Some(&text), "prod", &env()).unwrap();
        assert_eq!((done.action, again), ("unchanged", text));
    }

    #[test]
    fn a_local_environment_of_that_name_or_bad_toml_is_refused() {
        let err = import(
            "pmctl.toml",
            Some("[environments.prod]\nkind = \"local\"\n"),
            "prod",
            &env(),
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("`local` environment") && err.contains("nothing was written"),
            "{err}"
        );
        let err = import("pmctl.toml", Some("[environments\n"), "prod", &env())
            .unwrap_err()
            .to_string();
        assert!(err.contains("not valid TOML"), "{err}");
        assert!(import("pmctl.toml", None, "pr od", &env()).is_err());
        let (_, done) = import("pmctl.toml", None, "prod", &env()).unwrap();
        assert_eq!(done.action, "created");
    }
}
