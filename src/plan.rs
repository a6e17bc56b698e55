//! Planning: everything `post`, `lint` and `retry` decide before anything is written or sent.
//! Every step here reads (the config, the journal) and writes nothing, which is what makes
//! `outage lint` and `--dry-run` safe anywhere.
//!
//! The steps, in order:
//! 1. [`find_rerun`]: the same command again (same inputs as typed, within `rerun_window`, or the
//!    same `--idempotency-key`) is a rerun of an update already recorded, and sends nothing; the
//!    same words with other channels chosen are that update too, going on to the channels it has
//!    not reached ([`extend`]);
//! 2. [`place`]: which incident the update belongs to, and whether it opens one;
//! 3. [`facts()`]: the canonical [`Update`], times resolved against one "now" and checked;
//! 4. the wording rules on its text;
//! 5. [`render`]: the channels selected, each rendered (projections from the journal's state
//!    with this update applied) and checked to carry its facts.

use std::collections::BTreeMap;

use anyhow::{Context, bail};
use jiff::{SignedDuration, Timestamp};
use sha2::{Digest, Sha256};

use crate::autopilot::Step;
use crate::channels::site::write::Published;
use crate::channels::{ChannelConfig, History, Links, Projection, RenderCx, Rendering, site};
use crate::digest::hex;
use crate::input::Draft;
use crate::journal::{Allowed, Delivery, Filter, Incident, Journal, State, StoredUpdate};
use crate::setup::Setup;
use crate::update::{self, IncidentKind, Status, Update};
use crate::wording::facts;
use crate::wording::render::Renderer;
use crate::wording::rules::{self, Finding};

/// A channel in the plan: what it will send, or why it is skipped.
#[derive(Clone, Debug)]
pub(crate) struct Planned {
    pub(crate) channel: ChannelConfig,
    pub(crate) rendering: Option<Rendering>,
    pub(crate) skipped: Option<String>,
    /// The recipients within the channel: `[""]` for all but lists.
    pub(crate) targets: Vec<String>,
}

/// Where the update goes.
#[derive(Clone, Debug)]
pub(crate) struct Place {
    pub(crate) incident: String,
    pub(crate) existing: Option<Incident>,
}

/// Everything `post` needs to know before it writes anything.
pub(crate) struct Plan {
    pub(crate) update: Update,
    pub(crate) place: Place,
    pub(crate) channels: Vec<Planned>,
    pub(crate) findings: Vec<Finding>,
    /// A digest of the facts.
    pub(crate) fingerprint: String,
    /// A digest of the inputs as typed.
    pub(crate) input: String,
    /// A digest of the words as typed: the inputs without the channels chosen or the incident's
    /// name (see [`find_rerun`]).
    pub(crate) content: String,
    pub(crate) allowed: Allowed,
    pub(crate) idempotency_key: Option<String>,
    /// The update is one recorded already, going on to channels it had not reached.
    pub(crate) extends: Option<Extends>,
}

/// A recorded update that goes on to more channels.
#[derive(Clone, Debug)]
pub(crate) struct Extends {
    /// Its id in the journal.
    pub(crate) id: String,
    /// The channels it went to before (whatever their outcome), each once.
    pub(crate) reached: Vec<String>,
}

impl Extends {
    /// `banner, feed`: where it went before, for a person.
    pub(crate) fn went_to(&self) -> String {
        match self.reached.is_empty() {
            true => "no channel".to_owned(),
            false => self.reached.join(", "),
        }
    }
}

impl Plan {
    pub(crate) fn blocked(&self) -> bool {
        self.findings.iter().any(Finding::blocks)
    }

    /// The channels an update going on to more channels goes to now; none for a new one.
    pub(crate) fn also_sent_to(&self) -> Vec<String> {
        match self.extends {
            Some(_) => self
                .channels
                .iter()
                .filter(|planned| planned.skipped.is_none())
                .map(|planned| planned.channel.name.clone())
                .collect(),
            None => Vec::new(),
        }
    }

    /// Whether this update opens its incident.
    pub(crate) fn opens(&self) -> bool {
        self.place.existing.is_none()
    }
}

/// What the journal holds of these words already.
pub(crate) enum Earlier {
    /// The same command again.
    Same(StoredUpdate),
    /// The same words, with other channels chosen or the incident named another way, as the
    /// latest update of its incident: that update, with its deliveries.
    SameWords(StoredUpdate, Vec<Delivery>),
}

/// What planning found.
pub(crate) enum Planning {
    /// A new update to record and send.
    New(Box<Plan>),
    /// The same command again: this update was recorded already.
    Rerun(Box<StoredUpdate>),
}

/// What the plan is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Purpose {
    /// A post (or its dry run): the same command again is a rerun, and an update goes where it
    /// may go.
    Post,
    /// `lint`: the wording, whatever the journal holds and wherever the update would go.
    Lint,
}

