//! Rendering: one text per channel from the same facts, fitted to the channel's limit, and checked
//! to still carry every fact.
//!
//! Templates are minijinja with strict undefined variables. The built-in ones live in
//! `templates/`; a channel's `template = "file"` replaces its text template. Only the free text
//! (the message) is ever shortened, at a word boundary, so the status, the times and the link
//! always survive; when even that is not enough the rendering gets a `too-long` finding.

use jiff::Timestamp;
use minijinja::{Environment, UndefinedBehavior};
use serde::Serialize;

use crate::config::{Audience, ChannelConfig, ChannelSettings, Organization, WebhookFormat};
use crate::update::{Kind, Update, format_time};
use crate::wording::count;
use crate::wording::rules::{Finding, RuleId};

/// What one channel will send. `text` is what a reader sees; `body` is the exact payload when it
/// is not the text itself (a webhook's JSON, the banner's JSON file); `subject` is an email's.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Rendering {
    pub text: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
}

impl Rendering {
    /// The one string shown as "rendered" in previews and reports: the payload when there is one.
    pub fn shown(&self) -> String {
        match (&self.subject, &self.body) {
            (Some(subject), _) => format!("Subject: {subject}\n\n{}", self.text),
            (None, Some(body)) if !body.is_empty() => body.clone(),
            _ => self.text.clone(),
        }
    }
}

/// The facts of an update, formatted once for people, as templates see them.
#[derive(Clone, Debug, Serialize)]
pub struct Facts {
    pub organization: String,
    pub incident: String,
    pub sequence: u32,
    pub kind: &'static str,
    pub status: &'static str,
    pub status_label: &'static str,
    pub title: String,
    pub message: String,
    pub components: Vec<String>,
    pub impact: Option<&'static str>,
    pub eta: Option<String>,
    pub next_update: Option<String>,
    pub starts: Option<String>,
    pub ends: Option<String>,
    pub compensation: Option<String>,
    pub internal_note: Option<String>,
    pub correction: bool,
    pub link: Option<String>,
}

impl Facts {
    pub fn new(update: &Update, org: &Organization, now: Timestamp, audience: Audience) -> Facts {
        let time = |at: Option<Timestamp>| at.map(|at| format_time(at, now, &org.timezone));
        Facts {
            organization: org.name.clone(),
            incident: update.incident.clone(),
            sequence: update.sequence,
            kind: update.kind.as_str(),
            status: update.status.as_str(),
            status_label: update.status.label(),
            title: update.title.clone(),
            message: update.message.clone(),
            components: update.components.clone(),
            impact: update.impact.map(|impact| impact.as_str()),
            eta: time(update.eta),
            next_update: time(update.next_update),
            starts: time(update.starts),
            ends: time(update.ends),
            compensation: update.compensation.clone(),
            internal_note: match audience {
                Audience::Internal => update.internal_note.clone(),
                Audience::Public => None,
            },
            correction: update.correction,
            link: org.status_url.clone(),
        }
    }

    /// The strings every rendering of this update must contain.
    fn required(&self) -> Vec<(&'static str, &str)> {
        let mut facts = vec![
            ("status", self.status_label),
            ("title", self.title.as_str()),
        ];
        for (name, value) in [
            ("next update time", &self.next_update),
            ("ETA", &self.eta),
            ("status page link", &self.link),
        ] {
            if let Some(value) = value {
                facts.push((name, value.as_str()));
            }
        }
        facts
    }
}

/// The current state that projection channels (banner, feed) render from, with this update
/// already applied.
#[derive(Clone, Debug, Default)]
pub struct Projection {
    /// The latest update of every open incident and upcoming or running maintenance.
    pub open: Vec<Update>,
    /// The most recent updates, newest first, for the feed.
    pub recent: Vec<Update>,
}

pub struct Renderer {
    env: Environment<'static>,
}

/// How a channel measures its limit.
#[derive(Clone, Copy)]
enum Measure {
    Chars(usize),
    /// X's weighted length.
    XWeighted(usize),
    Unlimited,
}

impl Measure {
    fn fits(self, text: &str) -> bool {
        match self {
            Measure::Chars(limit) => text.chars().count() <= limit,
            Measure::XWeighted(limit) => count::weighted_length(text) <= limit,
            Measure::Unlimited => true,
        }
    }

