//! A Mastodon instance's API, as ../shared/reference/apis.md §6 describes it, under
//! `/mastodon/` (the instance's base URL is `{emulator}/mastodon`):
//!
//! - `POST /api/v1/statuses`: a bearer token with `write:statuses`; JSON `status`,
//!   `in_reply_to_id` (must exist, else 404 "Record not found"), `visibility`, `language`;
//!   the length counted as Mastodon does (grapheme clusters, each URL 23) against
//!   `max_characters`, else 422 "Validation failed: …"; an empty text 422 too; an
//!   `Idempotency-Key` seen in the last hour answers the status it made, without a new one.
//!   Rate-limit headers on every answer, `X-RateLimit-Reset` as an ISO 8601 time.
//! - `GET /api/v1/accounts/verify_credentials` and `GET /api/v2/instance`.

use std::collections::HashMap;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use unicode_segmentation::UnicodeSegmentation;

use super::emulator::{Inner, Request};

pub const TOKEN: &str = "mastodon-user-token-Zm9vYmFy1234";

pub struct MastodonState {
    pub max_characters: usize,
    pub statuses: Vec<Status>,
    keys: HashMap<String, usize>,
}

impl Default for MastodonState {
    fn default() -> Self {
        MastodonState {
            max_characters: 500,
            statuses: Vec::new(),
            keys: HashMap::new(),
        }
    }
}

#[derive(Clone, Debug)]
pub struct Status {
    pub id: String,
    pub text: String,
    pub in_reply_to_id: Option<String>,
    pub visibility: String,
    pub language: Option<String>,
}

fn error(status: StatusCode, message: &str) -> Response {
    (status, axum::Json(json!({ "error": message }))).into_response()
}

fn with_limits(mut response: Response, used: usize) -> Response {
    let reset = jiff::Timestamp::now() + jiff::SignedDuration::from_mins(5);
    let headers = response.headers_mut();
    headers.insert("x-ratelimit-limit", "300".parse().unwrap());
    headers.insert(
        "x-ratelimit-remaining",
        (300 - used.min(300)).to_string().parse().unwrap(),
    );
    headers.insert(
        "x-ratelimit-reset",
        reset
            .strftime("%Y-%m-%dT%H:%M:%S%.3fZ")
            .to_string()
            .parse()
            .unwrap(),
    );
    response
}

/// Mastodon's count: grapheme clusters, each http(s) URL as 23.
fn length(text: &str) -> usize {
    text.split_inclusive(char::is_whitespace)
        .map(|word| {
            let trimmed = word.trim_end();
            let url = trimmed.find("https://").or_else(|| trimmed.find("http://"));
            match url {
                Some(at) => {
                    let end = trimmed
                        .trim_end_matches(['.', ',', ';', ':', '!', '?', ')'])
                        .len();
                    trimmed[..at].graphemes(true).count()
                        + 23
                        + trimmed[end..].graphemes(true).count()
                        + (word.len() - trimmed.len())
                }
                None => word.graphemes(true).count(),
            }
        })
        .sum()
}

fn status_json(status: &Status) -> Value {
    json!({
        "id": status.id,
        "created_at": jiff::Timestamp::now().to_string(),
        "in_reply_to_id": status.in_reply_to_id,
        "visibility": status.visibility,
        "language": status.language,
        "uri": format!("https://social.example.com/users/status/statuses/{}", status.id),
        "url": format!("https://social.example.com/@status/{}", status.id),
        "content": format!("<p>{}</p>", status.text.replace('&', "&amp;").replace('<', "&lt;")),
        "account": {"id": "1", "username": "status", "acct": "status"},
    })
}

pub fn answer(inner: &mut Inner, request: &Request) -> Response {
    let path = request.path.trim_start_matches("/mastodon");
    let used = inner.mastodon.statuses.len();
    if request.header("authorization") != format!("Bearer {TOKEN}") {
        return with_limits(
            error(StatusCode::UNAUTHORIZED, "The access token is invalid"),
            used,
        );
    }
    let response = match (request.method.as_str(), path) {
        ("GET", "/api/v1/accounts/verify_credentials") => (
            StatusCode::OK,
            axum::Json(json!({"id": "1", "username": "status", "acct": "status"})),
        )
            .into_response(),
        ("GET", "/api/v2/instance") => (
            StatusCode::OK,
            axum::Json(json!({
                "domain": "social.example.com",
                "configuration": {"statuses": {
                    "max_characters": inner.mastodon.max_characters,
                    "max_media_attachments": 4,
                    "characters_reserved_per_url": 23,
                }},
            })),
        )
            .into_response(),
        ("POST", "/api/v1/statuses") => post(inner, request),
        _ => error(StatusCode::NOT_FOUND, "Record not found"),
    };
    with_limits(response, used)
}

fn post(inner: &mut Inner, request: &Request) -> Response {
    if request.header("content-type") != "application/json" {
        return error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "Validation failed: Text can't be blank",
        );
    }
    let Ok(body) = serde_json::from_str::<Value>(&request.body) else {
        return error(StatusCode::BAD_REQUEST, "Invalid JSON");
    };
    let key = request.header("idempotency-key").to_owned();
    let state = &mut inner.mastodon;
    if !key.is_empty()
        && let Some(&index) = state.keys.get(&key)
    {
        return (
            StatusCode::OK,
            axum::Json(status_json(&state.statuses[index])),
        )
            .into_response();
    }
    let text = body["status"].as_str().unwrap_or_default();
    if text.trim().is_empty() {
        return error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "Validation failed: Text can't be blank",
        );
    }
    if length(text) > state.max_characters {
        return error(
            StatusCode::UNPROCESSABLE_ENTITY,
            &format!(
                "Validation failed: Text character limit of {} exceeded",
                state.max_characters
            ),
        );
    }
    let visibility = body["visibility"].as_str().unwrap_or("public");
    if !["public", "unlisted", "private", "direct"].contains(&visibility) {
        return error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "Validation failed: Visibility is not included in the list",
        );
    }
    let reply = body["in_reply_to_id"].as_str().map(str::to_owned);
    if let Some(id) = &reply
        && !state.statuses.iter().any(|status| &status.id == id)
    {
        return error(StatusCode::NOT_FOUND, "Record not found");
    }
    inner.next_id += 1;
    let state = &mut inner.mastodon;
    let status = Status {
        id: inner.next_id.to_string(),
        text: text.to_owned(),
        in_reply_to_id: reply,
        visibility: visibility.to_owned(),
        language: body["language"].as_str().map(str::to_owned),
    };
    state.statuses.push(status.clone());
    if !key.is_empty() {
        state.keys.insert(key, state.statuses.len() - 1);
    }
    (StatusCode::OK, axum::Json(status_json(&status))).into_response()
}
