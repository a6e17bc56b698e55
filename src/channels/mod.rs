//! Channels: the one module per channel kind, the registry that reads them from the config, and
//! the two traits every kind implements.
//!
//! A kind ([`Kind`]) owns its config section and its validation (pure: no secret is read, no
//! network touched), its rendering (templates, limit, how length is measured, escaping), its
//! credential check and its adapter. The facts it carries come from the one table in
//! [`crate::wording::facts`]. Adding a kind is its module plus one line in [`REGISTRY`]; the
//! contract tests at the end of this file then run over it.
//!
//! # The adapter contract
//!
//! An adapter ([`Channel`]) turns one rendering into one remote effect and says how it went. It:
//!
//! 1. MUST send exactly the rendering it is given (the body bytes as rendered; it may add
//!    transport details such as signatures, auth and thread anchors, never change the words), and
//!    MUST NOT read the journal or render anything itself;
//! 2. MUST make at most one attempt per call: retries, timeouts, concurrency, the journal,
//!    redaction and progress belong to the dispatcher;
//! 3. MUST classify every failure ([`Failure`]): transient (nothing happened, try again),
//!    rate-limited (try again after the wait, if given), permanent (retrying cannot help) or
//!    unknown (the request may have taken effect);
//! 4. MUST return the remote id and a link when the remote side gives them, so that follow-ups
//!    can thread and the report can link; a reply thread returns every part's id;
//! 5. MUST read every response body through [`http::read_body`] (bounded);
//! 6. MAY make a further request within one attempt only as the channel's own fallback for one
//!    post (X: a refused reply is posted standalone; Facebook: a refused comment becomes a Page
//!    post), and MUST then say so in the receipt's note.
//!
//! Whether sending the same post twice is harmless is the kind's to say
//! ([`Kind::repeat_is_safe`]): the dispatcher then retries an unknown outcome, and `retry`
//! finishes such deliveries without asking.

pub(crate) mod banner;
pub(crate) mod bluesky;
pub(crate) mod email;
pub(crate) mod facebook;
pub(crate) mod feed;
pub(crate) mod files;
pub(crate) mod http;
pub(crate) mod mastodon;
pub(crate) mod phone;
pub(crate) mod site;
mod stub;
pub(crate) mod webhook;
pub(crate) mod x;

use std::fmt;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::bail;
use async_trait::async_trait;
use jiff::{SignedDuration, Timestamp};

use crate::config::{Audience, Component, Organization, RawChannel, SecretSource};
use crate::journal::Thread;
use crate::redact::Redactor;
use crate::update::{Impact, IncidentKind, Status, Update};
use crate::wording::facts::{Escape, Facts, Shown};
use crate::wording::fit::{self, Measure};
pub use crate::wording::render::Rendering;
use crate::wording::render::{Output, Renderer};
use crate::wording::rules::Finding;

pub use self::stub::StubChannel;

/// Every channel kind: its name in `kind = "…"` and the function that reads its section.
pub(crate) const REGISTRY: [(&str, Parse); 10] = [
    ("webhook", webhook::parse),
    ("banner", banner::parse),
    ("feed", feed::parse),
    ("site", site::parse),
    ("phone", phone::parse),
    ("x", x::parse),
    ("facebook", facebook::parse),
    ("mastodon", mastodon::parse),
    ("bluesky", bluesky::parse),
    ("email", email::parse),
];

/// Reads a kind's own keys of a `[[channel]]` section; relative paths resolve against the folder.
pub(crate) type Parse = fn(toml::Table, &Path) -> anyhow::Result<Arc<dyn Kind>>;

/// One configured channel.
#[derive(Clone, Debug)]
pub(crate) struct ChannelConfig {
    pub(crate) name: String,
    pub(crate) audience: Audience,
    pub(crate) enabled: bool,
    pub(crate) template: Option<std::path::PathBuf>,
    pub(crate) timeout: Option<SignedDuration>,
    /// The maintenance phases it posts (`None`: all); projections follow every state.
    pub(crate) phases: Option<Vec<crate::update::Phase>>,
    pub(crate) kind: Arc<dyn Kind>,
}

impl ChannelConfig {
    /// The secrets that cannot be read now, each as `field_env VAR` / `field_file PATH`.
    /// Why each secret that cannot be read cannot be (never its value): what building the
    /// channel would refuse.
    pub(crate) fn secret_problems(&self) -> Vec<String> {
        self.kind
            .secrets()
            .into_iter()
            .filter_map(|(field, source)| source.resolve(&self.name, field).err())
            .map(|err| format!("{err:#}"))
            .collect()
    }

