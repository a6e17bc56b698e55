//! The SMTP connections of one email channel, reused across its recipients.
//!
//! lettre's own pool is not used because its sockets keep Nagle's algorithm on: the end of DATA
//! (`.`) then waits for the server's delayed ACK, about 40 ms a message. Connections made here set
//! TCP_NODELAY. Implicit TLS (port 465) still connects through lettre.
//!
//! A message is sent command by command (MAIL, RCPT, DATA, then the content) so that a failure is
//! classified by where it happened: a refusal before the content is definite (4xx transient, 5xx
//! permanent); a connection lost after the content's final `.` is unknown, because the server
//! may have queued the message before the reply was lost, and sending it again could deliver it
//! twice.

use std::time::Duration;

use lettre::Message;
use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::{AsyncSmtpConnection, TlsParameters};
use lettre::transport::smtp::commands::{Data, Mail, Rcpt};
use lettre::transport::smtp::extension::{ClientId, Extension, MailBodyParameter, MailParameter};
use lettre::transport::smtp::response::Response;

use crate::channels::Failure;

pub(super) struct Settings {
    pub(super) host: String,
    pub(super) port: u16,
    pub(super) implicit_tls: bool,
    pub(super) tls: Option<TlsParameters>,
    pub(super) login: Option<(Credentials, Vec<Mechanism>)>,
    pub(super) hello: ClientId,
    pub(super) timeout: Duration,
}

pub(super) struct Pool {
    settings: Settings,
    idle: std::sync::Mutex<Vec<AsyncSmtpConnection>>,
}

impl Pool {
    pub(super) fn new(settings: Settings) -> Pool {
        Pool {
            settings,
            idle: std::sync::Mutex::new(Vec::new()),
        }
    }

    pub(super) async fn send(&self, message: &Message) -> Result<Response, Failure> {
        let idle = self.idle.lock().ok().and_then(|mut idle| idle.pop());
        let mut connection = match idle {
            Some(connection) => connection,
            None => self.connect().await?,
        };
        let response = transaction(&mut connection, message).await?;
        if let Ok(mut idle) = self.idle.lock() {
            idle.push(connection);
        }
        Ok(response)
    }

    /// Connects and logs in, then says goodbye.
    pub(super) async fn check(&self) -> Result<(), Failure> {
        let mut connection = self.connect().await?;
        let _ = connection.quit().await;
        Ok(())
    }

    async fn connect(&self) -> Result<AsyncSmtpConnection, Failure> {
        let settings = &self.settings;
        let hello = &settings.hello;
        let mut connection = if settings.implicit_tls {
            AsyncSmtpConnection::connect_tokio1(
                (settings.host.as_str(), settings.port),
                Some(settings.timeout),
                hello,
                settings.tls.clone(),
                None,
            )
            .await
            .map_err(|err| classify(&err))?
        } else {
            let connect = tokio::net::TcpStream::connect((settings.host.as_str(), settings.port));
            let stream = tokio::time::timeout(settings.timeout, connect)
                .await
                .map_err(|_| Failure::transient("cannot connect to the SMTP server: timed out"))?
                .map_err(|err| {
                    Failure::transient(format!("cannot connect to the SMTP server: {err}"))
                })?;
            stream.set_nodelay(true).map_err(|err| {
                Failure::transient(format!("cannot set up the connection: {err}"))
            })?;
            let mut connection =
                AsyncSmtpConnection::connect_with_transport(Box::new(stream), hello)
                    .await
                    .map_err(|err| classify(&err))?;
            if let Some(tls) = &settings.tls {
                if !connection.can_starttls() {
                    return Err(Failure::permanent(
                        "the SMTP server does not offer STARTTLS; check `tls` and `port`",
                    ));
                }
                connection
                    .starttls(tls.clone(), hello)
                    .await
                    .map_err(|err| classify(&err))?;
            }
            connection
        };
        if let Some((credentials, mechanisms)) = &settings.login {
            connection
                .auth(mechanisms, credentials)
                .await
                .map_err(|err| classify(&err))?;
        }
        Ok(connection)
    }
}

/// One message: MAIL, RCPT, DATA, then the content.
async fn transaction(
    connection: &mut AsyncSmtpConnection,
    message: &Message,
) -> Result<Response, Failure> {
    let envelope = message.envelope();
    let content = message.formatted();
    let mut parameters = Vec::new();
    let non_ascii = envelope
        .from()
        .into_iter()
        .chain(envelope.to())
        .any(|address| !address.to_string().is_ascii());
    if non_ascii {
        if !connection
            .server_info()
            .supports_feature(Extension::SmtpUtfEight)
        {
            return Err(Failure::permanent(
                "an address is not ASCII and the SMTP server does not support SMTPUTF8",
            ));
        }
        parameters.push(MailParameter::SmtpUtfEight);
    }
    if !content.is_ascii() {
        if !connection
            .server_info()
            .supports_feature(Extension::EightBitMime)
        {
            return Err(Failure::permanent(
                "the message is not ASCII and the SMTP server does not support 8BITMIME",
            ));
        }
        parameters.push(MailParameter::Body(MailBodyParameter::EightBitMime));
    }
    connection
        .command(Mail::new(envelope.from().cloned(), parameters))
        .await
        .map_err(|err| classify(&err))?;
    for recipient in envelope.to() {
        connection
            .command(Rcpt::new(recipient.clone(), Vec::new()))
            .await
            .map_err(|err| classify(&err))?;
    }
    connection
        .command(Data)
        .await
        .map_err(|err| classify(&err))?;
    connection.message(&content).await.map_err(|err| {
        if err.is_permanent() || err.is_transient() {
            // The server answered the content: nothing was queued.
            classify(&err)
        } else {
            Failure::unknown(format!(
                "the connection to the SMTP server ended before it confirmed the message ({err}); \
                 it may have been queued"
            ))
        }
    })
}

fn classify(err: &lettre::transport::smtp::Error) -> Failure {
    let text = err.to_string();
    if err.is_permanent() {
        Failure::permanent(format!("the SMTP server refused: {text}"))
    } else if err.is_transient() {
        Failure::transient(format!("the SMTP server deferred: {text}"))
    } else if err.is_timeout() {
        Failure::unknown(format!("the SMTP server did not answer in time: {text}"))
    } else if err.is_tls() || text.contains("certificate") {
        Failure::permanent(format!("TLS failed: {text}; check `tls` and `ca_file`"))
    } else {
        Failure::transient(format!("cannot talk to the SMTP server: {text}"))
    }
}
