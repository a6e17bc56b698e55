//! `outage post`: plan, confirm, record, send, report.

use std::io::{IsTerminal, Write};

use anyhow::Context;

use super::send::{self, Ready, Sending};
use super::{finish, retry_hint};
use crate::autopilot::Step;
use crate::cli::{Cli, PostArgs};
use crate::error::{Done, Error, Phase, say};
use crate::input::Draft;
use crate::journal::{
    self, Access, Journal, NewDelivery, NewUpdate, Opening, State, incident_lock,
};
use crate::plan::{self, Plan, Planning};
use crate::report::{self, DeliveryReport, Report, Shown};
use crate::setup::Setup;
use crate::update;
use crate::wording::render::Renderer;
use crate::wording::rules::Finding;

pub(crate) fn run(cli: &Cli, args: &PostArgs) -> Result<Done, Error> {
    let setup = Setup::load(cli).usage()?;
    // The system's root certificates are loaded on a thread of their own while the rest of
    // the post is prepared (and not at all when every channel is plain HTTP or no HTTP).
    if !args.dry_run
        && setup
            .channels
            .iter()
            .any(|c| c.enabled && c.kind.uses_https())
    {
        crate::channels::http::prepare();
    }
    // The journal's connections are made while the draft is read and the wording rules
    // compiled: the projections' own one too, when a channel may write one.
    let opening = (!args.dry_run).then(|| {
        let projects = setup
            .channels
            .iter()
            .any(|channel| channel.kind.is_projection());
        (
            Opening::start(&setup.state, Access::ReadWrite),
            projects.then(|| Opening::start(&setup.state, Access::ReadWrite)),
        )
    });
    let draft = Draft::read(&args.update).usage()?;
    let renderer = setup.renderer().usage()?;
    let now = update::now().usage()?;
    let Some((opening, spare)) = opening else {
        return dry_run(&setup, &draft, &renderer, now, args);
    };
    let journal = opening
        .finish()
        .usage()?
        .expect("a journal opened for writing exists");
    let options = Options {
        yes: args.yes,
        quiet: args.quiet,
        json: args.json,
    };
    let posted = publish(&setup, journal, spare, &draft, &renderer, now, &options)?;
    finish(
        &posted.report,
        super::Shape::of(args.json, args.quiet),
        posted.verb,
        posted.hint,
    )
    .after_recording()
}

/// How a post runs: asking or not, and what it prints while it goes.
pub(crate) struct Options {
    pub(crate) yes: bool,
    pub(crate) quiet: bool,
    pub(crate) json: bool,
}

/// What a post did: its report, what happened (`posted`, `already posted…`), and what to do
/// about deliveries that did not go out.
pub(crate) struct Posted {
    pub(crate) report: Report,
    pub(crate) verb: &'static str,
    pub(crate) hint: Option<String>,
}

