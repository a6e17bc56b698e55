//! The phone line: a projection that writes the greeting an IVR plays while something is open,
//! as TwiML (`<Response><Say …>…</Say></Response>`, for Twilio) and as a plain script (for any
//! other IVR, and for the people answering the phones). The customers who cannot get online call;
//! a short message at the entrance of the IVR means fewer of them on hold.
//!
//! The words are written to be heard: short sentences, the status, what is affected, the ETA as
//! an estimate, when the next update comes, and where to read more, with times as people say
//! them and the status site as its host name; no URL, emoji or markup. Several open incidents
//! are read most severe first; when nothing is open the TwiML is an empty `<Response/>` so the
//! IVR goes on to its menu. Each `<Say>` stays within Twilio's limit for the voice (3,000
//! characters for Amazon Polly voices, 5,000 for Google's, 4,096 otherwise).

mod spoken;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use jiff::Timestamp;
use serde::Deserialize;

use super::files::Files;
use super::{BuildCx, Channel, Kind, RenderCx, Rendering};
use crate::config::{self, Audience};
use crate::update::{IncidentKind, Update};
use crate::wording::facts::{Facts, html_escape};
use crate::wording::render::{FileOut, shorten};
use crate::wording::rules::{Finding, RuleId};

/// How many incidents a caller hears before "and N more".
const MOST_READ: usize = 5;
/// How much of each message is read, tried in turn until every `<Say>` fits.
const MESSAGE_BUDGETS: [usize; 6] = [400, 250, 160, 100, 50, 0];

#[derive(Debug, Clone)]
pub(crate) struct Phone {
    twiml_path: PathBuf,
    script_path: PathBuf,
    voice: String,
    language: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    twiml_path: PathBuf,
    script_path: PathBuf,
    voice: Option<String>,
    language: Option<String>,
}

pub(crate) fn parse(rest: toml::Table, base: &Path) -> anyhow::Result<Arc<dyn Kind>> {
    let raw: Raw = config::kind_settings(rest, "phone", &[])?;
    let voice = raw.voice.unwrap_or_else(|| "Polly.Joanna".to_owned());
    let known = ["man", "woman", "alice"].contains(&voice.as_str())
        || voice.starts_with("Polly.")
        || voice.starts_with("Google.");
    if !known
        || !voice
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
    {
        anyhow::bail!(
            "voice `{voice}` is not one Twilio knows: man, woman, alice, Polly.<Name> or \
             Google.<name>"
        );
    }
    let language = raw.language.unwrap_or_else(|| "en-US".to_owned());
    if !language
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '-')
        || language.len() > 12
    {
        anyhow::bail!("language `{language}` must be a tag such as en-US");
    }
    Ok(Arc::new(Phone {
        twiml_path: config::file_path(base, &raw.twiml_path, "twiml_path")?,
        script_path: config::file_path(base, &raw.script_path, "script_path")?,
        voice,
        language,
    }))
}

impl Phone {
    /// Twilio's limit for one `<Say>` with this voice (error 13521).
    fn limit(&self) -> usize {
        if self.voice.starts_with("Polly.") {
            3000
        } else if self.voice.starts_with("Google.") {
            5000
        } else {
            4096
        }
    }
}

/// The facts of an update as a caller hears them: times spoken, the link as the site's host
/// name, every text without what a voice cannot say.
fn spoken_facts(cx: &RenderCx<'_>, update: &Update) -> Facts {
    let tz = &cx.organization.timezone;
    let mut facts = cx.facts_of(update, cx.now);
    let time = |at: Option<Timestamp>| at.map(|at| spoken::time(at, cx.now, tz));
    facts.eta = time(update.eta);
    facts.next_update = time(update.next_update);
    facts.starts = time(update.starts);
    facts.ends = time(update.ends);
    facts.title = spoken::clean(&facts.title);
    facts.message = spoken::clean(&facts.message);
    facts.components = facts.components.iter().map(|c| spoken::clean(c)).collect();
    facts.compensation = facts.compensation.map(|text| spoken::clean(&text));
    facts.internal_note = facts.internal_note.map(|text| spoken::clean(&text));
    facts.link = facts
        .link
        .as_deref()
        .and_then(|link| reqwest::Url::parse(link).ok())
        .and_then(|url| url.host_str().map(str::to_owned));
    facts
}

