//! Migrations that keep the running version working (`pm-api migrate`).
//!
//! A deploy applies the new build's migrations on the writer *before* any region runs the
//! new build, so during a deploy (and after a rollback) the old version runs on the new
//! schema. The rule is **expand, then contract**: a migration may add tables, nullable
//! columns, columns with a default and indexes; it must not drop or rename a column or a
//! table, or change a column's type, while a running version may still use it. The check
//! below refuses a pending migration whose SQL does any of that (comments and string
//! literals ignored), naming the file and the statement. The contract half (dropping what
//! no running version uses any more) is a later migration that says so on a line of its
//! own: `-- pm-api: contract <why it is safe>`; it is then applied like any other.

use serde::Serialize;

/// The marker that allows a migration to drop or rename (the contract phase).
pub const CONTRACT_MARKER: &str = "-- pm-api: contract";

/// A migration not yet applied to the database, and what is wrong with it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Pending {
    pub version: i64,
    pub description: String,
    /// Statements that would break the running version (empty: compatible).
    pub breaking: Vec<String>,
}

/// `pm-api migrate --check`'s answer (also printed after applying).
#[derive(Debug, Clone, Serialize)]
pub struct MigrateReport {
    pub pending: Vec<Pending>,
    pub applied: bool,
}

impl MigrateReport {
    pub fn compatible(&self) -> bool {
        self.pending.iter().all(|p| p.breaking.is_empty())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum MigrateError {
    #[error("migration {version} ({description}) would break the running version: {}; write it as expand/contract (README, \"Deploy\") or mark the contract step with `{CONTRACT_MARKER} <why>`", .breaking.join("; "))]
    Breaking {
        version: i64,
        description: String,
        breaking: Vec<String>,
    },
    #[error("reading the applied migrations")]
    Read(#[source] sqlx::Error),
    #[error("applying migrations")]
    Apply(#[source] sqlx::migrate::MigrateError),
}

/// Code without comments and string literals, upper-cased, whitespace collapsed.
fn normalise(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len());
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '-' if chars.peek() == Some(&'-') => {
                for n in chars.by_ref() {
                    if n == '\n' {
                        break;
                    }
                }
                out.push(' ');
            }
            '/' if chars.peek() == Some(&'*') => {
                chars.next();
                let mut prev = ' ';
                for n in chars.by_ref() {
                    if prev == '*' && n == '/' {
                        break;
                    }
                    prev = n;
                }
                out.push(' ');
            }
            '\'' => {
                for n in chars.by_ref() {
                    if n == '\'' {
                        break;
                    }
                }
                out.push_str("''");
            }
            c => out.extend(c.to_uppercase()),
        }
    }
    out.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The statements of `sql` that drop or rename a column or table, or change a column's
/// type (empty when the migration is compatible, or marked as a contract step).
pub fn breaking_changes(sql: &str) -> Vec<String> {
    if sql
        .lines()
        .any(|l| l.trim_start().starts_with(CONTRACT_MARKER))
    {
        return vec![];
    }
    let mut out = Vec::new();
    for stmt in normalise(sql).split(';') {
        let s = stmt.trim();
        let short = || s.chars().take(100).collect::<String>();
        let has = |w: &str| s.contains(w);
        let why = if s.starts_with("DROP TABLE") {
            Some("drops a table")
        } else if s.starts_with("ALTER TABLE") && has(" DROP COLUMN ") {
            Some("drops a column")
        } else if s.starts_with("ALTER TABLE") && has(" RENAME COLUMN ") {
            Some("renames a column")
        } else if s.starts_with("ALTER TABLE") && has(" RENAME ") && has(" TO ") {
            Some("renames a table or column")
        } else if s.starts_with("ALTER TABLE")
            && has(" ALTER COLUMN ")
            && (has(" TYPE ") || has(" SET DATA TYPE "))
        {
            Some("changes a column's type")
        } else if s.starts_with("ALTER TABLE")
            && has(" DROP ")
            && !has(" DROP CONSTRAINT ")
            && !has(" DROP DEFAULT")
            && !has(" DROP NOT NULL")
        {
            // `ALTER TABLE t DROP c` (COLUMN is optional).
            Some("drops a column")
        } else {
            None
        };
        if let Some(why) = why {
            out.push(format!("{why} (`{}`)", short()));
        }
    }
    out
}

/// The embedded migrations the database has not applied, each checked.
pub async fn pending(pool: &sqlx::PgPool) -> Result<Vec<Pending>, MigrateError> {
    let table: Option<String> = sqlx::query_scalar("SELECT to_regclass('_sqlx_migrations')::text")
        .fetch_one(pool)
        .await
        .map_err(MigrateError::Read)?;
    let applied: Vec<i64> = if table.is_some() {
        sqlx::query_scalar("SELECT version FROM _sqlx_migrations WHERE success")
            .fetch_all(pool)
            .await
            .map_err(MigrateError::Read)?
    } else {
        vec![]
    };
    Ok(crate::MIGRATOR
        .iter()
        .filter(|m| m.migration_type.is_up_migration() && !applied.contains(&m.version))
        .map(|m| Pending {
            version: m.version,
            description: m.description.to_string(),
            breaking: breaking_changes(&m.sql),
        })
        .collect())
}

/// Applies the pending migrations unless one would break the running version (refused,
/// nothing applied) — or `check_only`: just report.
pub async fn run(pool: &sqlx::PgPool, check_only: bool) -> Result<MigrateReport, MigrateError> {
    let pending = pending(pool).await?;
    if let Some(p) = pending.iter().find(|p| !p.breaking.is_empty()) {
        if !check_only {
            return Err(MigrateError::Breaking {
                version: p.version,
                description: p.description.clone(),
                breaking: p.breaking.clone(),
            });
        }
    }
    if check_only || pending.is_empty() {
        return Ok(MigrateReport {
            pending,
            applied: false,
        });
    }
    crate::MIGRATOR
        .run(pool)
        .await
        .map_err(MigrateError::Apply)?;
    Ok(MigrateReport {
        pending,
        applied: true,
    })
}

/// `migrate [--check]`, shared by `pm-api migrate` and `pmctl internal api migrate`.
#[derive(clap::Args)]
pub struct MigrateArgs {
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    pub database_url: String,
    /// Only report the pending migrations and whether they are compatible (JSON on
    /// stdout); exit 3 when one would break the running version.
    #[arg(long)]
    pub check: bool,
}

/// Exit codes: 0 done (or compatible), 3 refused (a breaking migration), 1 failed.
pub async fn command(a: MigrateArgs) -> anyhow::Result<i32> {
    use anyhow::Context;
    let pool = sqlx::PgPool::connect(&a.database_url)
        .await
        .context("connecting to the database")?;
    let result = run(&pool, a.check).await;
    pool.close().await;
    let report = match result {
        Ok(r) => r,
        Err(e @ MigrateError::Breaking { .. }) => {
            #[allow(clippy::print_stderr)]
            {
                eprintln!("error: {e}");
            }
            return Ok(3);
        }
        Err(e) => return Err(e.into()),
    };
    #[allow(clippy::print_stdout)]
    {
        println!(
            "{}",
            serde_json::to_string(&report).expect("report serialises")
        );
    }
    Ok(if report.compatible() { 0 } else { 3 })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn additive_migrations_are_compatible() {
        for sql in [
            "CREATE TABLE t (id int); CREATE INDEX i ON t (id);",
            "ALTER TABLE payments ADD COLUMN kind text NOT NULL DEFAULT 'rent';",
            "ALTER TABLE t ALTER COLUMN c DROP NOT NULL; ALTER TABLE t DROP CONSTRAINT x;",
            "-- we used to DROP COLUMN here\nALTER TABLE t ADD COLUMN note text;",
            "INSERT INTO t (note) VALUES ('ALTER TABLE t DROP COLUMN c');",
        ] {
            assert_eq!(breaking_changes(sql), Vec::<String>::new(), "{sql}");
        }
    }

    #[test]
    fn drops_renames_and_type_changes_are_breaking() {
        for (sql, why) in [
            ("ALTER TABLE tenants DROP COLUMN phone;", "drops a column"),
            ("alter table tenants drop phone", "drops a column"),
            (
                "ALTER TABLE tenants RENAME COLUMN phone TO msisdn;",
                "renames a column",
            ),
            ("ALTER TABLE tenants RENAME TO people;", "renames a table"),
            ("DROP TABLE expenses;", "drops a table"),
            (
                "ALTER TABLE units ALTER COLUMN rent TYPE numeric;",
                "changes a column's type",
            ),
        ] {
            let b = breaking_changes(sql);
            assert_eq!(b.len(), 1, "{sql}: {b:?}");
            assert!(b[0].starts_with(why), "{sql}: {b:?}");
        }
    }

    #[test]
    fn a_marked_contract_migration_is_allowed() {
        let sql = "-- pm-api: contract: no version since 0.3 reads phone\nALTER TABLE tenants DROP COLUMN phone;";
        assert!(breaking_changes(sql).is_empty());
    }

    #[test]
    fn every_shipped_migration_is_compatible() {
        for m in crate::MIGRATOR.iter() {
            assert_eq!(
                breaking_changes(&m.sql),
                Vec::<String>::new(),
                "migration {} {}",
                m.version,
                m.description
            );
        }
    }
}
