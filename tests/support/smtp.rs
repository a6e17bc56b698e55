//! An SMTP server emulator on loopback (RFC 5321): EHLO, STARTTLS with a certificate generated
//! for the test, AUTH PLAIN and LOGIN, MAIL, RCPT, DATA with dot-unstuffing, RSET, NOOP, QUIT.
//! It records every accepted message and can reject recipients (550) or answer any stage with a
//! queued 4xx or 5xx.

use std::collections::{HashSet, VecDeque};
use std::sync::{Arc, Mutex};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

use super::emulator::runtime;

pub const USER: &str = "relay-user-7f3a";
pub const PASSWORD: &str = "smtp-p4ssw0rd-secret";

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// No TLS at all (a local relay).
    Plain,
    /// STARTTLS offered and required before AUTH.
    Starttls,
}

#[derive(Clone, Debug)]
pub struct Received {
    pub from: String,
    pub to: Vec<String>,
    pub data: String,
}

#[derive(Default)]
pub struct State {
    pub messages: Vec<Received>,
    pub rejected: HashSet<String>,
    /// (stage, reply) pairs: the next command of that stage gets the reply.
    faults: VecDeque<(String, String)>,
    pub connections: usize,
    pub auth_required: bool,
    /// The answer to the end of DATA waits this long (benchmarks).
    pub latency: Option<std::time::Duration>,
    /// The name each EHLO gave.
    pub hellos: Vec<String>,
    /// An OAuth 2.0 access token AUTH XOAUTH2 accepts for `USER`.
    pub oauth_token: Option<String>,
}

#[derive(Clone)]
pub struct Smtp {
    pub port: u16,
    /// The PEM of the CA that signed the server's certificate.
    pub ca_pem: String,
    state: Arc<Mutex<State>>,
}

impl Smtp {
    pub fn start(mode: Mode) -> Smtp {
        let authority = super::tls::Authority::new();
        let acceptor = authority.acceptor;
        let listener = runtime()
            .block_on(TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let port = listener.local_addr().unwrap().port();
        let state = Arc::new(Mutex::new(State {
            auth_required: mode == Mode::Starttls,
            ..State::default()
        }));
        let shared = state.clone();
        runtime().spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                // Real servers answer without Nagle's delay; so does the emulator.
                let _ = stream.set_nodelay(true);
                shared.lock().unwrap().connections += 1;
                let (state, acceptor) = (shared.clone(), acceptor.clone());
                tokio::spawn(async move {
                    let _ = session(Box::new(stream), state, acceptor, mode).await;
                });
            }
        });
        Smtp {
            port,
            ca_pem: authority.ca_pem,
            state,
        }
    }

    pub fn with<T>(&self, change: impl FnOnce(&mut State) -> T) -> T {
        change(&mut self.state.lock().unwrap())
    }

    /// The next command of `stage` (`MAIL`, `RCPT`, `DATA` for the end of data) gets `reply`;
    /// `close` drops the connection instead, `sleep MS` stalls before the normal answer.
    pub fn fail(&self, stage: &str, reply: &str) {
        self.with(|state| state.faults.push_back((stage.into(), reply.into())));
    }

    pub fn messages(&self) -> Vec<Received> {
        self.with(|state| state.messages.clone())
    }
}

trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

