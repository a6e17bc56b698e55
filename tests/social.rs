use crate::support::emulator::{Emulator, Fault};
use crate::support::facebook::{APP_SECRET, PAGE_ID, PAGE_TOKEN};
use crate::support::x::{BEARER, CONSUMER_KEY, CONSUMER_SECRET, TOKEN, TOKEN_SECRET};
use crate::support::{LIFE, Workspace, json};

fn workspace(emulator: &Emulator, extra: &str) -> Workspace {
    workspace_at(&emulator.base, extra)
}

/// X and Facebook at `base`.
fn workspace_at(base: &str, extra: &str) -> Workspace {
    Workspace::new(&format!(
        r#"
        [organization]
        name = "Example Inc"
        status_url = "https://status.example.com"

        [dispatch]
        timeout = "2s"
        max_attempts = 3
        retry_base = "10ms"
        max_retry_wait = "3s"

        [[channel]]
        name = "x"
        kind = "x"
        api_base = "{base}"
        consumer_key_env = "X_CONSUMER_KEY"
        consumer_secret_env = "X_CONSUMER_SECRET"
        access_token_env = "X_ACCESS_TOKEN"
        access_token_secret_env = "X_ACCESS_TOKEN_SECRET"

        [[channel]]
        name = "facebook"
        kind = "facebook"
        graph_base = "{base}"
        api_version = "v25.0"
        page_id = "{PAGE_ID}"
        page_token_env = "FB_PAGE_TOKEN"
        app_secret_env = "FB_APP_SECRET"
        {extra}
        "#,
    ))
    .env("X_CONSUMER_KEY", CONSUMER_KEY)
    .env("X_CONSUMER_SECRET", CONSUMER_SECRET)
    .env("X_ACCESS_TOKEN", TOKEN)
    .env("X_ACCESS_TOKEN_SECRET", TOKEN_SECRET)
    .env("FB_PAGE_TOKEN", PAGE_TOKEN)
    .env("FB_APP_SECRET", APP_SECRET)
}

fn emulator() -> Emulator {
    let emulator = Emulator::start();
    emulator.with(|inner| inner.facebook.require_proof = true);
    emulator
}

fn post(ws: &Workspace, args: &[&str], status: i32) -> serde_json::Value {
    json(
        &ws.cmd(&[&["post", "--yes", "--json"], args].concat())
            .any_stdout()
            .status(status)
            .run(),
    )
}

fn outcome(report: &serde_json::Value, index: usize) -> String {
    let d = &report["deliveries"][index];
    format!(
        "{} {} {}",
        d["channel"].as_str().unwrap(),
        d["outcome"].as_str().unwrap(),
        d["attempts"]
    )
}

#[test]
fn an_incident_of_four_updates_threads_on_x_and_facebook() {
    let emulator = emulator();
    let ws = workspace(&emulator, "");
    let mut reports = Vec::new();
    for update in LIFE {
        reports.push(post(&ws, update, 0));
    }
    let (posts, page) =
        emulator.with(|inner| (inner.x.posts.clone(), inner.facebook.posts.clone()));
    assert_eq!(posts.len(), 4);
    assert_eq!(posts[0].reply_to, None);
    for pair in posts.windows(2) {
        assert_eq!(
            pair[1].reply_to.as_deref(),
            Some(pair[0].id.as_str()),
            "one thread"
        );
    }
    assert_eq!(
        posts[0].text,
        "Investigating: Login failures. Some customers cannot log in. Next update by 10:30 UTC. https://status.example.com"
    );
    assert_eq!(
        reports[3]["deliveries"][0]["url"],
        format!("https://x.com/i/web/status/{}", posts[3].id)
    );

    assert_eq!(page.len(), 1, "follow-ups are comments on the first post");
    assert_eq!(page[0].link.as_deref(), Some("https://status.example.com"));
    assert!(
        page[0]
            .message
            .starts_with("Investigating: Login failures\n\nSome customers cannot log in.")
    );
    let comments: Vec<&str> = page[0]
        .comments
        .iter()
        .map(|(_, m)| m.lines().next().unwrap())
        .collect();
    assert_eq!(
        comments,
        [
            "Identified: Login failures",
            "Monitoring: Login failures",
            "Resolved: Login failures"
        ]
    );
    assert_eq!(
        reports[0]["deliveries"][1]["url"],
        format!("https://www.facebook.com/{}", page[0].id)
    );
    assert_eq!(
        reports[1]["deliveries"][1]["url"],
        format!(
            "https://www.facebook.com/{}?comment_id={}",
            page[0].id, page[0].comments[0].0
        )
    );
    for request in emulator
        .requests()
        .iter()
        .filter(|r| r.path.starts_with("/v25.0"))
    {
        assert!(
            !request.query.contains(PAGE_TOKEN),
            "the Page token must never be in a URL"
        );
    }
}

