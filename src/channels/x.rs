//! The X (Twitter) channel: `POST /2/tweets` with OAuth 1.0a or an OAuth 2.0 user token, follow-ups
//! as replies to the incident's last post so the incident reads as one thread.
//!
//! X's answers, read per ../shared/reference/apis.md §1: 201 with `data.id`; 401 bad credentials;
//! 403 for a duplicate or a refused reply (then the update is posted standalone, once, and the
//! report says so); 429 with `x-rate-limit-reset` (epoch seconds); 5xx transient.

use std::time::Duration;

use async_trait::async_trait;
use reqwest::StatusCode;
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, HeaderMap};
use serde_json::json;

use super::oauth1::{self, Credentials};
use super::{Channel, Failure, Post, Receipt, classify_transport, short_body};
use crate::config::{XAuth, XSettings};

enum Auth {
    OAuth1(Credentials),
    Bearer(String),
}

pub struct X {
    api_base: reqwest::Url,
    auth: Auth,
    http: reqwest::Client,
}

impl X {
    pub fn new(channel: &str, settings: &XSettings, http: reqwest::Client) -> anyhow::Result<X> {
        let auth = match &settings.auth {
            XAuth::OAuth1 {
                consumer_key,
                consumer_secret,
                access_token,
                access_token_secret,
            } => Auth::OAuth1(Credentials {
                consumer_key: consumer_key.resolve(channel, "consumer_key")?,
                consumer_secret: consumer_secret.resolve(channel, "consumer_secret")?,
                token: access_token.resolve(channel, "access_token")?,
                token_secret: access_token_secret.resolve(channel, "access_token_secret")?,
            }),
            XAuth::Bearer(token) => Auth::Bearer(token.resolve(channel, "bearer_token")?),
        };
        Ok(X {
            api_base: settings.api_base.clone(),
            auth,
            http,
        })
    }

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
        Answer::read(response).await
    }
}

/// An answer from the X API, read once.
struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: serde_json::Value,
    raw: String,
}

impl Answer {
    async fn read(response: reqwest::Response) -> Result<Answer, Failure> {
        let status = response.status();
        let headers = response.headers().clone();
        let raw = response
            .text()
            .await
            .map_err(|err| Failure::Unknown(format!("X's answer was cut off: {err}")))?;
        let body = serde_json::from_str(&raw).unwrap_or(serde_json::Value::Null);
        Ok(Answer {
            status,
            headers,
            body,
            raw,
        })
    }

    /// X's problem detail, or the raw body when it is not JSON.
    fn detail(&self) -> String {
        match self.body["detail"].as_str().or(self.body["title"].as_str()) {
            Some(detail) => detail.to_owned(),
            None if self.raw.trim().is_empty() => "no details".into(),
            None => short_body(&self.raw),
        }
    }

    fn is_duplicate(&self) -> bool {
        self.detail().to_ascii_lowercase().contains("duplicate")
    }

    fn failure(&self) -> Failure {
        let message = format!("X answered {}: {}", self.status, self.detail());
        match self.status.as_u16() {
            401 => Failure::Permanent(format!("{message}; check the X credentials")),
            403 if self.is_duplicate() => Failure::Permanent(format!(
                "{message}; X refuses a post identical to a recent one"
            )),
            429 => Failure::RateLimited {
                retry_after: reset_wait(&self.headers),
                message,
            },
            500..=599 => Failure::Transient(message),
            _ => Failure::Permanent(message),
        }
    }
}

/// The wait until `x-rate-limit-reset` (Unix seconds).
fn reset_wait(headers: &HeaderMap) -> Option<Duration> {
    let reset: i64 = headers
        .get("x-rate-limit-reset")?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()?;
    let now = jiff::Timestamp::now().as_second();
    Some(Duration::from_secs(reset.saturating_sub(now).max(0) as u64))
}

fn receipt(answer: &Answer, note: Option<String>) -> Result<Receipt, Failure> {
    match answer.body["data"]["id"].as_str() {
        Some(id) => Ok(Receipt {
            remote_id: Some(id.to_owned()),
            url: Some(format!("https://x.com/i/web/status/{id}")),
            note,
        }),
        // The post exists, but without its id the next update cannot reply to it.
        None => Ok(Receipt {
            remote_id: None,
            url: None,
            note: Some(format!(
                "X answered {} without a post id ({}); the next update will not thread",
                answer.status,
                short_body(&answer.raw)
            )),
        }),
    }
}

#[async_trait]
impl Channel for X {
    async fn deliver(&self, post: &Post) -> Result<Receipt, Failure> {
        let text = &post.rendering.text;
        let reply_to = post
            .thread
            .as_ref()
            .map(|thread| thread.last_remote_id.as_str());
        let answer = self.create(text, reply_to).await?;
        if answer.status.is_success() {
            return receipt(&answer, None);
        }
        // X may refuse a reply (its 2026 reply rules); the update still has to go out.
        if answer.status == StatusCode::FORBIDDEN && reply_to.is_some() && !answer.is_duplicate() {
            let why = answer.detail();
            let standalone = self.create(text, None).await?;
            if standalone.status.is_success() {
                return receipt(
                    &standalone,
                    Some(format!("X refused the reply ({why}); posted standalone")),
                );
            }
            return Err(standalone.failure());
        }
        Err(answer.failure())
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
        let answer = Answer::read(response).await?;
        match answer.body["data"]["username"].as_str() {
            Some(user) if answer.status.is_success() => Ok(format!("posts as @{user}")),
            _ => Err(answer.failure()),
        }
    }
}