    /// Whether it posts `update`: every update but a maintenance phase left out of `phases`.
    pub(crate) fn posts_phase(&self, update: &crate::update::Update) -> bool {
        match (&self.phases, update.phase()) {
            (Some(phases), Some(phase)) => phases.contains(&phase),
            _ => true,
        }
    }

    /// The secrets it names that cannot be read now, with the key that names each.
    pub(crate) fn missing_secrets(&self) -> Vec<(&'static str, &SecretSource)> {
        self.kind
            .secrets()
            .into_iter()
            .filter(|(field, source)| source.resolve(&self.name, field).is_err())
            .collect()
    }
}

/// The keys every `[[channel]]` has, read before its kind reads the rest.
const COMMON_KEYS: [&str; 7] = [
    "name", "kind", "audience", "enabled", "template", "timeout", "phases",
];

/// Reads a `[[channel]]` section with its kind.
pub(crate) fn configure(raw: RawChannel, base: &Path) -> anyhow::Result<ChannelConfig> {
    let place = raw.place.clone();
    let Some((_, parse)) = REGISTRY.iter().find(|(name, _)| *name == raw.kind) else {
        let names: Vec<&str> = REGISTRY.iter().map(|(name, _)| *name).collect();
        bail!(
            "{place}: unknown kind `{}`; use one of {}",
            raw.kind,
            names.join(", ")
        );
    };
    let kind = parse(raw.rest, base).map_err(|err| {
        let err = format!("{err:#}");
        // A misspelt common key reaches the kind, whose list of keys does not have it.
        match crate::config::did_you_mean(&err, &COMMON_KEYS) {
            Some(hint) if !err.contains("did you mean") => {
                anyhow::anyhow!("{place}: {err}; {hint}")
            }
            _ => anyhow::anyhow!("{place}: {err}"),
        }
    })?;
    if raw.template.is_some() && !kind.takes_template() {
        bail!(
            "{place}: `template` does not apply to kind `{}`: its pages use the built-in \
             templates",
            raw.kind
        );
    }
    if raw.phases.is_some() && kind.is_projection() {
        bail!(
            "{place}: `phases` does not apply to kind `{}`: a projection always shows the present \
             state; remove it",
            raw.kind
        );
    }
    Ok(ChannelConfig {
        name: raw.name,
        audience: raw.audience,
        enabled: raw.enabled,
        template: raw.template,
        timeout: raw.timeout,
        phases: raw.phases,
        kind,
    })
}

/// What a channel kind is: read from the config, rendered in the plan, built before sending.
pub(crate) trait Kind: fmt::Debug + Send + Sync {
    /// Its name in `kind = "…"`.
    fn name(&self) -> &'static str;

    /// Every secret it reads, with its field name.
    fn secrets(&self) -> Vec<(&'static str, &SecretSource)> {
        Vec::new()
    }

    /// Its recipients: one target (`""`) for most, one per address for email, one per
    /// subscriber of a webhook's `urls_file`.
    fn targets(&self) -> anyhow::Result<Vec<String>> {
        Ok(vec![String::new()])
    }

    /// What a custom `template` replaces, which decides its escaping.
    fn template_output(&self) -> Output {
        Output::Text
    }

    /// Renders one update. A projection renders the state it is given, this update applied.
    fn render(&self, cx: &RenderCx<'_>) -> Result<Rendering, Finding>;

    /// The facts as this kind writes them, which its renderings are checked for: by default as
    /// every channel writes them (a phone line speaks its times).
    fn facts(&self, cx: &RenderCx<'_>) -> Facts {
        cx.facts()
    }

    /// The texts of a rendering a reader sees, with their escaping, for the `missing-fact` check.
    /// By default every post, escaped as the kind's template output is (a banner's or a
    /// site's HTML).
    fn shown<'a>(&self, rendering: &'a Rendering) -> Vec<Shown<'a>> {
        vec![Shown {
            parts: rendering.posts().collect(),
            escape: match self.template_output() {
                Output::Html => Escape::Html,
                Output::Text => Escape::None,
            },
        }]
    }

    /// Whether it writes files from the whole state (banner, feed) rather than sending a message.
    fn is_projection(&self) -> bool {
        false
    }

    /// How many of the journal's most recent updates a projection shows (the feed's entries);
    /// none are read when no channel sent to shows any.
    fn recent_shown(&self) -> usize {
        0
    }

    /// Whether a projection shows the journal's history (a status site: every incident, and
    /// the whole timeline of the recent ones); it is read only when one does.
    fn history_shown(&self) -> bool {
        false
    }

    /// Whether `template = "file"` may replace its rendering (a status site's several pages
    /// have no one template to replace).
    fn takes_template(&self) -> bool {
        true
    }

    /// The status site, for `outage site build`.
    fn site(&self) -> Option<&site::Site> {
        None
    }

    /// Where incident pages are, when this channel publishes them (a status site): every post
    /// then links to its incident's own page. `status_url` is the organisation's.
    fn incident_pages(&self, _status_url: Option<&str>) -> anyhow::Result<Option<IncidentPages>> {
        Ok(None)
    }

    /// Whether its adapter may connect over HTTPS: the system's root certificates are then
    /// loaded on a thread of their own while the post is prepared.
    fn uses_https(&self) -> bool {
        false
    }

    /// Whether follow-ups continue the incident's thread (the adapter is given where it stands).
    fn threads(&self) -> bool {
        false
    }

    /// Builds the adapter, resolving the secrets. An error here is a configuration error.
    fn build(&self, cx: &BuildCx<'_>, channel: &str) -> anyhow::Result<Arc<dyn Channel>>;

    /// Whether sending the same post again is harmless: a file rewritten, an idempotency key the
    /// receiver honours. `started` is when the first attempt began.
    fn repeat_is_safe(&self, _started: Option<Timestamp>, _now: Timestamp) -> bool {
        false
    }
}