/// Plans an update for a post. `journal` is `None` when there is none yet.
pub(crate) fn plan(
    draft: &Draft,
    setup: &Setup,
    journal: Option<&dyn Journal>,
    renderer: &Renderer,
    now: Timestamp,
) -> anyhow::Result<Planning> {
    plan_for(Purpose::Post, draft, setup, journal, renderer, now)
}

pub(crate) fn plan_for(
    purpose: Purpose,
    draft: &Draft,
    setup: &Setup,
    journal: Option<&dyn Journal>,
    renderer: &Renderer,
    now: Timestamp,
) -> anyhow::Result<Planning> {
    let config = &setup.config;
    let given = match purpose {
        Purpose::Post => given_incident(draft, journal)?,
        Purpose::Lint => given_incident(draft, journal).ok().flatten(),
    };
    let input = draft.digest(given.as_deref().unwrap_or(""));
    if purpose == Purpose::Post {
        match find_rerun(draft, &input, given.as_deref(), journal, now, config)? {
            Some(Earlier::Same(stored)) => return Ok(Planning::Rerun(Box::new(stored))),
            Some(Earlier::SameWords(stored, deliveries)) => {
                return extend(draft, setup, journal, renderer, stored, &deliveries);
            }
            None => {}
        }
    }
    let place = match purpose {
        Purpose::Post => place(draft, given, journal, now, &config.organization.timezone)?,
        // Wherever it would go, a new incident by default: the wording is what is checked.
        Purpose::Lint => {
            let incident = given.unwrap_or_else(|| {
                update::incident_id(
                    draft.title.as_deref().unwrap_or("incident"),
                    now,
                    &config.organization.timezone,
                )
            });
            let existing = journal
                .map(|journal| journal.incident(&incident))
                .transpose()?
                .flatten();
            Place { incident, existing }
        }
    };
    let mut update = facts(draft, &place, now, setup, purpose)?;
    let earlier = match (&place.existing, journal) {
        (Some(incident), Some(journal)) => journal.updates(&incident.id)?,
        _ => Vec::new(),
    };
    if draft.autopilot.is_some() {
        crate::autopilot::check(&update)?;
    }
    carry_forward(&mut update, earlier.last().map(|stored| &stored.update));
    check_begun(&update, now, &config.organization.timezone)?;
    let earlier: Vec<(u32, &str)> = earlier
        .iter()
        .map(|stored| (stored.update.sequence, stored.update.message.as_str()))
        .collect();
    let mut findings = rules::check(&update, &config.policy, &earlier);
    let selected: Vec<(ChannelConfig, Option<String>)> = select(setup, &draft.channels)?
        .into_iter()
        .map(|(channel, skipped)| phase_skipped(channel, skipped, &update))
        .collect();
    let (channels, channel_findings) =
        render_selected(setup, journal, selected, &update, renderer, now)?;
    findings.extend(channel_findings);
    let findings = rules::settle(findings, &config.policy, &draft.allow);
    let channels = skip_unrendered(channels, &findings);
    Ok(Planning::New(Box::new(Plan {
        fingerprint: fingerprint(&update),
        update,
        place,
        channels,
        findings,
        input,
        content: draft.content(),
        allowed: draft.allow.clone(),
        idempotency_key: draft.idempotency_key.clone(),
        extends: None,
    })))
}

/// A channel whose `phases` leave out this update's phase is skipped, saying so.
fn phase_skipped(
    channel: ChannelConfig,
    skipped: Option<String>,
    update: &Update,
) -> (ChannelConfig, Option<String>) {
    let skipped = skipped.or_else(|| {
        (!channel.posts_phase(update)).then(|| {
            format!(
                "its phases leave out {}",
                update.phase().map_or("this", |phase| phase.as_str())
            )
        })
    });
    (channel, skipped)
}

