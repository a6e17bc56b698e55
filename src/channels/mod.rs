//! Channel adapters: the one trait every channel implements, and the registry that builds them.
//!
//! # The adapter contract
//!
//! An adapter turns one rendered post into one remote effect and says how it went. It:
//!
//! 1. MUST send exactly the rendering it is given (the body bytes as rendered; it may add
//!    transport details such as signatures, auth and thread anchors, never change the words);
//! 2. MUST make at most one attempt per call: retries, timeouts, concurrency, the journal and
//!    progress belong to the dispatcher;
//! 3. MUST classify every failure as [`Failure::Transient`] (nothing happened, try again),
//!    [`Failure::RateLimited`] (try again after the wait, if given), [`Failure::Permanent`]
//!    (retrying cannot help) or [`Failure::Unknown`] (the request may have taken effect);
//! 4. MUST return the remote id and a link when the remote side gives them, so that follow-ups can
//!    thread and the report can link;
//! 5. MUST NOT put a secret into any error message, receipt or log line;
//! 6. SHOULD say, through [`Channel::repeat_is_safe`], whether sending the same post twice is
//!    harmless (an idempotency key, an overwritten file), which lets the dispatcher retry an
//!    unknown outcome;
//! 7. MAY make a second request within one attempt only as the channel's own fallback for one
//!    post (X: a refused reply is posted standalone), and MUST then say so in the receipt's note.
//!
//! Everything is checked before this point: building a channel ([`build`]) resolves its secrets
//! and fails with a configuration error, so a channel that is not ready blocks the whole post.

pub mod banner;
pub mod email;
pub mod facebook;
pub mod feed;
pub mod oauth1;
pub mod webhook;
pub mod x;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use crate::config::{ChannelConfig, ChannelSettings, Organization};
use crate::wording::render::Rendering;

/// One delivery's input: the rendering and what the remote side needs to place it.
#[derive(Clone, Debug)]
pub struct Post {
    /// The delivery's id: stable across retries, sent as the idempotency key where supported.
    pub delivery_id: String,
    /// The recipient within the channel (an email address), or empty.
    pub target: String,
    pub incident: String,
    pub sequence: u32,
    pub rendering: Rendering,
    /// The remote ids of this incident's earlier posts on this channel, for threading.
    pub thread: Option<Thread>,
}

/// Where an incident's thread stands on one channel.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Thread {
    pub first_remote_id: String,
    pub last_remote_id: String,
    pub previous_sequence: u32,
}

/// What the remote side said when it accepted a post.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Receipt {
    pub remote_id: Option<String>,
    pub url: Option<String>,
    /// Something the report should say, such as a reply posted standalone.
    pub note: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Failure {
    Transient(String),
    RateLimited {
        message: String,
        retry_after: Option<Duration>,
    },
    Permanent(String),
    Unknown(String),
}

impl Failure {
    pub fn message(&self) -> &str {
        match self {
            Failure::Transient(message)
            | Failure::Permanent(message)
            | Failure::Unknown(message)
            | Failure::RateLimited { message, .. } => message,
        }
    }
}

#[async_trait]
pub trait Channel: Send + Sync {
    /// Makes one attempt to deliver `post`.
    async fn deliver(&self, post: &Post) -> Result<Receipt, Failure>;

    /// Whether delivering the same post twice is harmless.
    fn repeat_is_safe(&self) -> bool {
        false
    }

    /// How many deliveries of this channel may be in flight at once (`max_in_flight` caps it too).
    fn concurrency(&self) -> usize {
        usize::MAX
    }

    /// Verifies the credentials without posting, and says what they give access to.
    async fn check(&self) -> Result<String, Failure> {
        Ok("nothing to check without sending".into())
    }
}

/// What the projection channels need to read the current state when they write.
#[derive(Clone, Debug)]
pub struct Context {
    pub organization: Organization,
    pub journal_path: PathBuf,
    /// Built on first use: loading the system's root certificates takes milliseconds that a
    /// post to files only should not pay.
    http: Arc<std::sync::OnceLock<reqwest::Client>>,
    /// The per-attempt timeout, for transports that keep their own (SMTP).
    pub timeout: Duration,
}

impl Context {
    /// The one HTTP client every channel shares.
    pub fn http(&self) -> anyhow::Result<reqwest::Client> {
        if let Some(client) = self.http.get() {
            return Ok(client.clone());
        }
        let client = http_client()?;
        Ok(self.http.get_or_init(|| client).clone())
    }

    pub fn new(
        config: &crate::config::Config,
        journal_path: &std::path::Path,
    ) -> anyhow::Result<Context> {
        Ok(Context {
            organization: config.organization.clone(),
            journal_path: journal_path.to_owned(),
            http: Arc::default(),
            timeout: config.dispatch.timeout.unsigned_abs(),
        })
    }
}

