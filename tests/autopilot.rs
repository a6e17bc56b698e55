//! Maintenance on autopilot (issue 15): whole maintenances driven through `OUTAGE_NOW` and
//! `outage tick` against the webhook emulator — scheduled, two reminders, start, end; a late
//! tick; two ticks at once; a cancelled and a rescheduled window — each post asserted once.

use crate::support::emulator::Emulator;
use crate::support::{Cmd, MAINTENANCE, Workspace, hook_and_banner, json};

const ID: &str = "2026-11-22-database-upgrade";

/// `hook` takes every phase; `quiet` leaves reminders out; the banner follows the state.
fn workspace(emulator: &Emulator) -> Workspace {
    hook_and_banner(
        emulator,
        &format!(
            r#"
            [[channel]]
            name = "quiet"
            kind = "webhook"
            url = "{}"
            phases = ["scheduled", "in-progress", "completed", "cancelled"]
            "#,
            emulator.url("/json/quiet")
        ),
    )
}

/// Schedules [`MAINTENANCE`] at 10:00 on the 22nd.
fn schedule(ws: &Workspace, extra: &[&str]) -> std::process::Output {
    ws.cmd(&[&["post", "--yes", "-q"], MAINTENANCE, extra].concat())
        .env("OUTAGE_NOW", "2026-11-22T10:00:00Z")
        .any_stdout()
        .run()
}

const AUTOPILOT: &[&str] = &[
    "--remind",
    "24h,1h",
    "--auto",
    "--in-progress-message",
    "The upgrade has begun; the app is read-only until it ends.",
    "--completed-message",
    "The upgrade is done; the app is writable again.",
];

/// A follow-up of the maintenance by hand, at `now`.
fn by_hand(ws: &Workspace, now: &str, args: &[&str]) -> Cmd {
    ws.cmd(&[&["post", "--yes", "-q", "--incident", ID], args].concat())
        .env("OUTAGE_NOW", now)
}

fn tick(ws: &Workspace, now: &str) -> String {
    let output = ws
        .cmd(&["tick", "-q"])
        .env("OUTAGE_NOW", now)
        .any_stdout()
        .run();
    String::from_utf8(output.stdout).unwrap()
}

/// What each webhook received, as `status: message` (`status_label` where it says more).
fn received(emulator: &Emulator, path: &str) -> Vec<String> {
    emulator
        .requests_to(path)
        .iter()
        .map(|request| {
            let body = request.json();
            format!(
                "{}: {}",
                body["data"]["update"]["status_label"].as_str().unwrap(),
                body["data"]["update"]["message"].as_str().unwrap()
            )
        })
        .collect()
}

#[test]
fn a_whole_maintenance_runs_itself_each_phase_once() {
    let emulator = Emulator::start();
    let ws = workspace(&emulator);
    schedule(&ws, AUTOPILOT);
    let ticks = [
        ("2026-11-22T11:00:00Z", ""),
        (
            "2026-11-23T02:00:00Z",
            "2026-11-22-database-upgrade: update 2 (scheduled) posted (reminder 24 hours before): 2 delivered, 1 skipped\n",
        ),
        ("2026-11-23T02:01:00Z", ""),
        ("2026-11-23T12:00:00Z", ""),
        (
            "2026-11-24T01:00:20Z",
            "2026-11-22-database-upgrade: update 3 (scheduled) posted (reminder 1 hour before): 2 delivered, 1 skipped\n",
        ),
        ("2026-11-24T01:59:00Z", ""),
        (
            "2026-11-24T02:00:00Z",
            "2026-11-22-database-upgrade: update 4 (in-progress) posted (in-progress): 3 delivered\n",
        ),
        ("2026-11-24T02:30:00Z", ""),
        (
            "2026-11-24T03:00:40Z",
            "2026-11-22-database-upgrade: update 5 (completed) posted (completed): 3 delivered\n",
        ),
        ("2026-11-24T03:01:00Z", ""),
        ("2026-11-25T03:01:00Z", ""),
    ];
    for (now, said) in ticks {
        assert_eq!(tick(&ws, now), said, "the tick at {now}");
    }
    assert_eq!(
        received(&emulator, "/json/hook"),
        [
            "Scheduled maintenance: We will upgrade the database; the app will be read-only.",
            "Scheduled maintenance: Reminder: this maintenance is coming up.",
            "Scheduled maintenance: Reminder: this maintenance is coming up.",
            "Maintenance in progress: The upgrade has begun; the app is read-only until it ends.",
            "Maintenance completed: The upgrade is done; the app is writable again.",
        ]
    );
    // Reminders are off for `quiet`; the phases reach it.
    assert_eq!(
        received(&emulator, "/json/quiet"),
        [
            "Scheduled maintenance: We will upgrade the database; the app will be read-only.",
            "Maintenance in progress: The upgrade has begun; the app is read-only until it ends.",
            "Maintenance completed: The upgrade is done; the app is writable again.",
        ]
    );
    assert_eq!(
        ws.query("SELECT channel, note FROM deliveries WHERE state = 'skipped' ORDER BY rowid"),
        [
            "quiet|its phases leave out reminder",
            "quiet|its phases leave out reminder"
        ]
    );
    // Every reminder states the window, on every channel.
    let reminder = emulator.requests_to("/json/hook")[1].json();
    assert_eq!(reminder["data"]["update"]["starts"], "2026-11-24T02:00:00Z");
    assert_eq!(reminder["data"]["update"]["ends"], "2026-11-24T03:00:00Z");
    ws.cmd(&["tick"])
        .env("OUTAGE_NOW", "2026-11-25T03:01:00Z")
        .stdout("nothing due; no maintenance is on autopilot\n")
        .run();
}

