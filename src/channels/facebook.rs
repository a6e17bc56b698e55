//! The Facebook Page channel: `POST /{version}/{page_id}/feed`, follow-ups as comments on the
//! incident's first post (or new posts), with the Page token in the form body so it never
//! appears in a URL or a log.
//!
//! Graph errors are read from the error object (../shared/reference/apis.md §3): codes 1, 2, 4,
//! 17, 32, 613, 80001 and `is_transient` are throttling or passing faults and are retried; 190 is
//! an expired or invalid token; 506 a duplicate post; anything else is permanent, in Facebook's
//! own words.

use async_trait::async_trait;
use hmac::{Hmac, KeyInit, Mac};
use reqwest::header::AUTHORIZATION;
use sha2::Sha256;

use super::{Channel, Failure, Post, Receipt, classify_transport, retry_after, short_body};
use crate::config::{FacebookSettings, FollowUps};

pub struct Facebook {
    graph: reqwest::Url,
    page_id: String,
    token: String,
    proof: Option<String>,
    follow_ups: FollowUps,
    link: Option<String>,
    http: reqwest::Client,
}

impl Facebook {
    pub fn new(
        channel: &str,
        settings: &FacebookSettings,
        link: Option<String>,
        http: reqwest::Client,
    ) -> anyhow::Result<Facebook> {
        let token = settings.page_token.resolve(channel, "page_token")?;
        let proof = match &settings.app_secret {
            Some(source) => Some(appsecret_proof(
                &source.resolve(channel, "app_secret")?,
                &token,
            )),
            None => None,
        };
        let graph = settings
            .graph_base
            .join(&format!("{}/", settings.api_version))
            .map_err(|err| anyhow::anyhow!("channel `{channel}`: graph_base: {err}"))?;
        Ok(Facebook {
            graph,
            page_id: settings.page_id.clone(),
            token,
            proof,
            follow_ups: settings.follow_ups,
            link,
            http,
        })
    }

    fn form<'a>(&'a self, message: &'a str) -> Vec<(&'a str, &'a str)> {
        let mut form = vec![("message", message), ("access_token", self.token.as_str())];
        if let Some(proof) = &self.proof {
            form.push(("appsecret_proof", proof.as_str()));
        }
        form
    }
}

/// hex(HMAC-SHA256(key = app secret, message = access token)).
pub fn appsecret_proof(app_secret: &str, token: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(app_secret.as_bytes()).expect("any key");
    mac.update(token.as_bytes());
    mac.finalize()
        .into_bytes()
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

#[async_trait]
impl Channel for Facebook {
    async fn deliver(&self, post: &Post) -> Result<Receipt, Failure> {
        let message = post.rendering.text.as_str();
        let root = match (&post.thread, self.follow_ups) {
            (Some(thread), FollowUps::Comment) => Some(thread.first_remote_id.as_str()),
            _ => None,
        };
        let mut form = self.form(message);
        let url = match root {
            Some(root) => self.graph.join(&format!("{root}/comments")),
            None => {
                if let Some(link) = &self.link {
                    form.push(("link", link.as_str()));
                }
                self.graph.join(&format!("{}/feed", self.page_id))
            }
        }
        .expect("a valid path");
        let response = self
            .http
            .post(url)
            .form(&form)
            .send()
            .await
            .map_err(classify_transport)?;
        let status = response.status();
        let headers = response.headers().clone();
        let raw = response
            .text()
            .await
            .map_err(|err| Failure::Unknown(format!("Facebook's answer was cut off: {err}")))?;
        let body: serde_json::Value = serde_json::from_str(&raw).unwrap_or_default();
        if status.is_success() {
            let Some(id) = body["id"].as_str() else {
                return Ok(Receipt {
                    note: Some(format!(
                        "Facebook answered {status} without an id ({}); follow-ups will start a new post",
                        short_body(&raw)
                    )),
                    ..Receipt::default()
                });
            };
            let url = match root {
                Some(root) => format!("https://www.facebook.com/{root}?comment_id={id}"),
                None => format!("https://www.facebook.com/{id}"),
            };
            return Ok(Receipt {
                remote_id: Some(id.to_owned()),
                url: Some(url),
                note: None,
            });
        }
        Err(graph_failure(status, &headers, &body, &raw))
    }

    async fn check(&self) -> Result<String, Failure> {
        let mut url = self.graph.join(&self.page_id).expect("a valid path");
        url.query_pairs_mut().append_pair("fields", "name");
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
        let status = response.status();
        let headers = response.headers().clone();
        let raw = response.text().await.unwrap_or_default();
        let body: serde_json::Value = serde_json::from_str(&raw).unwrap_or_default();
        match body["name"].as_str() {
            Some(name) if status.is_success() => Ok(format!("posts to the Page \"{name}\"")),
            _ => Err(graph_failure(status, &headers, &body, &raw)),
        }
    }
}

fn graph_failure(
    status: reqwest::StatusCode,
    headers: &reqwest::header::HeaderMap,
    body: &serde_json::Value,
    raw: &str,
) -> Failure {
    let error = &body["error"];
    let Some(code) = error["code"].as_i64() else {
        let message = format!("Facebook answered {status}: {}", short_body(raw));
        return if status.is_server_error() {
            Failure::Transient(message)
        } else {
            Failure::Permanent(message)
        };
    };
    let text = error["message"].as_str().unwrap_or("no details");
    let message = format!("Facebook answered {status}: {text} (code {code})");
    match code {
        190 => Failure::Permanent(format!(
            "{message}; the Page token expired or was revoked, create a new Page access token"
        )),
        506 => Failure::Permanent(format!("{message}; Facebook refuses a duplicate post")),
        4 | 17 | 32 | 613 | 80001 => Failure::RateLimited {
            message,
            retry_after: retry_after(headers),
        },
        _ if error["is_transient"].as_bool() == Some(true) || matches!(code, 1 | 2) => {
            Failure::Transient(message)
        }
        _ => Failure::Permanent(message),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn appsecret_proof_is_hex_hmac_sha256_of_the_token() {
        // HMAC-SHA256("key", "The quick brown fox jumps over the lazy dog"), RFC 4231 style check.
        assert_eq!(
            appsecret_proof("key", "The quick brown fox jumps over the lazy dog"),
            "f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8"
        );
    }

    #[test]
    fn graph_errors_are_classified_by_code() {
        let none = reqwest::header::HeaderMap::new();
        let error = |code: i64, transient: bool| serde_json::json!({"error": {"message": "m", "type": "OAuthException", "code": code, "is_transient": transient, "fbtrace_id": "x"}});
        let status = reqwest::StatusCode::BAD_REQUEST;
        assert!(
            matches!(graph_failure(status, &none, &error(190, false), ""), Failure::Permanent(m) if m.contains("Page token expired"))
        );
        assert!(
            matches!(graph_failure(status, &none, &error(506, false), ""), Failure::Permanent(m) if m.contains("duplicate"))
        );
        assert!(matches!(
            graph_failure(status, &none, &error(32, false), ""),
            Failure::RateLimited { .. }
        ));
        assert!(matches!(
            graph_failure(status, &none, &error(100, true), ""),
            Failure::Transient(_)
        ));
        assert!(
            matches!(graph_failure(status, &none, &error(100, false), ""), Failure::Permanent(m) if m == "Facebook answered 400 Bad Request: m (code 100)")
        );
        assert!(matches!(
            graph_failure(
                reqwest::StatusCode::BAD_GATEWAY,
                &none,
                &serde_json::Value::Null,
                "<html>"
            ),
            Failure::Transient(_)
        ));
    }
}
