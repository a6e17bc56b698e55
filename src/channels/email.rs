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
use lettre::Address;
use lettre::Message;
use lettre::message::header::{HeaderName, HeaderValue};
use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::authentication::{Credentials, DEFAULT_MECHANISMS};
use lettre::transport::smtp::client::{
    AsyncSmtpConnection, Certificate, CertificateStore, TlsParameters,
};
use lettre::transport::smtp::extension::ClientId;
use lettre::transport::smtp::response::Response;

use super::{Channel, Failure, Post, Receipt};
use crate::config::{EmailSettings, EmailTls, check_mailbox};

pub struct Email {
    pool: Pool,
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
    ) -> anyhow::Result<Email> {
        let problem = |what: String| anyhow::anyhow!("channel `{channel}`: {what}");
        let tls = match settings.tls {
            EmailTls::None => None,
            _ => {
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
                Some(
                    parameters
                        .build_rustls()
                        .map_err(|err| problem(format!("TLS setup: {err}")))?,
                )
            }
        };
        let credentials = match (&settings.username, &settings.password) {
            (Some(username), Some(password)) => Some(Credentials::new(
                username.resolve(channel, "username")?,
                password.resolve(channel, "password")?,
            )),
            _ => None,
        };
        let pool = Pool {
            host: settings.host.clone(),
            port: settings.port,
            implicit_tls: settings.tls == EmailTls::Tls,
            tls,
            credentials,
            timeout,
            idle: std::sync::Mutex::new(Vec::new()),
        };
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
            pool,
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
        match self.pool.send(&message).await {
            Ok(response) => Ok(Receipt {
                remote_id: Some(message_id(&post.incident, post.sequence, &self.domain)),
                url: None,
                note: response
                    .first_line()
                    .map(|line| format!("{} {line}", response.code())),
            }),
            Err(err) => Err(err),
        }
    }

    async fn check(&self) -> Result<String, Failure> {
        let mut connection = self.pool.connect().await?;
        let _ = connection.quit().await;
        Ok("the SMTP server accepts the connection and login".into())
    }
}

/// The SMTP connections of one channel, reused across its recipients.
///
/// lettre's own pool is not used because its sockets keep Nagle's algorithm on: the end of DATA
/// (`.`) then waits for the server's delayed ACK, about 40 ms a message. Connections made here set
/// TCP_NODELAY. Implicit TLS (port 465) still connects through lettre.
struct Pool {
    host: String,
    port: u16,
    implicit_tls: bool,
    tls: Option<TlsParameters>,
    credentials: Option<Credentials>,
    timeout: Duration,
    idle: std::sync::Mutex<Vec<AsyncSmtpConnection>>,
}

impl Pool {
    async fn send(&self, message: &Message) -> Result<Response, Failure> {
        let idle = self.idle.lock().ok().and_then(|mut idle| idle.pop());
        let mut connection = match idle {
            Some(connection) => connection,
            None => self.connect().await?,
        };
        match connection
            .send(message.envelope(), &message.formatted())
            .await
        {
            Ok(response) => {
                if let Ok(mut idle) = self.idle.lock() {
                    idle.push(connection);
                }
                Ok(response)
            }
            // lettre has already closed a connection whose transaction failed.
            Err(err) => Err(classify(&err)),
        }
    }

    async fn connect(&self) -> Result<AsyncSmtpConnection, Failure> {
        let hello = ClientId::default();
        let mut connection = if self.implicit_tls {
            AsyncSmtpConnection::connect_tokio1(
                (self.host.as_str(), self.port),
                Some(self.timeout),
                &hello,
                self.tls.clone(),
                None,
            )
            .await
            .map_err(|err| classify(&err))?
        } else {
            let connect = tokio::net::TcpStream::connect((self.host.as_str(), self.port));
            let stream = tokio::time::timeout(self.timeout, connect)
                .await
                .map_err(|_| {
                    Failure::Transient("cannot connect to the SMTP server: timed out".into())
                })?
                .map_err(|err| {
                    Failure::Transient(format!("cannot connect to the SMTP server: {err}"))
                })?;
            stream.set_nodelay(true).map_err(|err| {
                Failure::Transient(format!("cannot set up the connection: {err}"))
            })?;
            let mut connection =
                AsyncSmtpConnection::connect_with_transport(Box::new(stream), &hello)
                    .await
                    .map_err(|err| classify(&err))?;
            if let Some(tls) = &self.tls {
                if !connection.can_starttls() {
                    return Err(Failure::Permanent(
                        "the SMTP server does not offer STARTTLS; check `tls` and `port`".into(),
                    ));
                }
                connection
                    .starttls(tls.clone(), &hello)
                    .await
                    .map_err(|err| classify(&err))?;
            }
            connection
        };
        if let Some(credentials) = &self.credentials {
            connection
                .auth(DEFAULT_MECHANISMS, credentials)
                .await
                .map_err(|err| classify(&err))?;
        }
        Ok(connection)
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
