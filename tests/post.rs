use crate::support::{Workspace, json};

const POST: &[&str] = &[
    "post",
    "--status",
    "investigating",
    "--title",
    "Login failures",
    "--message",
    "Some customers cannot log in to the web app. We are looking into it.",
    "--next-update",
    "30m",
];

fn example() -> Workspace {
    Workspace::new(include_str!("../channels.example.toml"))
}

fn with(extra: &[&'static str]) -> Vec<&'static str> {
    POST.iter().chain(extra).copied().collect()
}

/// The README's first command: the example config publishes a real update with no account.
#[test]
fn the_example_config_publishes_the_banner_feed_and_site_and_skips_the_rest() {
    let ws = example();
    ws.cmd(&with(&["--yes"]))
        .stdout(
            "
            opened new incident 2026-11-22-login-failures: update 1 (investigating) posted

            CHANNEL          KIND      OUTCOME    ATTEMPTS  LINK OR ERROR
            banner           banner    delivered  1         [DIR]/public/status-banner.html
            feed             feed      delivered  1         [DIR]/public/feed.atom
            site             site      delivered  1         [DIR]/public/status/index.html
            status-hook      webhook   skipped    0         disabled in the config
            slack-support    webhook   skipped    0         disabled in the config
            discord          webhook   skipped    0         disabled in the config
            teams            webhook   skipped    0         disabled in the config
            mattermost       webhook   skipped    0         disabled in the config
            x                x         skipped    0         disabled in the config
            facebook         facebook  skipped    0         disabled in the config
            mastodon         mastodon  skipped    0         disabled in the config
            bluesky          bluesky   skipped    0         disabled in the config
            phone            phone     skipped    0         disabled in the config
            email-customers  email     skipped    0         disabled in the config
            email-support    email     skipped    0         disabled in the config
            ",
        )
        .stderr_unordered(
            "
            banner: delivered (1 attempt)
            feed: delivered (1 attempt)
            site: delivered (1 attempt)
            ",
        )
        .run();
    assert!(
        ws.read("public/status-banner.html")
            .contains("Login failures")
    );
    assert!(
        ws.read("public/status/incidents/2026-11-22-login-failures.html")
            .contains("Some customers cannot log in to the web app.")
    );
    assert_eq!(
        ws.query("SELECT channel, state, attempts FROM deliveries ORDER BY rowid"),
        [
            "banner|delivered|1",
            "feed|delivered|1",
            "site|delivered|1",
            "status-hook|skipped|0",
            "slack-support|skipped|0",
            "discord|skipped|0",
            "teams|skipped|0",
            "mattermost|skipped|0",
            "x|skipped|0",
            "facebook|skipped|0",
            "mastodon|skipped|0",
            "bluesky|skipped|0",
            "phone|skipped|0",
            "email-customers|skipped|0",
            "email-support|skipped|0"
        ]
    );
}

#[test]
fn json_output_has_the_documented_shape() {
    let ws = example();
    let output = ws
        .cmd(&with(&["--yes", "--json", "--channels", "banner"]))
        .any_stdout()
        .run();
    let report = json(&output);
    assert_eq!(report["incident"], "2026-11-22-login-failures");
    assert_eq!(report["sequence"], 1);
    assert_eq!(report["status"], "investigating");
    assert_eq!(report["dry_run"], false);
    assert_eq!(report["findings"], serde_json::json!([]));
    let delivery = &report["deliveries"][0];
    let keys: Vec<&str> = delivery
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        [
            "attempts",
            "channel",
            "error",
            "kind",
            "outcome",
            "remote_id",
            "rendered",
            "url"
        ]
    );
    assert_eq!(delivery["outcome"], "delivered");
    assert_eq!(delivery["channel"], "banner");
    assert!(
        delivery["rendered"]
            .as_str()
            .unwrap()
            .contains("role=\"status\"")
    );
}

#[test]
fn a_dry_run_shows_every_rendering_and_writes_nothing() {
    let ws = example();
    let output = ws
        .cmd(&with(&["--dry-run", "--channels", "feed"]))
        .stdout(
            r#"
            ── feed (feed) ─────────────────────────────────────────────────────────
            <?xml version="1.0"?>
            <feed xmlns="http://www.w3.org/2005/Atom">
              <title>Example Inc status</title>
              <id>tag:status.example.com,2026:incidents</id>
              <updated>2026-11-22T10:00:00+00:00</updated>
              <author>
                <name>Example Inc</name>
              </author>
              <link href="https://status.example.com/feed.atom" rel="self"/>
              <link href="https://status.example.com" rel="alternate"/>
              <entry>
                <title>[Investigating] Login failures</title>
                <id>tag:status.example.com,2026-11-22:2026-11-22-login-failures/update-1</id>
                <updated>2026-11-22T10:00:00+00:00</updated>
                <link href="https://status.example.com/incidents/2026-11-22-login-failures.html" rel="alternate"/>
                <content type="text">Investigating: Login failures

            Some customers cannot log in to the web app. We are looking into it.
            Next update by 10:30 UTC.

            https://status.example.com/incidents/2026-11-22-login-failures.html</content>
              </entry>
            </feed>

            CHANNEL  KIND  OUTCOME  ATTEMPTS  LINK OR ERROR
            feed     feed  planned  0

            Dry run: nothing was sent and nothing was recorded.
            "#,
        )
        .run();
    assert!(output.status.success());
    assert!(
        !ws.journal().exists(),
        "a dry run must not create the journal"
    );
    assert!(
        !ws.file("public").exists(),
        "a dry run must not write files"
    );
}

#[test]
fn without_yes_a_script_is_refused_and_nothing_is_recorded() {
    let ws = example();
    ws.cmd(POST)
        .stderr(
            "error: refusing to post without confirmation: pass --yes (or --dry-run to preview)\n",
        )
        .status(2)
        .run();
    assert_eq!(ws.query("SELECT count(*) FROM updates"), ["0"]);
    assert!(!ws.file("public").exists());
}

#[test]
fn the_message_can_come_from_stdin_or_an_update_file() {
    let ws = example();
    ws.cmd(&[
        "post",
        "--status",
        "investigating",
        "--title",
        "Slow API",
        "--message",
        "-",
        "--next-update",
        "20m",
        "--yes",
        "-q",
        "--channels",
        "banner",
    ])
    .stdin("Requests to the API are slow.\n")
    .any_stdout()
    .run();
    assert!(
        ws.read("public/status-banner.html")
            .contains("Requests to the API are slow.")
    );

    ws.write(
        "maintenance.toml",
        r#"
        status = "scheduled"
        title = "Database upgrade"
        message = "The dashboard will be read-only during the upgrade."
        starts = "2026-11-23T02:00:00Z"
        ends = "2026-11-23T03:00:00Z"
        components = ["Web app"]
        "#,
    );
    ws.cmd(&[
        "post",
        "--from",
        "maintenance.toml",
        "--yes",
        "-q",
        "--channels",
        "banner",
    ])
    .stdout("opened new incident 2026-11-22-database-upgrade: update 1 (scheduled) posted: 1 delivered\n")
    .run();
    let banner = ws.read("public/status-banner.html");
    assert!(
        banner.contains("Requests to the API are slow."),
        "the other incident stays"
    );
    assert!(banner.contains("Scheduled maintenance: Database upgrade"));
    assert!(banner.contains("From Mon 23 Nov 02:00 UTC to Mon 23 Nov 03:00 UTC."));
}

#[test]
fn missing_inputs_are_usage_errors() {
    let ws = example();
    ws.cmd(&["post", "--title", "x", "--message", "y", "--yes"])
        .stderr("error: the update needs --status (investigating, identified, monitoring, resolved; for maintenance scheduled, in-progress, completed, cancelled)\n")
        .status(2)
        .run();
    ws.cmd(&["post", "--status", "fixed", "--title", "x", "--message", "y", "--yes"])
        .stderr("error: --status / status: unknown status `fixed`; use one of investigating, identified, monitoring, resolved, or for maintenance scheduled, in-progress, completed, cancelled\n")
        .status(2)
        .run();
    ws.write(
        "update.toml",
        "status = \"investigating\"\ntitle = \"x\"\nmesage = \"y\"\n",
    );
    ws.cmd(&["post", "--from", "update.toml", "--yes"])
        .stderr("error: update.toml: TOML parse error at line 3, column 1: unknown field `mesage`, expected one of `incident`, `status`, `title`, `message`, `components`, `impact`, `eta`, `next_update`, `starts`, `ends`, `compensation`, `internal_note`, `channels`, `allow`, `correction`, `reopen`, `idempotency_key`, `remind`, `reminder_message`, `auto`, `in_progress_message`, `completed_message`; did you mean `message`?\n")
        .status(2)
        .run();
    ws.cmd(&with(&["--yes", "--eta", "soon"]))
        .stderr("error: --eta / eta: `soon` is not a time; write 14:30, +45m, or an RFC 3339 time such as 2026-11-22T14:30:00Z\n")
        .status(2)
        .run();
    ws.cmd(&with(&["--yes", "--channels", "nope"]))
        .stderr("error: --channels: no channel is named `nope` in [DIR]/channels.toml; the channels are banner, feed, site, status-hook, slack-support, discord, teams, mattermost, x, facebook, mastodon, bluesky, phone, email-customers, email-support\n")
        .status(2)
        .run();
    ws.cmd(&with(&["--yes", "--channels", "discord"]))
        .stderr("error: --channels: `discord` is disabled in [DIR]/channels.toml; set enabled = true to use it\n")
        .status(2)
        .run();
    // An empty name (an empty variable in a script, two commas) is not "every channel".
    for typed in ["", "banner,,feed", "banner,"] {
        ws.cmd(&with(&["--yes", "--channels", typed]))
            .stderr(&format!("error: --channels / channels: a channel name is empty (`{typed}`); name each channel, separated by commas, such as --channels banner,feed, or leave --channels out to send to every channel\n"))
            .status(2)
            .run();
    }
    assert!(
        ws.try_query("SELECT id FROM updates")
            .unwrap_or_default()
            .is_empty(),
        "nothing was recorded"
    );
    // Spaces after the commas are not part of the names.
    ws.cmd(&with(&["--yes", "-q", "--channels", "banner, feed"]))
        .stdout("opened new incident 2026-11-22-login-failures: update 1 (investigating) posted: 2 delivered\n")
        .run();
}
