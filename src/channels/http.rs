//! What the HTTP channels share: one client, answers read up to a bound, transport errors
//! classified, and the common rate-limit headers.

use std::time::Duration;

use reqwest::StatusCode;
use reqwest::header::HeaderMap;

use super::Failure;
use crate::limits::RESPONSE;

/// Starts making the system's certificate verifier on a thread of its own: loading the root
/// certificates takes milliseconds that a post spends meanwhile on reading, planning, recording
/// and connecting (see [`crate::tls`]).
pub(crate) fn prepare() {
    std::thread::spawn(crate::tls::warm);
}

/// An HTTP client for the channels built together: connections are reused and the limits are
/// set once.
pub(crate) fn client() -> anyhow::Result<reqwest::Client> {
    crate::tls::provider();
    client_with(crate::tls::http_config()?)
}

/// The same for a channel that trusts the CA certificates in `ca_file` alone.
pub(crate) fn client_trusting(ca_file: &std::path::Path) -> anyhow::Result<reqwest::Client> {
    crate::tls::provider();
    client_with(crate::tls::http_config_trusting(ca_file)?)
}

fn client_with(tls: rustls::ClientConfig) -> anyhow::Result<reqwest::Client> {
    reqwest::Client::builder()
        .tls_backend_preconfigured(tls)
        .user_agent(concat!("outage/", env!("CARGO_PKG_VERSION")))
        .connect_timeout(Duration::from_secs(10))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|err| anyhow::anyhow!("cannot set up the HTTP client: {err}"))
}

/// An answer, read once: the status, the headers and at most [`RESPONSE`] bytes of the body.
pub(crate) struct Answer {
    pub(crate) status: StatusCode,
    pub(crate) headers: HeaderMap,
    pub(crate) body: String,
}

impl Answer {
    /// The body as JSON, or `Null`.
    pub(crate) fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or(serde_json::Value::Null)
    }

    /// The body cut to one short line, or "no details".
    pub(crate) fn short(&self) -> String {
        match short_body(&self.body) {
            text if text.is_empty() => "no details".into(),
            text => text,
        }
    }
}

/// Reads an answer, keeping at most [`RESPONSE`] bytes of the body and never reading the rest: a
/// server that answers with a gigabyte costs 64 KiB.
pub(crate) async fn read_body(
    mut response: reqwest::Response,
    service: &str,
) -> Result<Answer, Failure> {
    let status = response.status();
    // Only a proxy asks for its own credentials (RFC 9110 section 15.5.8): the request did not
    // reach the service, and trying again without them will not either.
    if status == StatusCode::PROXY_AUTHENTICATION_REQUIRED {
        return Err(proxy_refused(proxy_variable(false).unwrap_or("HTTP_PROXY")));
    }
    let headers = response.headers().clone();
    let mut bytes: Vec<u8> = Vec::new();
    loop {
        match response.chunk().await {
            Ok(Some(chunk)) => {
                let room = RESPONSE - bytes.len();
                bytes.extend_from_slice(&chunk[..chunk.len().min(room)]);
                if bytes.len() >= RESPONSE {
                    break;
                }
            }
            Ok(None) => break,
            Err(err) if status.is_success() => {
                return Err(Failure::unknown(format!(
                    "{service}'s answer was cut off: {}",
                    without_url(err)
                )));
            }
            // An error status was read already; the body only explains it.
            Err(_) => break,
        }
    }
    Ok(Answer {
        status,
        headers,
        body: String::from_utf8_lossy(&bytes).into_owned(),
    })
}

/// What a proxy that wants a user and password is told; `variable` names the proxy for the
/// request's scheme.
fn proxy_refused(variable: &str) -> Failure {
    Failure::permanent(format!(
        "the proxy refused the request without its user and password (407 Proxy Authentication \
         Required): put them in its URL, {variable}=http://user:password@host:port"
    ))
}

/// Classifies a transport error from reqwest. A failure to connect means nothing was sent; any
/// later failure may have happened after the remote side acted.
pub(crate) fn classify_transport(err: reqwest::Error) -> Failure {
    let (connect, timeout) = (err.is_connect(), err.is_timeout());
    if connect {
        let plain = err.url().is_some_and(|url| url.scheme() == "http");
        let messages = messages(err);
        if let Some(failure) = tunnel_failure(&messages) {
            return failure;
        }
        let cause = connect_cause(&messages);
        // Plain HTTP goes to a proxy without a tunnel: a proxy that is down looks like the
        // receiver being down.
        if plain && let Some(variable) = proxy_variable(false) {
            return Failure::transient(format!(
                "cannot connect: {cause}; {variable} names a proxy: check that it is up, or \
                 name this host in NO_PROXY"
            ));
        }
        return Failure::transient(format!("cannot connect: {cause}"));
    }
    let what = without_url(err);
    if timeout {
        Failure::unknown(format!("no answer in time: {what}"))
    } else {
        Failure::unknown(format!("the connection failed mid-request: {what}"))
    }
}

