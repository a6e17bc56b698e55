//! The canonical facts of one incident update, and the rules of an incident's life.
//!
//! Everything a channel says is rendered from an [`Update`]; nothing else carries facts. Times are
//! parsed here once (`14:30`, `+45m`, RFC 3339, `30m`) and formatted here once, so every channel
//! states the same time in the same words.

use std::fmt;
use std::str::FromStr;

use anyhow::{Context, bail};
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp, ToSpan, Zoned};
use serde::{Deserialize, Serialize};

/// Whether an incident is an unplanned outage or announced maintenance. The two never mix.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum IncidentKind {
    Incident,
    Maintenance,
}

impl IncidentKind {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            IncidentKind::Incident => "incident",
            IncidentKind::Maintenance => "maintenance",
        }
    }
}

impl fmt::Display for IncidentKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for IncidentKind {
    type Err = anyhow::Error;
    fn from_str(s: &str) -> anyhow::Result<IncidentKind> {
        match s {
            "incident" => Ok(IncidentKind::Incident),
            "maintenance" => Ok(IncidentKind::Maintenance),
            _ => bail!("unknown incident kind `{s}`"),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum Status {
    Investigating,
    Identified,
    Monitoring,
    Resolved,
    Scheduled,
    InProgress,
    Completed,
    /// A scheduled maintenance called off before it began.
    Cancelled,
}

impl Status {
    pub(crate) const ALL: [Status; 8] = [
        Status::Investigating,
        Status::Identified,
        Status::Monitoring,
        Status::Resolved,
        Status::Scheduled,
        Status::InProgress,
        Status::Completed,
        Status::Cancelled,
    ];

    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Status::Investigating => "investigating",
            Status::Identified => "identified",
            Status::Monitoring => "monitoring",
            Status::Resolved => "resolved",
            Status::Scheduled => "scheduled",
            Status::InProgress => "in-progress",
            Status::Completed => "completed",
            Status::Cancelled => "cancelled",
        }
    }

    /// The one phrase every channel uses for this status.
    pub(crate) fn label(self) -> &'static str {
        match self {
            Status::Investigating => "Investigating",
            Status::Identified => "Identified",
            Status::Monitoring => "Monitoring",
            Status::Resolved => "Resolved",
            Status::Scheduled => "Scheduled maintenance",
            Status::InProgress => "Maintenance in progress",
            Status::Completed => "Maintenance completed",
            Status::Cancelled => "Maintenance cancelled",
        }
    }

    pub(crate) fn kind(self) -> IncidentKind {
        match self {
            Status::Scheduled | Status::InProgress | Status::Completed | Status::Cancelled => {
                IncidentKind::Maintenance
            }
            _ => IncidentKind::Incident,
        }
    }

    /// A final status closes the incident or the maintenance.
    pub(crate) fn is_final(self) -> bool {
        matches!(
            self,
            Status::Resolved | Status::Completed | Status::Cancelled
        )
    }

    /// Whether the service may honestly be described as working again.
    pub(crate) fn allows_recovery_claim(self) -> bool {
        matches!(
            self,
            Status::Monitoring | Status::Resolved | Status::Completed
        )
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Status {
    type Err = anyhow::Error;
    fn from_str(s: &str) -> anyhow::Result<Status> {
        Status::ALL
            .into_iter()
            .find(|status| status.as_str() == s)
            .with_context(|| {
                format!(
                    "unknown status `{s}`; use one of investigating, identified, monitoring, \
                     resolved, or for maintenance scheduled, in-progress, completed, cancelled"
                )
            })
    }
}

#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, clap::ValueEnum,
)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Impact {
    Minor,
    Major,
    Critical,
}

impl Impact {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Impact::Minor => "minor",
            Impact::Major => "major",
            Impact::Critical => "critical",
        }
    }
}

