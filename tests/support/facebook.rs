//! The Facebook Graph API emulator: Page posts, comments, the Page lookup and `GET /me`, with
//! Graph error objects, as ../shared/reference/apis.md §3 and §11 describe them.
//!
//! It checks the token (sent in the form body for writes, in the `Authorization` header for
//! reads; never accepted from the URL of a write) and the `appsecret_proof` when an app secret is
//! set; it knows a Page token (the Page's own, with the permissions in `permissions`) from a
//! User token (`GET /me` answers the user, and the Page's edges refuse it with code 200); it
//! refuses a comment without `pages_manage_engagement` with a permission error (code 200), a
//! duplicate message with code 506, and comments only on posts that exist. When `throttled`, it
//! answers code 80001 with the wait in `X-Business-Use-Case-Usage` (minutes), never in
//! `Retry-After`.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use hmac::{Hmac, KeyInit, Mac};
use serde_json::json;
use sha2::Sha256;

use super::emulator::{Inner, Request};

pub const PAGE_ID: &str = "104708835651234";
pub const PAGE_TOKEN: &str = "EAAGm0PX4ZCpsBAPageTokenSecret";
/// A User access token of the Page's admin: what people paste by mistake.
pub const USER_TOKEN: &str = "EAAGm0PX4ZCpsBAUserTokenSecret";
pub const APP_SECRET: &str = "a1b2c3d4e5f6appsecret";

pub struct FacebookState {
    pub posts: Vec<FacebookPost>,
    pub require_proof: bool,
    /// The Page token's permissions.
    pub permissions: Vec<&'static str>,
    /// The next request is throttled (code 80001) for this many minutes.
    pub throttled: Option<u64>,
}

impl Default for FacebookState {
    fn default() -> FacebookState {
        FacebookState {
            posts: Vec::new(),
            require_proof: false,
            permissions: vec![
                "pages_show_list",
                "pages_manage_posts",
                "pages_read_engagement",
                "pages_manage_engagement",
            ],
            throttled: None,
        }
    }
}

#[derive(Clone, Debug)]
pub struct FacebookPost {
    pub id: String,
    pub message: String,
    pub link: Option<String>,
    pub comments: Vec<(String, String)>,
}

pub fn graph_error(status: StatusCode, code: i64, kind: &str, message: &str) -> Response {
    (
        status,
        axum::Json(json!({"error": {"message": message, "type": kind, "code": code, "fbtrace_id": "AbCdEf123"}})),
    )
        .into_response()
}

