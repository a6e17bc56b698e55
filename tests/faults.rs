//! The fault suite: for each remote channel, every fault the emulators can produce ends in the
//! right outcome after the right number of attempts, while the other channels are delivered.

use std::time::Duration;

use crate::support::emulator::{Emulator, Fault};
use crate::support::facebook::{APP_SECRET, PAGE_ID, PAGE_TOKEN};
use crate::support::smtp::{Mode, PASSWORD, Smtp, USER};
use crate::support::x::{CONSUMER_KEY, CONSUMER_SECRET, TOKEN, TOKEN_SECRET};
use crate::support::{Workspace, json};

#[derive(Clone, Copy, Debug)]
enum Kind {
    Json,
    Slack,
    Discord,
    Teams,
    Mattermost,
    X,
    Facebook,
    Mastodon,
    Bluesky,
}

impl Kind {
    fn path(self) -> String {
        match self {
            Kind::Json => "/json/hook".into(),
            Kind::Slack => "/slack/services/T1/B1/tok".into(),
            Kind::Discord => "/discord/api/v10/webhooks/1/tok".into(),
            Kind::Teams => "/teams/flow".into(),
            Kind::Mattermost => "/mattermost/hooks/key".into(),
            Kind::X => "/2/tweets".into(),
            Kind::Facebook => format!("/v25.0/{PAGE_ID}/feed"),
            Kind::Mastodon => "/mastodon/api/v1/statuses".into(),
            Kind::Bluesky => "/bsky/xrpc/com.atproto.repo.createRecord".into(),
        }
    }

    fn channel(self, base: &str) -> String {
        // Discord's own URLs carry no API version; the channel sends to the versioned one.
        let webhook = |format: &str| {
            format!(
                "kind = \"webhook\"\nformat = \"{format}\"\nurl = \"{base}{}\"",
                self.path().replace("/api/v10/", "/api/")
            )
        };
        match self {
            Kind::Json => webhook("json"),
            Kind::Slack => webhook("slack"),
            Kind::Discord => webhook("discord"),
            Kind::Teams => webhook("teams"),
            Kind::Mattermost => webhook("mattermost"),
            Kind::X => format!(
                "kind = \"x\"\napi_base = \"{base}\"\nconsumer_key_env = \"X_KEY\"\nconsumer_secret_env = \"X_SECRET\"\naccess_token_env = \"X_TOKEN\"\naccess_token_secret_env = \"X_TOKEN_SECRET\""
            ),
            Kind::Facebook => format!(
                "kind = \"facebook\"\ngraph_base = \"{base}\"\npage_id = \"{PAGE_ID}\"\npage_token_env = \"FB_TOKEN\"\napp_secret_env = \"FB_APP_SECRET\""
            ),
            Kind::Mastodon => format!(
                "kind = \"mastodon\"\ninstance = \"{base}/mastodon\"\naccess_token_env = \"MASTODON_TOKEN\""
            ),
            Kind::Bluesky => format!(
                "kind = \"bluesky\"\nhandle = \"{}\"\npds = \"{base}/bsky\"\napp_password_env = \"BSKY_APP_PASSWORD\"",
                crate::support::bluesky::HANDLE
            ),
        }
    }
}

fn workspace(channel: &str) -> Workspace {
    Workspace::new(&format!(
        r#"
        [organization]
        name = "Example Inc"
        [dispatch]
        timeout = "400ms"
        max_attempts = 3
        retry_base = "10ms"
        max_retry_wait = "2s"
        [[channel]]
        name = "witness"
        kind = "banner"
        html_path = "banner.html"
        [[channel]]
        name = "target"
        {channel}
        "#
    ))
    .env("X_KEY", CONSUMER_KEY)
    .env("X_SECRET", CONSUMER_SECRET)
    .env("X_TOKEN", TOKEN)
    .env("X_TOKEN_SECRET", TOKEN_SECRET)
    .env("FB_TOKEN", PAGE_TOKEN)
    .env("FB_APP_SECRET", APP_SECRET)
    .env("SMTP_USER", USER)
    .env("SMTP_PASSWORD", PASSWORD)
    .env("MASTODON_TOKEN", crate::support::mastodon::TOKEN)
    .env("BSKY_APP_PASSWORD", crate::support::bluesky::APP_PASSWORD)
}

