//! Spawn and control real PostgreSQL clusters: `initdb`, start/stop, streaming hot-standby
//! replicas (`pg_basebackup`), promotion, `pg_rewind` for failback, and a test harness.
//!
//! `pmctl dev up` builds its local two-region stack with [`Cluster`]; integration tests use
//! [`TestCluster`]. Everything listens on 127.0.0.1 only, over TCP (no Unix sockets).
//!
//! # Finding the binaries
//! [`PgBin::locate`] uses `$PMCTL_PG_BINDIR` when set (and then only that directory), else
//! the highest `/usr/lib/postgresql/<major>/bin` (Debian/Ubuntu; note Debian's
//! `pg_config --bindir` says `/usr/bin`, which holds no `initdb`), else `pg_config --bindir`
//! if it holds `initdb`, else `$PATH`. When none is found the error says how to install
//! them (`apt-get install postgresql`).
//!
//! # Running as root
//! PostgreSQL refuses to run as root. When the effective uid is 0, every PostgreSQL
//! program runs as the `postgres` user through `runuser -u postgres -- <program> …`
//! ([`PgBin::command`]), data directories are created by us and chowned to `postgres`
//! (mode 0700), log files are pre-created and chowned, files we write inside a data
//! directory are chowned back to `postgres`, and ancestors of a data directory that
//! `postgres` could not traverse get `o+x` ([`PgBin::prepare_path_for_postgres`]; e.g. a
//! 0700 temp dir). Programs run with `/` as working directory, `LC_ALL=C`, and without
//! the caller's `PG*` environment variables. As a normal user everything runs as that
//! user and no ownership is changed.
//!
//! # Layout
//! A cluster is its data directory plus `<data_dir>.log` beside it (outside the data
//! directory, so pg_basebackup and pg_rewind neither copy nor clobber it). The port lives
//! in the configuration files, so [`Cluster::open`] finds it again in a later process.
//!
//! # Blocking
//! [`Cluster`] and [`PgBin`] methods block (they run programs and poll with deadlines);
//! from async code call them through `tokio::task::spawn_blocking` when other tasks must
//! keep running meanwhile. The SQL helpers ([`wait_ready`], [`replication_status`], …) are
//! async (sqlx), one short-lived connection per call.
#![warn(missing_docs)]

mod auth;
mod cluster;
mod conf;
mod error;
mod pgbin;
mod process;
mod sql;
mod testing;

pub use auth::{passfile_for, read_password, write_passfile};
pub use cluster::{Cluster, InitOptions, ReplicaOptions, Status, StopMode};
pub use error::PgError;
pub use pgbin::{PgBin, BINDIR_ENV};
pub use sql::{
    current_wal_lsn, drop_slot, ensure_physical_slot, format_lsn, is_in_recovery, last_replay_lsn,
    lsn_diff_bytes, parse_lsn, replication_status, wait_ready, ReplicationInfo,
};
pub use testing::{free_port, TestCluster};

/// Re-exported so callers can name signals for [`Cluster::kill`] without depending on nix.
pub use nix::sys::signal::Signal;
