//! A Bluesky PDS's XRPC API, as ../shared/reference/apis.md §6 describes it, under `/bsky/`
//! (the PDS's base URL is `{emulator}/bsky`):
//!
//! - `com.atproto.server.createSession` with the handle and its app password (401
//!   `AuthenticationRequired` otherwise), counted so a test can see one sign-in a process;
//!   `refreshSession` with the refresh token.
//! - `com.atproto.repo.createRecord`: the access token (400 `ExpiredToken` once expired);
//!   an `app.bsky.feed.post` record whose `text` has at most 300 graphemes and 3,000 bytes,
//!   `createdAt` an RFC 3339 time, at most three `langs`, a link facet on every URL with UTF-8
//!   byte offsets pointing exactly at it, and reply references to posts that exist (root and
//!   parent, uri and cid); 400 `InvalidRequest` with a message otherwise.
//! - `RateLimit-*` headers on every answer (the reset in epoch seconds).

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use unicode_segmentation::UnicodeSegmentation;

use super::emulator::{Inner, Request};

pub const HANDLE: &str = "status.example.com";
pub const APP_PASSWORD: &str = "k3xq-7wzp-2mfd-9vha";
pub const DID: &str = "did:plc:ewvi7nxzyoun6zhxrhs64oiz";

#[derive(Default)]
pub struct BlueskyState {
    pub posts: Vec<BskyPost>,
    /// How many times each was called.
    pub sign_ins: usize,
    pub refreshes: usize,
    /// The next post finds its access token expired.
    pub expire_access: bool,
    access: Option<String>,
    refresh: Option<String>,
    tokens: usize,
}

#[derive(Clone, Debug)]
pub struct BskyPost {
    pub uri: String,
    pub cid: String,
    pub text: String,
    pub root: Option<String>,
    pub parent: Option<String>,
    pub record: Value,
}

fn error(status: StatusCode, name: &str, message: &str) -> Response {
    (
        status,
        axum::Json(json!({ "error": name, "message": message })),
    )
        .into_response()
}

fn invalid(message: &str) -> Response {
    error(StatusCode::BAD_REQUEST, "InvalidRequest", message)
}

fn with_limits(mut response: Response, used: usize) -> Response {
    let reset = jiff::Timestamp::now().as_second() + 3600;
    let headers = response.headers_mut();
    headers.insert("ratelimit-limit", "5000".parse().unwrap());
    headers.insert(
        "ratelimit-remaining",
        (5000 - 3 * used.min(1000)).to_string().parse().unwrap(),
    );
    headers.insert("ratelimit-reset", reset.to_string().parse().unwrap());
    headers.insert("ratelimit-policy", "5000;w=3600".parse().unwrap());
    response
}

fn bearer(request: &Request) -> &str {
    request
        .header("authorization")
        .strip_prefix("Bearer ")
        .unwrap_or("")
}

pub fn answer(inner: &mut Inner, request: &Request) -> Response {
    let used = inner.bluesky.posts.len();
    let method = request.path.trim_start_matches("/bsky/xrpc/");
    let response = if request.method != "POST" {
        error(StatusCode::METHOD_NOT_ALLOWED, "InvalidRequest", "use POST")
    } else {
        match method {
            "com.atproto.server.createSession" => sign_in(inner, request),
            "com.atproto.server.refreshSession" => refresh(inner, request),
            "com.atproto.repo.createRecord" => create(inner, request),
            _ => error(
                StatusCode::NOT_IMPLEMENTED,
                "MethodNotImplemented",
                "Method Not Implemented",
            ),
        }
    };
    with_limits(response, used)
}

fn new_session(state: &mut BlueskyState) -> Response {
    state.tokens += 1;
    let access = format!("access-jwt-{}", state.tokens);
    let refresh = format!("refresh-jwt-{}", state.tokens);
    state.access = Some(access.clone());
    state.refresh = Some(refresh.clone());
    (
        StatusCode::OK,
        axum::Json(json!({
            "accessJwt": access, "refreshJwt": refresh, "handle": HANDLE, "did": DID,
            "active": true,
        })),
    )
        .into_response()
}

fn sign_in(inner: &mut Inner, request: &Request) -> Response {
    let state = &mut inner.bluesky;
    state.sign_ins += 1;
    let body: Value = serde_json::from_str(&request.body).unwrap_or(Value::Null);
    let identifier = body["identifier"].as_str().unwrap_or_default();
    if ![HANDLE, DID].contains(&identifier) || body["password"] != APP_PASSWORD {
        return error(
            StatusCode::UNAUTHORIZED,
            "AuthenticationRequired",
            "Invalid identifier or password",
        );
    }
    new_session(state)
}

fn refresh(inner: &mut Inner, request: &Request) -> Response {
    let state = &mut inner.bluesky;
    state.refreshes += 1;
    if state.refresh.as_deref() != Some(bearer(request)) {
        return error(StatusCode::BAD_REQUEST, "ExpiredToken", "Token has expired");
    }
    new_session(state)
}

