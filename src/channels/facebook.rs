//! The Facebook Page kind: `POST /{version}/{page_id}/feed`, follow-ups as comments on the
//! incident's first post (or new posts), with the Page token in the form body so it never
//! appears in a URL or a log.
//!
//! Permissions (../shared/reference/apis.md §3, §11): posting needs `pages_manage_posts` and
//! `pages_read_engagement` (with `pages_show_list`) and the CREATE_CONTENT task; commenting as the
//! Page needs `pages_manage_engagement` and the MODERATE task as well. A comment refused for a
//! permission (codes 10, 200–299) becomes a new Page post that says it follows up the incident,
//! and the report says so.
//!
//! Graph errors are read from the error object: codes 1, 2 and `is_transient` are passing faults;
//! 4, 17, 32, 613 and 80001 are throttling, whose wait is in `X-Business-Use-Case-Usage`
//! (`estimated_time_to_regain_access`, minutes), never in `Retry-After`; 190 is an expired or
//! invalid token; 506 a duplicate post; anything else is permanent, in Facebook's own words.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use hmac::{Hmac, KeyInit, Mac};
use reqwest::header::{AUTHORIZATION, HeaderMap};
use serde::Deserialize;
use sha2::Sha256;

use super::http::{Answer, classify_transport, read_body, retry_after};
use super::{BuildCx, Channel, Failure, Kind, Post, Receipt, RenderCx, Rendering};
use crate::config::{self, SecretSource};
use crate::wording::fit::Measure;
use crate::wording::rules::Finding;

const LIMIT: usize = 63206;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
enum FollowUps {
    /// Comment on the incident's first post.
    Comment,
    /// A new post each time.
    Post,
}

#[derive(Debug, Clone)]
pub(crate) struct Facebook {
    graph_base: reqwest::Url,
    api_version: String,
    page_id: String,
    page_token: SecretSource,
    app_secret: Option<SecretSource>,
    follow_ups: FollowUps,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    graph_base: Option<String>,
    #[serde(default = "graph_version")]
    api_version: String,
    page_id: String,
    page_token_env: Option<String>,
    page_token_file: Option<PathBuf>,
    app_secret_env: Option<String>,
    app_secret_file: Option<PathBuf>,
    #[serde(default = "comment")]
    follow_ups: FollowUps,
}

fn graph_version() -> String {
    "v25.0".into()
}

fn comment() -> FollowUps {
    FollowUps::Comment
}

pub(crate) fn parse(rest: toml::Table, base: &Path) -> anyhow::Result<Arc<dyn Kind>> {
    let raw: Raw = config::kind_settings(rest, "facebook", &["page_token", "app_secret", "token"])?;
    if raw.page_id.is_empty() || !raw.page_id.chars().all(|c| c.is_ascii_digit()) {
        anyhow::bail!("page_id must be the Page's numeric id (Page settings -> About -> Page ID)");
    }
    if !raw.api_version.starts_with('v') || !raw.api_version.ends_with(".0") {
        anyhow::bail!("api_version must look like v25.0");
    }
    Ok(Arc::new(Facebook {
        graph_base: config::api_base(
            raw.graph_base.as_deref(),
            "https://graph.facebook.com",
            "graph_base",
        )?,
        api_version: raw.api_version,
        page_id: raw.page_id,
        page_token: config::secret_source(
            "page_token",
            raw.page_token_env,
            raw.page_token_file,
            base,
        )?
        .ok_or_else(|| {
            anyhow::anyhow!("missing page_token_env: a Page access token is needed to post")
        })?,
        app_secret: config::secret_source(
            "app_secret",
            raw.app_secret_env,
            raw.app_secret_file,
            base,
        )?,
        follow_ups: raw.follow_ups,
    }))
}

impl Kind for Facebook {
    fn uses_https(&self) -> bool {
        self.graph_base.scheme() == "https"
    }

    fn name(&self) -> &'static str {
        "facebook"
    }

    fn threads(&self) -> bool {
        true
    }

    fn secrets(&self) -> Vec<(&'static str, &SecretSource)> {
        let mut secrets = vec![("page_token", &self.page_token)];
        secrets.extend(self.app_secret.iter().map(|source| ("app_secret", source)));
        secrets
    }

    fn render(&self, cx: &RenderCx<'_>) -> Result<Rendering, Finding> {
        let facts = cx.facts();
        let text = cx.fitted("plain.txt", &facts, Measure::Chars(LIMIT))?;
        // A follow-up that cannot be a comment goes out as a Page post: it must say what it
        // follows up.
        let fallback =
            (cx.update.sequence > 1 && self.follow_ups == FollowUps::Comment).then(|| {
                format!(
                    "Follow-up to our earlier post on this incident (update {}):\n\n{text}",
                    cx.update.sequence
                )
            });
        Ok(Rendering {
            text,
            fallback,
            ..Rendering::default()
        })
    }

    fn build(&self, cx: &BuildCx<'_>, channel: &str) -> anyhow::Result<Arc<dyn Channel>> {
        let token = cx.secret(channel, "page_token", &self.page_token)?;
        let proof = match &self.app_secret {
            Some(source) => Some(appsecret_proof(
                &cx.secret(channel, "app_secret", source)?,
                &token,
            )),
            None => None,
        };
        let graph = self
            .graph_base
            .join(&format!("{}/", self.api_version))
            .map_err(|err| anyhow::anyhow!("channel `{channel}`: graph_base: {err}"))?;
        Ok(Arc::new(Poster {
            graph,
            page_id: self.page_id.clone(),
            token,
            proof,
            follow_ups: self.follow_ups,
            link: cx.organization.status_url.clone(),
            http: cx.http()?,
        }))
    }
}

