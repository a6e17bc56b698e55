//! The Mastodon kind: `POST /api/v1/statuses` on the account's instance with a user token
//! (scope `write:statuses`), follow-ups replying to the incident's last status, and an update
//! whose facts do not fit the instance's limit continued as replies to itself.
//!
//! Mastodon's answers, per ../shared/reference/apis.md §6: 200 with the status (`id`, `url`);
//! 401 a bad token; 422 `{"error": "Validation failed: …"}` (over-length too); 429 with
//! `X-RateLimit-Reset` as an ISO 8601 time, not epoch seconds; 5xx transient. Every status
//! carries `Idempotency-Key` (the delivery id and the part): the instance keeps keys for an hour
//! and answers a repeat with the status it already made, so within that hour an unknown
//! outcome is safe to try again.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use jiff::{SignedDuration, Timestamp};
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE};
use serde::Deserialize;
use serde_json::json;

use super::http::{Answer, classify_transport, read_body};
use super::{BuildCx, Channel, Failure, Kind, Post, Receipt, RenderCx, Rendering};
use crate::config::{self, SecretSource};
use crate::wording::fit::Measure;
use crate::wording::rules::Finding;

/// Mastodon's own default limit, and what every URL counts.
const DEFAULT_LIMIT: usize = 500;
const PER_URL: usize = 23;
/// How long an instance keeps an `Idempotency-Key` (an hour), less a margin.
const KEY_LIFE: SignedDuration = SignedDuration::from_mins(55);

#[derive(Debug, Clone)]
pub(crate) struct Mastodon {
    instance: reqwest::Url,
    token: SecretSource,
    visibility: Visibility,
    language: Option<String>,
    max_characters: usize,
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
enum Visibility {
    Public,
    Unlisted,
}

impl Visibility {
    fn as_str(self) -> &'static str {
        match self {
            Visibility::Public => "public",
            Visibility::Unlisted => "unlisted",
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    instance: String,
    access_token_env: Option<String>,
    access_token_file: Option<PathBuf>,
    visibility: Option<Visibility>,
    language: Option<String>,
    max_characters: Option<usize>,
}

pub(crate) fn parse(rest: toml::Table, base: &Path) -> anyhow::Result<Arc<dyn Kind>> {
    let raw: Raw = config::kind_settings(rest, "mastodon", &["access_token"])?;
    let instance = config::api_base(Some(&raw.instance), "", "instance")?;
    let token = config::secret_source(
        "access_token",
        raw.access_token_env,
        raw.access_token_file,
        base,
    )?
    .ok_or_else(|| {
        anyhow::anyhow!(
            "mastodon needs access_token_env: on the instance, Preferences -> Development -> New \
             application with the write:statuses scope, then copy \"Your access token\""
        )
    })?;
    if let Some(language) = &raw.language
        && (language.len() != 2 || !language.chars().all(|c| c.is_ascii_lowercase()))
    {
        anyhow::bail!("language `{language}` must be an ISO 639-1 code such as \"en\"");
    }
    let max_characters = raw.max_characters.unwrap_or(DEFAULT_LIMIT);
    if !(100..=100_000).contains(&max_characters) {
        anyhow::bail!("max_characters must be between 100 and 100000");
    }
    Ok(Arc::new(Mastodon {
        instance,
        token,
        visibility: raw.visibility.unwrap_or(Visibility::Public),
        language: raw.language,
        max_characters,
    }))
}

impl Mastodon {
    fn measure(&self) -> Measure {
        Measure::Mastodon {
            limit: self.max_characters,
            url: PER_URL,
        }
    }
}

impl Kind for Mastodon {
    fn uses_https(&self) -> bool {
        self.instance.scheme() == "https"
    }

    fn name(&self) -> &'static str {
        "mastodon"
    }

    fn threads(&self) -> bool {
        true
    }

    fn secrets(&self) -> Vec<(&'static str, &SecretSource)> {
        vec![("access_token", &self.token)]
    }

    fn render(&self, cx: &RenderCx<'_>) -> Result<Rendering, Finding> {
        cx.threaded("plain.txt", &cx.facts(), self.measure())
    }

    fn build(&self, cx: &BuildCx<'_>, channel: &str) -> anyhow::Result<Arc<dyn Channel>> {
        Ok(Arc::new(Poster {
            instance: self.instance.clone(),
            token: cx.secret(channel, "access_token", &self.token)?,
            visibility: self.visibility,
            language: self.language.clone(),
            max_characters: self.max_characters,
            http: cx.http()?,
        }))
    }

