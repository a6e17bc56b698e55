//! A loopback emulator of every remote service `outage` posts to, answering like the real ones
//! (../shared/reference/apis.md). X lives under `/2/` ([`super::x`]), the Facebook Graph API
//! under `/v25.0/` ([`super::facebook`]), and the webhook receivers (§4, §5) here:
//!
//! - `/json/...`: a Standard Webhooks receiver. With a secret it verifies `webhook-signature`
//!   (HMAC-SHA256 over `id.timestamp.body`, 5 minute tolerance) and answers 401 when it is wrong;
//!   it answers 204 otherwise.
//! - `/slack/...`: 200 `ok` (text/plain); 400 `invalid_payload` / `no_text` on a bad body.
//! - `/discord/api/v10/webhooks/{id}/{token}`: 204, or 200 with the message object when
//!   `wait=true`; 400 `{"message": "Invalid Form Body", "code": 50035}` when `content` is over 2000
//!   characters. The unversioned `/discord/api/webhooks/…` (what Discord shows) reaches the
//!   deprecated default version, whose rate-limit waits (body `retry_after` and `Retry-After`) come
//!   in milliseconds; the versioned API gives seconds. `discord_rate_limit` makes the next request
//!   a 429 with that wait.
//! - `/teams/...`: 202 with an empty body for a Workflows Adaptive Card message; 400 otherwise.
//! - `/mattermost/hooks/{key}`: 200 `ok`; 400 with Mattermost's error object when `text` is
//!   missing.
//! - `/mastodon/…` a Mastodon instance ([`super::mastodon`]), `/bsky/…` a Bluesky PDS
//!   ([`super::bluesky`]).
//!
//! Faults are queued per path and used up in order: a status with a body and headers, or a delay
//! before the normal answer.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

/// The runtime every emulator runs on, beside the test's own thread.
pub fn runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("emulator runtime")
    })
}

#[derive(Clone, Debug)]
pub struct Request {
    pub method: String,
    pub path: String,
    pub query: String,
    pub headers: HashMap<String, String>,
    pub body: String,
}

impl Request {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).expect("the body is JSON")
    }

    pub fn header(&self, name: &str) -> &str {
        self.headers.get(name).map(String::as_str).unwrap_or("")
    }
}

#[derive(Clone, Debug)]
pub enum Fault {
    Status {
        code: u16,
        body: String,
        headers: Vec<(String, String)>,
    },
    Delay(Duration),
    /// Drop the connection without an answer, as a crashed server or a reset does.
    Hangup,
    /// Answer with this status and a page that repeats what was sent: the path and query, the
    /// `Authorization` header and the body, as an Express 404 page or a debugging proxy does.
    Echo(u16),
    /// Answer 200 with a body that never ends (a hostile or broken server).
    Endless,
    /// Do what the request asks, then drop the connection before answering: the post exists,
    /// and the client cannot know it.
    Lost,
}

impl Fault {
    pub fn status(code: u16, body: &str) -> Fault {
        Fault::Status {
            code,
            body: body.into(),
            headers: Vec::new(),
        }
    }

    pub fn with_header(self, name: &str, value: &str) -> Fault {
        match self {
            Fault::Status {
                code,
                body,
                mut headers,
            } => {
                headers.push((name.into(), value.into()));
                Fault::Status {
                    code,
                    body,
                    headers,
                }
            }
            other => other,
        }
    }
}

#[derive(Default)]
pub struct Inner {
    requests: Vec<Request>,
    faults: HashMap<String, VecDeque<Fault>>,
    always: HashMap<String, Fault>,
    secrets: HashMap<String, Vec<u8>>,
    pub next_id: u64,
    /// Every answer waits this long first (benchmarks).
    pub latency: Option<Duration>,
    /// The next Discord request is rate limited for this many seconds.
    pub discord_rate_limit: Option<f64>,
    /// Requests being answered now, and the most there were at once.
    pub in_flight: usize,
    pub concurrent_peak: usize,
    pub x: super::x::XState,
    pub facebook: super::facebook::FacebookState,
    pub mastodon: super::mastodon::MastodonState,
    pub bluesky: super::bluesky::BlueskyState,
}

/// Answers on a port of `ip` with the receivers sharing `inner`; the base URL. The server stops
/// listening when `servers` is dropped.
fn serve(inner: &Arc<Mutex<Inner>>, ip: std::net::Ipv4Addr, servers: &Servers) -> String {
    let app = axum::Router::new()
        .fallback(answer)
        .with_state(inner.clone());
    let listener = runtime()
        .block_on(tokio::net::TcpListener::bind((ip, 0)))
        .expect("bind");
    let base = format!("http://{}", listener.local_addr().unwrap());
    let server = runtime().spawn(async move { axum::serve(listener, app).await });
    servers.0.lock().unwrap().push(server.abort_handle());
    base
}

