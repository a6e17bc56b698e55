//! `outage tick`: run every minute (cron, a scheduled CI workflow), it posts what maintenance
//! on autopilot has due — each reminder, the move to in-progress at the start, the move to
//! completed at the end — each exactly once: the post of a step carries a key per maintenance,
//! phase and window, taken under the incident's lock, so two ticks at the same moment on two
//! machines sharing a journal post it once. A late tick still moves the phase, but skips a
//! reminder whose moment has passed, and says so.

use std::io::Write;

use jiff::Timestamp;
use serde::Serialize;

use super::post::{self, Options, Posted};
use super::{Shape, finish};
use crate::autopilot::{self, Action, Step};
use crate::cli::{Cli, TickArgs};
use crate::error::{Done, Error, Phase};
use crate::journal::{self, Access, Opening};
use crate::plan::{self, Planning};
use crate::report::Report;
use crate::setup::Setup;
use crate::update::{self, Update, format_time};

/// What the tick did with one step.
#[derive(Serialize)]
struct StepDone {
    incident: String,
    step: String,
    phase: autopilot::Phase,
    due: Timestamp,
    /// `posted`, `already-posted`, `skipped`, or in a dry run `would-post`.
    action: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    report: Option<Report>,
}

pub(crate) fn run(cli: &Cli, args: &TickArgs) -> Result<Done, Error> {
    let setup = Setup::load(cli).usage()?;
    let now = update::now().usage()?;
    let tz = setup.config.organization.timezone.clone();
    let Some(journal) = journal::open(&setup.state, Access::ReadOnly).usage()? else {
        return say_nothing(args, now, &[]);
    };
    // Each open maintenance's latest update carries its autopilot and window.
    let maintenances: Vec<Update> = journal
        .open_updates()
        .usage()?
        .into_iter()
        .filter(|latest| latest.autopilot.is_some())
        .collect();
    let mut work: Vec<(Update, Action)> = Vec::new();
    for latest in &maintenances {
        for action in autopilot::due(latest, now) {
            // A step whose key is in the journal went out already (at an earlier tick).
            if let Action::Post(step) = &action
                && autopilot::is_posted(&*journal, latest, step).usage()?
            {
                continue;
            }
            work.push((latest.clone(), action));
        }
    }
    drop(journal);
    if work.is_empty() {
        return say_nothing(args, now, &maintenances);
    }
    let renderer = setup.renderer().usage()?;
    let options = Options {
        yes: true,
        quiet: args.quiet,
        json: args.json,
    };
    let mut results = Vec::new();
    let mut outcome = Done::Ok;
    let mut first_error: Option<Error> = None;
    for (latest, action) in work {
        let (step, skipped) = match action {
            Action::Post(step) => (step, None),
            Action::Skip(step, reason) => (step, Some(reason)),
        };
        let mut result = StepDone {
            incident: latest.incident.clone(),
            step: step.name(),
            phase: step.phase,
            due: step.at,
            action: "skipped",
            reason: skipped.clone(),
            report: None,
        };
        if skipped.is_none() {
            let autopilot = latest.autopilot.as_ref().expect("filtered above");
            let draft = autopilot::draft(&latest, &step, autopilot);
            let done = if args.dry_run {
                would_post(&setup, &draft, &renderer, now).map(|rerun| {
                    result.action = if rerun {
                        "already-posted"
                    } else {
                        "would-post"
                    };
                })
            } else {
                step_post(&setup, &draft, &renderer, now, &options).map(|posted| {
                    result.action = if posted.report.rerun {
                        "already-posted"
                    } else {
                        "posted"
                    };
                    if posted.report.failed() {
                        outcome = Done::DeliveryFailed;
                    }
                    if !args.json {
                        if !args.quiet {
                            say_step(&latest, &step, now, &tz);
                        }
                        let shape = Shape::of(false, args.quiet);
                        let verb = format!("{} ({})", posted.verb, step.name());
                        let _ = finish(&posted.report, shape, &verb, posted.hint.clone());
                    }
                    result.report = Some(posted.report);
                })
            };
            if let Err(err) = done {
                if !args.json {
                    eprintln!("{}: {}: {err}", latest.incident, step.name());
                }
                first_error.get_or_insert(err);
                continue;
            }
        }
        if !args.json && (skipped.is_some() || args.dry_run) {
            let what = match (&result.reason, result.action) {
                (Some(reason), _) => format!("skipped: {reason}"),
                (None, "already-posted") => "already posted".to_owned(),
                (None, _) => "would be posted now (dry run: nothing was sent)".to_owned(),
            };
            println!(
                "{}: {}, due {}: {what}",
                latest.incident,
                step.name(),
                format_time(step.at, now, &tz)
            );
        }
        results.push(result);
    }
    if args.json {
        let mut out = std::io::stdout().lock();
        serde_json::to_writer_pretty(
            &mut out,
            &serde_json::json!({ "now": now, "steps": results }),
        )
        .usage()?;
        writeln!(out).usage()?;
    }
    match first_error {
        Some(err) => Err(err),
        None => Ok(outcome),
    }
}

