//! The email kind: one message per recipient over pooled SMTP connections ([`pool`]), threaded per
//! incident.
//!
//! The subject stays the same for an incident; `Message-ID` is derived from the incident, the
//! update and the channel (`<incident.sequence.channel@domain>`), so `In-Reply-To` and
//! `References` chain every follow-up to the earlier ones without storing anything, mail clients
//! show one thread, and a public and an internal channel never share an id. Each recipient is its
//! own delivery: a rejected address is reported by itself while the others are delivered.
//!
//! One-click unsubscribe (RFC 8058) needs a URL that names the recipient: `unsubscribe_url` may
//! hold `{email}` (the address, percent-encoded) or `{token}` (base64url, unpadded, of
//! HMAC-SHA256 of the lowercased address under the key in `unsubscribe_secret_env`), which the
//! receiving side recomputes to verify the request.

mod pool;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use async_trait::async_trait;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, KeyInit, Mac};
use lettre::Message;
use lettre::message::header::{HeaderName, HeaderValue};
use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::{Certificate, CertificateStore};
use lettre::transport::smtp::extension::ClientId;
use serde::Deserialize;
use sha2::Sha256;

use self::pool::Pool;
use super::{BuildCx, Channel, Failure, Kind, Post, Receipt, RenderCx, Rendering};
use crate::config::{self, SecretSource, check_mailbox};
use crate::wording::facts::{Escape, Shown};
use crate::wording::fit::Measure;
use crate::wording::rules::Finding;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
enum Tls {
    /// Plain connection upgraded with STARTTLS, required (port 587).
    Starttls,
    /// TLS from the first byte (port 465).
    #[serde(rename = "tls")]
    Implicit,
    /// No encryption: only for a relay on the same machine or a trusted local network.
    None,
}

/// How many SMTP connections a channel opens at most, unless it says (`connections`).
const CONNECTIONS: usize = 8;

#[derive(Debug, Clone)]
pub(crate) struct Email {
    host: String,
    port: u16,
    tls: Tls,
    /// A PEM file of the CA that signs a private relay's certificate; then only it is trusted.
    ca_file: Option<PathBuf>,
    username: Option<SecretSource>,
    password: Option<SecretSource>,
    oauth_token: Option<SecretSource>,
    from: String,
    to: Vec<String>,
    cc: Vec<String>,
    bcc: Vec<String>,
    reply_to: Option<String>,
    recipients_file: Option<PathBuf>,
    unsubscribe_url: Option<String>,
    unsubscribe_secret: Option<SecretSource>,
    list_id: Option<String>,
    helo_name: Option<String>,
    connections: usize,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    host: String,
    port: Option<u16>,
    #[serde(default = "starttls")]
    tls: Tls,
    ca_file: Option<PathBuf>,
    username_env: Option<String>,
    username_file: Option<PathBuf>,
    password_env: Option<String>,
    password_file: Option<PathBuf>,
    oauth_token_env: Option<String>,
    oauth_token_file: Option<PathBuf>,
    from: String,
    #[serde(default)]
    to: Vec<String>,
    #[serde(default)]
    cc: Vec<String>,
    #[serde(default)]
    bcc: Vec<String>,
    reply_to: Option<String>,
    recipients_file: Option<PathBuf>,
    unsubscribe_url: Option<String>,
    unsubscribe_secret_env: Option<String>,
    unsubscribe_secret_file: Option<PathBuf>,
    list_id: Option<String>,
    helo_name: Option<String>,
    connections: Option<usize>,
}

fn starttls() -> Tls {
    Tls::Starttls
}