async fn session(
    stream: Box<dyn Io>,
    state: Arc<Mutex<State>>,
    acceptor: TlsAcceptor,
    mode: Mode,
) -> std::io::Result<()> {
    let mut io = BufReader::new(stream);
    let mut secure = false;
    let mut authenticated = false;
    let mut from = String::new();
    let mut to: Vec<String> = Vec::new();
    io.write_all(b"220 127.0.0.1 ESMTP emulator\r\n").await?;
    io.flush().await?;
    loop {
        let mut line = String::new();
        if io.read_line(&mut line).await? == 0 {
            return Ok(());
        }
        let line = line.trim_end().to_owned();
        let verb = line.split(' ').next().unwrap_or("").to_ascii_uppercase();
        let fault = |stage: &str| {
            let mut state = state.lock().unwrap();
            let at = state.faults.iter().position(|(s, _)| s == stage)?;
            state.faults.remove(at).map(|(_, reply)| reply)
        };
        let reply: String = match verb.as_str() {
            "EHLO" => {
                let name = line.split(' ').nth(1).unwrap_or("").to_owned();
                state.lock().unwrap().hellos.push(name);
                let mut lines = vec![
                    "250-127.0.0.1 greets you".to_owned(),
                    "250-8BITMIME".to_owned(),
                ];
                if mode == Mode::Starttls && !secure {
                    lines.push("250-STARTTLS".into());
                }
                if mode == Mode::Plain || secure {
                    lines.push("250-AUTH PLAIN LOGIN XOAUTH2".into());
                }
                lines.push("250 SMTPUTF8".into());
                lines.join("\r\n")
            }
            "HELO" => "250 127.0.0.1".into(),
            "STARTTLS" if mode == Mode::Starttls && !secure => {
                io.write_all(b"220 2.0.0 Ready to start TLS\r\n").await?;
                io.flush().await?;
                let tls = acceptor.accept(io.into_inner()).await?;
                io = BufReader::new(Box::new(tls));
                secure = true;
                continue;
            }
            "AUTH" if mode == Mode::Starttls && !secure => {
                "530 5.7.0 Must issue a STARTTLS command first".into()
            }
            "AUTH"
                if state
                    .lock()
                    .unwrap()
                    .faults
                    .iter()
                    .any(|(stage, _)| stage == "AUTH") =>
            {
                fault("AUTH").unwrap_or_default()
            }
            "AUTH" => {
                let parts: Vec<&str> = line.split(' ').collect();
                let credentials = match parts.get(1).map(|m| m.to_ascii_uppercase()).as_deref() {
                    Some("PLAIN") => {
                        let encoded = match parts.get(2) {
                            Some(encoded) => encoded.to_string(),
                            None => ask(&mut io, "334 ").await?,
                        };
                        let decoded = STANDARD.decode(encoded.trim()).unwrap_or_default();
                        let fields: Vec<String> = decoded
                            .split(|b| *b == 0)
                            .map(|f| String::from_utf8_lossy(f).into_owned())
                            .collect();
                        (
                            fields.get(1).cloned().unwrap_or_default(),
                            fields.get(2).cloned().unwrap_or_default(),
                        )
                    }
                    Some("XOAUTH2") => {
                        // base64("user=" user "\x01auth=Bearer " token "\x01\x01")
                        let encoded = match parts.get(2) {
                            Some(encoded) => encoded.to_string(),
                            None => ask(&mut io, "334 ").await?,
                        };
                        let decoded = String::from_utf8_lossy(
                            &STANDARD.decode(encoded.trim()).unwrap_or_default(),
                        )
                        .into_owned();
                        let mut user = String::new();
                        let mut token = String::new();
                        for field in decoded.split('\x01') {
                            if let Some(value) = field.strip_prefix("user=") {
                                user = value.to_owned();
                            }
                            if let Some(value) = field.strip_prefix("auth=Bearer ") {
                                token = value.to_owned();
                            }
                        }
                        let accepted = state.lock().unwrap().oauth_token.clone();
                        match accepted {
                            Some(accepted) if accepted == token => (user, PASSWORD.to_owned()),
                            _ => (user, String::new()),
                        }
                    }
                    Some("LOGIN") => {
                        let user = ask(&mut io, "334 VXNlcm5hbWU6").await?;
                        let pass = ask(&mut io, "334 UGFzc3dvcmQ6").await?;
                        let decode = |text: &str| {
                            String::from_utf8_lossy(
                                &STANDARD.decode(text.trim()).unwrap_or_default(),
                            )
                            .into_owned()
                        };
                        (decode(&user), decode(&pass))
                    }
                    _ => (String::new(), String::new()),
                };
                if credentials == (USER.to_owned(), PASSWORD.to_owned()) {
                    authenticated = true;
                    "235 2.7.0 Authentication successful".into()
                } else {
                    "535 5.7.8 Authentication credentials invalid".into()
                }
            }
            "MAIL" if state.lock().unwrap().auth_required && !authenticated => {
                "530 5.7.0 Authentication required".into()
            }
            "MAIL" => match fault("MAIL") {
                Some(reply) if !reply.starts_with("sleep ") => reply,
                stall => {
                    if let Some(millis) = stall.and_then(|r| r[6..].trim().parse().ok()) {
                        tokio::time::sleep(std::time::Duration::from_millis(millis)).await;
                    }
                    from = address(&line);
                    to.clear();
                    "250 2.1.0 Ok".into()
                }
            },
            "RCPT" => {
                let recipient = address(&line);
                match fault("RCPT") {
                    Some(reply) => reply,
                    None if state.lock().unwrap().rejected.contains(&recipient) => {
                        format!("550 5.1.1 <{recipient}>: Recipient address rejected: User unknown")
                    }
                    None => {
                        to.push(recipient);
                        "250 2.1.5 Ok".into()
                    }
                }
            }
            "DATA" if to.is_empty() => "554 5.5.1 Error: no valid recipients".into(),
            "DATA" => {
                io.write_all(b"354 End data with <CR><LF>.<CR><LF>\r\n")
                    .await?;
                io.flush().await?;
                let mut data = String::new();
                loop {
                    let mut line = String::new();
                    if io.read_line(&mut line).await? == 0 {
                        return Ok(());
                    }
                    if line == ".\r\n" {
                        break;
                    }
                    data.push_str(line.strip_prefix('.').unwrap_or(&line));
                }
                let latency = state.lock().unwrap().latency;
                if let Some(latency) = latency {
                    super::latency::wait(latency).await;
                }
                match fault("DATA") {
                    // The message is queued, then the connection is lost before the reply.
                    Some(reply) if reply == "close" => {
                        state.lock().unwrap().messages.push(Received {
                            from: from.clone(),
                            to: to.clone(),
                            data,
                        });
                        reply
                    }
                    Some(reply) => reply,
                    None => {
                        let mut state = state.lock().unwrap();
                        state.messages.push(Received {
                            from: from.clone(),
                            to: to.clone(),
                            data,
                        });
                        format!("250 2.0.0 Ok: queued as Q{}", state.messages.len())
                    }
                }
            }
            "RSET" => {
                to.clear();
                "250 2.0.0 Ok".into()
            }
            "NOOP" => "250 2.0.0 Ok".into(),
            "QUIT" => {
                io.write_all(b"221 2.0.0 Bye\r\n").await?;
                io.flush().await?;
                return Ok(());
            }
            _ => "502 5.5.2 Error: command not recognized".into(),
        };
        if reply == "close" {
            return Ok(());
        }
        io.write_all(format!("{reply}\r\n").as_bytes()).await?;
        io.flush().await?;
    }
}

async fn ask(io: &mut BufReader<Box<dyn Io>>, prompt: &str) -> std::io::Result<String> {
    io.write_all(format!("{prompt}\r\n").as_bytes()).await?;
    io.flush().await?;
    let mut answer = String::new();
    io.read_line(&mut answer).await?;
    Ok(answer.trim_end().to_owned())
}

/// The address inside `MAIL FROM:<a@b> SIZE=1` or `RCPT TO:<a@b>`.
fn address(line: &str) -> String {
    let start = line.find('<').map_or(0, |at| at + 1);
    let end = line[start..].find('>').map_or(line.len(), |at| start + at);
    line[start..end].to_owned()
}