/// The canonical facts of one update, as recorded in the journal and rendered to every channel.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct Update {
    pub(crate) incident: String,
    pub(crate) sequence: u32,
    pub(crate) kind: IncidentKind,
    pub(crate) status: Status,
    pub(crate) title: String,
    pub(crate) message: String,
    pub(crate) components: Vec<String>,
    pub(crate) impact: Option<Impact>,
    pub(crate) eta: Option<Timestamp>,
    pub(crate) next_update: Option<Timestamp>,
    pub(crate) starts: Option<Timestamp>,
    pub(crate) ends: Option<Timestamp>,
    pub(crate) compensation: Option<String>,
    pub(crate) internal_note: Option<String>,
    pub(crate) correction: bool,
    pub(crate) posted_at: Timestamp,
    /// A reminder of a scheduled maintenance (posted by `outage tick`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub(crate) reminder: bool,
    /// A scheduled maintenance given a new window: every channel says so.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub(crate) rescheduled: bool,
    /// A maintenance's later phases, written when it was scheduled (issue 15).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) autopilot: Option<Autopilot>,
}

impl Update {
    /// The one phrase every channel heads this update with.
    pub(crate) fn label(&self) -> &'static str {
        if self.rescheduled {
            "Maintenance rescheduled"
        } else {
            self.status.label()
        }
    }

    /// Which phase of a maintenance this update is, for `[[channel]] phases`.
    pub(crate) fn phase(&self) -> Option<Phase> {
        match self.status {
            Status::Scheduled if self.reminder => Some(Phase::Reminder),
            Status::Scheduled => Some(Phase::Scheduled),
            Status::InProgress => Some(Phase::InProgress),
            Status::Completed => Some(Phase::Completed),
            Status::Cancelled => Some(Phase::Cancelled),
            _ => None,
        }
    }
}

// Maintenance on autopilot (issue 15): its phases and the plan a scheduling carries; what
// falls due when is `crate::autopilot`'s.

/// A phase of a maintenance, as `[[channel]] phases` names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum Phase {
    Scheduled,
    Reminder,
    InProgress,
    Completed,
    Cancelled,
}

impl Phase {
    pub(crate) const ALL: [Phase; 5] = [
        Phase::Scheduled,
        Phase::Reminder,
        Phase::InProgress,
        Phase::Completed,
        Phase::Cancelled,
    ];

    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Phase::Scheduled => "scheduled",
            Phase::Reminder => "reminder",
            Phase::InProgress => "in-progress",
            Phase::Completed => "completed",
            Phase::Cancelled => "cancelled",
        }
    }
}

impl fmt::Display for Phase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Phase {
    type Err = anyhow::Error;
    fn from_str(text: &str) -> anyhow::Result<Phase> {
        Phase::ALL
            .into_iter()
            .find(|phase| phase.as_str() == text)
            .ok_or_else(|| {
                anyhow::anyhow!(
                    "unknown phase `{text}`; use scheduled, reminder, in-progress, completed or \
                     cancelled"
                )
            })
    }
}

/// What a maintenance does by itself once scheduled.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Autopilot {
    /// Move to in-progress at the start and to completed at the end.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub(crate) auto: bool,
    /// Reminders, as offsets before the start, longest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) remind: Vec<SignedDuration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) reminder_message: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) in_progress_message: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) completed_message: Option<String>,
}

/// The built-in words of a phase with none of its own.
pub(crate) const REMINDER: &str = "Reminder: this maintenance is coming up.";
pub(crate) const IN_PROGRESS: &str = "The maintenance has started.";
pub(crate) const COMPLETED: &str = "The maintenance is complete.";

impl Autopilot {
    /// Parses `--remind 24h,1h`: positive durations, kept longest first, each once.
    pub(crate) fn offsets(texts: &[String]) -> anyhow::Result<Vec<SignedDuration>> {
        let mut offsets = Vec::new();
        for text in texts
            .iter()
            .map(|text| text.trim())
            .filter(|t| !t.is_empty())
        {
            let offset = parse_offset(text)?;
            if !offsets.contains(&offset) {
                offsets.push(offset);
            }
        }
        offsets.sort_by(|a, b| b.cmp(a));
        Ok(offsets)
    }

