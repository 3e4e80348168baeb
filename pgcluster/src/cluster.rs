//! One PostgreSQL cluster: a data directory, the port it listens on and its server log.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::sys::signal::{self, Signal};
use nix::unistd::Pid;

use crate::auth;
use crate::conf;
use crate::error::PgError;
use crate::pgbin::PgBin;
use crate::process::{self, tail_lines};

/// How long short administrative commands (initdb, psql, pg_controldata) may take.
const ADMIN_TIMEOUT: Duration = Duration::from_secs(300);
/// How long copying a whole cluster (pg_basebackup, pg_rewind) may take.
const COPY_TIMEOUT: Duration = Duration::from_secs(3600);
/// Extra time given to pg_ctl on top of its own `-t` deadline.
const PG_CTL_SLACK: Duration = Duration::from_secs(15);
/// Lines of server log / program output kept in errors.
const TAIL_LINES: usize = 30;

/// Options for [`Cluster::init`].
#[derive(Clone, Debug)]
pub struct InitOptions {
    /// TCP port on 127.0.0.1.
    pub port: u16,
    /// `synchronous_standby_names`, e.g. `Some("west".into())`: commits wait for that standby.
    pub synchronous_standby_names: Option<String>,
    /// Extra `postgresql.conf` settings, `(name, value)`; values are quoted for you.
    pub settings: Vec<(String, String)>,
    /// `fsync`; off makes throwaway test clusters much faster (and initdb skips its syncs).
    pub fsync: bool,
    /// The superuser's password. `Some`: TCP connections (replication too) need it
    /// (`scram-sha-256` in pg_hba.conf) and it is kept in `<data_dir>.pgpass` (see
    /// [`crate::passfile_for`]); `None`: trust authentication (throwaway test clusters).
    pub superuser_password: Option<String>,
}

impl Default for InitOptions {
    /// Port 5432, no synchronous standby, no extra settings, fsync on, trust authentication.
    fn default() -> Self {
        InitOptions {
            port: 5432,
            synchronous_standby_names: None,
            settings: Vec::new(),
            fsync: true,
            superuser_password: None,
        }
    }
}

/// How [`Cluster::stop`] shuts the server down (`pg_ctl stop -m`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StopMode {
    /// Wait for clients to disconnect.
    Smart,
    /// Disconnect clients, then a clean shutdown checkpoint.
    Fast,
    /// Quit at once: crash recovery at next start (like a power cut, minus the data loss).
    Immediate,
}

impl StopMode {
    fn as_str(self) -> &'static str {
        match self {
            StopMode::Smart => "smart",
            StopMode::Fast => "fast",
            StopMode::Immediate => "immediate",
        }
    }
}

/// Whether a cluster's postmaster is alive.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    /// The postmaster with this pid is alive (possibly stopped by SIGSTOP).
    Running {
        /// The postmaster's pid.
        pid: u32,
    },
    /// No live postmaster (no `postmaster.pid`, or a stale one).
    Stopped,
}

/// Options for [`Cluster::basebackup`].
#[derive(Clone, Debug)]
pub struct ReplicaOptions {
    /// TCP port of the new replica on 127.0.0.1.
    pub port: u16,
    /// Physical replication slot on the source, created when missing.
    pub slot: String,
    /// `application_name` the replica streams as (what `synchronous_standby_names` names).
    pub application_name: String,
}

/// A PostgreSQL data directory with its port, server log file (`<data_dir>.log`, beside
/// the data directory so base backups and pg_rewind neither copy nor overwrite it) and,
/// when it requires a password, its password file (`<data_dir>.pgpass`, see
/// [`crate::passfile_for`]): every program pgcluster runs for this cluster, and its WAL
/// receiver, authenticates with that file.
///
/// Cheap to clone; holds no process handle: the state lives in the data directory, so a
/// later `pmctl` invocation can [`Cluster::open`] the same cluster.
#[derive(Clone, Debug)]
pub struct Cluster {
    bin: PgBin,
    data_dir: PathBuf,
    port: u16,
    log_file: PathBuf,
    passfile: PathBuf,
}