/// Step 1, continued: the same words sent earlier with other channels chosen. The update goes
/// on, as recorded (its facts, its times), to the chosen channels it has not reached: a channel
/// it went to is never sent it again, whatever came of it (`retry` finishes those). When no
/// channel is left, it is a rerun.
fn extend(
    draft: &Draft,
    setup: &Setup,
    journal: Option<&dyn Journal>,
    renderer: &Renderer,
    stored: StoredUpdate,
    deliveries: &[Delivery],
) -> anyhow::Result<Planning> {
    let mut reached: Vec<String> = Vec::new();
    for delivery in deliveries.iter().filter(|d| d.state != State::Skipped) {
        if !reached.contains(&delivery.channel) {
            reached.push(delivery.channel.clone());
        }
    }
    let recorded = |name: &str| deliveries.iter().any(|delivery| delivery.channel == name);
    let update = stored.update.clone();
    let selected: Vec<(ChannelConfig, Option<String>)> = select(setup, &draft.channels)?
        .into_iter()
        .map(|(channel, skipped)| phase_skipped(channel, skipped, &update))
        // Left out: a channel it reached, and one still skipped that it recorded as skipped.
        .filter(|(channel, skipped)| {
            let left_out =
                reached.contains(&channel.name) || (skipped.is_some() && recorded(&channel.name));
            !left_out
        })
        .collect();
    if selected.iter().all(|(_, skipped)| skipped.is_some()) {
        return Ok(Planning::Rerun(Box::new(stored)));
    }
    let existing = journal
        .map(|journal| journal.incident(&update.incident))
        .transpose()?
        .flatten();
    // Rendered as of when it was posted, as `retry` renders it: the words the others got.
    let (channels, findings) = render_selected(
        setup,
        journal,
        selected,
        &update,
        renderer,
        update.posted_at,
    )?;
    let findings = rules::settle(findings, &setup.config.policy, &stored.allowed);
    Ok(Planning::New(Box::new(Plan {
        fingerprint: fingerprint(&update),
        place: Place {
            incident: update.incident.clone(),
            existing,
        },
        channels: skip_unrendered(channels, &findings),
        findings,
        input: stored.input.unwrap_or_default(),
        content: stored.content.unwrap_or_default(),
        allowed: stored.allowed,
        idempotency_key: None,
        extends: Some(Extends {
            id: stored.id,
            reached,
        }),
        update,
    })))
}

/// The later phases of a maintenance being scheduled (or rescheduled) with an autopilot, each
/// planned as `outage tick` will post it, at its time: rendered for every channel and checked,
/// so that a phase that would be refused is refused now, before anything is sent.
pub(crate) fn phases(
    plan: &Plan,
    draft: &Draft,
    setup: &Setup,
    journal: Option<&dyn Journal>,
    renderer: &Renderer,
    now: Timestamp,
) -> anyhow::Result<Vec<(Step, Plan)>> {
    let update = &plan.update;
    let (Some(autopilot), Some(starts), Status::Scheduled, false) = (
        &update.autopilot,
        update.starts,
        update.status,
        draft.reminder,
    ) else {
        return Ok(Vec::new());
    };
    let mut plans = Vec::new();
    for step in crate::autopilot::steps(autopilot, starts, update.ends) {
        if step.at <= now {
            continue;
        }
        let mut draft = crate::autopilot::draft(update, &step, autopilot);
        draft.allow = plan.allowed.clone();
        match plan_for(Purpose::Lint, &draft, setup, journal, renderer, step.at)? {
            Planning::New(phase) => plans.push((step, *phase)),
            Planning::Rerun(_) => {}
        }
    }
    Ok(plans)
}

/// What `latest` means, everywhere: the incident updated most recently, open ones first.
pub(crate) fn latest(journal: Option<&dyn Journal>) -> anyhow::Result<String> {
    Ok(journal
        .map(|journal| journal.latest_incident())
        .transpose()?
        .flatten()
        .context("there is no incident in the journal yet; a post without --incident opens one")?
        .id)
}

/// The incident named on the command line, `latest` resolved; `None` for a new incident.
pub(crate) fn given_incident(
    draft: &Draft,
    journal: Option<&dyn Journal>,
) -> anyhow::Result<Option<String>> {
    match draft.incident.as_deref() {
        None => Ok(None),
        Some("latest") => latest(journal).context("--incident latest").map(Some),
        Some(id) => {
            if id.is_empty() || id.chars().any(|c| c.is_whitespace() || c.is_control()) {
                bail!("--incident `{id}`: an incident id has no spaces");
            }
            Ok(Some(id.to_owned()))
        }
    }
}

/// Step 1: the same command again. With `--idempotency-key`, the update the key names (its
/// inputs must be these, but for the channels); otherwise an update with these inputs recorded
/// within the window, or the latest update of the incident they go to, posted within the
/// window with these words and other channels chosen (or its incident named another way).
pub(crate) fn find_rerun(
    draft: &Draft,
    input: &str,
    given: Option<&str>,
    journal: Option<&dyn Journal>,
    now: Timestamp,
    config: &crate::config::Config,
) -> anyhow::Result<Option<Earlier>> {
    let Some(journal) = journal else {
        return Ok(None);
    };
    if let Some(key) = &draft.idempotency_key {
        return match journal.update_by_key(key)? {
            None => Ok(None),
            Some(stored) if stored.input.as_deref().is_none_or(|known| known == input) => {
                Ok(Some(Earlier::Same(stored)))
            }
            Some(stored) => {
                let (sequence, incident) = (stored.update.sequence, stored.update.incident.clone());
                let same = match given.is_none_or(|id| id == incident) {
                    true => same_words(draft, stored, journal)?,
                    false => None,
                };
                match same {
                    Some(earlier) => Ok(Some(earlier)),
                    None => bail!(
                        "--idempotency-key {key} already names update {sequence} of {incident}, \
                         with different inputs; use a new key"
                    ),
                }
            }
        };
    }
    let since = now.checked_sub(config.policy.rerun_window)?;
    if let Some(stored) = journal.update_by_input(input, since)? {
        return Ok(Some(Earlier::Same(stored)));
    }
    let incident = match (given, &draft.title) {
        (Some(id), _) => Some(id.to_owned()),
        (None, Some(title)) => {
            let base = update::incident_id(title, now, &config.organization.timezone);
            titled(journal, &base)?
        }
        (None, None) => None,
    };
    let Some(latest) = incident
        .map(|id| journal.updates(&id))
        .transpose()?
        .and_then(|mut updates| updates.pop())
        .filter(|latest| latest.update.posted_at >= since)
    else {
        return Ok(None);
    };
    same_words(draft, latest, journal)
}