fn strong_ref(value: &Value) -> Option<(&str, &str)> {
    Some((value["uri"].as_str()?, value["cid"].as_str()?))
}

fn create(inner: &mut Inner, request: &Request) -> Response {
    let state = &mut inner.bluesky;
    let token = bearer(request);
    if state.access.as_deref() != Some(token) {
        return if token.starts_with("access-jwt-") {
            error(StatusCode::BAD_REQUEST, "ExpiredToken", "Token has expired")
        } else {
            error(
                StatusCode::UNAUTHORIZED,
                "AuthenticationRequired",
                "Authentication Required",
            )
        };
    }
    if state.expire_access {
        state.expire_access = false;
        state.access = None;
        return error(StatusCode::BAD_REQUEST, "ExpiredToken", "Token has expired");
    }
    let Ok(body) = serde_json::from_str::<Value>(&request.body) else {
        return invalid("Request body must be JSON");
    };
    if ![DID, HANDLE].contains(&body["repo"].as_str().unwrap_or_default()) {
        return invalid("Input/repo must be the session's account");
    }
    if body["collection"] != "app.bsky.feed.post" {
        return invalid("Input/collection must be app.bsky.feed.post");
    }
    let record = &body["record"];
    if record["$type"] != "app.bsky.feed.post" {
        return invalid(
            "Invalid app.bsky.feed.post record: Record/$type must be app.bsky.feed.post",
        );
    }
    let Some(text) = record["text"].as_str() else {
        return invalid(
            "Invalid app.bsky.feed.post record: Record must have the property \"text\"",
        );
    };
    if text.graphemes(true).count() > 300 {
        return invalid(
            "Invalid app.bsky.feed.post record: Record/text must not be longer than 300 graphemes",
        );
    }
    if text.len() > 3000 {
        return invalid(
            "Invalid app.bsky.feed.post record: Record/text must not be longer than 3000 characters",
        );
    }
    let created = record["createdAt"].as_str().unwrap_or_default();
    if created.parse::<jiff::Timestamp>().is_err() {
        return invalid(
            "Invalid app.bsky.feed.post record: Record/createdAt must be an valid atproto datetime",
        );
    }
    if record["langs"]
        .as_array()
        .is_some_and(|langs| langs.len() > 3)
    {
        return invalid(
            "Invalid app.bsky.feed.post record: Record/langs must not have more than 3 elements",
        );
    }
    // Every link facet points exactly at its URL, in UTF-8 bytes; every URL has one.
    let mut linked = Vec::new();
    for facet in record["facets"].as_array().into_iter().flatten() {
        let start = facet["index"]["byteStart"].as_u64().unwrap_or(u64::MAX) as usize;
        let end = facet["index"]["byteEnd"].as_u64().unwrap_or(0) as usize;
        let Some(slice) = text.get(start..end).filter(|_| start < end) else {
            return invalid(
                "Invalid app.bsky.feed.post record: a facet's index is outside the text",
            );
        };
        let feature = &facet["features"][0];
        if feature["$type"] != "app.bsky.richtext.facet#link" || feature["uri"] != slice {
            return invalid("a link facet does not point at its URL");
        }
        linked.push(start);
    }
    let mut offset = 0;
    for word in text.split_inclusive(char::is_whitespace) {
        if let Some(at) = word.find("https://").or_else(|| word.find("http://"))
            && !linked.contains(&(offset + at))
        {
            return invalid("a URL has no link facet: it would not be clickable");
        }
        offset += word.len();
    }
    let (mut root, mut parent) = (None, None);
    if !record["reply"].is_null() {
        let exists = |value: &Value| {
            strong_ref(value).and_then(|(uri, cid)| {
                state
                    .posts
                    .iter()
                    .find(|post| post.uri == uri && post.cid == cid)
                    .map(|post| post.uri.clone())
            })
        };
        match (
            exists(&record["reply"]["root"]),
            exists(&record["reply"]["parent"]),
        ) {
            (Some(r), Some(p)) => {
                root = Some(r);
                parent = Some(p);
            }
            _ => {
                return invalid(
                    "Invalid app.bsky.feed.post record: could not locate the reply's root or parent",
                );
            }
        }
    }
    inner.next_id += 1;
    let rkey = format!("3l{:011x}", inner.next_id % 0x0FFF_FFFF_FFFF);
    let uri = format!("at://{DID}/app.bsky.feed.post/{rkey}");
    let digest = Sha256::digest(request.body.as_bytes());
    let cid = format!(
        "bafyrei{}",
        digest[..16]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    );
    let state = &mut inner.bluesky;
    state.posts.push(BskyPost {
        uri: uri.clone(),
        cid: cid.clone(),
        text: text.to_owned(),
        root,
        parent,
        record: record.clone(),
    });
    (
        StatusCode::OK,
        axum::Json(json!({
            "uri": uri, "cid": cid,
            "commit": {"cid": "bafyreicommit", "rev": "3l3qo2vuowo2b"},
            "validationStatus": "valid",
        })),
    )
        .into_response()
}