impl Cluster {
    /// Creates a new cluster in `data_dir` (absent or empty) with `initdb` (superuser
    /// `postgres`, UTF8, C locale, data checksums so pg_rewind works) and configures it for
    /// streaming replication on 127.0.0.1 only: TCP only (no Unix sockets),
    /// `wal_level=replica`, `hot_standby`, `wal_log_hints`, `wal_init_zero=off`, `wal_keep_size=256MB`,
    /// `wal_retrieve_retry_interval=1s`, pg_hba
    /// admitting `all` and `replication` from 127.0.0.1/32 only — with `scram-sha-256`
    /// when [`InitOptions::superuser_password`] is set (the password is written to
    /// `<data_dir>.pgpass`), else `trust`.
    pub fn init(bin: &PgBin, data_dir: &Path, opts: &InitOptions) -> Result<Cluster, PgError> {
        for (name, value) in &opts.settings {
            conf::validate(name, value)?;
        }
        if let Some(names) = &opts.synchronous_standby_names {
            conf::validate("synchronous_standby_names", names)?;
        }
        if let Some(pw) = &opts.superuser_password {
            auth::validate_password(pw)?;
        }
        let cluster = Cluster::new(bin, data_dir, opts.port)?;
        cluster.prepare_empty_data_dir()?;
        let method = match opts.superuser_password {
            Some(_) => "scram-sha-256",
            None => "trust",
        };
        let mut cmd = bin.command("initdb");
        cmd.arg("-D")
            .arg(&cluster.data_dir)
            .args(["-U", "postgres", "-A", method, "-E", "UTF8", "--locale=C"])
            .arg("--data-checksums");
        if !opts.fsync {
            cmd.arg("--no-sync");
        }
        match &opts.superuser_password {
            Some(pw) => {
                // initdb reads the password from a file (never from its command line); it
                // sits beside the data directory only while initdb runs.
                let mut pwfile = cluster.data_dir.as_os_str().to_owned();
                pwfile.push(".pwfile");
                let pwfile = PathBuf::from(pwfile);
                auth::write_private(bin, &pwfile, format!("{pw}\n").as_bytes())?;
                cmd.arg(format!("--pwfile={}", pwfile.display()));
                let result = process::run(&mut cmd, "initdb", Some(ADMIN_TIMEOUT));
                let _ = std::fs::remove_file(&pwfile);
                result?;
                auth::write_passfile(bin, &cluster.data_dir, pw)?;
            }
            None => {
                process::run(&mut cmd, "initdb", Some(ADMIN_TIMEOUT))?;
            }
        }

        let main_conf = cluster.data_dir.join(conf::MAIN_CONF);
        let mut text = std::fs::read_to_string(&main_conf)
            .map_err(|e| PgError::io(format!("reading {}", main_conf.display()), e))?;
        text.push_str("\n# ---- written by pgcluster (pmctl) ----\n");
        let mut lines: Vec<(String, String)> = vec![
            ("listen_addresses".into(), "127.0.0.1".into()),
            ("port".into(), opts.port.to_string()),
            // TCP only: Unix socket paths are limited to 107 bytes and would need a
            // directory the postgres user can write; everything here connects over TCP.
            ("unix_socket_directories".into(), String::new()),
            ("wal_level".into(), "replica".into()),
            ("max_wal_senders".into(), "10".into()),
            ("max_replication_slots".into(), "10".into()),
            ("hot_standby".into(), "on".into()),
            ("wal_log_hints".into(), "on".into()),
            ("full_page_writes".into(), "on".into()),
            // A new WAL segment is not zero-filled first (16 MB written and fsync'd while
            // every commit waits on the WAL write lock — on the primary and again on the
            // synchronous standby). Measured at ~5 MB/s of WAL (rent-day load): 100–150 ms
            // commit stalls every few seconds with it on, none over 45 ms with it off, same
            // TPS. Ext4 allocates the blocks as WAL is written instead.
            ("wal_init_zero".into(), "off".into()),
            ("wal_keep_size".into(), "256MB".into()),
            // A standby retries its WAL source every second (default 5 s): after a healed
            // partition or a restarted writer, streaming — and with it synchronous commits —
            // resumes within about a second.
            ("wal_retrieve_retry_interval".into(), "1s".into()),
            ("fsync".into(), if opts.fsync { "on" } else { "off" }.into()),
            ("logging_collector".into(), "off".into()),
            ("log_line_prefix".into(), "%m [%p] %q%a ".into()),
            ("log_timezone".into(), "UTC".into()),
        ];
        if let Some(names) = &opts.synchronous_standby_names {
            lines.push(("synchronous_standby_names".into(), names.clone()));
        }
        lines.extend(opts.settings.iter().cloned());
        for (name, value) in &lines {
            text.push_str(&format!("{name} = {}\n", conf::quote(value)));
        }
        conf::write_data_file(bin, &main_conf, text.as_bytes())?;
        let hba = format!(
            "# written by pgcluster (pmctl): TCP from 127.0.0.1 only\n\
             # TYPE  DATABASE        USER            ADDRESS                 METHOD\n\
             host    all             all             127.0.0.1/32            {method}\n\
             host    replication     all             127.0.0.1/32            {method}\n"
        );
        conf::write_data_file(bin, &cluster.data_dir.join("pg_hba.conf"), hba.as_bytes())?;
        tracing::info!(data_dir = %cluster.data_dir.display(), port = opts.port, "initialised PostgreSQL cluster");
        Ok(cluster)
    }

    /// Opens an existing data directory; the port is read from its configuration
    /// (`postgresql.auto.conf` over `postgresql.conf`, default 5432).
    pub fn open(bin: &PgBin, data_dir: &Path) -> Result<Cluster, PgError> {
        let data_dir = absolute(data_dir)?;
        if !data_dir.join("PG_VERSION").is_file() {
            return Err(PgError::NotADataDir(data_dir));
        }
        let port = match conf::effective(&data_dir, "port")? {
            Some(p) => p.parse().map_err(|_| PgError::Parse {
                what: format!("port in {}", data_dir.display()),
                detail: p,
            })?,
            None => 5432,
        };
        Cluster::new(bin, &data_dir, port)
    }