/// The incident a new incident's title names: the last of `base`, `base-2`, ... the journal
/// has (see [`place`]).
fn titled(journal: &dyn Journal, base: &str) -> anyhow::Result<Option<String>> {
    let mut found = None;
    for suffix in 1.. {
        let id = match suffix {
            1 => base.to_owned(),
            n => format!("{base}-{n}"),
        };
        if journal.incident(&id)?.is_none() {
            break;
        }
        found = Some(id);
    }
    Ok(found)
}

/// `stored` when these words are its own (the inputs but for the channels chosen and the way
/// its incident was named), and it is the latest update of its incident: a later one has moved
/// the incident on, and these words would be an update of their own.
fn same_words(
    draft: &Draft,
    stored: StoredUpdate,
    journal: &dyn Journal,
) -> anyhow::Result<Option<Earlier>> {
    if stored.content.as_deref() != Some(draft.content().as_str()) {
        return Ok(None);
    }
    let latest = journal
        .incident(&stored.update.incident)?
        .is_some_and(|incident| incident.last_sequence == stored.update.sequence);
    if !latest {
        return Ok(None);
    }
    let deliveries = journal.deliveries(&stored.id)?;
    Ok(Some(Earlier::SameWords(stored, deliveries)))
}

/// Step 2: which incident the update belongs to.
pub(crate) fn place(
    draft: &Draft,
    given: Option<String>,
    journal: Option<&dyn Journal>,
    now: Timestamp,
    tz: &jiff::tz::TimeZone,
) -> anyhow::Result<Place> {
    let find = |id: &str| -> anyhow::Result<Option<Incident>> {
        journal
            .map(|journal| journal.incident(id))
            .transpose()
            .map(Option::flatten)
    };
    if let Some(id) = given {
        if let Some(existing) = find(&id)? {
            return Ok(Place {
                incident: id,
                existing: Some(existing),
            });
        }
        if draft.title.is_none() || !opens(draft.status) {
            bail!("{}", unknown_incident(&id, journal)?);
        }
        if draft.correction {
            bail!("--correction corrects an earlier update, and incident {id} has none yet");
        }
        return Ok(Place {
            incident: id,
            existing: None,
        });
    }
    if draft.correction {
        bail!("--correction corrects an earlier update; pass --incident ID");
    }
    let title = draft.title.as_deref().expect("a new incident has a title");
    if !opens(draft.status) {
        bail!(
            "a new incident starts investigating or identified (a maintenance: scheduled), not \
             {}; to post to an existing incident pass --incident ID",
            draft.status
        );
    }
    let base = update::incident_id(title, now, tz);
    let mut id = base.clone();
    for suffix in 2.. {
        match find(&id)? {
            None => break,
            Some(existing) if existing.is_open => bail!(
                "incident {} already exists ({}); pass --incident {} to follow it up, or open a new \
                 one with a different title or with --incident NEW-ID",
                existing.id,
                existing.status,
                existing.id
            ),
            // The same title again the same day, after the first is over: a new incident.
            Some(_) => id = format!("{base}-{suffix}"),
        }
    }
    Ok(Place {
        incident: id,
        existing: None,
    })
}

/// The statuses an incident may start with.
fn opens(status: Status) -> bool {
    matches!(
        status,
        Status::Investigating | Status::Identified | Status::Scheduled
    )
}