const POST: &[&str] = &[
    "post",
    "--yes",
    "--json",
    "--status",
    "investigating",
    "--title",
    "Login failures",
    "--message",
    "Some customers cannot log in.",
    "--next-update",
    "30m",
];

/// Posts once and returns `outcome attempts` of the target channel; the witness must be delivered.
#[track_caller]
fn run(ws: &Workspace) -> String {
    let output = ws.cmd(POST).any_stdout().any_status().run();
    let report = json(&output);
    let deliveries = report["deliveries"].as_array().unwrap();
    assert_eq!(
        deliveries[0]["outcome"], "delivered",
        "the witness channel was held up"
    );
    let target = &deliveries[1];
    let expected_exit = if target["outcome"] == "delivered" {
        0
    } else {
        1
    };
    assert_eq!(output.status.code(), Some(expected_exit));
    format!(
        "{} {}",
        target["outcome"].as_str().unwrap(),
        target["attempts"]
    )
}

fn refused_base() -> String {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    format!("http://127.0.0.1:{port}")
}

struct Case {
    name: &'static str,
    faults: Vec<Fault>,
    expected: &'static str,
}

fn http_cases(kind: Kind) -> Vec<Case> {
    let server_error = match kind {
        Kind::Facebook => Fault::status(500, "<html>Internal Server Error</html>"),
        _ => Fault::status(500, ""),
    };
    let reset = (jiff::Timestamp::now().as_second() + 1).to_string();
    let limited = match kind {
        Kind::X => Fault::status(429, r#"{"title":"Too Many Requests","detail":"Too Many Requests","type":"about:blank","status":429}"#).with_header("x-rate-limit-reset", &reset),
        Kind::Facebook => Fault::status(400, r#"{"error":{"message":"(#32) Page request limited reached","type":"OAuthException","code":32,"fbtrace_id":"x"}}"#),
        Kind::Discord => Fault::status(429, r#"{"message": "You are being rate limited.", "retry_after": 0.3, "global": false}"#),
        Kind::Mastodon => Fault::status(429, r#"{"error":"Too many requests"}"#).with_header(
            "x-ratelimit-reset",
            &(jiff::Timestamp::now() + jiff::SignedDuration::from_secs(1)).to_string(),
        ),
        Kind::Bluesky => Fault::status(429, r#"{"error":"RateLimitExceeded","message":"Rate Limit Exceeded"}"#)
            .with_header("ratelimit-reset", &reset),
        _ => Fault::status(429, "").with_header("retry-after", "1"),
    };
    let malformed = match kind {
        Kind::X => Fault::status(201, "<html>oops</html>"),
        _ => Fault::status(200, "<html>oops</html>"),
    };
    let auth = match kind {
        Kind::X => Fault::status(
            401,
            r#"{"title":"Unauthorized","type":"about:blank","status":401,"detail":"Unauthorized"}"#,
        ),
        Kind::Facebook => Fault::status(
            400,
            r#"{"error":{"message":"Error validating access token","type":"OAuthException","code":190,"fbtrace_id":"x"}}"#,
        ),
        Kind::Slack => Fault::status(403, "invalid_token"),
        Kind::Discord => Fault::status(
            401,
            r#"{"message": "Invalid Webhook Token", "code": 50027}"#,
        ),
        Kind::Mastodon => Fault::status(401, r#"{"error":"The access token is invalid"}"#),
        Kind::Bluesky => Fault::status(
            401,
            r#"{"error":"AuthenticationRequired","message":"Authentication Required"}"#,
        ),
        _ => Fault::status(401, ""),
    };
    // A Standard Webhooks receiver drops a repeated webhook-id, so an unknown outcome is retried
    // there; anywhere else a repeat could post twice and the outcome stays unknown.
    // Mastodon's Idempotency-Key makes a repeat safe too.
    let unknown = match kind {
        Kind::Json | Kind::Mastodon => "unknown 3",
        _ => "unknown 1",
    };
    // A Bluesky post without its uri and cid cannot be replied to, and may exist: unknown.
    let malformed_outcome = match kind {
        Kind::Slack | Kind::Mattermost => "failed 1",
        Kind::Bluesky => "unknown 1",
        _ => "delivered 1",
    };
    vec![
        Case {
            name: "5xx",
            faults: vec![server_error.clone(), server_error.clone(), server_error],
            expected: "failed 3",
        },
        Case {
            name: "429 with a reset",
            faults: vec![limited],
            expected: "delivered 2",
        },
        Case {
            name: "timeout",
            faults: vec![Fault::Delay(Duration::from_millis(900)); 3],
            expected: unknown,
        },
        Case {
            name: "reset connection",
            faults: vec![Fault::Hangup; 3],
            expected: unknown,
        },
        Case {
            name: "malformed body",
            faults: vec![malformed],
            expected: malformed_outcome,
        },
        Case {
            name: "auth failure",
            faults: vec![auth],
            expected: "failed 1",
        },
    ]
}

#[track_caller]
fn suite(kind: Kind) {
    let mut results = Vec::new();
    for case in http_cases(kind) {
        let emulator = Emulator::start();
        emulator.with(|inner| inner.facebook.require_proof = true);
        emulator.fail(&kind.path(), case.faults);
        let ws = workspace(&kind.channel(&emulator.base));
        results.push(format!("{}: {}", case.name, run(&ws)));
        let expected = format!("{}: {}", case.name, case.expected);
        assert_eq!(results.last().unwrap(), &expected, "{kind:?}");
    }
    let ws = workspace(&kind.channel(&refused_base()));
    assert_eq!(
        run(&ws),
        "failed 3",
        "{kind:?}: a refused connection is transient"
    );
}

#[test]
fn json_webhook_faults() {
    suite(Kind::Json);
}

#[test]
fn slack_faults() {
    suite(Kind::Slack);
}

#[test]
fn discord_faults() {
    suite(Kind::Discord);
}

#[test]
fn teams_faults() {
    suite(Kind::Teams);
}

#[test]
fn mattermost_faults() {
    suite(Kind::Mattermost);
}

#[test]
fn x_faults() {
    suite(Kind::X);
}

#[test]
fn facebook_faults() {
    suite(Kind::Facebook);
}

#[test]
fn mastodon_faults() {
    suite(Kind::Mastodon);
}

#[test]
fn bluesky_faults() {
    suite(Kind::Bluesky);
}

#[test]
fn email_faults() {
    // (fault, the stage it hits and the server's reply, the expected outcome)
    // (fault, the stage it hits and the server's reply, the expected outcome, messages queued)
    let cases: [(&str, (&str, &str), &str, usize); 6] = [
        (
            "4xx",
            ("MAIL", "451 4.3.0 Try again later"),
            "delivered 2",
            1,
        ),
        ("5xx", ("DATA", "554 5.7.1 Rejected"), "failed 1", 0),
        ("timeout", ("MAIL", "sleep 900"), "unknown 1", 0),
        ("reset connection", ("MAIL", "close"), "delivered 2", 1),
        ("malformed reply", ("MAIL", "hello there"), "delivered 2", 1),
        // Queued, then the reply is lost: sending again would deliver it twice.
        ("reply lost after DATA", ("DATA", "close"), "unknown 1", 1),
    ];
    for (name, (stage, reply), expected, queued) in cases {
        let smtp = Smtp::start(Mode::Starttls);
        smtp.fail(stage, reply);
        let ws = email_workspace(&smtp, smtp.port);
        assert_eq!(
            format!("{name}: {}", run(&ws)),
            format!("{name}: {expected}")
        );
        assert_eq!(smtp.messages().len(), queued, "{name}");
    }
    let smtp = Smtp::start(Mode::Starttls);
    let ws = email_workspace(&smtp, smtp.port).env("SMTP_PASSWORD", "wrong-password-99");
    assert_eq!(run(&ws), "failed 1", "an auth failure is permanent");
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let ws = email_workspace(&smtp, closed);
    assert_eq!(run(&ws), "failed 3", "a refused connection is transient");
}

fn email_workspace(smtp: &Smtp, port: u16) -> Workspace {
    let ws = workspace(&format!(
        "kind = \"email\"\nhost = \"127.0.0.1\"\nport = {port}\nca_file = \"ca.pem\"\nusername_env = \"SMTP_USER\"\npassword_env = \"SMTP_PASSWORD\"\nfrom = \"status@example.com\"\nto = [\"customers@example.com\"]"
    ));
    ws.write("ca.pem", &smtp.ca_pem);
    ws
}