    /// Creates a streaming hot-standby replica of the server at `source_host:source_port`
    /// (possibly a proxy in front of it: the replica will stream from exactly there) with
    /// `pg_basebackup -X stream --checkpoint=fast -R`, after creating the physical slot
    /// `opts.slot` on the source if missing. In the replica's `postgresql.auto.conf`:
    /// `port`, `primary_conninfo` (with `application_name`), `primary_slot_name`, and
    /// `synchronous_standby_names = ''` (copied from the source otherwise: once promoted,
    /// the replica would wait for a standby naming itself; set it again when the promoted
    /// server gets a standby). When the source needs a password, write it first with
    /// [`crate::write_passfile`] for `data_dir`: the copy and the replica's WAL receiver
    /// authenticate with that file.
    pub fn basebackup(
        bin: &PgBin,
        source_host: &str,
        source_port: u16,
        data_dir: &Path,
        opts: &ReplicaOptions,
    ) -> Result<Cluster, PgError> {
        validate_slot(&opts.slot)?;
        validate_application_name(&opts.application_name)?;
        let cluster = Cluster::new(bin, data_dir, opts.port)?;
        cluster.ensure_empty()?;
        create_slot(&cluster, source_host, source_port, &opts.slot)?;
        cluster.prepare_empty_data_dir()?;
        let mut cmd = bin.command("pg_basebackup");
        cmd.arg("-d")
            .arg(cluster.conninfo(source_host, source_port, None, None))
            .arg("-D")
            .arg(&cluster.data_dir)
            .args(["-X", "stream", "--checkpoint=fast", "-R", "--no-password"])
            .arg(format!("--slot={}", opts.slot));
        process::run(&mut cmd, "pg_basebackup", Some(COPY_TIMEOUT))?;
        let port = opts.port.to_string();
        let primary = cluster.conninfo(
            source_host,
            source_port,
            None,
            Some(opts.application_name.as_str()),
        );
        conf::edit_auto_conf(
            bin,
            &cluster.data_dir,
            &[
                ("port", Some(&port)),
                ("primary_conninfo", Some(&primary)),
                ("primary_slot_name", Some(&opts.slot)),
                ("synchronous_standby_names", Some("")),
            ],
        )?;
        cluster.write_standby_signal()?;
        tracing::info!(
            data_dir = %cluster.data_dir.display(),
            source = %format!("{source_host}:{source_port}"),
            slot = %opts.slot,
            "created replica with pg_basebackup"
        );
        Ok(cluster)
    }

    fn new(bin: &PgBin, data_dir: &Path, port: u16) -> Result<Cluster, PgError> {
        let data_dir = absolute(data_dir)?;
        let name = data_dir.file_name().ok_or_else(|| {
            PgError::InvalidArgument(format!("{} cannot be a data directory", data_dir.display()))
        })?;
        let mut log_name = name.to_os_string();
        log_name.push(".log");
        let log_file = data_dir.with_file_name(log_name);
        let passfile = auth::passfile_for(&data_dir);
        Ok(Cluster {
            bin: bin.clone(),
            data_dir,
            port,
            log_file,
            passfile,
        })
    }

