//! The X API v2 emulator: `POST /2/tweets` and `GET /2/users/me`, as ../shared/reference/apis.md
//! §1 describes them.
//!
//! It verifies the OAuth 1.0a signature (recomputed here from RFC 5849, not with `outage`'s code)
//! or the OAuth 2.0 user token, refuses a reused nonce, rejects unknown body keys, counts the
//! weighted length, refuses duplicates and (when told to) replies, and puts the rate-limit
//! headers on every answer.

use std::collections::HashSet;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, KeyInit, Mac};
use serde_json::json;
use sha1::Sha1;

use super::emulator::{Inner, Request};

pub const CONSUMER_KEY: &str = "xvz1evFS4wEEPTGEFPHBog";
pub const CONSUMER_SECRET: &str = "kAcSOqF21Fu85e7zjz7ZN2U4ZRhfV3WpwPAoE3Z7kBw";
pub const TOKEN: &str = "370773112-GmHxMAgYyLbNEtIKZeRNFsMKPR9EyMZeS9weJAEb";
pub const TOKEN_SECRET: &str = "LswwdoUaIvS8ltyTt5jkRh4J50vUPVVHtR2YPi5kE";
pub const BEARER: &str = "x-user-token-Zm9vYmFyYmF6";

#[derive(Default)]
pub struct XState {
    pub posts: Vec<XPost>,
    /// Refuse replies as X's 2026 reply rules can.
    pub refuse_replies: bool,
    /// The account's 24-hour posting limit is used up: posts get 429 with the 24-hour headers.
    pub daily_limit_reached: bool,
    /// Reached through the TLS front ([`super::emulator::Emulator::behind_tls`]): signatures
    /// cover `https://` URLs, as they do for X itself.
    pub behind_tls: bool,
    nonces: HashSet<String>,
}

#[derive(Clone, Debug)]
pub struct XPost {
    pub id: String,
    pub text: String,
    pub reply_to: Option<String>,
}

fn problem(status: StatusCode, title: &str, detail: &str) -> Response {
    (
        status,
        [("content-type", "application/problem+json")],
        json!({"title": title, "detail": detail, "type": "about:blank", "status": status.as_u16()})
            .to_string(),
    )
        .into_response()
}

fn with_rate_headers(mut response: Response, used: usize) -> Response {
    let reset = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 900;
    let headers = response.headers_mut();
    headers.insert("x-rate-limit-limit", "100".parse().unwrap());
    headers.insert(
        "x-rate-limit-remaining",
        (100 - used.min(100)).to_string().parse().unwrap(),
    );
    headers.insert("x-rate-limit-reset", reset.to_string().parse().unwrap());
    response
}

pub fn answer(inner: &mut Inner, request: &Request) -> Response {
    let used = inner.x.posts.len();
    if inner.x.daily_limit_reached && request.path == "/2/tweets" {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let mut response = with_rate_headers(
            problem(
                StatusCode::TOO_MANY_REQUESTS,
                "Too Many Requests",
                "Too Many Requests",
            ),
            used,
        );
        let headers = response.headers_mut();
        headers.insert("x-user-limit-24hour-limit", "17".parse().unwrap());
        headers.insert("x-user-limit-24hour-remaining", "0".parse().unwrap());
        headers.insert(
            "x-user-limit-24hour-reset",
            (now + 20 * 3600).to_string().parse().unwrap(),
        );
        return response;
    }
    let response = match authenticate(&mut inner.x, request) {
        false => problem(StatusCode::UNAUTHORIZED, "Unauthorized", "Unauthorized"),
        true => match (request.method.as_str(), request.path.as_str()) {
            ("POST", "/2/tweets") => create(inner, request),
            ("GET", "/2/users/me") => (
                StatusCode::OK,
                axum::Json(json!({"data": {"id": "2244994945", "name": "Example Inc", "username": "exampleinc"}})),
            )
                .into_response(),
            _ => problem(StatusCode::NOT_FOUND, "Not Found Error", "no such endpoint"),
        },
    };
    with_rate_headers(response, used)
}

