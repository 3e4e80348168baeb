//! `pmctl drill RUNBOOK|DIR` and `pmctl drill --report DIR`.

use super::{json, out, runtime, Global, Output};
use crate::error::{CliError, CliResult, EXIT_FAILED, EXIT_OK, EXIT_REFUSED};
use crate::ops::drill::report::{self, DrillReport};
use crate::ops::drill::runbook::Runbook;
use crate::ops::drill::{suite, DrillError, DrillRun};
use std::path::{Path, PathBuf};

#[derive(clap::Args, Debug)]
pub struct DrillArgs {
    /// The runbook (YAML), e.g. runbooks/region-outage.yaml, or a directory: every runbook
    /// in it, in file-name order, with one combined JUnit file.
    #[arg(required_unless_present = "report")]
    runbook: Option<PathBuf>,
    /// Re-render the report of an earlier (possibly killed) drill from its directory.
    #[arg(long, value_name = "DIR", conflicts_with = "runbook")]
    report: Option<PathBuf>,
    /// Where the report files go (default drill-reports/<runbook>-<time>; for a directory
    /// of runbooks, one subdirectory per runbook).
    #[arg(long)]
    report_dir: Option<PathBuf>,
    /// Also write the JUnit XML here (for CI).
    #[arg(long, value_name = "FILE")]
    junit: Option<PathBuf>,
    /// Only validate the runbook(s).
    #[arg(long)]
    check: bool,
}

fn stamp() -> String {
    chrono::Utc::now().format("%Y%m%dT%H%M%S").to_string()
}

pub fn run(g: &Global, a: DrillArgs) -> CliResult {
    if let Some(dir) = &a.report {
        let rep = report::from_events(dir)
            .map_err(|e| CliError::invalid(format!("{}: {e}", dir.display())))?;
        report::write_all(dir, &rep)?;
        write_junit(a.junit.as_deref(), &[&rep])?;
        return render(g, &[rep]);
    }
    let path = a.runbook.clone().expect("clap requires it");
    let books: Vec<(PathBuf, Runbook)> = if path.is_dir() {
        suite::runbooks_in(&path).map_err(CliError::invalid)?
    } else {
        vec![(
            path.clone(),
            Runbook::load(&path).map_err(CliError::invalid)?,
        )]
    };
    if a.check {
        for (p, rb) in &books {
            g.shell()
                .status("Valid", format!("runbook {} ({})", rb.name, p.display()));
        }
        return Ok(EXIT_OK);
    }
    let many = books.len() > 1 || path.is_dir();
    let base = a
        .report_dir
        .clone()
        .unwrap_or_else(|| PathBuf::from("drill-reports"));
    let mut reports = Vec::new();
    let mut refused = None;
    for (_, rb) in &books {
        let report_dir = match (&a.report_dir, many) {
            (Some(d), false) => d.clone(),
            (_, true) => base.join(&rb.name),
            (None, false) => base.join(format!("{}-{}", rb.name, stamp())),
        };
        match run_one(g, rb, &report_dir) {
            Ok(rep) => reports.push(rep),
            Err(e) if !many => return Err(e),
            Err(e) => {
                // One runbook that cannot start does not hide the others' results.
                g.shell()
                    .warn(format!("runbook {}: {:#}", rb.name, e.error));
                refused.get_or_insert(e.code);
            }
        }
    }
    let refs: Vec<&DrillReport> = reports.iter().collect();
    write_junit(a.junit.as_deref(), &refs)?;
    if many {
        std::fs::create_dir_all(&base)?;
        std::fs::write(base.join("junit.xml"), report::junit_many(&refs))?;
    }
    let code = render(g, &reports)?;
    Ok(if refused.is_some() { EXIT_FAILED } else { code })
}

fn run_one(g: &Global, rb: &Runbook, report_dir: &Path) -> Result<DrillReport, CliError> {
    let mut g2 = g.clone();
    if let Some(env) = &rb.environment {
        if g.env == crate::config::DEFAULT_ENV {
            g2.env = env.clone();
        }
    }
    let p = g2.provider()?;
    let shell = g.shell();
    let run = DrillRun {
        provider: p.as_ref(),
        report_dir: report_dir.to_path_buf(),
        shell: &shell,
    };
    let rep = match runtime().block_on(run.run(rb)) {
        Ok(r) => r,
        Err(
            e @ (DrillError::NotSteady(_)
            | DrillError::UnsupportedFault { .. }
            | DrillError::UnknownRegion(_)),
        ) => return Err(CliError::new(EXIT_REFUSED, e)),
        Err(DrillError::Provider(e)) => return Err(super::provider_error(e)),
        Err(e) => return Err(CliError::new(EXIT_FAILED, e)),
    };
    shell.status("Report", report_dir.display());
    Ok(rep)
}

fn write_junit(path: Option<&Path>, reports: &[&DrillReport]) -> Result<(), CliError> {
    if let Some(j) = path {
        std::fs::write(j, report::junit_many(reports))?;
    }
    Ok(())
}

fn render(g: &Global, reps: &[DrillReport]) -> CliResult {
    if g.output == Output::Json {
        if let [one] = reps {
            out(json(one));
        } else {
            out(json(&reps));
        }
    } else {
        for r in reps {
            out(report::markdown(r));
        }
    }
    Ok(if reps.iter().all(|r| r.passed) {
        EXIT_OK
    } else {
        EXIT_FAILED
    })
}
