//! `outage lint`: the wording rules and every rendering's checks, without sending or recording.
//! It needs no secret: a CI step can lint an update file before anyone holds the keys.

use std::io::Write;

use crate::cli::{Cli, LintArgs};
use crate::error::{Done, Error, Phase};
use crate::input::Draft;
use crate::journal::{self, Access};
use crate::plan::{self, Planning};
use crate::report::{self, Report};
use crate::setup::Setup;
use crate::update;
use crate::wording::rules::Severity;

pub(crate) fn run(cli: &Cli, args: &LintArgs) -> Result<Done, Error> {
    let setup = Setup::load(cli).usage()?;
    let draft = Draft::read(&args.update).usage()?;
    let renderer = setup.renderer().usage()?;
    let journal = journal::open(&setup.state, Access::ReadOnly).usage()?;
    let now = update::now().usage()?;
    let planning = plan::plan_for(
        plan::Purpose::Lint,
        &draft,
        &setup,
        journal.as_deref(),
        &renderer,
        now,
    )
    .usage()?;
    let Planning::New(plan) = planning else {
        unreachable!("lint does not look for reruns")
    };
    // A maintenance scheduled with its later phases: their words are checked too, each finding
    // naming its phase.
    let phases = plan::phases(&plan, &draft, &setup, journal.as_deref(), &renderer, now).usage()?;
    let mut findings = plan.findings.clone();
    for (step, phase) in phases {
        findings.extend(phase.findings.into_iter().map(|mut finding| {
            finding.message = format!("{}: {}", step.name(), finding.message);
            finding
        }));
    }
    let report = Report {
        dry_run: true,
        ..Report::new(&plan.update, Vec::new(), findings)
    };
    let mut out = std::io::stdout().lock();
    if args.json {
        report.print_json(&mut out).usage()?;
    } else {
        report::print_findings(&mut out, crate::style::Stream::Out, &report.findings).usage()?;
        let errors = report.findings.iter().filter(|f| f.blocks()).count();
        let warnings = report
            .findings
            .iter()
            .filter(|f| f.severity == Severity::Warning)
            .count();
        writeln!(
            out,
            "{}, {}",
            crate::wording::counted(errors, "error", "errors"),
            crate::wording::counted(warnings, "warning", "warnings")
        )
        .usage()?;
    }
    if report.blocked() {
        return Err(Error::Policy { said: true });
    }
    Ok(Done::Ok)
}