#[test]
fn facebook_follow_ups_can_be_new_posts_and_x_can_use_an_oauth2_token() {
    let emulator = emulator();
    let ws = Workspace::new(&format!(
        r#"
        [organization]
        name = "Example Inc"
        [[channel]]
        name = "x"
        kind = "x"
        api_base = "{base}"
        bearer_token_env = "X_TOKEN"
        [[channel]]
        name = "facebook"
        kind = "facebook"
        graph_base = "{base}"
        page_id = "{PAGE_ID}"
        page_token_env = "FB_PAGE_TOKEN"
        app_secret_env = "FB_APP_SECRET"
        follow_ups = "post"
        "#,
        base = emulator.base
    ))
    .env("X_TOKEN", BEARER)
    .env("FB_PAGE_TOKEN", PAGE_TOKEN)
    .env("FB_APP_SECRET", APP_SECRET);
    post(&ws, LIFE[0], 0);
    post(&ws, LIFE[1], 0);
    let (posts, page) =
        emulator.with(|inner| (inner.x.posts.clone(), inner.facebook.posts.clone()));
    assert_eq!(posts.len(), 2);
    assert_eq!(page.len(), 2);
    assert!(page[1].comments.is_empty());
}

#[test]
fn a_refused_reply_is_posted_standalone_and_the_report_says_so() {
    let emulator = emulator();
    let ws = workspace(&emulator, "");
    post(&ws, LIFE[0], 0);
    emulator.with(|inner| inner.x.refuse_replies = true);
    let report = post(&ws, &[LIFE[1], &["--channels", "x"]].concat(), 0);
    assert_eq!(outcome(&report, 0), "x delivered 1");
    assert_eq!(
        report["deliveries"][0]["note"],
        "X refused the reply (Reply to this conversation is not allowed because you have not been mentioned or otherwise engaged by the author of the post you are replying to.); posted standalone"
    );
    let posts = emulator.with(|inner| inner.x.posts.clone());
    assert_eq!(posts[1].reply_to, None);
    emulator.with(|inner| inner.x.refuse_replies = false);
    post(&ws, &[LIFE[2], &["--channels", "x"]].concat(), 0);
    let posts = emulator.with(|inner| inner.x.posts.clone());
    assert_eq!(
        posts[2].reply_to.as_deref(),
        Some(posts[1].id.as_str()),
        "the thread goes on from the standalone post"
    );
}

