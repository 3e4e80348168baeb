//! Password authentication: a cluster's superuser password lives in one libpq password file
//! beside its data directory, `<data_dir>.pgpass` (mode 0600, owned by the user PostgreSQL
//! runs as), like its server log.
//!
//! That one file serves every client: the programs pgcluster runs (psql, pg_basebackup,
//! pg_rewind) and the standby's WAL receiver get `passfile=<it>` in their connection string
//! (so the password is on no command line and in no configuration file), and callers read
//! it for their own SQL connections ([`read_password`], [`crate::Cluster::url`]). A physical
//! replica has the same roles as its source, so one password serves both directions.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use crate::error::PgError;
use crate::pgbin::PgBin;

/// `<data_dir>.pgpass`: where a cluster's superuser password is kept (beside the data
/// directory, so base backups and pg_rewind neither copy nor remove it).
pub fn passfile_for(data_dir: &Path) -> PathBuf {
    let mut name = data_dir
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_default();
    name.push(".pgpass");
    data_dir.with_file_name(name)
}

/// Checks a password can be used with initdb's `--pwfile` and a password file.
pub(crate) fn validate_password(password: &str) -> Result<(), PgError> {
    if password.is_empty() || password.contains(['\n', '\r', '\0']) {
        return Err(PgError::InvalidArgument(
            "the superuser password must be non-empty and a single line".into(),
        ));
    }
    Ok(())
}

/// Writes `password` for user `postgres` on any host, port and database to
/// `<data_dir>.pgpass` (atomically, mode 0600, owned by `postgres` when we are root), for a
/// cluster about to be created from a source that requires it (e.g. before
/// [`crate::Cluster::basebackup`]). Returns the file's path.
pub fn write_passfile(bin: &PgBin, data_dir: &Path, password: &str) -> Result<PathBuf, PgError> {
    validate_password(password)?;
    let data_dir = std::path::absolute(data_dir)
        .map_err(|e| PgError::io(format!("resolving {}", data_dir.display()), e))?;
    let path = passfile_for(&data_dir);
    let line = format!("*:*:*:postgres:{}\n", escape(password));
    write_private(bin, &path, line.as_bytes())?;
    Ok(path)
}

/// The password in `<data_dir>.pgpass`; `None` when there is no such file (a cluster with
/// trust authentication).
pub fn read_password(data_dir: &Path) -> Result<Option<String>, PgError> {
    let path = passfile_for(data_dir);
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(PgError::io(format!("reading {}", path.display()), e)),
    };
    text.lines()
        .find_map(|l| fields(l).filter(|f| f.len() == 5).map(|mut f| f.remove(4)))
        .map(Some)
        .ok_or_else(|| PgError::Parse {
            what: format!("password file {}", path.display()),
            detail: "no `host:port:database:user:password` line".into(),
        })
}

/// A file only its owner can read (0600): temp file, fsync, chown, rename.
pub(crate) fn write_private(bin: &PgBin, path: &Path, contents: &[u8]) -> Result<(), PgError> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    let ctx = |what: &str| format!("{what} {}", tmp.display());
    let _ = std::fs::remove_file(&tmp);
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)
        .map_err(|e| PgError::io(ctx("creating"), e))?;
    f.write_all(contents)
        .and_then(|()| f.sync_all())
        .map_err(|e| PgError::io(ctx("writing"), e))?;
    drop(f);
    bin.chown_to_postgres(&tmp)?;
    std::fs::rename(&tmp, path)
        .map_err(|e| PgError::io(format!("renaming {} into place", tmp.display()), e))
}

/// `:` and `\` escaped with `\`, as libpq's password file format wants.
fn escape(value: &str) -> String {
    let mut s = String::with_capacity(value.len());
    for c in value.chars() {
        if c == ':' || c == '\\' {
            s.push('\\');
        }
        s.push(c);
    }
    s
}

/// The `:`-separated fields of a password-file line (`None` for comments and blanks).
fn fields(line: &str) -> Option<Vec<String>> {
    if line.trim().is_empty() || line.starts_with('#') {
        return None;
    }
    let mut out = vec![String::new()];
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                if let Some(next) = chars.next() {
                    out.last_mut().expect("non-empty").push(next);
                }
            }
            ':' if out.len() < 5 => out.push(String::new()),
            c => out.last_mut().expect("non-empty").push(c),
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passfile_sits_beside_the_data_dir() {
        assert_eq!(
            passfile_for(Path::new("/s/east/pg")),
            PathBuf::from("/s/east/pg.pgpass")
        );
    }

    #[test]
    fn escaped_password_round_trips() {
        for pw in ["plain", "a:b", "back\\slash:", "ünï"] {
            let line = format!("*:*:*:postgres:{}", escape(pw));
            assert_eq!(fields(&line).unwrap()[4], pw, "{line}");
        }
        assert!(fields("# comment").is_none());
    }

    #[test]
    fn rejects_multiline_passwords() {
        assert!(validate_password("a\nb").is_err());
        assert!(validate_password("").is_err());
        assert!(validate_password("ok").is_ok());
    }
}