/// Plans, confirms, records and sends one update: the whole of `post` after its inputs are
/// read, and what `outage tick` does for each step that is due.
pub(crate) fn publish(
    setup: &Setup,
    mut journal: Box<dyn Journal>,
    spare: Option<Opening>,
    draft: &Draft,
    renderer: &Renderer,
    now: jiff::Timestamp,
    options: &Options,
) -> Result<Posted, Error> {
    let planning = lock_and_plan(
        &mut *journal,
        draft,
        setup,
        renderer,
        now,
        options.quiet || options.json,
    )
    .usage()?;
    let plan = match planning {
        Planning::Rerun(stored) => {
            let report = Report {
                rerun: true,
                ..Report::recorded(
                    &stored.update,
                    &journal.deliveries(&stored.id).usage()?,
                    false,
                )
            };
            let hint = retry_hint(&report, setup, now);
            return Ok(Posted {
                report,
                verb: "already posted; nothing was sent again",
                hint,
            });
        }
        Planning::New(plan) => plan,
    };
    let phases = plan::phases(&plan, draft, setup, Some(&*journal), renderer, now).usage()?;
    if any_blocked(&plan, &phases) {
        let report = preview(&plan, false);
        if options.json {
            report.print_json(&mut std::io::stdout()).usage()?;
        } else {
            print_all_findings(&plan.findings, &phases).usage()?;
        }
        return Err(Error::Policy { said: options.json });
    }
    confirm(options.yes, &plan).usage()?;

    let ready = Ready::build(
        setup,
        plan.channels
            .iter()
            .filter(|planned| planned.skipped.is_none())
            .map(|planned| planned.channel.name.as_str()),
        spare,
    )
    .usage()?;

    // One delivery per channel and target (a list has one per recipient).
    let mut deliveries = Vec::new();
    for planned in &plan.channels {
        // Every recipient of a list shares the channel's one rendering.
        let rendering = planned.rendering.clone().map(std::sync::Arc::new);
        for target in &planned.targets {
            deliveries.push(NewDelivery {
                id: uuid::Uuid::now_v7().to_string(),
                channel: planned.channel.name.clone(),
                kind: planned.channel.kind.name().to_owned(),
                target: target.clone(),
                state: match planned.skipped {
                    Some(_) => State::Skipped,
                    None => State::Pending,
                },
                note: planned.skipped.clone(),
                rendering: rendering.clone(),
            });
        }
    }
    let update_id = journal
        .record(
            &NewUpdate {
                update: &plan.update,
                fingerprint: &plan.fingerprint,
                input: &plan.input,
                idempotency_key: plan.idempotency_key.as_deref(),
                allowed: &plan.allowed,
            },
            &deliveries,
        )
        .usage()?;
    drop(deliveries);

    // Recorded: from here on, whatever fails may come after something went out.
    let pending: Vec<_> = journal
        .deliveries(&update_id)
        .after_recording()?
        .into_iter()
        .filter(|delivery| super::is_pending(delivery.state))
        .collect();
    let sent = send::send(
        &ready,
        journal,
        Sending {
            setup,
            update: &plan.update,
            deliveries: pending,
            renderer,
            now,
            progress: report::progress(options.quiet, options.json),
        },
    )
    .after_recording()?;
    // The runtime and the adapters go before the report is read: a list's idle connections
    // (a thousand of them, with their buffers) are not held while 10,000 rows are.
    drop(ready);
    let report = Report {
        findings: plan.findings.clone(),
        opened: plan.opens(),
        ..Report::recorded(
            &plan.update,
            &sent.journal.deliveries(&update_id).after_recording()?,
            true,
        )
    };
    if !options.json {
        report::print_findings(
            &mut std::io::stderr(),
            crate::style::Stream::Err,
            &report.findings,
        )
        .after_recording()?;
    }
    // After Ctrl-C, the message on what was left says how to finish it.
    let hint = if sent.interrupted {
        eprintln!("{}", interrupted(&report));
        None
    } else {
        retry_hint(&report, setup, now)
    };
    Ok(Posted {
        report,
        verb: "posted",
        hint,
    })
}

/// Whether the update or one of its later phases is refused.
fn any_blocked(plan: &Plan, phases: &[(Step, Plan)]) -> bool {
    plan.blocked() || phases.iter().any(|(_, phase)| phase.blocked())
}