#[test]
fn a_late_tick_moves_the_phase_but_skips_reminders_and_says_so() {
    let emulator = Emulator::start();
    let ws = workspace(&emulator);
    schedule(&ws, AUTOPILOT);
    // The first tick runs ten minutes after the start: no "coming up" once it has begun.
    ws.cmd(&["tick"])
        .env("OUTAGE_NOW", "2026-11-24T02:10:00Z")
        .stdout(
            "
            2026-11-22-database-upgrade: reminder 24 hours before, due Mon 23 Nov 02:00 UTC: skipped: the maintenance has started; a reminder now would mislead
            2026-11-22-database-upgrade: reminder 1 hour before, due 01:00 UTC: skipped: the maintenance has started; a reminder now would mislead
            tick: 2026-11-22-database-upgrade: in-progress, due 02:00 UTC
            2026-11-22-database-upgrade: update 2 (in-progress) posted (in-progress)

            CHANNEL  KIND     OUTCOME    ATTEMPTS  LINK OR ERROR
            hook     webhook  delivered  1
            quiet    webhook  delivered  1
            banner   banner   delivered  1         [DIR]/banner.html
            ",
        )
        .stderr_unordered(
            "
            hook: delivered (1 attempt)
            quiet: delivered (1 attempt)
            banner: delivered (1 attempt)
            ",
        )
        .run();

    // Another maintenance whose first tick comes after its end goes straight to completed.
    let emulator = Emulator::start();
    let ws = workspace(&emulator);
    schedule(&ws, &["--auto"]);
    let said = tick(&ws, "2026-11-24T05:00:00Z");
    assert_eq!(
        said,
        "2026-11-22-database-upgrade: in-progress, due 02:00 UTC: skipped: the window has already ended; it is completed instead\n2026-11-22-database-upgrade: update 2 (completed) posted (completed): 3 delivered\n"
    );
    let listed = json(
        &ws.cmd(&["tick", "--dry-run", "--json"])
            .env("OUTAGE_NOW", "2026-11-24T05:01:00Z")
            .any_stdout()
            .run(),
    );
    assert_eq!(listed["steps"], serde_json::json!([]));
    assert_eq!(
        received(&emulator, "/json/hook"),
        [
            "Scheduled maintenance: We will upgrade the database; the app will be read-only.",
            "Maintenance completed: The maintenance is complete.",
        ]
    );
}

