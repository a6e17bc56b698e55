use std::time::{Duration, Instant};

use crate::support::emulator::{Emulator, Fault};
use crate::support::{LIFE, OPEN, Workspace, hook_and_banner, json};

fn workspace(emulator: &Emulator) -> Workspace {
    hook_and_banner(emulator, "")
}

fn post(ws: &Workspace, args: &[&str]) -> std::process::Output {
    ws.cmd(&[&["post", "--yes", "-q"], args].concat())
        .any_stdout()
        .run()
}

#[test]
fn a_whole_incident_is_one_chain_of_events() {
    let emulator = Emulator::start();
    let ws = workspace(&emulator);
    post(&ws, OPEN);
    post(
        &ws,
        &[
            "--incident",
            "latest",
            "--status",
            "identified",
            "--message",
            "A bad certificate is the cause.",
            "--eta",
            "+45m",
            "--next-update",
            "30m",
        ],
    );
    post(
        &ws,
        &[
            "--incident",
            "2026-11-22-login-failures",
            "--status",
            "monitoring",
            "--message",
            "A new certificate is in place; logins recover.",
            "--next-update",
            "30m",
        ],
    );
    post(
        &ws,
        &[
            "--incident",
            "latest",
            "--status",
            "resolved",
            "--message",
            "Logins work again.",
            "--compensation",
            "Affected customers get a day of credit.",
        ],
    );
    let events: Vec<serde_json::Value> = emulator.requests().iter().map(|r| r.json()).collect();
    let chain: Vec<String> = events
        .iter()
        .map(|e| {
            format!(
                "{} {} {} {}",
                e["type"].as_str().unwrap(),
                e["data"]["incident"]["id"].as_str().unwrap(),
                e["data"]["update"]["sequence"],
                e["data"]["update"]["previous_sequence"]
            )
        })
        .collect();
    assert_eq!(
        chain,
        [
            "incident.created 2026-11-22-login-failures 1 null",
            "incident.updated 2026-11-22-login-failures 2 1",
            "incident.updated 2026-11-22-login-failures 3 2",
            "incident.closed 2026-11-22-login-failures 4 3",
        ]
    );
    assert_eq!(events[1]["data"]["update"]["eta"], "2026-11-22T10:45:00Z");
    assert_eq!(
        events[3]["data"]["update"]["compensation"],
        "Affected customers get a day of credit."
    );
    let ids: std::collections::HashSet<String> = emulator
        .requests()
        .iter()
        .map(|r| r.header("webhook-id").to_owned())
        .collect();
    assert_eq!(ids.len(), 4, "every update is its own delivery");

    ws.cmd(&["history", "latest"])
        .stdout(
            "
            2026-11-22-login-failures (incident, resolved): Login failures

            #1 investigating at 2026-11-22T10:00:00Z
              Some customers cannot log in.
              next update: Sun 22 Nov 10:30 UTC
              CHANNEL  KIND     OUTCOME    ATTEMPTS  LINK OR ERROR
              hook     webhook  delivered  1
              banner   banner   delivered  1         [DIR]/banner.html

            #2 identified at 2026-11-22T10:00:00Z
              A bad certificate is the cause.
              eta: Sun 22 Nov 10:45 UTC
              next update: Sun 22 Nov 10:30 UTC
              CHANNEL  KIND     OUTCOME    ATTEMPTS  LINK OR ERROR
              hook     webhook  delivered  1
              banner   banner   delivered  1         [DIR]/banner.html

            #3 monitoring at 2026-11-22T10:00:00Z
              A new certificate is in place; logins recover.
              next update: Sun 22 Nov 10:30 UTC
              CHANNEL  KIND     OUTCOME    ATTEMPTS  LINK OR ERROR
              hook     webhook  delivered  1
              banner   banner   delivered  1         [DIR]/banner.html

            #4 resolved at 2026-11-22T10:00:00Z
              Logins work again.
              compensation: Affected customers get a day of credit.
              CHANNEL  KIND     OUTCOME    ATTEMPTS  LINK OR ERROR
              hook     webhook  delivered  1
              banner   banner   delivered  1         [DIR]/banner.html
            ",
        )
        .run();
    let history = json(
        &ws.cmd(&["history", "2026-11-22-login-failures", "--json"])
            .any_stdout()
            .run(),
    );
    assert_eq!(history["updates"].as_array().unwrap().len(), 4);
    assert_eq!(
        history["updates"][3]["deliveries"][0]["outcome"],
        "delivered"
    );
    assert_eq!(history["updates"][3]["status"], "resolved");
}

