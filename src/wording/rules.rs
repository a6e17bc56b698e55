//! Wording rules: the policy that refuses a text which contradicts its status, promises a time
//! nobody gave, leaves a placeholder in, or forgets when the next update comes.
//!
//! Rules are pure functions of the [`Update`] and the [`Policy`]; each finding carries a stable
//! rule id, a severity and a message that says how to fix the text. The rules on renderings
//! (`too-long`, `missing-fact`) live in [`super::render`] but report through the same type.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;
use std::sync::LazyLock;

use anyhow::bail;
use regex::Regex;
use serde::Serialize;

use crate::config::Policy;
use crate::update::{Status, Update};

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum RuleId {
    RecoveryClaim,
    UnpromisedTime,
    MissingNextUpdate,
    UpdateInterval,
    StockApology,
    Placeholder,
    Shouting,
    Glossary,
    InternalMarker,
    TooLong,
    MissingFact,
}

impl RuleId {
    pub const ALL: [RuleId; 11] = [
        RuleId::RecoveryClaim,
        RuleId::UnpromisedTime,
        RuleId::MissingNextUpdate,
        RuleId::UpdateInterval,
        RuleId::StockApology,
        RuleId::Placeholder,
        RuleId::Shouting,
        RuleId::Glossary,
        RuleId::InternalMarker,
        RuleId::TooLong,
        RuleId::MissingFact,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            RuleId::RecoveryClaim => "recovery-claim",
            RuleId::UnpromisedTime => "unpromised-time",
            RuleId::MissingNextUpdate => "missing-next-update",
            RuleId::UpdateInterval => "update-interval",
            RuleId::StockApology => "stock-apology",
            RuleId::Placeholder => "placeholder",
            RuleId::Shouting => "shouting",
            RuleId::Glossary => "glossary",
            RuleId::InternalMarker => "internal-marker",
            RuleId::TooLong => "too-long",
            RuleId::MissingFact => "missing-fact",
        }
    }

    pub fn default_severity(self) -> Severity {
        match self {
            RuleId::StockApology | RuleId::Shouting | RuleId::Glossary => Severity::Warning,
            _ => Severity::Error,
        }
    }
}

impl fmt::Display for RuleId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for RuleId {
    type Err = anyhow::Error;
    fn from_str(s: &str) -> anyhow::Result<RuleId> {
        match RuleId::ALL.into_iter().find(|rule| rule.as_str() == s) {
            Some(rule) => Ok(rule),
            None => {
                let all: Vec<&str> = RuleId::ALL.iter().map(|rule| rule.as_str()).collect();
                bail!("unknown rule `{s}`; the rules are {}", all.join(", "))
            }
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Off,
    Warning,
    Error,
}

impl FromStr for Severity {
    type Err = anyhow::Error;
    fn from_str(s: &str) -> anyhow::Result<Severity> {
        match s {
            "off" => Ok(Severity::Off),
            "warning" => Ok(Severity::Warning),
            "error" => Ok(Severity::Error),
            _ => bail!("severity `{s}` must be error, warning or off"),
        }
    }
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Off => "off",
            Severity::Warning => "warning",
            Severity::Error => "error",
        }
    }
}

/// One thing a rule found. `channel` is set for findings on one channel's rendering.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Finding {
    pub rule: RuleId,
    pub severity: Severity,
    pub channel: Option<String>,
    pub message: String,
    /// Set when `--allow RULE=reason` let an error through; the reason is journaled.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allowed: Option<String>,
}

impl Finding {
    pub fn new(rule: RuleId, message: impl Into<String>) -> Finding {
        Finding {
            rule,
            severity: rule.default_severity(),
            channel: None,
            message: message.into(),
            allowed: None,
        }
    }

    pub fn on(mut self, channel: &str) -> Finding {
        self.channel = Some(channel.to_owned());
        self
    }

