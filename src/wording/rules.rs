//! Wording rules: the policy that refuses a text which contradicts its status, promises a time
//! nobody gave, leaves a placeholder in, patronises, or forgets when the next update comes.
//!
//! Rules are pure functions of the [`Update`], the incident's earlier messages and the
//! [`Policy`]; each finding carries a stable rule id, a severity and a message that says how to
//! fix the text. The rules on renderings (`too-long`, `missing-fact`) are found while rendering
//! but report through the same type.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;
use std::sync::LazyLock;

use anyhow::bail;
use jiff::SignedDuration;
use regex_lite::Regex;
use serde::Serialize;

use crate::update::{Status, Update};

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum RuleId {
    RecoveryClaim,
    UnpromisedTime,
    MissingNextUpdate,
    UpdateInterval,
    StockApology,
    NoNews,
    Placeholder,
    Shouting,
    Glossary,
    InternalMarker,
    TooLong,
    MissingFact,
}

impl RuleId {
    pub(crate) const ALL: [RuleId; 12] = [
        RuleId::RecoveryClaim,
        RuleId::UnpromisedTime,
        RuleId::MissingNextUpdate,
        RuleId::UpdateInterval,
        RuleId::StockApology,
        RuleId::NoNews,
        RuleId::Placeholder,
        RuleId::Shouting,
        RuleId::Glossary,
        RuleId::InternalMarker,
        RuleId::TooLong,
        RuleId::MissingFact,
    ];

    pub(crate) fn as_str(self) -> &'static str {
        match self {
            RuleId::RecoveryClaim => "recovery-claim",
            RuleId::UnpromisedTime => "unpromised-time",
            RuleId::MissingNextUpdate => "missing-next-update",
            RuleId::UpdateInterval => "update-interval",
            RuleId::StockApology => "stock-apology",
            RuleId::NoNews => "no-news",
            RuleId::Placeholder => "placeholder",
            RuleId::Shouting => "shouting",
            RuleId::Glossary => "glossary",
            RuleId::InternalMarker => "internal-marker",
            RuleId::TooLong => "too-long",
            RuleId::MissingFact => "missing-fact",
        }
    }

    pub(crate) fn default_severity(self) -> Severity {
        match self {
            RuleId::StockApology | RuleId::Shouting | RuleId::Glossary | RuleId::NoNews => {
                Severity::Warning
            }
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
pub(crate) enum Severity {
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

/// The organisation's wording policy (`[policy]` in the config).
#[derive(Debug, Clone)]
pub(crate) struct Policy {
    pub(crate) max_update_interval: SignedDuration,
    /// How long the same command again counts as a rerun rather than a new update.
    pub(crate) rerun_window: SignedDuration,
    pub(crate) glossary: BTreeMap<String, String>,
    pub(crate) internal_markers: Vec<Regex>,
    pub(crate) rules: BTreeMap<RuleId, Severity>,
}

/// Ticket ids, internal host names and private addresses.
pub(crate) const DEFAULT_INTERNAL_MARKERS: [&str; 3] = [
    r"\b[A-Z][A-Z0-9]{1,9}-\d{1,6}\b",
    r"\b[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.(?i:internal|corp|local|lan|intranet)\b",
    r"\b(?:10|127)\.\d{1,3}\.\d{1,3}\.\d{1,3}\b|\b192\.168\.\d{1,3}\.\d{1,3}\b",
];

impl Default for Policy {
    fn default() -> Policy {
        Policy {
            max_update_interval: SignedDuration::from_mins(60),
            rerun_window: SignedDuration::from_mins(15),
            glossary: BTreeMap::new(),
            internal_markers: DEFAULT_INTERNAL_MARKERS.iter().map(|p| regex(p)).collect(),
            rules: BTreeMap::new(),
        }
    }
}

/// One thing a rule found. `channel` is set for findings on one channel's rendering.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub(crate) struct Finding {
    pub(crate) rule: RuleId,
    pub(crate) severity: Severity,
    pub(crate) channel: Option<String>,
    pub(crate) message: String,
    /// Set when `--allow RULE=reason` let an error through; the reason is journaled.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) allowed: Option<String>,
}

impl Finding {
    pub(crate) fn new(rule: RuleId, message: impl Into<String>) -> Finding {
        Finding {
            rule,
            severity: rule.default_severity(),
            channel: None,
            message: message.into(),
            allowed: None,
        }
    }

    pub(crate) fn on(mut self, channel: &str) -> Finding {
        self.channel = Some(channel.to_owned());
        self
    }

    pub(crate) fn blocks(&self) -> bool {
        self.severity == Severity::Error && self.allowed.is_none()
    }
}

/// Applies the configured severities and the `--allow` overrides, and drops rules set to `off`.
pub(crate) fn settle(
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

/// A built-in pattern. `regex-lite`: these are a few phrase lists matched against texts of a
/// few kilobytes, where compiling `regex`'s optimised automata cost most of a preview's time
/// (literal extraction, prefilters) for no gain in matching. The phrase lists are written in
/// lower case without `(?i)` and matched against the text folded to ASCII lower case (which
/// keeps every byte offset): case-insensitive classes for each letter were a third of a
/// preview's instructions. They use no capture groups (see the test).
fn regex(pattern: &str) -> Regex {
    Regex::new(pattern).expect("built-in pattern")
}

/// A field's text and its ASCII lower-case fold, for the phrase lists.
struct Text<'t> {
    field: &'static str,
    text: &'t str,
    folded: String,
}

impl<'t> Text<'t> {
    fn new(field: &'static str, text: &'t str) -> Text<'t> {
        Text {
            field,
            text,
            folded: text.to_ascii_lowercase(),
        }
    }

    /// The first match of a lower-case phrase list, as written in the original text.
    fn find(&self, phrases: &Phrases) -> Option<&'t str> {
        phrases
            .find_iter(&self.folded)
            .next()
            .map(|found| &self.text[found.range()])
    }
}