    /// The reminder's words. The built-in ones say only that it is a reminder: every channel
    /// states the window beside them, as the times, never as "in 1 hour" (which the wording
    /// rules refuse as a promise, and which is wrong by the time it is read).
    pub(crate) fn reminder_text(&self) -> String {
        match &self.reminder_message {
            Some(text) => text.clone(),
            None => REMINDER.to_owned(),
        }
    }
}

/// `24h`, `90m`, `2d`, `1w`.
fn parse_offset(text: &str) -> anyhow::Result<SignedDuration> {
    parse_long_duration(text).ok_or_else(|| {
        anyhow::anyhow!(
            "--remind / remind: `{text}` is not a time before the start such as 24h, 1h or 30m"
        )
    })
}

/// `1 hour`, `24 hours`, `30 minutes`, `1 hour 30 minutes`, `2 days`.
pub(crate) fn spoken(offset: SignedDuration) -> String {
    let minutes = offset.as_mins();
    let unit = |count: i64, one: &str| {
        if count == 1 {
            format!("1 {one}")
        } else {
            format!("{count} {one}s")
        }
    };
    match (minutes / 60, minutes % 60) {
        (hours, 0) if hours >= 48 && hours % 24 == 0 => unit(hours / 24, "day"),
        (0, minutes) => unit(minutes, "minute"),
        (hours, 0) => unit(hours, "hour"),
        (hours, minutes) => format!("{} {}", unit(hours, "hour"), unit(minutes, "minute")),
    }
}

/// Reads the time that counts as "now": `OUTAGE_NOW` (RFC 3339) for reproducible output, else the
/// clock.
/// Whole seconds: the journal, the feed and the webhook event never show fractions.
pub(crate) fn now() -> anyhow::Result<Timestamp> {
    let now = match std::env::var("OUTAGE_NOW") {
        Ok(text) => text.parse::<Timestamp>().with_context(|| {
            format!("OUTAGE_NOW={text:?} is not an RFC 3339 time such as 2026-11-22T10:00:00Z")
        })?,
        Err(_) => Timestamp::now(),
    };
    Ok(Timestamp::from_second(now.as_second())?)
}

/// Parses a duration such as `30m`, `1h 30m`, `2h` or `PT30M`; a day is written `24h`.
pub(crate) fn parse_duration(text: &str) -> anyhow::Result<SignedDuration> {
    let trimmed = text.trim().trim_start_matches('+');
    let duration: SignedDuration = trimmed
        .parse()
        .with_context(|| format!("`{text}` is not a duration such as 30m, 1h 30m or 2h"))?;
    if duration.is_negative() || duration.is_zero() {
        bail!("`{text}` must be a positive duration such as 30m");
    }
    Ok(duration)
}

/// Parses a span that may run to days or weeks (`7d`, `2w`) as well as what [`parse_duration`]
/// reads (`36h`, `90m`); `None` when it is none of those.
pub(crate) fn parse_long_duration(text: &str) -> Option<SignedDuration> {
    let text = text.trim();
    let whole = |suffix: char, hours: i64| {
        text.strip_suffix(suffix)
            .and_then(|count| count.trim().parse::<i64>().ok())
            .filter(|count| (1..=36_500).contains(count))
            .map(|count| SignedDuration::from_hours(count * hours))
    };
    whole('d', 24)
        .or_else(|| whole('w', 24 * 7))
        .or_else(|| parse_duration(text).ok())
}

