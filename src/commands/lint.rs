//! `outage lint`: the wording rules and every rendering's checks, without sending or recording.

use std::io::Write;

use super::{Draft, Setup, exit, prepare};
use crate::cli::{Cli, LintArgs};
use crate::journal::Journal;
use crate::report::{self, Report};
use crate::update;
use crate::wording::render::Renderer;
use crate::wording::rules::Severity;

pub fn run(cli: &Cli, args: &LintArgs) -> anyhow::Result<u8> {
    let setup = Setup::load(cli)?;
    let draft = Draft::read(&args.update, None)?;
    let renderer = Renderer::new(&setup.config.channels)?;
    let journal = Journal::open_if_exists(&setup.state_path)?;
    let prepared = prepare(
        draft,
        &setup.config,
        journal.as_ref(),
        &renderer,
        update::now()?,
    )?;
    let report = Report {
        dry_run: true,
        ..Report::new(&prepared.update, Vec::new(), prepared.findings)
    };
    let mut out = std::io::stdout().lock();
    if args.json {
        report.print_json(&mut out)?;
    } else {
        report::print_findings(&mut out, &report.findings)?;
        let errors = report.findings.iter().filter(|f| f.blocks()).count();
        let warnings = report
            .findings
            .iter()
            .filter(|f| f.severity == Severity::Warning)
            .count();
        writeln!(out, "{errors} error(s), {warnings} warning(s)")?;
    }
    Ok(if report.blocked() {
        exit::POLICY
    } else {
        exit::OK
    })
}
