//! The one error type of this crate.

use std::path::PathBuf;
use std::time::Duration;

/// Everything that can go wrong while locating, spawning or talking to PostgreSQL.
///
/// Every message says what happened and, where there is one, what to do about it.
#[derive(Debug, thiserror::Error)]
pub enum PgError {
    /// No directory holding the PostgreSQL server binaries was found.
    #[error(
        "PostgreSQL server binaries (initdb, pg_ctl) not found in {searched} — install them \
         (Debian/Ubuntu: apt-get install postgresql) or set PMCTL_PG_BINDIR to the directory \
         holding them"
    )]
    BinariesNotFound {
        /// Human-readable list of the places that were searched.
        searched: String,
    },

    /// Running as root, but there is no `postgres` user to run the server as.
    #[error(
        "running as root, but there is no `postgres` user to run PostgreSQL as (PostgreSQL \
         refuses to run as root) — install Debian's postgresql package (it creates the user), \
         `useradd --system postgres`, or run as a non-root user"
    )]
    NoPostgresUser,

    /// A PostgreSQL program exited unsuccessfully.
    #[error(
        "`{args_summary}` failed ({status}){}",
        fmt_tail("stderr", stderr_tail)
    )]
    Command {
        /// Program name, e.g. `pg_basebackup`.
        program: String,
        /// The command line, shortened for display.
        args_summary: String,
        /// Exit status as text, e.g. `exit status: 1`.
        status: String,
        /// The last lines of the program's stderr (and stdout).
        stderr_tail: String,
    },

    /// The server did not start; the tail of its log usually says why.
    #[error(
        "PostgreSQL in {data_dir} (port {port}) did not start: {reason}{}",
        fmt_tail("server log", log_tail)
    )]
    StartFailed {
        /// The cluster's data directory.
        data_dir: PathBuf,
        /// The port it was to listen on.
        port: u16,
        /// Short cause (pg_ctl's own message).
        reason: String,
        /// The last lines of the server log.
        log_tail: String,
    },

    /// A file-system or process-spawning operation failed.
    #[error("{context}: {source}")]
    Io {
        /// What was being done, e.g. `writing /x/postgresql.auto.conf`.
        context: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },

    /// Something did not happen in time.
    #[error("timed out after {after:?} {what}")]
    Timeout {
        /// What was being waited for, e.g. `waiting for 127.0.0.1:5441 to accept connections`.
        what: String,
        /// The deadline that passed.
        after: Duration,
    },

    /// A SQL statement or connection failed.
    #[error("SQL against {target} failed: {source}")]
    Sql {
        /// Where the statement went (URL without credentials) and what it did.
        target: String,
        /// The underlying sqlx error.
        #[source]
        source: sqlx::Error,
    },

    /// The directory is not a PostgreSQL data directory (no `PG_VERSION`).
    #[error("{0} is not a PostgreSQL data directory (no PG_VERSION file) — initdb or pg_basebackup it first")]
    NotADataDir(PathBuf),

    /// A data directory to be created already holds files.
    #[error("{0} already exists and is not empty — remove it first or open it with Cluster::open")]
    DataDirNotEmpty(PathBuf),

    /// The operation needs a stopped cluster, but its postmaster is running.
    #[error("PostgreSQL in {data_dir} is running (pid {pid}) — stop it first")]
    Running {
        /// The cluster's data directory.
        data_dir: PathBuf,
        /// The postmaster's pid.
        pid: u32,
    },

    /// The operation needs a running cluster, but it is stopped.
    #[error("PostgreSQL in {0} is not running — start it first")]
    NotRunning(PathBuf),

    /// pg_rewind could not rewind the target; rebuild it with a fresh basebackup instead.
    #[error(
        "pg_rewind of {data_dir} failed — rebuild it from the new primary with a fresh \
         basebackup instead{}",
        fmt_tail("pg_rewind output", stderr_tail)
    )]
    RewindImpossible {
        /// The target data directory (may be unusable now).
        data_dir: PathBuf,
        /// The last lines of pg_rewind's output.
        stderr_tail: String,
    },

    /// An argument was rejected before anything was run (e.g. a slot name with spaces).
    #[error("invalid argument: {0}")]
    InvalidArgument(String),

    /// A program's output or a file could not be understood.
    #[error("could not parse {what}: {detail}")]
    Parse {
        /// What was being parsed.
        what: String,
        /// What was found instead.
        detail: String,
    },
}

fn fmt_tail(label: &str, tail: &str) -> String {
    let tail = tail.trim();
    if tail.is_empty() {
        String::new()
    } else {
        format!("\n--- {label} (last lines) ---\n{tail}")
    }
}

impl PgError {
    pub(crate) fn io(context: impl Into<String>, source: std::io::Error) -> PgError {
        PgError::Io {
            context: context.into(),
            source,
        }
    }
}

impl PgError {
    /// True when the server could not start because its port is taken (pick another).
    pub fn is_port_in_use(&self) -> bool {
        matches!(self, PgError::StartFailed { log_tail, .. }
            if log_tail.contains("Address already in use") || log_tail.contains("could not bind"))
    }
}
