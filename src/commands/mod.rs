//! One file per subcommand, plus the steps `post` and `lint` share: read the inputs, place the
//! update in its incident, check the wording and render every channel. Those steps are pure: they
//! read the config, the update file and the journal, and write nothing.

pub mod channels;
pub mod history;
pub mod lint;
pub mod post;
pub mod retry;
pub mod status;

use std::collections::{BTreeMap, HashMap};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use anyhow::{Context, bail};
use jiff::Timestamp;
use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::channels::{Channel, Post};
use crate::cli::{Cli, UpdateArgs};
use crate::config::{ChannelConfig, Config};
use crate::dispatch::{self, Job, Progress};
use crate::journal::{Delivery, Journal, StoredUpdate};
use crate::update::{self, Impact, Status, Update};
use crate::wording::render::{Projection, Renderer, Rendering};
use crate::wording::rules::{self, Finding, RuleId};

/// The exit codes scripts rely on (README "Exit codes").
pub mod exit {
    pub const OK: u8 = 0;
    pub const DELIVERY_FAILED: u8 = 1;
    pub const USAGE: u8 = 2;
    pub const POLICY: u8 = 3;
    pub const OVERDUE: u8 = 4;
}

/// A failure once sending has begun: some deliveries may have gone out, so it exits 1, never 2
/// ("nothing was sent").
#[derive(Debug, thiserror::Error)]
#[error("{0:#}; some deliveries may have gone out: `outage history` shows which")]
pub struct AfterSending(pub anyhow::Error);

/// The configuration and where the journal lives.
pub struct Setup {
    pub config: Config,
    pub state_path: PathBuf,
}

impl Setup {
    pub fn load(cli: &Cli) -> anyhow::Result<Setup> {
        let path = crate::config::locate(cli.config.as_deref())?;
        let config = crate::config::load(&path)?;
        let state_path = match (&cli.state, &config.state_path) {
            (Some(path), _) => path.clone(),
            (None, Some(path)) => path.clone(),
            (None, None) => crate::config::default_state_path()?,
        };
        Ok(Setup { config, state_path })
    }
}

/// The fields of an update file (`--from`), the same as the flags.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct UpdateFile {
    incident: Option<String>,
    status: Option<String>,
    title: Option<String>,
    message: Option<String>,
    #[serde(default)]
    components: Vec<String>,
    impact: Option<Impact>,
    eta: Option<String>,
    next_update: Option<String>,
    starts: Option<String>,
    ends: Option<String>,
    compensation: Option<String>,
    internal_note: Option<String>,
    #[serde(default)]
    channels: Vec<String>,
    #[serde(default)]
    allow: BTreeMap<String, String>,
    #[serde(default)]
    correction: bool,
    #[serde(default)]
    reopen: bool,
    idempotency_key: Option<String>,
}

impl UpdateFile {
    fn parse(text: &str, path: &Path) -> anyhow::Result<UpdateFile> {
        toml::from_str(text)
            .map_err(|err| anyhow::anyhow!("{}: {}", path.display(), crate::config::one_line(&err)))
    }
}

/// The inputs merged from the update file and the flags, not yet placed in an incident.
#[derive(Debug)]
pub struct Draft {
    incident: Option<String>,
    status: Status,
    title: Option<String>,
    message: String,
    components: Vec<String>,
    impact: Option<Impact>,
    eta: Option<String>,
    next_update: Option<String>,
    starts: Option<String>,
    ends: Option<String>,
    compensation: Option<String>,
    internal_note: Option<String>,
    pub channels: Vec<String>,
    pub allow: BTreeMap<RuleId, String>,
    correction: bool,
    reopen: bool,
    pub idempotency_key: Option<String>,
}