#[test]
fn every_invalid_transition_is_refused_and_sends_nothing() {
    let emulator = Emulator::start();
    let ws = workspace(&emulator);
    post(&ws, OPEN);
    post(
        &ws,
        &[
            "--status",
            "scheduled",
            "--title",
            "Database upgrade",
            "--message",
            "Read-only dashboard.",
            "--starts",
            "+30m",
            "--ends",
            "+3h",
        ],
    );
    let cases: &[(&[&str], &str)] = &[
        (
            &[
                "--incident",
                "2026-11-22-login-failures",
                "--status",
                "scheduled",
                "--starts",
                "+1h",
            ],
            "error: 2026-11-22-login-failures is an incident, so it cannot take the maintenance status `scheduled`; open a new one instead\n",
        ),
        (
            &[
                "--incident",
                "2026-11-22-database-upgrade",
                "--status",
                "monitoring",
                "--next-update",
                "30m",
            ],
            "error: 2026-11-22-database-upgrade is a maintenance, so it cannot take the incident status `monitoring`; open a new one instead\n",
        ),
        (
            &[
                "--status",
                "investigating",
                "--title",
                "Login failures",
                "--next-update",
                "30m",
            ],
            "error: incident 2026-11-22-login-failures already exists (investigating); pass --incident 2026-11-22-login-failures to follow it up, or open a new one with a different title or with --incident NEW-ID\n",
        ),
        (
            &["--status", "resolved", "--title", "Other", "--correction"],
            "error: --correction corrects an earlier update; pass --incident ID\n",
        ),
    ];
    for (args, error) in cases {
        let args = [&["post", "--yes", "-q", "--message", "Words."], *args].concat();
        ws.cmd(&args).stderr(error).status(2).run();
    }
    post(
        &ws,
        &[
            "--incident",
            "2026-11-22-database-upgrade",
            "--status",
            "in-progress",
            "--message",
            "Started.",
            "--next-update",
            "30m",
        ],
    );
    ws.cmd(&["post", "--yes", "-q", "--incident", "2026-11-22-database-upgrade", "--status", "scheduled", "--message", "Moved.", "--starts", "+1h"])
        .stderr("error: maintenance 2026-11-22-database-upgrade is in-progress; it can only move scheduled -> in-progress -> completed (or scheduled -> cancelled)\n")
        .status(2)
        .run();
    post(
        &ws,
        &[
            "--incident",
            "2026-11-22-login-failures",
            "--status",
            "resolved",
            "--message",
            "Logins work again.",
        ],
    );
    ws.cmd(&["post", "--yes", "-q", "--incident", "2026-11-22-login-failures", "--status", "investigating", "--message", "It is back.", "--next-update", "30m"])
        .stderr("error: 2026-11-22-login-failures is already resolved; pass --reopen to post `investigating` to it, or open a new incident\n")
        .status(2)
        .run();
    let before = emulator.requests().len();
    post(
        &ws,
        &[
            "--incident",
            "2026-11-22-login-failures",
            "--reopen",
            "--status",
            "investigating",
            "--message",
            "Logins fail again for some.",
            "--next-update",
            "30m",
        ],
    );
    assert_eq!(emulator.requests().len(), before + 1);
    assert_eq!(ws.query("SELECT count(*) FROM updates"), ["5"]);
}