/// Parses a point in time given as `14:30` (the next such time in `tz`), `+45m` (from now), a
/// bare duration `45m` (from now), or an RFC 3339 time.
pub(crate) fn parse_time(text: &str, now: Timestamp, tz: &TimeZone) -> anyhow::Result<Timestamp> {
    let text = text.trim();
    if let Ok(timestamp) = text.parse::<Timestamp>() {
        return Ok(timestamp);
    }
    if let Some((hour, minute)) = parse_clock(text) {
        let today = now.to_zoned(tz.clone());
        let mut at = today
            .with()
            .hour(hour)
            .minute(minute)
            .second(0)
            .subsec_nanosecond(0)
            .build()?;
        if at.timestamp() <= now {
            at = at.checked_add(1.day())?;
        }
        let away = at.timestamp().duration_since(now);
        if away > SignedDuration::from_hours(12) {
            bail!(
                "`{text}` would mean {}, {} from now; give a date such as {} or a duration such \
                 as +2h",
                at.strftime("%a %-d %b %H:%M %Z"),
                round_to_minutes(away),
                at.timestamp().strftime("%Y-%m-%dT%H:%M:%SZ")
            );
        }
        return Ok(at.timestamp());
    }
    if text
        .trim_start_matches('+')
        .parse::<SignedDuration>()
        .is_ok()
    {
        // A duration, perhaps zero or negative: say that rather than "not a time".
        return Ok(now.checked_add(parse_duration(text)?)?);
    }
    bail!(
        "`{text}` is not a time; write 14:30, +45m, or an RFC 3339 time such as \
         2026-11-22T14:30:00Z"
    )
}

/// `22h 20m`.
fn round_to_minutes(duration: SignedDuration) -> String {
    let minutes = duration.as_mins();
    match (minutes / 60, minutes % 60) {
        (0, minutes) => format!("{minutes}m"),
        (hours, 0) => format!("{hours}h"),
        (hours, minutes) => format!("{hours}h {minutes}m"),
    }
}

fn parse_clock(text: &str) -> Option<(i8, i8)> {
    let (hour, minute) = text.split_once(':')?;
    if hour.is_empty() || hour.len() > 2 || minute.len() != 2 {
        return None;
    }
    let hour: i8 = hour.parse().ok()?;
    let minute: i8 = minute.parse().ok()?;
    ((0..24).contains(&hour) && (0..60).contains(&minute)).then_some((hour, minute))
}

/// Formats a time for people: `14:30 UTC` on the day of `now`, else `Mon 23 Nov 14:30 UTC`.
pub(crate) fn format_time(at: Timestamp, now: Timestamp, tz: &TimeZone) -> String {
    let zoned: Zoned = at.to_zoned(tz.clone());
    let today = now.to_zoned(tz.clone()).date();
    if zoned.date() == today {
        zoned.strftime("%H:%M %Z").to_string()
    } else {
        zoned.strftime("%a %-d %b %H:%M %Z").to_string()
    }
}

/// An incident id made of the date and a slug of the title: `2026-11-22-login-failures`.
///
/// Letters and digits of every script are spelt in ASCII (`Störung` -> `storung`, `Сбой входа`
/// -> `sboi-vkhoda`): an id is typed in shells and goes into mail headers and links, and titles
/// in another script would otherwise all come out as the same `…-incident`. Anything else
/// (spaces, punctuation, emoji) separates words.
pub(crate) fn incident_id(title: &str, now: Timestamp, tz: &TimeZone) -> String {
    let date = now.to_zoned(tz.clone()).date();
    let mut slug = String::new();
    'title: for c in title.chars() {
        let spelt = match c.is_alphanumeric() {
            true => deunicode::deunicode_char(c).unwrap_or(" "),
            false => " ",
        };
        // One letter may spell as a word and a space (`障` -> `Zhang `): the space separates.
        for c in spelt.chars() {
            if c.is_ascii_alphanumeric() {
                slug.push(c.to_ascii_lowercase());
            } else if !slug.ends_with('-') && !slug.is_empty() {
                slug.push('-');
            }
            if slug.len() >= 40 {
                break 'title;
            }
        }
    }
    let slug = slug.trim_end_matches('-');
    if slug.is_empty() {
        format!("{date}-incident")
    } else {
        format!("{date}-{slug}")
    }
}

