//! The webhook kind: a versioned JSON event signed per Standard Webhooks, or the message shape of
//! a chat service's incoming webhook (Slack, Discord, Teams Workflows, Mattermost), each read back
//! with that service's own idea of success and failure ([`answer`]).
//!
//! A channel sends to its `url` (or `url_env`, when the URL carries a token), and to every
//! subscriber of its `urls_file`, each its own delivery named by host and a digest of the URL so
//! that no token reaches the journal or the report.

mod answer;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, KeyInit, Mac};
use jiff::Timestamp;
use reqwest::header::{CONNECTION, CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue};
use serde::Deserialize;
use serde_json::json;
use sha2::{Digest, Sha256};

use super::{BuildCx, Channel, Failure, Kind, Post, Receipt, RenderCx, Rendering};
use crate::config::{self, SecretSource};
use crate::update::Update;
use crate::wording::facts::{Escape, Facts, Shown, slack_escape};
use crate::wording::fit::Measure;
use crate::wording::rules::Finding;

/// The version of the JSON event's shape. Bump it when a field changes meaning or goes away.
pub(crate) const EVENT_VERSION: u32 = 1;

/// Slack's section block text limit.
const SLACK_LIMIT: usize = 3000;
const DISCORD_LIMIT: usize = 2000;
const MATTERMOST_LIMIT: usize = 16383;
const TEAMS_LIMIT: usize = 20000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Format {
    Json,
    Slack,
    Discord,
    Teams,
    Mattermost,
}

impl Format {
    fn service(self) -> &'static str {
        match self {
            Format::Json => "the receiver",
            Format::Slack => "Slack",
            Format::Discord => "Discord",
            Format::Teams => "Teams",
            Format::Mattermost => "Mattermost",
        }
    }
}

#[derive(Debug, Clone)]
enum UrlSource {
    Literal(reqwest::Url),
    /// The URL carries a token (Slack, Discord), so it is read like a secret.
    Env(SecretSource),
}

#[derive(Debug)]
pub(crate) struct Webhook {
    url: Option<UrlSource>,
    /// Subscribers: one URL a line, each its own delivery.
    urls_file: Option<PathBuf>,
    format: Format,
    secret: Option<SecretSource>,
    headers: BTreeMap<String, String>,
    /// The CA certificates the receivers' HTTPS is checked against instead of the system's.
    ca_file: Option<PathBuf>,
    read: Read,
}

/// The subscribers as planning read them, kept for building the adapter: 10,000 of them took
/// 17 ms to read and check, and a post read them twice. Taken by the build, so the list is not
/// held twice while it is sent; planned and built from one reading, the targets are the same.
#[derive(Default)]
struct Read(std::sync::Mutex<Option<Vec<(String, reqwest::Url)>>>);

impl std::fmt::Debug for Read {
    /// Not the URLs: a subscriber's may carry its token.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Read")
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    url: Option<String>,
    url_env: Option<String>,
    urls_file: Option<PathBuf>,
    #[serde(default = "json_format")]
    format: Format,
    secret_env: Option<String>,
    secret_file: Option<PathBuf>,
    #[serde(default)]
    headers: BTreeMap<String, String>,
    ca_file: Option<PathBuf>,
}

fn json_format() -> Format {
    Format::Json
}

pub(crate) fn parse(rest: toml::Table, base: &Path) -> anyhow::Result<Arc<dyn Kind>> {
    let raw: Raw = config::kind_settings(rest, "webhook", &["secret"])?;
    let url = match (raw.url, raw.url_env) {
        (Some(url), None) => Some(UrlSource::Literal(
            config::check_url(&url).map_err(|err| anyhow::anyhow!("url: {err:#}"))?,
        )),
        (None, Some(name)) => Some(UrlSource::Env(
            config::secret_source("url", Some(name), None, base)?.expect("given"),
        )),
        (Some(_), Some(_)) => anyhow::bail!("give either url or url_env, not both"),
        (None, None) if raw.urls_file.is_some() => None,
        (None, None) => anyhow::bail!(
            "missing url; add url = \"https://...\", url_env = \"VAR\" or urls_file = \"path\""
        ),
    };
    if let (Some(UrlSource::Literal(url)), Some(_)) = (&url, &raw.ca_file)
        && url.scheme() == "http"
    {
        anyhow::bail!(
            "ca_file checks an https:// receiver, and url is http://; use https, or remove ca_file"
        );
    }
    for (name, value) in &raw.headers {
        HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| anyhow::anyhow!("headers: `{name}` is not a valid header name"))?;
        HeaderValue::from_str(value).map_err(|_| {
            anyhow::anyhow!("headers.{name}: the value is not a valid header value")
        })?;
    }
    Ok(Arc::new(Webhook {
        url,
        urls_file: raw
            .urls_file
            .map(|path| config::file_path(base, &path, "urls_file"))
            .transpose()?,
        format: raw.format,
        secret: config::secret_source("secret", raw.secret_env, raw.secret_file, base)?,
        headers: raw.headers,
        ca_file: raw
            .ca_file
            .map(|path| config::file_path(base, &path, "ca_file"))
            .transpose()?,
        read: Read::default(),
    }))
}