/// A maintenance said to be in progress more than an hour before its window (another
/// maintenance than meant, or a mistyped window) is refused, nothing sent, with the way to give
/// the window it has; that way posts it, and within the hour it is an early start that keeps its
/// window.
#[test]
fn a_maintenance_in_progress_long_before_its_window_is_refused() {
    let emulator = Emulator::start();
    let ws = workspace(&emulator);
    let at = |now: &str, args: &[&str]| {
        ws.cmd(&[&["post", "--yes", "-q"], args].concat())
            .env("OUTAGE_NOW", now)
    };
    let schedule = |title: &str, starts: &str| {
        let args = [
            "--status",
            "scheduled",
            "--title",
            title,
            "--message",
            "Read-only app.",
            "--starts",
            starts,
            "--ends",
            "2026-11-25T03:00:00Z",
        ];
        at("2026-11-22T10:00:00Z", &args).any_stdout().run();
    };
    schedule("Database upgrade", "2026-11-25T02:00:00Z");
    let started = |id: &'static str| {
        [
            "--incident",
            id,
            "--status",
            "in-progress",
            "--message",
            "The work has begun.",
        ]
    };
    let upgrade = started("2026-11-22-database-upgrade");
    at("2026-11-22T10:05:00Z", &upgrade)
        .stderr("error: --status in-progress: maintenance 2026-11-22-database-upgrade is to start Wed 25 Nov 02:00 UTC; if it has begun, give its window again (--starts 2026-11-22T10:05:00Z --ends ...), or check --incident\n")
        .status(2)
        .run();
    assert_eq!(emulator.requests().len(), 1);
    at(
        "2026-11-22T10:06:00Z",
        &[
            &upgrade[..],
            &["--starts", "2026-11-22T10:05:00Z", "--ends", "+1h"],
        ]
        .concat(),
    )
    .stdout("2026-11-22-database-upgrade: update 2 (in-progress) posted: 2 delivered\n")
    .run();
    let moved = emulator.requests_to("/json/hook")[1].json();
    assert_eq!(moved["data"]["update"]["starts"], "2026-11-22T10:05:00Z");
    assert_eq!(moved["data"]["update"]["ends"], "2026-11-22T11:06:00Z");

    schedule("Network work", "2026-11-22T11:00:00Z");
    at("2026-11-22T10:30:00Z", &started("2026-11-22-network-work"))
        .stdout("2026-11-22-network-work: update 2 (in-progress) posted: 2 delivered\n")
        .run();
    let early = emulator.requests_to("/json/hook")[3].json();
    assert_eq!(early["data"]["update"]["status"], "in-progress");
    assert_eq!(early["data"]["update"]["starts"], "2026-11-22T11:00:00Z");
}