/// A phrase list and words of which every match holds one at least: a text with none of them
/// cannot match, and the list is compiled only when a text has one. Compiling the lists was a
/// quarter of a preview's instructions (callgrind: 1.2 of 5.2 million), and most updates
/// contain none of these words.
struct Phrases {
    needs: &'static [&'static str],
    regex: LazyLock<Regex>,
}

impl Phrases {
    fn may_match(&self, folded: &str) -> bool {
        self.needs.iter().any(|word| folded.contains(word))
    }

    /// The list's matches in folded text: none, without compiling it, when no needed word is
    /// there.
    fn find_iter<'h>(&self, folded: &'h str) -> impl Iterator<Item = regex_lite::Match<'h>> {
        self.may_match(folded)
            .then(|| self.regex.find_iter(folded))
            .into_iter()
            .flatten()
    }
}

/// Whether a text may shout: three words of two capitals at least, or `!!` or `?!`.
fn may_shout(text: &str) -> bool {
    text.contains("!!")
        || text.contains("?!")
        || text.bytes().filter(u8::is_ascii_uppercase).count() >= 6
}

static RECOVERY: Phrases = Phrases {
    needs: &[
        "normal",
        "fully ",
        "operational",
        "resolved",
        "restored",
        "fixed",
        "recovered",
        "working again",
        "back up",
        "up and running",
        "no longer ",
        "problem solved",
    ],
    regex: LazyLock::new(|| {
        regex(
            r"\b(?:back to normal|fully (?:restored|operational|recovered)|all systems (?:are )?operational|(?:has|have) (?:been )?(?:resolved|restored|fixed|recovered)|(?:is|are) (?:now )?(?:resolved|fixed|restored|working again|back up|operational again)|up and running|no longer (?:affected|impacted)|problem solved|issue (?:is )?resolved)\b",
        )
    }),
};

