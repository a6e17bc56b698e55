//! The same facts on every channel, and no real update ever mistaken for a rerun (issue 9): what
//! a rerun is, where an update goes, which times are refused, the banner that never blocks a
//! post, X threads for facts that do not fit, and a journal from the first version.

use crate::support::emulator::Emulator;
use crate::support::{LIFE, NOW, OPEN, Workspace, hook_and_banner, json};

fn workspace(emulator: &Emulator) -> Workspace {
    Workspace::new(&format!(
        r#"
        [organization]
        name = "Example Inc"
        status_url = "https://status.example.com"
        [dispatch]
        timeout = "5s"
        retry_base = "10ms"
        [[channel]]
        name = "hook"
        kind = "webhook"
        url = "{}"
        "#,
        emulator.url("/json/hook"),
    ))
}

/// Posts at `now` and returns the JSON report.
fn post_at(ws: &Workspace, now: &str, args: &[&str], status: i32) -> serde_json::Value {
    json(
        &ws.cmd(&[&["post", "--yes", "--json"], args].concat())
            .env("OUTAGE_NOW", now)
            .any_stdout()
            .any_stderr()
            .status(status)
            .run(),
    )
}

/// `sequence rerun` of a report.
fn placed(report: &serde_json::Value) -> String {
    format!(
        "{} {}{}",
        report["incident"].as_str().unwrap(),
        report["sequence"],
        if report["rerun"] == true {
            " rerun"
        } else {
            ""
        }
    )
}

const IDENTIFIED: &[&str] = &[
    "--incident",
    "latest",
    "--status",
    "identified",
    "--message",
    "A bad certificate is the cause.",
    "--eta",
    "+1h",
    "--next-update",
    "30m",
];

