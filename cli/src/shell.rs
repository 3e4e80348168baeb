//! The one place human-facing progress goes: status lines and warnings on stderr, a
//! spinner only when stderr is a terminal. Machine output (tables, JSON) goes to stdout
//! from the commands, never from here.

use indicatif::{ProgressBar, ProgressStyle};
use std::io::{IsTerminal, Write};
use std::time::Duration;

#[derive(Clone)]
pub struct Shell {
    quiet: bool,
    tty: bool,
}

impl Default for Shell {
    fn default() -> Self {
        Shell::new(false)
    }
}

impl Shell {
    pub fn new(quiet: bool) -> Shell {
        Shell {
            quiet,
            tty: std::io::stderr().is_terminal(),
        }
    }

    /// A shell that prints nothing (library callers, tests).
    pub fn silent() -> Shell {
        Shell {
            quiet: true,
            tty: false,
        }
    }

    pub fn status(&self, verb: &str, msg: impl std::fmt::Display) {
        if !self.quiet {
            let _ = writeln!(std::io::stderr(), "{verb:>12} {msg}");
        }
    }

    pub fn warn(&self, msg: impl std::fmt::Display) {
        let _ = writeln!(std::io::stderr(), "warning: {msg}");
    }

    /// A spinner for a wait; hidden unless stderr is a TTY. Finish it with `done`.
    pub fn spinner(&self, msg: impl Into<String>) -> Spinner {
        let msg = msg.into();
        if self.quiet || !self.tty {
            return Spinner(None);
        }
        let pb = ProgressBar::new_spinner();
        pb.set_style(
            ProgressStyle::with_template("{spinner} {msg} ({elapsed})")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        pb.set_message(msg);
        pb.enable_steady_tick(Duration::from_millis(120));
        Spinner(Some(pb))
    }
}

pub struct Spinner(Option<ProgressBar>);

impl Spinner {
    pub fn set(&self, msg: impl Into<String>) {
        if let Some(pb) = &self.0 {
            pb.set_message(msg.into());
        }
    }
}

impl Drop for Spinner {
    fn drop(&mut self) {
        if let Some(pb) = &self.0 {
            pb.finish_and_clear();
        }
    }
}