impl Draft {
    pub fn read(args: &UpdateArgs, idempotency_key: Option<&str>) -> anyhow::Result<Draft> {
        let file: UpdateFile = match &args.from {
            None => UpdateFile::default(),
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("cannot read the update file {}", path.display()))?;
                UpdateFile::parse(&text, path)?
            }
        };
        let message = match (&args.message, &args.message_file) {
            (Some(dash), _) if dash == "-" => {
                let mut text = String::new();
                std::io::stdin()
                    .read_to_string(&mut text)
                    .context("cannot read the message from standard input")?;
                Some(text)
            }
            (Some(text), _) => Some(text.clone()),
            (None, Some(path)) => Some(
                std::fs::read_to_string(path)
                    .with_context(|| format!("cannot read --message-file {}", path.display()))?,
            ),
            (None, None) => file.message,
        };
        let message = message
            .map(|text| text.trim().to_owned())
            .filter(|text| !text.is_empty())
            .context("the update needs a message: pass --message TEXT, --message-file FILE or --message -")?;
        let status: Status = args
            .status
            .clone()
            .or(file.status)
            .context("the update needs a status: pass --status investigating (or identified, monitoring, resolved; for maintenance scheduled, in-progress, completed)")?
            .parse()
            .context("--status")?;
        let mut allow = BTreeMap::new();
        for (rule, reason) in file.allow {
            allow.insert(rule.parse().context("allow")?, reason);
        }
        for item in &args.allow {
            let (rule, reason) = item.split_once('=').with_context(|| {
                format!("--allow {item}: write RULE=reason, e.g. --allow stock-apology=\"legal wording\"")
            })?;
            if reason.trim().is_empty() {
                bail!("--allow {rule}: give the reason after `=`; it is recorded in the journal");
            }
            allow.insert(
                rule.trim().parse().context("--allow")?,
                reason.trim().to_owned(),
            );
        }
        let pick = |flag: &Option<String>, file: Option<String>| flag.clone().or(file);
        Ok(Draft {
            incident: pick(&args.incident, file.incident),
            status,
            // A title is one line: line breaks and runs of spaces become one space.
            title: pick(&args.title, file.title)
                .map(|title| title.split_whitespace().collect::<Vec<_>>().join(" ")),
            message,
            components: if args.components.is_empty() {
                file.components
            } else {
                args.components.clone()
            },
            impact: args.impact.or(file.impact),
            eta: pick(&args.eta, file.eta),
            next_update: pick(&args.next_update, file.next_update),
            starts: pick(&args.starts, file.starts),
            ends: pick(&args.ends, file.ends),
            compensation: pick(&args.compensation, file.compensation),
            internal_note: pick(&args.internal_note, file.internal_note),
            channels: if args.channels.is_empty() {
                file.channels
            } else {
                args.channels.clone()
            },
            allow,
            correction: args.correction || file.correction,
            reopen: args.reopen || file.reopen,
            idempotency_key: idempotency_key.map(str::to_owned).or(file.idempotency_key),
        })
    }
}

/// A channel in the plan: what it will send, or why it is skipped.
pub struct Planned {
    pub channel: ChannelConfig,
    pub rendering: Option<Rendering>,
    pub skipped: Option<String>,
    /// The recipients within the channel: `[""]` for all but email.
    pub targets: Vec<String>,
}

/// Everything `post` needs to know before it writes anything.
pub struct Prepared {
    pub update: Update,
    pub plan: Vec<Planned>,
    pub findings: Vec<Finding>,
    pub fingerprint: String,
    /// The same update was already recorded: a rerun sends nothing.
    pub rerun: Option<StoredUpdate>,
    pub allow: BTreeMap<RuleId, String>,
    pub idempotency_key: Option<String>,
}

