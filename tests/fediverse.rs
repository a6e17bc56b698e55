//! Mastodon and Bluesky against their emulators (issue 14): threads, every fact within each
//! service's own count, idempotent retries on Mastodon, one Bluesky session a process and its
//! refresh, link facets, errors in the services' own shapes, and `channels --check`.

use std::time::Duration;

use crate::support::bluesky::{APP_PASSWORD, DID, HANDLE};
use crate::support::emulator::{Emulator, Fault};
use crate::support::mastodon::TOKEN;
use crate::support::{LIFE, Workspace, json};

fn workspace(emulator: &Emulator, extra: &str) -> Workspace {
    Workspace::new(&format!(
        r#"
        [organization]
        name = "Example Inc"
        status_url = "https://status.example.com"

        [dispatch]
        timeout = "1s"
        max_attempts = 3
        retry_base = "10ms"
        max_retry_wait = "3s"

        [[channel]]
        name = "mastodon"
        kind = "mastodon"
        instance = "{base}/mastodon"
        access_token_env = "MASTODON_TOKEN"
        visibility = "unlisted"
        language = "en"

        [[channel]]
        name = "bluesky"
        kind = "bluesky"
        handle = "{HANDLE}"
        pds = "{base}/bsky"
        app_password_env = "BSKY_APP_PASSWORD"
        {extra}
        "#,
        base = emulator.base,
    ))
    .env("MASTODON_TOKEN", TOKEN)
    .env("BSKY_APP_PASSWORD", APP_PASSWORD)
}

fn post(ws: &Workspace, args: &[&str], status: i32) -> serde_json::Value {
    json(
        &ws.cmd(&[&["post", "--yes", "--json"], args].concat())
            .any_stdout()
            .status(status)
            .run(),
    )
}