/// Checks that `next` may follow `previous` in one incident's life. `reopen` lets a resolved
/// incident take a new update.
pub(crate) fn check_transition(
    incident: &str,
    previous: Status,
    next: Status,
    reopen: bool,
) -> anyhow::Result<()> {
    if previous.kind() != next.kind() {
        bail!(
            "{incident} is {} {}, so it cannot take the {} status `{next}`; open a new one instead",
            article(previous.kind()),
            previous.kind().as_str(),
            next.kind().as_str(),
        );
    }
    if previous.is_final() && !reopen {
        bail!(
            "{incident} is already {previous}; pass --reopen to post `{next}` to it, or open a new \
             incident"
        );
    }
    if previous.kind() == IncidentKind::Maintenance {
        if next == Status::Cancelled && previous == Status::InProgress {
            bail!(
                "maintenance {incident} is in progress; it cannot be cancelled any more, post \
                 `completed` when it ends"
            );
        }
        let rank = |status: Status| match status {
            Status::Scheduled => 0,
            Status::InProgress => 1,
            _ => 2,
        };
        if rank(next) < rank(previous) && !(previous.is_final() && reopen) {
            bail!(
                "maintenance {incident} is {previous}; it can only move scheduled -> in-progress \
                 -> completed (or scheduled -> cancelled)"
            );
        }
    }
    Ok(())
}

fn article(kind: IncidentKind) -> &'static str {
    match kind {
        IncidentKind::Incident => "an",
        IncidentKind::Maintenance => "a",
    }
}