fn create(inner: &mut Inner, request: &Request) -> Response {
    let invalid = |detail: &str| {
        (
            StatusCode::BAD_REQUEST,
            axum::Json(json!({
                "errors": [{"message": detail}],
                "title": "Invalid Request",
                "detail": "One or more parameters to your request was invalid.",
                "type": "https://api.x.com/2/problems/invalid-request"
            })),
        )
            .into_response()
    };
    let Ok(body) = serde_json::from_str::<serde_json::Value>(&request.body) else {
        return invalid("The request body is not valid JSON");
    };
    if let Some(key) = body
        .as_object()
        .and_then(|o| o.keys().find(|k| !["text", "reply"].contains(&k.as_str())))
    {
        return invalid(&format!(
            "The property '{key}' is not defined and the schema does not allow additional properties"
        ));
    }
    let Some(text) = body["text"].as_str() else {
        return invalid("text is required");
    };
    if !super::twitter_text::is_valid(text) {
        return problem(
            StatusCode::FORBIDDEN,
            "Forbidden",
            "Your Tweet text is too long.",
        );
    }
    let reply_to = body["reply"]["in_reply_to_tweet_id"]
        .as_str()
        .map(str::to_owned);
    if inner.x.posts.iter().any(|post| post.text == text) {
        return problem(
            StatusCode::FORBIDDEN,
            "Forbidden",
            "You are not allowed to create a Tweet with duplicate content.",
        );
    }
    if let Some(parent) = &reply_to {
        if inner.x.refuse_replies {
            return problem(
                StatusCode::FORBIDDEN,
                "Forbidden",
                "Reply to this conversation is not allowed because you have not been mentioned or otherwise engaged by the author of the post you are replying to.",
            );
        }
        if !inner.x.posts.iter().any(|post| &post.id == parent) {
            return invalid("The post you are replying to does not exist");
        }
    }
    inner.next_id += 1;
    let id = format!("18{:017}", inner.next_id);
    inner.x.posts.push(XPost {
        id: id.clone(),
        text: text.to_owned(),
        reply_to,
    });
    (
        StatusCode::CREATED,
        axum::Json(json!({"data": {"id": id, "text": text, "edit_history_tweet_ids": [id]}})),
    )
        .into_response()
}

/// Whether the request carries the right OAuth 2.0 token or a valid OAuth 1.0a signature.
fn authenticate(state: &mut XState, request: &Request) -> bool {
    let header = request.header("authorization");
    if let Some(token) = header.strip_prefix("Bearer ") {
        return token == BEARER;
    }
    let Some(fields) = header.strip_prefix("OAuth ") else {
        return false;
    };
    let mut params: Vec<(String, String)> = Vec::new();
    let mut signature = None;
    for field in fields.split(", ") {
        let Some((key, value)) = field.split_once('=') else {
            return false;
        };
        let value = decode(value.trim_matches('"'));
        if key == "oauth_signature" {
            signature = Some(value);
        } else {
            params.push((key.to_owned(), value));
        }
    }
    let get = |name: &str| {
        params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    if get("oauth_consumer_key").as_deref() != Some(CONSUMER_KEY)
        || get("oauth_token").as_deref() != Some(TOKEN)
    {
        return false;
    }
    // A replayed nonce is refused, as X does.
    match get("oauth_nonce") {
        Some(nonce) if state.nonces.insert(nonce.clone()) => {}
        _ => return false,
    }
    for pair in request.query.split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        params.push((decode(key), decode(value)));
    }
    // The URL the client called, as X's own servers see it.
    let scheme = if state.behind_tls { "https" } else { "http" };
    let base_url = format!("{scheme}://{}{}", request.header("host"), request.path);
    let mut encoded: Vec<String> = params
        .iter()
        .map(|(k, v)| format!("{}={}", pct(k), pct(v)))
        .collect();
    encoded.sort();
    let base = format!(
        "{}&{}&{}",
        request.method,
        pct(&base_url),
        pct(&encoded.join("&"))
    );
    let key = format!("{}&{}", pct(CONSUMER_SECRET), pct(TOKEN_SECRET));
    let mut mac = Hmac::<Sha1>::new_from_slice(key.as_bytes()).unwrap();
    mac.update(base.as_bytes());
    signature.as_deref() == Some(STANDARD.encode(mac.finalize().into_bytes()).as_str())
}

/// RFC 3986 percent-encoding, written out byte by byte.
fn pct(text: &str) -> String {
    text.bytes()
        .map(|byte| match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (byte as char).to_string()
            }
            _ => format!("%{byte:02X}"),
        })
        .collect()
}

fn decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let Ok(byte) = u8::from_str_radix(&text[i + 1..i + 3], 16)
        {
            out.push(byte);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}
