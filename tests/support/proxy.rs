//! An HTTP proxy on loopback, as a company network or a CI runner puts between a client and the
//! internet, written from RFC 9110 and RFC 9112 (not from what any client sends): `CONNECT
//! host:port` opens a tunnel (answered `200` once the target is reached, `502` when it cannot
//! be), any other method comes in absolute form (`POST http://host/path HTTP/1.1`) and is passed
//! on to that host, and with credentials set, a request without the right `Proxy-Authorization:
//! Basic` gets `407 Proxy Authentication Required` with `Proxy-Authenticate`, as Squid answers.

use std::sync::{Arc, Mutex};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use super::emulator::runtime;

/// The largest request head the proxy reads (Squid's default `request_header_max_size`).
const HEAD_LIMIT: usize = 64 * 1024;

pub struct Proxy {
    /// `http://127.0.0.1:port`, without credentials.
    pub url: String,
    seen: Arc<Mutex<Vec<Seen>>>,
    /// The accepting task, stopped when the proxy goes (a proptest starts one a case).
    accepting: tokio::task::AbortHandle,
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.accepting.abort();
    }
}

/// What the proxy was asked for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Seen {
    /// A tunnel to this authority (`host:port`).
    Tunnel(String),
    /// A request passed on: its method and absolute URL.
    Forwarded(String, String),
    /// A request refused with 407.
    Refused(String),
}

impl Proxy {
    /// A proxy that asks for `user` and `password` when given.
    pub fn start(credentials: Option<(&str, &str)>) -> Proxy {
        let expected = credentials.map(|(user, password)| {
            format!("Basic {}", STANDARD.encode(format!("{user}:{password}")))
        });
        let listener = runtime()
            .block_on(TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = seen.clone();
        let accepting = runtime().spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let (log, expected) = (log.clone(), expected.clone());
                tokio::spawn(async move {
                    let _ = serve(stream, log, expected).await;
                });
            }
        });
        Proxy {
            url,
            seen,
            accepting: accepting.abort_handle(),
        }
    }

    /// The proxy's URL with `user:password@` in it, as `HTTPS_PROXY` carries them.
    pub fn url_with(&self, user: &str, password: &str) -> String {
        self.url
            .replacen("http://", &format!("http://{user}:{password}@"), 1)
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

async fn serve(
    mut client: TcpStream,
    log: Arc<Mutex<Vec<Seen>>>,
    expected: Option<String>,
) -> std::io::Result<()> {
    let head = read_head(&mut client).await?;
    let text = String::from_utf8_lossy(&head).into_owned();
    let mut lines = text.split("\r\n");
    let request_line = lines.next().unwrap_or_default().to_owned();
    let mut parts = request_line.split(' ');
    let (method, target) = (
        parts.next().unwrap_or_default().to_owned(),
        parts.next().unwrap_or_default().to_owned(),
    );
    let authorization = lines.find_map(|line| {
        let (name, value) = line.split_once(':')?;
        name.eq_ignore_ascii_case("proxy-authorization")
            .then(|| value.trim().to_owned())
    });
    if expected.is_some() && authorization != expected {
        log.lock().unwrap().push(Seen::Refused(target));
        let body = "Proxy authentication required";
        let answer = format!(
            "HTTP/1.1 407 Proxy Authentication Required\r\nproxy-authenticate: Basic \
             realm=\"proxy\"\r\ncontent-type: text/plain\r\ncontent-length: {}\r\nconnection: \
             close\r\n\r\n{body}",
            body.len()
        );
        return client.write_all(answer.as_bytes()).await;
    }
    if method == "CONNECT" {
        let Ok(mut upstream) = TcpStream::connect(&target).await else {
            return client
                .write_all(b"HTTP/1.1 502 Bad Gateway\r\ncontent-length: 0\r\n\r\n")
                .await;
        };
        log.lock().unwrap().push(Seen::Tunnel(target));
        client
            .write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
            .await?;
        tokio::io::copy_bidirectional(&mut client, &mut upstream).await?;
        return Ok(());
    }
    // Absolute form: the host is in the target; the origin server takes the request as it is
    // (a server must accept the absolute form, RFC 9112 section 3.2.2).
    let authority = target
        .strip_prefix("http://")
        .and_then(|rest| rest.split('/').next())
        .unwrap_or_default()
        .to_owned();
    let Ok(mut upstream) = TcpStream::connect(&authority).await else {
        return client
            .write_all(b"HTTP/1.1 502 Bad Gateway\r\ncontent-length: 0\r\n\r\n")
            .await;
    };
    log.lock().unwrap().push(Seen::Forwarded(method, target));
    upstream.write_all(&head).await?;
    tokio::io::copy_bidirectional(&mut client, &mut upstream).await?;
    Ok(())
}

/// The request head, up to and with its blank line; what follows stays in the stream.
async fn read_head(stream: &mut TcpStream) -> std::io::Result<Vec<u8>> {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if head.len() >= HEAD_LIMIT || stream.read(&mut byte).await? == 0 {
            return Err(std::io::ErrorKind::InvalidData.into());
        }
        head.push(byte[0]);
    }
    Ok(head)
}