    fn describe(self) -> String {
        match self {
            Measure::Chars(limit) => format!("{limit} characters"),
            Measure::XWeighted(limit) => format!("{limit} (X's weighted length)"),
            Measure::Unlimited => "no limit".into(),
        }
    }
}

/// Slack's section block text limit.
const SLACK_LIMIT: usize = 3000;
const DISCORD_LIMIT: usize = 2000;
const MATTERMOST_LIMIT: usize = 16383;
const TEAMS_LIMIT: usize = 20000;
const FACEBOOK_LIMIT: usize = 63206;
/// The banner is included in every page of the site: keep it small.
pub const BANNER_LIMIT: usize = 2048;

impl Renderer {
    /// Loads the built-in templates and every channel's own, checking their syntax.
    pub fn new(channels: &[ChannelConfig]) -> anyhow::Result<Renderer> {
        let mut env = Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        env.set_syntax(
            minijinja::syntax::SyntaxConfig::builder()
                .trim_blocks(true)
                .lstrip_blocks(true)
                .build()
                .expect("default syntax"),
        );
        for (name, source) in BUILT_IN {
            env.add_template(name, source)
                .expect("built-in templates are valid");
        }
        for channel in channels {
            if let Some(path) = &channel.template {
                let source = std::fs::read_to_string(path).map_err(|err| {
                    anyhow::anyhow!(
                        "channel `{}`: template {}: {err}",
                        channel.name,
                        path.display()
                    )
                })?;
                let extension = path
                    .extension()
                    .and_then(|ext| ext.to_str())
                    .unwrap_or("txt");
                env.add_template_owned(custom_name(&channel.name, extension), source)
                    .map_err(|err| {
                        anyhow::anyhow!(
                            "channel `{}`: template {}: {err}",
                            channel.name,
                            path.display()
                        )
                    })?;
            }
        }
        Ok(Renderer { env })
    }

    /// Renders `update` for `channel`. Findings are `too-long`, `missing-fact` or a template
    /// error (reported as `missing-fact`, since the rendering cannot be trusted).
    pub fn render(
        &self,
        channel: &ChannelConfig,
        update: &Update,
        org: &Organization,
        now: Timestamp,
        projection: &Projection,
    ) -> (Option<Rendering>, Vec<Finding>) {
        let facts = Facts::new(update, org, now, channel.audience);
        let result = match &channel.settings {
            ChannelSettings::Webhook(webhook) => {
                self.render_webhook(channel, webhook.format, &facts, update)
            }
            ChannelSettings::Banner(_) => self.render_banner(channel, org, now, projection),
            ChannelSettings::X(_) => self
                .fitted(
                    channel,
                    "short.txt",
                    &facts,
                    Measure::XWeighted(count::X_LIMIT),
                )
                .map(|text| Rendering {
                    text,
                    subject: None,
                    body: None,
                }),
            ChannelSettings::Facebook(_) => self
                .fitted(channel, "plain.txt", &facts, Measure::Chars(FACEBOOK_LIMIT))
                .map(|text| Rendering {
                    text,
                    subject: None,
                    body: None,
                }),
            ChannelSettings::Email(_) => self.render_email(channel, &facts),
            ChannelSettings::Feed(_) => self
                .fitted(channel, "plain.txt", &facts, Measure::Unlimited)
                .map(|text| Rendering {
                    text,
                    subject: None,
                    body: None,
                }),
        };
        let rendering = match result {
            Ok(rendering) => rendering,
            Err(finding) => return (None, vec![finding.on(&channel.name)]),
        };
        let findings = check_facts(&facts, &rendering, channel, update)
            .into_iter()
            .map(|finding| finding.on(&channel.name))
            .collect();
        (Some(rendering), findings)
    }

    fn template_for(&self, channel: &ChannelConfig, built_in: &'static str) -> String {
        match &channel.template {
            Some(path) => custom_name(
                &channel.name,
                path.extension()
                    .and_then(|ext| ext.to_str())
                    .unwrap_or("txt"),
            ),
            None => built_in.to_owned(),
        }
    }

    fn render_template(&self, name: &str, context: &impl Serialize) -> Result<String, Finding> {
        let template = self.env.get_template(name).map_err(template_error)?;
        let text = template
            .render(minijinja::value::Serde(context))
            .map_err(template_error)?;
        Ok(tidy(&text))
    }

