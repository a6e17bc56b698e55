//! The webhook channel: a versioned JSON event signed per Standard Webhooks, or the message shape
//! of a chat service's incoming webhook (Slack, Discord, Teams Workflows, Mattermost), each read
//! back with that service's own idea of success and failure.

use std::collections::HashMap;
use std::path::Path;

use async_trait::async_trait;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, KeyInit, Mac};
use reqwest::StatusCode;
use reqwest::header::{CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue};
use serde_json::json;
use sha2::{Digest, Sha256};

use super::{Channel, Failure, Post, Receipt, classify_transport, retry_after, short_body};
use crate::config::{UrlSource, WebhookFormat, WebhookSettings};
use crate::update::Update;
use crate::wording::render::Facts;

/// The version of the JSON event's shape. Bump it when a field changes meaning or goes away.
pub const EVENT_VERSION: u32 = 1;

pub struct Webhook {
    /// The configured `url`, for the target `""`.
    url: Option<reqwest::Url>,
    /// The subscribers of `urls_file`, by target.
    subscribers: HashMap<String, reqwest::Url>,
    format: WebhookFormat,
    key: Option<Vec<u8>>,
    headers: HeaderMap,
    http: reqwest::Client,
}

impl Webhook {
    pub fn new(
        channel: &str,
        settings: &WebhookSettings,
        http: reqwest::Client,
    ) -> anyhow::Result<Webhook> {
        let url = match &settings.url {
            None => None,
            Some(UrlSource::Literal(url)) => Some(url.clone()),
            Some(UrlSource::Env(source)) => {
                let text = source.resolve(channel, "url")?;
                // The message must not echo the value: the URL carries a token.
                Some(crate::config::check_url(&text).map_err(|_| {
                    anyhow::anyhow!(
                        "channel `{channel}`: url_env does not hold an http(s) URL; check its value"
                    )
                })?)
            }
        };
        let subscribers = match &settings.urls_file {
            None => HashMap::new(),
            Some(path) => read_subscribers(path)?.into_iter().collect(),
        };
        let with_wait = |mut url: reqwest::Url| {
            if settings.format == WebhookFormat::Discord {
                url.query_pairs_mut().append_pair("wait", "true");
            }
            url
        };
        let url = url.map(with_wait);
        let subscribers = subscribers
            .into_iter()
            .map(|(target, url)| (target, with_wait(url)))
            .collect();
        let key = match &settings.secret {
            None => None,
            Some(source) => {
                let secret = source.resolve(channel, "secret")?;
                Some(signing_key(&secret).map_err(|why| {
                    anyhow::anyhow!("channel `{channel}`: the webhook secret {why}")
                })?)
            }
        };
        let mut headers = HeaderMap::new();
        for (name, value) in &settings.headers {
            headers.insert(
                HeaderName::from_bytes(name.as_bytes())?,
                HeaderValue::from_str(value)?,
            );
        }
        Ok(Webhook {
            url,
            subscribers,
            format: settings.format,
            key,
            headers,
            http,
        })
    }
}

#[async_trait]
impl Channel for Webhook {
    async fn deliver(&self, post: &Post) -> Result<Receipt, Failure> {
        let url = match post.target.as_str() {
            "" => self.url.as_ref(),
            target => self.subscribers.get(target),
        }
        .ok_or_else(|| {
            Failure::Permanent(format!(
                "{} is no longer in urls_file; nothing to send it to",
                post.target
            ))
        })?;
        let body = post.rendering.body.clone().unwrap_or_default();
        let timestamp = jiff::Timestamp::now().as_second();
        let mut request = self
            .http
            .post(url.clone())
            .headers(self.headers.clone())
            .header(CONTENT_TYPE, "application/json")
            .header("webhook-id", &post.delivery_id)
            .header("webhook-timestamp", timestamp.to_string());
        if let Some(key) = &self.key {
            let signature = sign(key, &post.delivery_id, timestamp, body.as_bytes());
            request = request.header("webhook-signature", signature);
        }
        let response = request
            .body(body)
            .send()
            .await
            .map_err(classify_transport)?;
        let status = response.status();
        let headers = response.headers().clone();
        let text = response
            .text()
            .await
            .map_err(|err| Failure::Unknown(format!("the answer was cut off: {err}")))?;
        read_answer(self.format, status, &headers, &text)
    }

