//! One file per subcommand, each thin: input -> plan -> act -> report. What several share is
//! here ([`resolve_incident`], [`finish`]) and in [`send`], the step `post` and `retry` send with.

pub(crate) mod channels;
pub(crate) mod history;
pub(crate) mod incidents;
pub(crate) mod init;
pub(crate) mod journal;
pub(crate) mod lint;
pub(crate) mod post;
pub(crate) mod preview;
pub(crate) mod retry;
pub(crate) mod send;
pub(crate) mod shell;
pub(crate) mod site;
pub(crate) mod status;
pub(crate) mod tick;

use std::io::Write;

use anyhow::bail;

use crate::cli::{Cli, Command};
use crate::error::{Done, Error};
use crate::journal::Journal;
use crate::report::{Report, Shown};
use crate::setup::Setup;

/// Runs the command the arguments name.
pub(crate) fn run(cli: &Cli) -> Result<Done, Error> {
    match &cli.command {
        Command::Post(args) => post::run(cli, args),
        Command::Lint(args) => lint::run(cli, args),
        Command::Status(args) => status::run(cli, args),
        Command::Incidents(args) => incidents::run(cli, args),
        Command::History(args) => history::run(cli, args),
        Command::Retry(args) => retry::run(cli, args),
        Command::Tick(args) => tick::run(cli, args),
        Command::Channels(args) => channels::run(cli, args),
        Command::Journal(command) => journal::run(cli, command),
        Command::Site(command) => site::run(cli, command),
        Command::Init => init::run(cli),
        Command::Completions(args) => shell::completions(args.shell),
        Command::Man(args) => shell::man(args),
    }
}

/// Resolves `latest`, or checks that the incident exists (naming the closest ids when not).
pub(crate) fn resolve_incident(journal: &dyn Journal, id: &str) -> anyhow::Result<String> {
    if id == "latest" {
        return crate::plan::latest(Some(journal));
    }
    if journal.incident(id)?.is_some() {
        return Ok(id.to_owned());
    }
    let mut near: Vec<(usize, String)> = journal
        .incident_ids()?
        .into_iter()
        .map(|known| (strsim::levenshtein(id, &known), known))
        .filter(|(distance, known)| *distance <= (known.len() / 3).max(3))
        .collect();
    near.sort();
    match near.first() {
        Some((_, known)) => {
            bail!(
                "no incident `{id}` in the journal; did you mean {known}? (`outage incidents` lists them)"
            )
        }
        None => bail!("no incident `{id}` in the journal; `outage incidents` lists them"),
    }
}

/// What a report says to do about deliveries that did not succeed: what a plain `retry` finishes
/// (failed ones, and unknown ones whose repeat is harmless) and what needs `--include-unknown`.
pub(crate) fn retry_hint(report: &Report, setup: &Setup, now: jiff::Timestamp) -> Option<String> {
    let (mut failed, mut harmless) = (0, 0);
    let mut careful = Vec::new();
    for delivery in &report.deliveries {
        let safe = setup
            .channel(&delivery.channel)
            .is_some_and(|channel| channel.kind.repeat_is_safe(delivery.started_at, now));
        match delivery.outcome {
            Shown::Failed => failed += 1,
            Shown::Unknown | Shown::Pending if safe => harmless += 1,
            Shown::Unknown | Shown::Pending => careful.push(delivery.channel.clone()),
            _ => {}
        }
    }
    careful.dedup();
    let id = &report.incident;
    let mut lines = Vec::new();
    match (failed, harmless) {
        (0, 0) => {}
        (failed, 0) => lines.push(format!(
            "`outage retry {id}` sends the {failed} that failed again."
        )),
        (0, harmless) => lines.push(format!(
            "`outage retry {id}` sends the {harmless} with an unknown outcome again; a repeat \
             there is harmless."
        )),
        (failed, harmless) => lines.push(format!(
            "`outage retry {id}` sends the {failed} that failed again, and the {harmless} with an \
             unknown outcome, where a repeat is harmless."
        )),
    }
    if !careful.is_empty() {
        lines.push(format!(
            "The outcome on {} is unknown: it may have gone out. Check, then `outage retry {id} \
             --include-unknown` sends it again.",
            careful.join(", ")
        ));
    }
    (!lines.is_empty()).then(|| lines.join("\n"))
}

/// How a report is printed: the table, one line (`-q`), or JSON.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Shape {
    Table,
    Quiet,
    Json,
}

impl Shape {
    pub(crate) fn of(json: bool, quiet: bool) -> Shape {
        match (json, quiet) {
            (true, _) => Shape::Json,
            (false, true) => Shape::Quiet,
            (false, false) => Shape::Table,
        }
    }
}

/// Prints a report (`verb` says what happened to the update) and turns it into the outcome.
pub(crate) fn finish(
    report: &Report,
    shape: Shape,
    verb: &str,
    hint: Option<String>,
) -> anyhow::Result<Done> {
    let mut out = std::io::stdout().lock();
    let opened = if report.opened {
        "opened new incident "
    } else {
        ""
    };
    let head = format!(
        "{opened}{}: update {} ({}) {verb}",
        report.incident, report.sequence, report.status
    );
    match shape {
        Shape::Json => report.print_json(&mut out)?,
        Shape::Quiet => {
            writeln!(out, "{head}: {}", report.tally())?;
            // What did not go out is an error, and errors are still shown.
            report.print_problems(&mut std::io::stderr())?;
            if let Some(hint) = hint {
                eprintln!("{hint}");
            }
        }
        Shape::Table => {
            writeln!(out, "{head}\n")?;
            report.print_table(&mut out)?;
            if let Some(hint) = hint {
                writeln!(out, "\n{hint}")?;
            }
        }
    }
    Ok(if report.failed() {
        Done::DeliveryFailed
    } else {
        Done::Ok
    })
}
