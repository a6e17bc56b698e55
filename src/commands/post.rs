//! `outage post`: plan, confirm, record, send, report. What it shows before sending (the dry
//! run, the confirmation) is in `preview`.

use super::preview::{any_blocked, confirm, dry_run, preview, print_all_findings};
use super::send::{self, Ready, Sending};
use super::{finish, retry_hint};
use crate::cli::{Cli, PostArgs};
use crate::error::{Done, Error, Phase, say};
use crate::input::Draft;
use crate::journal::{
    Access, Delivery, Journal, NewDelivery, NewUpdate, Opening, State, incident_lock,
};
use crate::plan::{self, Planning};
use crate::report::{self, Report, Shown};
use crate::setup::Setup;
use crate::update;
use crate::wording::render::Renderer;

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
        &posted.verb,
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
    pub(crate) verb: String,
    pub(crate) hint: Option<String>,
}

/// The channels the config sends to now that a rerun's update never went to (added to the
/// config, or enabled, since it was posted): the rerun sends nothing, so it names them.
fn missed_by_rerun(report: &Report, setup: &Setup, draft: &Draft) -> Vec<String> {
    setup
        .channels
        .iter()
        .filter(|channel| {
            channel.enabled && (draft.channels.is_empty() || draft.channels.contains(&channel.name))
        })
        .filter(|channel| {
            report
                .deliveries
                .iter()
                .filter(|delivery| delivery.channel == channel.name)
                .all(|delivery| delivery.note.as_deref() == Some(plan::DISABLED))
        })
        .map(|channel| channel.name.clone())
        .collect()
}

/// How to reach the channels a rerun missed: the same words with `--channels` send the same
/// update on to them, and `--incident` names its incident (an opening update's words alone name
/// it only within the rerun window).
fn reach_missed(report: &Report, draft: &Draft) -> Option<String> {
    let follow = match &draft.incident {
        Some(_) => String::new(),
        None => format!("--incident {} ", report.incident),
    };
    (!report.missed.is_empty()).then(|| {
        format!(
            "{} did not get this update (enabled or added since it was posted); the same \
             command with `{follow}--channels {}` sends it to them.",
            report.missed.join(", "),
            report.missed.join(",")
        )
    })
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
            let mut report = Report {
                rerun: true,
                ..Report::recorded(
                    &stored.update,
                    &journal.deliveries(&stored.id).usage()?,
                    false,
                )
            };
            report.missed = missed_by_rerun(&report, setup, draft);
            let hints: Vec<String> = [
                retry_hint(&report, setup, now),
                reach_missed(&report, draft),
            ]
            .into_iter()
            .flatten()
            .collect();
            return Ok(Posted {
                report,
                verb: "already posted; nothing was sent again".to_owned(),
                hint: (!hints.is_empty()).then(|| hints.join("\n")),
            });
        }
        Planning::New(plan) => plan,
    };
    // An update going on to more channels had its later phases checked when it was posted.
    let phases = match plan.extends {
        Some(_) => Vec::new(),
        None => plan::phases(&plan, draft, setup, Some(&*journal), renderer, now).usage()?,
    };
    if any_blocked(&plan, &phases) {
        let report = preview(&plan, false, false);
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
    let update_id = match &plan.extends {
        Some(extends) => {
            journal.extend(&extends.id, &deliveries).usage()?;
            extends.id.clone()
        }
        None => journal
            .record(
                &NewUpdate {
                    update: &plan.update,
                    fingerprint: &plan.fingerprint,
                    input: &plan.input,
                    content: &plan.content,
                    idempotency_key: plan.idempotency_key.as_deref(),
                    allowed: &plan.allowed,
                },
                &deliveries,
            )
            .usage()?,
    };

    // Recorded: from here on, whatever fails may come after something went out.
    let pending = Delivery::recorded(deliveries);
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
        also_sent_to: plan.also_sent_to(),
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
        verb: match &plan.extends {
            Some(extends) => format!(
                "also sent to {}; it had gone to {}",
                report.also_sent_to.join(", "),
                extends.went_to()
            ),
            None => "posted".to_owned(),
        },
        report,
        hint,
    })
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