impl Kind for Webhook {
    fn uses_https(&self) -> bool {
        // A URL from the environment or a subscriber list may be HTTPS; one checked against a
        // ca_file of its own needs none of the system's roots.
        self.ca_file.is_none()
            && (!matches!(&self.url, Some(UrlSource::Literal(url)) if url.scheme() == "http")
                || self.urls_file.is_some())
    }

    fn name(&self) -> &'static str {
        "webhook"
    }

    fn secrets(&self) -> Vec<(&'static str, &SecretSource)> {
        let mut secrets = Vec::new();
        if let Some(UrlSource::Env(source)) = &self.url {
            secrets.push(("url", source));
        }
        secrets.extend(self.secret.iter().map(|source| ("secret", source)));
        secrets
    }

    fn targets(&self) -> anyhow::Result<Vec<String>> {
        let mut targets = Vec::new();
        if self.url.is_some() {
            targets.push(String::new());
        }
        if let Some(path) = &self.urls_file {
            let subscribers = read_subscribers(path)?;
            targets.extend(subscribers.iter().map(|(target, _)| target.clone()));
            if let Ok(mut read) = self.read.0.lock() {
                *read = Some(subscribers);
            }
        }
        Ok(targets)
    }

    fn render(&self, cx: &RenderCx<'_>) -> Result<Rendering, Finding> {
        let facts = cx.facts();
        let (template, measure, facts) = match self.format {
            Format::Json => ("plain.txt", Measure::Unlimited, facts),
            Format::Slack => (
                "slack.txt",
                Measure::Chars(SLACK_LIMIT),
                slack_escaped(&facts),
            ),
            Format::Discord => ("markdown.md", Measure::Chars(DISCORD_LIMIT), facts),
            Format::Teams => ("plain.txt", Measure::Chars(TEAMS_LIMIT), facts),
            Format::Mattermost => ("markdown.md", Measure::Chars(MATTERMOST_LIMIT), facts),
        };
        let text = cx.fitted(template, &facts, measure)?;
        let body = payload(self.format, &text, &facts, cx.update);
        Ok(Rendering {
            text,
            body: Some(body),
            ..Rendering::default()
        })
    }

    fn shown<'a>(&self, rendering: &'a Rendering) -> Vec<Shown<'a>> {
        vec![Shown {
            parts: vec![rendering.text.as_str()],
            escape: match self.format {
                Format::Slack => Escape::Slack,
                _ => Escape::None,
            },
        }]
    }

    fn build(&self, cx: &BuildCx<'_>, channel: &str) -> anyhow::Result<Arc<dyn Channel>> {
        let url = match &self.url {
            None => None,
            Some(UrlSource::Literal(url)) => Some(url.clone()),
            Some(UrlSource::Env(source)) => {
                let text = cx.secret(channel, "url", source)?;
                // The message must not echo the value: the URL carries a token.
                let url = config::check_url(&text).map_err(|_| {
                    anyhow::anyhow!(
                        "channel `{channel}`: url_env does not hold an http(s) URL; check its value"
                    )
                })?;
                cx.redactor.add_url(&url);
                Some(url)
            }
        };
        let read = self.read.0.lock().ok().and_then(|mut read| read.take());
        let subscribers = match (&self.urls_file, read) {
            (None, _) => Vec::new(),
            (Some(_), Some(read)) => read,
            (Some(path), None) => read_subscribers(path)?,
        };
        for (_, url) in &subscribers {
            cx.redactor.add_url(url);
        }
        let at = |url: reqwest::Url| endpoint(self.format, url);
        let key = match &self.secret {
            None => None,
            Some(source) => {
                let secret = cx.secret(channel, "secret", source)?;
                if let Some(encoded) = secret.strip_prefix("whsec_") {
                    cx.redactor.add(encoded);
                }
                Some(signing_key(&secret).map_err(|why| {
                    anyhow::anyhow!("channel `{channel}`: the webhook secret {why}")
                })?)
            }
        };
        let mut headers = HeaderMap::new();
        for (name, value) in &self.headers {
            headers.insert(
                HeaderName::from_bytes(name.as_bytes())?,
                HeaderValue::from_str(value)?,
            );
        }
        let alone = alone(subscribers.iter().map(|(_, url)| url));
        Ok(Arc::new(Sender {
            url: url.map(at),
            subscribers: subscribers
                .into_iter()
                .zip(alone)
                .map(|((target, url), alone)| {
                    (
                        target,
                        Subscriber {
                            url: at(url),
                            alone,
                        },
                    )
                })
                .collect(),
            format: self.format,
            key,
            headers,
            http: match &self.ca_file {
                None => cx.http()?,
                Some(path) => super::http::client_trusting(path)
                    .map_err(|err| anyhow::anyhow!("channel `{channel}`: {err:#}"))?,
            },
        }))
    }

    fn repeat_is_safe(&self, _started: Option<Timestamp>, _now: Timestamp) -> bool {
        // Standard Webhooks receivers drop a repeated `webhook-id`; chat services would post twice.
        self.format == Format::Json
    }
}