    /// Renders with the whole message, then shortens only the message until the text fits.
    fn fitted(
        &self,
        channel: &ChannelConfig,
        built_in: &'static str,
        facts: &Facts,
        measure: Measure,
    ) -> Result<String, Finding> {
        let name = self.template_for(channel, built_in);
        let full = self.render_template(&name, facts)?;
        if measure.fits(&full) {
            return Ok(full);
        }
        let render_with = |chars: usize| {
            let mut shortened = facts.clone();
            shortened.message = shorten(&facts.message, chars);
            self.render_template(&name, &shortened)
        };
        let (mut low, mut high) = (0, facts.message.chars().count());
        let mut best = None;
        while low <= high {
            let middle = (low + high) / 2;
            let text = render_with(middle)?;
            if measure.fits(&text) {
                best = Some(text);
                low = middle + 1;
            } else if middle == 0 {
                break;
            } else {
                high = middle - 1;
            }
        }
        best.ok_or_else(|| {
            Finding::new(
                RuleId::TooLong,
                format!(
                    "the rendering is over the channel's limit of {} even without the message; \
                     shorten the title, compensation or template",
                    measure.describe()
                ),
            )
        })
    }

    fn render_webhook(
        &self,
        channel: &ChannelConfig,
        format: WebhookFormat,
        facts: &Facts,
        update: &Update,
    ) -> Result<Rendering, Finding> {
        use crate::channels::webhook;
        let (template, measure, facts) = match format {
            WebhookFormat::Json => ("plain.txt", Measure::Unlimited, facts.clone()),
            WebhookFormat::Slack => (
                "slack.txt",
                Measure::Chars(SLACK_LIMIT),
                slack_escaped(facts),
            ),
            WebhookFormat::Discord => ("markdown.md", Measure::Chars(DISCORD_LIMIT), facts.clone()),
            WebhookFormat::Teams => ("plain.txt", Measure::Chars(TEAMS_LIMIT), facts.clone()),
            WebhookFormat::Mattermost => (
                "markdown.md",
                Measure::Chars(MATTERMOST_LIMIT),
                facts.clone(),
            ),
        };
        let text = self.fitted(channel, template, &facts, measure)?;
        let body = webhook::payload(format, &text, &facts, update);
        Ok(Rendering {
            text,
            subject: None,
            body: Some(body),
        })
    }

    fn render_email(&self, channel: &ChannelConfig, facts: &Facts) -> Result<Rendering, Finding> {
        Ok(Rendering {
            text: self.fitted(channel, "plain.txt", facts, Measure::Unlimited)?,
            subject: Some(crate::channels::email::subject(
                &facts.organization,
                &facts.title,
                &facts.incident,
            )),
            body: Some(self.render_template("email.html", facts)?),
        })
    }

    fn render_banner(
        &self,
        channel: &ChannelConfig,
        org: &Organization,
        now: Timestamp,
        projection: &Projection,
    ) -> Result<Rendering, Finding> {
        let name = self.template_for(channel, "banner.html");
        let mut message_chars = 280;
        loop {
            let context = BannerContext::new(&projection.open, org, now, message_chars);
            let html = self.render_template(&name, &context)?;
            if html.len() <= BANNER_LIMIT {
                return Ok(Rendering {
                    text: html,
                    subject: None,
                    body: None,
                });
            }
            if message_chars == 0 {
                return Err(Finding::new(
                    RuleId::TooLong,
                    format!(
                        "the banner is over {BANNER_LIMIT} bytes even without the messages; \
                         shorten the titles or close finished incidents"
                    ),
                ));
            }
            message_chars = message_chars.saturating_sub(40);
        }
    }
}

/// Renders the banner for the current state (used by the banner channel when it writes).
pub fn banner_html(
    renderer: &Renderer,
    channel: &ChannelConfig,
    org: &Organization,
    now: Timestamp,
    projection: &Projection,
) -> anyhow::Result<Rendering> {
    renderer
        .render_banner(channel, org, now, projection)
        .map_err(|finding| anyhow::anyhow!(finding.message))
}

#[derive(Serialize)]
struct BannerItem {
    status_label: &'static str,
    title: String,
    message: String,
    window: Option<String>,
    next_update: Option<String>,
}

#[derive(Serialize)]
struct BannerContext {
    items: Vec<BannerItem>,
    link: Option<String>,
    background: &'static str,
    foreground: &'static str,
}

