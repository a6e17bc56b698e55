//! What a post would send, shown before anything is sent: the dry run, the confirmation
//! that shows each distinct text under the channels that send it, and the findings of an update
//! and its later phases. Nothing here writes to the journal or sends.

use std::io::{IsTerminal, Write};

use anyhow::Context;

use super::finish;
use crate::autopilot::Step;
use crate::cli::PostArgs;
use crate::error::{Done, Error, Phase, say};
use crate::input::Draft;
use crate::journal::{self, Access};
use crate::plan::{self, Plan, Planning};
use crate::report::{self, DeliveryReport, Report, Shown};
use crate::setup::Setup;
use crate::update;
use crate::wording::render::Renderer;
use crate::wording::rules::Finding;

/// Whether the update or one of its later phases is refused.
pub(super) fn any_blocked(plan: &Plan, phases: &[(Step, Plan)]) -> bool {
    plan.blocked() || phases.iter().any(|(_, phase)| phase.blocked())
}

/// The update's findings, then its later phases', each of those lines saying which phase it is
/// about; on stderr.
pub(super) fn print_all_findings(
    findings: &[Finding],
    phases: &[(Step, Plan)],
) -> std::io::Result<()> {
    let mut err = std::io::stderr().lock();
    report::print_findings(&mut err, crate::style::Stream::Err, findings)?;
    for (step, plan) in phases {
        if plan.findings.is_empty() {
            continue;
        }
        let mut lines = Vec::new();
        report::print_findings(&mut lines, crate::style::Stream::Err, &plan.findings)?;
        for line in String::from_utf8_lossy(&lines).lines() {
            writeln!(err, "{} ({}): {line}", step.name(), step.at)?;
        }
    }
    Ok(())
}

/// How many lines of a projection's files a person's dry run shows whole before it lists the
/// rest by path and length: a status site's front page and incident page, not its JSON API.
const SHOWN_LINES: usize = 200;

/// The report of a dry run (`planned`) or of a post that has not been sent yet; `brief` for a
/// person reading it (see [`SHOWN_LINES`]; `--json` has every file whole).
pub(super) fn preview(plan: &Plan, dry_run: bool, brief: bool) -> Report {
    let deliveries = plan
        .channels
        .iter()
        .map(|planned| DeliveryReport {
            channel: planned.channel.name.clone(),
            kind: planned.channel.kind.name().into(),
            target: String::new(),
            outcome: if planned.skipped.is_some() {
                Shown::Skipped
            } else {
                Shown::Planned
            },
            remote_id: None,
            parts: Vec::new(),
            url: None,
            attempts: 0,
            error: None,
            note: planned.skipped.clone(),
            rendered: planned.rendering.as_ref().map(|rendering| {
                let lines = if brief { SHOWN_LINES } else { usize::MAX };
                rendering.shown_within(files_folder(planned), lines).into()
            }),
            rendering: planned.rendering.clone().filter(|_| dry_run),
            started_at: None,
        })
        .collect();
    Report {
        dry_run,
        opened: plan.opens(),
        also_sent_to: plan.also_sent_to(),
        ..Report::new(&plan.update, deliveries, plan.findings.clone())
    }
}

