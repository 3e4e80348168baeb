//! Running a program to completion with a deadline, capturing its output.

use std::io::Read;
use std::os::unix::process::CommandExt;
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;

use crate::error::PgError;

/// Captured output of a finished program.
#[derive(Debug, Default)]
pub(crate) struct Output {
    pub stdout: String,
    pub stderr: String,
}

impl Output {
    /// The last `n` lines of stderr followed by stdout (PostgreSQL tools mostly use stderr).
    pub fn tail(&self, n: usize) -> String {
        let mut all = String::new();
        all.push_str(self.stderr.trim_end());
        if !self.stdout.trim().is_empty() {
            if !all.is_empty() {
                all.push('\n');
            }
            all.push_str(self.stdout.trim_end());
        }
        tail_lines(&all, n)
    }
}

/// The last `n` lines of `text`.
pub(crate) fn tail_lines(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// The command line for messages, without the `runuser -u postgres --` prefix.
pub(crate) fn summary(cmd: &Command) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut args = cmd.get_args().map(|a| a.to_string_lossy().into_owned());
    let program = cmd.get_program().to_string_lossy().into_owned();
    if program.ends_with("runuser") {
        for a in args.by_ref() {
            if a == "--" {
                break;
            }
        }
    } else {
        parts.push(program);
    }
    parts.extend(args);
    let mut s = parts.join(" ");
    if s.len() > 400 {
        let mut cut = 400;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
        s.push('…');
    }
    s
}

/// Runs `cmd` to completion (stdin from /dev/null), killing it when `timeout` passes.
/// Returns the exit status and output whatever the status.
pub(crate) fn run_raw(
    cmd: &mut Command,
    program: &str,
    timeout: Option<Duration>,
) -> Result<(ExitStatus, Output), PgError> {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    tracing::debug!(command = %summary(cmd), "running");
    let mut child = cmd.spawn().map_err(|e| {
        let what = if cmd.get_program().to_string_lossy().ends_with("runuser") {
            format!("running {program} through runuser (util-linux) as the postgres user")
        } else {
            format!("running {program}")
        };
        PgError::io(what, e)
    })?;
    let stdout = child.stdout.take().map(reader);
    let stderr = child.stderr.take().map(reader);
    let started = Instant::now();
    let mut pause = Duration::from_millis(2);
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) => {}
            Err(e) => return Err(PgError::io(format!("waiting for {program}"), e)),
        }
        if let Some(limit) = timeout {
            if started.elapsed() >= limit {
                kill_group(&mut child);
                return Err(PgError::Timeout {
                    what: format!("running `{}`", summary(cmd)),
                    after: limit,
                });
            }
        }
        std::thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(50));
    };
    let output = Output {
        stdout: stdout.map(join_reader).unwrap_or_default(),
        stderr: stderr.map(join_reader).unwrap_or_default(),
    };
    Ok((status, output))
}

/// Like [`run_raw`], but an unsuccessful exit is a [`PgError::Command`].
pub(crate) fn run(
    cmd: &mut Command,
    program: &str,
    timeout: Option<Duration>,
) -> Result<Output, PgError> {
    let (status, output) = run_raw(cmd, program, timeout)?;
    if status.success() {
        Ok(output)
    } else {
        Err(command_error(cmd, program, status, &output))
    }
}

pub(crate) fn command_error(
    cmd: &Command,
    program: &str,
    status: ExitStatus,
    output: &Output,
) -> PgError {
    PgError::Command {
        program: program.to_string(),
        args_summary: summary(cmd),
        status: status.to_string(),
        stderr_tail: output.tail(20),
    }
}

type Reader = std::thread::JoinHandle<String>;

fn reader(mut pipe: impl Read + Send + 'static) -> Reader {
    std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = pipe.read_to_end(&mut buf);
        String::from_utf8_lossy(&buf).into_owned()
    })
}

fn join_reader(handle: Reader) -> String {
    handle.join().unwrap_or_default()
}

/// SIGTERM the child's process group (runuser forwards it), then SIGKILL after a grace period.
fn kill_group(child: &mut std::process::Child) {
    let pgid = Pid::from_raw(child.id() as i32);
    let _ = killpg(pgid, Signal::SIGTERM);
    let grace = Instant::now();
    while grace.elapsed() < Duration::from_secs(3) {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = killpg(pgid, Signal::SIGKILL);
    let _ = child.kill();
    let _ = child.wait();
}