#[cfg(test)]
impl Update {
    /// An investigating update with every optional fact empty, for tests.
    pub(crate) fn example(now: Timestamp) -> Update {
        Update {
            incident: "2026-11-22-login-failures".into(),
            sequence: 1,
            kind: IncidentKind::Incident,
            status: Status::Investigating,
            title: "Login failures".into(),
            message: "Some customers cannot log in.".into(),
            components: Vec::new(),
            impact: None,
            eta: None,
            next_update: None,
            starts: None,
            ends: None,
            compensation: None,
            internal_note: None,
            correction: false,
            posted_at: now,
            reminder: false,
            rescheduled: false,
            autopilot: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> Timestamp {
        text.parse().unwrap()
    }

    #[test]
    fn clock_times_mean_the_next_such_time() {
        let now = at("2026-11-22T23:50:00Z");
        assert_eq!(
            parse_time("00:30", now, &TimeZone::UTC).unwrap(),
            at("2026-11-23T00:30:00Z")
        );
        assert_eq!(
            parse_time("23:55", now, &TimeZone::UTC).unwrap(),
            at("2026-11-22T23:55:00Z")
        );
        assert_eq!(
            parse_time("+45m", now, &TimeZone::UTC).unwrap(),
            at("2026-11-23T00:35:00Z")
        );
        assert!(parse_time("25:00", now, &TimeZone::UTC).is_err());
        assert_eq!(
            parse_time("08:00", at("2026-11-22T09:40:00Z"), &TimeZone::UTC)
                .unwrap_err()
                .to_string(),
            "`08:00` would mean Mon 23 Nov 08:00 UTC, 22h 20m from now; give a date such as \
             2026-11-23T08:00:00Z or a duration such as +2h"
        );
        assert!(parse_time("soon", now, &TimeZone::UTC).is_err());
    }

    #[test]
    fn times_are_formatted_with_the_zone_and_the_day_when_not_today() {
        let now = at("2026-11-22T10:00:00Z");
        assert_eq!(
            format_time(at("2026-11-22T14:30:00Z"), now, &TimeZone::UTC),
            "14:30 UTC"
        );
        assert_eq!(
            format_time(at("2026-11-23T09:05:00Z"), now, &TimeZone::UTC),
            "Mon 23 Nov 09:05 UTC"
        );
    }

    #[test]
    fn incident_ids_are_date_and_slug() {
        let now = at("2026-11-22T10:00:00Z");
        assert_eq!(
            incident_id("Login failures (EU)!", now, &TimeZone::UTC),
            "2026-11-22-login-failures-eu"
        );
        assert_eq!(
            incident_id("!!", now, &TimeZone::UTC),
            "2026-11-22-incident"
        );
    }

    /// Titles in other scripts are spelt in ASCII, each to its own id; emoji separate words.
    #[test]
    fn incident_ids_spell_every_script_in_ascii() {
        let now = at("2026-11-22T10:00:00Z");
        let id = |title| incident_id(title, now, &TimeZone::UTC);
        assert_eq!(id("Störung beim Login"), "2026-11-22-storung-beim-login");
        assert_eq!(
            id("Panne de la messagerie à Lyon"),
            "2026-11-22-panne-de-la-messagerie-a-lyon"
        );
        assert_eq!(id("🚨 Ünïcödé outage 🚨"), "2026-11-22-unicode-outage");
        assert_eq!(id("Сбой входа"), "2026-11-22-sboi-vkhoda");
        assert_eq!(id("Διακοπή"), "2026-11-22-diakope");
        let japanese = [id("ログイン障害"), id("決済の遅延")];
        assert!(
            japanese
                .iter()
                .all(|id| id.is_ascii() && id != "2026-11-22-incident")
        );
        assert_ne!(japanese[0], japanese[1]);
    }

    proptest::proptest! {
        /// Any title gives an id of the date and lowercase ASCII words joined by single hyphens,
        /// its slug at most 40 characters long.
        #[test]
        fn incident_ids_are_lowercase_ascii_words(title in "\\PC{0,80}") {
            let id = incident_id(&title, at("2026-11-22T10:00:00Z"), &TimeZone::UTC);
            let slug = id.strip_prefix("2026-11-22-").expect("the date first");
            proptest::prop_assert!(slug.len() <= 40, "{id}");
            proptest::prop_assert!(
                slug.split('-').all(|word| !word.is_empty()
                    && word.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())),
                "{id}"
            );
        }

        /// A title in ASCII keeps the id it had before other scripts were spelt (a rerun of an
        /// opening post after an upgrade finds its incident): each letter or digit lowercased,
        /// each run of anything else one hyphen.
        #[test]
        fn ascii_titles_keep_their_ids(title in "[ -~]{0,80}") {
            let mut before = String::new();
            for c in title.chars().map(|c| c.to_ascii_lowercase()) {
                if c.is_ascii_alphanumeric() {
                    before.push(c);
                } else if !before.ends_with('-') && !before.is_empty() {
                    before.push('-');
                }
                if before.len() >= 40 {
                    break;
                }
            }
            let before = match before.trim_end_matches('-') {
                "" => "incident",
                slug => slug,
            };
            let id = incident_id(&title, at("2026-11-22T10:00:00Z"), &TimeZone::UTC);
            proptest::prop_assert_eq!(id, format!("2026-11-22-{before}"));
        }
    }

    #[test]
    fn transitions() {
        use Status::*;
        assert!(check_transition("a", Investigating, Identified, false).is_ok());
        assert!(check_transition("a", Monitoring, Investigating, false).is_ok());
        assert!(check_transition("a", Resolved, Investigating, false).is_err());
        assert!(check_transition("a", Resolved, Investigating, true).is_ok());
        assert!(check_transition("a", Investigating, Scheduled, false).is_err());
        assert!(check_transition("a", InProgress, Scheduled, false).is_err());
        assert!(check_transition("a", Scheduled, Completed, false).is_ok());
    }
}