/// A channel enabled after an update went out gets nothing from a rerun, and the rerun says so
/// and how to send it there; that command sends the same update on to it, once, and the others
/// not again.
#[test]
fn a_rerun_names_the_channels_enabled_since_and_how_to_reach_them() {
    let emulator = Emulator::start();
    let ws = hook_and_banner(&emulator, "enabled = false\n");
    post(&ws, OPEN);
    assert!(emulator.requests().is_empty());
    ws.edit("channels.toml", "enabled = false\n", "");
    ws.cmd(&[&["post", "--yes", "-q"], OPEN].concat())
        .stdout("2026-11-22-login-failures: update 1 (investigating) already posted; nothing was sent again: 1 skipped, 1 delivered\n")
        .stderr("hook did not get this update (enabled or added since it was posted); the same command with `--incident 2026-11-22-login-failures --channels hook` sends it to them.\n")
        .run();
    assert!(emulator.requests().is_empty());
    // Scripts read it from the JSON.
    let rerun = json(
        &ws.cmd(&[&["post", "--yes", "--json"], OPEN].concat())
            .any_stdout()
            .run(),
    );
    assert_eq!(
        (&rerun["rerun"], &rerun["missed"]),
        (&true.into(), &serde_json::json!(["hook"]))
    );
    let follow = [
        &["post", "--yes", "-q"][..],
        OPEN,
        &[
            "--incident",
            "2026-11-22-login-failures",
            "--channels",
            "hook",
        ],
    ]
    .concat();
    // A dry run says what the post will do.
    ws.cmd(&[&follow[..], &["--dry-run"]].concat())
        .stdout("2026-11-22-login-failures: update 1 (investigating) would also be sent to hook: 1 planned; dry run, nothing was sent\n")
        .run();
    let dry = ws
        .cmd(&[&follow[..2], &follow[3..], &["--dry-run"]].concat())
        .any_stdout()
        .run();
    let said = String::from_utf8_lossy(&dry.stdout);
    assert!(
        said.ends_with(
            "\nThese words are update 1 of 2026-11-22-login-failures, which went to banner at \
             10:00 UTC: a post sends it on to hook, the same update, not a new one.\n\n\
             Dry run: nothing was sent and nothing was recorded.\n"
        ),
        "{said}"
    );
    ws.cmd(&follow)
        .stdout("2026-11-22-login-failures: update 1 (investigating) also sent to hook; it had gone to banner: 2 delivered\n")
        .run();
    assert_eq!(emulator.requests_to("/json/hook").len(), 1);
    // The hook got the update that opened the incident, as it would have.
    assert_eq!(
        emulator.requests_to("/json/hook")[0].json()["type"],
        "incident.created"
    );
    // Run again, it is a rerun that misses nothing.
    let rerun = json(
        &ws.cmd(&[&follow[..2], &["--json"], &follow[3..]].concat())
            .any_stdout()
            .run(),
    );
    assert_eq!((&rerun["rerun"], rerun.get("missed")), (&true.into(), None));
    ws.cmd(&follow)
        .stdout("2026-11-22-login-failures: update 1 (investigating) already posted; nothing was sent again: 2 delivered\n")
        .run();
    assert_eq!(emulator.requests().len(), 1);
}

#[test]
fn a_rerun_reports_the_existing_deliveries_and_sends_nothing() {
    let emulator = Emulator::start();
    let ws = workspace(&emulator);
    post(&ws, OPEN);
    ws.cmd(&[&["post", "--yes"], OPEN].concat())
        .stdout(
            "
            2026-11-22-login-failures: update 1 (investigating) already posted; nothing was sent again

            CHANNEL  KIND     OUTCOME    ATTEMPTS  LINK OR ERROR
            hook     webhook  delivered  1
            banner   banner   delivered  1         [DIR]/banner.html
            ",
        )
        .env("OUTAGE_NOW", "2026-11-22T10:07:00Z")
        .run();
    assert_eq!(emulator.requests().len(), 1);

    let keyed = [
        "--incident",
        "latest",
        "--status",
        "identified",
        "--message",
        "Cause found.",
        "--next-update",
        "30m",
        "--idempotency-key",
        "ci-run-42",
    ];
    post(&ws, &keyed);
    let rerun = json(
        &ws.cmd(&[&["post", "--yes", "--json"], &keyed[..]].concat())
            .any_stdout()
            .run(),
    );
    assert_eq!(rerun["rerun"], true);
    assert_eq!(rerun["sequence"], 2);
    assert_eq!(emulator.requests().len(), 2);
    ws.cmd(&["post", "--yes", "--incident", "latest", "--status", "identified", "--message", "Other words.", "--next-update", "30m", "--idempotency-key", "ci-run-42"])
        .stderr("error: --idempotency-key ci-run-42 already names update 2 of 2026-11-22-login-failures, with different inputs; use a new key\n")
        .status(2)
        .run();
}

#[test]
fn a_correction_says_so_on_every_channel() {
    let emulator = Emulator::start();
    let ws = workspace(&emulator);
    post(&ws, OPEN);
    post(
        &ws,
        &[
            "--incident",
            "latest",
            "--correction",
            "--status",
            "investigating",
            "--message",
            "Only customers using single sign-on are affected.",
            "--next-update",
            "30m",
        ],
    );
    let event = emulator.requests()[1].json();
    assert_eq!(event["data"]["update"]["correction"], true);
    assert!(
        event["data"]["text"]
            .as_str()
            .unwrap()
            .contains("Correction to our previous update: Only customers")
    );
    assert!(
        ws.read("banner.html")
            .contains("Correction: Only customers using single sign-on")
    );
}