    pub fn blocks(&self) -> bool {
        self.severity == Severity::Error && self.allowed.is_none()
    }
}

/// Applies the configured severities and the `--allow` overrides, and drops rules set to `off`.
pub fn settle(
    findings: Vec<Finding>,
    policy: &Policy,
    allow: &BTreeMap<RuleId, String>,
) -> Vec<Finding> {
    findings
        .into_iter()
        .filter_map(|mut finding| {
            if let Some(severity) = policy.rules.get(&finding.rule) {
                finding.severity = *severity;
            }
            if finding.severity == Severity::Off {
                return None;
            }
            if finding.severity == Severity::Error {
                finding.allowed = allow.get(&finding.rule).cloned();
            }
            Some(finding)
        })
        .collect()
}

fn regex(pattern: &str) -> Regex {
    Regex::new(pattern).expect("built-in pattern")
}

static RECOVERY: LazyLock<Regex> = LazyLock::new(|| {
    regex(
        r"(?i)\b(back to normal|fully (restored|operational|recovered)|all systems (are )?operational|(has|have) (been )?(resolved|restored|fixed|recovered)|(is|are) (now )?(resolved|fixed|restored|working again|back up|operational again)|up and running|no longer (affected|impacted)|problem solved|issue (is )?resolved)\b",
    )
});

/// Words just before a recovery phrase that make it a plan, not a claim: "once it is fixed".
static NOT_A_CLAIM: LazyLock<Regex> = LazyLock::new(|| {
    regex(r"(?i)\b(once|when|until|after|if|will|expect|expected|not|before|to be|should)\b")
});

static PROMISED_TIME: LazyLock<Regex> = LazyLock::new(|| {
    regex(
        r"(?i)\b(within (the|an|a|the next|\d+) ?(hour|hours|minutes?|mins?|days?)|in (the next )?\d+ ?(minutes?|mins?|hours?|h|m)\b|by \d{1,2}(:\d{2})? ?(am|pm|utc)?\b|by (the )?(end of (the )?day|tonight|tomorrow|noon|midnight|morning|evening)|(back|fixed|resolved|restored) (very )?(soon|shortly)|(within|in) a (few|couple of) (minutes|hours))",
    )
});

static STOCK_APOLOGIES: LazyLock<Regex> = LazyLock::new(|| {
    regex(
        r"(?i)(apologi[sz]e for any inconvenience|sorry for any inconvenience|any inconvenience (this|that) (may have|has|might have) caused|apologi[sz]e for the inconvenience|we apologi[sz]e if|sorry if you|thank you for your (patience|understanding)|we appreciate your patience|we take (this|your \w+) (very )?seriously|your (satisfaction|experience) is our (top )?priority)",
    )
});

static PLACEHOLDER: LazyLock<Regex> = LazyLock::new(|| {
    regex(r"(?i:\btbd\b|\btodo\b|\bfixme\b|\bxxx+\b|\{\{|\}\}|<insert|\[insert|lorem ipsum)")
});

static SHOUTING: LazyLock<Regex> =
    LazyLock::new(|| regex(r"\b[A-Z]{2,}(?:\W+[A-Z]{2,}){2,}\b|!!|\?!"));