/// Words just before a recovery phrase that make it a plan, not a claim: "once it is fixed".
static NOT_A_CLAIM: LazyLock<Regex> = LazyLock::new(|| {
    regex(r"\b(?:once|when|until|after|if|will|expect|expected|not|before|to be|should)\b")
});

static PROMISED_TIME: Phrases = Phrases {
    needs: &[
        "within",
        "soon",
        "shortly",
        "by ",
        "a few",
        "a couple",
        "in the next",
        "in 0",
        "in 1",
        "in 2",
        "in 3",
        "in 4",
        "in 5",
        "in 6",
        "in 7",
        "in 8",
        "in 9",
    ],
    regex: LazyLock::new(|| {
        regex(
            r"\b(?:within (?:the|an|a|the next|\d+) ?(?:hour|hours|minutes?|mins?|days?)|in (?:the next )?\d+ ?(?:minutes?|mins?|hours?|h|m)\b|by \d{1,2}(?::\d{2})? ?(?:am|pm|utc)?\b|by (?:the )?(?:end of (?:the )?day|tonight|tomorrow|noon|midnight|morning|evening)|(?:back|fixed|resolved|restored) (?:very )?(?:soon|shortly)|(?:within|in) a (?:few|couple of) (?:minutes|hours))",
        )
    }),
};

/// The stock apologies and the patronising empathy customers hear as hollow: telling them what
/// they already feel instead of what is being done.
static STOCK_APOLOGIES: Phrases = Phrases {
    needs: &[
        "inconvenience",
        "apologi",
        "sorry if you",
        "thank you for your ",
        "patience",
        "seriously",
        "priority",
        "how ",
        "your frustration",
        "your anger",
        "your disappointment",
        "frustrating",
        "annoying",
        "upsetting",
    ],
    regex: LazyLock::new(|| {
        regex(
            r"(?:apologi[sz]e for any inconvenience|sorry for any inconvenience|any inconvenience (?:this|that) (?:may have|has|might have) caused|apologi[sz]e for the inconvenience|we apologi[sz]e if|sorry if you|thank you for your (?:patience|understanding)|we appreciate your patience|we take (?:this|your \w+) (?:very )?seriously|your (?:satisfaction|experience) is our (?:top )?priority|we (?:completely |fully |totally |truly )?(?:understand|know|reali[sz]e|appreciate|can imagine) (?:just )?how (?:frustrating|annoying|inconvenient|disruptive|difficult|upsetting|stressful) (?:this|that|it) (?:must be|is|has been|may be|might be|can be)|we (?:completely |fully |totally |truly )?(?:understand|know|reali[sz]e|can imagine) (?:just )?how (?:angry|frustrated|upset|annoyed|disappointed) you (?:must be|are|may be|might be|feel)|we (?:completely |fully |totally |truly )?(?:understand|share|appreciate|hear) your (?:frustration|anger|disappointment)|we know (?:this|that|it) (?:is|has been) (?:frustrating|annoying|upsetting))",
        )
    }),
};

static PLACEHOLDER: Phrases = Phrases {
    needs: &[
        "tbd",
        "todo",
        "fixme",
        "xxx",
        "{{",
        "}}",
        "<insert",
        "[insert",
        "lorem ipsum",
    ],
    regex: LazyLock::new(|| {
        regex(r"\btbd\b|\btodo\b|\bfixme\b|\bxxx+\b|\{\{|\}\}|<insert|\[insert|lorem ipsum")
    }),
};

static SHOUTING: LazyLock<Regex> =
    LazyLock::new(|| regex(r"\b[A-Z]{2,}(?:\W+[A-Z]{2,}){2,}\b|!!|\?!"));

/// "an identified update", "a monitoring update".
fn article(word: &str) -> &'static str {
    match word.chars().next() {
        Some('a' | 'e' | 'i' | 'o' | 'u') => "an",
        _ => "a",
    }
}