/// "no incident `X`; did you mean …?"
fn unknown_incident(id: &str, journal: Option<&dyn Journal>) -> anyhow::Result<String> {
    let ids = journal
        .map(|journal| journal.incident_ids())
        .transpose()?
        .unwrap_or_default();
    let mut near: Vec<(usize, String)> = ids
        .into_iter()
        .map(|known| (strsim::levenshtein(id, &known), known))
        .filter(|(distance, known)| *distance <= (known.len() / 3).max(3))
        .collect();
    near.sort();
    let near: Vec<String> = near.into_iter().take(3).map(|(_, known)| known).collect();
    let hint = match near.as_slice() {
        [] => String::new(),
        [one] => format!("did you mean {one}? "),
        several => format!("did you mean one of {}? ", several.join(", ")),
    };
    Ok(format!(
        "no incident `{id}` in the journal; {hint}(`outage incidents` lists them; to open a new \
         incident with this id, give --title and an opening status: investigating, identified or \
         scheduled)"
    ))
}

/// Step 3: the canonical facts, times resolved and checked, the transition allowed.
pub(crate) fn facts(
    draft: &Draft,
    place: &Place,
    now: Timestamp,
    setup: &Setup,
    purpose: Purpose,
) -> anyhow::Result<Update> {
    let tz = &setup.config.organization.timezone;
    let time = |flag: &str, value: &Option<String>| -> anyhow::Result<Option<Timestamp>> {
        value
            .as_deref()
            .map(|text| update::parse_time(text, now, tz).with_context(|| flag.to_owned()))
            .transpose()
    };
    let title = match (&draft.title, &place.existing) {
        (Some(title), _) => title.clone(),
        (None, Some(existing)) => existing.title.clone(),
        (None, None) if purpose == Purpose::Lint => "Untitled".to_owned(),
        (None, None) => bail!("the update needs --title: it opens a new incident"),
    };
    let starts = time("--starts / starts", &draft.starts)?;
    let ends = time("--ends / ends", &draft.ends)?;
    let eta = time("--eta / eta", &draft.eta)?;
    let next_update = time("--next-update / next_update", &draft.next_update)?;
    let past = |flag: &str, at: Option<Timestamp>| -> anyhow::Result<()> {
        if let Some(at) = at
            && at <= now
        {
            bail!(
                "{flag}: {} is not in the future; give a time still to come (14:30, +45m or an \
                 RFC 3339 time)",
                update::format_time(at, now, tz)
            );
        }
        Ok(())
    };
    past("--eta / eta", eta)?;
    past("--next-update / next_update", next_update)?;
    if !draft.status.is_final() {
        past("--ends / ends", ends)?;
    }
    if let (Some(starts), Some(ends)) = (starts, ends)
        && ends <= starts
    {
        bail!("--ends / ends must be after --starts / starts");
    }
    if draft.status == Status::Scheduled {
        match starts {
            None => bail!("a scheduled maintenance needs --starts / starts (and usually --ends)"),
            Some(starts) if starts <= now => bail!(
                "--starts / starts: {} is not in the future; a maintenance that has begun is \
                 --status in-progress",
                update::format_time(starts, now, tz)
            ),
            Some(_) => {}
        }
    }
    let components = components(&draft.components, &setup.config.components)?;
    if let (Some(existing), Purpose::Post) = (&place.existing, purpose) {
        update::check_transition(&existing.id, existing.status, draft.status, draft.reopen)?;
    }
    Ok(Update {
        incident: place.incident.clone(),
        sequence: place
            .existing
            .as_ref()
            .map_or(1, |incident| incident.last_sequence + 1),
        kind: draft.status.kind(),
        status: draft.status,
        title,
        message: draft.message.clone(),
        components,
        impact: draft.impact,
        eta,
        next_update,
        starts,
        ends,
        compensation: draft.compensation.clone(),
        internal_note: draft.internal_note.clone(),
        correction: draft.correction,
        posted_at: now,
        reminder: draft.reminder,
        rescheduled: false,
        autopilot: draft.autopilot.clone(),
    })
}

/// What a maintenance's follow-up keeps of the update before it: its autopilot (a reminder,
/// a move by hand or a new window keep the plan), and whether a new window is a rescheduling.
fn carry_forward(update: &mut Update, previous: Option<&Update>) {
    let Some(previous) = previous else {
        return;
    };
    if update.kind != IncidentKind::Maintenance || update.status.is_final() {
        return;
    }
    if update.autopilot.is_none() {
        update.autopilot = previous.autopilot.clone();
    }
    // The window stays the maintenance's until a new one is given: an update moved by hand
    // (in progress early, a new end) keeps it, and so does the autopilot's plan.
    if update.starts.is_none() {
        update.starts = previous.starts;
    }
    if update.ends.is_none() {
        update.ends = previous.ends;
    }
    update.rescheduled = update.status == Status::Scheduled
        && !update.reminder
        && previous.status == Status::Scheduled
        && (update.starts, update.ends) != (previous.starts, previous.ends);
}

