//! The X (Twitter) kind: `POST /2/tweets` with OAuth 1.0a or an OAuth 2.0 user token, follow-ups
//! as replies to the incident's last post so the incident reads as one thread, and an update
//! whose facts do not fit 280 weighted characters continued as replies to itself.
//!
//! X's answers, read per ../shared/reference/apis.md §1 and §11: 201 with `data.id`; 401 bad
//! credentials (an OAuth 2.0 user token expires after two hours); 403 for a duplicate or a refused
//! reply (then the update is posted standalone, once, and the report says so); 429 with the
//! 15-minute reset, or the 24-hour user or app limit's reset when that is what ran out; 5xx
//! transient.

pub(crate) mod oauth1;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use reqwest::StatusCode;
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE};
use serde::Deserialize;
use serde_json::json;

use self::oauth1::Credentials;
use super::http::{Answer, classify_transport, read_body, until_epoch};
use super::{BuildCx, Channel, Failure, Kind, Post, Receipt, RenderCx, Rendering};
use crate::config::{self, SecretSource};
use crate::wording::count;
use crate::wording::fit::Measure;
use crate::wording::rules::Finding;

#[derive(Debug, Clone)]
pub(crate) struct X {
    api_base: reqwest::Url,
    auth: AuthConfig,
}

/// X accepts OAuth 1.0a user context or an OAuth 2.0 user token for posting.
#[derive(Debug, Clone)]
enum AuthConfig {
    OAuth1 {
        consumer_key: SecretSource,
        consumer_secret: SecretSource,
        access_token: SecretSource,
        access_token_secret: SecretSource,
    },
    Bearer(SecretSource),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    api_base: Option<String>,
    consumer_key_env: Option<String>,
    consumer_key_file: Option<PathBuf>,
    consumer_secret_env: Option<String>,
    consumer_secret_file: Option<PathBuf>,
    access_token_env: Option<String>,
    access_token_file: Option<PathBuf>,
    access_token_secret_env: Option<String>,
    access_token_secret_file: Option<PathBuf>,
    bearer_token_env: Option<String>,
    bearer_token_file: Option<PathBuf>,
}

const SECRET_FIELDS: [&str; 5] = [
    "consumer_key",
    "consumer_secret",
    "access_token",
    "access_token_secret",
    "bearer_token",
];

pub(crate) fn parse(rest: toml::Table, base: &Path) -> anyhow::Result<Arc<dyn Kind>> {
    let raw: Raw = config::kind_settings(rest, "x", &SECRET_FIELDS)?;
    let api_base = config::api_base(raw.api_base.as_deref(), "https://api.x.com", "api_base")?;
    let source = |field, env, file| config::secret_source(field, env, file, base);
    let oauth1 = [
        source("consumer_key", raw.consumer_key_env, raw.consumer_key_file)?,
        source(
            "consumer_secret",
            raw.consumer_secret_env,
            raw.consumer_secret_file,
        )?,
        source("access_token", raw.access_token_env, raw.access_token_file)?,
        source(
            "access_token_secret",
            raw.access_token_secret_env,
            raw.access_token_secret_file,
        )?,
    ];
    let bearer = source("bearer_token", raw.bearer_token_env, raw.bearer_token_file)?;
    let auth = match (oauth1, bearer) {
        ([Some(key), Some(secret), Some(token), Some(token_secret)], None) => AuthConfig::OAuth1 {
            consumer_key: key,
            consumer_secret: secret,
            access_token: token,
            access_token_secret: token_secret,
        },
        ([None, None, None, None], Some(bearer)) => AuthConfig::Bearer(bearer),
        ([None, None, None, None], None) => anyhow::bail!(
            "x needs credentials: consumer_key_env, consumer_secret_env, access_token_env and \
             access_token_secret_env (OAuth 1.0a), or bearer_token_env (OAuth 2.0 user token)"
        ),
        (_, Some(_)) => {
            anyhow::bail!("give either the OAuth 1.0a fields or bearer_token_env, not both")
        }
        _ => anyhow::bail!(
            "OAuth 1.0a needs all four of consumer_key_env, consumer_secret_env, \
             access_token_env and access_token_secret_env"
        ),
    };
    Ok(Arc::new(X { api_base, auth }))
}

impl Kind for X {
    fn uses_https(&self) -> bool {
        self.api_base.scheme() == "https"
    }

