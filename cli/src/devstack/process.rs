//! Detached child processes: each logs to its own file, runs with a cleared environment
//! plus an allow-list, records its pid, and outlives the pmctl that started it.

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use std::ffi::OsStr;
use std::fs::OpenOptions;
use std::io;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Environment variables a child keeps; everything else is cleared.
const ENV_ALLOW: &[&str] = &[
    "PATH",
    "HOME",
    "LANG",
    "LC_ALL",
    "TZ",
    "RUST_LOG",
    "RUST_BACKTRACE",
];

/// Starts `program args…` in its own process group (so a Ctrl-C to pmctl does not reach
/// it), stdin from /dev/null, stdout+stderr appended to `log`. Writes the pid to `pid_file`.
pub fn spawn_detached<I, S>(
    program: &Path,
    args: I,
    env: &[(&str, &str)],
    log: &Path,
    pid_file: &Path,
) -> io::Result<u32>
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    if let Some(dir) = log.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let out = OpenOptions::new().create(true).append(true).open(log)?;
    let err = out.try_clone()?;
    let mut cmd = Command::new(program);
    cmd.args(args)
        .env_clear()
        .stdin(Stdio::null())
        .stdout(Stdio::from(out))
        .stderr(Stdio::from(err))
        .process_group(0);
    for k in ENV_ALLOW {
        if let Ok(v) = std::env::var(k) {
            cmd.env(k, v);
        }
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    let child = cmd.spawn()?;
    let pid = child.id();
    // Dropping `Child` neither kills nor waits: the process lives on.
    drop(child);
    if let Some(dir) = pid_file.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(pid_file, format!("{pid}\n"))?;
    Ok(pid)
}

/// Reads a pid file; `None` when absent, unreadable or stale (process gone, or the pid
/// now belongs to a process whose command line lacks `expect`).
pub fn read_pid(pid_file: &Path, expect: &str) -> Option<u32> {
    let pid: u32 = std::fs::read_to_string(pid_file)
        .ok()?
        .trim()
        .parse()
        .ok()?;
    (alive(pid) && cmdline(pid).is_some_and(|c| c.contains(expect))).then_some(pid)
}

pub fn cmdline(pid: u32) -> Option<String> {
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .ok()
        .map(|b| String::from_utf8_lossy(&b).replace('\0', " "))
}

pub use crate::sys::alive;

/// The process is stopped by a signal (SIGSTOP: state `T`), i.e. frozen, not dead.
pub fn frozen(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|stat| {
            stat.rsplit_once(')')
                .and_then(|(_, rest)| rest.split_whitespace().next().map(|s| s == "T"))
        })
        .unwrap_or(false)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stopped {
    NotRunning,
    Gracefully,
    Killed,
}

/// SIGTERM, wait up to `grace`, then SIGKILL. Idempotent.
pub fn stop(pid: u32, grace: Duration) -> Stopped {
    if !alive(pid) {
        return Stopped::NotRunning;
    }
    let p = Pid::from_raw(pid as i32);
    // A stopped (SIGSTOPped by a drill) process cannot handle SIGTERM until continued.
    let _ = kill(p, Signal::SIGCONT);
    let _ = kill(p, Signal::SIGTERM);
    let deadline = Instant::now() + grace;
    while Instant::now() < deadline {
        if !alive(pid) {
            return Stopped::Gracefully;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = kill(p, Signal::SIGKILL);
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline && alive(pid) {
        std::thread::sleep(Duration::from_millis(20));
    }
    Stopped::Killed
}

pub fn signal(pid: u32, sig: Signal) -> nix::Result<()> {
    kill(Pid::from_raw(pid as i32), sig)
}

/// True when nothing listens on 127.0.0.1:`port` (we can bind it).
pub fn port_free(port: u16) -> bool {
    std::net::TcpListener::bind(("127.0.0.1", port)).is_ok()
}

/// `pid` and all its descendants (from /proc), parents first.
pub fn tree(pid: u32) -> Vec<u32> {
    let mut children: std::collections::HashMap<u32, Vec<u32>> = Default::default();
    if let Ok(rd) = std::fs::read_dir("/proc") {
        for e in rd.flatten() {
            let Some(p) = e.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else {
                continue;
            };
            if let Ok(stat) = std::fs::read_to_string(format!("/proc/{p}/stat")) {
                // Fields after the parenthesised name: state, ppid, …
                if let Some(ppid) = stat
                    .rsplit_once(')')
                    .and_then(|(_, rest)| rest.split_whitespace().nth(1))
                    .and_then(|x| x.parse::<u32>().ok())
                {
                    children.entry(ppid).or_default().push(p);
                }
            }
        }
    }
    let mut out = vec![pid];
    let mut i = 0;
    while i < out.len() {
        if let Some(c) = children.get(&out[i]) {
            out.extend(c);
        }
        i += 1;
    }
    out
}

/// Signals `pid` and every descendant: a whole PostgreSQL instance (postmaster and
/// backends) hangs with SIGSTOP or dies with SIGKILL, not just its postmaster.
///
/// The tree is frozen first (SIGSTOP, pass after pass until no new process appears): a
/// backend forked between listing the tree and killing the postmaster would otherwise
/// survive it, keep its pooled connection and go on committing on a "dead" writer.
pub fn signal_tree(pid: u32, sig: Signal) -> usize {
    if sig == Signal::SIGCONT {
        let pids = tree(pid);
        for p in &pids {
            let _ = kill(Pid::from_raw(*p as i32), sig);
        }
        return pids.len();
    }
    let mut stopped: Vec<u32> = Vec::new();
    for _ in 0..50 {
        let pids = tree(pid);
        let new: Vec<u32> = pids.into_iter().filter(|p| !stopped.contains(p)).collect();
        if new.is_empty() {
            break;
        }
        for p in new {
            let _ = kill(Pid::from_raw(p as i32), Signal::SIGSTOP);
            stopped.push(p);
        }
    }
    if sig != Signal::SIGSTOP {
        for p in &stopped {
            let _ = kill(Pid::from_raw(*p as i32), sig);
        }
    }
    stopped.len()
}