fn with(base: &[&'static str], flag: &'static str, value: &'static str) -> Vec<&'static str> {
    let mut args = base.to_vec();
    match args.iter().position(|arg| *arg == flag) {
        Some(at) => args[at + 1] = value,
        None => args.extend([flag, value]),
    }
    args
}

/// Any changed fact is a new update; the same command again (relative times as typed) within
/// the rerun window is a rerun of whichever update it repeats, not only the latest.
#[test]
fn a_changed_time_is_a_new_update_and_the_same_command_again_is_a_rerun() {
    let emulator = Emulator::start();
    let ws = workspace(&emulator);
    let id = "2026-11-22-login-failures";
    assert_eq!(
        placed(&post_at(&ws, "2026-11-22T10:00:00Z", OPEN, 0)),
        format!("{id} 1")
    );
    assert_eq!(
        placed(&post_at(&ws, "2026-11-22T10:05:00Z", IDENTIFIED, 0)),
        format!("{id} 2")
    );
    // +2h instead of +1h: a new ETA, a new update.
    let later = with(IDENTIFIED, "--eta", "+2h");
    assert_eq!(
        placed(&post_at(&ws, "2026-11-22T10:06:00Z", &later, 0)),
        format!("{id} 3")
    );
    // The command of update 2 again, as a retried CI job runs it: a rerun of update 2, typed
    // `+1h` both times though it resolves to another time now.
    assert_eq!(
        placed(&post_at(&ws, "2026-11-22T10:07:00Z", IDENTIFIED, 0)),
        format!("{id} 2 rerun")
    );
    // Only the next update's time changes: a new update.
    let sooner = with(&later, "--next-update", "45m");
    assert_eq!(
        placed(&post_at(&ws, "2026-11-22T10:08:00Z", &sooner, 0)),
        format!("{id} 4")
    );
    assert_eq!(emulator.requests_to("/json/hook").len(), 4);
    // The same words after the window: a regular "no news yet" update goes out, with a warning.
    let output = ws
        .cmd(&[&["post", "--yes", "-q"], &sooner[..]].concat())
        .env("OUTAGE_NOW", "2026-11-22T10:30:00Z")
        .stdout("2026-11-22-login-failures: update 5 (identified) posted: 1 delivered\n")
        .stderr("warning[no-news]: the message repeats update 4 word for word; say what changed, what is being done, or when you will know more\n")
        .run();
    assert!(output.status.success());
    assert_eq!(emulator.requests_to("/json/hook").len(), 5);
}

/// The command that opened an incident, run again after midnight, finds that incident.
#[test]
fn a_rerun_of_an_opening_command_finds_its_incident_across_midnight() {
    let emulator = Emulator::start();
    let ws = workspace(&emulator);
    let first = post_at(&ws, "2026-11-22T23:55:00Z", OPEN, 0);
    assert_eq!(placed(&first), "2026-11-22-login-failures 1");
    let again = post_at(&ws, "2026-11-23T00:05:00Z", OPEN, 0);
    assert_eq!(placed(&again), "2026-11-22-login-failures 1 rerun");
    assert_eq!(emulator.requests().len(), 1);
    ws.cmd(&["status", "--json"])
        .env("OUTAGE_NOW", "2026-11-23T00:05:00Z")
        .any_stdout()
        .run();
    assert_eq!(ws.query("SELECT count(*) FROM incidents"), ["1"]);
}

/// An idempotency key names its update for good: the same key and inputs is a rerun even after
/// the window; the same key with other inputs is refused.
#[test]
fn an_idempotency_key_names_one_update_and_its_inputs() {
    let emulator = Emulator::start();
    let ws = workspace(&emulator);
    let keyed = [OPEN, &["--idempotency-key", "ci-42"]].concat();
    post_at(&ws, "2026-11-22T10:00:00Z", &keyed, 0);
    let again = post_at(&ws, "2026-11-22T13:00:00Z", &keyed, 0);
    assert_eq!(placed(&again), "2026-11-22-login-failures 1 rerun");
    let other = with(&keyed, "--next-update", "20m");
    ws.cmd(&[&["post", "--yes"], &other[..]].concat())
        .stderr("error: --idempotency-key ci-42 already names update 1 of 2026-11-22-login-failures, with different inputs; use a new key\n")
        .status(2)
        .run();
    assert_eq!(emulator.requests().len(), 1);
}

/// A mistyped id is an error naming the closest ids; an unknown id with a title and an opening
/// status opens that incident, and the report says so.
#[test]
fn an_unknown_incident_is_named_unless_the_update_can_open_it() {
    let emulator = Emulator::start();
    let ws = workspace(&emulator);
    post_at(&ws, "2026-11-22T10:00:00Z", OPEN, 0);
    ws.cmd(&["post", "--yes", "--incident", "2026-11-22-login-failure", "--title", "Login failures", "--status", "resolved", "--message", "Logins work again."])
        .stderr("error: no incident `2026-11-22-login-failure` in the journal; did you mean 2026-11-22-login-failures? (`outage incidents` lists them; to open a new incident with this id, give --title and an opening status: investigating, identified or scheduled)\n")
        .status(2)
        .run();
    ws.cmd(&["post", "--yes", "--incident", "2026-11-22-login-failure", "--status", "investigating", "--message", "Logins fail.", "--next-update", "30m"])
        .stderr("error: no incident `2026-11-22-login-failure` in the journal; did you mean 2026-11-22-login-failures? (`outage incidents` lists them; to open a new incident with this id, give --title and an opening status: investigating, identified or scheduled)\n")
        .status(2)
        .run();
    assert_eq!(emulator.requests().len(), 1);
    ws.cmd(&[
        "post",
        "--yes",
        "-q",
        "--incident",
        "sso-outage",
        "--title",
        "Single sign-on fails",
        "--status",
        "investigating",
        "--message",
        "SSO logins fail.",
        "--next-update",
        "30m",
    ])
    .stdout("opened new incident sso-outage: update 1 (investigating) posted: 1 delivered\n")
    .run();
}

/// The same title later the same day, once the first incident is over, is a new incident with a
/// suffix; while the first is open it is an error that says how to follow it up or open another
/// (the id given with --incident).
#[test]
fn the_same_title_after_resolution_opens_a_new_incident_with_a_suffix() {
    let emulator = Emulator::start();
    let ws = workspace(&emulator);
    post_at(&ws, "2026-11-22T10:00:00Z", OPEN, 0);
    ws.cmd(&[&["post", "--yes"], OPEN].concat())
        .env("OUTAGE_NOW", "2026-11-22T10:20:00Z")
        .stderr("error: incident 2026-11-22-login-failures already exists (investigating); pass --incident 2026-11-22-login-failures to follow it up, or open a new one with a different title or with --incident NEW-ID\n")
        .status(2)
        .run();
    // The hint's second way: the same title under an id of one's own.
    let own = post_at(
        &ws,
        "2026-11-22T10:25:00Z",
        &[OPEN, &["--incident", "login-failures-eu"]].concat(),
        0,
    );
    assert_eq!(placed(&own), "login-failures-eu 1");
    assert_eq!(own["opened"], true);
    post_at(
        &ws,
        "2026-11-22T10:30:00Z",
        &[
            "--incident",
            "2026-11-22-login-failures",
            "--status",
            "resolved",
            "--message",
            "Logins work again.",
        ],
        0,
    );
    let again = post_at(&ws, "2026-11-22T14:00:00Z", OPEN, 0);
    assert_eq!(placed(&again), "2026-11-22-login-failures-2 1");
    assert_eq!(again["opened"], true);
}

/// Titles in other scripts open incidents with ids spelt in ASCII, each its own: two Japanese
/// titles the same day are two incidents, not one refused as the other.
#[test]
fn titles_in_other_scripts_open_incidents_of_their_own() {
    let emulator = Emulator::start();
    let ws = workspace(&emulator);
    let open = |title: &str| {
        let args = [
            OPEN[..2].to_vec(),
            vec!["--title", title],
            OPEN[4..].to_vec(),
        ]
        .concat();
        placed(&post_at(&ws, "2026-11-22T10:00:00Z", &args, 0))
    };
    assert_eq!(
        open("Störung beim Login"),
        "2026-11-22-storung-beim-login 1"
    );
    let first = open("ログイン障害");
    let second = open("決済の遅延");
    assert_ne!(first, second);
    for placed in [&first, &second] {
        assert!(
            placed.is_ascii() && !placed.starts_with("2026-11-22-incident"),
            "{placed}"
        );
    }
    assert_eq!(emulator.requests().len(), 3);
}

/// Times that cannot be meant are refused before anything is recorded, naming the flag and the
/// update-file key; a running maintenance with an end promises that end and needs no next update.
#[test]
fn times_that_cannot_be_meant_are_refused() {
    let emulator = Emulator::start();
    let ws = workspace(&emulator);
    let base = &OPEN[..6];
    let cases: [(&[&str], &str, &str); 4] = [
        (
            &["--eta", "2026-11-19T10:00:00Z", "--next-update", "30m"],
            "2026-11-22T10:00:00Z",
            "--eta / eta: Thu 19 Nov 10:00 UTC is not in the future; give a time still to come (14:30, +45m or an RFC 3339 time)",
        ),
        (
            &["--next-update", "08:00"],
            "2026-11-22T09:40:00Z",
            "--next-update / next_update: `08:00` would mean Mon 23 Nov 08:00 UTC, 22h 20m from now; give a date such as 2026-11-23T08:00:00Z or a duration such as +2h",
        ),
        (
            &["--next-update", "2026-11-22T09:00:00Z"],
            "2026-11-22T10:00:00Z",
            "--next-update / next_update: 09:00 UTC is not in the future; give a time still to come (14:30, +45m or an RFC 3339 time)",
        ),
        (
            &["--next-update", "30m", "--eta", "+0m"],
            "2026-11-22T10:00:00Z",
            "--eta / eta: `+0m` must be a positive duration such as 30m",
        ),
    ];
    for (extra, now, error) in cases {
        ws.cmd(&[&["post", "--yes"], base, extra].concat())
            .env("OUTAGE_NOW", now)
            .stderr(&format!("error: {error}\n"))
            .status(2)
            .run();
    }
    assert!(emulator.requests().is_empty());
    assert!(!ws.journal().exists() || ws.query("SELECT count(*) FROM updates") == ["0"]);

    // A maintenance that ends in the past is refused while it runs, accepted once completed.
    let maintenance = [
        "--status",
        "in-progress",
        "--title",
        "Database upgrade",
        "--message",
        "The upgrade is under way.",
        "--starts",
        "2026-11-22T09:00:00Z",
    ];
    ws.cmd(&[&["lint"], &maintenance[..], &["--ends", "2026-11-22T09:30:00Z"]].concat())
        .stderr("error: --ends / ends: 09:30 UTC is not in the future; give a time still to come (14:30, +45m or an RFC 3339 time)\n")
        .status(2)
        .run();
    ws.cmd(&[&["lint"], &maintenance[..], &["--ends", "+1h"]].concat())
        .stdout("0 errors, 0 warnings\n")
        .run();
    ws.cmd(&[&["lint"], &maintenance[..]].concat())
        .stdout("error[missing-next-update]: An in-progress update must say when the next one comes; add --next-update 30m (next_update in an update file)\n1 error, 0 warnings\n")
        .status(3)
        .run();
}

/// A correction whose message already says so is not marked twice.
#[test]
fn a_correction_that_says_so_is_not_marked_twice() {
    let emulator = Emulator::start();
    let ws = Workspace::new(&format!(
        r#"
        [organization]
        name = "Example Inc"
        [[channel]]
        name = "chat"
        kind = "webhook"
        format = "mattermost"
        url = "{}"
        "#,
        emulator.url("/mattermost/hooks/key")
    ));
    post_at(&ws, "2026-11-22T10:00:00Z", OPEN, 0);
    for (message, shown) in [
        (
            "Only SSO logins fail.",
            "**Investigating: Login failures**\n*Correction to our previous update:* Only SSO logins fail.",
        ),
        (
            "Correction: only SSO logins fail.",
            "**Investigating: Login failures**\nCorrection: only SSO logins fail.",
        ),
    ] {
        let report = json(
            &ws.cmd(&[
                "post",
                "--dry-run",
                "--json",
                "--incident",
                "latest",
                "--correction",
                "--status",
                "investigating",
                "--message",
                message,
                "--next-update",
                "30m",
            ])
            .any_stdout()
            .run(),
        );
        let text = report["deliveries"][0]["rendering"]["text"]
            .as_str()
            .unwrap();
        assert!(text.starts_with(shown), "{text}");
        assert_eq!(text.matches("orrection").count(), 1, "{text}");
    }
}

/// A full banner never refuses a post: it shows the most severe and most recent incidents that
/// fit, each whole, and says how many more are on the status page.
#[test]
fn a_full_banner_never_blocks_a_post() {
    let emulator = Emulator::start();
    let ws = Workspace::new(&format!(
        r#"
        [organization]
        name = "Example Inc"
        status_url = "https://status.example.com"
        [[channel]]
        name = "hook"
        kind = "webhook"
        url = "{}"
        [[channel]]
        name = "banner"
        kind = "banner"
        html_path = "banner.html"
        "#,
        emulator.url("/json/hook"),
    ));
    for n in 0..14 {
        let title =
            format!("Incident number {n} with a title long enough to fill the banner quickly");
        let impact = if n == 3 { "critical" } else { "minor" };
        let report = post_at(
            &ws,
            &format!("2026-11-22T10:{n:02}:00Z"),
            &[
                "--status",
                "investigating",
                "--title",
                &title,
                "--impact",
                impact,
                "--message",
                "Requests fail for some customers.",
                "--next-update",
                "30m",
            ],
            0,
        );
        assert_eq!(report["findings"], serde_json::json!([]), "update {n}");
    }
    assert_eq!(emulator.requests().len(), 14, "every post went out");
    let html = ws.read("banner.html");
    assert!(html.len() <= 2049, "{} bytes", html.len());
    let mut shown: Vec<(usize, usize)> = (0..14)
        .filter_map(|n| Some((html.find(&format!("Incident number {n} with"))?, n)))
        .collect();
    shown.sort();
    let shown: Vec<usize> = shown.into_iter().map(|(_, n)| n).collect();
    assert_eq!(shown[0], 3, "the critical incident comes first: {shown:?}");
    assert!(shown.len() >= 2 && shown.len() < 14, "{shown:?}");
    // The most recent of the rest come next.
    assert_eq!(shown[1], 13, "{shown:?}");
    assert!(
        html.contains(&format!("{} more on our status page.", 14 - shown.len())),
        "{html}"
    );
    for n in &shown {
        let item = html
            .split("<p ")
            .find(|item| item.contains(&format!("Incident number {n} with")))
            .unwrap();
        assert!(
            item.contains("Next update by"),
            "every shown item keeps its facts: {item}"
        );
    }
}

/// When the facts of an update do not fit one X post, it continues as a reply to itself, every
/// fact whole; the journal keeps every part, and the next update replies to the last one.
#[test]
fn facts_that_do_not_fit_one_x_post_continue_in_a_reply() {
    use crate::support::x::{CONSUMER_KEY, CONSUMER_SECRET, TOKEN, TOKEN_SECRET};
    let emulator = Emulator::start();
    let ws = Workspace::new(&format!(
        r#"
        [organization]
        name = "Example Inc"
        status_url = "https://status.example.com/incidents/2026-11-22-database-upgrade-and-more"
        [[channel]]
        name = "x"
        kind = "x"
        api_base = "{}"
        consumer_key_env = "X_KEY"
        consumer_secret_env = "X_SECRET"
        access_token_env = "X_TOKEN"
        access_token_secret_env = "X_TOKEN_SECRET"
        "#,
        emulator.base,
    ))
    .env("X_KEY", CONSUMER_KEY)
    .env("X_SECRET", CONSUMER_SECRET)
    .env("X_TOKEN", TOKEN)
    .env("X_TOKEN_SECRET", TOKEN_SECRET);
    let compensation = "Customers on the Business plan who cannot use the dashboard during the window get one day of service credit, applied to the next invoice.";
    let report = post_at(
        &ws,
        "2026-11-22T10:00:00Z",
        &[
            "--status",
            "scheduled",
            "--title",
            "Database upgrade for the primary cluster in the EU region",
            "--message",
            "We upgrade the primary database cluster to a new major version; the dashboard is read-only during the window.",
            "--components",
            "API,Dashboard,Reporting",
            "--impact",
            "major",
            "--starts",
            "2026-11-24T01:00:00Z",
            "--ends",
            "2026-11-24T03:00:00Z",
            "--compensation",
            compensation,
        ],
        0,
    );
    let delivery = &report["deliveries"][0];
    assert_eq!(delivery["outcome"], "delivered");
    let parts: Vec<String> = delivery["parts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|id| id.as_str().unwrap().to_owned())
        .collect();
    let posts = emulator.with(|inner| inner.x.posts.clone());
    assert_eq!(parts.len(), posts.len());
    assert!(posts.len() >= 2, "{posts:?}");
    assert_eq!(posts[0].reply_to, None);
    for (index, post) in posts.iter().enumerate() {
        assert_eq!(post.id, parts[index]);
        assert!(
            post.text
                .ends_with(&format!("({}/{})", index + 1, posts.len())),
            "{}",
            post.text
        );
        if index > 0 {
            assert_eq!(post.reply_to.as_deref(), Some(parts[index - 1].as_str()));
        }
    }
    for fact in [
        "Tue 24 Nov 01:00 UTC to Tue 24 Nov 03:00 UTC",
        compensation,
        "Affected: API, Dashboard, Reporting.",
        "Impact: major.",
        "https://status.example.com/incidents/2026-11-22-database-upgrade-and-more",
    ] {
        assert!(
            posts.iter().any(|post| post.text.contains(fact)),
            "{fact} was cut"
        );
    }
    assert_eq!(
        ws.query("SELECT remote_id, parts FROM deliveries"),
        [format!(
            "{}|{}",
            parts.last().unwrap(),
            serde_json::json!(parts)
        )]
    );
    post_at(
        &ws,
        "2026-11-22T11:00:00Z",
        &[
            "--incident",
            "latest",
            "--status",
            "scheduled",
            "--message",
            "The window stands; nothing else changes.",
            "--starts",
            "2026-11-24T01:00:00Z",
            "--ends",
            "2026-11-24T03:00:00Z",
        ],
        0,
    );
    let posts = emulator.with(|inner| inner.x.posts.clone());
    assert_eq!(
        posts.last().unwrap().reply_to.as_deref(),
        Some(parts.last().unwrap().as_str()),
        "the next update replies to the last part"
    );
}

/// A journal written by the first version (no schema version, no input digests) is upgraded in
/// place on first use and keeps working: its incident is followed up and threads continue.
#[test]
fn a_journal_from_the_first_version_is_upgraded_in_place() {
    let emulator = Emulator::start();
    let ws = workspace(&emulator);
    {
        let conn = rusqlite::Connection::open(ws.journal()).unwrap();
        conn.execute_batch(FIRST_VERSION).unwrap();
    }
    upgraded_by_migrate(&ws, 1);
    ws.cmd(&["status"])
        .stdout(
            "
            INCIDENT                   STATUS         AGE     LAST UPDATE  NEXT UPDATE DUE  TITLE
            2026-11-22-login-failures  investigating  0m ago  0m ago       10:30 UTC        Login failures
            ",
        )
        .run();
    let report = post_at(
        &ws,
        "2026-11-22T10:10:00Z",
        &[
            "--incident",
            "latest",
            "--status",
            "identified",
            "--message",
            "A bad certificate is the cause.",
            "--next-update",
            "30m",
        ],
        0,
    );
    assert_eq!(placed(&report), "2026-11-22-login-failures 2");
    let event = emulator.requests()[0].json();
    assert_eq!(event["data"]["update"]["previous_sequence"], 1);
    assert_eq!(ws.query("PRAGMA user_version"), ["4"]);
}

/// A journal of schema 2, whose updates have no digest of their words: upgraded once, an
/// update recorded before it is still found by its inputs (a rerun), and the same words with
/// other channels chosen after it go on as one update.
#[test]
fn a_journal_of_schema_2_is_upgraded_in_place() {
    let emulator = Emulator::start();
    let ws = hook_and_banner(&emulator, "");
    post_at(&ws, NOW, OPEN, 0);
    {
        let conn = rusqlite::Connection::open(ws.journal()).unwrap();
        conn.execute_batch(&format!(
            "{AS_SCHEMA_3} ALTER TABLE updates DROP COLUMN content; PRAGMA user_version = 2"
        ))
        .unwrap();
    }
    upgraded_by_migrate(&ws, 2);
    assert_eq!(ws.query("PRAGMA user_version"), ["4"]);
    assert_eq!(
        placed(&post_at(&ws, NOW, OPEN, 0)),
        "2026-11-22-login-failures 1 rerun"
    );
    let words = LIFE[1];
    post_at(&ws, NOW, &[words, &["--channels", "hook"]].concat(), 0);
    let again = post_at(&ws, NOW, words, 0);
    assert_eq!(placed(&again), "2026-11-22-login-failures 2");
    assert_eq!(again["also_sent_to"], serde_json::json!(["banner"]));
    assert_eq!(emulator.requests().len(), 2);
}

/// A dump written before schema 3 has no digest of each update's words: it is read back whole,
/// and the copy holds what the dump does.
#[test]
fn a_dump_from_schema_2_is_read_back() {
    let emulator = Emulator::start();
    let ws = hook_and_banner(&emulator, "");
    post_at(&ws, NOW, OPEN, 0);
    ws.cmd(&["journal", "copy", "--to", "new.json"])
        .any_stdout()
        .run();
    let mut dump: serde_json::Value = serde_json::from_str(&ws.read("new.json")).unwrap();
    for update in dump["updates"].as_array_mut().unwrap() {
        assert!(update["content"].is_string(), "{update}");
        update.as_object_mut().unwrap().remove("content");
    }
    ws.write("old.json", &dump.to_string());
    ws.cmd(&["journal", "copy", "--from", "old.json", "--to", "copy.db"])
        .stdout("copied 1 incident, 1 update and 2 deliveries from old.json to copy.db\n")
        .run();
    let copy = ws.file("copy.db").display().to_string();
    let history = |state: &str| {
        let output = ws
            .cmd(&["history", "--json"])
            .env("OUTAGE_STATE", state)
            .any_stdout()
            .run();
        json(&output)
    };
    assert_eq!(history(&copy), history(&ws.journal().display().to_string()));
}

/// Turns a journal of this version into what schema 3 was: each delivery holds its rendering
/// (no table of renderings; the text shown left empty, which reads as made from the payload),
/// version 3.
const AS_SCHEMA_3: &str = "
    UPDATE deliveries SET
        payload = (SELECT r.payload FROM renderings r WHERE r.id = deliveries.rendering)
    WHERE rendering IS NOT NULL;
    ALTER TABLE deliveries DROP COLUMN rendering;
    DROP TABLE renderings;
    PRAGMA user_version = 3;
";

/// A journal of schema 3, whose deliveries each hold their rendering: upgraded once, what it
/// recorded reads back as it did (`history`, and a copy), and what comes after is stored once
/// for the recipients who share it.
#[test]
fn a_journal_of_schema_3_keeps_its_deliveries_and_stores_new_renderings_once() {
    let emulator = Emulator::start();
    let ws = hook_and_banner(&emulator, "");
    post_at(&ws, NOW, OPEN, 0);
    let history = |ws: &Workspace, state: &str| {
        json(
            &ws.cmd(&["history", "--json"])
                .env("OUTAGE_STATE", state)
                .any_stdout()
                .run(),
        )
    };
    let journal = ws.journal().display().to_string();
    let before = history(&ws, &journal);
    {
        let conn = rusqlite::Connection::open(ws.journal()).unwrap();
        conn.execute_batch(AS_SCHEMA_3).unwrap();
    }
    upgraded_by_migrate(&ws, 3);
    assert_eq!(history(&ws, &journal), before);
    assert_eq!(
        ws.query("SELECT count(*) FROM deliveries WHERE rendering IS NULL AND payload <> ''"),
        ["2"],
        "the deliveries recorded before keep their own rendering"
    );
    post_at(&ws, NOW, LIFE[1], 0);
    assert_eq!(
        ws.query(
            "SELECT count(*), count(DISTINCT d.rendering) FROM deliveries d
             JOIN renderings r ON r.id = d.rendering WHERE d.payload = '' AND d.rendered = ''"
        ),
        ["2|2"],
        "the follow-up's two deliveries name their renderings"
    );
    let both = history(&ws, &journal);
    // A dump says each delivery's text as `history` shows it, stored apart or not.
    ws.cmd(&["journal", "copy", "--to", "dump.json"])
        .any_stdout()
        .run();
    let dump: serde_json::Value = serde_json::from_str(&ws.read("dump.json")).unwrap();
    let texts = |rows: Vec<&serde_json::Value>| {
        let mut texts: Vec<String> = rows
            .into_iter()
            .map(|row| row["rendered"].as_str().unwrap().to_owned())
            .collect();
        texts.sort();
        texts
    };
    let shown = both["updates"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|update| update["deliveries"].as_array().unwrap())
        .collect();
    assert_eq!(
        texts(dump["deliveries"].as_array().unwrap().iter().collect()),
        texts(shown)
    );
    ws.cmd(&["journal", "copy", "--to", "copy.db"])
        .any_stdout()
        .run();
    assert_eq!(
        history(&ws, &ws.file("copy.db").display().to_string()),
        both
    );
    assert_eq!(
        ws.query("SELECT count(*) FROM deliveries WHERE rendering IS NULL"),
        ["2"]
    );
}

/// A command that only reads asks for the journal of schema `from` to be upgraded, and
/// `journal migrate` upgrades it to this version's.
fn upgraded_by_migrate(ws: &Workspace, from: u32) {
    ws.cmd(&["status"])
        .stderr(&format!("error: the journal [DIR]/journal.db has the schema of an earlier version ({from}) and must be upgraded once: run `outage journal migrate` as a user who may write it\n"))
        .status(2)
        .run();
    ws.cmd(&["journal", "migrate"])
        .stdout("the journal at [DIR]/journal.db has schema 4 (this version's is 4)\n")
        .run();
}

/// The first version's schema, with one incident of one delivered update.
const FIRST_VERSION: &str = r#"
CREATE TABLE incidents (id TEXT PRIMARY KEY, kind TEXT NOT NULL, title TEXT NOT NULL, status TEXT NOT NULL, is_open INTEGER NOT NULL, last_sequence INTEGER NOT NULL, opened_at TEXT NOT NULL, updated_at TEXT NOT NULL);
CREATE INDEX incidents_open ON incidents (is_open, updated_at);
CREATE TABLE updates (id TEXT PRIMARY KEY, incident_id TEXT NOT NULL REFERENCES incidents (id), sequence INTEGER NOT NULL, status TEXT NOT NULL, facts TEXT NOT NULL, fingerprint TEXT NOT NULL, idempotency_key TEXT UNIQUE, allowed TEXT NOT NULL, created_at TEXT NOT NULL, UNIQUE (incident_id, sequence));
CREATE TABLE deliveries (id TEXT PRIMARY KEY, update_id TEXT NOT NULL REFERENCES updates (id), channel TEXT NOT NULL, kind TEXT NOT NULL, target TEXT NOT NULL, state TEXT NOT NULL, remote_id TEXT, url TEXT, attempts INTEGER NOT NULL DEFAULT 0, error TEXT, note TEXT, rendered TEXT NOT NULL, payload TEXT NOT NULL, created_at TEXT NOT NULL, finished_at TEXT, UNIQUE (update_id, channel, target));
CREATE INDEX updates_recent ON updates (created_at);
CREATE INDEX deliveries_pending ON deliveries (state) WHERE state = 'pending';
INSERT INTO incidents VALUES ('2026-11-22-login-failures', 'incident', 'Login failures', 'investigating', 1, 1, '2026-11-22T10:00:00Z', '2026-11-22T10:00:00Z');
INSERT INTO updates VALUES ('u1', '2026-11-22-login-failures', 1, 'investigating', '{"incident":"2026-11-22-login-failures","sequence":1,"kind":"incident","status":"investigating","title":"Login failures","message":"Some customers cannot log in.","components":[],"impact":null,"eta":null,"next_update":"2026-11-22T10:30:00Z","starts":null,"ends":null,"compensation":null,"internal_note":null,"correction":false,"posted_at":"2026-11-22T10:00:00Z"}', 'f', NULL, '{}', '2026-11-22T10:00:01.5Z');
INSERT INTO deliveries VALUES ('d1', 'u1', 'hook', 'webhook', '', 'delivered', NULL, NULL, 1, NULL, NULL, '{}', '{"text":"t","body":"{}"}', '2026-11-22T10:00:01Z', '2026-11-22T10:00:02Z');
"#;