pub(crate) fn parse(rest: toml::Table, base: &Path) -> anyhow::Result<Arc<dyn Kind>> {
    let raw: Raw = config::kind_settings(
        rest,
        "email",
        &["password", "username", "oauth_token", "unsubscribe_secret"],
    )?;
    if raw.host.trim().is_empty() || raw.host.contains(['/', ' ', ':']) {
        anyhow::bail!(
            "host must be a host name such as smtp.example.com (the port goes in `port`)"
        );
    }
    for (key, addresses) in [
        ("from", std::slice::from_ref(&raw.from)),
        ("to", &raw.to),
        ("cc", &raw.cc),
        ("bcc", &raw.bcc),
    ] {
        for address in addresses {
            check_mailbox(address).map_err(|err| anyhow::anyhow!("{key}: {err:#}"))?;
        }
    }
    if let Some(reply_to) = &raw.reply_to {
        check_mailbox(reply_to).map_err(|err| anyhow::anyhow!("reply_to: {err:#}"))?;
    }
    if raw.to.is_empty() && raw.cc.is_empty() && raw.bcc.is_empty() && raw.recipients_file.is_none()
    {
        anyhow::bail!("no recipients: give to, cc, bcc or recipients_file");
    }
    let unsubscribe_secret = config::secret_source(
        "unsubscribe_secret",
        raw.unsubscribe_secret_env,
        raw.unsubscribe_secret_file,
        base,
    )?;
    if let Some(url) = &raw.unsubscribe_url {
        let sample = url
            .replace("{email}", "a%40example.com")
            .replace("{token}", "t");
        config::check_url(&sample).map_err(|err| anyhow::anyhow!("unsubscribe_url: {err:#}"))?;
        if !url.contains("{token}") && !url.contains("{email}") {
            anyhow::bail!(
                "unsubscribe_url names no recipient: add {{token}} (with unsubscribe_secret_env) \
                 or {{email}}, as one-click unsubscribe (RFC 8058) requires"
            );
        }
        if url.contains("{token}") && unsubscribe_secret.is_none() {
            anyhow::bail!(
                "unsubscribe_url has {{token}}: name the key it is made with in \
                 unsubscribe_secret_env"
            );
        }
    }
    if let Some(name) = &raw.helo_name
        && (name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || ".-".contains(c)))
    {
        anyhow::bail!("helo_name must be a host name such as mail.example.com");
    }
    let username = config::secret_source("username", raw.username_env, raw.username_file, base)?;
    let password = config::secret_source("password", raw.password_env, raw.password_file, base)?;
    let oauth_token = config::secret_source(
        "oauth_token",
        raw.oauth_token_env,
        raw.oauth_token_file,
        base,
    )?;
    match (&username, &password, &oauth_token) {
        (Some(_), Some(_), None) | (None, None, None) | (Some(_), None, Some(_)) => {}
        (None, _, Some(_)) => anyhow::bail!(
            "oauth_token_env (XOAUTH2) needs username_env too: the mailbox the token is for"
        ),
        (_, Some(_), Some(_)) => {
            anyhow::bail!("give either password_env or oauth_token_env, not both")
        }
        _ => anyhow::bail!(
            "give both username_env and password_env (or neither, for a relay without AUTH)"
        ),
    }
    let connections = raw.connections.unwrap_or(CONNECTIONS);
    if connections == 0 || connections > 256 {
        anyhow::bail!("connections must be between 1 and 256");
    }
    Ok(Arc::new(Email {
        port: raw.port.unwrap_or(match raw.tls {
            Tls::Starttls => 587,
            Tls::Implicit => 465,
            Tls::None => 25,
        }),
        host: raw.host,
        tls: raw.tls,
        ca_file: raw.ca_file.map(|path| base.join(path)),
        username,
        password,
        oauth_token,
        from: raw.from,
        to: raw.to,
        cc: raw.cc,
        bcc: raw.bcc,
        reply_to: raw.reply_to,
        recipients_file: raw
            .recipients_file
            .map(|path| config::file_path(base, &path, "recipients_file"))
            .transpose()?,
        unsubscribe_url: raw.unsubscribe_url,
        unsubscribe_secret,
        list_id: raw.list_id,
        helo_name: raw.helo_name,
        connections,
    }))
}