pub(super) fn dry_run(
    setup: &Setup,
    draft: &Draft,
    renderer: &Renderer,
    now: jiff::Timestamp,
    args: &PostArgs,
) -> Result<Done, Error> {
    let journal = journal::open(&setup.state, Access::ReadOnly).usage()?;
    let planning = plan::plan(draft, setup, journal.as_deref(), renderer, now).usage()?;
    let plan = match planning {
        Planning::Rerun(stored) => {
            let report = Report {
                rerun: true,
                dry_run: true,
                ..Report::recorded(
                    &stored.update,
                    &journal
                        .as_deref()
                        .map(|journal| journal.deliveries(&stored.id))
                        .transpose()
                        .usage()?
                        .unwrap_or_default(),
                    false,
                )
            };
            finish(
                &report,
                super::Shape::of(args.json, args.quiet),
                "already posted; a post would send nothing",
                None,
            )
            .usage()?;
            return Ok(Done::Ok);
        }
        Planning::New(plan) => plan,
    };
    let report = preview(&plan, true, !args.json);
    let phases = plan::phases(&plan, draft, setup, journal.as_deref(), renderer, now).usage()?;
    // A preview is written whole, not a system call per line (a few dozen of them).
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    if args.json {
        let mut value = serde_json::to_value(&report).usage()?;
        if !phases.is_empty() {
            value["phases"] = phases
                .iter()
                .map(|(step, phase)| {
                    serde_json::json!({
                        "phase": step.phase,
                        "name": step.name(),
                        "at": step.at,
                        "report": preview(phase, true, false),
                    })
                })
                .collect();
        }
        serde_json::to_writer_pretty(&mut out, &value).usage()?;
        writeln!(out).usage()?;
    } else if !args.quiet {
        report.print_renderings(&mut out).usage()?;
        report.print_table(&mut out).usage()?;
        let tz = &setup.config.organization.timezone;
        for (step, phase) in &phases {
            let heading = format!(
                "══ then, {}: {} ",
                update::format_time(step.at, now, tz),
                step.name()
            );
            writeln!(out, "\n{heading:═<72}\n").usage()?;
            let phase = preview(phase, true, true);
            phase.print_renderings(&mut out).usage()?;
            phase.print_table(&mut out).usage()?;
        }
        // The findings go to stderr after what they are about.
        out.flush().usage()?;
        print_all_findings(&report.findings, &phases).usage()?;
    } else {
        // Quiet: the findings (errors are still shown), then one line at the end.
        print_all_findings(&report.findings, &phases).usage()?;
    }
    if any_blocked(&plan, &phases) {
        return Err(Error::Policy { said: args.json });
    }
    // A dry run that passes means the post would get as far as sending: every secret the
    // chosen channels need is there (its value is never shown).
    let sending = || {
        plan.channels
            .iter()
            .filter(|planned| planned.skipped.is_none())
    };
    let mut missing: Vec<String> = sending()
        .flat_map(|planned| planned.channel.secret_problems())
        .collect();
    // And there are root certificates to check the HTTPS channels' servers with.
    if let Err(err) = setup.check_roots(sending().map(|planned| planned.channel.name.as_str())) {
        missing.push(format!("{err:#}"));
    }
    // And the journal can be written, as the post records there first.
    if let Err(err) = journal::check_writable(&setup.state) {
        missing.push(format!("{err:#}"));
    }
    // And each channel builds as the post builds it before sending: a secret that holds no
    // URL where one is needed, a webhook secret that does not decode, an unreadable ca_file
    // stop the post with nothing sent, and so stop the dry run (values never shown).
    if missing.is_empty()
        && let Err(err) = setup.build(
            sending().map(|planned| planned.channel.name.as_str()),
            &crate::redact::Redactor::default(),
        )
    {
        missing.push(format!("{err:#}"));
    }
    if !missing.is_empty() {
        return Err(Error::Usage(anyhow::anyhow!(
            "{}\ndry run: a post would send nothing until this is fixed",
            missing.join("\n")
        )));
    }
    if args.quiet && !args.json {
        let opens = if report.opened {
            ", opening the incident"
        } else {
            ""
        };
        let verb = match &plan.extends {
            Some(_) => format!("would also be sent to {}", report.also_sent_to.join(", ")),
            None => format!("would be posted{opens}"),
        };
        writeln!(
            out,
            "{}: update {} ({}) {verb}: {}; dry run, nothing was sent",
            report.incident,
            report.sequence,
            report.status,
            report.tally()
        )
        .usage()?;
    } else if !args.json {
        if let Some(extends) = &plan.extends {
            writeln!(
                out,
                "\nThese words are update {} of {}, which went to {} at {}: a post sends it on \
                 to {}, the same update, not a new one.",
                plan.update.sequence,
                plan.update.incident,
                extends.went_to(),
                update::format_time(
                    plan.update.posted_at,
                    now,
                    &setup.config.organization.timezone
                ),
                report.also_sent_to.join(", ")
            )
            .usage()?;
        }
        writeln!(out, "\nDry run: nothing was sent and nothing was recorded.").usage()?;
    }
    out.flush().usage()?;
    Ok(Done::Ok)
}