    fn ensure_empty(&self) -> Result<(), PgError> {
        match std::fs::read_dir(&self.data_dir) {
            Ok(mut entries) => {
                if entries.next().is_some() {
                    return Err(PgError::DataDirNotEmpty(self.data_dir.clone()));
                }
                Ok(())
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(PgError::io(
                format!("reading {}", self.data_dir.display()),
                e,
            )),
        }
    }

    /// Creates the (empty) data directory, owned by postgres, mode 0700.
    fn prepare_empty_data_dir(&self) -> Result<(), PgError> {
        self.ensure_empty()?;
        self.bin.prepare_path_for_postgres(&self.data_dir)?;
        std::fs::set_permissions(&self.data_dir, std::fs::Permissions::from_mode(0o700))
            .map_err(|e| PgError::io(format!("chmod 0700 {}", self.data_dir.display()), e))
    }

    /// Starts the server (`pg_ctl start -w`) and waits until it accepts connections (a
    /// standby: until it is consistent). Already running is Ok. The postmaster detaches
    /// (its own session), so it outlives the calling process. A leftover `postmaster.pid`
    /// of a dead postmaster is removed first; a start refused because the processes of a
    /// killed postmaster still hold its shared memory is retried until `timeout`. On
    /// failure the error holds the end of the server log; a server not ready in time is
    /// stopped again.
    pub fn start(&self, timeout: Duration) -> Result<(), PgError> {
        if let Status::Running { .. } = self.status()? {
            return Ok(());
        }
        self.remove_stale_pid_file()?;
        self.prepare_log_file()?;
        let started = Instant::now();
        loop {
            let log_offset = std::fs::metadata(&self.log_file)
                .map(|m| m.len())
                .unwrap_or(0);
            let remaining = timeout.saturating_sub(started.elapsed());
            let mut cmd = self.bin.command("pg_ctl");
            cmd.arg("start")
                .arg("-D")
                .arg(&self.data_dir)
                .arg("-l")
                .arg(&self.log_file)
                .arg("-w")
                .arg("-t")
                .arg(secs_arg(remaining));
            let (status, output) =
                process::run_raw(&mut cmd, "pg_ctl", Some(remaining + PG_CTL_SLACK))?;
            if status.success() {
                tracing::info!(data_dir = %self.data_dir.display(), port = self.port, "PostgreSQL started");
                return Ok(());
            }
            let log_tail = self.log_since(log_offset);
            let out = output.tail(5);
            if out.contains("did not start in time") {
                let _ = self.stop(StopMode::Immediate, Duration::from_secs(30));
                return Err(PgError::StartFailed {
                    data_dir: self.data_dir.clone(),
                    port: self.port,
                    reason: format!(
                        "not ready within {timeout:?}, stopped it again (a standby becomes \
                         ready once consistent: is its primary reachable?)"
                    ),
                    log_tail,
                });
            }
            let retryable = is_leftover_of_killed_postmaster(&log_tail);
            if retryable && started.elapsed() + Duration::from_millis(250) < timeout {
                tracing::debug!(data_dir = %self.data_dir.display(), "previous postmaster's processes still exiting; retrying start");
                std::thread::sleep(Duration::from_millis(250));
                self.remove_stale_pid_file()?;
                continue;
            }
            return Err(PgError::StartFailed {
                data_dir: self.data_dir.clone(),
                port: self.port,
                reason: out.lines().last().unwrap_or("pg_ctl failed").to_string(),
                log_tail,
            });
        }
    }

    /// Stops the server (`pg_ctl stop -m MODE -w`); already stopped is Ok. A postmaster
    /// paused with SIGSTOP is sent SIGCONT first (it could not shut down otherwise).
    pub fn stop(&self, mode: StopMode, timeout: Duration) -> Result<(), PgError> {
        let Status::Running { pid } = self.status()? else {
            return Ok(());
        };
        let _ = signal::kill(Pid::from_raw(pid as i32), Signal::SIGCONT);
        let mut cmd = self.bin.command("pg_ctl");
        cmd.arg("stop")
            .arg("-D")
            .arg(&self.data_dir)
            .args(["-m", mode.as_str(), "-w", "-t"])
            .arg(secs_arg(timeout));
        let (status, output) = process::run_raw(&mut cmd, "pg_ctl", Some(timeout + PG_CTL_SLACK))?;
        if status.success() || self.status()? == Status::Stopped {
            tracing::info!(data_dir = %self.data_dir.display(), mode = mode.as_str(), "PostgreSQL stopped");
            return Ok(());
        }
        if output.tail(5).contains("does not shut down") {
            return Err(PgError::Timeout {
                what: format!(
                    "waiting for PostgreSQL in {} to stop ({} mode)",
                    self.data_dir.display(),
                    mode.as_str()
                ),
                after: timeout,
            });
        }
        Err(process::command_error(&cmd, "pg_ctl", status, &output))
    }

    /// Whether the postmaster is alive: the pid in `postmaster.pid` exists (kill 0), is not
    /// a zombie and is a postgres process — not just whether the file exists.
    pub fn status(&self) -> Result<Status, PgError> {
        match self.pid_file_pid()? {
            Some(pid) if pid_alive(pid) => Ok(Status::Running { pid }),
            _ => Ok(Status::Stopped),
        }
    }

    /// Sends `signal` to the postmaster (drills: SIGKILL, SIGSTOP, SIGCONT; SIGHUP reloads).
    /// Error [`PgError::NotRunning`] when it is not running.
    pub fn kill(&self, signal: Signal) -> Result<(), PgError> {
        let Status::Running { pid } = self.status()? else {
            return Err(PgError::NotRunning(self.data_dir.clone()));
        };
        match signal::kill(Pid::from_raw(pid as i32), signal) {
            Ok(()) => Ok(()),
            Err(Errno::ESRCH) => Err(PgError::NotRunning(self.data_dir.clone())),
            Err(e) => Err(PgError::io(
                format!("sending {signal} to postmaster {pid}"),
                e.into(),
            )),
        }
    }

    /// Promotes a standby to primary (`pg_ctl promote -w`), waiting until it accepts
    /// writes. Ok when it already is a primary (no `standby.signal`).
    pub fn promote(&self, timeout: Duration) -> Result<(), PgError> {
        if !self.is_standby() {
            return Ok(());
        }
        if self.status()? == Status::Stopped {
            return Err(PgError::NotRunning(self.data_dir.clone()));
        }
        let mut cmd = self.bin.command("pg_ctl");
        cmd.arg("promote")
            .arg("-D")
            .arg(&self.data_dir)
            .args(["-w", "-t"])
            .arg(secs_arg(timeout));
        let (status, output) = process::run_raw(&mut cmd, "pg_ctl", Some(timeout + PG_CTL_SLACK))?;
        let out = output.tail(5);
        if status.success() || out.contains("not in standby mode") {
            tracing::info!(data_dir = %self.data_dir.display(), "promoted to primary");
            return Ok(());
        }
        if out.contains("did not promote in time") {
            return Err(PgError::Timeout {
                what: format!("waiting for {} to be promoted", self.data_dir.display()),
                after: timeout,
            });
        }
        Err(process::command_error(&cmd, "pg_ctl", status, &output))
    }

    /// Makes this cluster a standby of `host:port`: writes `primary_conninfo` (with
    /// `application_name`) and `primary_slot_name` to `postgresql.auto.conf` and creates
    /// `standby.signal`. Meant for a stopped cluster (start it afterwards; the slot must
    /// exist on the primary, see [`crate::ensure_physical_slot`]); a running standby is
    /// re-pointed with a reload. A running primary is refused ([`PgError::Running`]).
    pub fn set_primary(
        &self,
        host: &str,
        port: u16,
        slot: &str,
        application_name: &str,
    ) -> Result<(), PgError> {
        validate_slot(slot)?;
        validate_application_name(application_name)?;
        let status = self.status()?;
        if let Status::Running { pid } = status {
            if !self.is_standby() {
                return Err(PgError::Running {
                    data_dir: self.data_dir.clone(),
                    pid,
                });
            }
        }
        let primary = self.conninfo(host, port, None, Some(application_name));
        conf::edit_auto_conf(
            &self.bin,
            &self.data_dir,
            &[
                ("primary_conninfo", Some(&primary)),
                ("primary_slot_name", Some(slot)),
            ],
        )?;
        self.write_standby_signal()?;
        if let Status::Running { .. } = status {
            self.kill(Signal::SIGHUP)?;
        }
        Ok(())
    }

    /// Rewinds this (stopped) cluster's data to the timeline of the server at
    /// `source_host:source_port` with `pg_rewind`, so it can follow it as a standby.
    ///
    /// Before: a cluster that was not shut down cleanly (crash, SIGKILL, immediate stop)
    /// is taken through crash recovery in single-user mode, as pg_rewind requires; the
    /// source gets a `CHECKPOINT` (a freshly promoted server's control file still names
    /// the old timeline until one completes, and pg_rewind would wrongly find nothing to
    /// do). After: this cluster's own configuration files (`postgresql.conf`,
    /// `postgresql.auto.conf`, `pg_hba.conf`, `pg_ident.conf`) are restored — pg_rewind
    /// copies the source's, port included — and `standby.signal` is written so the
    /// rewound cluster cannot start as a second primary: call [`Cluster::set_primary`]
    /// before starting it. When pg_rewind itself fails the error is
    /// [`PgError::RewindImpossible`]: rebuild with [`Cluster::basebackup`] instead.
    pub fn rewind(&self, source_host: &str, source_port: u16) -> Result<(), PgError> {
        if let Status::Running { pid } = self.status()? {
            return Err(PgError::Running {
                data_dir: self.data_dir.clone(),
                pid,
            });
        }
        if !self.data_dir.join("PG_VERSION").is_file() {
            return Err(PgError::NotADataDir(self.data_dir.clone()));
        }
        self.remove_stale_pid_file()?;
        let state = self.control_state()?;
        if state != "shut down" && state != "shut down in recovery" {
            tracing::info!(data_dir = %self.data_dir.display(), %state, "not shut down cleanly; running crash recovery in single-user mode before pg_rewind");
            self.single_user_recovery()?;
        }
        psql(self, source_host, source_port, "CHECKPOINT")?;

        let saved = self.save_config_files()?;
        let mut cmd = self.bin.command("pg_rewind");
        cmd.arg("--target-pgdata")
            .arg(&self.data_dir)
            .arg("--source-server")
            .arg(self.conninfo(source_host, source_port, Some("postgres"), None));
        let result = process::run_raw(&mut cmd, "pg_rewind", Some(COPY_TIMEOUT));
        let restored = self.restore_config_files(&saved);
        let (status, output) = result?;
        restored?;
        if !status.success() {
            let tail = output.tail(TAIL_LINES);
            if tail.contains("could not connect") || tail.contains("connection to server") {
                return Err(process::command_error(&cmd, "pg_rewind", status, &output));
            }
            return Err(PgError::RewindImpossible {
                data_dir: self.data_dir.clone(),
                stderr_tail: tail,
            });
        }
        self.write_standby_signal()?;
        tracing::info!(data_dir = %self.data_dir.display(), source = %format!("{source_host}:{source_port}"), "pg_rewind done");
        Ok(())
    }

    /// Sets `name = value` in `postgresql.auto.conf` (the file ALTER SYSTEM writes, same
    /// format), running or not, and reloads a running server (SIGHUP). Chosen over ALTER
    /// SYSTEM so it works on stopped clusters and standbys and needs no connection.
    /// Settings that need a restart (e.g. `port`, `wal_level`) apply at the next start;
    /// [`Cluster`] values keep the port they were built with (use [`Cluster::set_port`]).
    pub fn set_setting(&self, name: &str, value: &str) -> Result<(), PgError> {
        conf::edit_auto_conf(&self.bin, &self.data_dir, &[(name, Some(value))])?;
        if let Status::Running { .. } = self.status()? {
            self.kill(Signal::SIGHUP)?;
        }
        Ok(())
    }

    /// Removes `name` from `postgresql.auto.conf` (falls back to `postgresql.conf`) and
    /// reloads a running server.
    pub fn reset_setting(&self, name: &str) -> Result<(), PgError> {
        conf::edit_auto_conf(&self.bin, &self.data_dir, &[(name, None)])?;
        if let Status::Running { .. } = self.status()? {
            self.kill(Signal::SIGHUP)?;
        }
        Ok(())
    }

    /// Changes the port of a stopped cluster (written to `postgresql.auto.conf`).
    pub fn set_port(&mut self, port: u16) -> Result<(), PgError> {
        if let Status::Running { pid } = self.status()? {
            return Err(PgError::Running {
                data_dir: self.data_dir.clone(),
                pid,
            });
        }
        self.set_setting("port", &port.to_string())?;
        self.port = port;
        Ok(())
    }

    /// `postgres://postgres@127.0.0.1:PORT/db`, with the password from `<data_dir>.pgpass`
    /// when there is one (`postgres://postgres:PASSWORD@…`): a secret, keep it out of logs.
    pub fn url(&self, db: &str) -> String {
        match self.password().ok().flatten() {
            Some(pw) => format!(
                "postgres://postgres:{}@127.0.0.1:{}/{db}",
                percent_encode(&pw),
                self.port
            ),
            None => format!("postgres://postgres@127.0.0.1:{}/{db}", self.port),
        }
    }

    /// The superuser password kept in `<data_dir>.pgpass`; `None` without that file.
    pub fn password(&self) -> Result<Option<String>, PgError> {
        auth::read_password(&self.data_dir)
    }

    /// `<data_dir>.pgpass` (it may not exist: trust authentication).
    pub fn passfile(&self) -> &Path {
        &self.passfile
    }

    /// The TCP port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The (absolute) data directory.
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// The server log, `<data_dir>.log`.
    pub fn log_file(&self) -> &Path {
        &self.log_file
    }

    /// The binaries this cluster runs with.
    pub fn bin(&self) -> &PgBin {
        &self.bin
    }

    /// The live postmaster's pid, if running.
    pub fn pid(&self) -> Option<u32> {
        match self.status() {
            Ok(Status::Running { pid }) => Some(pid),
            _ => None,
        }
    }

    /// True when `standby.signal` exists: the server starts (or runs) as a standby.
    pub fn is_standby(&self) -> bool {
        self.data_dir.join("standby.signal").exists()
    }

    /// Why this standby cannot follow its primary's timeline, in PostgreSQL's own words,
    /// when that is the last thing its current run (the log since the last `starting
    /// PostgreSQL`) says about replication: `requested timeline N is not a child of this
    /// server's history` (it then refuses to start) or `new timeline N forked off current
    /// database system timeline M before current recovery point …` (it runs, never
    /// streams). It happens to a former primary that wrote WAL its successor never
    /// received (e.g. its shutdown checkpoint during a partition): rebuild it with
    /// [`Cluster::rewind`] (or a fresh [`Cluster::basebackup`]). `None` when streaming
    /// started after the last such message, or there is none.
    pub fn timeline_divergence(&self) -> Option<String> {
        const DIVERGED: [&str; 3] = [
            "is not a child of this server's history",
            "forked off current database system timeline",
            "is not in this server's history",
        ];
        const FOLLOWING: &str = "started streaming WAL from primary";
        let text = self.log_end(256 * 1024);
        let run = match text.rfind("starting PostgreSQL") {
            Some(i) => &text[i..],
            None => &text[..],
        };
        let lines: Vec<&str> = run.lines().collect();
        let last = lines
            .iter()
            .rposition(|l| l.contains(FOLLOWING) || DIVERGED.iter().any(|d| l.contains(d)))?;
        if lines[last].contains(FOLLOWING) {
            return None;
        }
        // Without the log line prefix (time, pid): from the severity on.
        let message = |line: &str| {
            ["FATAL:", "ERROR:", "LOG:", "DETAIL:"]
                .iter()
                .filter_map(|sev| line.find(sev))
                .min()
                .map_or(line, |i| &line[i..])
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" ")
        };
        let mut why = message(lines[last]);
        if let Some(detail) = lines.get(last + 1).filter(|l| l.contains("DETAIL:")) {
            why.push('\n');
            why.push_str(&message(detail));
        }
        Some(why)
    }