/// Where a format's requests go. Discord: the versioned API (`/api/v10/webhooks/…`), because
/// the URLs Discord shows have no version and reach a deprecated default whose rate-limit waits
/// have come in milliseconds; and `wait=true`, so the answer carries the message id.
fn endpoint(format: Format, mut url: reqwest::Url) -> reqwest::Url {
    if format == Format::Discord {
        if let Some(at) = url.path().find("/api/webhooks/") {
            let path = format!(
                "{}/api/v10/webhooks/{}",
                &url.path()[..at],
                &url.path()[at + "/api/webhooks/".len()..]
            );
            url.set_path(&path);
        }
        url.query_pairs_mut().append_pair("wait", "true");
    }
    url
}

fn slack_escaped(facts: &Facts) -> Facts {
    let mut escaped = facts.clone();
    escaped.title = slack_escape(&facts.title);
    escaped.message = slack_escape(&facts.message);
    escaped.compensation = facts.compensation.as_deref().map(slack_escape);
    escaped.internal_note = facts.internal_note.as_deref().map(slack_escape);
    escaped.components = facts.components.iter().map(|c| slack_escape(c)).collect();
    escaped
}

/// For each subscriber, whether no other one on the list is on its server. Its connection is
/// closed after its one request instead of waiting, idle, for a reuse that will not come:
/// 10,000 subscribers on 10,000 servers would otherwise hold 10,000 connections open (and as
/// many open files) until the end, however few are in flight.
fn alone<'a>(urls: impl Iterator<Item = &'a reqwest::Url> + Clone) -> Vec<bool> {
    let server =
        |url: &'a reqwest::Url| (url.scheme(), url.host_str(), url.port_or_known_default());
    let mut servers: HashMap<_, usize> = HashMap::new();
    for url in urls.clone() {
        *servers.entry(server(url)).or_default() += 1;
    }
    urls.map(|url| servers[&server(url)] == 1).collect()
}

/// One subscriber of a list.
struct Subscriber {
    url: reqwest::Url,
    /// No other subscriber is on its server: its connection is not kept for reuse.
    alone: bool,
}

/// The adapter.
struct Sender {
    /// The configured `url`, for the target `""`.
    url: Option<reqwest::Url>,
    /// The subscribers of `urls_file`, by target.
    subscribers: HashMap<String, Subscriber>,
    format: Format,
    key: Option<Vec<u8>>,
    headers: HeaderMap,
    http: reqwest::Client,
}

