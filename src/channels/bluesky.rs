//! The Bluesky kind: an `app.bsky.feed.post` record made with `com.atproto.repo.createRecord`
//! on the account's PDS, signed in with an app password (one session a process, refreshed when
//! the server says `ExpiredToken`), follow-ups replying to the incident's thread, and an update
//! whose facts do not fit 300 graphemes continued as replies to itself.
//!
//! Per ../shared/reference/apis.md §6: links are not detected by the server, so each URL gets a
//! link facet whose indices are UTF-8 byte offsets (end exclusive); a reply names its thread's
//! root and its parent, each a strong reference `{uri, cid}`, which the journal keeps as the
//! post's remote id (`<uri> <cid>`); errors are `{"error", "message"}`; 429
//! `RateLimitExceeded` with `RateLimit-Reset` in epoch seconds.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE};
use serde::Deserialize;
use serde_json::{Value, json};

use super::http::{Answer, classify_transport, read_body, until_epoch};
use super::{BuildCx, Channel, Failure, Kind, Post, Receipt, RenderCx, Rendering};
use crate::config::{self, SecretSource};
use crate::wording::count;
use crate::wording::fit::Measure;
use crate::wording::rules::Finding;

const LIMIT: Measure = Measure::Graphemes {
    limit: 300,
    bytes: 3000,
};

#[derive(Debug, Clone)]
pub(crate) struct Bluesky {
    handle: String,
    password: SecretSource,
    pds: reqwest::Url,
    language: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    handle: String,
    app_password_env: Option<String>,
    app_password_file: Option<PathBuf>,
    pds: Option<String>,
    language: Option<String>,
}

pub(crate) fn parse(rest: toml::Table, base: &Path) -> anyhow::Result<Arc<dyn Kind>> {
    let raw: Raw = config::kind_settings(rest, "bluesky", &["app_password"])?;
    let handle = raw.handle.trim_start_matches('@').to_owned();
    if !handle.contains('.') || handle.chars().any(|c| c.is_whitespace() || c == '/') {
        anyhow::bail!(
            "handle `{}` must be a domain such as status.example.com",
            raw.handle
        );
    }
    let password = config::secret_source(
        "app_password",
        raw.app_password_env,
        raw.app_password_file,
        base,
    )?
    .ok_or_else(|| {
        anyhow::anyhow!(
            "bluesky needs app_password_env: in the Bluesky app, Settings -> Privacy and \
             security -> App passwords -> Add App Password (never the account's own password)"
        )
    })?;
    let pds = config::api_base(raw.pds.as_deref(), "https://bsky.social", "pds")?;
    let language = raw.language.unwrap_or_else(|| "en".to_owned());
    if language.is_empty()
        || language.len() > 12
        || !language
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-')
    {
        anyhow::bail!("language `{language}` must be a language tag such as \"en\"");
    }
    Ok(Arc::new(Bluesky {
        handle,
        password,
        pds,
        language,
    }))
}

impl Kind for Bluesky {
    fn uses_https(&self) -> bool {
        self.pds.scheme() == "https"
    }

    fn name(&self) -> &'static str {
        "bluesky"
    }

    fn threads(&self) -> bool {
        true
    }

    fn secrets(&self) -> Vec<(&'static str, &SecretSource)> {
        vec![("app_password", &self.password)]
    }

    fn render(&self, cx: &RenderCx<'_>) -> Result<Rendering, Finding> {
        cx.threaded("short.txt", &cx.facts(), LIMIT)
    }

    fn build(&self, cx: &BuildCx<'_>, channel: &str) -> anyhow::Result<Arc<dyn Channel>> {
        Ok(Arc::new(Poster {
            handle: self.handle.clone(),
            password: cx.secret(channel, "app_password", &self.password)?,
            pds: self.pds.clone(),
            language: self.language.clone(),
            http: cx.http()?,
            session: tokio::sync::Mutex::new(None),
        }))
    }
}

#[derive(Clone)]
struct Session {
    access: String,
    refresh: String,
    did: String,
}

struct Poster {
    handle: String,
    password: String,
    pds: reqwest::Url,
    language: String,
    http: reqwest::Client,
    /// One session a process: Bluesky limits sign-ins far more than posts.
    session: tokio::sync::Mutex<Option<Session>>,
}

/// A strong reference to a post: what a reply names.
#[derive(Clone, Debug, PartialEq, Eq)]
struct StrongRef {
    uri: String,
    cid: String,
}