    /// The last `lines` lines of the server log (empty if there is none yet).
    pub fn log_tail(&self, lines: usize) -> String {
        std::fs::read(&self.log_file)
            .map(|b| tail_lines(&String::from_utf8_lossy(&b), lines))
            .unwrap_or_default()
    }

    // ---- internals ----

    fn pid_file_pid(&self) -> Result<Option<u32>, PgError> {
        let path = self.data_dir.join("postmaster.pid");
        match std::fs::read_to_string(&path) {
            Ok(text) => Ok(text.lines().next().and_then(|l| l.trim().parse().ok())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(PgError::io(format!("reading {}", path.display()), e)),
        }
    }

    /// Removes `postmaster.pid` when it names a dead process (e.g. after SIGKILL, when the
    /// dead postmaster is an unreaped zombie, PostgreSQL itself would refuse to start).
    fn remove_stale_pid_file(&self) -> Result<(), PgError> {
        if let Some(pid) = self.pid_file_pid()? {
            if !pid_alive(pid) {
                let path = self.data_dir.join("postmaster.pid");
                tracing::debug!(pid, path = %path.display(), "removing stale postmaster.pid");
                match std::fs::remove_file(&path) {
                    Ok(()) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => return Err(PgError::io(format!("removing {}", path.display()), e)),
                }
            }
        }
        Ok(())
    }

    fn prepare_log_file(&self) -> Result<(), PgError> {
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log_file)
            .map_err(|e| PgError::io(format!("creating {}", self.log_file.display()), e))?;
        self.bin.chown_to_postgres(&self.log_file)
    }

