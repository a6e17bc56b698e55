//! The facts of an update: one typed set, derived once from the [`Update`], formatted once for
//! people, and the one table of which facts each channel kind carries.
//!
//! Every rendering is checked against that table (`missing-fact`): a rendering that lacks a fact
//! its kind declares is an error, whatever produced it (a built-in template, a custom one, or the
//! fitting step). Only the message is free text that may be shortened; the facts never are.

use jiff::Timestamp;
use serde::Serialize;

use crate::update::{Update, format_time};
use crate::wording::rules::{Finding, RuleId};

/// One fact an update states.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum Fact {
    Status,
    Title,
    /// A maintenance window: its start and, when given, its end.
    Window,
    /// The estimated resolution, stated as an estimate.
    Eta,
    NextUpdate,
    Link,
    /// That this update corrects the previous one.
    Correction,
    Compensation,
    Components,
    Impact,
}

impl Fact {
    pub(crate) const ALL: [Fact; 10] = [
        Fact::Status,
        Fact::Title,
        Fact::Window,
        Fact::Eta,
        Fact::NextUpdate,
        Fact::Link,
        Fact::Correction,
        Fact::Compensation,
        Fact::Components,
        Fact::Impact,
    ];

    pub(crate) fn name(self) -> &'static str {
        match self {
            Fact::Status => "status",
            Fact::Title => "title",
            Fact::Window => "maintenance window",
            Fact::Eta => "ETA",
            Fact::NextUpdate => "next update time",
            Fact::Link => "status page link",
            Fact::Correction => "correction marker",
            Fact::Compensation => "compensation",
            Fact::Components => "affected components",
            Fact::Impact => "impact",
        }
    }
}

/// Which facts a channel kind leaves out, and why: the one table (the README repeats it). Every
/// kind not listed carries every fact.
pub(crate) const LEFT_OUT: [(&str, &[Fact], &str); 2] = [
    (
        "banner",
        &[Fact::Components, Fact::Impact, Fact::Compensation],
        "a site header holds what is happening and when; the status page has the rest",
    ),
    (
        "phone",
        &[Fact::Compensation, Fact::Impact],
        "a caller hears what is affected and when to expect news; the rest is on the status page",
    ),
];

/// The facts a kind carries.
pub(crate) fn carried(kind: &str) -> impl Iterator<Item = Fact> + '_ {
    let left_out: &[Fact] = LEFT_OUT
        .iter()
        .find(|(name, ..)| *name == kind)
        .map_or(&[], |(_, facts, _)| facts);
    Fact::ALL
        .into_iter()
        .filter(move |fact| !left_out.contains(fact))
}

/// How a channel's text escapes what it shows, so a fact can be found in it as it appears.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Escape {
    None,
    /// HTML (and XML): `&`, `<`, `>` and quotes, as the templates' autoescape writes them.
    Html,
    /// Slack's mrkdwn: `&`, `<`, `>`.
    Slack,
}

impl Escape {
    pub(crate) fn apply(self, text: &str) -> String {
        match self {
            Escape::None => text.to_owned(),
            Escape::Html => html_escape(text),
            Escape::Slack => slack_escape(text),
        }
    }
}

/// Escapes text for HTML and XML, text and quoted attributes alike: the five characters that
/// can end or open markup there. Not `/` (minijinja's default escapes it too): it ends nothing,
/// and a link would read `https:&#x2f;&#x2f;…` in every page's source.
pub(crate) fn html_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#x27;"),
            _ => out.push(c),
        }
    }
    out
}

pub(crate) fn slack_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// The facts of an update, formatted once for people, as templates see them. The field names are
/// the template variables (README "Templates").
#[derive(Clone, Debug, Serialize)]
pub(crate) struct Facts {
    pub(crate) organization: String,
    pub(crate) incident: String,
    pub(crate) sequence: u32,
    pub(crate) kind: &'static str,
    pub(crate) status: &'static str,
    pub(crate) status_label: &'static str,
    pub(crate) title: String,
    pub(crate) message: String,
    pub(crate) components: Vec<String>,
    pub(crate) impact: Option<&'static str>,
    pub(crate) eta: Option<String>,
    pub(crate) next_update: Option<String>,
    pub(crate) starts: Option<String>,
    pub(crate) ends: Option<String>,
    pub(crate) compensation: Option<String>,
    pub(crate) internal_note: Option<String>,
    pub(crate) correction: bool,
    pub(crate) link: Option<String>,
}