/// An emulator's servers, which stop listening when the last clone of it goes: a benchmark
/// row's 10,000 listeners left open made every later command start 1-2 ms slower (each `exec`
/// closes its copies of the parent's descriptors).
#[derive(Default)]
struct Servers(Mutex<Vec<tokio::task::AbortHandle>>);

impl Drop for Servers {
    fn drop(&mut self) {
        for server in self.0.get_mut().unwrap().drain(..) {
            server.abort();
        }
    }
}

#[derive(Clone)]
pub struct Emulator {
    pub base: String,
    inner: Arc<Mutex<Inner>>,
    servers: Arc<Servers>,
}

impl Emulator {
    pub fn start() -> Emulator {
        let inner = Arc::new(Mutex::new(Inner {
            next_id: 1_200_000_000_000_000_000,
            ..Inner::default()
        }));
        let servers = Arc::new(Servers::default());
        let base = serve(&inner, std::net::Ipv4Addr::LOCALHOST, &servers);
        Emulator {
            base,
            inner,
            servers,
        }
    }

    /// The same receivers on another address of this machine (any of 127.0.0.0/8 is), for a
    /// list whose subscribers are on servers of their own. Its base URL.
    pub fn also_on(&self, ip: std::net::Ipv4Addr) -> String {
        serve(&self.inner, ip, &self.servers)
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// A TLS front for these receivers ([`super::tls::front`]): its `https://` base URL and the
    /// PEM of the CA its certificate is signed by. The receivers then judge what a client signs
    /// as the URL it called, `https://`, as the real services do.
    pub fn behind_tls(&self) -> (String, String) {
        self.behind_tls_with(super::tls::Authority::new())
    }

    /// The same with a certificate of `authority`'s (one that signs itself, say).
    pub fn behind_tls_with(&self, authority: super::tls::Authority) -> (String, String) {
        self.with(|inner| inner.x.behind_tls = true);
        let (https, ca, accepting) = super::tls::front(&self.base, authority);
        // It stops listening with the emulator's own servers.
        self.servers.0.lock().unwrap().push(accepting);
        (https, ca)
    }

    /// The receiver at `path` verifies signatures made with this `whsec_` secret.
    pub fn secret(&self, path: &str, secret: &str) -> &Self {
        let key = STANDARD
            .decode(secret.trim_start_matches("whsec_"))
            .expect("base64 secret");
        self.inner.lock().unwrap().secrets.insert(path.into(), key);
        self
    }

    /// Queues faults for `path`, answered before the normal behaviour resumes.
    pub fn fail(&self, path: &str, faults: Vec<Fault>) -> &Self {
        self.inner
            .lock()
            .unwrap()
            .faults
            .entry(path.into())
            .or_default()
            .extend(faults);
        self
    }

    /// Answers every request to `path` with this fault.
    pub fn always(&self, path: &str, fault: Fault) -> &Self {
        self.inner.lock().unwrap().always.insert(path.into(), fault);
        self
    }

    /// Changes the emulated services' state (credentials, posts, behaviour).
    pub fn with<T>(&self, change: impl FnOnce(&mut Inner) -> T) -> T {
        change(&mut self.inner.lock().unwrap())
    }

    pub fn requests(&self) -> Vec<Request> {
        self.inner.lock().unwrap().requests.clone()
    }

    pub fn requests_to(&self, path: &str) -> Vec<Request> {
        self.requests()
            .into_iter()
            .filter(|request| request.path == path)
            .collect()
    }
}

async fn answer(
    State(inner): State<Arc<Mutex<Inner>>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let request = Request {
        method: method.to_string(),
        path: uri.path().to_owned(),
        query: uri.query().unwrap_or("").to_owned(),
        headers: headers
            .iter()
            .map(|(name, value)| {
                (
                    name.as_str().to_owned(),
                    value.to_str().unwrap_or("").to_owned(),
                )
            })
            .collect(),
        body: String::from_utf8_lossy(&body).into_owned(),
    };
    let (fault, latency) = {
        let mut inner = inner.lock().unwrap();
        inner.requests.push(request.clone());
        inner.in_flight += 1;
        inner.concurrent_peak = inner.concurrent_peak.max(inner.in_flight);
        let queued = inner
            .faults
            .get_mut(&request.path)
            .and_then(VecDeque::pop_front);
        (
            queued.or_else(|| inner.always.get(&request.path).cloned()),
            inner.latency,
        )
    };
    /// Counts the request out when its answer is made, whichever way that is.
    struct Done(Arc<Mutex<Inner>>);
    impl Drop for Done {
        fn drop(&mut self) {
            if let Ok(mut inner) = self.0.lock() {
                inner.in_flight -= 1;
            }
        }
    }
    let _done = Done(inner.clone());
    if let Some(latency) = latency {
        super::latency::wait(latency).await;
    }
    match fault {
        Some(Fault::Status {
            code,
            body,
            headers,
        }) => return status_response(code, body, headers),
        Some(Fault::Delay(wait)) => tokio::time::sleep(wait).await,
        // Unwinding out of the handler makes hyper drop the connection; resume_unwind skips the
        // panic hook, so nothing is printed.
        Some(Fault::Hangup) => std::panic::resume_unwind(Box::new("hang up")),
        Some(Fault::Echo(code)) => {
            let page = format!(
                "<pre>Cannot {} {}?{}</pre> authorization: {} body: {}",
                request.method,
                request.path,
                request.query,
                request.header("authorization"),
                request.body
            );
            return status_response(code, page, Vec::new());
        }
        Some(Fault::Endless) => {
            let chunk = axum::body::Bytes::from(vec![b'x'; 64 * 1024]);
            let stream =
                futures_util::stream::repeat_with(move || Ok::<_, std::io::Error>(chunk.clone()));
            return (StatusCode::OK, axum::body::Body::from_stream(stream)).into_response();
        }
        Some(Fault::Lost) | None => {}
    }
    let lost = matches!(fault, Some(Fault::Lost));
    let response = service(&mut inner.lock().unwrap(), &request);
    if lost {
        std::panic::resume_unwind(Box::new("answer lost"));
    }
    response
}

/// The normal answer of the service `request` is for.
fn service(inner: &mut Inner, request: &Request) -> Response {
    inner.next_id += 1;
    let request = request.clone();
    let service = request.path.split('/').nth(1).unwrap_or("");
    match service {
        "2" => super::x::answer(inner, &request),
        version if version.starts_with('v') => super::facebook::answer(inner, &request),
        "json" => json_receiver(
            &request,
            inner.secrets.get(&request.path).map(Vec::as_slice),
        ),
        "slack" => slack(&request),
        "discord" => {
            let limit = inner.discord_rate_limit.take();
            discord(&request, inner.next_id, limit)
        }
        "teams" => teams(&request),
        "mastodon" => super::mastodon::answer(inner, &request),
        "bsky" => super::bluesky::answer(inner, &request),
        "mattermost" => mattermost(&request),
        _ => (StatusCode::NOT_FOUND, "no such emulator").into_response(),
    }
}

fn status_response(code: u16, body: String, headers: Vec<(String, String)>) -> Response {
    let mut response = (StatusCode::from_u16(code).unwrap(), body).into_response();
    for (name, value) in headers {
        response.headers_mut().insert(
            axum::http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
            value.parse().unwrap(),
        );
    }
    response
}

fn json_receiver(request: &Request, key: Option<&[u8]>) -> Response {
    if request.header("content-type") != "application/json" {
        return (StatusCode::UNSUPPORTED_MEDIA_TYPE, "").into_response();
    }
    if let Some(Err(why)) = key.map(|key| verify(request, key)) {
        return (StatusCode::UNAUTHORIZED, why).into_response();
    }
    StatusCode::NO_CONTENT.into_response()
}

/// Standard Webhooks verification, written from the spec rather than from `outage`'s code.
fn verify(request: &Request, key: &[u8]) -> Result<(), &'static str> {
    let id = request.header("webhook-id");
    let timestamp = request.header("webhook-timestamp");
    let signatures = request.header("webhook-signature");
    if id.is_empty() || timestamp.is_empty() || signatures.is_empty() {
        return Err("missing webhook headers");
    }
    let sent: i64 = timestamp.parse().map_err(|_| "bad timestamp")?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    if (now - sent).abs() > 300 {
        return Err("timestamp outside the tolerance");
    }
    for signature in signatures.split(' ') {
        let Some(encoded) = signature.strip_prefix("v1,") else {
            continue;
        };
        let Ok(expected) = STANDARD.decode(encoded) else {
            continue;
        };
        let mut mac = Hmac::<Sha256>::new_from_slice(key).unwrap();
        mac.update(format!("{id}.{timestamp}.").as_bytes());
        mac.update(request.body.as_bytes());
        if mac.verify_slice(&expected).is_ok() {
            return Ok(());
        }
    }
    Err("no matching signature")
}