#[test]
fn a_reminder_a_person_already_followed_is_not_posted_and_a_hand_move_is_not_repeated() {
    let emulator = Emulator::start();
    let ws = workspace(&emulator);
    schedule(&ws, AUTOPILOT);
    // The maintenance starts early, by hand.
    by_hand(
        &ws,
        "2026-11-24T01:30:00Z",
        &[
            "--status",
            "in-progress",
            "--message",
            "We started early.",
            "--ends",
            "2026-11-24T03:00:00Z",
        ],
    )
    .any_stdout()
    .run();
    assert_eq!(tick(&ws, "2026-11-24T02:00:00Z"), "");
    assert_eq!(
        tick(&ws, "2026-11-24T03:00:00Z"),
        "2026-11-22-database-upgrade: update 3 (completed) posted (completed): 3 delivered\n"
    );
    let statuses = crate::support::hook_statuses(&emulator);
    assert_eq!(statuses, ["scheduled", "in-progress", "completed"]);
}

#[test]
fn two_ticks_at_the_same_moment_post_each_step_once() {
    let emulator = Emulator::start();
    let ws = workspace(&emulator);
    schedule(&ws, AUTOPILOT);
    for now in [
        "2026-11-23T02:00:30Z",
        "2026-11-24T02:00:30Z",
        "2026-11-24T03:00:30Z",
    ] {
        let children: Vec<_> = (0..3)
            .map(|_| ws.cmd(&["tick", "-q"]).env("OUTAGE_NOW", now).spawn())
            .collect();
        let mut posted = 0;
        for child in children {
            let output = child.wait_with_output().unwrap();
            assert!(output.status.success(), "{output:?}");
            let stdout = String::from_utf8_lossy(&output.stdout);
            posted += stdout.matches(") posted (").count();
        }
        assert_eq!(posted, 1, "one tick posts the step at {now}");
    }
    assert_eq!(emulator.requests_to("/json/hook").len(), 4);
    assert_eq!(ws.query("SELECT count(*) FROM updates"), ["4"]);
}

#[test]
fn a_rescheduled_window_says_so_and_moves_the_reminders_and_a_cancelled_one_stops() {
    let emulator = Emulator::start();
    let ws = workspace(&emulator);
    schedule(&ws, AUTOPILOT);
    // A day later: the same plan, a new window.
    by_hand(
        &ws,
        "2026-11-22T12:00:00Z",
        &[
            "--status",
            "scheduled",
            "--message",
            "We moved the upgrade by a day.",
            "--starts",
            "2026-11-25T02:00:00Z",
            "--ends",
            "2026-11-25T03:00:00Z",
        ],
    )
    .stdout("2026-11-22-database-upgrade: update 2 (scheduled) posted: 3 delivered\n")
    .run();
    let moved = emulator.requests_to("/json/hook")[1].json();
    assert_eq!(
        moved["data"]["update"]["status_label"],
        "Maintenance rescheduled"
    );
    assert_eq!(moved["data"]["update"]["starts"], "2026-11-25T02:00:00Z");
    assert!(ws.read("banner.html").contains("Maintenance rescheduled"));
    // The old window's reminder time passes quietly; the new one's posts.
    assert_eq!(tick(&ws, "2026-11-23T02:00:00Z"), "");
    assert_eq!(
        tick(&ws, "2026-11-24T02:00:00Z"),
        "2026-11-22-database-upgrade: update 3 (scheduled) posted (reminder 24 hours before): 2 delivered, 1 skipped\n"
    );
    // Called off: a final state; nothing more goes out.
    by_hand(
        &ws,
        "2026-11-24T12:00:00Z",
        &[
            "--status",
            "cancelled",
            "--message",
            "We called the upgrade off; nothing changes for you.",
        ],
    )
    .stdout("2026-11-22-database-upgrade: update 4 (cancelled) posted: 3 delivered\n")
    .run();
    assert_eq!(tick(&ws, "2026-11-25T02:00:00Z"), "");
    ws.cmd(&["status"])
        .env("OUTAGE_NOW", "2026-11-25T02:00:00Z")
        .stdout("No open incidents or maintenance.\n")
        .run();
    assert_eq!(
        received(&emulator, "/json/hook").last().unwrap(),
        "Maintenance cancelled: We called the upgrade off; nothing changes for you."
    );
    // Once it has begun it can only complete.
    let emulator = Emulator::start();
    let ws = workspace(&emulator);
    schedule(&ws, AUTOPILOT);
    tick(&ws, "2026-11-24T02:00:00Z");
    ws.cmd(&["post", "--yes", "--incident", ID, "--status", "cancelled", "--message", "Off."])
        .env("OUTAGE_NOW", "2026-11-24T02:10:00Z")
        .stderr("error: maintenance 2026-11-22-database-upgrade is in progress; it cannot be cancelled any more, post `completed` when it ends\n")
        .status(2)
        .run();
}

