//! Locating the PostgreSQL server binaries and running them (as `postgres` when we are root).

use std::ffi::OsStr;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;

use nix::unistd::{Gid, Uid, User};

use crate::error::PgError;
use crate::process;

/// Environment variable naming the directory that holds `initdb`, `pg_ctl`, `postgres`, ….
pub const BINDIR_ENV: &str = "PMCTL_PG_BINDIR";

/// Programs a bin directory must hold to be chosen.
const REQUIRED: &[&str] = &["initdb", "pg_ctl", "postgres"];

/// Where Debian/Ubuntu install one directory per major version.
const DEBIAN_ROOT: &str = "/usr/lib/postgresql";

/// The located PostgreSQL binaries, and whether they must run as the `postgres` user.
///
/// Cheap to clone.
#[derive(Clone, Debug)]
pub struct PgBin {
    bindir: PathBuf,
    run_as: Option<PostgresUser>,
}

/// The account PostgreSQL runs as when we are root.
#[derive(Clone, Copy, Debug)]
struct PostgresUser {
    uid: Uid,
    gid: Gid,
}

impl PgBin {
    /// Finds the server binaries: `$PMCTL_PG_BINDIR` if set (and then only there), else the
    /// highest `/usr/lib/postgresql/<major>/bin` holding `initdb`, else `pg_config --bindir`
    /// if it holds `initdb`, else a `$PATH` directory holding `initdb` and `pg_ctl`.
    pub fn locate() -> Result<PgBin, PgError> {
        if let Some(dir) = std::env::var_os(BINDIR_ENV).filter(|v| !v.is_empty()) {
            let dir = PathBuf::from(dir);
            if has_binaries(&dir) {
                return PgBin::from_bindir(dir);
            }
            return Err(PgError::BinariesNotFound {
                searched: format!("{BINDIR_ENV}={}", dir.display()),
            });
        }
        let mut searched = Vec::new();
        if let Some(dir) = highest_debian_bindir() {
            return PgBin::from_bindir(dir);
        }
        searched.push(format!("{DEBIAN_ROOT}/*/bin"));
        if let Some(dir) = pg_config_bindir() {
            if has_binaries(&dir) {
                return PgBin::from_bindir(dir);
            }
            searched.push(format!("{} (pg_config --bindir)", dir.display()));
        }
        if let Some(path) = std::env::var_os("PATH") {
            for dir in std::env::split_paths(&path) {
                if has_binaries(&dir) {
                    return PgBin::from_bindir(dir);
                }
            }
        }
        searched.push("$PATH".to_string());
        Err(PgError::BinariesNotFound {
            searched: searched.join(", "),
        })
    }

    /// Uses the binaries in `bindir` (which must hold `initdb`, `pg_ctl` and `postgres`).
    pub fn from_bindir(bindir: impl Into<PathBuf>) -> Result<PgBin, PgError> {
        let bindir = bindir.into();
        if !has_binaries(&bindir) {
            return Err(PgError::BinariesNotFound {
                searched: bindir.display().to_string(),
            });
        }
        let run_as = if Uid::effective().is_root() {
            let user = User::from_name("postgres")
                .map_err(|e| PgError::io("looking up the postgres user", e.into()))?
                .ok_or(PgError::NoPostgresUser)?;
            Some(PostgresUser {
                uid: user.uid,
                gid: user.gid,
            })
        } else {
            None
        };
        Ok(PgBin { bindir, run_as })
    }

    /// The directory holding the binaries.
    pub fn bindir(&self) -> &Path {
        &self.bindir
    }

    /// True when programs run as the `postgres` user through `runuser` (we are root).
    pub fn runs_as_postgres(&self) -> bool {
        self.run_as.is_some()
    }

    /// The server version, e.g. `"15.18"` (from `pg_ctl --version`).
    pub fn version(&self) -> Result<String, PgError> {
        let out = process::run(self.command("pg_ctl").arg("--version"), "pg_ctl", None)?;
        parse_version(&out.stdout).ok_or_else(|| PgError::Parse {
            what: "pg_ctl --version".into(),
            detail: out.stdout.trim().to_string(),
        })
    }

    /// The major version, e.g. `15`.
    pub fn major_version(&self) -> Result<u32, PgError> {
        let v = self.version()?;
        v.split(|c: char| !c.is_ascii_digit())
            .next()
            .and_then(|m| m.parse().ok())
            .ok_or(PgError::Parse {
                what: "server version".into(),
                detail: v,
            })
    }