/// Posts one step, on a journal connection of its own.
fn step_post(
    setup: &Setup,
    draft: &crate::input::Draft,
    renderer: &crate::wording::render::Renderer,
    now: Timestamp,
    options: &Options,
) -> Result<Posted, Error> {
    let projects = setup
        .channels
        .iter()
        .any(|channel| channel.enabled && channel.kind.is_projection());
    let spare = projects.then(|| Opening::start(&setup.state, Access::ReadWrite));
    let journal = Opening::start(&setup.state, Access::ReadWrite)
        .finish()
        .usage()?
        .expect("a journal opened for writing exists");
    post::publish(setup, journal, spare, draft, renderer, now, options)
}

/// A dry run of one step: planned and checked, nothing written. `true` when it went out already.
fn would_post(
    setup: &Setup,
    draft: &crate::input::Draft,
    renderer: &crate::wording::render::Renderer,
    now: Timestamp,
) -> Result<bool, Error> {
    let journal = journal::open(&setup.state, Access::ReadOnly).usage()?;
    match plan::plan(draft, setup, journal.as_deref(), renderer, now).usage()? {
        Planning::Rerun(_) => Ok(true),
        Planning::New(plan) if plan.blocked() => Err(Error::Usage(anyhow::anyhow!(
            "the wording policy would refuse it: {}",
            plan.findings
                .iter()
                .filter(|finding| finding.blocks())
                .map(|finding| format!("{}: {}", finding.rule, finding.message))
                .collect::<Vec<_>>()
                .join("; ")
        ))),
        Planning::New(_) => Ok(false),
    }
}

fn say_step(latest: &Update, step: &Step, now: Timestamp, tz: &jiff::tz::TimeZone) {
    println!(
        "tick: {}: {}, due {}",
        latest.incident,
        step.name(),
        format_time(step.at, now, tz)
    );
}

/// Nothing due: says so, and what comes next.
fn say_nothing(args: &TickArgs, now: Timestamp, maintenances: &[Update]) -> Result<Done, Error> {
    let next: Option<(&Update, Step)> = maintenances
        .iter()
        .filter_map(|latest| autopilot::next(latest, now, &mut |_| true).map(|step| (latest, step)))
        .min_by_key(|(_, step)| step.at);
    let mut out = std::io::stdout().lock();
    if args.json {
        serde_json::to_writer_pretty(
            &mut out,
            &serde_json::json!({
                "now": now,
                "steps": [],
                "next": next.as_ref().map(|(latest, step)| serde_json::json!({
                    "incident": latest.incident,
                    "step": step.name(),
                    "phase": step.phase,
                    "due": step.at,
                })),
            }),
        )
        .usage()?;
        writeln!(out).usage()?;
    } else if !args.quiet {
        match next {
            Some((latest, step)) => writeln!(
                out,
                "nothing due; next: {} of {} at {}",
                step.name(),
                latest.incident,
                step.at
            ),
            None => writeln!(out, "nothing due; no maintenance is on autopilot"),
        }
        .usage()?;
    }
    Ok(Done::Ok)
}
