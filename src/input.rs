//! The inputs of an update: one type for the flags and for an update file (`--from`), merged
//! once (flags win), then checked into a [`Draft`] with every missing input named at once.
//!
//! What was typed is kept as typed (`+45m`, `14:30`): the plan resolves times against one "now",
//! and a rerun is recognised by the inputs as typed, not by the times they resolve to.

use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::{Deserialize, Deserializer, Serialize};
use sha2::{Digest, Sha256};

use crate::journal::Allowed;
use crate::limits;
use crate::update::{Impact, Status};
use crate::wording::clean;

/// The facts of an update, from flags or from an update file (`--from`); flags win.
#[derive(Debug, Default, Clone, clap::Args, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct UpdateInput {
    /// The incident to follow up (`latest` for the most recent one); omit to open a new one
    #[arg(long, value_name = "ID")]
    pub(crate) incident: Option<String>,

    /// investigating, identified, monitoring, resolved; for maintenance scheduled, in-progress,
    /// completed
    #[arg(long)]
    pub(crate) status: Option<String>,

    /// The incident's title [default for a follow-up: the incident's title]
    #[arg(long)]
    pub(crate) title: Option<String>,

    /// What is happening, for customers (`-` reads standard input)
    #[arg(long)]
    pub(crate) message: Option<String>,

    /// Read the message from a file
    #[arg(long, value_name = "FILE", conflicts_with = "message")]
    #[serde(skip)]
    pub(crate) message_file: Option<PathBuf>,

    /// Affected components, comma separated
    #[arg(long, value_delimiter = ',')]
    #[serde(default)]
    pub(crate) components: Vec<String>,

    #[arg(long, value_enum)]
    pub(crate) impact: Option<Impact>,

    /// Estimated resolution: 14:30, +45m, or RFC 3339; stated as an estimate
    #[arg(long)]
    pub(crate) eta: Option<String>,

    /// When the next update comes: 30m, 14:30, or RFC 3339
    #[arg(long, value_name = "WHEN")]
    pub(crate) next_update: Option<String>,

    /// Maintenance start: 14:30, +1h, or RFC 3339
    #[arg(long)]
    pub(crate) starts: Option<String>,

    /// Maintenance end: 16:00, +3h, or RFC 3339
    #[arg(long)]
    pub(crate) ends: Option<String>,

    /// A note on compensation for customers, usually with the resolved update
    #[arg(long)]
    pub(crate) compensation: Option<String>,

    /// A note only `audience = "internal"` channels receive
    #[arg(long)]
    pub(crate) internal_note: Option<String>,

    /// Send only to these channels, comma separated
    #[arg(long, value_delimiter = ',')]
    #[serde(default)]
    pub(crate) channels: Vec<String>,

    /// Let one wording rule's error through, with a reason that is journaled: RULE=reason
    #[arg(long, value_name = "RULE=REASON")]
    #[serde(default, deserialize_with = "allow_table")]
    pub(crate) allow: Vec<String>,

    /// This update corrects the previous one; every channel says so
    #[arg(long)]
    #[serde(default)]
    pub(crate) correction: bool,

    /// Post to an incident that is already resolved or completed
    #[arg(long)]
    #[serde(default)]
    pub(crate) reopen: bool,

    /// Name this update yourself so that a rerun with the same key sends nothing
    #[arg(long, value_name = "KEY")]
    pub(crate) idempotency_key: Option<String>,

    /// Scheduling a maintenance: remind this long before the start, comma separated (24h,1h);
    /// `outage tick` posts them
    #[arg(long, value_delimiter = ',', value_name = "BEFORE")]
    #[serde(default)]
    pub(crate) remind: Vec<String>,

    /// Scheduling a maintenance: the reminders' words [default: one that says when it starts]
    #[arg(long, value_name = "TEXT")]
    pub(crate) reminder_message: Option<String>,

    /// Scheduling a maintenance: `outage tick` moves it to in-progress at --starts and to
    /// completed at --ends
    #[arg(long)]
    #[serde(default)]
    pub(crate) auto: bool,

    /// Scheduling with --auto: the words posted when it starts
    #[arg(long, value_name = "TEXT")]
    pub(crate) in_progress_message: Option<String>,

    /// Scheduling with --auto: the words posted when it ends
    #[arg(long, value_name = "TEXT")]
    pub(crate) completed_message: Option<String>,

    /// Read the update from a TOML file with the same fields (flags override it)
    #[arg(long, value_name = "FILE")]
    #[serde(skip)]
    pub(crate) from: Option<PathBuf>,
}