/// The update's findings, then its later phases', each of those lines saying which phase it is
/// about; on stderr.
fn print_all_findings(findings: &[Finding], phases: &[(Step, Plan)]) -> std::io::Result<()> {
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

/// Takes the lock of the incident the update goes to and plans under it. When planning places
/// the update elsewhere (`latest` moved meanwhile), that incident's lock is taken too and the
/// update is planned again.
fn lock_and_plan(
    journal: &mut dyn Journal,
    draft: &Draft,
    setup: &Setup,
    renderer: &Renderer,
    now: jiff::Timestamp,
    quiet: bool,
) -> anyhow::Result<Planning> {
    let mut on_wait = || {
        if !quiet {
            eprintln!("{}", say::WAITING);
        }
    };
    let first = match plan::given_incident(draft, Some(&*journal)) {
        Ok(Some(id)) => Some(id),
        // Planning says what is wrong with it.
        Err(_) => None,
        Ok(None) => draft
            .title
            .as_deref()
            .map(|title| update::incident_id(title, now, &setup.config.organization.timezone)),
    };
    if let Some(id) = &first {
        journal.lock(&incident_lock(id), &mut on_wait)?;
        journal.settle_abandoned(id)?;
    }
    for _ in 0..4 {
        let planning = plan::plan(draft, setup, Some(&*journal), renderer, now)?;
        let Planning::New(plan) = &planning else {
            return Ok(planning);
        };
        let id = plan.place.incident.clone();
        if !journal.lock(&incident_lock(&id), &mut on_wait)? {
            return Ok(planning);
        }
        journal.settle_abandoned(&id)?;
    }
    anyhow::bail!("the incident kept moving while this update was planned; run the command again")
}

/// The report of a dry run (`planned`) or of a post that has not been sent yet.
fn preview(plan: &Plan, dry_run: bool) -> Report {
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
            rendered: planned
                .rendering
                .as_ref()
                .map(|rendering| rendering.shown().into()),
            rendering: planned.rendering.clone().filter(|_| dry_run),
            started_at: None,
        })
        .collect();
    Report {
        dry_run,
        opened: plan.opens(),
        ..Report::new(&plan.update, deliveries, plan.findings.clone())
    }
}

fn dry_run(
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
    let report = preview(&plan, true);
    let phases = plan::phases(&plan, draft, setup, journal.as_deref(), renderer, now).usage()?;
    let mut out = std::io::stdout().lock();
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
                        "report": preview(phase, true),
                    })
                })
                .collect();
        }
        serde_json::to_writer_pretty(&mut out, &value).usage()?;
        writeln!(out).usage()?;
    } else {
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
            let phase = preview(phase, true);
            phase.print_renderings(&mut out).usage()?;
            phase.print_table(&mut out).usage()?;
        }
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
    if sending().any(|planned| planned.channel.kind.uses_https())
        && let Err(err) = crate::tls::check_roots()
    {
        missing.push(format!("{err:#}"));
    }
    if !missing.is_empty() {
        return Err(Error::Usage(anyhow::anyhow!(
            "{}\ndry run: a post would send nothing until this is fixed",
            missing.join("\n")
        )));
    }
    if !args.json {
        writeln!(out, "\nDry run: nothing was sent and nothing was recorded.").usage()?;
    }
    Ok(Done::Ok)
}

/// Asks on a terminal; refuses in a script that did not pass `--yes`.
fn confirm(yes: bool, plan: &Plan) -> anyhow::Result<()> {
    if yes {
        return Ok(());
    }
    if !std::io::stdin().is_terminal() {
        anyhow::bail!(say::NO_CONFIRMATION);
    }
    eprint!("{}", what_goes_out(plan));
    let count = plan.channels.iter().filter(|p| p.skipped.is_none()).count();
    eprint!(
        "Post update {} of {} ({}) to {count} channel(s)? [y/N] ",
        plan.update.sequence, plan.update.incident, plan.update.status
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
            let files: Vec<&std::path::Path> =
                rendering.files.iter().map(|f| f.path.as_path()).collect();
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
fn common_folder(files: &[&std::path::Path]) -> std::path::PathBuf {
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

/// What Ctrl-C left behind, and how to finish it.
fn interrupted(report: &Report) -> String {
    let named = |outcome: Shown| -> Vec<String> {
        report
            .deliveries
            .iter()
            .filter(|delivery| delivery.outcome == outcome)
            .map(|delivery| match delivery.target.as_str() {
                "" => delivery.channel.clone(),
                target => format!("{} {target}", delivery.channel),
            })
            .collect()
    };
    let unknown = named(Shown::Unknown);
    let unsent = named(Shown::Failed);
    let mut text = "interrupted: sending stopped.".to_owned();
    if !unknown.is_empty() {
        text.push_str(&format!(
            " These may have gone out (unknown): {}.",
            unknown.join(", ")
        ));
    }
    if !unsent.is_empty() {
        text.push_str(&format!(" These were not sent: {}.", unsent.join(", ")));
    }
    text.push_str(&format!(
        " `outage retry {}` finishes them (it asks for --include-unknown before sending again \
         what may have gone out).",
        report.incident
    ));
    text
}