/// Whether a status owes customers a time for the next update. Scheduled maintenance announces
/// its start instead; a running maintenance with an end promises its end; a final update ends
/// the cadence.
pub(crate) fn needs_next_update(update: &Update) -> bool {
    !update.status.is_final()
        && update.status != Status::Scheduled
        && !(update.status == Status::InProgress && update.ends.is_some())
}

/// Checks the free text of an update (title, message, compensation) against the policy.
/// `earlier` holds the incident's earlier messages, oldest first, for `no-news`. The internal
/// note is for staff and is not checked.
pub(crate) fn check(update: &Update, policy: &Policy, earlier: &[(u32, &str)]) -> Vec<Finding> {
    let mut findings = Vec::new();
    let texts: Vec<Text<'_>> = [
        Some(Text::new("title", &update.title)),
        Some(Text::new("message", &update.message)),
        update
            .compensation
            .as_deref()
            .map(|text| Text::new("compensation", text)),
    ]
    .into_iter()
    .flatten()
    .collect();

    if !update.status.allows_recovery_claim() {
        for text in &texts {
            if let Some(phrase) = recovery_claim(text) {
                findings.push(Finding::new(
                    RuleId::RecoveryClaim,
                    format!(
                        "the {} says \"{phrase}\" but the status is {}; post status \
                         monitoring or resolved once it is true, or reword",
                        text.field, update.status
                    ),
                ));
            }
        }
    }

    if update.eta.is_none() {
        for text in &texts {
            if let Some(found) = text.find(&PROMISED_TIME) {
                findings.push(Finding::new(
                    RuleId::UnpromisedTime,
                    format!(
                        "the {} promises a time (\"{found}\") but no --eta was given; give \
                         --eta so it is stated as an estimate, or remove the promise",
                        text.field
                    ),
                ));
            }
        }
    }

    match update.next_update {
        None if needs_next_update(update) => {
            let status = update.status.as_str();
            findings.push(Finding::new(
                RuleId::MissingNextUpdate,
                format!(
                    "{} {status} update must say when the next one comes; add --next-update 30m \
                     (next_update in an update file)",
                    match article(status) {
                        "an" => "An",
                        _ => "A",
                    }
                ),
            ));
        }
        Some(next) if needs_next_update(update) => {
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

    let words = |text: &str| {
        text.to_lowercase()
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
    };
    let message = words(&update.message);
    // A reminder says again what was said: that is what it is for.
    if !update.reminder
        && let Some((sequence, _)) = earlier
            .iter()
            .rev()
            .find(|(_, text)| words(text) == message)
    {
        findings.push(Finding::new(
            RuleId::NoNews,
            format!(
                "the message repeats update {sequence} word for word; say what changed, what is \
                 being done, or when you will know more"
            ),
        ));
    }

    for text in &texts {
        let field = text.field;
        if let Some(found) = text.find(&STOCK_APOLOGIES) {
            findings.push(Finding::new(
                RuleId::StockApology,
                format!(
                    "the {field} uses the stock phrase \"{found}\"; say plainly what happened \
                     and what customers can do"
                ),
            ));
        }
        if let Some(found) = text.find(&PLACEHOLDER) {
            findings.push(Finding::new(
                RuleId::Placeholder,
                format!("the {field} still has a placeholder (\"{found}\"); write the real text"),
            ));
        }
        let text = text.text;
        if let Some(found) = may_shout(text).then(|| SHOUTING.find(text)).flatten() {
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
        let mut markers: Vec<(usize, &str)> = policy
            .internal_markers
            .iter()
            .flat_map(|marker| marker.find_iter(text))
            .map(|found| (found.start(), found.as_str()))
            .collect();
        markers.sort_unstable();
        markers.dedup_by_key(|(_, marker)| *marker);
        for (_, marker) in markers {
            findings.push(Finding::new(
                RuleId::InternalMarker,
                format!(
                    "the {field} contains \"{marker}\", which looks internal; move it to \
                     --internal-note"
                ),
            ));
        }
    }
    findings
}

fn recovery_claim<'t>(text: &Text<'t>) -> Option<&'t str> {
    let folded = text.folded.as_str();
    RECOVERY.find_iter(folded).find_map(|found| {
        let before = &folded[..found.start()];
        let clause_start = before
            .rfind(['.', '!', '?', ';', ','])
            .map_or(0, |at| at + 1);
        let clause = &before[clause_start..];
        (!NOT_A_CLAIM.is_match(clause)).then(|| &text.text[found.range()])
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

fn round_minutes(duration: SignedDuration) -> SignedDuration {
    SignedDuration::from_mins(duration.as_mins())
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use proptest::string::string_regex;

    use super::*;

    fn findings(message: &str) -> Vec<RuleId> {
        let now: jiff::Timestamp = "2026-11-22T10:00:00Z".parse().unwrap();
        let update = Update {
            message: message.into(),
            next_update: Some(now + SignedDuration::from_mins(30)),
            ..Update::example(now)
        };
        check(&update, &Policy::default(), &[])
            .into_iter()
            .map(|finding| finding.rule)
            .collect()
    }

    #[test]
    fn patronising_empathy_is_a_stock_phrase_in_every_form() {
        for phrase in [
            "We understand how frustrating this must be.",
            "We understand how frustrating this is.",
            "We know how angry you must be.",
            "We know how frustrated you are.",
            "We understand your frustration.",
            "We completely understand how disruptive this has been.",
            "We know this is frustrating.",
        ] {
            assert_eq!(findings(phrase), [RuleId::StockApology], "{phrase}");
        }
        assert_eq!(
            findings("We understand the cause: a certificate expired."),
            []
        );
    }

    /// A capture group costs every state of the matcher two more slots, zeroed before each
    /// search: with the phrase lists' groups that was a megabyte per preview. The rules only ask
    /// where a match is.
    #[test]
    fn built_in_patterns_capture_nothing_and_phrase_lists_are_lower_case() {
        let statics: [&Regex; 6] = [
            &RECOVERY.regex,
            &NOT_A_CLAIM,
            &PROMISED_TIME.regex,
            &STOCK_APOLOGIES.regex,
            &PLACEHOLDER.regex,
            &SHOUTING,
        ];
        let markers = Policy::default().internal_markers;
        for pattern in statics.into_iter().chain(&markers) {
            assert_eq!(pattern.captures_len(), 1, "{}", pattern.as_str());
        }
        // The phrase lists meet folded text: an upper-case letter in one (other than an
        // escape's, like `\W`) would never match.
        for pattern in &statics[..5] {
            let escaped = pattern.as_str().split('\\').enumerate();
            let mut letters = escaped.flat_map(|(n, part)| part.chars().skip(usize::from(n > 0)));
            assert!(
                !letters.any(|c| c.is_ascii_uppercase()),
                "{}",
                pattern.as_str()
            );
        }
    }

    #[test]
    fn every_internal_marker_is_reported() {
        let found = findings("See INC-4521 and OPS-77 on db7.internal.");
        assert_eq!(found, [RuleId::InternalMarker; 3]);
    }

    /// Words of the phrase lists in any case, with non-ASCII letters whose case folds (the
    /// Kelvin sign, dotted I, sharp s) and punctuation between them.
    fn mixed_case_phrases() -> impl Strategy<Value = String> {
        let word = prop_oneof![
            Just("we"),
            Just("understand"),
            Just("how"),
            Just("frustrating"),
            Just("this"),
            Just("must be"),
            Just("sorry for any inconvenience"),
            Just("is"),
            Just("now"),
            Just("resolved"),
            Just("back to normal"),
            Just("once"),
            Just("within"),
            Just("the"),
            Just("hour"),
            Just("by 5pm"),
            Just("in 10 minutes"),
            Just("tbd"),
            Just("lorem ipsum"),
            Just("thank you for your patience"),
            Just("\u{212a}"),
            Just("\u{130}"),
            Just("ß"),
            Just("é"),
            Just("."),
            Just(","),
            Just("2"),
        ];
        let cased = (word, any::<u64>()).prop_map(|(word, bits)| {
            word.chars()
                .enumerate()
                .map(|(n, c)| {
                    if bits >> (n % 64) & 1 == 1 {
                        c.to_ascii_uppercase()
                    } else {
                        c
                    }
                })
                .collect::<String>()
        });
        proptest::collection::vec(cased, 0..12).prop_map(|words| words.join(" "))
    }

    proptest! {
        /// Matching a lower-case phrase list against folded text finds what the same list
        /// under `(?i)` finds in the original, at the same place.
        #[test]
        fn folded_matching_is_case_insensitive_matching(text in mixed_case_phrases()) {
            for phrases in [&RECOVERY, &PROMISED_TIME, &STOCK_APOLOGIES, &PLACEHOLDER] {
                let insensitive = Regex::new(&format!("(?i:{})", phrases.regex.as_str())).unwrap();
                let expected = insensitive.find(&text).map(|found| found.as_str());
                prop_assert_eq!(Text::new("message", &text).find(phrases), expected);
            }
            let insensitive = Regex::new(&format!("(?i:{})", NOT_A_CLAIM.as_str())).unwrap();
            let expected = insensitive.find(&text).map(|found| found.as_str());
            let written = Text::new("message", &text);
            let found = NOT_A_CLAIM
                .find(&written.folded)
                .map(|found| &written.text[found.range()]);
            prop_assert_eq!(found, expected);
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2048))]

        /// A text that matches a phrase list holds one of the words the list is skipped
        /// without. The texts are drawn from the list's own pattern (its `\b`s left out, which
        /// the generator does not know), between words of other lists, in any case.
        #[test]
        fn a_text_without_the_needed_words_cannot_match(
            list in 0usize..4,
            recovery in string_regex(&unbounded(&RECOVERY)).unwrap(),
            promised in string_regex(&unbounded(&PROMISED_TIME)).unwrap(),
            apology in string_regex(&unbounded(&STOCK_APOLOGIES)).unwrap(),
            placeholder in string_regex(&unbounded(&PLACEHOLDER)).unwrap(),
            before in mixed_case_phrases(),
            after in mixed_case_phrases(),
        ) {
            let (phrases, drawn) = vec![
                (&RECOVERY, recovery),
                (&PROMISED_TIME, promised),
                (&STOCK_APOLOGIES, apology),
                (&PLACEHOLDER, placeholder),
            ]
            .swap_remove(list);
            let text = format!("{before} {drawn} {after}");
            let folded = text.to_ascii_lowercase();
            // A generator that stopped drawing matches would fail here (too many rejected
            // cases) instead of passing on texts that prove nothing.
            prop_assume!(phrases.regex.is_match(&folded));
            prop_assert!(phrases.may_match(&folded), "{text:?}");
        }

        /// The same for shouting, on the text as written.
        #[test]
        fn a_text_that_shouts_is_never_skipped(
            drawn in string_regex(&SHOUTING.as_str().replace(r"\b", "")).unwrap(),
            before in mixed_case_phrases(),
            after in mixed_case_phrases(),
        ) {
            let text = format!("{before} {drawn} {after}");
            prop_assume!(SHOUTING.is_match(&text));
            prop_assert!(may_shout(&text), "{text:?}");
        }
    }

    /// A phrase list's pattern without its word boundaries, and with ASCII digits (as
    /// `regex-lite` means by `\d`; the generator would draw any script's).
    fn unbounded(phrases: &Phrases) -> String {
        phrases
            .regex
            .as_str()
            .replace(r"\b", "")
            .replace(r"\d", "[0-9]")
    }

    /// Six capitals, the fewest that shout.
    #[test]
    fn the_shortest_shout_is_found() {
        assert_eq!(findings("logins fail: NO NO NO"), [RuleId::Shouting]);
    }
}