impl StrongRef {
    /// From a remote id as the journal keeps it.
    fn parse(remote_id: &str) -> Option<StrongRef> {
        let (uri, cid) = remote_id.split_once(' ')?;
        Some(StrongRef {
            uri: uri.to_owned(),
            cid: cid.to_owned(),
        })
    }

    fn remote_id(&self) -> String {
        format!("{} {}", self.uri, self.cid)
    }

    fn json(&self) -> Value {
        json!({ "uri": self.uri, "cid": self.cid })
    }
}

/// The XRPC error name and message, or the raw body.
fn detail(answer: &Answer) -> (String, String) {
    let body = answer.json();
    let error = body["error"].as_str().unwrap_or_default().to_owned();
    let message = body["message"]
        .as_str()
        .map_or_else(|| answer.short(), str::to_owned);
    (error, message)
}

fn failure(answer: &Answer, what: &str) -> Failure {
    let (error, text) = detail(answer);
    let message = format!(
        "Bluesky answered {} to {what}: {error} {text}",
        answer.status
    );
    match answer.status.as_u16() {
        401 => Failure::permanent(format!("{message}; check the handle and the app password")),
        429 => Failure::rate_limited(
            message,
            answer
                .headers
                .get("ratelimit-reset")
                .and_then(|value| value.to_str().ok())
                .and_then(until_epoch),
        ),
        500..=599 => Failure::transient(message),
        _ => Failure::permanent(message),
    }
}

fn is_expired(answer: &Answer) -> bool {
    answer.status.as_u16() == 400 && detail(answer).0 == "ExpiredToken"
}

impl Poster {
    async fn xrpc(
        &self,
        method: &str,
        bearer: Option<&str>,
        body: Option<Value>,
    ) -> Result<Answer, Failure> {
        let url = self
            .pds
            .join(&format!("xrpc/{method}"))
            .expect("a valid path");
        let mut request = self.http.post(url);
        if let Some(token) = bearer {
            request = request.header(AUTHORIZATION, format!("Bearer {token}"));
        }
        if let Some(body) = body {
            request = request
                .header(CONTENT_TYPE, "application/json")
                .body(body.to_string());
        }
        let response = request.send().await.map_err(classify_transport)?;
        read_body(response, "Bluesky").await
    }

    fn session_from(answer: &Answer) -> Option<Session> {
        let body = answer.json();
        Some(Session {
            access: body["accessJwt"].as_str()?.to_owned(),
            refresh: body["refreshJwt"].as_str()?.to_owned(),
            did: body["did"].as_str()?.to_owned(),
        })
    }

    async fn sign_in(&self) -> Result<Session, Failure> {
        let answer = self
            .xrpc(
                "com.atproto.server.createSession",
                None,
                Some(json!({ "identifier": self.handle, "password": self.password })),
            )
            .await?;
        if !answer.status.is_success() {
            return Err(failure(&answer, "the sign-in"));
        }
        Poster::session_from(&answer)
            .ok_or_else(|| Failure::permanent("Bluesky's sign-in answer has no session"))
    }

    /// The session, signed in on first use.
    async fn session(&self) -> Result<Session, Failure> {
        let mut session = self.session.lock().await;
        if let Some(session) = session.as_ref() {
            return Ok(session.clone());
        }
        let new = self.sign_in().await?;
        *session = Some(new.clone());
        Ok(new)
    }

    /// A new session after `ExpiredToken`: refreshed, or signed in again when the refresh
    /// token has expired too.
    async fn renew(&self, expired: &Session) -> Result<Session, Failure> {
        let mut session = self.session.lock().await;
        if let Some(current) = session.as_ref()
            && current.access != expired.access
        {
            return Ok(current.clone());
        }
        let answer = self
            .xrpc(
                "com.atproto.server.refreshSession",
                Some(&expired.refresh),
                None,
            )
            .await?;
        let new = match Poster::session_from(&answer) {
            Some(new) if answer.status.is_success() => new,
            _ if is_expired(&answer) || answer.status.as_u16() == 401 => self.sign_in().await?,
            _ => return Err(failure(&answer, "the session refresh")),
        };
        *session = Some(new.clone());
        Ok(new)
    }