/// The folder a channel's file paths are relative to (a status site's `dir`); the banner's and
/// the feed's are whole paths.
fn files_folder(planned: &plan::Planned) -> Option<&std::path::Path> {
    planned
        .channel
        .kind
        .site()
        .map(crate::channels::site::Site::dir)
}

/// Asks on a terminal; refuses in a script that did not pass `--yes`.
pub(super) fn confirm(yes: bool, plan: &Plan) -> anyhow::Result<()> {
    if yes {
        return Ok(());
    }
    if !std::io::stdin().is_terminal() {
        anyhow::bail!(say::NO_CONFIRMATION);
    }
    eprint!("{}", what_goes_out(plan));
    let count = plan.channels.iter().filter(|p| p.skipped.is_none()).count();
    let verb = match &plan.extends {
        Some(extends) => format!(
            "Send update {} of {} ({}), which went to {}, on",
            plan.update.sequence,
            plan.update.incident,
            plan.update.status,
            extends.went_to()
        ),
        None => format!(
            "Post update {} of {} ({})",
            plan.update.sequence, plan.update.incident, plan.update.status
        ),
    };
    eprint!(
        "{verb} to {}? [y/N] ",
        crate::wording::counted(count, "channel", "channels")
    );
    std::io::stderr().flush()?;
    let mut answer = String::new();
    std::io::stdin()
        .read_line(&mut answer)
        .context("cannot read the answer")?;
    if matches!(answer.trim(), "y" | "Y" | "yes") {
        Ok(())
    } else {
        anyhow::bail!(say::NOT_POSTED)
    }
}

/// What the confirmation shows before it asks, so nobody sends to customers blind: each
/// distinct text once (the post, the chat message, the email subject) under the channels that
/// send it, with each list's number of recipients, and the files the projections rewrite.
fn what_goes_out(plan: &Plan) -> String {
    // (what is said, the channels that say it), in the order of the config.
    let mut said: Vec<(String, Vec<String>)> = Vec::new();
    for planned in plan.channels.iter().filter(|p| p.skipped.is_none()) {
        let Some(rendering) = &planned.rendering else {
            continue;
        };
        let name = match planned.targets.len() {
            0 | 1 => planned.channel.name.clone(),
            n => format!("{} ({n} recipients)", planned.channel.name),
        };
        let text = if planned.channel.kind.is_projection() {
            let folder = files_folder(planned).unwrap_or(std::path::Path::new(""));
            let files: Vec<std::path::PathBuf> = rendering
                .files
                .iter()
                .map(|f| folder.join(&f.path))
                .collect();
            match files.len() {
                0 => "rewrites its page".to_owned(),
                1..=3 => {
                    let shown: Vec<String> =
                        files.iter().map(|f| f.display().to_string()).collect();
                    format!("rewrites {}", shown.join(", "))
                }
                n => match common_folder(&files) {
                    folder if folder.as_os_str().is_empty() => format!("rewrites {n} files"),
                    folder => format!("rewrites {n} files under {}", folder.display()),
                },
            }
        } else {
            let mut text = match &rendering.subject {
                Some(subject) => format!("subject: {subject}"),
                None => rendering.text.trim_end().to_owned(),
            };
            if !rendering.more.is_empty() {
                text.push_str(&format!(
                    "\n(and {} more in a reply thread)",
                    rendering.more.len()
                ));
            }
            text
        };
        match said.iter_mut().find(|(seen, _)| *seen == text) {
            Some((_, names)) => names.push(name),
            None => said.push((text, vec![name])),
        }
    }
    let mut out = String::from("This goes out:\n");
    for (text, names) in said {
        out.push_str(&format!("\n  {}:\n", names.join(", ")));
        for line in text.lines() {
            out.push_str(&format!("    {line}\n"));
        }
    }
    out.push('\n');
    out
}

/// The folder a projection's files share (`public/status`).
fn common_folder(files: &[std::path::PathBuf]) -> std::path::PathBuf {
    let mut common = files
        .first()
        .and_then(|first| first.parent())
        .map(std::path::Path::to_path_buf)
        .unwrap_or_default();
    for file in files {
        while !file.starts_with(&common) {
            if !common.pop() {
                break;
            }
        }
    }
    common
}