/// A maintenance said to be in progress well before its window would tell customers two things
/// at once ("in progress"; "window: Sat 5 Dec 02:00 to 03:00"), most often because `--incident
/// latest` named another maintenance or the window was mistyped. More than an hour early it is
/// refused, saying how to make it true; within the hour it is an early start and keeps its window.
fn check_begun(update: &Update, now: Timestamp, tz: &jiff::tz::TimeZone) -> anyhow::Result<()> {
    match update.starts {
        Some(starts)
            if update.status == Status::InProgress
                && starts.duration_since(now) > SignedDuration::from_hours(1) =>
        {
            bail!(
                "--status in-progress: maintenance {} is to start {}; if it has begun, give its \
                 window again (--starts {} --ends ...), or check --incident",
                update.incident,
                update::format_time(starts, now, tz),
                // The minute it began, as --starts takes a time gone by.
                now.strftime("%Y-%m-%dT%H:%M:00Z")
            )
        }
        _ => Ok(()),
    }
}

/// When the config names its components, an update names only those, in any case, and they
/// are spelt as the config spells them (`web app` is `Web app`, on every channel).
fn components(given: &[String], known: &[crate::config::Component]) -> anyhow::Result<Vec<String>> {
    if known.is_empty() {
        return Ok(given.to_vec());
    }
    given
        .iter()
        .map(|name| {
            known
                .iter()
                .find(|component| component.name == *name)
                .or_else(|| {
                    let mut folded = known
                        .iter()
                        .filter(|component| component.name.to_lowercase() == name.to_lowercase());
                    // Two that differ in case alone: the exact name, or neither.
                    folded.next().filter(|_| folded.next().is_none())
                })
                .map(|component| component.name.clone())
                .with_context(|| {
                    let names: Vec<&str> = known.iter().map(|c| c.name.as_str()).collect();
                    format!(
                        "--components / components: no component is named `{name}`; the \
                         components are {}",
                        names.join(", ")
                    )
                })
        })
        .collect()
}

/// The state the projections among `channels` show once this update is recorded: nothing is
/// read when none of them projects, and the recent updates only when one shows them. A status
/// site's `settings` are compared with those its published version was written with.
pub(crate) fn projection<'a>(
    journal: Option<&dyn Journal>,
    update: &Update,
    channels: impl IntoIterator<Item = &'a ChannelConfig>,
    settings: &site::Settings<'_>,
) -> anyhow::Result<Projection> {
    let (mut projects, mut recent_shown, mut history_shown) = (false, 0, false);
    // Whether every site is published already with these settings: then a post writes only the
    // pages it changes, however small the journal (see `History::whole`).
    let (mut current, mut outdated_sites) = (true, Vec::new());
    for channel in channels {
        projects |= channel.kind.is_projection();
        recent_shown = recent_shown.max(channel.kind.recent_shown());
        history_shown |= channel.kind.history_shown();
        let Some(site) = channel.kind.site() else {
            continue;
        };
        match site::write::published(site.dir()) {
            Published::With(Some(digest)) if digest == site.fingerprint(settings) => {}
            Published::Nothing => current = false,
            Published::With(_) => {
                current = false;
                outdated_sites.push(site.dir().to_owned());
            }
        }
    }
    if !projects {
        return Ok(Projection::default());
    }
    let (mut open, mut recent) = match journal {
        Some(journal) if recent_shown > 0 => (
            journal.open_updates()?,
            journal.recent_updates(recent_shown)?,
        ),
        Some(journal) => (journal.open_updates()?, Vec::new()),
        None => (Vec::new(), Vec::new()),
    };
    open.retain(|other| other.incident != update.incident);
    if !update.status.is_final() {
        open.push(update.clone());
    }
    recent
        .retain(|other| !(other.incident == update.incident && other.sequence == update.sequence));
    recent.insert(0, update.clone());
    let history = match journal {
        Some(journal) if history_shown => {
            let mut history = history(journal, Some(update), &open, false)?;
            history.whole &= !current;
            Some(history)
        }
        None if history_shown => Some(history_of(Vec::new(), Vec::new(), Some(update), true)),
        _ => None,
    };
    Ok(Projection {
        open,
        recent,
        history,
        outdated_sites,
    })
}