    /// The record of one post.
    fn record(&self, text: &str, reply: Option<(&StrongRef, &StrongRef)>) -> Value {
        let facets: Vec<Value> = count::url_ranges(text)
            .into_iter()
            .map(|range| {
                json!({
                    "index": { "byteStart": range.start, "byteEnd": range.end },
                    "features": [{ "$type": "app.bsky.richtext.facet#link", "uri": &text[range] }],
                })
            })
            .collect();
        let mut record = json!({
            "$type": "app.bsky.feed.post",
            "text": text,
            "createdAt": jiff::Timestamp::now().strftime("%Y-%m-%dT%H:%M:%S%.3fZ").to_string(),
            "langs": [self.language],
        });
        if !facets.is_empty() {
            record["facets"] = json!(facets);
        }
        if let Some((root, parent)) = reply {
            record["reply"] = json!({ "root": root.json(), "parent": parent.json() });
        }
        record
    }

    async fn create(
        &self,
        text: &str,
        reply: Option<(&StrongRef, &StrongRef)>,
    ) -> Result<StrongRef, Failure> {
        let record = self.record(text, reply);
        let mut session = self.session().await?;
        for _ in 0..2 {
            let answer = self
                .xrpc(
                    "com.atproto.repo.createRecord",
                    Some(&session.access),
                    Some(json!({
                        "repo": session.did,
                        "collection": "app.bsky.feed.post",
                        "record": record,
                    })),
                )
                .await?;
            if is_expired(&answer) {
                session = self.renew(&session).await?;
                continue;
            }
            if !answer.status.is_success() {
                return Err(failure(&answer, "the post"));
            }
            let body = answer.json();
            return match (body["uri"].as_str(), body["cid"].as_str()) {
                (Some(uri), Some(cid)) => Ok(StrongRef {
                    uri: uri.to_owned(),
                    cid: cid.to_owned(),
                }),
                // Posted, but without the reference nothing can reply to it.
                _ => Err(Failure::unknown(format!(
                    "Bluesky answered {} without the post's uri and cid",
                    answer.status
                ))),
            };
        }
        Err(Failure::transient("Bluesky's session kept expiring"))
    }

    /// The post's page on bsky.app.
    fn web_url(&self, post: &StrongRef) -> String {
        let rkey = post.uri.rsplit('/').next().unwrap_or_default();
        format!("https://bsky.app/profile/{}/post/{rkey}", self.handle)
    }
}

#[async_trait]
impl Channel for Poster {
    async fn deliver(&self, post: &Post) -> Result<Receipt, Failure> {
        let posts: Vec<&str> = post.rendering.posts().collect();
        let mut refs: Vec<StrongRef> = post
            .posted
            .iter()
            .filter_map(|id| StrongRef::parse(id))
            .collect();
        let thread = post.thread.as_ref();
        let root = thread
            .and_then(|thread| StrongRef::parse(&thread.first_remote_id))
            .or_else(|| refs.first().cloned());
        let mut parent = refs
            .last()
            .cloned()
            .or_else(|| thread.and_then(|thread| StrongRef::parse(&thread.last_remote_id)));
        let ids = |refs: &[StrongRef]| refs.iter().map(StrongRef::remote_id).collect::<Vec<_>>();
        for text in posts.iter().skip(refs.len()) {
            let root = root.clone().or_else(|| refs.first().cloned());
            let reply = match (&root, &parent) {
                (Some(root), Some(parent)) => Some((root, parent)),
                _ => None,
            };
            let made = self
                .create(text, reply)
                .await
                .map_err(|failure| failure.with_posted(ids(&refs)))?;
            parent = Some(made.clone());
            refs.push(made);
        }
        let first = refs.first().map(|post| self.web_url(post));
        let ids = ids(&refs);
        Ok(Receipt {
            remote_id: ids.last().cloned(),
            parts: if ids.len() > 1 { ids } else { Vec::new() },
            url: first,
            note: None,
        })
    }

    async fn check(&self) -> Result<String, Failure> {
        let session = self.sign_in().await?;
        *self.session.lock().await = Some(session.clone());
        Ok(format!("posts as @{} ({})", self.handle, session.did))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_strong_reference_round_trips_through_the_journal() {
        let post = StrongRef {
            uri: "at://did:plc:abc/app.bsky.feed.post/3k2yihcrp6f2c".into(),
            cid: "bafyreie5737gdxlw5i64vzichcalba3z2v5n6icifvx5xytvske7mr3hpm".into(),
        };
        assert_eq!(StrongRef::parse(&post.remote_id()), Some(post));
        assert_eq!(StrongRef::parse("no-space"), None);
    }
}