#[test]
fn status_lists_open_incidents_and_check_exits_4_when_an_update_is_overdue() {
    let emulator = Emulator::start();
    let ws = workspace(&emulator);
    ws.cmd(&["status"])
        .stdout("No open incidents or maintenance.\n")
        .run();
    post(&ws, OPEN);
    post(
        &ws,
        &[
            "--status",
            "scheduled",
            "--title",
            "Database upgrade",
            "--message",
            "Read-only dashboard.",
            "--starts",
            "2026-11-23T02:00:00Z",
            "--ends",
            "2026-11-23T03:00:00Z",
        ],
    );
    ws.cmd(&["status", "--check"])
        .env("OUTAGE_NOW", "2026-11-22T10:20:00Z")
        .stdout(
            "
            INCIDENT                     STATUS         AGE      LAST UPDATE  NEXT UPDATE DUE       TITLE
            2026-11-22-database-upgrade  scheduled      20m ago  20m ago      Mon 23 Nov 02:00 UTC  Database upgrade
            2026-11-22-login-failures    investigating  20m ago  20m ago      10:30 UTC             Login failures
            ",
        )
        .run();
    let output = ws
        .cmd(&["status", "--check", "--json"])
        .env("OUTAGE_NOW", "2026-11-22T11:05:00Z")
        .any_stdout()
        .status(4)
        .run();
    let status = json(&output);
    assert_eq!(status["overdue"], true);
    assert_eq!(status["open"][1]["overdue"], true);
    assert_eq!(status["open"][0]["overdue"], false);
    ws.cmd(&["status"])
        .env("OUTAGE_NOW", "2026-11-22T11:05:00Z")
        .stdout(
            "
            INCIDENT                     STATUS         AGE        LAST UPDATE  NEXT UPDATE DUE          TITLE
            2026-11-22-database-upgrade  scheduled      1h 5m ago  1h 5m ago    Mon 23 Nov 02:00 UTC     Database upgrade
            2026-11-22-login-failures    investigating  1h 5m ago  1h 5m ago    OVERDUE since 10:30 UTC  Login failures
            ",
        )
        .run();
}

#[test]
fn retry_resends_failed_deliveries_only() {
    let emulator = Emulator::start();
    emulator.fail(
        "/json/hook",
        vec![Fault::status(503, ""), Fault::status(503, "")],
    );
    let ws = workspace(&emulator);
    ws.cmd(&[&["post", "--yes", "-q"], OPEN].concat())
        .stdout("opened new incident 2026-11-22-login-failures: update 1 (investigating) posted: 1 failed, 1 delivered\n")
        .stderr("hook: failed: the receiver answered 503 Service Unavailable: no details\n`outage retry 2026-11-22-login-failures` sends the 1 that failed again.\n")
        .status(1)
        .run();
    let output = ws.cmd(&["retry", "latest", "--json"]).any_stdout().run();
    let report = json(&output);
    assert_eq!(report["deliveries"][0]["outcome"], "delivered");
    assert_eq!(report["deliveries"][0]["attempts"], 3);
    let requests = emulator.requests_to("/json/hook");
    assert_eq!(requests.len(), 3);
    assert!(
        requests
            .iter()
            .all(|r| r.header("webhook-id") == requests[0].header("webhook-id"))
    );
    ws.cmd(&["retry", "latest"])
        .stdout(
            "
            2026-11-22-login-failures: update 1 (investigating) has nothing to retry

            CHANNEL  KIND     OUTCOME    ATTEMPTS  LINK OR ERROR
            hook     webhook  delivered  3
            banner   banner   delivered  1         [DIR]/banner.html
            ",
        )
        .run();
    assert_eq!(
        emulator.requests_to("/json/hook").len(),
        3,
        "delivered ones are never sent again"
    );
}