/// Places the draft in its incident, checks the wording and renders every selected channel.
pub fn prepare(
    draft: Draft,
    config: &Config,
    journal: Option<&Journal>,
    renderer: &Renderer,
    now: Timestamp,
) -> anyhow::Result<Prepared> {
    let tz = &config.organization.timezone;
    let time = |flag: &str, value: &Option<String>| -> anyhow::Result<Option<Timestamp>> {
        value
            .as_deref()
            .map(|text| update::parse_time(text, now, tz).with_context(|| flag.to_owned()))
            .transpose()
    };
    let previous = match draft.incident.as_deref() {
        Some("latest") => Some(
            journal
                .map(Journal::latest_incident)
                .transpose()?
                .flatten()
                .context("--incident latest: there is no incident in the journal yet")?,
        ),
        Some(id) => journal
            .map(|journal| journal.incident(id))
            .transpose()?
            .flatten(),
        None => None,
    };
    let incident_id = match (&previous, &draft.incident) {
        (Some(previous), _) => previous.id.clone(),
        (None, Some(id)) => {
            if id.is_empty() || id.chars().any(|c| c.is_whitespace() || c.is_control()) {
                bail!("--incident `{id}`: an incident id has no spaces");
            }
            id.clone()
        }
        (None, None) => {
            let title = draft.title.as_deref().context(
                "a new incident needs a title: pass --title, or --incident ID to follow one up",
            )?;
            update::incident_id(title, now, tz)
        }
    };
    let existing = match &previous {
        Some(previous) => Some(previous.clone()),
        None => journal
            .map(|journal| journal.incident(&incident_id))
            .transpose()?
            .flatten(),
    };
    let title = match (&draft.title, &existing) {
        (Some(title), _) if !title.is_empty() => title.clone(),
        (_, Some(existing)) => existing.title.clone(),
        _ => bail!("the update needs a title: pass --title"),
    };
    let kind = draft.status.kind();
    let starts = time("--starts", &draft.starts)?;
    let ends = time("--ends", &draft.ends)?;
    if let (Some(starts), Some(ends)) = (starts, ends)
        && ends <= starts
    {
        bail!("--ends must be after --starts");
    }
    if draft.status == Status::Scheduled && starts.is_none() {
        bail!("scheduled maintenance needs --starts (and usually --ends)");
    }
    let mut update = Update {
        incident: incident_id.clone(),
        sequence: existing
            .as_ref()
            .map_or(1, |incident| incident.last_sequence + 1),
        kind,
        status: draft.status,
        title,
        message: draft.message,
        components: draft.components,
        impact: draft.impact,
        eta: time("--eta", &draft.eta)?,
        next_update: time("--next-update", &draft.next_update)?,
        starts,
        ends,
        compensation: draft.compensation,
        internal_note: draft.internal_note,
        correction: draft.correction,
        posted_at: now,
    };
    let fingerprint = fingerprint(&update);

    // A rerun of the same update (a retried CI job) is found before any transition check: it is
    // not a new move in the incident's life.
    let rerun = match (&draft.idempotency_key, journal) {
        (Some(key), Some(journal)) => match journal.update_by_key(key)? {
            Some(stored) if stored.fingerprint != fingerprint => bail!(
                "--idempotency-key {key} already names update {} of {}, with different facts; \
                 use a new key",
                stored.update.sequence,
                stored.update.incident
            ),
            stored => stored,
        },
        (None, Some(journal)) if existing.is_some() => journal
            .latest_update(&incident_id)?
            .filter(|latest| latest.fingerprint == fingerprint),
        _ => None,
    };
    if let Some(stored) = &rerun {
        update = stored.update.clone();
    } else if let Some(existing) = &existing {
        if draft.incident.is_none() {
            bail!(
                "incident {} already exists ({}); pass --incident {} to follow it up, or give a \
                 different title to open a new one",
                existing.id,
                existing.status,
                existing.id
            );
        }
        if draft.correction && existing.last_sequence == 0 {
            bail!("--correction needs an earlier update to correct");
        }
        update::check_transition(&existing.id, existing.status, update.status, draft.reopen)?;
    } else if draft.correction {
        bail!("--correction corrects an earlier update; pass --incident ID");
    }

    let mut findings = rules::check(&update, &config.policy);
    let projection = projection(journal, &update)?;
    let selected = select_channels(config, &draft.channels)?;
    let mut plan = Vec::new();
    for (channel, skipped) in selected {
        if let Some(reason) = skipped {
            plan.push(Planned {
                channel,
                rendering: None,
                skipped: Some(reason),
                targets: vec![String::new()],
            });
            continue;
        }
        let (rendering, channel_findings) =
            renderer.render(&channel, &update, &config.organization, now, &projection);
        findings.extend(channel_findings);
        plan.push(Planned {
            targets: crate::channels::targets(&channel)?,
            channel,
            rendering,
            skipped: None,
        });
    }
    let findings = rules::settle(findings, &config.policy, &draft.allow);
    Ok(Prepared {
        update,
        plan,
        findings,
        fingerprint,
        rerun,
        allow: draft.allow,
        idempotency_key: draft.idempotency_key,
    })
}

/// The state the banner and the feed will show once this update is recorded.
fn projection(journal: Option<&Journal>, update: &Update) -> anyhow::Result<Projection> {
    let (mut open, mut recent) = match journal {
        Some(journal) => (journal.open_updates()?, journal.recent_updates(50)?),
        None => (Vec::new(), Vec::new()),
    };
    open.retain(|other| other.incident != update.incident);
    if !update.status.is_final() {
        open.push(update.clone());
    }
    recent
        .retain(|other| !(other.incident == update.incident && other.sequence == update.sequence));
    recent.insert(0, update.clone());
    Ok(Projection { open, recent })
}

/// The channels to send to, each with a reason when it is skipped.
fn select_channels(
    config: &Config,
    names: &[String],
) -> anyhow::Result<Vec<(ChannelConfig, Option<String>)>> {
    for name in names {
        if !config.channels.iter().any(|channel| &channel.name == name) {
            let known: Vec<&str> = config.channels.iter().map(|c| c.name.as_str()).collect();
            bail!(
                "--channels: no channel is named `{name}` in {}; the channels are {}",
                config.path.display(),
                known.join(", ")
            );
        }
    }
    let mut selected = Vec::new();
    for channel in &config.channels {
        let chosen = names.is_empty() || names.contains(&channel.name);
        if names.is_empty() && !channel.enabled {
            selected.push((channel.clone(), Some("disabled in the config".to_owned())));
        } else if chosen {
            if !channel.enabled {
                bail!(
                    "--channels: `{}` is disabled in {}; set enabled = true to use it",
                    channel.name,
                    config.path.display()
                );
            }
            selected.push((channel.clone(), None));
        }
    }
    if selected.iter().all(|(_, skipped)| skipped.is_some()) {
        bail!(
            "no channel is enabled in {}; enable one or add a [[channel]]",
            config.path.display()
        );
    }
    Ok(selected)
}