/// A completion message that names an internal host.
const REFUSED_PHASE: &[&str] = &[
    "--auto",
    "--completed-message",
    "Done. The cause of the delay was db-7.internal.",
];

#[test]
fn every_phase_is_checked_when_scheduled_and_the_dry_run_shows_them() {
    let emulator = Emulator::start();
    let ws = workspace(&emulator);
    let output = ws
        .cmd(&[&["post", "--yes"], MAINTENANCE, REFUSED_PHASE].concat())
        .stderr(
            "
            completed (2026-11-24T03:00:00Z): error[internal-marker]: the message contains \"db-7.internal\", which looks internal; move it to --internal-note
            error: the wording policy rejected the update; nothing was sent
            ",
        )
        .status(3)
        .run();
    assert!(output.stdout.is_empty());
    assert!(emulator.requests().is_empty());
    assert!(!ws.journal().exists() || ws.query("SELECT count(*) FROM updates") == ["0"]);
    // `lint` checks the phases too, without secrets or a journal.
    ws.cmd(&[&["lint"], MAINTENANCE, REFUSED_PHASE].concat())
    .stdout(
        "
        error[internal-marker]: completed: the message contains \"db-7.internal\", which looks internal; move it to --internal-note
        1 error, 0 warnings
        ",
    )
    .status(3)
    .run();

    let output = ws
        .cmd(
            &[
                &["post", "--dry-run"],
                MAINTENANCE,
                &["--remind", "1h", "--auto"],
            ]
            .concat(),
        )
        .any_stdout()
        .run();
    let shown = String::from_utf8(output.stdout).unwrap();
    let headings: Vec<&str> = shown
        .lines()
        .filter(|line| line.starts_with("══"))
        .collect();
    assert_eq!(
        headings,
        [
            "══ then, Tue 24 Nov 01:00 UTC: reminder 1 hour before ══════════════════",
            "══ then, Tue 24 Nov 02:00 UTC: in-progress ═════════════════════════════",
            "══ then, Tue 24 Nov 03:00 UTC: completed ═══════════════════════════════",
        ]
    );
    assert!(shown.contains("Reminder: this maintenance is coming up."));
    assert!(shown.contains("The maintenance has started."));
    assert!(emulator.requests().is_empty());
}

#[test]
fn status_shows_the_next_step_and_check_catches_a_tick_that_is_not_running() {
    let emulator = Emulator::start();
    let ws = workspace(&emulator);
    schedule(&ws, AUTOPILOT);
    ws.cmd(&["status"])
        .env("OUTAGE_NOW", "2026-11-22T11:00:00Z")
        .stdout(
            "
            INCIDENT                     STATUS     AGE     LAST UPDATE  NEXT UPDATE DUE  NEXT AUTOMATIC STEP                               TITLE
            2026-11-22-database-upgrade  scheduled  1h ago  1h ago       -                reminder 24 hours before at Mon 23 Nov 02:00 UTC  Database upgrade
            ",
        )
        .run();
    tick(&ws, "2026-11-23T02:00:00Z");
    tick(&ws, "2026-11-24T01:00:00Z");
    // The start is not a person's to post: not overdue while the tick has 5 minutes.
    ws.cmd(&["status", "--check", "--json"])
        .env("OUTAGE_NOW", "2026-11-24T02:04:00Z")
        .any_stdout()
        .run();
    let output = ws
        .cmd(&["status", "--check"])
        .env("OUTAGE_NOW", "2026-11-24T02:06:00Z")
        .any_stdout()
        .status(4)
        .run();
    assert!(
        String::from_utf8_lossy(&output.stdout)
            .contains("OVERDUE: in-progress was due 02:00 UTC (is `outage tick` running?)")
    );
    tick(&ws, "2026-11-24T02:06:00Z");
    let status = json(
        &ws.cmd(&["status", "--check", "--json"])
            .env("OUTAGE_NOW", "2026-11-24T02:07:00Z")
            .any_stdout()
            .run(),
    );
    assert_eq!(status["open"][0]["next_step"]["phase"], "completed");
    assert_eq!(status["open"][0]["next_step"]["at"], "2026-11-24T03:00:00Z");
    assert_eq!(status["overdue"], false);
}