/// A process killed mid-request leaves `unknown`. A plain `retry` finishes what is harmless to
/// send again (a JSON webhook, whose receiver drops a repeated `webhook-id`) and asks before
/// sending again what could arrive twice (a Slack message). See issue 10, item 2.
#[test]
fn a_killed_process_leaves_unknown_and_retry_completes_it() {
    let emulator = Emulator::start();
    emulator.fail("/json/hook", vec![Fault::Delay(Duration::from_secs(30))]);
    emulator.fail("/slack/chat", vec![Fault::Delay(Duration::from_secs(30))]);
    let ws = Workspace::new(&format!(
        r#"
        [organization]
        name = "Example Inc"
        [dispatch]
        timeout = "10s"
        retry_base = "10ms"
        [[channel]]
        name = "hook"
        kind = "webhook"
        url = "{}"
        [[channel]]
        name = "chat"
        kind = "webhook"
        format = "slack"
        url = "{}"
        [[channel]]
        name = "banner"
        kind = "banner"
        html_path = "banner.html"
        "#,
        emulator.url("/json/hook"),
        emulator.url("/slack/chat"),
    ));
    let mut child = ws.cmd(&[&["post", "--yes", "-q"], OPEN].concat()).spawn();
    let started = Instant::now();
    let banner_written = || {
        ws.try_query("SELECT state FROM deliveries WHERE channel = 'banner'")
            == Some(vec!["delivered".to_owned()])
    };
    while emulator.requests().len() < 2 || !banner_written() {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "the requests never arrived"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(
        ws.query("SELECT channel, state, attempts FROM deliveries ORDER BY rowid"),
        ["hook|pending|1", "chat|pending|1", "banner|delivered|1"]
    );
    let history = json(&ws.cmd(&["history", "latest", "--json"]).any_stdout().run());
    assert_eq!(history["updates"][0]["deliveries"][0]["outcome"], "unknown");
    assert_eq!(history["updates"][0]["deliveries"][1]["outcome"], "unknown");

    // The rerun of the killed command sends nothing, and says what `retry` will do.
    ws.cmd(&[&["post", "--yes"], OPEN].concat())
        .stdout(
            "
            2026-11-22-login-failures: update 1 (investigating) already posted; nothing was sent again

            CHANNEL  KIND     OUTCOME    ATTEMPTS  LINK OR ERROR
            hook     webhook  unknown    1         the process ended before the outcome was known
            chat     webhook  unknown    1         the process ended before the outcome was known
            banner   banner   delivered  1         [DIR]/banner.html

            `outage retry 2026-11-22-login-failures` sends the 1 with an unknown outcome again; a repeat there is harmless.
            The outcome on chat is unknown: it may have gone out. Check, then `outage retry 2026-11-22-login-failures --include-unknown` sends it again.
            ",
        )
        .status(1)
        .run();
    ws.cmd(&["status"])
        .stdout(
            "
            INCIDENT                   STATUS         AGE     LAST UPDATE  NEXT UPDATE DUE  NOT DELIVERED  TITLE
            2026-11-22-login-failures  investigating  0m ago  0m ago       10:30 UTC        2 unknown      Login failures

            `outage retry ID` finishes what did not go out; `outage history ID` shows it.
            ",
        )
        .run();

    let report = json(
        &ws.cmd(&["retry", "latest", "--json"])
            .any_stdout()
            .status(1)
            .run(),
    );
    let outcomes: Vec<&str> = report["deliveries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["outcome"].as_str().unwrap())
        .collect();
    assert_eq!(outcomes, ["delivered", "unknown", "delivered"]);
    ws.cmd(&["retry", "latest"])
        .stderr("error: 1 delivery(ies) of update 1 have an unknown outcome (the process ended mid-request) and may have gone out; check the channel, then pass --include-unknown to send them again\n")
        .status(2)
        .run();
    let report = json(
        &ws.cmd(&["retry", "latest", "--include-unknown", "--json"])
            .any_stdout()
            .run(),
    );
    assert_eq!(report["deliveries"][1]["outcome"], "delivered");
    let requests = emulator.requests_to("/json/hook");
    assert_eq!(requests.len(), 2);
    assert_eq!(
        requests[0].header("webhook-id"),
        requests[1].header("webhook-id"),
        "the receiver can drop the repeat"
    );
    assert_eq!(emulator.requests_to("/slack/chat").len(), 2);
}

/// Four channels: three webhooks and the banner.
fn three_hooks_and_banner(emulator: &Emulator) -> Workspace {
    let more = |name: &str| {
        let url = emulator.url(&format!("/json/{name}"));
        format!("[[channel]]\nname = \"{name}\"\nkind = \"webhook\"\nurl = \"{url}\"\n")
    };
    hook_and_banner(emulator, &[more("b"), more("c")].concat())
}

const FOUR: [&str; 4] = ["hook", "b", "c", "banner"];

proptest::proptest! {
    #![proptest_config(crate::support::cases(24))]

    /// The same words posted again within the rerun window, with other channels chosen (none
    /// chosen is all of them) and the incident named or not, are one update: each channel
    /// chosen along the way gets it once, and no other channel does. Words that differ are an
    /// update of their own, and every channel they are posted to gets them.
    #[test]
    fn the_same_words_reach_each_chosen_channel_once(
        posts in proptest::collection::vec(
            (proptest::sample::subsequence(FOUR.to_vec(), 0..=4), proptest::bool::ANY),
            1..5,
        ),
        then in proptest::sample::subsequence(FOUR.to_vec(), 0..=4),
    ) {
        let emulator = Emulator::start();
        let ws = three_hooks_and_banner(&emulator);
        fn chosen_of(channels: &[&'static str]) -> Vec<&'static str> {
            match channels.is_empty() {
                true => FOUR.to_vec(),
                false => channels.to_vec(),
            }
        }
        let mut chosen: Vec<&str> = Vec::new();
        for (minute, (channels, named)) in posts.iter().enumerate() {
            let list = channels.join(",");
            let mut args = vec!["post", "--yes", "-q"];
            args.extend_from_slice(OPEN);
            // The first post opens the incident; the same words again may name it.
            if *named && minute > 0 {
                args.extend(["--incident", "2026-11-22-login-failures"]);
            }
            if !channels.is_empty() {
                args.extend(["--channels", list.as_str()]);
            }
            ws.cmd(&args)
                .env("OUTAGE_NOW", &format!("2026-11-22T10:0{minute}:00Z"))
                .any_stdout()
                .any_stderr()
                .run();
            chosen.extend(chosen_of(channels));
        }
        let sent = |hook: &str, sequence: u64| {
            emulator
                .requests_to(&format!("/json/{hook}"))
                .iter()
                .filter(|request| request.json()["data"]["update"]["sequence"] == sequence)
                .count()
        };
        for hook in ["hook", "b", "c"] {
            proptest::prop_assert_eq!(sent(hook, 1), usize::from(chosen.contains(&hook)), "{}", hook);
        }
        proptest::prop_assert_eq!(ws.file("banner.html").exists(), chosen.contains(&"banner"));
        proptest::prop_assert_eq!(ws.query("SELECT count(*) FROM updates"), ["1"]);

        // A real change goes out as an update of its own, to every channel it is posted to.
        let list = then.join(",");
        let mut args = [&["post", "--yes", "-q"][..], LIFE[1]].concat();
        if !then.is_empty() {
            args.extend(["--channels", list.as_str()]);
        }
        ws.cmd(&args).env("OUTAGE_NOW", "2026-11-22T10:06:00Z").any_stdout().any_stderr().run();
        for hook in ["hook", "b", "c"] {
            proptest::prop_assert_eq!(sent(hook, 2), usize::from(chosen_of(&then).contains(&hook)), "{}", hook);
        }
        proptest::prop_assert_eq!(ws.query("SELECT count(*) FROM updates"), ["2"]);
    }
}