    /// The last `max` bytes of the server log, lossily decoded.
    fn log_end(&self, max: u64) -> String {
        use std::io::{Read, Seek, SeekFrom};
        let Ok(mut f) = std::fs::File::open(&self.log_file) else {
            return String::new();
        };
        let len = f.metadata().map(|m| m.len()).unwrap_or(0);
        let mut bytes = Vec::new();
        if f.seek(SeekFrom::Start(len.saturating_sub(max))).is_err()
            || f.read_to_end(&mut bytes).is_err()
        {
            return String::new();
        }
        String::from_utf8_lossy(&bytes).into_owned()
    }

    fn log_since(&self, offset: u64) -> String {
        let Ok(bytes) = std::fs::read(&self.log_file) else {
            return String::new();
        };
        let start = if (offset as usize) <= bytes.len() {
            offset as usize
        } else {
            0
        };
        tail_lines(&String::from_utf8_lossy(&bytes[start..]), TAIL_LINES)
    }

    fn write_standby_signal(&self) -> Result<(), PgError> {
        let path = self.data_dir.join("standby.signal");
        if path.exists() {
            return Ok(());
        }
        conf::write_data_file(&self.bin, &path, b"")
    }

    /// `Database cluster state` from pg_controldata, e.g. `shut down`, `in production`.
    fn control_state(&self) -> Result<String, PgError> {
        let mut cmd = self.bin.command("pg_controldata");
        cmd.arg("-D").arg(&self.data_dir);
        let out = process::run(&mut cmd, "pg_controldata", Some(ADMIN_TIMEOUT))?;
        out.stdout
            .lines()
            .find_map(|l| l.strip_prefix("Database cluster state:"))
            .map(|s| s.trim().to_string())
            .ok_or_else(|| PgError::Parse {
                what: "pg_controldata output".into(),
                detail: tail_lines(&out.stdout, 5),
            })
    }