fn text_plain(code: StatusCode, body: &'static str) -> Response {
    (code, [("content-type", "text/plain")], body).into_response()
}

fn slack(request: &Request) -> Response {
    let Ok(body) = serde_json::from_str::<serde_json::Value>(&request.body) else {
        return text_plain(StatusCode::BAD_REQUEST, "invalid_payload");
    };
    let has_text = body["text"].as_str().is_some_and(|text| !text.is_empty());
    if !has_text && body["blocks"].is_null() {
        return text_plain(StatusCode::BAD_REQUEST, "no_text");
    }
    if let Some(blocks) = body["blocks"].as_array() {
        let too_long = blocks.iter().any(|block| {
            block["text"]["text"]
                .as_str()
                .is_some_and(|t| t.chars().count() > 3000)
        });
        if too_long {
            return text_plain(StatusCode::BAD_REQUEST, "invalid_blocks");
        }
    }
    text_plain(StatusCode::OK, "ok")
}

fn discord(request: &Request, id: u64, rate_limit: Option<f64>) -> Response {
    let versioned = request.path.starts_with("/discord/api/v10/webhooks/");
    if !versioned && !request.path.starts_with("/discord/api/webhooks/") {
        return (
            StatusCode::NOT_FOUND,
            axum::Json(serde_json::json!({"message": "404: Not Found", "code": 0})),
        )
            .into_response();
    }
    if let Some(seconds) = rate_limit {
        // The deprecated default version answers the wait in milliseconds.
        let wait = if versioned { seconds } else { seconds * 1000.0 };
        return (
            StatusCode::TOO_MANY_REQUESTS,
            [("retry-after", wait.to_string()), ("x-ratelimit-scope", "user".to_owned())],
            axum::Json(serde_json::json!({"message": "You are being rate limited.", "retry_after": wait, "global": false})),
        )
            .into_response();
    }
    let Ok(body) = serde_json::from_str::<serde_json::Value>(&request.body) else {
        return (
            StatusCode::BAD_REQUEST,
            axum::Json(
                serde_json::json!({"message": "Cannot send an empty message", "code": 50006}),
            ),
        )
            .into_response();
    };
    let content = body["content"].as_str().unwrap_or("");
    if content.is_empty() && body["embeds"].is_null() {
        return (
            StatusCode::BAD_REQUEST,
            axum::Json(
                serde_json::json!({"message": "Cannot send an empty message", "code": 50006}),
            ),
        )
            .into_response();
    }
    if content.chars().count() > 2000 {
        return (
            StatusCode::BAD_REQUEST,
            axum::Json(serde_json::json!({
                "message": "Invalid Form Body", "code": 50035,
                "errors": {"content": {"_errors": [{"code": "BASE_TYPE_MAX_LENGTH", "message": "Must be 2000 or fewer in length."}]}}
            })),
        )
            .into_response();
    }
    if request.query.split('&').any(|pair| pair == "wait=true") {
        return (
            StatusCode::OK,
            axum::Json(
                serde_json::json!({"id": id.to_string(), "channel_id": "1100", "content": content}),
            ),
        )
            .into_response();
    }
    StatusCode::NO_CONTENT.into_response()
}

fn teams(request: &Request) -> Response {
    let Ok(body) = serde_json::from_str::<serde_json::Value>(&request.body) else {
        return StatusCode::BAD_REQUEST.into_response();
    };
    let card = &body["attachments"][0];
    if body["type"] != "message"
        || card["contentType"] != "application/vnd.microsoft.card.adaptive"
        || card["content"]["type"] != "AdaptiveCard"
    {
        return StatusCode::BAD_REQUEST.into_response();
    }
    StatusCode::ACCEPTED.into_response()
}

fn mattermost(request: &Request) -> Response {
    let text = serde_json::from_str::<serde_json::Value>(&request.body)
        .ok()
        .and_then(|body| body["text"].as_str().map(str::to_owned));
    match text {
        Some(text) if !text.is_empty() && text.chars().count() <= 16383 => {
            text_plain(StatusCode::OK, "ok")
        }
        _ => (
            StatusCode::BAD_REQUEST,
            axum::Json(serde_json::json!({
                "id": "web.incoming_webhook.text.app_error",
                "message": "No text specified.",
                "detailed_error": "", "status_code": 400
            })),
        )
            .into_response(),
    }
}