/// Why the proxy did not open the tunnel an HTTPS request goes in (`CONNECT`, before the
/// service is reached), when that is why the connection failed.
fn tunnel_failure(messages: &[String]) -> Option<Failure> {
    let said = |text: &str| messages.iter().any(|message| message.contains(text));
    if !messages
        .iter()
        .any(|message| message.starts_with("tunnel error"))
    {
        return None;
    }
    let variable = proxy_variable(true).unwrap_or("HTTPS_PROXY");
    if said("proxy authorization required") {
        return Some(proxy_refused(variable));
    }
    let why = format!(
        "cannot connect through the proxy in {variable}: {}",
        connect_cause(messages)
    );
    // A proxy of a kind the client does not speak (socks5://) stays one.
    Some(if said("unsupported scheme") {
        Failure::permanent(format!("{why}; name an HTTP proxy (http://host:port)"))
    } else {
        Failure::transient(why)
    })
}

/// The variable that names the proxy for HTTPS (or plain HTTP) requests, when one does, read as
/// the client reads them (hyper-util's matcher): the first set of `HTTPS_PROXY`, `https_proxy`
/// (`HTTP_PROXY`, `http_proxy`), else of `ALL_PROXY`, `all_proxy`; none under CGI, where a
/// request's `Proxy` header could set `HTTP_PROXY`.
fn proxy_variable(https: bool) -> Option<&'static str> {
    if std::env::var_os("REQUEST_METHOD").is_some() {
        return None;
    }
    let first_set = |names: [&'static str; 2]| {
        names
            .into_iter()
            .find(|name| std::env::var_os(name).is_some())
            .filter(|name| std::env::var(name).is_ok_and(|value| !value.trim().is_empty()))
    };
    let own = if https {
        ["HTTPS_PROXY", "https_proxy"]
    } else {
        ["HTTP_PROXY", "http_proxy"]
    };
    first_set(own).or_else(|| first_set(["ALL_PROXY", "all_proxy"]))
}

/// Why a connection could not be made, in the words of the innermost of an error's `messages`
/// ("Connection refused (os error 111)", "invalid peer certificate: UnknownIssuer"): the layers
/// above it are the client's own ("error sending request", "client error (Connect)", "tcp
/// connect error").
fn connect_cause(messages: &[String]) -> String {
    let cause = messages.last().cloned().unwrap_or_default();
    if messages
        .iter()
        .any(|message| message.starts_with("dns error"))
    {
        format!("the host name did not resolve ({cause})")
    } else {
        cause
    }
}

/// reqwest errors name the URL, which may carry a token (Slack and Discord webhook URLs do).
fn without_url(err: reqwest::Error) -> String {
    let mut text = String::new();
    for message in messages(err) {
        if text.is_empty() {
            text = message;
        } else if !text.contains(&message) {
            text = format!("{text}: {message}");
        }
    }
    text
}

/// The error's message and each of its sources', outermost first, the URL left out.
fn messages(err: reqwest::Error) -> Vec<String> {
    let err = err.without_url();
    let mut messages = vec![err.to_string()];
    let mut source = std::error::Error::source(&err);
    while let Some(inner) = source {
        messages.push(inner.to_string());
        source = inner.source();
    }
    messages
}

/// Reads a `Retry-After` header given in seconds (fractions allowed).
pub(crate) fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    seconds(headers.get(reqwest::header::RETRY_AFTER)?.to_str().ok()?)
}

/// A number of seconds, fractions allowed.
pub(crate) fn seconds(text: &str) -> Option<Duration> {
    let seconds: f64 = text.trim().parse().ok()?;
    (seconds.is_finite() && seconds >= 0.0).then(|| Duration::from_secs_f64(seconds.min(1e9)))
}

/// The wait until a reset given in Unix seconds.
pub(crate) fn until_epoch(text: &str) -> Option<Duration> {
    let reset: i64 = text.trim().parse().ok()?;
    let now = jiff::Timestamp::now().as_second();
    Some(Duration::from_secs(
        u64::try_from(reset.saturating_sub(now)).unwrap_or(0),
    ))
}

/// Cuts a remote error body to one short line for the report.
pub(crate) fn short_body(body: &str) -> String {
    let line = crate::wording::clean::one_line(body);
    crate::wording::render::shorten(&line, 200)
}