    /// Crash recovery + shutdown checkpoint in single-user mode (what pg_rewind needs).
    /// Signal files are moved aside: single-user mode refuses standby mode.
    fn single_user_recovery(&self) -> Result<(), PgError> {
        let signals = ["standby.signal", "recovery.signal"];
        let mut moved = Vec::new();
        for name in signals {
            let path = self.data_dir.join(name);
            if path.exists() {
                let aside = self.data_dir.join(format!("{name}.pgcluster-aside"));
                std::fs::rename(&path, &aside)
                    .map_err(|e| PgError::io(format!("moving {} aside", path.display()), e))?;
                moved.push((aside, path));
            }
        }
        let started = Instant::now();
        let result = loop {
            let mut cmd = self.bin.command("postgres");
            cmd.args(["--single", "-F", "-D"])
                .arg(&self.data_dir)
                .arg("template1");
            match process::run(&mut cmd, "postgres --single", Some(COPY_TIMEOUT)) {
                Err(PgError::Command { stderr_tail, .. })
                    if is_leftover_of_killed_postmaster(&stderr_tail)
                        && started.elapsed() < Duration::from_secs(20) =>
                {
                    std::thread::sleep(Duration::from_millis(250));
                    self.remove_stale_pid_file()?;
                }
                other => break other,
            }
        };
        for (aside, path) in moved {
            std::fs::rename(&aside, &path)
                .map_err(|e| PgError::io(format!("restoring {}", path.display()), e))?;
        }
        result.map(|_| ())
    }

    fn save_config_files(&self) -> Result<Vec<(PathBuf, Vec<u8>)>, PgError> {
        let mut saved = Vec::new();
        for name in [
            conf::MAIN_CONF,
            conf::AUTO_CONF,
            "pg_hba.conf",
            "pg_ident.conf",
        ] {
            let path = self.data_dir.join(name);
            match std::fs::read(&path) {
                Ok(bytes) => saved.push((path, bytes)),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(PgError::io(format!("reading {}", path.display()), e)),
            }
        }
        Ok(saved)
    }

    fn restore_config_files(&self, saved: &[(PathBuf, Vec<u8>)]) -> Result<(), PgError> {
        for (path, bytes) in saved {
            if std::fs::read(path).ok().as_deref() != Some(bytes.as_slice()) {
                conf::write_data_file(&self.bin, path, bytes)?;
            }
        }
        Ok(())
    }
}

fn absolute(path: &Path) -> Result<PathBuf, PgError> {
    std::path::absolute(path).map_err(|e| PgError::io(format!("resolving {}", path.display()), e))
}

/// True when PostgreSQL refused to start because processes of a killed postmaster still
/// hold its shared memory or lock file (they exit within moments).
fn is_leftover_of_killed_postmaster(log: &str) -> bool {
    log.contains("pre-existing shared memory block")
        || (log.contains("lock file") && log.contains("already exists"))
}

/// Whole seconds for pg_ctl's `-t`, at least 1.
fn secs_arg(d: Duration) -> String {
    let secs = d.as_secs() + u64::from(d.subsec_nanos() > 0);
    secs.max(1).to_string()
}

/// True when `pid` is a live (not zombie) process that looks like PostgreSQL.
fn pid_alive(pid: u32) -> bool {
    let Ok(raw) = i32::try_from(pid) else {
        return false;
    };
    if raw <= 0 {
        return false;
    }
    match signal::kill(Pid::from_raw(raw), None) {
        Ok(()) | Err(Errno::EPERM) => {}
        Err(_) => return false,
    }
    // Linux: a zombie answers kill 0; a recycled pid belongs to something else.
    if let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        if let Some(state) = stat
            .rsplit(')')
            .next()
            .and_then(|r| r.split_whitespace().next())
        {
            if state == "Z" || state == "X" {
                return false;
            }
        }
    }
    if let Ok(cmdline) = std::fs::read(format!("/proc/{pid}/cmdline")) {
        let cmdline = String::from_utf8_lossy(&cmdline);
        // The program's own name (the postmaster's argv[0], or a backend's retitled
        // `postgres: …`), not any argument: a program merely given a path or an argument
        // containing "postgres" is not PostgreSQL.
        let program = cmdline.split(['\0', ' ']).next().unwrap_or("");
        let name = program.rsplit('/').next().unwrap_or("");
        if !cmdline.is_empty() && !name.starts_with("postgres") && !name.starts_with("postmaster") {
            return false;
        }
    }
    true
}