    fn name(&self) -> &'static str {
        "x"
    }

    fn threads(&self) -> bool {
        true
    }

    fn secrets(&self) -> Vec<(&'static str, &SecretSource)> {
        match &self.auth {
            AuthConfig::OAuth1 {
                consumer_key,
                consumer_secret,
                access_token,
                access_token_secret,
            } => vec![
                ("consumer_key", consumer_key),
                ("consumer_secret", consumer_secret),
                ("access_token", access_token),
                ("access_token_secret", access_token_secret),
            ],
            AuthConfig::Bearer(token) => vec![("bearer_token", token)],
        }
    }

    fn render(&self, cx: &RenderCx<'_>) -> Result<Rendering, Finding> {
        cx.threaded("short.txt", &cx.facts(), Measure::XWeighted(count::X_LIMIT))
    }

    fn build(&self, cx: &BuildCx<'_>, channel: &str) -> anyhow::Result<Arc<dyn Channel>> {
        let auth = match &self.auth {
            AuthConfig::OAuth1 {
                consumer_key,
                consumer_secret,
                access_token,
                access_token_secret,
            } => Auth::OAuth1(Credentials {
                consumer_key: cx.secret(channel, "consumer_key", consumer_key)?,
                consumer_secret: cx.secret(channel, "consumer_secret", consumer_secret)?,
                token: cx.secret(channel, "access_token", access_token)?,
                token_secret: cx.secret(channel, "access_token_secret", access_token_secret)?,
            }),
            AuthConfig::Bearer(token) => Auth::Bearer(cx.secret(channel, "bearer_token", token)?),
        };
        Ok(Arc::new(Poster {
            api_base: self.api_base.clone(),
            auth,
            http: cx.http()?,
        }))
    }
}

enum Auth {
    OAuth1(Credentials),
    Bearer(String),
}

struct Poster {
    api_base: reqwest::Url,
    auth: Auth,
    http: reqwest::Client,
}

impl Poster {
    fn authorization(&self, method: &str, url: &reqwest::Url) -> String {
        match &self.auth {
            Auth::Bearer(token) => format!("Bearer {token}"),
            Auth::OAuth1(credentials) => {
                let nonce = uuid::Uuid::new_v4().simple().to_string();
                let now = jiff::Timestamp::now().as_second();
                oauth1::authorization(credentials, method, url, &nonce, now)
            }
        }
    }

    async fn create(&self, text: &str, reply_to: Option<&str>) -> Result<Answer, Failure> {
        let url = self.api_base.join("2/tweets").expect("a valid path");
        let mut body = json!({ "text": text });
        if let Some(id) = reply_to {
            body["reply"] = json!({ "in_reply_to_tweet_id": id });
        }
        let response = self
            .http
            .post(url.clone())
            .header(AUTHORIZATION, self.authorization("POST", &url))
            .header(CONTENT_TYPE, "application/json")
            .body(body.to_string())
            .send()
            .await
            .map_err(classify_transport)?;
        read_body(response, "X").await
    }

    /// Posts one part; a refused reply is posted standalone (once) with a note.
    async fn part(
        &self,
        text: &str,
        reply_to: Option<&str>,
    ) -> Result<(Option<String>, Option<String>), Failure> {
        let answer = self.create(text, reply_to).await?;
        if answer.status.is_success() {
            return Ok((post_id(&answer), None));
        }
        // X may refuse a reply (its 2026 reply rules); the update still has to go out.
        if answer.status == StatusCode::FORBIDDEN && reply_to.is_some() && !is_duplicate(&answer) {
            let why = detail(&answer);
            let standalone = self.create(text, None).await?;
            if standalone.status.is_success() {
                return Ok((
                    post_id(&standalone),
                    Some(format!("X refused the reply ({why}); posted standalone")),
                ));
            }
            return Err(self.failure(&standalone));
        }
        Err(self.failure(&answer))
    }

    fn failure(&self, answer: &Answer) -> Failure {
        let message = format!("X answered {}: {}", answer.status, detail(answer));
        match answer.status.as_u16() {
            401 => Failure::permanent(match self.auth {
                Auth::Bearer(_) => format!(
                    "{message}; an OAuth 2.0 user token expires two hours after it is issued: for \
                     unattended posting use OAuth 1.0a keys (consumer_key_env, \
                     consumer_secret_env, access_token_env, access_token_secret_env), which do \
                     not expire"
                ),
                Auth::OAuth1(_) => format!("{message}; check the X credentials"),
            }),
            403 if is_duplicate(answer) => Failure::permanent(format!(
                "{message}; X refuses a post identical to a recent one"
            )),
            429 => rate_limited(answer, message),
            500..=599 => Failure::transient(message),
            _ => Failure::permanent(message),
        }
    }
}