impl Kind for Email {
    fn name(&self) -> &'static str {
        "email"
    }

    fn secrets(&self) -> Vec<(&'static str, &SecretSource)> {
        [
            ("username", &self.username),
            ("password", &self.password),
            ("oauth_token", &self.oauth_token),
            ("unsubscribe_secret", &self.unsubscribe_secret),
        ]
        .into_iter()
        .filter_map(|(field, source)| source.as_ref().map(|source| (field, source)))
        .collect()
    }

    /// Every address of `to`, `cc`, `bcc` and `recipients_file`, each once.
    fn targets(&self) -> anyhow::Result<Vec<String>> {
        let mut targets: Vec<String> = Vec::new();
        let mut push = |address: String| {
            if !targets
                .iter()
                .any(|known| known.eq_ignore_ascii_case(&address))
            {
                targets.push(address);
            }
        };
        for address in self.to.iter().chain(&self.cc).chain(&self.bcc) {
            push(check_mailbox(address)?.email.to_string());
        }
        if let Some(path) = &self.recipients_file {
            for mailbox in super::read_list(path, "recipients_file", check_mailbox)? {
                push(mailbox.email.to_string());
            }
        }
        Ok(targets)
    }

    fn render(&self, cx: &RenderCx<'_>) -> Result<Rendering, Finding> {
        let facts = cx.facts();
        Ok(Rendering {
            text: cx.fitted("plain.txt", &facts, Measure::Unlimited)?,
            subject: Some(subject(&facts.organization, &facts.title, &facts.incident)),
            body: Some(cx.renderer.render("email.html", &facts)?),
            ..Rendering::default()
        })
    }

    fn shown<'a>(&self, rendering: &'a Rendering) -> Vec<Shown<'a>> {
        vec![
            Shown {
                parts: vec![rendering.text.as_str()],
                escape: Escape::None,
            },
            Shown {
                parts: rendering.body.as_deref().into_iter().collect(),
                escape: Escape::Html,
            },
        ]
    }

    fn build(&self, cx: &BuildCx<'_>, channel: &str) -> anyhow::Result<Arc<dyn Channel>> {
        let problem = |what: String| anyhow::anyhow!("channel `{channel}`: {what}");
        crate::tls::provider();
        let tls = match self.tls {
            Tls::None => None,
            _ => {
                let mut parameters =
                    lettre::transport::smtp::client::TlsParameters::builder(self.host.clone());
                if let Some(path) = &self.ca_file {
                    let pem = std::fs::read(path)
                        .map_err(|err| problem(format!("ca_file {}: {err}", path.display())))?;
                    let ca = Certificate::from_pem(&pem).map_err(|err| {
                        problem(format!(
                            "ca_file {} is not a PEM certificate: {err}",
                            path.display()
                        ))
                    })?;
                    parameters = parameters
                        .certificate_store(CertificateStore::None)
                        .add_root_certificate(ca);
                }
                Some(
                    parameters
                        .build_rustls()
                        .map_err(|err| problem(format!("TLS setup: {err}")))?,
                )
            }
        };
        let secret = |field, source: &Option<SecretSource>| {
            source
                .as_ref()
                .map(|source| cx.secret(channel, field, source))
                .transpose()
        };
        let username = secret("username", &self.username)?;
        let login = match (
            username,
            secret("password", &self.password)?,
            secret("oauth_token", &self.oauth_token)?,
        ) {
            (Some(user), Some(password), _) => Some((Credentials::new(user, password), false)),
            (Some(user), None, Some(token)) => Some((Credentials::new(user, token), true)),
            _ => None,
        };
        let from = check_mailbox(&self.from)?;
        let mailboxes = |list: &[String]| -> anyhow::Result<Vec<Mailbox>> {
            list.iter().map(|address| check_mailbox(address)).collect()
        };
        let (to, cc, bcc) = (
            mailboxes(&self.to)?,
            mailboxes(&self.cc)?,
            mailboxes(&self.bcc)?,
        );
        let fixed = to
            .iter()
            .chain(&cc)
            .chain(&bcc)
            .map(|mailbox| mailbox.email.clone())
            .collect();
        let domain = from.email.domain().to_owned();
        let list_id = self
            .list_id
            .clone()
            .unwrap_or_else(|| format!("incidents.{domain}"));
        Ok(Arc::new(Sender {
            pool: Pool::new(pool::Settings {
                host: self.host.clone(),
                port: self.port,
                implicit_tls: self.tls == Tls::Implicit,
                tls,
                login: login.map(|(credentials, oauth)| {
                    let mechanisms = if oauth {
                        vec![Mechanism::Xoauth2]
                    } else {
                        vec![Mechanism::Plain, Mechanism::Login]
                    };
                    (credentials, mechanisms)
                }),
                hello: hello_name(self.helo_name.as_deref(), &domain),
                timeout: cx.timeout,
            }),
            connections: self.connections,
            channel: channel.to_owned(),
            list_id: format!("{} status <{list_id}>", one_line(&cx.organization.name)),
            from,
            to,
            cc,
            fixed,
            reply_to: self.reply_to.as_deref().map(check_mailbox).transpose()?,
            domain,
            unsubscribe: self
                .unsubscribe_url
                .clone()
                .map(|url| {
                    Ok::<_, anyhow::Error>(Unsubscribe {
                        url,
                        key: secret("unsubscribe_secret", &self.unsubscribe_secret)?,
                    })
                })
                .transpose()?,
        }))
    }
}