impl BannerContext {
    fn new(open: &[Update], org: &Organization, now: Timestamp, message_chars: usize) -> Self {
        let time = |at: Timestamp| format_time(at, now, &org.timezone);
        let items = open
            .iter()
            .map(|update| BannerItem {
                status_label: update.status.label(),
                title: update.title.clone(),
                message: match update.correction {
                    true => format!("Correction: {}", shorten(&update.message, message_chars)),
                    false => shorten(&update.message, message_chars),
                },
                window: update.starts.map(|starts| match update.ends {
                    Some(ends) => format!("From {} to {}.", time(starts), time(ends)),
                    None => format!("From {}.", time(starts)),
                }),
                next_update: update.next_update.map(time),
            })
            .collect();
        let incident_open = open.iter().any(|update| update.kind == Kind::Incident);
        // Dark text on pale backgrounds: both pairs pass WCAG AA contrast.
        let (background, foreground) = if incident_open {
            ("#fff4e5", "#7a2e00")
        } else {
            ("#e8f1fb", "#0b3d6e")
        };
        BannerContext {
            items,
            link: org.status_url.clone(),
            background,
            foreground,
        }
    }
}

const BUILT_IN: [(&str, &str); 6] = [
    ("email.html", include_str!("templates/email.html")),
    ("plain.txt", include_str!("templates/plain.txt")),
    ("slack.txt", include_str!("templates/slack.txt")),
    ("markdown.md", include_str!("templates/markdown.md")),
    ("short.txt", include_str!("templates/short.txt")),
    ("banner.html", include_str!("templates/banner.html")),
];

fn custom_name(channel: &str, extension: &str) -> String {
    format!("channel/{channel}.{extension}")
}

fn template_error(err: minijinja::Error) -> Finding {
    let mut message = format!("the template cannot be rendered: {err}");
    if let Some(detail) = err.detail() {
        message = format!("{message} ({detail})");
    }
    Finding::new(RuleId::MissingFact, message)
}

/// Removes the blank lines that skipped template blocks leave behind.
fn tidy(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut blank_run = 0;
    for line in text.trim().lines() {
        let line = line.trim_end();
        if line.is_empty() {
            blank_run += 1;
            if blank_run > 1 {
                continue;
            }
        } else {
            blank_run = 0;
        }
        out.push_str(line);
        out.push('\n');
    }
    out.trim_end().to_owned()
}

/// Shortens `text` to at most `max_chars` characters at a word boundary, marking the cut with `…`.
pub fn shorten(text: &str, max_chars: usize) -> String {
    if text.chars().count() <= max_chars {
        return text.to_owned();
    }
    if max_chars == 0 {
        return String::new();
    }
    let cut: String = text.chars().take(max_chars - 1).collect();
    let at_word = match cut.rfind(char::is_whitespace) {
        Some(at) if at > 0 => &cut[..at],
        _ => cut.as_str(),
    };
    let trimmed = at_word.trim_end_matches(|c: char| c.is_whitespace() || ",;:-".contains(c));
    if trimmed.is_empty() {
        String::new()
    } else {
        format!("{trimmed}…")
    }
}

fn slack_escaped(facts: &Facts) -> Facts {
    let escape = |text: &str| {
        text.replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
    };
    let mut escaped = facts.clone();
    escaped.title = escape(&facts.title);
    escaped.message = escape(&facts.message);
    escaped.compensation = facts.compensation.as_deref().map(escape);
    escaped.internal_note = facts.internal_note.as_deref().map(escape);
    escaped.components = facts.components.iter().map(|c| escape(c)).collect();
    escaped
}

pub fn html_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#x27;"),
            '/' => out.push_str("&#x2f;"),
            _ => out.push(c),
        }
    }
    out
}