struct Poster {
    graph: reqwest::Url,
    page_id: String,
    token: String,
    proof: Option<String>,
    follow_ups: FollowUps,
    link: Option<String>,
    http: reqwest::Client,
}

/// hex(HMAC-SHA256(key = app secret, message = access token)).
pub(crate) fn appsecret_proof(app_secret: &str, token: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(app_secret.as_bytes()).expect("any key");
    mac.update(token.as_bytes());
    crate::digest::hex(&mac.finalize().into_bytes())
}

impl Poster {
    /// One write: the message in the form body with the token (and the proof).
    async fn write(&self, edge: &str, message: &str, link: bool) -> Result<Answer, Failure> {
        let mut form = vec![("message", message), ("access_token", self.token.as_str())];
        if let Some(proof) = &self.proof {
            form.push(("appsecret_proof", proof.as_str()));
        }
        if let (true, Some(url)) = (link, &self.link) {
            form.push(("link", url.as_str()));
        }
        let url = self.graph.join(edge).expect("a valid path");
        let response = self
            .http
            .post(url)
            .form(&form)
            .send()
            .await
            .map_err(classify_transport)?;
        read_body(response, "Facebook").await
    }

    fn page_post(&self, answer: &Answer, note: Option<String>) -> Receipt {
        match answer.json()["id"].as_str() {
            Some(id) => Receipt {
                remote_id: Some(id.to_owned()),
                url: Some(format!("https://www.facebook.com/{id}")),
                note,
                ..Receipt::default()
            },
            None => Receipt {
                note: Some(format!(
                    "Facebook answered {} without an id ({}); follow-ups will start a new post",
                    answer.status,
                    answer.short()
                )),
                ..Receipt::default()
            },
        }
    }
}

#[async_trait]
impl Channel for Poster {
    async fn deliver(&self, post: &Post) -> Result<Receipt, Failure> {
        let text = post.rendering.text.as_str();
        let feed = format!("{}/feed", self.page_id);
        let root = match (&post.thread, self.follow_ups) {
            (Some(thread), FollowUps::Comment) => thread.first_remote_id.clone(),
            _ => {
                let answer = self.write(&feed, text, true).await?;
                return match answer.status.is_success() {
                    true => Ok(self.page_post(&answer, None)),
                    false => Err(graph_failure(&answer)),
                };
            }
        };
        let answer = self.write(&format!("{root}/comments"), text, false).await?;
        if answer.status.is_success() {
            return Ok(match answer.json()["id"].as_str() {
                Some(id) => Receipt {
                    remote_id: Some(id.to_owned()),
                    url: Some(format!("https://www.facebook.com/{root}?comment_id={id}")),
                    ..Receipt::default()
                },
                None => self.page_post(&answer, None),
            });
        }
        let code = answer.json()["error"]["code"].as_i64();
        if matches!(code, Some(10 | 200..=299)) {
            // Without the right to comment as the Page, the update still has to go out.
            let body = answer.json();
            let why = format!(
                "{} (code {})",
                body["error"]["message"].as_str().unwrap_or("no details"),
                code.unwrap_or_default()
            );
            let fallback = post.rendering.fallback.as_deref().unwrap_or(text);
            let standalone = self.write(&feed, fallback, true).await?;
            if standalone.status.is_success() {
                return Ok(self.page_post(
                    &standalone,
                    Some(format!(
                        "Facebook refused the comment: {why}; commenting as the Page needs \
                         pages_manage_engagement and the MODERATE task; posted as a new Page post"
                    )),
                ));
            }
            return Err(graph_failure(&standalone));
        }
        Err(graph_failure(&answer))
    }