    /// The instance answers a repeated key with the status it made, for an hour.
    fn repeat_is_safe(&self, started: Option<Timestamp>, now: Timestamp) -> bool {
        started.is_none_or(|started| now.duration_since(started) < KEY_LIFE)
    }
}

struct Poster {
    instance: reqwest::Url,
    token: String,
    visibility: Visibility,
    language: Option<String>,
    max_characters: usize,
    http: reqwest::Client,
}

impl Poster {
    async fn create(
        &self,
        text: &str,
        reply_to: Option<&str>,
        key: &str,
    ) -> Result<Answer, Failure> {
        let url = self.instance.join("api/v1/statuses").expect("a valid path");
        let mut body = json!({ "status": text, "visibility": self.visibility.as_str() });
        if let Some(language) = &self.language {
            body["language"] = json!(language);
        }
        if let Some(id) = reply_to {
            body["in_reply_to_id"] = json!(id);
        }
        let response = self
            .http
            .post(url)
            .header(AUTHORIZATION, format!("Bearer {}", self.token))
            .header(CONTENT_TYPE, "application/json")
            .header("Idempotency-Key", key)
            .body(body.to_string())
            .send()
            .await
            .map_err(classify_transport)?;
        read_body(response, "Mastodon").await
    }

    async fn get(&self, path: &str) -> Result<Answer, Failure> {
        let url = self.instance.join(path).expect("a valid path");
        let response = self
            .http
            .get(url)
            .header(AUTHORIZATION, format!("Bearer {}", self.token))
            .send()
            .await
            .map_err(classify_transport)?;
        read_body(response, "Mastodon").await
    }
}

/// Mastodon's `error` text, or the raw body when it is not JSON.
fn detail(answer: &Answer) -> String {
    match answer.json()["error"].as_str() {
        Some(error) => error.to_owned(),
        None => answer.short(),
    }
}

fn failure(answer: &Answer) -> Failure {
    let message = format!("Mastodon answered {}: {}", answer.status, detail(answer));
    match answer.status.as_u16() {
        401 => Failure::permanent(format!(
            "{message}; check the access token (it needs the write:statuses scope)"
        )),
        429 => Failure::rate_limited(message, reset_wait(answer)),
        500..=599 => Failure::transient(message),
        _ => Failure::permanent(message),
    }
}

/// `X-RateLimit-Reset` is an ISO 8601 time on Mastodon.
fn reset_wait(answer: &Answer) -> Option<Duration> {
    let reset: Timestamp = answer
        .headers
        .get("x-ratelimit-reset")?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()?;
    let wait = reset.duration_since(Timestamp::now());
    Some(Duration::try_from(wait).unwrap_or(Duration::ZERO))
}

#[async_trait]
impl Channel for Poster {
    async fn deliver(&self, post: &Post) -> Result<Receipt, Failure> {
        let posts: Vec<&str> = post.rendering.posts().collect();
        let mut ids = post.posted.clone();
        let mut reply_to = ids.last().cloned().or_else(|| {
            post.thread
                .as_ref()
                .map(|thread| thread.last_remote_id.clone())
        });
        let mut first_url = None;
        let mut notes = Vec::new();
        for (index, text) in posts.iter().enumerate().skip(ids.len()) {
            // One key per part: each is its own status.
            let key = format!("{}-{}", post.delivery_id, index + 1);
            let answer = self
                .create(text, reply_to.as_deref(), &key)
                .await
                .map_err(|failure| failure.with_posted(ids.clone()))?;
            if !answer.status.is_success() {
                return Err(failure(&answer).with_posted(ids.clone()));
            }
            let status = answer.json();
            if first_url.is_none() {
                first_url = status["url"].as_str().map(str::to_owned);
            }
            match status["id"].as_str() {
                Some(id) => {
                    reply_to = Some(id.to_owned());
                    ids.push(id.to_owned());
                }
                None => notes.push(
                    "Mastodon answered without a status id; the next post will not thread"
                        .to_owned(),
                ),
            }
        }
        Ok(Receipt {
            remote_id: ids.last().cloned(),
            parts: if ids.len() > 1 { ids } else { Vec::new() },
            url: first_url,
            note: (!notes.is_empty()).then(|| notes.join("; ")),
        })
    }

    async fn check(&self) -> Result<String, Failure> {
        let account = self.get("api/v1/accounts/verify_credentials").await?;
        let Some(user) = account.json()["acct"].as_str().map(str::to_owned) else {
            return Err(failure(&account));
        };
        if !account.status.is_success() {
            return Err(failure(&account));
        }
        let host = self
            .instance
            .host_str()
            .unwrap_or("the instance")
            .to_owned();
        let instance = self.get("api/v2/instance").await?;
        let statuses = &instance.json()["configuration"]["statuses"];
        let limit = statuses["max_characters"]
            .as_u64()
            .map_or(DEFAULT_LIMIT, |limit| limit as usize);
        let per_url = statuses["characters_reserved_per_url"]
            .as_u64()
            .map_or(PER_URL, |per_url| per_url as usize);
        let mut said = format!("posts as @{user}@{host}");
        if limit != self.max_characters {
            said.push_str(&format!(
                "; the instance allows {limit} characters a status: set max_characters = {limit}"
            ));
        }
        if per_url != PER_URL {
            said.push_str(&format!(
                "; the instance counts a link as {per_url} characters, not {PER_URL}: keep \
                 max_characters below its limit by the difference"
            ));
        }
        Ok(said)
    }
}