    fn repeat_is_safe(&self) -> bool {
        // Standard Webhooks receivers drop a repeated `webhook-id`; chat services would post twice.
        self.format == WebhookFormat::Json
    }
}

/// Reads a subscriber list: one URL a line, blank lines and `#` comments skipped. Each URL is
/// named by its host and a digest of the whole URL, so the journal and the report never show a
/// token a subscriber URL may carry, while `retry` still finds the same subscriber.
pub fn read_subscribers(path: &Path) -> anyhow::Result<Vec<(String, reqwest::Url)>> {
    let text = std::fs::read_to_string(path)
        .map_err(|err| anyhow::anyhow!("urls_file {}: {err}", path.display()))?;
    let mut subscribers: Vec<(String, reqwest::Url)> = Vec::new();
    for (number, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let url = crate::config::check_url(line).map_err(|_| {
            anyhow::anyhow!(
                "{}:{}: not an http(s) URL; fix or remove the line",
                path.display(),
                number + 1
            )
        })?;
        let digest = Sha256::digest(url.as_str().as_bytes());
        let hex: String = digest[..6]
            .iter()
            .map(|byte| format!("{byte:02x}"))
            .collect();
        let target = format!("{}#{hex}", url.host_str().unwrap_or("?"));
        if !subscribers.iter().any(|(known, _)| known == &target) {
            subscribers.push((target, url));
        }
    }
    Ok(subscribers)
}

/// The key Standard Webhooks signs with: the base64 after `whsec_`.
pub fn signing_key(secret: &str) -> Result<Vec<u8>, &'static str> {
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
pub fn sign(key: &[u8], id: &str, timestamp: i64, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
}