impl Cluster {
    /// A connection string to `host:port` as `postgres`, authenticating with this cluster's
    /// password file when it has one.
    fn conninfo(
        &self,
        host: &str,
        port: u16,
        dbname: Option<&str>,
        application_name: Option<&str>,
    ) -> String {
        let passfile = self.passfile.is_file().then_some(self.passfile.as_path());
        conninfo(host, port, dbname, application_name, passfile)
    }
}

/// A libpq connection string for the server at `host:port` as user `postgres`.
fn conninfo(
    host: &str,
    port: u16,
    dbname: Option<&str>,
    application_name: Option<&str>,
    passfile: Option<&Path>,
) -> String {
    let mut parts = vec![
        format!("host={}", conninfo_value(host)),
        format!("port={port}"),
        "user=postgres".to_string(),
        "connect_timeout=10".to_string(),
    ];
    if let Some(db) = dbname {
        parts.push(format!("dbname={}", conninfo_value(db)));
    }
    if let Some(app) = application_name {
        parts.push(format!("application_name={}", conninfo_value(app)));
    }
    if let Some(file) = passfile {
        parts.push(format!(
            "passfile={}",
            conninfo_value(&file.to_string_lossy())
        ));
    }
    parts.join(" ")
}

/// Percent-encodes everything but RFC 3986 unreserved characters (for a URL's userinfo).
fn percent_encode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

fn conninfo_value(v: &str) -> String {
    if !v.is_empty() && !v.contains([' ', '\'', '\\', '=']) {
        return v.to_string();
    }
    let mut s = String::from("'");
    for c in v.chars() {
        if c == '\'' || c == '\\' {
            s.push('\\');
        }
        s.push(c);
    }
    s.push('\'');
    s
}

fn validate_slot(slot: &str) -> Result<(), PgError> {
    let ok = !slot.is_empty()
        && slot.len() <= 63
        && slot
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if ok {
        Ok(())
    } else {
        Err(PgError::InvalidArgument(format!(
            "replication slot name {slot:?} must be 1-63 characters of a-z, 0-9 and _"
        )))
    }
}

fn validate_application_name(name: &str) -> Result<(), PgError> {
    let ok = !name.is_empty() && name.len() <= 63 && name.chars().all(|c| c.is_ascii_graphic());
    if ok {
        Ok(())
    } else {
        Err(PgError::InvalidArgument(format!(
            "application_name {name:?} must be 1-63 printable ASCII characters without spaces"
        )))
    }
}

/// Runs one SQL command with psql against `host:port` (database postgres), authenticating
/// with `cluster`'s password file.
fn psql(cluster: &Cluster, host: &str, port: u16, sql: &str) -> Result<String, PgError> {
    let mut cmd = cluster.bin.command("psql");
    cmd.args(["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-d"])
        .arg(cluster.conninfo(host, port, Some("postgres"), Some("pgcluster")))
        .arg("-c")
        .arg(sql);
    Ok(process::run(&mut cmd, "psql", Some(ADMIN_TIMEOUT))?.stdout)
}

/// Creates the physical slot `slot` (reserving WAL now) on `host:port` unless it exists.
fn create_slot(cluster: &Cluster, host: &str, port: u16, slot: &str) -> Result<(), PgError> {
    validate_slot(slot)?;
    let sql = format!(
        "SELECT pg_create_physical_replication_slot('{slot}', true) \
         WHERE NOT EXISTS (SELECT 1 FROM pg_replication_slots WHERE slot_name = '{slot}')"
    );
    match psql(cluster, host, port, &sql) {
        Err(PgError::Command { stderr_tail, .. }) if stderr_tail.contains("already exists") => {
            Ok(())
        }
        other => other.map(|_| ()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conninfo_quotes_values() {
        assert_eq!(
            conninfo("127.0.0.1", 5441, None, Some("west"), None),
            "host=127.0.0.1 port=5441 user=postgres connect_timeout=10 application_name=west"
        );
        assert_eq!(
            conninfo("h", 1, None, None, Some(Path::new("/s/east/pg.pgpass"))),
            "host=h port=1 user=postgres connect_timeout=10 passfile=/s/east/pg.pgpass"
        );
        assert_eq!(percent_encode("a b:c"), "a%20b%3Ac");
        assert_eq!(conninfo_value("a b'c"), "'a b\\'c'");
        assert_eq!(conninfo_value(""), "''");
    }

    #[test]
    fn secs_round_up() {
        assert_eq!(secs_arg(Duration::from_millis(1500)), "2");
        assert_eq!(secs_arg(Duration::ZERO), "1");
        assert_eq!(secs_arg(Duration::from_secs(30)), "30");
    }

    #[test]
    fn slot_names() {
        assert!(validate_slot("east_1").is_ok());
        assert!(validate_slot("East").is_err());
        assert!(validate_slot("a'b").is_err());
        assert!(validate_slot("").is_err());
    }

    #[test]
    fn own_process_is_alive_only_if_postgres() {
        // This test binary is not PostgreSQL, so its pid counts as stale.
        assert!(!pid_alive(std::process::id()));
        assert!(!pid_alive(0));
        assert!(!pid_alive(u32::MAX));
    }
}