#[test]
fn every_x_error_class_lands_in_the_right_outcome() {
    let reset_soon = || (jiff::Timestamp::now().as_second() + 1).to_string();
    let reset_late = || (jiff::Timestamp::now().as_second() + 3600).to_string();
    let cases: Vec<(Vec<Fault>, &str, &str)> = vec![
        (vec![Fault::status(401, r#"{"title":"Unauthorized","type":"about:blank","status":401,"detail":"Unauthorized"}"#)],
         "x failed 1", "X answered 401 Unauthorized: Unauthorized; check the X credentials"),
        (vec![Fault::status(403, r#"{"detail":"You are not allowed to create a Tweet with duplicate content.","type":"about:blank","title":"Forbidden","status":403}"#)],
         "x failed 1", "X answered 403 Forbidden: You are not allowed to create a Tweet with duplicate content.; X refuses a post identical to a recent one"),
        (vec![Fault::status(429, r#"{"title":"Too Many Requests","detail":"Too Many Requests","type":"about:blank","status":429}"#).with_header("x-rate-limit-reset", &reset_soon())],
         "x delivered 2", ""),
        (vec![Fault::status(429, r#"{"title":"Too Many Requests","detail":"Too Many Requests","type":"about:blank","status":429}"#).with_header("x-rate-limit-reset", &reset_late())],
         "x failed 1", "X answered 429 Too Many Requests: Too Many Requests; rate limited for"),
        (vec![Fault::status(503, "<html>Service Unavailable</html>"), Fault::status(500, "")],
         "x delivered 3", ""),
        (vec![Fault::status(503, ""), Fault::status(503, ""), Fault::status(503, "")],
         "x failed 3", "X answered 503 Service Unavailable: no details"),
    ];
    for (faults, expected, error) in cases {
        let emulator = emulator();
        emulator.fail("/2/tweets", faults);
        let ws = workspace(&emulator, "");
        let failed = expected.contains("failed");
        let report = post(
            &ws,
            &[LIFE[0], &["--channels", "x"]].concat(),
            if failed { 1 } else { 0 },
        );
        assert_eq!(outcome(&report, 0), expected, "{error}");
        if failed {
            assert!(
                report["deliveries"][0]["error"]
                    .as_str()
                    .unwrap()
                    .starts_with(error),
                "{}",
                report["deliveries"][0]["error"]
            );
        }
    }
}

#[test]
fn every_facebook_error_class_lands_in_the_right_outcome() {
    let graph = |code: i64, transient: bool, message: &str| {
        serde_json::json!({"error": {"message": message, "type": "OAuthException", "code": code, "is_transient": transient, "fbtrace_id": "EJplcsCHuLu"}}).to_string()
    };
    let cases: Vec<(Vec<Fault>, &str, &str)> = vec![
        (
            vec![Fault::status(
                400,
                &graph(
                    190,
                    false,
                    "Error validating access token: Session has expired",
                ),
            )],
            "facebook failed 1",
            "Facebook answered 400 Bad Request: Error validating access token: Session has expired (code 190); the Page token expired or was revoked, create a new Page access token",
        ),
        (
            vec![Fault::status(
                400,
                &graph(506, false, "Duplicate status message"),
            )],
            "facebook failed 1",
            "Facebook answered 400 Bad Request: Duplicate status message (code 506); Facebook refuses a duplicate post",
        ),
        (
            vec![Fault::status(
                403,
                &graph(4, true, "(#4) Application request limit reached"),
            )],
            "facebook delivered 2",
            "",
        ),
        (
            vec![
                Fault::status(400, &graph(32, false, "(#32) Page request limited reached")),
                Fault::status(500, &graph(2, true, "Service temporarily unavailable")),
            ],
            "facebook delivered 3",
            "",
        ),
        (
            vec![Fault::status(
                400,
                &graph(200, false, "(#200) Permissions error"),
            )],
            "facebook failed 1",
            "Facebook answered 400 Bad Request: (#200) Permissions error (code 200); the token lacks a permission: posting needs pages_manage_posts and pages_read_engagement, commenting pages_manage_engagement",
        ),
    ];
    for (faults, expected, error) in cases {
        let emulator = emulator();
        emulator.fail(&format!("/v25.0/{PAGE_ID}/feed"), faults);
        let ws = workspace(&emulator, "");
        let failed = expected.contains("failed");
        let report = post(
            &ws,
            &[LIFE[0], &["--channels", "facebook"]].concat(),
            if failed { 1 } else { 0 },
        );
        assert_eq!(outcome(&report, 0), expected);
        if failed {
            assert_eq!(report["deliveries"][0]["error"], error);
        }
    }
}

#[test]
fn wrong_credentials_are_refused_by_the_emulators() {
    let emulator = emulator();
    let ws = workspace(&emulator, "")
        .env("X_CONSUMER_SECRET", "wrong-secret")
        .env("FB_APP_SECRET", "wrong-app-secret");
    let report = post(&ws, LIFE[0], 1);
    assert_eq!(outcome(&report, 0), "x failed 1");
    assert_eq!(outcome(&report, 1), "facebook failed 1");
    // The emulator recomputed the OAuth signature with the real secret and refused this one.
    assert_eq!(
        report["deliveries"][0]["error"],
        "X answered 401 Unauthorized: Unauthorized; check the X credentials"
    );
    assert!(emulator.with(|inner| inner.x.posts.is_empty() && inner.facebook.posts.is_empty()));
    assert_eq!(
        report["deliveries"][1]["error"],
        "Facebook answered 400 Bad Request: Invalid appsecret_proof provided in the API argument (code 100)"
    );
}

/// Over HTTPS, as api.x.com and graph.facebook.com are reached: X's OAuth 1.0a signature
/// covers the `https://` URL called (a signature over another scheme is refused), and Facebook
/// takes its proof as over HTTP.
#[test]
fn x_and_facebook_are_reached_over_https_as_the_real_services_are() {
    let emulator = emulator();
    let (https, ca_pem) = emulator.behind_tls();
    let ws = workspace_at(&https, "").trusting(&ca_pem);
    let report = post(&ws, LIFE[0], 0);
    assert_eq!(outcome(&report, 0), "x delivered 1");
    assert_eq!(outcome(&report, 1), "facebook delivered 1");
    assert_eq!(emulator.with(|inner| inner.x.posts.len()), 1);
    // The same client signing for the plain address the front forwards to is refused.
    let plain = workspace(&emulator, "");
    let report = post(&plain, LIFE[0], 1);
    assert_eq!(
        report["deliveries"][0]["error"],
        "X answered 401 Unauthorized: Unauthorized; check the X credentials"
    );
}

#[test]
fn x_renderings_fit_280_weighted_characters_without_losing_facts() {
    let emulator = emulator();
    let ws = workspace(&emulator, "");
    let long = "東京リージョンでログインに失敗しています。".repeat(20);
    let report = post(
        &ws,
        &[
            "--status",
            "investigating",
            "--title",
            "Login failures",
            "--message",
            &long,
            "--next-update",
            "30m",
            "--channels",
            "x",
        ],
        0,
    );
    assert_eq!(outcome(&report, 0), "x delivered 1");
    let text = &emulator.with(|inner| inner.x.posts[0].text.clone());
    assert!(crate::support::twitter_text::weighted_length(text) <= 280);
    assert!(
        crate::support::twitter_text::weighted_length(text) > 260,
        "shortened too much: {text}"
    );
    assert!(
        text.ends_with("… Next update by 10:30 UTC. https://status.example.com"),
        "{text}"
    );
}

#[test]
fn channels_lists_secrets_and_check_verifies_credentials_without_posting() {
    let emulator = emulator();
    let ws = workspace(
        &emulator,
        "[[channel]]\nname = \"hook\"\nkind = \"webhook\"\nurl = \"https://hooks.example.com/x\"\nsecret_env = \"HOOK_SECRET\"\nenabled = false\n",
    );
    ws.cmd(&["channels"])
        .stdout(
            "
            NAME      KIND      AUDIENCE  ENABLED  SECRETS
            x         x         public    yes      present
            facebook  facebook  public    yes      present
            hook      webhook   public    no       missing: HOOK_SECRET
            ",
        )
        .run();
    ws.cmd(&["channels", "--check"])
        .stdout(
            "
            NAME      KIND      AUDIENCE  ENABLED  SECRETS               CHECK
            x         x         public    yes      present               ok, posts as @exampleinc
            facebook  facebook  public    yes      present               ok, posts to the Page \"Example Inc\"
            hook      webhook   public    no       missing: HOOK_SECRET  disabled
            ",
        )
        .run();
    assert!(emulator.with(|inner| inner.x.posts.is_empty() && inner.facebook.posts.is_empty()));
    let output = ws
        .cmd(&["channels", "--check"])
        .env("FB_PAGE_TOKEN", "expired")
        .any_stdout()
        .status(1)
        .run();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("FAILED: Facebook answered 400 Bad Request: Invalid OAuth access token - Cannot parse access token (code 190); the Page token expired or was revoked"), "{stdout}");
}

#[test]
fn social_secrets_never_appear_in_output_or_the_journal() {
    let emulator = emulator();
    emulator.fail(
        "/2/tweets",
        vec![Fault::status(
            401,
            r#"{"title":"Unauthorized","status":401,"detail":"Unauthorized"}"#,
        )],
    );
    let ws = workspace(&emulator, "");
    let mut seen = Vec::new();
    // X's refusal (exit 1) shows its error; the others work and show what they show then.
    for (args, status) in [
        (&["post", "--yes"][..], 1),
        (&["channels", "--check"][..], 0),
        (&["history", "latest", "--json"][..], 0),
    ] {
        let mut all = args.to_vec();
        if args[0] == "post" {
            all.extend(LIFE[0]);
        }
        seen.push(ws.cmd(&all).any_stdout().any_stderr().status(status).run());
    }
    ws.assert_no_secrets(
        &seen,
        &[CONSUMER_SECRET, TOKEN, TOKEN_SECRET, PAGE_TOKEN, APP_SECRET],
    );
}

/// Issue 10, item 15: a 429 that is the 24-hour posting limit fails at once with when it resets,
/// instead of waiting for the 15-minute window; an expired OAuth 2.0 token says so.
#[test]
fn x_daily_limit_and_an_expired_oauth2_token_say_what_they_are() {
    let emulator = emulator();
    emulator.with(|inner| inner.x.daily_limit_reached = true);
    let ws = workspace(&emulator, "");
    let report = post(&ws, &[LIFE[0], &["--channels", "x"]].concat(), 1);
    assert_eq!(outcome(&report, 0), "x failed 1");
    let error = report["deliveries"][0]["error"].as_str().unwrap();
    assert!(
        error.starts_with("X answered 429 Too Many Requests: Too Many Requests; your account's 24-hour posting limit is reached; it resets at "),
        "{error}"
    );
    assert!(
        error.ends_with("longer than max_retry_wait (3s); run `outage retry` later"),
        "{error}"
    );

    let emulator = self::emulator();
    let ws = workspace(&emulator, "");
    ws.edit(
        "channels.toml",
        "consumer_key_env = \"X_CONSUMER_KEY\"\nconsumer_secret_env = \"X_CONSUMER_SECRET\"\naccess_token_env = \"X_ACCESS_TOKEN\"\naccess_token_secret_env = \"X_ACCESS_TOKEN_SECRET\"",
        "bearer_token_env = \"X_BEARER\"",
    );
    let ws = ws.env("X_BEARER", "x-user-token-expired-after-two-hours");
    let report = post(&ws, &[LIFE[0], &["--channels", "x"]].concat(), 1);
    assert_eq!(
        report["deliveries"][0]["error"],
        "X answered 401 Unauthorized: Unauthorized; an OAuth 2.0 user token expires two hours after it is issued: for unattended posting use OAuth 1.0a keys (consumer_key_env, consumer_secret_env, access_token_env, access_token_secret_env), which do not expire"
    );
}

/// Issue 10, item 12: commenting as the Page needs pages_manage_engagement; without it the
/// follow-up is posted as a new Page post that says what it follows, and the report says so.
#[test]
fn a_comment_refused_for_a_permission_becomes_a_page_post_that_says_so() {
    let emulator = emulator();
    emulator.with(|inner| {
        inner
            .facebook
            .permissions
            .retain(|p| *p != "pages_manage_engagement")
    });
    let ws = workspace(&emulator, "");
    post(&ws, &[LIFE[0], &["--channels", "facebook"]].concat(), 0);
    let report = post(&ws, &[LIFE[1], &["--channels", "facebook"]].concat(), 0);
    assert_eq!(outcome(&report, 0), "facebook delivered 1");
    assert_eq!(
        report["deliveries"][0]["note"],
        "Facebook refused the comment: (#200) Permissions error (code 200); commenting as the Page needs pages_manage_engagement and the MODERATE task; posted as a new Page post"
    );
    let posts = emulator.with(|inner| inner.facebook.posts.clone());
    assert_eq!(posts.len(), 2, "two Page posts, no comment");
    assert!(posts[0].comments.is_empty());
    assert!(
        posts[1]
            .message
            .starts_with("Follow-up to our earlier post on this incident (update 2):\n\nIdentified: Login failures"),
        "{}",
        posts[1].message
    );
}

/// Issue 10, item 12: `channels --check` tells a User token from a Page token (`GET /me` with the
/// token must answer the Page itself).
#[test]
fn check_tells_a_user_token_from_a_page_token() {
    use crate::support::facebook::USER_TOKEN;
    let emulator = emulator();
    let ws = workspace(&emulator, "").env("FB_PAGE_TOKEN", USER_TOKEN);
    let output = ws
        .cmd(&["channels", "--check", "--json"])
        .any_stdout()
        .status(1)
        .run();
    let rows = json(&output);
    assert_eq!(
        rows[1]["check"]["message"],
        format!(
            "the token belongs to Ann Admin (10158000000001), not to the Page {PAGE_ID}: use a Page access token (Graph API Explorer -> GET /me/accounts -> the Page's access_token)"
        )
    );
    assert_eq!(rows[0]["check"]["ok"], true);
}

/// Issue 10, item 12: Graph throttling announces its wait in X-Business-Use-Case-Usage (minutes),
/// not in Retry-After: a wait within the cap is honoured, a longer one fails at once saying so.
#[test]
fn facebook_throttling_waits_for_the_business_use_case_estimate() {
    let emulator = emulator();
    emulator.with(|inner| inner.facebook.throttled = Some(7));
    let ws = workspace(&emulator, "");
    let report = post(&ws, &[LIFE[0], &["--channels", "facebook"]].concat(), 1);
    assert_eq!(outcome(&report, 0), "facebook failed 1");
    assert_eq!(
        report["deliveries"][0]["error"],
        "Facebook answered 400 Bad Request: (#80001) There have been too many calls to this Page account. Wait a bit and try again. (code 80001); rate limited for 7m, longer than max_retry_wait (3s); run `outage retry` later"
    );
    emulator.with(|inner| inner.facebook.throttled = Some(0));
    let report = post(&ws, &[LIFE[1], &["--channels", "facebook"]].concat(), 0);
    assert_eq!(outcome(&report, 0), "facebook delivered 2");
}