/// An update file writes `allow` as a table: `[allow]` then `stock-apology = "legal wording"`.
fn allow_table<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<String>, D::Error> {
    let table = std::collections::BTreeMap::<String, String>::deserialize(deserializer)?;
    Ok(table
        .into_iter()
        .map(|(rule, reason)| format!("{rule}={reason}"))
        .collect())
}

impl UpdateInput {
    /// Reads an update file.
    pub(crate) fn parse(text: &str, path: &Path) -> anyhow::Result<UpdateInput> {
        toml::from_str(text)
            .map_err(|err| anyhow::anyhow!("{}: {}", path.display(), crate::config::one_line(&err)))
    }

    /// The file's fields under these flags: a flag given wins over the file.
    fn over(self, file: UpdateInput) -> UpdateInput {
        let list =
            |flags: Vec<String>, file: Vec<String>| if flags.is_empty() { file } else { flags };
        UpdateInput {
            incident: self.incident.or(file.incident),
            status: self.status.or(file.status),
            title: self.title.or(file.title),
            message: self.message.or(file.message),
            message_file: self.message_file,
            components: list(self.components, file.components),
            impact: self.impact.or(file.impact),
            eta: self.eta.or(file.eta),
            next_update: self.next_update.or(file.next_update),
            starts: self.starts.or(file.starts),
            ends: self.ends.or(file.ends),
            compensation: self.compensation.or(file.compensation),
            internal_note: self.internal_note.or(file.internal_note),
            channels: list(self.channels, file.channels),
            allow: list(self.allow, file.allow),
            correction: self.correction || file.correction,
            reopen: self.reopen || file.reopen,
            idempotency_key: self.idempotency_key.or(file.idempotency_key),
            remind: list(self.remind, file.remind),
            reminder_message: self.reminder_message.or(file.reminder_message),
            auto: self.auto || file.auto,
            in_progress_message: self.in_progress_message.or(file.in_progress_message),
            completed_message: self.completed_message.or(file.completed_message),
            from: self.from,
        }
    }
}

/// The inputs, read whole and checked: each text cleaned, every missing input named at once.
#[derive(Debug, Clone)]
pub(crate) struct Draft {
    pub(crate) incident: Option<String>,
    pub(crate) status: Status,
    pub(crate) title: Option<String>,
    pub(crate) message: String,
    pub(crate) components: Vec<String>,
    pub(crate) impact: Option<Impact>,
    pub(crate) eta: Option<String>,
    pub(crate) next_update: Option<String>,
    pub(crate) starts: Option<String>,
    pub(crate) ends: Option<String>,
    pub(crate) compensation: Option<String>,
    pub(crate) internal_note: Option<String>,
    pub(crate) channels: Vec<String>,
    pub(crate) allow: Allowed,
    pub(crate) correction: bool,
    pub(crate) reopen: bool,
    pub(crate) idempotency_key: Option<String>,
    /// The later phases of a maintenance being scheduled.
    pub(crate) autopilot: Option<crate::update::Autopilot>,
    /// A reminder posted by `outage tick`.
    pub(crate) reminder: bool,
}

/// The inputs as typed, for telling a rerun from a new update.
#[derive(Serialize)]
struct Typed<'a> {
    incident: &'a str,
    status: &'a str,
    title: &'a Option<String>,
    message: &'a str,
    components: &'a [String],
    impact: Option<Impact>,
    eta: &'a Option<String>,
    next_update: &'a Option<String>,
    starts: &'a Option<String>,
    ends: &'a Option<String>,
    compensation: &'a Option<String>,
    internal_note: &'a Option<String>,
    channels: &'a [String],
    allow: &'a Allowed,
    correction: bool,
    reopen: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    autopilot: &'a Option<crate::update::Autopilot>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    reminder: bool,
}