/// The history a status site shows, `update` applied: every incident, and the whole timelines
/// of the open ones (`open`, this update applied), the recent ones and `update`'s, or of every
/// incident when `whole`.
pub(crate) fn history(
    journal: &dyn Journal,
    update: Option<&Update>,
    open: &[Update],
    whole: bool,
) -> anyhow::Result<History> {
    let incidents = journal.incidents(&Filter::default())?;
    let timelines = if whole {
        journal.timelines(None)?
    } else {
        let since = update.map_or_else(Timestamp::now, |update| update.posted_at)
            - SignedDuration::from_hours(24 * site::DAYS_SHOWN);
        let (mut incident_count, mut maintenance_count) = (0, 0);
        let mut ids: Vec<String> = open.iter().map(|open| open.incident.clone()).collect();
        ids.extend(update.map(|update| update.incident.clone()));
        for incident in &incidents {
            let count = match incident.kind {
                IncidentKind::Incident => &mut incident_count,
                IncidentKind::Maintenance => &mut maintenance_count,
            };
            *count += 1;
            if *count <= site::LISTED || incident.opened_at >= since {
                ids.push(incident.id.clone());
            }
        }
        journal.timelines(Some(&ids))?
    };
    // While the journal is small every timeline is read anyway: the site is then whole.
    let whole = whole || {
        let mut shown: Vec<&str> = timelines.iter().map(|u| u.incident.as_str()).collect();
        shown.extend(update.map(|update| update.incident.as_str()));
        shown.sort_unstable();
        shown.dedup();
        incidents
            .iter()
            .all(|incident| shown.binary_search(&incident.id.as_str()).is_ok())
    };
    Ok(history_of(incidents, timelines, update, whole))
}

/// The history from the journal's incidents and timelines, `update` applied.
fn history_of(
    mut incidents: Vec<Incident>,
    updates: Vec<Update>,
    update: Option<&Update>,
    whole: bool,
) -> History {
    let mut timelines: BTreeMap<String, Vec<Update>> = BTreeMap::new();
    for stored in updates {
        timelines
            .entry(stored.incident.clone())
            .or_default()
            .push(stored);
    }
    if let Some(update) = update {
        let timeline = timelines.entry(update.incident.clone()).or_default();
        timeline.retain(|other| other.sequence != update.sequence);
        timeline.push(update.clone());
        timeline.sort_by_key(|other| other.sequence);
        let opened_at = timeline
            .first()
            .map_or(update.posted_at, |first| first.posted_at);
        incidents.retain(|incident| incident.id != update.incident);
        incidents.push(Incident {
            id: update.incident.clone(),
            kind: update.kind,
            title: update.title.clone(),
            status: update.status,
            is_open: !update.status.is_final(),
            last_sequence: update.sequence,
            opened_at,
            updated_at: update.posted_at,
        });
        incidents.sort_by(|a, b| b.opened_at.cmp(&a.opened_at).then(b.id.cmp(&a.id)));
    }
    History {
        incidents,
        timelines,
        whole,
    }
}

/// Why a channel the config has but does not enable got nothing.
pub(crate) const DISABLED: &str = "disabled in the config";

/// The channels to send to, each with a reason when it is skipped.
pub(crate) fn select(
    setup: &Setup,
    names: &[String],
) -> anyhow::Result<Vec<(ChannelConfig, Option<String>)>> {
    let path = setup.config.path.display();
    for name in names {
        if !setup.channels.iter().any(|channel| &channel.name == name) {
            let known: Vec<&str> = setup.channels.iter().map(|c| c.name.as_str()).collect();
            bail!(
                "--channels: no channel is named `{name}` in {path}; the channels are {}",
                known.join(", ")
            );
        }
    }
    let mut selected = Vec::new();
    for channel in &setup.channels {
        let chosen = names.is_empty() || names.contains(&channel.name);
        if names.is_empty() && !channel.enabled {
            selected.push((channel.clone(), Some(DISABLED.to_owned())));
        } else if chosen {
            if !channel.enabled {
                bail!(
                    "--channels: `{}` is disabled in {path}; set enabled = true to use it",
                    channel.name
                );
            }
            selected.push((channel.clone(), None));
        }
    }
    if selected.iter().all(|(_, skipped)| skipped.is_some()) {
        bail!("no channel is enabled in {path}; enable one or add a [[channel]]");
    }
    Ok(selected)
}

/// Step 5 for the channels selected: the projections' state from the journal with `update`
/// applied, and each channel rendered.
fn render_selected(
    setup: &Setup,
    journal: Option<&dyn Journal>,
    selected: Vec<(ChannelConfig, Option<String>)>,
    update: &Update,
    renderer: &Renderer,
    now: Timestamp,
) -> anyhow::Result<(Vec<Planned>, Vec<Finding>)> {
    let links = setup.links();
    let projection = projection(
        journal,
        update,
        selected
            .iter()
            .filter(|(_, skipped)| skipped.is_none())
            .map(|(channel, _)| channel),
        &setup.site_settings(&links),
    )?;
    render(setup, selected, update, &projection, renderer, now)
}