/// The name EHLO gives: `helo_name`, else the host's own name when it is fully qualified, else
/// the sender's domain (servers refuse a bare `localhost` or a short name more and more).
fn hello_name(configured: Option<&str>, domain: &str) -> ClientId {
    if let Some(name) = configured {
        return ClientId::Domain(name.to_owned());
    }
    match ClientId::default() {
        ClientId::Domain(name) if name.contains('.') && name != "localhost.localdomain" => {
            ClientId::Domain(name)
        }
        _ => ClientId::Domain(domain.to_owned()),
    }
}

struct Unsubscribe {
    url: String,
    key: Option<String>,
}

impl Unsubscribe {
    /// The URL for one recipient.
    fn for_recipient(&self, address: &str) -> String {
        let lower = address.to_lowercase();
        let mut url = self.url.replace(
            "{email}",
            &percent_encoding::utf8_percent_encode(&lower, percent_encoding::NON_ALPHANUMERIC)
                .to_string(),
        );
        if let Some(key) = &self.key {
            url = url.replace("{token}", &unsubscribe_token(key, &lower));
        }
        url
    }
}

/// base64url (unpadded) of HMAC-SHA256(key, lowercased address): what `{token}` stands for.
pub(crate) fn unsubscribe_token(key: &str, address: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(key.as_bytes()).expect("HMAC takes any key");
    mac.update(address.to_lowercase().as_bytes());
    URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
}

struct Sender {
    pool: Pool,
    connections: usize,
    channel: String,
    from: Mailbox,
    to: Vec<Mailbox>,
    cc: Vec<Mailbox>,
    fixed: Vec<lettre::Address>,
    reply_to: Option<Mailbox>,
    domain: String,
    list_id: String,
    unsubscribe: Option<Unsubscribe>,
}

impl Sender {
    fn id(&self, incident: &str, sequence: u32) -> String {
        message_id(incident, sequence, &self.channel, &self.domain)
    }

    /// The message for one recipient: the same headers and body for everyone, except that a
    /// subscriber from `recipients_file` sees only their own address in `To`, and the
    /// unsubscribe link names its recipient.
    fn message(&self, post: &Post, recipient: &Mailbox) -> Result<Message, Failure> {
        let rendering = &post.rendering;
        let subject = rendering.subject.clone().unwrap_or_default();
        let mut builder = Message::builder()
            .from(self.from.clone())
            .subject(one_line(&subject))
            .message_id(Some(self.id(&post.incident, post.sequence)))
            .date(SystemTime::now());
        if post.sequence > 1 {
            builder = builder
                .in_reply_to(self.id(&post.incident, post.sequence - 1))
                .references(
                    (1..post.sequence)
                        .map(|sequence| self.id(&post.incident, sequence))
                        .collect::<Vec<_>>()
                        .join(" "),
                );
        }
        if self.fixed.contains(&recipient.email) {
            for to in &self.to {
                builder = builder.to(to.clone());
            }
            for cc in &self.cc {
                builder = builder.cc(cc.clone());
            }
            if self.to.is_empty() && self.cc.is_empty() {
                builder = builder.to(self.from.clone());
            }
        } else {
            builder = builder.to(recipient.clone());
        }
        if let Some(reply_to) = &self.reply_to {
            builder = builder.reply_to(reply_to.clone());
        }
        let header = |name: &'static str, value: String| {
            HeaderValue::new(HeaderName::new_from_ascii_str(name), value)
        };
        builder = builder
            .raw_header(header("Auto-Submitted", "auto-generated".into()))
            .raw_header(header("List-Id", self.list_id.clone()));
        if let Some(unsubscribe) = &self.unsubscribe {
            let url = unsubscribe.for_recipient(recipient.email.as_ref());
            builder = builder.raw_header(header("List-Unsubscribe", format!("<{url}>")));
            if url.starts_with("https://") {
                builder = builder.raw_header(header(
                    "List-Unsubscribe-Post",
                    "List-Unsubscribe=One-Click".into(),
                ));
            }
        }
        let envelope = lettre::address::Envelope::new(
            Some(self.from.email.clone()),
            vec![recipient.email.clone()],
        )
        .map_err(|err| Failure::permanent(format!("bad envelope: {err}")))?;
        builder
            .envelope(envelope)
            .multipart(MultiPart::alternative_plain_html(
                rendering.text.clone(),
                rendering.body.clone().unwrap_or_default(),
            ))
            .map_err(|err| Failure::permanent(format!("the message cannot be built: {err}")))
    }
}