/// The state a projection renders: the journal's, with this update applied.
#[derive(Clone, Debug, Default)]
pub(crate) struct Projection {
    /// The latest update of every open incident and upcoming or running maintenance.
    pub(crate) open: Vec<Update>,
    /// The most recent updates, newest first.
    pub(crate) recent: Vec<Update>,
    /// The history, when a projection shows it ([`Kind::history_shown`]).
    pub(crate) history: Option<History>,
    /// The folders of the status sites published with other settings than the config's.
    pub(crate) outdated_sites: Vec<std::path::PathBuf>,
}

impl Projection {
    /// The open incidents and maintenances, most severe first (critical, major, unrated,
    /// minor impact, then running and upcoming maintenance), then most recent: what a banner
    /// or a phone line tells first.
    pub(crate) fn most_severe_first(&self) -> Vec<&Update> {
        fn severity(update: &Update) -> u8 {
            match (update.kind, update.impact, update.status) {
                (IncidentKind::Incident, Some(Impact::Critical), _) => 5,
                (IncidentKind::Incident, Some(Impact::Major), _) => 4,
                (IncidentKind::Incident, None, _) => 3,
                (IncidentKind::Incident, Some(Impact::Minor), _) => 2,
                (IncidentKind::Maintenance, _, Status::InProgress) => 1,
                (IncidentKind::Maintenance, ..) => 0,
            }
        }
        let mut open: Vec<&Update> = self.open.iter().collect();
        open.sort_by(|a, b| {
            severity(b)
                .cmp(&severity(a))
                .then(b.posted_at.cmp(&a.posted_at))
        });
        open
    }
}

/// The journal's history as a status site shows it, this update applied.
#[derive(Clone, Debug, Default)]
pub(crate) struct History {
    /// Every incident and maintenance, newest first.
    pub(crate) incidents: Vec<crate::journal::Incident>,
    /// The whole timeline, oldest update first, of each incident shown in full: the open ones,
    /// the recent ones, and this update's.
    pub(crate) timelines: std::collections::BTreeMap<String, Vec<Update>>,
    /// Whether every incident's page is written: by `outage site build`, and by a post while
    /// every timeline is read anyway (a small journal) and a site is not yet published with the
    /// config's settings. A post to a site published with them writes only the pages it
    /// changes: with every page, a history of 1,000 recent incidents made each post write 1,000
    /// pages and keep 8 MB of them in the journal.
    pub(crate) whole: bool,
}

/// Where a status site publishes each incident's page.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct IncidentPages {
    /// The site's address, without a trailing slash.
    pub(crate) base_url: String,
    /// Links without `.html` (for a host that serves `incidents/x.html` at `incidents/x`).
    pub(crate) pretty: bool,
}

impl IncidentPages {
    pub(crate) fn url(&self, incident: &str) -> String {
        let suffix = if self.pretty { "" } else { ".html" };
        format!("{}/incidents/{incident}{suffix}", self.base_url)
    }
}

/// The link every post carries for an incident: its own page on the status site when one is
/// configured, else the organisation's status page.
#[derive(Clone, Debug, Default)]
pub(crate) struct Links {
    pub(crate) status_url: Option<String>,
    pub(crate) pages: Option<IncidentPages>,
}

impl Links {
    pub(crate) fn for_incident(&self, incident: &str) -> Option<String> {
        match &self.pages {
            Some(pages) => Some(pages.url(incident)),
            None => self.status_url.clone(),
        }
    }
}