    async fn check(&self) -> Result<String, Failure> {
        // `GET /me` answers the Page itself only for a Page token; a User token answers the user.
        let mut url = self.graph.join("me").expect("a valid path");
        url.query_pairs_mut().append_pair("fields", "id,name");
        if let Some(proof) = &self.proof {
            url.query_pairs_mut().append_pair("appsecret_proof", proof);
        }
        let response = self
            .http
            .get(url)
            .header(AUTHORIZATION, format!("OAuth {}", self.token))
            .send()
            .await
            .map_err(classify_transport)?;
        let answer = read_body(response, "Facebook").await?;
        let body = answer.json();
        match (body["id"].as_str(), body["name"].as_str()) {
            (Some(id), Some(name)) if answer.status.is_success() && id == self.page_id => {
                Ok(format!("posts to the Page \"{name}\""))
            }
            (Some(id), name) if answer.status.is_success() => Err(Failure::permanent(format!(
                "the token belongs to {} ({id}), not to the Page {}: use a Page access token \
                 (Graph API Explorer -> GET /me/accounts -> the Page's access_token)",
                name.unwrap_or("someone else"),
                self.page_id
            ))),
            _ => Err(graph_failure(&answer)),
        }
    }
}

/// The wait Facebook announces for a throttled Page token, in `X-Business-Use-Case-Usage`.
fn regain_access(headers: &HeaderMap) -> Option<Duration> {
    let usage: serde_json::Value =
        serde_json::from_str(headers.get("x-business-use-case-usage")?.to_str().ok()?).ok()?;
    let minutes = usage
        .as_object()?
        .values()
        .filter_map(serde_json::Value::as_array)
        .flatten()
        .filter_map(|entry| entry["estimated_time_to_regain_access"].as_u64())
        .max()?;
    Some(Duration::from_secs(minutes.min(24 * 60) * 60))
}

fn graph_failure(answer: &Answer) -> Failure {
    let body = answer.json();
    let error = &body["error"];
    let status = answer.status;
    let Some(code) = error["code"].as_i64() else {
        let message = format!("Facebook answered {status}: {}", answer.short());
        return if status.is_server_error() {
            Failure::transient(message)
        } else {
            Failure::permanent(message)
        };
    };
    let text = error["message"].as_str().unwrap_or("no details");
    let message = format!("Facebook answered {status}: {text} (code {code})");
    match code {
        190 => Failure::permanent(format!(
            "{message}; the Page token expired or was revoked, create a new Page access token"
        )),
        506 => Failure::permanent(format!("{message}; Facebook refuses a duplicate post")),
        10 | 200..=299 => Failure::permanent(format!(
            "{message}; the token lacks a permission: posting needs pages_manage_posts and \
             pages_read_engagement, commenting pages_manage_engagement"
        )),
        4 | 17 | 32 | 613 | 80001 => Failure::rate_limited(
            message,
            regain_access(&answer.headers).or_else(|| retry_after(&answer.headers)),
        ),
        _ if error["is_transient"].as_bool() == Some(true) || matches!(code, 1 | 2) => {
            Failure::transient(message)
        }
        _ => Failure::permanent(message),
    }
}

#[cfg(test)]
mod tests {
    use reqwest::StatusCode;
    use reqwest::header::HeaderValue;

    use super::*;

    #[test]
    fn appsecret_proof_is_hex_hmac_sha256_of_the_token() {
        // HMAC-SHA256("key", "The quick brown fox jumps over the lazy dog"), RFC 4231 style check.
        assert_eq!(
            appsecret_proof("key", "The quick brown fox jumps over the lazy dog"),
            "f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8"
        );
    }

    fn answer(status: u16, body: serde_json::Value, headers: HeaderMap) -> Answer {
        Answer {
            status: StatusCode::from_u16(status).unwrap(),
            headers,
            body: body.to_string(),
        }
    }

    #[test]
    fn graph_errors_are_classified_by_code() {
        let error = |code: i64, transient: bool| serde_json::json!({"error": {"message": "m", "type": "OAuthException", "code": code, "is_transient": transient, "fbtrace_id": "x"}});
        let failure =
            |code, transient| graph_failure(&answer(400, error(code, transient), HeaderMap::new()));
        assert!(
            failure(190, false).is_permanent()
                && failure(190, false).message.contains("Page token expired")
        );
        assert!(failure(506, false).message.contains("duplicate"));
        assert!(
            failure(200, false)
                .message
                .contains("pages_manage_engagement")
        );
        assert!(failure(32, false).is_rate_limited());
        assert!(failure(100, true).is_transient());
        assert_eq!(
            failure(100, false).message,
            "Facebook answered 400 Bad Request: m (code 100)"
        );
        assert!(
            graph_failure(&answer(502, serde_json::Value::Null, HeaderMap::new())).is_transient()
        );
    }

    #[test]
    fn throttling_waits_for_the_business_use_case_estimate() {
        let mut headers = HeaderMap::new();
        headers.insert(
            "x-business-use-case-usage",
            HeaderValue::from_static(r#"{"1043":[{"type":"pages","call_count":100,"total_cputime":20,"total_time":30,"estimated_time_to_regain_access":7}]}"#),
        );
        let body =
            serde_json::json!({"error": {"message": "(#80001) too many calls", "code": 80001}});
        let failure = graph_failure(&answer(400, body, headers));
        assert_eq!(failure.retry_after, Some(Duration::from_secs(7 * 60)));
    }
}