fn outcome(report: &serde_json::Value, channel: &str) -> String {
    let delivery = report["deliveries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["channel"] == channel)
        .unwrap();
    format!(
        "{} {}",
        delivery["outcome"].as_str().unwrap(),
        delivery["attempts"]
    )
}

#[test]
fn an_incident_threads_on_mastodon_and_bluesky() {
    let emulator = Emulator::start();
    let ws = workspace(&emulator, "");
    let mut reports = Vec::new();
    for update in LIFE {
        reports.push(post(&ws, update, 0));
    }
    let (statuses, posts, sign_ins) = emulator.with(|inner| {
        (
            inner.mastodon.statuses.clone(),
            inner.bluesky.posts.clone(),
            inner.bluesky.sign_ins,
        )
    });
    // Mastodon: one thread, each follow-up replying to the one before.
    assert_eq!(statuses.len(), 4);
    assert_eq!(statuses[0].in_reply_to_id, None);
    for pair in statuses.windows(2) {
        assert_eq!(pair[1].in_reply_to_id.as_deref(), Some(pair[0].id.as_str()));
    }
    assert!(statuses.iter().all(|s| s.visibility == "unlisted"));
    assert!(statuses.iter().all(|s| s.language.as_deref() == Some("en")));
    assert_eq!(
        statuses[0].text,
        "Investigating: Login failures\n\nSome customers cannot log in.\nNext update by 10:30 UTC.\n\nhttps://status.example.com"
    );
    assert_eq!(
        reports[0]["deliveries"][0]["url"],
        format!("https://social.example.com/@status/{}", statuses[0].id)
    );
    let keys: Vec<String> = emulator
        .requests_to("/mastodon/api/v1/statuses")
        .iter()
        .map(|r| r.header("idempotency-key").to_owned())
        .collect();
    let delivery_ids = ws.query(
        "SELECT d.id FROM deliveries d JOIN updates u ON u.id = d.update_id \
         WHERE d.channel = 'mastodon' ORDER BY u.sequence",
    );
    let expected: Vec<String> = delivery_ids.iter().map(|id| format!("{id}-1")).collect();
    assert_eq!(keys, expected, "each status carries its delivery's key");

    // Bluesky: root is the first post, parent the one before; one sign-in per process.
    assert_eq!(posts.len(), 4);
    assert_eq!(posts[0].root, None);
    for (index, post) in posts.iter().enumerate().skip(1) {
        assert_eq!(post.root.as_deref(), Some(posts[0].uri.as_str()));
        assert_eq!(post.parent.as_deref(), Some(posts[index - 1].uri.as_str()));
    }
    assert_eq!(sign_ins, 4, "one createSession per post command");
    assert_eq!(
        posts[0].text,
        "Investigating: Login failures. Some customers cannot log in. Next update by 10:30 UTC. https://status.example.com"
    );
    let facet = &posts[0].record["facets"][0];
    assert_eq!(facet["features"][0]["uri"], "https://status.example.com");
    assert_eq!(posts[0].record["langs"], serde_json::json!(["en"]));
    let rkey = posts[0].uri.rsplit('/').next().unwrap();
    assert_eq!(
        reports[0]["deliveries"][1]["url"],
        format!("https://bsky.app/profile/{HANDLE}/post/{rkey}")
    );
    assert!(posts[0].uri.starts_with(&format!("at://{DID}/")));
    ws.assert_no_secrets(&[], &[TOKEN, APP_PASSWORD]);
}

/// Facts that do not fit one status or one post continue as replies, each part within the
/// service's own count (the emulators refuse anything longer), no fact cut.
#[test]
fn long_updates_continue_as_reply_threads_within_each_count() {
    let emulator = Emulator::start();
    emulator.with(|inner| inner.mastodon.max_characters = 500);
    let ws = workspace(&emulator, "");
    let components = (1..=8)
        .map(|n| format!("Regional service number {n}"))
        .collect::<Vec<_>>()
        .join(",");
    let message = "Customers in every region see errors when they sign in, pay or download \
        invoices 🚨 東京リージョン. See https://example.com/a/very/long/path?with=query&and=more for \
        the workaround. "
        .repeat(3);
    let report = post(
        &ws,
        &[
            "--status",
            "identified",
            "--title",
            "Payments and sign-in failing in every region",
            "--message",
            &message,
            "--components",
            &components,
            "--impact",
            "critical",
            "--eta",
            "+2h",
            "--next-update",
            "30m",
            "--compensation",
            "Every affected customer gets a week of service credit, applied automatically.",
        ],
        0,
    );
    assert_eq!(outcome(&report, "mastodon"), "delivered 1");
    assert_eq!(outcome(&report, "bluesky"), "delivered 1");
    let (statuses, posts) =
        emulator.with(|inner| (inner.mastodon.statuses.clone(), inner.bluesky.posts.clone()));
    assert!(
        statuses.len() > 1 && posts.len() > 1,
        "{} {}",
        statuses.len(),
        posts.len()
    );
    for text in [
        "Regional service number 8",
        "Impact: critical",
        "Every affected customer gets a week of service credit",
        "Next update by 10:30 UTC",
    ] {
        assert!(
            statuses.iter().any(|s| s.text.contains(text)),
            "Mastodon: {text}"
        );
        assert!(
            posts.iter().any(|p| p.text.contains(text)),
            "Bluesky: {text}"
        );
    }
    for pair in statuses.windows(2) {
        assert_eq!(pair[1].in_reply_to_id.as_deref(), Some(pair[0].id.as_str()));
    }
    for post in &posts[1..] {
        assert_eq!(post.root.as_deref(), Some(posts[0].uri.as_str()));
    }
}

/// An answer lost after Mastodon made the status: the retry carries the same
/// `Idempotency-Key`, the instance answers with the status it made, and there is one status.
/// Bluesky has no such key: its lost answer stays unknown, sent once.
#[test]
fn a_lost_answer_is_retried_safely_on_mastodon_only() {
    let emulator = Emulator::start();
    emulator.fail("/mastodon/api/v1/statuses", vec![Fault::Lost]);
    emulator.fail(
        "/bsky/xrpc/com.atproto.repo.createRecord",
        vec![Fault::Lost],
    );
    let ws = workspace(&emulator, "");
    let report = post(&ws, LIFE[0], 1);
    assert_eq!(outcome(&report, "mastodon"), "delivered 2");
    assert_eq!(outcome(&report, "bluesky"), "unknown 1");
    let (statuses, posts) =
        emulator.with(|inner| (inner.mastodon.statuses.len(), inner.bluesky.posts.len()));
    assert_eq!(statuses, 1, "one status despite two requests");
    assert_eq!(posts, 1);
    let keys: Vec<String> = emulator
        .requests_to("/mastodon/api/v1/statuses")
        .iter()
        .map(|r| r.header("idempotency-key").to_owned())
        .collect();
    assert_eq!(keys.len(), 2);
    assert_eq!(keys[0], keys[1]);
}

/// Bluesky's access token expires mid-process: the session is refreshed, not signed in again.
#[test]
fn an_expired_bluesky_session_is_refreshed() {
    let emulator = Emulator::start();
    let ws = workspace(&emulator, "");
    post(&ws, LIFE[0], 0);
    emulator.with(|inner| inner.bluesky.expire_access = true);
    let report = post(&ws, LIFE[1], 0);
    assert_eq!(outcome(&report, "bluesky"), "delivered 1");
    let (sign_ins, refreshes, posts) = emulator.with(|inner| {
        (
            inner.bluesky.sign_ins,
            inner.bluesky.refreshes,
            inner.bluesky.posts.len(),
        )
    });
    assert_eq!((sign_ins, refreshes, posts), (2, 1, 2));
}

#[test]
fn errors_come_back_in_the_services_own_words() {
    let emulator = Emulator::start();
    let ws = workspace(&emulator, "").env("BSKY_APP_PASSWORD", "wrong-app-password");
    emulator.with(|inner| inner.mastodon.max_characters = 100);
    // A config that says 500 to an instance that allows 100: Mastodon's 422, permanent.
    let report = post(&ws, LIFE[0], 1);
    let delivery = |channel: &str| {
        report["deliveries"]
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["channel"] == channel)
            .unwrap()
            .clone()
    };
    let mastodon = delivery("mastodon");
    assert_eq!(mastodon["outcome"], "failed");
    assert_eq!(mastodon["attempts"], 1);
    assert_eq!(
        mastodon["error"],
        "Mastodon answered 422 Unprocessable Entity: Validation failed: Text character limit of 100 exceeded"
    );
    let bluesky = delivery("bluesky");
    assert_eq!(bluesky["outcome"], "failed");
    assert_eq!(
        bluesky["error"],
        "Bluesky answered 401 Unauthorized to the sign-in: AuthenticationRequired Invalid identifier or password; check the handle and the app password"
    );
    // Rate limits: Mastodon's reset is an ISO 8601 time, Bluesky's epoch seconds.
    let emulator = Emulator::start();
    let in_a_second = jiff::Timestamp::now() + jiff::SignedDuration::from_secs(1);
    emulator.fail(
        "/mastodon/api/v1/statuses",
        vec![
            Fault::status(429, r#"{"error":"Too many requests"}"#).with_header(
                "x-ratelimit-reset",
                &in_a_second.strftime("%Y-%m-%dT%H:%M:%S%.3fZ").to_string(),
            ),
        ],
    );
    emulator.fail(
        "/bsky/xrpc/com.atproto.repo.createRecord",
        vec![
            Fault::status(
                429,
                r#"{"error":"RateLimitExceeded","message":"Rate Limit Exceeded"}"#,
            )
            .with_header("ratelimit-reset", &in_a_second.as_second().to_string()),
        ],
    );
    let ws = workspace(&emulator, "");
    let started = std::time::Instant::now();
    let report = post(&ws, LIFE[0], 0);
    assert_eq!(outcome(&report, "mastodon"), "delivered 2");
    assert_eq!(outcome(&report, "bluesky"), "delivered 2");
    assert!(
        started.elapsed() >= Duration::from_millis(500),
        "the reset was waited for"
    );
}

#[test]
fn check_verifies_both_without_posting() {
    let emulator = Emulator::start();
    emulator.with(|inner| inner.mastodon.max_characters = 1000);
    let ws = workspace(&emulator, "");
    ws.cmd(&["channels", "--check"])
        .stdout(&format!(
            "
            NAME      KIND      AUDIENCE  ENABLED  SECRETS  CHECK
            mastodon  mastodon  public    yes      present  ok, posts as @status@127.0.0.1; the instance allows 1000 characters a status: set max_characters = 1000
            bluesky   bluesky   public    yes      present  ok, posts as @{HANDLE} ({DID})
            "
        ))
        .run();
    let made = emulator.with(|inner| (inner.mastodon.statuses.len(), inner.bluesky.posts.len()));
    assert_eq!(made, (0, 0));
}