impl Draft {
    /// Reads the flags and the update file they name, and checks what they hold.
    pub(crate) fn read(flags: &UpdateInput) -> anyhow::Result<Draft> {
        let file = match &flags.from {
            None => UpdateInput::default(),
            Some(path) => UpdateInput::parse(
                &limits::read_text(path, limits::UPDATE_FILE, "the update file")?,
                path,
            )?,
        };
        let input = flags.clone().over(file);
        let message = match (&input.message, &input.message_file) {
            (Some(dash), _) if dash == "-" => Some(limits::read_bounded(
                std::io::stdin().lock(),
                limits::MESSAGE,
                "the message on standard input",
            )?),
            (Some(text), _) => Some(text.clone()),
            (None, Some(path)) => Some(limits::read_text(path, limits::MESSAGE, "--message-file")?),
            (None, None) => None,
        };
        let message = message
            .map(|text| clean::clean(&text).trim().to_owned())
            .filter(|text| !text.is_empty());
        if let Some(text) = &message
            && text.len() as u64 > limits::MESSAGE
        {
            anyhow::bail!(
                "the message is longer than the limit of {}; shorten it",
                limits::describe(limits::MESSAGE)
            );
        }
        let title = input
            .title
            .as_deref()
            .map(clean::one_line)
            .filter(|t| !t.is_empty());
        let mut missing = Vec::new();
        if input.status.is_none() {
            missing.push(
                "--status (investigating, identified, monitoring, resolved; for maintenance \
                 scheduled, in-progress, completed, cancelled)",
            );
        }
        if message.is_none() {
            missing
                .push("--message TEXT (or --message-file FILE, or --message - for standard input)");
        }
        if input.incident.is_none() && title.is_none() {
            missing.push("--title (a new incident needs one; or --incident ID to follow one up)");
        }
        match missing.as_slice() {
            [] => {}
            [one] => anyhow::bail!("the update needs {one}"),
            _ => anyhow::bail!("the update needs {}", missing.join(", ")),
        }
        let status: Status = input
            .status
            .as_deref()
            .unwrap_or_default()
            .parse()
            .context("--status / status")?;
        // `--channels "banner, feed"` is two names; an empty one (`a,,b`, or an empty variable
        // in a script) is refused, never read as "every channel".
        let channels: Vec<String> = input
            .channels
            .iter()
            .map(|name| name.trim().to_owned())
            .collect();
        if channels.iter().any(String::is_empty) {
            anyhow::bail!(
                "--channels / channels: a channel name is empty (`{}`); name each channel, \
                 separated by commas, such as --channels banner,feed, or leave --channels out to \
                 send to every channel",
                input.channels.join(",")
            );
        }
        let mut allow = Allowed::new();
        for item in &input.allow {
            let (rule, reason) = item.split_once('=').with_context(|| {
                format!("--allow {item}: write RULE=reason, e.g. --allow stock-apology=\"legal wording\"")
            })?;
            let reason = clean::one_line(reason);
            if reason.is_empty() {
                anyhow::bail!(
                    "--allow {rule}: give the reason after `=`; it is recorded in the journal"
                );
            }
            allow.insert(rule.trim().parse().context("--allow")?, reason);
        }
        let text = |value: Option<String>| {
            value
                .map(|text| clean::clean(&text).trim().to_owned())
                .filter(|text| !text.is_empty())
        };
        let autopilot = crate::update::Autopilot {
            auto: input.auto,
            remind: crate::update::Autopilot::offsets(&input.remind)?,
            reminder_message: text(input.reminder_message),
            in_progress_message: text(input.in_progress_message),
            completed_message: text(input.completed_message),
        };
        let autopilot = (autopilot != crate::update::Autopilot::default()).then_some(autopilot);
        Ok(Draft {
            incident: input.incident.map(|id| id.trim().to_owned()),
            status,
            title,
            message: message.expect("checked above"),
            components: input
                .components
                .iter()
                .map(|name| clean::one_line(name))
                .filter(|name| !name.is_empty())
                .collect(),
            impact: input.impact,
            eta: input.eta,
            next_update: input.next_update,
            starts: input.starts,
            ends: input.ends,
            compensation: text(input.compensation),
            internal_note: text(input.internal_note),
            channels,
            allow,
            correction: input.correction,
            reopen: input.reopen,
            idempotency_key: input.idempotency_key,
            autopilot,
            reminder: false,
        })
    }

