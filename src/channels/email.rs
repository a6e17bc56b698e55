//! The email channel: one message per recipient over pooled SMTP connections (lettre on tokio and
//! rustls), threaded per incident.
//!
//! The subject stays the same for an incident; `Message-ID` is derived from the incident and the
//! update (`<incident.sequence@domain>`), so `In-Reply-To` and `References` can chain every
//! follow-up to the earlier ones without storing anything, and mail clients show one thread.
//! Each recipient is its own delivery: a rejected address is reported by itself while the others
//! are delivered. SMTP 4xx and connection failures are transient, 5xx permanent.

use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use lettre::message::header::{HeaderName, HeaderValue};
use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::PoolConfig;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, CertificateStore, Tls, TlsParameters};
use lettre::{Address, AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use super::{Channel, Failure, Post, Receipt};
use crate::config::{EmailSettings, EmailTls, check_mailbox};

pub struct Email {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    to: Vec<Mailbox>,
    cc: Vec<Mailbox>,
    fixed: Vec<Address>,
    reply_to: Option<Mailbox>,
    domain: String,
    list_id: String,
    unsubscribe_url: Option<String>,
}

impl Email {
    pub fn new(
        channel: &str,
        settings: &EmailSettings,
        organization: &str,
        timeout: Duration,
        max_in_flight: usize,
    ) -> anyhow::Result<Email> {
        let problem = |what: String| anyhow::anyhow!("channel `{channel}`: {what}");
        let tls = match settings.tls {
            EmailTls::None => Tls::None,
            mode => {
                let mut parameters = TlsParameters::builder(settings.host.clone());
                if let Some(path) = &settings.ca_file {
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
                let parameters = parameters
                    .build_rustls()
                    .map_err(|err| problem(format!("TLS setup: {err}")))?;
                match mode {
                    EmailTls::Tls => Tls::Wrapper(parameters),
                    _ => Tls::Required(parameters),
                }
            }
        };
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&settings.host)
            .port(settings.port)
            .tls(tls)
            .timeout(Some(timeout))
            .pool_config(PoolConfig::new().max_size(CONNECTIONS.min(max_in_flight.max(1)) as u32));
        if let (Some(username), Some(password)) = (&settings.username, &settings.password) {
            builder = builder.credentials(Credentials::new(
                username.resolve(channel, "username")?,
                password.resolve(channel, "password")?,
            ));
        }
        let from = check_mailbox(&settings.from)?;
        let mailboxes = |list: &[String]| -> anyhow::Result<Vec<Mailbox>> {
            list.iter().map(|address| check_mailbox(address)).collect()
        };
        let (to, cc, bcc) = (
            mailboxes(&settings.to)?,
            mailboxes(&settings.cc)?,
            mailboxes(&settings.bcc)?,
        );
        let fixed = to
            .iter()
            .chain(&cc)
            .chain(&bcc)
            .map(|mailbox| mailbox.email.clone())
            .collect();
        let domain = from.email.domain().to_owned();
        Ok(Email {
            transport: builder.build(),
            list_id: settings
                .list_id
                .clone()
                .unwrap_or_else(|| format!("incidents.{domain}")),
            from,
            to,
            cc,
            fixed,
            reply_to: settings
                .reply_to
                .as_deref()
                .map(check_mailbox)
                .transpose()?,
            domain,
            unsubscribe_url: settings.unsubscribe_url.clone(),
        })
        .map(|email| Email {
            list_id: format!("{} status <{}>", one_line(organization), email.list_id),
            ..email
        })
    }

    /// The message for one recipient: the same headers and body for everyone, except that a
    /// subscriber from `recipients_file` sees only their own address in `To`.
    fn message(&self, post: &Post, recipient: &Mailbox) -> Result<Message, Failure> {
        let rendering = &post.rendering;
        let subject = rendering.subject.clone().unwrap_or_default();
        let mut builder = Message::builder()
            .from(self.from.clone())
            .subject(one_line(&subject))
            .message_id(Some(message_id(
                &post.incident,
                post.sequence,
                &self.domain,
            )))
            .date(SystemTime::now());
        if post.sequence > 1 {
            builder = builder
                .in_reply_to(message_id(&post.incident, post.sequence - 1, &self.domain))
                .references(
                    (1..post.sequence)
                        .map(|sequence| message_id(&post.incident, sequence, &self.domain))
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
        if let Some(url) = &self.unsubscribe_url {
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
        .map_err(|err| Failure::Permanent(format!("bad envelope: {err}")))?;
        builder
            .envelope(envelope)
            .multipart(MultiPart::alternative_plain_html(
                rendering.text.clone(),
                rendering.body.clone().unwrap_or_default(),
            ))
            .map_err(|err| Failure::Permanent(format!("the message cannot be built: {err}")))
    }
}

/// `<incident.sequence@domain>`, with anything but letters, digits, `.`, `_` and `-` replaced.
pub fn message_id(incident: &str, sequence: u32, domain: &str) -> String {
    let safe: String = incident
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "._-".contains(c) {
                c
            } else {
                '-'
            }
        })
        .collect();
    format!("<{safe}.{sequence}@{domain}>")
}

/// The subject every update of one incident shares.
pub fn subject(organization: &str, title: &str, incident: &str) -> String {
    one_line(&format!("{organization}: {title} [{incident}]"))
}

/// Control characters (CR and LF above all) become spaces: a header value stays one line.
fn one_line(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// At most this many SMTP connections per email channel; the pool reuses them.
const CONNECTIONS: usize = 8;

#[async_trait]
impl Channel for Email {
    fn concurrency(&self) -> usize {
        CONNECTIONS
    }

    async fn deliver(&self, post: &Post) -> Result<Receipt, Failure> {
        let recipient =
            check_mailbox(&post.target).map_err(|err| Failure::Permanent(format!("{err:#}")))?;
        let message = self.message(post, &recipient)?;
        match self.transport.send(message).await {
            Ok(response) => Ok(Receipt {
                remote_id: Some(message_id(&post.incident, post.sequence, &self.domain)),
                url: None,
                note: response
                    .first_line()
                    .map(|line| format!("{} {line}", response.code())),
            }),
            Err(err) => Err(classify(&err)),
        }
    }

    async fn check(&self) -> Result<String, Failure> {
        match self.transport.test_connection().await {
            Ok(true) => Ok("the SMTP server accepts the connection and login".into()),
            Ok(false) => Err(Failure::Transient(
                "the SMTP server did not answer NOOP".into(),
            )),
            Err(err) => Err(classify(&err)),
        }
    }
}

fn classify(err: &lettre::transport::smtp::Error) -> Failure {
    let text = err.to_string();
    if err.is_permanent() {
        Failure::Permanent(format!("the SMTP server refused: {text}"))
    } else if err.is_transient() {
        Failure::Transient(format!("the SMTP server deferred: {text}"))
    } else if err.is_timeout() {
        Failure::Unknown(format!("the SMTP server did not answer in time: {text}"))
    } else if err.is_tls() || text.contains("certificate") {
        Failure::Permanent(format!("TLS failed: {text}; check `tls` and `ca_file`"))
    } else {
        Failure::Transient(format!("cannot talk to the SMTP server: {text}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_ids_are_derived_and_safe() {
        assert_eq!(
            message_id("2026-11-22-api", 3, "example.com"),
            "<2026-11-22-api.3@example.com>"
        );
        assert_eq!(
            message_id("a<b>\r\nc", 1, "example.com"),
            "<a-b---c.1@example.com>"
        );
    }

    #[test]
    fn subjects_cannot_carry_a_line_break() {
        assert_eq!(
            subject("Example", "Login\r\nBcc: victim@example.com", "id"),
            "Example: Login  Bcc: victim@example.com [id]"
        );
    }
}