/// A 429: when a 24-hour limit (the user's or the app's) is what ran out, the wait is until that
/// one resets, and the message says so; otherwise the 15-minute window's reset.
fn rate_limited(answer: &Answer, message: String) -> Failure {
    let header = |name: &str| {
        answer
            .headers
            .get(name)
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned)
    };
    for (who, prefix) in [
        ("your account's", "x-user-limit-24hour"),
        ("the app's", "x-app-limit-24hour"),
    ] {
        if header(&format!("{prefix}-remaining")).as_deref() == Some("0")
            && let Some(reset) = header(&format!("{prefix}-reset"))
        {
            let at = reset
                .trim()
                .parse::<i64>()
                .ok()
                .and_then(|seconds| jiff::Timestamp::from_second(seconds).ok())
                .map(|at| at.strftime("%Y-%m-%d %H:%M UTC").to_string())
                .unwrap_or_else(|| "later".into());
            return Failure::rate_limited(
                format!("{message}; {who} 24-hour posting limit is reached; it resets at {at}"),
                until_epoch(&reset),
            );
        }
    }
    Failure::rate_limited(
        message,
        header("x-rate-limit-reset").and_then(|reset| until_epoch(&reset)),
    )
}

/// X's problem detail, or the raw body when it is not JSON.
fn detail(answer: &Answer) -> String {
    let body = answer.json();
    match body["detail"].as_str().or(body["title"].as_str()) {
        Some(detail) => detail.to_owned(),
        None => answer.short(),
    }
}

fn is_duplicate(answer: &Answer) -> bool {
    detail(answer).to_ascii_lowercase().contains("duplicate")
}

fn post_id(answer: &Answer) -> Option<String> {
    answer.json()["data"]["id"].as_str().map(str::to_owned)
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
        let mut notes = Vec::new();
        for text in posts.iter().skip(ids.len()) {
            let (id, note) = self
                .part(text, reply_to.as_deref())
                .await
                .map_err(|failure| failure.with_posted(ids.clone()))?;
            notes.extend(note);
            match id {
                Some(id) => {
                    reply_to = Some(id.clone());
                    ids.push(id);
                }
                // The post exists, but without its id the next one cannot reply to it.
                None => notes
                    .push("X answered without a post id; the next post will not thread".to_owned()),
            }
        }
        let first = ids.first().cloned();
        Ok(Receipt {
            remote_id: ids.last().cloned(),
            parts: if ids.len() > 1 { ids } else { Vec::new() },
            url: first.map(|id| format!("https://x.com/i/web/status/{id}")),
            note: (!notes.is_empty()).then(|| notes.join("; ")),
        })
    }

    async fn check(&self) -> Result<String, Failure> {
        let url = self.api_base.join("2/users/me").expect("a valid path");
        let response = self
            .http
            .get(url.clone())
            .header(AUTHORIZATION, self.authorization("GET", &url))
            .send()
            .await
            .map_err(classify_transport)?;
        let answer = read_body(response, "X").await?;
        match answer.json()["data"]["username"].as_str() {
            Some(user) if answer.status.is_success() => Ok(format!("posts as @{user}")),
            _ => Err(self.failure(&answer)),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use reqwest::header::{HeaderMap, HeaderValue};

    use super::*;

    #[test]
    fn a_daily_limit_waits_for_its_own_reset() {
        let now = jiff::Timestamp::now().as_second();
        let mut headers = HeaderMap::new();
        headers.insert("x-rate-limit-reset", HeaderValue::from(now + 60));
        headers.insert("x-user-limit-24hour-remaining", HeaderValue::from(0));
        headers.insert("x-user-limit-24hour-reset", HeaderValue::from(now + 20_000));
        let answer = Answer {
            status: StatusCode::TOO_MANY_REQUESTS,
            headers,
            body: r#"{"title":"Too Many Requests","detail":"Too Many Requests","status":429}"#
                .into(),
        };
        let failure = rate_limited(&answer, "X answered 429".into());
        assert!(failure.is_rate_limited());
        let wait = failure.retry_after.unwrap();
        assert!(wait > Duration::from_secs(19_000), "{wait:?}");
        assert!(
            failure
                .message
                .contains("your account's 24-hour posting limit is reached; it resets at")
        );
    }
}