/// One incident's sentences, its message cut to `budget` characters.
fn incident_words(facts: &Facts, budget: usize) -> String {
    let mut sentences = vec![format!("{}: {}.", facts.status_label, facts.title)];
    // Cut at a word, the cut said as the end of a sentence rather than an ellipsis.
    let message = shorten(&facts.message, budget)
        .trim_end_matches('…')
        .trim_end_matches([',', ';', ':', '-', ' '])
        .to_owned();
    if !message.is_empty() {
        let message = if facts.correction && !message.starts_with("Correction") {
            format!("Correction: {message}")
        } else {
            message
        };
        sentences.push(end_sentence(&message));
    } else if facts.correction {
        sentences.push("Correction to our previous message.".to_owned());
    }
    if !facts.components.is_empty() {
        sentences.push(format!("This affects {}.", spoken::list(&facts.components)));
    }
    match (&facts.starts, &facts.ends) {
        (Some(starts), Some(ends)) => {
            sentences.push(format!("It runs from {starts}, until {ends}."))
        }
        (Some(starts), None) => sentences.push(format!("It starts {starts}.")),
        (None, Some(ends)) => sentences.push(format!("It ends by {ends}.")),
        (None, None) => {}
    }
    if let Some(eta) = &facts.eta {
        sentences.push(format!(
            "We expect it to be fixed by {eta}. That is an estimate, not a promise."
        ));
    }
    if let Some(next) = &facts.next_update {
        sentences.push(format!("Our next update will be by {next}."));
    }
    if let Some(note) = &facts.internal_note {
        sentences.push(format!(
            "Internal note for our agents: {}",
            end_sentence(note)
        ));
    }
    sentences.join(" ")
}

fn end_sentence(text: &str) -> String {
    if text.ends_with(['.', '!', '?']) {
        text.to_owned()
    } else {
        format!("{text}.")
    }
}

impl Phone {
    /// What is said: one part per incident read (the greeting before the first, where to read
    /// more after the last), and whether this update is among them.
    fn parts(&self, cx: &RenderCx<'_>, budget: usize) -> (Vec<String>, bool) {
        let open = cx.projection.most_severe_first();
        if open.is_empty() {
            return (Vec::new(), false);
        }
        let read = &open[..open.len().min(MOST_READ)];
        let internal = cx.channel.audience == Audience::Internal;
        let mut parts: Vec<String> = read
            .iter()
            .map(|update| {
                let mut facts = spoken_facts(cx, update);
                if !internal {
                    facts.internal_note = None;
                }
                incident_words(&facts, budget)
            })
            .collect();
        let incidents = open
            .iter()
            .filter(|update| update.kind == IncidentKind::Incident)
            .count();
        let greeting = match (incidents, open.len() - incidents) {
            (0, _) => format!(
                "This is {}, with news of planned maintenance.",
                cx.organization.name
            ),
            (1, _) => format!("This is {}. We know about a problem.", cx.organization.name),
            _ => format!(
                "This is {}. We know about {incidents} problems.",
                cx.organization.name
            ),
        };
        parts[0] = format!("{greeting} {}", parts[0]);
        let mut last = String::new();
        if open.len() > read.len() {
            last.push_str(&format!(
                "There are {} more on our status page.",
                open.len() - read.len()
            ));
        }
        if let Some(host) = spoken_facts(cx, read[0]).link {
            if !last.is_empty() {
                last.push(' ');
            }
            last.push_str(&format!("For the latest news, visit {host}."));
        }
        if !last.is_empty() {
            let at = parts.len() - 1;
            parts[at] = format!("{} {last}", parts[at]);
        }
        let shown = read
            .iter()
            .any(|update| update.incident == cx.update.incident);
        (parts, shown)
    }

    fn twiml(&self, parts: &[String]) -> String {
        if parts.is_empty() {
            return "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Response/>\n".to_owned();
        }
        let says: Vec<String> = parts
            .iter()
            .map(|part| {
                format!(
                    "  <Say voice=\"{}\" language=\"{}\">{}</Say>",
                    html_escape(&self.voice),
                    html_escape(&self.language),
                    html_escape(part)
                )
            })
            .collect();
        format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Response>\n{}\n</Response>\n",
            says.join("\n  <Pause length=\"1\"/>\n")
        )
    }
}

impl Kind for Phone {
    fn name(&self) -> &'static str {
        "phone"
    }

    fn takes_template(&self) -> bool {
        false
    }

    fn is_projection(&self) -> bool {
        true
    }

    fn facts(&self, cx: &RenderCx<'_>) -> Facts {
        spoken_facts(cx, cx.update)
    }

    fn render(&self, cx: &RenderCx<'_>) -> Result<Rendering, Finding> {
        let limit = self.limit();
        for budget in MESSAGE_BUDGETS {
            let (parts, shown) = self.parts(cx, budget);
            if parts.iter().any(|part| part.chars().count() > limit) {
                continue;
            }
            let script = if parts.is_empty() {
                "Nothing is open: the phone line plays its usual menu.".to_owned()
            } else {
                parts.join("\n\n")
            };
            return Ok(Rendering {
                text: script.clone(),
                files: vec![
                    FileOut {
                        path: self.twiml_path.clone(),
                        content: self.twiml(&parts),
                    },
                    FileOut {
                        path: self.script_path.clone(),
                        content: format!("{script}\n"),
                    },
                ],
                folded: !shown,
                ..Rendering::default()
            });
        }
        Err(Finding::new(
            RuleId::TooLong,
            format!(
                "an incident's words are over {limit} characters, the most one <Say> takes with \
                 voice {}, even with no message; shorten the title or the components",
                self.voice
            ),
        ))
    }

    fn build(&self, _cx: &BuildCx<'_>, _channel: &str) -> anyhow::Result<Arc<dyn Channel>> {
        Ok(Arc::new(Files))
    }

    fn repeat_is_safe(&self, _started: Option<Timestamp>, _now: Timestamp) -> bool {
        true
    }
}