#[async_trait]
impl Channel for Sender {
    async fn deliver(&self, post: &Post) -> Result<Receipt, Failure> {
        let (url, alone) = match post.target.as_str() {
            "" => self.url.as_ref().map(|url| (url, false)),
            target => self
                .subscribers
                .get(target)
                .map(|subscriber| (&subscriber.url, subscriber.alone)),
        }
        .ok_or_else(|| {
            Failure::permanent(format!(
                "{} is no longer in urls_file; nothing to send it to",
                post.target
            ))
        })?;
        let body = Payload(post.rendering.clone());
        let timestamp = Timestamp::now().as_second();
        let mut request = self
            .http
            .post(url.clone())
            .headers(self.headers.clone())
            .header(CONTENT_TYPE, "application/json")
            .header("webhook-id", &post.delivery_id)
            .header("webhook-timestamp", timestamp.to_string());
        if let Some(key) = &self.key {
            let signature = sign(key, &post.delivery_id, timestamp, body.as_ref());
            request = request.header("webhook-signature", signature);
        }
        if alone {
            request = request.header(CONNECTION, "close");
        }
        let response = request
            .body(bytes::Bytes::from_owner(body))
            .send()
            .await
            .map_err(super::http::classify_transport)?;
        let answer = super::http::read_body(response, self.format.service()).await?;
        answer::read(self.format, &answer)
    }
}

/// A rendering's payload as a request body, not copied: the recipients of a list, a thousand
/// in flight, send the one payload they share.
struct Payload(Arc<Rendering>);

impl AsRef<[u8]> for Payload {
    fn as_ref(&self) -> &[u8] {
        self.0.body.as_deref().unwrap_or_default().as_bytes()
    }
}

/// Reads a subscriber list: one URL a line, blank lines and `#` comments skipped. Each URL is
/// named by its host and a digest of the whole URL, so the journal and the report never show a
/// token a subscriber URL may carry, while `retry` still finds the same subscriber.
pub(crate) fn read_subscribers(path: &Path) -> anyhow::Result<Vec<(String, reqwest::Url)>> {
    let mut subscribers: Vec<(String, reqwest::Url)> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    let found = super::read_list(path, "urls_file", |line| {
        config::check_url(line).map_err(|_| anyhow::anyhow!("not an http(s) URL"))
    })?;
    for url in found {
        let digest = Sha256::digest(url.as_str().as_bytes());
        let target = format!(
            "{}#{}",
            url.host_str().unwrap_or("?"),
            crate::digest::hex(&digest[..6])
        );
        if seen.insert(target.clone()) {
            subscribers.push((target, url));
        }
    }
    Ok(subscribers)
}

/// The key Standard Webhooks signs with: the base64 after `whsec_`.
pub(crate) fn signing_key(secret: &str) -> Result<Vec<u8>, &'static str> {
    let encoded = secret.strip_prefix("whsec_").unwrap_or(secret);
    let key = STANDARD
        .decode(encoded)
        .map_err(|_| "is not `whsec_` followed by base64")?;
    if key.is_empty() {
        return Err("is empty");
    }
    Ok(key)
}

/// `v1,<base64 HMAC-SHA256(key, "{id}.{timestamp}.{body}")>`.
pub(crate) fn sign(key: &[u8], id: &str, timestamp: i64, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
}

/// Builds the exact body for a format from the rendered text and the facts.
fn payload(format: Format, text: &str, facts: &Facts, update: &Update) -> String {
    let value = match format {
        Format::Json => event(text, facts, update),
        Format::Slack => {
            let fallback = format!("{}: {}", facts.status_label, facts.title);
            json!({
                "text": fallback,
                "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": text}}],
            })
        }
        Format::Discord => json!({
            "content": text,
            "allowed_mentions": {"parse": []},
        }),
        Format::Teams => json!({
            "type": "message",
            "attachments": [{
                "contentType": "application/vnd.microsoft.card.adaptive",
                "contentUrl": null,
                "content": {
                    "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
                    "type": "AdaptiveCard",
                    "version": "1.2",
                    "body": [{"type": "TextBlock", "text": text, "wrap": true}],
                },
            }],
        }),
        Format::Mattermost => json!({"text": text}),
    };
    serde_json::to_string(&value).expect("JSON values serialize")
}