fn proof(token: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(APP_SECRET.as_bytes()).unwrap();
    mac.update(token.as_bytes());
    mac.finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

pub fn answer(inner: &mut Inner, request: &Request) -> Response {
    let form: Vec<(String, String)> = form_urlencoded::parse(request.body.as_bytes())
        .into_owned()
        .collect();
    let query: Vec<(String, String)> = form_urlencoded::parse(request.query.as_bytes())
        .into_owned()
        .collect();
    let field = |name: &str| {
        form.iter()
            .chain(&query)
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    let token = match request.method.as_str() {
        "POST" if query.iter().any(|(k, _)| k == "access_token") => None,
        "POST" => field("access_token"),
        _ => request
            .header("authorization")
            .strip_prefix("OAuth ")
            .map(str::to_owned),
    };
    let user = match token.as_deref() {
        Some(PAGE_TOKEN) => false,
        Some(USER_TOKEN) => true,
        _ => {
            return graph_error(
                StatusCode::BAD_REQUEST,
                190,
                "OAuthException",
                "Invalid OAuth access token - Cannot parse access token",
            );
        }
    };
    if inner.facebook.require_proof {
        let token = token.as_deref().unwrap_or_default();
        match field("appsecret_proof") {
            None => {
                return graph_error(
                    StatusCode::BAD_REQUEST,
                    100,
                    "GraphMethodException",
                    "appsecret_proof argument must be passed as a parameter",
                );
            }
            Some(given) if given != proof(token) => {
                return graph_error(
                    StatusCode::BAD_REQUEST,
                    100,
                    "GraphMethodException",
                    "Invalid appsecret_proof provided in the API argument",
                );
            }
            Some(_) => {}
        }
    }
    if let Some(minutes) = inner.facebook.throttled.take() {
        let usage = json!({"1043": [{"type": "pages", "call_count": 100, "total_cputime": 30, "total_time": 40, "estimated_time_to_regain_access": minutes}]});
        let mut response = graph_error(
            StatusCode::BAD_REQUEST,
            80001,
            "OAuthException",
            "(#80001) There have been too many calls to this Page account. Wait a bit and try again.",
        );
        response.headers_mut().insert(
            "x-business-use-case-usage",
            usage.to_string().parse().unwrap(),
        );
        return response;
    }
    let parts: Vec<&str> = request.path.trim_matches('/').split('/').collect();
    let permitted = |permission: &str| !user && inner.facebook.permissions.contains(&permission);
    match (request.method.as_str(), parts.as_slice()) {
        ("GET", [_, "me"]) if user => (
            StatusCode::OK,
            axum::Json(json!({"name": "Ann Admin", "id": "10158000000001"})),
        )
            .into_response(),
        ("GET", [_, "me"]) | ("GET", [_, _]) if request.path.ends_with(PAGE_ID) || !user => (
            StatusCode::OK,
            axum::Json(json!({"name": "Example Inc", "id": PAGE_ID})),
        )
            .into_response(),
        ("POST", [_, page, "feed"]) if *page == PAGE_ID => {
            if !permitted("pages_manage_posts") {
                return graph_error(
                    StatusCode::FORBIDDEN,
                    200,
                    "OAuthException",
                    "(#200) If posting to a page, requires both pages_read_engagement and pages_manage_posts as an admin with sufficient administrative permission",
                );
            }
            let Some(message) = field("message").filter(|m| !m.is_empty()) else {
                return graph_error(
                    StatusCode::BAD_REQUEST,
                    100,
                    "OAuthException",
                    "(#100) Missing message or attachment",
                );
            };
            if inner
                .facebook
                .posts
                .last()
                .is_some_and(|post| post.message == message)
            {
                return graph_error(
                    StatusCode::BAD_REQUEST,
                    506,
                    "OAuthException",
                    "Duplicate status message",
                );
            }
            inner.next_id += 1;
            let id = format!("{PAGE_ID}_{}", inner.next_id);
            inner.facebook.posts.push(FacebookPost {
                id: id.clone(),
                message,
                link: field("link"),
                comments: Vec::new(),
            });
            (StatusCode::OK, axum::Json(json!({"id": id}))).into_response()
        }
        ("POST", [_, object, "comments"]) => {
            if !permitted("pages_manage_engagement") {
                return graph_error(
                    StatusCode::FORBIDDEN,
                    200,
                    "OAuthException",
                    "(#200) Permissions error",
                );
            }
            let Some(message) = field("message") else {
                return graph_error(
                    StatusCode::BAD_REQUEST,
                    100,
                    "OAuthException",
                    "(#100) Missing message",
                );
            };
            inner.next_id += 1;
            let comment_id = format!(
                "{}_{}",
                object.split('_').next_back().unwrap_or(""),
                inner.next_id
            );
            let Some(post) = inner
                .facebook
                .posts
                .iter_mut()
                .find(|post| post.id == *object)
            else {
                return graph_error(
                    StatusCode::BAD_REQUEST,
                    100,
                    "GraphMethodException",
                    &format!(
                        "Unsupported post request. Object with ID '{object}' does not exist, cannot be loaded due to missing permissions, or does not support this operation."
                    ),
                );
            };
            post.comments.push((comment_id.clone(), message));
            (StatusCode::OK, axum::Json(json!({"id": comment_id}))).into_response()
        }
        _ => graph_error(
            StatusCode::BAD_REQUEST,
            100,
            "GraphMethodException",
            "Unsupported request",
        ),
    }
}