/// Where one channel sends: one target (`""`) for most, one per address for email, one per
/// subscriber of a webhook's `urls_file`.
pub fn targets(channel: &ChannelConfig) -> anyhow::Result<Vec<String>> {
    if let ChannelSettings::Webhook(webhook) = &channel.settings {
        let mut targets = Vec::new();
        if webhook.url.is_some() {
            targets.push(String::new());
        }
        if let Some(path) = &webhook.urls_file {
            let subscribers = webhook::read_subscribers(path)
                .map_err(|err| anyhow::anyhow!("channel `{}`: {err:#}", channel.name))?;
            targets.extend(subscribers.into_iter().map(|(target, _)| target));
        }
        return Ok(targets);
    }
    let ChannelSettings::Email(email) = &channel.settings else {
        return Ok(vec![String::new()]);
    };
    let mut targets: Vec<String> = Vec::new();
    let mut push = |address: String| {
        if !targets
            .iter()
            .any(|known| known.eq_ignore_ascii_case(&address))
        {
            targets.push(address);
        }
    };
    for address in email.to.iter().chain(&email.cc).chain(&email.bcc) {
        let mailbox = crate::config::check_mailbox(address)?;
        push(mailbox.email.to_string());
    }
    if let Some(path) = &email.recipients_file {
        let text = std::fs::read_to_string(path).map_err(|err| {
            anyhow::anyhow!(
                "channel `{}`: recipients_file {}: {err}",
                channel.name,
                path.display()
            )
        })?;
        for (number, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let mailbox = crate::config::check_mailbox(line).map_err(|err| {
                anyhow::anyhow!(
                    "{}:{}: {err:#}; fix or remove the line",
                    path.display(),
                    number + 1
                )
            })?;
            push(mailbox.email.to_string());
        }
    }
    Ok(targets)
}

/// Builds the adapter for one configured channel, resolving its secrets. An error here is a
/// configuration error: nothing has been sent.
pub fn build(
    channel: &ChannelConfig,
    renderer: Arc<crate::wording::render::Renderer>,
    context: &Context,
) -> anyhow::Result<Arc<dyn Channel>> {
    Ok(match &channel.settings {
        ChannelSettings::Webhook(settings) => Arc::new(webhook::Webhook::new(
            &channel.name,
            settings,
            context.http()?,
        )?),
        ChannelSettings::Banner(_) => Arc::new(banner::Banner::new(
            channel.clone(),
            renderer,
            context.clone(),
        )),
        ChannelSettings::Feed(_) => {
            Arc::new(feed::Feed::new(channel.clone(), renderer, context.clone()))
        }
        ChannelSettings::X(settings) => {
            Arc::new(x::X::new(&channel.name, settings, context.http()?)?)
        }
        ChannelSettings::Facebook(settings) => Arc::new(facebook::Facebook::new(
            &channel.name,
            settings,
            context.organization.status_url.clone(),
            context.http()?,
        )?),
        ChannelSettings::Email(settings) => Arc::new(email::Email::new(
            &channel.name,
            settings,
            &context.organization.name,
            context.timeout,
        )?),
    })
}

/// One HTTP client for every channel: connections are reused and the limits are set once.
pub fn http_client() -> anyhow::Result<reqwest::Client> {
    reqwest::Client::builder()
        .user_agent(concat!("outage/", env!("CARGO_PKG_VERSION")))
        .connect_timeout(Duration::from_secs(10))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|err| anyhow::anyhow!("cannot set up the HTTP client: {err}"))
}

/// Classifies a transport error from reqwest. A failure to connect means nothing was sent; any
/// later failure may have happened after the remote side acted.
pub fn classify_transport(err: reqwest::Error) -> Failure {
    let (connect, timeout) = (err.is_connect(), err.is_timeout());
    let what = without_url(err);
    if connect {
        Failure::Transient(format!("cannot connect: {what}"))
    } else if timeout {
        Failure::Unknown(format!("no answer in time: {what}"))
    } else {
        Failure::Unknown(format!("the connection failed mid-request: {what}"))
    }
}

/// reqwest errors name the URL, which may carry a token (Slack and Discord webhook URLs do).
fn without_url(err: reqwest::Error) -> String {
    let err = err.without_url();
    let mut text = err.to_string();
    let mut source = std::error::Error::source(&err);
    while let Some(inner) = source {
        let inner_text = inner.to_string();
        if !text.contains(&inner_text) {
            text = format!("{text}: {inner_text}");
        }
        source = inner.source();
    }
    text
}

/// Reads a `Retry-After` header given in seconds (fractions allowed).
pub fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    let value = headers.get(reqwest::header::RETRY_AFTER)?.to_str().ok()?;
    let seconds: f64 = value.trim().parse().ok()?;
    (seconds.is_finite() && seconds >= 0.0).then(|| Duration::from_secs_f64(seconds))
}

/// Cuts a remote error body to one short line for the report.
pub fn short_body(body: &str) -> String {
    let line = body.split_whitespace().collect::<Vec<_>>().join(" ");
    crate::wording::render::shorten(&line, 200)
}