/// The `missing-fact` rule: every rendering carries the status, the title, the next update time,
/// the ETA and the link, as the facts state them.
fn check_facts(
    facts: &Facts,
    rendering: &Rendering,
    channel: &ChannelConfig,
    update: &Update,
) -> Vec<Finding> {
    let banner = matches!(channel.settings, ChannelSettings::Banner(_));
    if banner && update.status.is_final() {
        // A closed incident leaves the banner: that is the banner carrying the facts.
        return Vec::new();
    }
    let (text, escape): (&str, fn(&str) -> String) = match &channel.settings {
        ChannelSettings::Banner(_) => (&rendering.text, html_escape),
        ChannelSettings::Webhook(webhook) if webhook.format == WebhookFormat::Slack => {
            (&rendering.text, |text: &str| {
                text.replace('&', "&amp;")
                    .replace('<', "&lt;")
                    .replace('>', "&gt;")
            })
        }
        _ => (&rendering.text, str::to_owned),
    };
    facts
        .required()
        .into_iter()
        // The banner keeps to what a site header can hold: no ETA.
        .filter(|(name, _)| !(banner && *name == "ETA"))
        .filter(|(_, value)| !text.contains(&escape(value)))
        .map(|(name, value)| {
            Finding::new(
                RuleId::MissingFact,
                format!(
                    "the rendering lost the {name} (\"{value}\"); check the channel's template"
                ),
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::update::{Kind, Status};

    fn channels() -> crate::config::Config {
        crate::config::parse(
            "[organization]\nname = \"Example\"\nstatus_url = \"https://status.example.com\"\n\
             [[channel]]\nname = \"x\"\nkind = \"x\"\nbearer_token_env = \"T\"\n\
             [[channel]]\nname = \"slack\"\nkind = \"webhook\"\nformat = \"slack\"\nurl = \"https://s.example/x\"\n\
             [[channel]]\nname = \"discord\"\nkind = \"webhook\"\nformat = \"discord\"\nurl = \"https://d.example/x\"\n\
             [[channel]]\nname = \"banner\"\nkind = \"banner\"\nhtml_path = \"b.html\"\n",
            std::path::Path::new("channels.toml"),
        )
        .unwrap()
    }

    fn update(title: String, message: String) -> Update {
        let now: Timestamp = "2026-11-22T10:00:00Z".parse().unwrap();
        Update {
            incident: "2026-11-22-x".into(),
            sequence: 1,
            kind: Kind::Incident,
            status: Status::Investigating,
            title,
            message,
            components: Vec::new(),
            impact: None,
            eta: None,
            next_update: Some(now + jiff::SignedDuration::from_mins(30)),
            starts: None,
            ends: None,
            compensation: None,
            internal_note: None,
            correction: false,
            posted_at: now,
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// Whatever the words, every channel renders within its limit with its facts, or says
        /// why not; the rules never panic either.
        #[test]
        fn renderings_fit_or_say_why(title in "\\PC{1,60}", message in "\\PC{0,3000}") {
            let config = channels();
            let renderer = Renderer::new(&config.channels).unwrap();
            let update = update(title.split_whitespace().collect::<Vec<_>>().join(" "), message);
            prop_assume!(!update.title.is_empty());
            let _ = crate::wording::rules::check(&update, &config.policy);
            let projection = Projection { open: vec![update.clone()], recent: vec![update.clone()] };
            for channel in &config.channels {
                let (rendering, findings) = renderer.render(channel, &update, &config.organization, update.posted_at, &projection);
                match rendering {
                    Some(rendering) => {
                        if channel.name == "x" {
                            prop_assert!(count::weighted_length(&rendering.text) <= count::X_LIMIT);
                        }
                        if channel.name == "discord" {
                            prop_assert!(rendering.text.chars().count() <= DISCORD_LIMIT);
                        }
                        if channel.name == "banner" {
                            prop_assert!(rendering.text.len() <= BANNER_LIMIT);
                        }
                        prop_assert!(findings.is_empty(), "{findings:?}");
                    }
                    None => prop_assert!(!findings.is_empty()),
                }
            }
        }

        #[test]
        fn shorten_never_exceeds_its_limit(text in "\\PC{0,200}", limit in 0usize..120) {
            prop_assert!(shorten(&text, limit).chars().count() <= limit);
        }
    }

    #[test]
    fn shorten_cuts_at_a_word_boundary() {
        assert_eq!(
            shorten("Some customers cannot log in", 100),
            "Some customers cannot log in"
        );
        assert_eq!(
            shorten("Some customers cannot log in", 17),
            "Some customers…"
        );
        assert_eq!(shorten("Some customers cannot log in", 1), "");
        assert_eq!(shorten("Supercalifragilistic", 6), "Super…");
    }

    #[test]
    fn tidy_collapses_blank_runs() {
        assert_eq!(tidy("a\n\n\n\nb\n\n"), "a\n\nb");
    }
}