/// Checks the free text of an update (title, message, compensation) against the policy. The
/// internal note is for staff and is not checked.
pub fn check(update: &Update, policy: &Policy) -> Vec<Finding> {
    let mut findings = Vec::new();
    let texts: Vec<(&str, &str)> = [
        Some(("title", update.title.as_str())),
        Some(("message", update.message.as_str())),
        update
            .compensation
            .as_deref()
            .map(|text| ("compensation", text)),
    ]
    .into_iter()
    .flatten()
    .collect();

    if !update.status.allows_recovery_claim() {
        for (field, text) in &texts {
            if let Some(phrase) = recovery_claim(text) {
                findings.push(Finding::new(
                    RuleId::RecoveryClaim,
                    format!(
                        "the {field} says \"{phrase}\" but the status is {}; post status \
                         monitoring or resolved once it is true, or reword",
                        update.status
                    ),
                ));
            }
        }
    }

    if update.eta.is_none() {
        for (field, text) in &texts {
            if let Some(found) = PROMISED_TIME.find(text) {
                findings.push(Finding::new(
                    RuleId::UnpromisedTime,
                    format!(
                        "the {field} promises a time (\"{}\") but no --eta was given; give \
                         --eta so it is stated as an estimate, or remove the promise",
                        found.as_str()
                    ),
                ));
            }
        }
    }

    // Scheduled maintenance announces its start instead; a final update ends the cadence.
    let needs_next_update = !update.status.is_final() && update.status != Status::Scheduled;
    match update.next_update {
        None if needs_next_update => findings.push(Finding::new(
            RuleId::MissingNextUpdate,
            format!(
                "a {} update must say when the next one comes; add --next-update 30m",
                update.status
            ),
        )),
        Some(next) if needs_next_update => {
            let gap = next.duration_since(update.posted_at);
            if gap > policy.max_update_interval {
                findings.push(Finding::new(
                    RuleId::UpdateInterval,
                    format!(
                        "the next update is {:#} away, more than the policy's {:#}; promise an \
                         earlier one",
                        round_minutes(gap),
                        policy.max_update_interval
                    ),
                ));
            }
        }
        _ => {}
    }

    for (field, text) in &texts {
        if let Some(found) = STOCK_APOLOGIES.find(text) {
            findings.push(Finding::new(
                RuleId::StockApology,
                format!(
                    "the {field} uses the stock phrase \"{}\"; say plainly what happened and \
                     what customers can do",
                    found.as_str()
                ),
            ));
        }
        if let Some(found) = PLACEHOLDER.find(text) {
            findings.push(Finding::new(
                RuleId::Placeholder,
                format!(
                    "the {field} still has a placeholder (\"{}\"); write the real text",
                    found.as_str()
                ),
            ));
        }
        if let Some(found) = SHOUTING.find(text) {
            findings.push(Finding::new(
                RuleId::Shouting,
                format!(
                    "the {field} shouts (\"{}\"); use sentence case and one exclamation mark at \
                     most",
                    found.as_str()
                ),
            ));
        }
        for (avoid, prefer) in &policy.glossary {
            if contains_word(text, avoid) {
                findings.push(Finding::new(
                    RuleId::Glossary,
                    format!("the {field} says \"{avoid}\"; the glossary prefers \"{prefer}\""),
                ));
            }
        }
        for marker in &policy.internal_markers {
            if let Some(found) = marker.find(text) {
                findings.push(Finding::new(
                    RuleId::InternalMarker,
                    format!(
                        "the {field} contains \"{}\", which looks internal; move it to \
                         --internal-note",
                        found.as_str()
                    ),
                ));
                break;
            }
        }
    }
    findings
}

fn recovery_claim(text: &str) -> Option<&str> {
    RECOVERY.find_iter(text).find_map(|found| {
        let before = &text[..found.start()];
        let clause_start = before
            .rfind(['.', '!', '?', ';', ','])
            .map_or(0, |at| at + 1);
        let clause = &before[clause_start..];
        (!NOT_A_CLAIM.is_match(clause)).then(|| found.as_str())
    })
}

fn contains_word(text: &str, word: &str) -> bool {
    let lower = text.to_lowercase();
    lower.match_indices(word).any(|(at, _)| {
        let before = lower[..at].chars().next_back();
        let after = lower[at + word.len()..].chars().next();
        !before.is_some_and(char::is_alphanumeric) && !after.is_some_and(char::is_alphanumeric)
    })
}

fn round_minutes(duration: jiff::SignedDuration) -> jiff::SignedDuration {
    jiff::SignedDuration::from_mins(duration.as_mins())
}