#[test]
fn autopilot_inputs_and_phases_are_checked() {
    let emulator = Emulator::start();
    let ws = workspace(&emulator);
    let base = [
        "post",
        "--yes",
        "--status",
        "scheduled",
        "--title",
        "Database upgrade",
        "--message",
        "We will upgrade the database.",
        "--starts",
        "2026-11-24T02:00:00Z",
    ];
    let cases: [(&[&str], &str); 4] = [
        (
            &["--auto"],
            "error: --auto moves the maintenance to completed at its end: give --ends\n",
        ),
        (
            &["--remind", "soon"],
            "error: --remind / remind: `soon` is not a time before the start such as 24h, 1h or 30m\n",
        ),
        (
            &["--reminder-message", "Soon."],
            "error: --reminder-message is the words of the reminders: add --remind 24h,1h\n",
        ),
        (
            &[
                "--ends",
                "2026-11-24T03:00:00Z",
                "--completed-message",
                "Done.",
            ],
            "error: --in-progress-message and --completed-message are posted by --auto; add --auto, or post those phases yourself\n",
        ),
    ];
    for (extra, error) in cases {
        ws.cmd(&[&base[..], extra].concat())
            .stderr(error)
            .status(2)
            .run();
    }
    ws.cmd(&[
        "post", "--yes", "--status", "investigating", "--title", "Slow", "--message",
        "Pages are slow.", "--next-update", "30m", "--remind", "1h",
    ])
    .stderr("error: --auto, --remind and the phase messages are given when a maintenance is scheduled (--status scheduled), not with `investigating`\n")
    .status(2)
    .run();
    assert!(emulator.requests().is_empty());

    let banner = Workspace::new(
        r#"
        [organization]
        name = "Example Inc"
        [[channel]]
        name = "banner"
        kind = "banner"
        html_path = "banner.html"
        phases = ["scheduled"]
        "#,
    );
    banner
        .cmd(&["status"])
        .stderr("error: [DIR]/channels.toml: channel #1 `banner`: `phases` does not apply to kind `banner`: a projection always shows the present state; remove it\n")
        .status(2)
        .run();
    let hook = Workspace::new(
        r#"
        [organization]
        name = "Example Inc"
        [[channel]]
        name = "hook"
        kind = "webhook"
        url = "https://hooks.example.com/x"
        phases = ["scheduled", "started"]
        "#,
    );
    hook.cmd(&["status"])
        .stderr("error: [DIR]/channels.toml: channel #1 `hook`: phases: unknown phase `started`; use scheduled, reminder, in-progress, completed or cancelled\n")
        .status(2)
        .run();
}

#[test]
fn a_tick_whose_delivery_fails_exits_1_and_retry_finishes_it() {
    let emulator = Emulator::start();
    let ws = workspace(&emulator);
    schedule(&ws, &["--auto"]);
    // Both attempts (max_attempts = 2) fail.
    let error = || crate::support::emulator::Fault::status(500, "");
    emulator.fail("/json/hook", vec![error(), error()]);
    ws.cmd(&["tick", "-q"])
        .env("OUTAGE_NOW", "2026-11-24T02:00:00Z")
        .stdout("2026-11-22-database-upgrade: update 2 (in-progress) posted (in-progress): 1 failed, 2 delivered\n")
        .stderr("hook: failed: the receiver answered 500 Internal Server Error: no details\n`outage retry 2026-11-22-database-upgrade` sends the 1 that failed again.\n")
        .status(1)
        .run();
    // The step went out (its key is journaled): the next tick does not post it again.
    assert_eq!(tick(&ws, "2026-11-24T02:01:00Z"), "");
    ws.cmd(&["retry", "latest", "-q"])
        .env("OUTAGE_NOW", "2026-11-24T02:02:00Z")
        .stdout("2026-11-22-database-upgrade: update 2 (in-progress) retried: 3 delivered\n")
        .run();
    assert_eq!(
        emulator.requests_to("/json/hook").len(),
        4,
        "scheduled, two failures, retry"
    );
}