/// What makes two updates "the same": a rerun with the same fingerprint sends nothing.
fn fingerprint(update: &Update) -> String {
    let facts = serde_json::json!([
        update.incident,
        update.status,
        update.title,
        update.message,
        update.components,
        update.impact,
        update.compensation,
        update.internal_note,
        update.correction,
    ]);
    let digest = Sha256::digest(facts.to_string().as_bytes());
    digest.iter().map(|byte| format!("{byte:02x}")).collect()
}

/// The dispatcher's jobs for recorded deliveries of `update`, each with its thread anchor, its
/// channel's adapter and its timeout.
fn jobs(
    journal: &Journal,
    setup: &Setup,
    update: &Update,
    deliveries: &[&Delivery],
    adapters: &HashMap<String, Arc<dyn Channel>>,
) -> anyhow::Result<Vec<Job>> {
    deliveries
        .iter()
        .map(|delivery| {
            let adapter = adapters.get(&delivery.channel).with_context(|| {
                format!(
                    "channel `{}` is no longer in {}",
                    delivery.channel,
                    setup.config.path.display()
                )
            })?;
            let channel = setup
                .config
                .channels
                .iter()
                .find(|channel| channel.name == delivery.channel)
                .expect("an adapter is built from a configured channel");
            Ok(Job {
                channel: delivery.channel.clone(),
                adapter: adapter.clone(),
                post: Post {
                    delivery_id: delivery.id.clone(),
                    target: delivery.target.clone(),
                    incident: update.incident.clone(),
                    sequence: update.sequence,
                    rendering: delivery
                        .rendering
                        .clone()
                        .context("the journal has no rendering for this delivery")?,
                    thread: journal.thread(
                        &update.incident,
                        &delivery.channel,
                        &delivery.target,
                    )?,
                },
                timeout: channel
                    .timeout
                    .unwrap_or(setup.config.dispatch.timeout)
                    .unsigned_abs(),
            })
        })
        .collect()
}

/// Sends the jobs, each outcome journaled as it arrives, and hands the journal back. A failure
/// here comes after sending began, so it is an [`AfterSending`].
fn send(
    runtime: &tokio::runtime::Runtime,
    journal: Journal,
    jobs: Vec<Job>,
    setup: &Setup,
    progress: Arc<dyn Progress>,
) -> anyhow::Result<Journal> {
    let journal = Arc::new(Mutex::new(journal));
    let settings = dispatch::Settings::from(&setup.config.dispatch);
    runtime
        .block_on(dispatch::dispatch(
            jobs,
            &settings,
            journal.clone(),
            progress,
        ))
        .map_err(AfterSending)?;
    let journal = Arc::try_unwrap(journal)
        .ok()
        .expect("the dispatcher has finished with the journal");
    Ok(journal
        .into_inner()
        .unwrap_or_else(std::sync::PoisonError::into_inner))
}

/// Resolves `latest` to the most recent incident's id.
pub fn resolve_incident(journal: &Journal, id: &str) -> anyhow::Result<String> {
    let found = if id == "latest" {
        journal.latest_incident()?
    } else {
        journal.incident(id)?
    };
    match found {
        Some(incident) => Ok(incident.id),
        None if id == "latest" => bail!("there is no incident in the journal yet"),
        None => bail!("no incident `{id}` in the journal; `outage status` lists the open ones"),
    }
}

pub fn open_journal_for_reading(path: &Path) -> anyhow::Result<Journal> {
    Journal::open_if_exists(path)?.with_context(|| {
        format!(
            "no journal at {}; nothing has been posted yet (or pass --state FILE)",
            path.display()
        )
    })
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        /// Any update file is parsed or refused with one line that names the file.
        #[test]
        fn update_files_never_panic(text in "(status|title|message|eta|allow|\\[|\\]|=|\"|\\n|[a-z0-9 .:-]){0,80}") {
            if let Err(err) = UpdateFile::parse(&text, Path::new("update.toml")) {
                let message = format!("{err:#}");
                prop_assert!(message.starts_with("update.toml: "));
                prop_assert!(!message.contains('\n'), "{message}");
            }
        }
    }
}