/// The documented, versioned event (see README "Webhook event").
fn event(text: &str, facts: &Facts, update: &Update) -> serde_json::Value {
    let action = if update.status.is_final() {
        "closed"
    } else if update.sequence == 1 {
        "created"
    } else {
        "updated"
    };
    let time = |at: Option<Timestamp>| at.map(|at| at.to_string());
    let mut data = json!({
        "incident": {
            "id": update.incident,
            "kind": update.kind.as_str(),
            "title": update.title,
            "impact": facts.impact,
            "components": update.components,
            "url": facts.link,
        },
        "update": {
            "sequence": update.sequence,
            "previous_sequence": (update.sequence > 1).then(|| update.sequence - 1),
            "status": update.status.as_str(),
            "status_label": update.label(),
            "message": update.message,
            "eta": time(update.eta),
            "next_update": time(update.next_update),
            "starts": time(update.starts),
            "ends": time(update.ends),
            "compensation": update.compensation,
            "correction": update.correction,
            "reminder": update.reminder,
            "rescheduled": update.rescheduled,
            "posted_at": update.posted_at.to_string(),
        },
        "text": text,
    });
    if let Some(note) = &facts.internal_note {
        data["update"]["internal_note"] = json!(note);
    }
    json!({
        "type": format!("{}.{action}", update.kind.as_str()),
        "version": EVENT_VERSION,
        "timestamp": update.posted_at.to_string(),
        "data": data,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The known-answer vectors of the Standard Webhooks reference libraries.
    #[test]
    fn signatures_match_the_standard_webhooks_vectors() {
        let key = signing_key("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        assert_eq!(
            sign(
                &key,
                "msg_p5jXN8AQM9LWM0D4loKWxJek",
                1614265330,
                br#"{"test": 2432232314}"#
            ),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
        let key = signing_key("whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD").unwrap();
        assert_eq!(
            sign(
                &key,
                "msg_27UH4WbU6Z5A5EzD8u03UvzRbpk",
                1649367553,
                br#"{"email":"test@example.com","username":"test_user"}"#
            ),
            "v1,tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw="
        );
    }

    /// Planning and building read a subscriber list once: the build takes what planning read
    /// (here the file is gone by then), so the targets planned are the ones built; a second
    /// build reads the file again.
    #[test]
    fn a_subscriber_list_is_read_once_for_planning_and_building() {
        let dir = tempfile::tempdir().unwrap();
        let list = dir.path().join("subscribers.txt");
        std::fs::write(
            &list,
            "https://a.example/hooks/token-one\nhttps://b.example/hooks/token-two\n",
        )
        .unwrap();
        let table: toml::Table = toml::from_str(r#"urls_file = "subscribers.txt""#).unwrap();
        let webhook = parse(table, dir.path()).unwrap();
        let targets = webhook.targets().unwrap();
        assert_eq!(targets.len(), 2);
        assert!(targets[1].starts_with("b.example#"), "{targets:?}");
        std::fs::remove_file(&list).unwrap();
        let organization = crate::config::Organization {
            name: "Example Inc".into(),
            status_url: None,
            timezone: jiff::tz::TimeZone::UTC,
        };
        let redactor = crate::redact::Redactor::default();
        let cx = BuildCx::new(&organization, std::time::Duration::from_secs(1), &redactor);
        webhook
            .build(&cx, "subscribers")
            .expect("built from what planning read");
        // Built with both subscribers: their URLs are secrets now.
        let text = redactor.redact("https://b.example/hooks/token-two");
        assert!(!text.contains("token-two"), "{text}");
        assert!(webhook.build(&cx, "subscribers").is_err());
    }

    #[test]
    fn a_secret_that_is_not_base64_is_refused() {
        assert!(signing_key("whsec_not base64!").is_err());
    }

    #[test]
    fn discord_urls_go_to_the_versioned_api_and_wait_for_the_message() {
        let url = reqwest::Url::parse("https://discord.com/api/webhooks/123/tok").unwrap();
        assert_eq!(
            endpoint(Format::Discord, url).as_str(),
            "https://discord.com/api/v10/webhooks/123/tok?wait=true"
        );
        let versioned = reqwest::Url::parse("https://discord.com/api/v10/webhooks/1/t").unwrap();
        assert_eq!(
            endpoint(Format::Discord, versioned).as_str(),
            "https://discord.com/api/v10/webhooks/1/t?wait=true"
        );
        let slack = reqwest::Url::parse("https://hooks.slack.com/api/webhooks/1").unwrap();
        assert_eq!(
            endpoint(Format::Slack, slack.clone()).as_str(),
            slack.as_str()
        );
    }
}