/// What a kind renders with.
pub(crate) struct RenderCx<'a> {
    pub(crate) channel: &'a ChannelConfig,
    pub(crate) update: &'a Update,
    pub(crate) organization: &'a Organization,
    /// The parts of the service customers know by name (`[[component]]`).
    pub(crate) components: &'a [Component],
    pub(crate) now: Timestamp,
    pub(crate) renderer: &'a Renderer,
    pub(crate) projection: &'a Projection,
    pub(crate) links: &'a Links,
}

impl RenderCx<'_> {
    /// The facts of this update as written for this channel's audience.
    pub(crate) fn facts(&self) -> Facts {
        self.facts_of(self.update, self.now)
    }

    /// The facts of any update (a projection shows several), as this channel writes them.
    pub(crate) fn facts_of(&self, update: &Update, now: Timestamp) -> Facts {
        Facts::written(
            update,
            &self.organization.name,
            &self.organization.timezone,
            now,
            self.links.for_incident(&update.incident),
            self.channel.audience == Audience::Internal,
        )
    }

    /// The template to render: the channel's own when it has one, else `built_in`.
    pub(crate) fn template(&self, built_in: &str) -> String {
        self.renderer.template_for(
            &self.channel.name,
            self.channel.kind.template_output(),
            built_in,
        )
    }

    /// Whether the channel has its own template.
    pub(crate) fn is_custom(&self) -> bool {
        self.channel.template.is_some()
    }

    /// One text from `built_in` (or the channel's own template), the message shortened to fit.
    pub(crate) fn fitted(
        &self,
        built_in: &str,
        facts: &Facts,
        measure: Measure,
    ) -> Result<String, Finding> {
        let name = self.template(built_in);
        fit::fitted(measure, facts, &|facts| self.renderer.render(&name, facts))
    }

    /// The posts of a channel with reply threads.
    pub(crate) fn threaded(
        &self,
        built_in: &str,
        facts: &Facts,
        measure: Measure,
    ) -> Result<Rendering, Finding> {
        let name = self.template(built_in);
        let mut posts = fit::threaded(measure, facts, self.is_custom(), &|facts| {
            self.renderer.render(&name, facts)
        })?
        .into_iter();
        Ok(Rendering {
            text: posts.next().unwrap_or_default(),
            more: posts.collect(),
            ..Rendering::default()
        })
    }
}

/// What adapters are built with.
pub(crate) struct BuildCx<'a> {
    pub(crate) organization: &'a Organization,
    /// The per-attempt timeout, for transports that keep their own (SMTP).
    pub(crate) timeout: Duration,
    pub(crate) redactor: &'a Redactor,
    /// The HTTP client the channels built together share, made when the first needs it. It
    /// belongs to them, not to the process: when they go, so do its pooled connections (a
    /// list's thousand, with their buffers), before the report is read.
    http: std::sync::OnceLock<reqwest::Client>,
}

impl<'a> BuildCx<'a> {
    pub(crate) fn new(
        organization: &'a Organization,
        timeout: Duration,
        redactor: &'a Redactor,
    ) -> BuildCx<'a> {
        BuildCx {
            organization,
            timeout,
            redactor,
            http: std::sync::OnceLock::new(),
        }
    }

    /// The one HTTP client the channels built together share.
    pub(crate) fn http(&self) -> anyhow::Result<reqwest::Client> {
        if let Some(client) = self.http.get() {
            return Ok(client.clone());
        }
        let client = http::client()?;
        Ok(self.http.get_or_init(|| client).clone())
    }

    /// Reads a secret and remembers its value, so that no text leaving an adapter shows it.
    pub(crate) fn secret(
        &self,
        channel: &str,
        field: &str,
        source: &SecretSource,
    ) -> anyhow::Result<String> {
        let value = source.resolve(channel, field)?;
        self.redactor.add(&value);
        Ok(value)
    }
}

/// One delivery's input: the rendering and what the remote side needs to place it.
#[derive(Clone, Debug)]
pub struct Post {
    /// The delivery's id: stable across retries, sent as the idempotency key where supported.
    pub delivery_id: String,
    /// The recipient within the channel (an email address), or empty.
    pub target: String,
    pub incident: String,
    pub sequence: u32,
    /// Shared by every recipient of a list.
    pub rendering: std::sync::Arc<Rendering>,
    /// The remote ids of this incident's earlier posts on this channel, for threading.
    pub thread: Option<PostThread>,
    /// The parts of a reply thread that an earlier attempt already posted (their remote ids):
    /// they are not posted again.
    pub posted: Vec<String>,
}