    /// A command running `program` from the bin directory; wrapped in
    /// `runuser -u postgres --` when we are root. The working directory is `/` (the
    /// `postgres` user may not be able to enter ours), `PG*` variables of our environment
    /// are removed (they would redirect connections and data directories) and `LC_ALL=C`
    /// makes output parseable.
    pub fn command(&self, program: &str) -> Command {
        let path = self.bindir.join(program);
        let mut cmd = if self.run_as.is_some() {
            let mut cmd = Command::new(runuser_path());
            cmd.args(["-u", "postgres", "--"]).arg(path);
            cmd
        } else {
            Command::new(path)
        };
        cmd.current_dir("/");
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("PG") {
                cmd.env_remove(key);
            }
        }
        cmd.env("LC_ALL", "C");
        cmd
    }

    /// Creates the directory `path` (and its parents) so PostgreSQL can use it: when root,
    /// `path` is chowned to `postgres` and every ancestor lacking it gets the
    /// traverse-only bit for others (`o+x`), e.g. a 0700 temp dir. A no-op beyond
    /// creating the directory when not root.
    pub fn prepare_path_for_postgres(&self, path: &Path) -> Result<(), PgError> {
        std::fs::create_dir_all(path)
            .map_err(|e| PgError::io(format!("creating {}", path.display()), e))?;
        if self.run_as.is_none() {
            return Ok(());
        }
        self.chown_to_postgres(path)?;
        self.make_ancestors_traversable(path)
    }

    /// Chowns one file or directory to `postgres` (no-op when not root).
    pub(crate) fn chown_to_postgres(&self, path: &Path) -> Result<(), PgError> {
        if let Some(user) = self.run_as {
            nix::unistd::chown(path, Some(user.uid), Some(user.gid))
                .map_err(|e| PgError::io(format!("chown postgres {}", path.display()), e.into()))?;
        }
        Ok(())
    }

    fn make_ancestors_traversable(&self, path: &Path) -> Result<(), PgError> {
        let Some(user) = self.run_as else {
            return Ok(());
        };
        let abs = std::fs::canonicalize(path)
            .map_err(|e| PgError::io(format!("resolving {}", path.display()), e))?;
        for dir in abs.ancestors().skip(1) {
            let meta = std::fs::metadata(dir)
                .map_err(|e| PgError::io(format!("stat {}", dir.display()), e))?;
            let mode = meta.mode();
            let ok = mode & 0o001 != 0
                || (meta.uid() == user.uid.as_raw() && mode & 0o100 != 0)
                || (meta.gid() == user.gid.as_raw() && mode & 0o010 != 0);
            if !ok {
                tracing::warn!(dir = %dir.display(), "adding o+x so the postgres user can reach its data");
                let perms = std::fs::Permissions::from_mode((mode | 0o001) & 0o7777);
                std::fs::set_permissions(dir, perms)
                    .map_err(|e| PgError::io(format!("chmod o+x {}", dir.display()), e))?;
            }
        }
        Ok(())
    }
}

fn runuser_path() -> &'static OsStr {
    for p in ["/usr/sbin/runuser", "/sbin/runuser", "/usr/bin/runuser"] {
        if Path::new(p).exists() {
            return OsStr::new(p);
        }
    }
    OsStr::new("runuser")
}

fn is_executable(path: &Path) -> bool {
    std::fs::metadata(path)
        .map(|m| m.is_file() && m.mode() & 0o111 != 0)
        .unwrap_or(false)
}

fn has_binaries(dir: &Path) -> bool {
    REQUIRED.iter().all(|p| is_executable(&dir.join(p)))
}

/// `/usr/lib/postgresql/<v>/bin` with the highest version `v` that holds the binaries.
fn highest_debian_bindir() -> Option<PathBuf> {
    let entries = std::fs::read_dir(DEBIAN_ROOT).ok()?;
    let mut best: Option<(Vec<u32>, PathBuf)> = None;
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(version) = name
            .split('.')
            .map(|p| p.parse::<u32>().ok())
            .collect::<Option<Vec<u32>>>()
        else {
            continue;
        };
        let bindir = entry.path().join("bin");
        let better = match &best {
            Some((v, _)) => version > *v,
            None => true,
        };
        if better && has_binaries(&bindir) {
            best = Some((version, bindir));
        }
    }
    best.map(|(_, dir)| dir)
}

fn pg_config_bindir() -> Option<PathBuf> {
    let out = Command::new("pg_config").arg("--bindir").output().ok()?;
    if !out.status.success() {
        return None;
    }
    let dir = String::from_utf8_lossy(&out.stdout).trim().to_string();
    (!dir.is_empty()).then(|| PathBuf::from(dir))
}

/// `"pg_ctl (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)"` → `"15.18"`.
fn parse_version(s: &str) -> Option<String> {
    let rest = s.split("(PostgreSQL)").nth(1)?;
    rest.split_whitespace().next().map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_versions() {
        assert_eq!(
            parse_version("pg_ctl (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)\n").as_deref(),
            Some("15.18")
        );
        assert_eq!(
            parse_version("pg_ctl (PostgreSQL) 17devel").as_deref(),
            Some("17devel")
        );
        assert_eq!(parse_version("nonsense"), None);
    }
}