impl Facts {
    /// The facts as written: times as `14:30 CET` (or `Mon 23 Nov 14:30 CET` on another day).
    pub(crate) fn written(
        update: &Update,
        organization: &str,
        tz: &jiff::tz::TimeZone,
        now: Timestamp,
        link: Option<String>,
        internal: bool,
    ) -> Facts {
        let time = |at: Option<Timestamp>| at.map(|at| format_time(at, now, tz));
        Facts {
            organization: organization.to_owned(),
            incident: update.incident.clone(),
            sequence: update.sequence,
            kind: update.kind.as_str(),
            status: update.status.as_str(),
            status_label: update.label(),
            title: update.title.clone(),
            message: update.message.clone(),
            components: update.components.clone(),
            impact: update.impact.map(|impact| impact.as_str()),
            eta: time(update.eta),
            next_update: time(update.next_update),
            starts: time(update.starts),
            ends: time(update.ends),
            compensation: update.compensation.clone(),
            internal_note: if internal {
                update.internal_note.clone()
            } else {
                None
            },
            correction: update.correction,
            link,
        }
    }

    /// What must appear in a rendering for `fact` to be carried: empty when the update does not
    /// state it.
    pub(crate) fn needles(&self, fact: Fact) -> Vec<String> {
        let one = |value: &Option<String>| value.iter().cloned().collect::<Vec<_>>();
        match fact {
            Fact::Status => vec![self.status_label.to_owned()],
            Fact::Title => vec![self.title.clone()],
            Fact::Window => self.starts.iter().chain(&self.ends).cloned().collect(),
            Fact::Eta => one(&self.eta),
            Fact::NextUpdate => one(&self.next_update),
            Fact::Link => one(&self.link),
            Fact::Correction if self.correction => vec!["Correction".to_owned()],
            Fact::Correction => Vec::new(),
            Fact::Compensation => one(&self.compensation),
            Fact::Components => self.components.clone(),
            Fact::Impact => self
                .impact
                .map(|impact| vec![format!("Impact: {impact}")])
                .unwrap_or_default(),
        }
    }
}

/// A text to check, as the channel shows it.
pub(crate) struct Shown<'a> {
    /// The posts it is made of (one, or a reply thread): a fact is carried when one of them
    /// holds it whole.
    pub(crate) parts: Vec<&'a str>,
    pub(crate) escape: Escape,
}

/// The `missing-fact` rule: every fact the kind carries, present in every text it shows.
pub(crate) fn check(facts: &Facts, kind: &str, shown: &[Shown<'_>]) -> Vec<Finding> {
    let mut findings = Vec::new();
    for fact in carried(kind) {
        for needle in facts.needles(fact) {
            for text in shown {
                let escaped = text.escape.apply(&needle);
                if !text.parts.iter().any(|part| part.contains(&escaped)) {
                    findings.push(Finding::new(
                        RuleId::MissingFact,
                        format!(
                            "the rendering lost the {} (\"{needle}\"); check the channel's template",
                            fact.name()
                        ),
                    ));
                }
            }
            if fact == Fact::Eta
                && shown.iter().any(|text| {
                    !text
                        .parts
                        .iter()
                        .any(|part| part.to_lowercase().contains("estimat"))
                })
            {
                findings.push(Finding::new(
                    RuleId::MissingFact,
                    "the rendering gives the ETA without calling it an estimate; say \
                     \"estimated\" next to it",
                ));
            }
        }
    }
    findings.dedup();
    findings
}

#[cfg(test)]
mod tests {
    use super::html_escape;
    use proptest::prelude::*;

    proptest! {
        /// What the escape writes reads back as the text it was given, to a real HTML parser and
        /// to an XML one, in an element and in a quoted attribute (the two places templates put
        /// values).
        #[test]
        fn escaped_text_reads_back_unchanged(text in "[&<>\"'/;#xa-z0-9 ]{0,24}|\\PC{0,24}") {
            let escaped = html_escape(&text);
            let markup = format!("<p title=\"{escaped}\">{escaped}</p>");

            let html = scraper::Html::parse_fragment(&markup);
            let p = html
                .select(&scraper::Selector::parse("p").unwrap())
                .next()
                .expect("one paragraph");
            prop_assert_eq!(p.value().attr("title"), Some(text.as_str()));
            prop_assert_eq!(p.text().collect::<String>(), text.clone());

            let xml = roxmltree::Document::parse(&markup).expect("well-formed XML");
            let p = xml.root_element();
            prop_assert_eq!(p.attribute("title"), Some(text.as_str()));
            prop_assert_eq!(p.text().unwrap_or(""), text.as_str());
        }
    }

    #[test]
    fn a_link_reads_as_written() {
        assert_eq!(
            html_escape("https://status.example.com/?a=1&b='2'"),
            "https://status.example.com/?a=1&amp;b=&#x27;2&#x27;"
        );
    }
}