/// Builds the exact body for a format from the rendered text and the facts.
pub fn payload(format: WebhookFormat, text: &str, facts: &Facts, update: &Update) -> String {
    let value = match format {
        WebhookFormat::Json => event(text, facts, update),
        WebhookFormat::Slack => {
            let fallback = format!("{}: {}", facts.status_label, facts.title);
            json!({
                "text": fallback,
                "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": text}}],
            })
        }
        WebhookFormat::Discord => json!({
            "content": text,
            "allowed_mentions": {"parse": []},
        }),
        WebhookFormat::Teams => json!({
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
        WebhookFormat::Mattermost => json!({"text": text}),
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
    let time = |at: Option<jiff::Timestamp>| at.map(|at| at.to_string());
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
            "status_label": update.status.label(),
            "message": update.message,
            "eta": time(update.eta),
            "next_update": time(update.next_update),
            "starts": time(update.starts),
            "ends": time(update.ends),
            "compensation": update.compensation,
            "correction": update.correction,
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

/// Reads a service's answer by that service's rules.
fn read_answer(
    format: WebhookFormat,
    status: StatusCode,
    headers: &HeaderMap,
    body: &str,
) -> Result<Receipt, Failure> {
    let service = match format {
        WebhookFormat::Json => "the receiver",
        WebhookFormat::Slack => "Slack",
        WebhookFormat::Discord => "Discord",
        WebhookFormat::Teams => "Teams",
        WebhookFormat::Mattermost => "Mattermost",
    };
    let reason = error_reason(format, body);
    if status.is_success() {
        return match format {
            WebhookFormat::Slack | WebhookFormat::Mattermost if body.trim() != "ok" => {
                Err(Failure::Permanent(format!(
                    "{service} answered {status} `{reason}` instead of `ok`"
                )))
            }
            WebhookFormat::Teams if body.contains("429") => Err(Failure::RateLimited {
                message: format!("Teams is throttling this webhook: {reason}"),
                retry_after: retry_after(headers),
            }),
            WebhookFormat::Discord => Ok(Receipt {
                remote_id: serde_json::from_str::<serde_json::Value>(body)
                    .ok()
                    .and_then(|message| message["id"].as_str().map(str::to_owned)),
                ..Receipt::default()
            }),
            _ => Ok(Receipt::default()),
        };
    }
    let code = status.as_u16();
    let message = format!("{service} answered {status}: {reason}");
    Err(match code {
        429 => Failure::RateLimited {
            message,
            retry_after: retry_after(headers).or_else(|| discord_retry_after(body)),
        },
        410 => Failure::Permanent(format!(
            "{message}; the endpoint is gone, remove it or replace the url"
        )),
        408 | 502..=504 => Failure::RateLimited {
            message,
            retry_after: retry_after(headers),
        },
        500..=599 => Failure::Transient(message),
        300..=399 => Failure::Permanent(format!(
            "{message}; redirects are not followed, use the final url"
        )),
        401 | 403 => Failure::Permanent(format!("{message}; check the webhook url or its token")),
        404 => Failure::Permanent(format!(
            "{message}; the webhook does not exist, check the url"
        )),
        _ => Failure::Permanent(message),
    })
}

fn error_reason(format: WebhookFormat, body: &str) -> String {
    let parsed: Option<serde_json::Value> = serde_json::from_str(body).ok();
    let field = |name: &str| {
        parsed
            .as_ref()
            .and_then(|value| value[name].as_str().map(str::to_owned))
    };
    let reason = match format {
        WebhookFormat::Discord => match (field("message"), parsed.as_ref().map(|v| &v["code"])) {
            (Some(message), Some(code)) if code.is_number() => {
                Some(format!("{message} (code {code})"))
            }
            (message, _) => message,
        },
        WebhookFormat::Mattermost => field("message"),
        _ => None,
    };
    let reason = reason.unwrap_or_else(|| short_body(body));
    if reason.is_empty() {
        "no details".into()
    } else {
        reason
    }
}

fn discord_retry_after(body: &str) -> Option<std::time::Duration> {
    let value: serde_json::Value = serde_json::from_str(body).ok()?;
    let seconds = value["retry_after"].as_f64()?;
    (seconds.is_finite() && seconds >= 0.0).then(|| std::time::Duration::from_secs_f64(seconds))
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

    #[test]
    fn a_secret_that_is_not_base64_is_refused() {
        assert!(signing_key("whsec_not base64!").is_err());
    }

    #[test]
    fn answers_are_read_per_service() {
        let none = HeaderMap::new();
        let ok = read_answer(WebhookFormat::Slack, StatusCode::OK, &none, "ok");
        assert_eq!(ok, Ok(Receipt::default()));
        let archived = read_answer(
            WebhookFormat::Slack,
            StatusCode::GONE,
            &none,
            "channel_is_archived",
        );
        assert!(
            matches!(archived, Err(Failure::Permanent(m)) if m.contains("channel_is_archived"))
        );
        let mut retry = HeaderMap::new();
        retry.insert("retry-after", HeaderValue::from_static("2"));
        let limited = read_answer(
            WebhookFormat::Json,
            StatusCode::TOO_MANY_REQUESTS,
            &retry,
            "",
        );
        assert!(matches!(
            limited,
            Err(Failure::RateLimited { retry_after: Some(wait), .. }) if wait.as_secs() == 2
        ));
        let discord = read_answer(
            WebhookFormat::Discord,
            StatusCode::OK,
            &none,
            r#"{"id":"42"}"#,
        );
        assert_eq!(discord.unwrap().remote_id.as_deref(), Some("42"));
        let unknown = read_answer(
            WebhookFormat::Discord,
            StatusCode::NOT_FOUND,
            &none,
            r#"{"message": "Unknown Webhook", "code": 10015}"#,
        );
        assert!(
            matches!(unknown, Err(Failure::Permanent(m)) if m.contains("Unknown Webhook (code 10015)"))
        );
        assert!(matches!(
            read_answer(WebhookFormat::Json, StatusCode::BAD_GATEWAY, &none, ""),
            Err(Failure::RateLimited {
                retry_after: None,
                ..
            })
        ));
        assert!(matches!(
            read_answer(
                WebhookFormat::Json,
                StatusCode::INTERNAL_SERVER_ERROR,
                &none,
                ""
            ),
            Err(Failure::Transient(_))
        ));
    }
}