/// Where an incident's thread stands on one channel.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PostThread {
    /// The incident's first post on this channel.
    pub first_remote_id: String,
    /// Its last post: what the next one replies to.
    pub last_remote_id: String,
    pub previous_sequence: u32,
}

impl From<Thread> for PostThread {
    fn from(thread: Thread) -> PostThread {
        PostThread {
            first_remote_id: thread.first_remote_id,
            last_remote_id: thread.last_remote_id,
            previous_sequence: thread.previous_sequence,
        }
    }
}

/// What the remote side said when it accepted a post.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Receipt {
    /// The post's id (the last post's, for a reply thread).
    pub remote_id: Option<String>,
    /// Every post's id, oldest first, when the update took more than one.
    pub parts: Vec<String>,
    pub url: Option<String>,
    /// Something the report should say, such as a reply posted standalone.
    pub note: Option<String>,
}

/// How a delivery failed, as the adapter classifies it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Class {
    /// Nothing happened; trying again may work.
    Transient,
    /// The service throttles; try again after the wait, when it gives one.
    RateLimited,
    /// Retrying cannot help.
    Permanent,
    /// The request may have taken effect.
    Unknown,
}

/// A failed attempt: its class, a message in the service's own words (redacted by the
/// dispatcher), a wait the service asked for, and the parts of a thread that did go out.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure {
    pub class: Class,
    pub message: String,
    pub retry_after: Option<Duration>,
    pub posted: Vec<String>,
}

impl Failure {
    fn new(class: Class, message: impl Into<String>) -> Failure {
        Failure {
            class,
            message: message.into(),
            retry_after: None,
            posted: Vec::new(),
        }
    }

    pub fn transient(message: impl Into<String>) -> Failure {
        Failure::new(Class::Transient, message)
    }

    pub fn rate_limited(message: impl Into<String>, retry_after: Option<Duration>) -> Failure {
        Failure::new(Class::RateLimited, message).with_wait(retry_after)
    }

    pub fn permanent(message: impl Into<String>) -> Failure {
        Failure::new(Class::Permanent, message)
    }

    pub fn unknown(message: impl Into<String>) -> Failure {
        Failure::new(Class::Unknown, message)
    }

    /// A wait the service asked for (`Retry-After` on a 503, say).
    #[must_use]
    pub fn with_wait(mut self, wait: Option<Duration>) -> Failure {
        self.retry_after = wait;
        self
    }

    /// The parts of a reply thread that went out before this failure.
    #[must_use]
    pub fn with_posted(mut self, posted: Vec<String>) -> Failure {
        self.posted = posted;
        self
    }

    pub fn is_transient(&self) -> bool {
        self.class == Class::Transient
    }

    pub fn is_rate_limited(&self) -> bool {
        self.class == Class::RateLimited
    }

    pub fn is_permanent(&self) -> bool {
        self.class == Class::Permanent
    }

    /// Whether the request may have taken effect.
    pub fn is_unknown(&self) -> bool {
        self.class == Class::Unknown
    }
}

/// The adapter: one attempt to deliver one post.
#[async_trait]
pub trait Channel: Send + Sync {
    /// Makes one attempt to deliver `post`.
    async fn deliver(&self, post: &Post) -> Result<Receipt, Failure>;

    /// How many deliveries of this channel may be in flight at once (`max_in_flight` caps it too).
    fn concurrency(&self) -> usize {
        usize::MAX
    }

    /// Whether a delivery starts with a session of several round trips before its message
    /// goes out (SMTP's greeting, EHLO, STARTTLS and AUTH). The dispatcher starts these
    /// channels first: their handshakes then overlap the others' requests instead of following
    /// them.
    fn opens_session(&self) -> bool {
        false
    }

    /// Verifies the credentials without posting, and says what they give access to.
    async fn check(&self) -> Result<String, Failure> {
        Ok("nothing to check without sending".into())
    }
}

/// Reads a subscriber or recipient list: one entry a line, blank lines and `#` comments skipped;
/// `check` turns a line into its entry or says what is wrong with it.
pub(crate) fn read_list<T>(
    path: &Path,
    what: &str,
    mut check: impl FnMut(&str) -> anyhow::Result<T>,
) -> anyhow::Result<Vec<T>> {
    let text = crate::limits::read_text(path, crate::limits::LIST, what)?;
    let mut entries = Vec::new();
    for (number, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        entries.push(check(line).map_err(|err| {
            anyhow::anyhow!(
                "{}:{}: {err:#}; fix or remove the line",
                path.display(),
                number + 1
            )
        })?);
    }
    Ok(entries)
}

#[cfg(test)]
mod contract;