    /// A digest of the inputs as typed, with the incident they were given for (`""` for a new
    /// one): the same command again digests the same.
    pub(crate) fn digest(&self, incident: &str) -> String {
        self.digest_for(incident, &self.channels)
    }

    /// A digest of the words as typed: the inputs but for the channels chosen and the incident
    /// named, so the same words sent to other channels, or with `--incident` given to follow
    /// up the update that opened it, are told to be the same.
    pub(crate) fn content(&self) -> String {
        self.digest_for("", &[])
    }

    fn digest_for(&self, incident: &str, channels: &[String]) -> String {
        let mut channels = channels.to_vec();
        channels.sort();
        let trimmed = |value: &Option<String>| value.as_ref().map(|text| text.trim().to_owned());
        let typed = Typed {
            incident,
            status: self.status.as_str(),
            title: &self.title,
            message: &self.message,
            components: &self.components,
            impact: self.impact,
            eta: &trimmed(&self.eta),
            next_update: &trimmed(&self.next_update),
            starts: &trimmed(&self.starts),
            ends: &trimmed(&self.ends),
            compensation: &self.compensation,
            internal_note: &self.internal_note,
            channels: &channels,
            allow: &self.allow,
            correction: self.correction,
            reopen: self.reopen,
            autopilot: &self.autopilot,
            reminder: self.reminder,
        };
        let json = serde_json::to_string(&typed).expect("inputs serialize");
        crate::digest::hex(&Sha256::digest(json.as_bytes()))
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        /// Any update file is parsed or refused with one line that names the file.
        #[test]
        fn update_files_never_panic(text in "(status|title|message|eta|allow|\\[|\\]|=|\"|\\n|[a-z0-9 .:-]){0,80}") {
            if let Err(err) = UpdateInput::parse(&text, Path::new("update.toml")) {
                let message = format!("{err:#}");
                prop_assert!(message.starts_with("update.toml: "));
                prop_assert!(!message.contains('\n'), "{message}");
            }
        }
    }

    #[test]
    fn every_missing_input_is_named_at_once() {
        let err = Draft::read(&UpdateInput::default()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "the update needs --status (investigating, identified, monitoring, resolved; for \
             maintenance scheduled, in-progress, completed, cancelled), --message TEXT (or --message-file \
             FILE, or --message - for standard input), --title (a new incident needs one; or \
             --incident ID to follow one up)"
        );
    }

    #[test]
    fn flags_win_over_the_file_and_times_stay_as_typed() {
        let file = UpdateInput::parse(
            "status = \"investigating\"\nmessage = \"From the file.\"\ntitle = \"T\"\nnext_update = \"30m\"\n[allow]\nstock-apology = \"legal\"\n",
            Path::new("u.toml"),
        )
        .unwrap();
        let flags = UpdateInput {
            message: Some("From the flag.".into()),
            ..UpdateInput::default()
        };
        let input = flags.over(file);
        assert_eq!(input.message.as_deref(), Some("From the flag."));
        assert_eq!(input.next_update.as_deref(), Some("30m"));
        assert_eq!(input.allow, ["stock-apology=legal"]);
        let read = |next: &str| {
            Draft::read(&UpdateInput {
                next_update: Some(next.into()),
                ..input.clone()
            })
            .unwrap()
        };
        assert_eq!(read("30m").digest(""), read(" 30m ").digest(""));
        assert_ne!(read("30m").digest(""), read("45m").digest(""));
        assert_ne!(read("30m").digest(""), read("30m").digest("i"));
    }
}