/// `<incident.sequence.channel@domain>`, with anything but letters, digits, `.`, `_` and `-`
/// replaced.
pub(crate) fn message_id(incident: &str, sequence: u32, channel: &str, domain: &str) -> String {
    let safe = |text: &str| -> String {
        text.chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || "._-".contains(c) {
                    c
                } else {
                    '-'
                }
            })
            .collect()
    };
    format!("<{}.{sequence}.{}@{domain}>", safe(incident), safe(channel))
}

/// The subject every update of one incident shares.
pub(crate) fn subject(organization: &str, title: &str, incident: &str) -> String {
    one_line(&format!("{organization}: {title} [{incident}]"))
}

/// Control characters (CR and LF above all) become spaces: a header value stays one line.
fn one_line(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

#[async_trait]
impl Channel for Sender {
    fn concurrency(&self) -> usize {
        self.connections
    }

    fn opens_session(&self) -> bool {
        true
    }

    async fn deliver(&self, post: &Post) -> Result<Receipt, Failure> {
        let recipient =
            check_mailbox(&post.target).map_err(|err| Failure::permanent(format!("{err:#}")))?;
        let message = self.message(post, &recipient)?;
        let response = self.pool.send(&message).await?;
        Ok(Receipt {
            remote_id: Some(self.id(&post.incident, post.sequence)),
            note: response
                .first_line()
                .map(|line| format!("{} {line}", response.code())),
            ..Receipt::default()
        })
    }

    async fn check(&self) -> Result<String, Failure> {
        self.pool.check().await?;
        Ok("the SMTP server accepts the connection and login".into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_ids_are_derived_safe_and_per_channel() {
        assert_eq!(
            message_id("2026-11-22-api", 3, "email", "example.com"),
            "<2026-11-22-api.3.email@example.com>"
        );
        assert_eq!(
            message_id("a<b>\r\nc", 1, "support", "example.com"),
            "<a-b---c.1.support@example.com>"
        );
        assert_ne!(
            message_id("i", 1, "public", "example.com"),
            message_id("i", 1, "internal", "example.com")
        );
    }

    #[test]
    fn subjects_cannot_carry_a_line_break() {
        assert_eq!(
            subject("Example", "Login\r\nBcc: victim@example.com", "id"),
            "Example: Login  Bcc: victim@example.com [id]"
        );
    }

    /// HMAC-SHA256 with RFC 4231 test case 2's key and data, encoded base64url without padding.
    #[test]
    fn unsubscribe_tokens_are_the_documented_hmac() {
        assert_eq!(
            unsubscribe_token("Jefe", "what do ya want for nothing?"),
            URL_SAFE_NO_PAD.encode(hex(
                "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
            ))
        );
        let unsubscribe = Unsubscribe {
            url: "https://status.example.com/unsubscribe?e={email}&t={token}".into(),
            key: Some("k".into()),
        };
        let url = unsubscribe.for_recipient("Ann+ops@Example.com");
        assert!(
            url.starts_with(
                "https://status.example.com/unsubscribe?e=ann%2Bops%40example%2Ecom&t="
            ),
            "{url}"
        );
        assert!(url.ends_with(&unsubscribe_token("k", "ann+ops@example.com")));
    }

    fn hex(text: &str) -> Vec<u8> {
        (0..text.len())
            .step_by(2)
            .map(|at| u8::from_str_radix(&text[at..at + 2], 16).unwrap())
            .collect()
    }
}
