//! `pmctl drill RUNBOOK` and `pmctl drill --report DIR`.

use super::{json, out, runtime, Global, Output};
use crate::devstack::stack::StackSpec;
use crate::error::{CliError, CliResult, EXIT_FAILED, EXIT_OK, EXIT_REFUSED};
use crate::ops::drill::report::{self, DrillReport};
use crate::ops::drill::runbook::Runbook;
use crate::ops::drill::{DrillError, DrillRun};
use std::path::PathBuf;

#[derive(clap::Args, Debug)]
pub struct DrillArgs {
    /// The runbook (YAML), e.g. runbooks/region-outage.yaml.
    #[arg(required_unless_present = "report")]
    runbook: Option<PathBuf>,
    /// Re-render the report of an earlier (possibly killed) drill from its directory.
    #[arg(long, value_name = "DIR", conflicts_with = "runbook")]
    report: Option<PathBuf>,
    /// Where the report files go (default drill-reports/<runbook>-<time>).
    #[arg(long)]
    report_dir: Option<PathBuf>,
    /// Also write the JUnit XML here (for CI).
    #[arg(long, value_name = "FILE")]
    junit: Option<PathBuf>,
    /// Only validate the runbook.
    #[arg(long)]
    check: bool,
}

pub fn run(g: &Global, a: DrillArgs) -> CliResult {
    if let Some(dir) = &a.report {
        let rep = report::from_events(dir)
            .map_err(|e| CliError::invalid(format!("{}: {e}", dir.display())))?;
        report::write_all(dir, &rep)?;
        return render(g, &rep, a.junit.as_ref());
    }
    let path = a.runbook.clone().expect("clap requires it");
    let rb = Runbook::load(&path).map_err(CliError::invalid)?;
    if a.check {
        g.shell()
            .status("Valid", format!("runbook {} ({})", rb.name, path.display()));
        return Ok(EXIT_OK);
    }
    let mut g2 = g.clone();
    if let Some(env) = &rb.environment {
        if g.env == crate::config::DEFAULT_ENV {
            g2.env = env.clone();
        }
    }
    let (state_dir, env) = g2.local()?;
    let spec = StackSpec::from_env(&env, None, None).map_err(CliError::invalid)?;
    let report_dir = a.report_dir.clone().unwrap_or_else(|| {
        PathBuf::from("drill-reports").join(format!(
            "{}-{}",
            rb.name,
            chrono::Utc::now().format("%Y%m%dT%H%M%S")
        ))
    });
    let shell = g.shell();
    let run = DrillRun {
        env: g2.env.clone(),
        state_dir,
        spec,
        report_dir: report_dir.clone(),
        shell: &shell,
    };
    let rep = match runtime().block_on(run.run(&rb)) {
        Ok(r) => r,
        Err(e @ DrillError::NotSteady(_)) => return Err(CliError::new(EXIT_REFUSED, e)),
        Err(e) => return Err(CliError::new(EXIT_FAILED, e)),
    };
    shell.status("Report", report_dir.display());
    render(g, &rep, a.junit.as_ref())
}

fn render(g: &Global, rep: &DrillReport, junit: Option<&PathBuf>) -> CliResult {
    if let Some(j) = junit {
        std::fs::write(j, report::junit(rep))?;
    }
    if g.output == Output::Json {
        out(json(rep));
    } else {
        out(report::markdown(rep));
    }
    Ok(if rep.passed { EXIT_OK } else { EXIT_FAILED })
}