/// Step 5: one rendering per selected channel, checked to carry its kind's facts.
pub(crate) fn render(
    setup: &Setup,
    selected: Vec<(ChannelConfig, Option<String>)>,
    update: &Update,
    projection: &Projection,
    renderer: &Renderer,
    now: Timestamp,
) -> anyhow::Result<(Vec<Planned>, Vec<Finding>)> {
    let links = setup.links();
    let mut findings = Vec::new();
    let mut planned = Vec::new();
    for (channel, skipped) in selected {
        if let Some(reason) = skipped {
            planned.push(Planned {
                channel,
                rendering: None,
                skipped: Some(reason),
                targets: vec![String::new()],
            });
            continue;
        }
        let targets = channel
            .kind
            .targets()
            .map_err(|err| anyhow::anyhow!("channel `{}`: {err:#}", channel.name))?;
        let (rendering, found) =
            render_one(setup, &channel, update, projection, renderer, now, &links);
        findings.extend(found.into_iter().map(|finding| finding.on(&channel.name)));
        planned.push(Planned {
            channel,
            rendering,
            skipped: None,
            targets,
        });
    }
    Ok((planned, findings))
}

/// Renders one channel and checks its facts.
pub(crate) fn render_one(
    setup: &Setup,
    channel: &ChannelConfig,
    update: &Update,
    projection: &Projection,
    renderer: &Renderer,
    now: Timestamp,
    links: &Links,
) -> (Option<Rendering>, Vec<Finding>) {
    let cx = RenderCx {
        channel,
        update,
        organization: &setup.config.organization,
        components: &setup.config.components,
        now,
        renderer,
        projection,
        links,
    };
    match channel.kind.render(&cx) {
        Ok(rendering) => {
            let found = if rendering.folded {
                Vec::new()
            } else {
                facts::check(
                    &channel.kind.facts(&cx),
                    channel.kind.name(),
                    &channel.kind.shown(&rendering),
                )
            };
            (Some(rendering), found)
        }
        Err(finding) => (None, vec![finding]),
    }
}

/// A channel that could not be render (its error let through with `--allow`) is skipped, never
/// recorded as a delivery without a rendering.
fn skip_unrendered(channels: Vec<Planned>, findings: &[Finding]) -> Vec<Planned> {
    channels
        .into_iter()
        .map(|mut planned| {
            if planned.skipped.is_none() && planned.rendering.is_none() {
                let why = findings
                    .iter()
                    .find(|finding| finding.channel.as_deref() == Some(&planned.channel.name))
                    .map_or_else(
                        || "it could not be rendered".to_owned(),
                        |f| f.message.clone(),
                    );
                planned.skipped = Some(format!("not rendered: {why}"));
                planned.targets = vec![String::new()];
            }
            planned
        })
        .collect()
}

/// A digest of the facts as recorded.
pub(crate) fn fingerprint(update: &Update) -> String {
    let facts = serde_json::to_string(update).expect("updates serialize");
    hex(&Sha256::digest(facts.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        /// A component given in any case is the configured one, spelt as configured; a name
        /// no configured one has, in any case, is refused by name.
        #[test]
        fn components_match_in_any_case_and_keep_the_configs_spelling(
            pick in 0..4usize,
            flips in proptest::collection::vec(proptest::bool::ANY, 8),
            other in "[a-zA-Z ]{1,8}",
        ) {
            let known: Vec<crate::config::Component> = ["Web app", "API", "Billing"]
                .map(|name| crate::config::Component {
                    name: name.to_owned(),
                    group: None,
                    description: None,
                })
                .to_vec();
            let typed: String = match known.get(pick) {
                Some(component) => component
                    .name
                    .chars()
                    .zip(flips.iter().cycle())
                    .map(|(c, flip)| if *flip { c.to_ascii_uppercase() } else { c.to_ascii_lowercase() })
                    .collect(),
                None => other.clone(),
            };
            let found = components(std::slice::from_ref(&typed), &known);
            match known.iter().find(|c| c.name.eq_ignore_ascii_case(&typed)) {
                Some(component) => proptest::prop_assert_eq!(found.unwrap(), vec![component.name.clone()]),
                None => {
                    let err = found.unwrap_err().to_string();
                    proptest::prop_assert!(err.contains(&format!("no component is named `{typed}`")), "{}", err);
                }
            }
        }

        /// An update is refused for its window exactly when it says in-progress more than an
        /// hour before the window starts: every other status, a window begun or within the
        /// hour, and no window at all pass.
        #[test]
        fn in_progress_is_refused_only_well_before_its_window(
            minutes in proptest::option::of(-600i64..6000),
            status in proptest::sample::select(Status::ALL.to_vec()),
        ) {
            let now: Timestamp = "2026-11-22T10:00:00Z".parse().unwrap();
            let mut update = Update::example(now);
            update.status = status;
            update.kind = status.kind();
            update.starts = minutes.map(|minutes| now + SignedDuration::from_mins(minutes));
            let refused = check_begun(&update, now, &jiff::tz::TimeZone::UTC).is_err();
            let early = minutes.is_some_and(|minutes| minutes > 60);
            proptest::prop_assert_eq!(refused, status == Status::InProgress && early);
        }
    }
}
