//! Nothing lost, nothing doubled, nothing leaked, under bad input and hostile servers (issue 10).
//! Each test reproduces an item of the issue as it was reported.

// Ctrl-C is a signal sent to the child through libc.
#![allow(unsafe_code)]

use std::os::unix::fs::PermissionsExt;
use std::time::{Duration, Instant};

use crate::support::emulator::{Emulator, Fault};
use crate::support::{LIFE, OPEN, Workspace, json};

fn workspace(emulator: &Emulator, extra: &str) -> Workspace {
    Workspace::new(&format!(
        r#"
        [organization]
        name = "Example Inc"
        status_url = "https://status.example.com"
        [dispatch]
        timeout = "5s"
        max_attempts = 2
        retry_base = "10ms"
        [[channel]]
        name = "hook"
        kind = "webhook"
        url = "{}"
        [[channel]]
        name = "banner"
        kind = "banner"
        html_path = "public/banner.html"
        json_path = "public/status.json"
        [[channel]]
        name = "feed"
        kind = "feed"
        path = "public/feed.atom"
        {extra}
        "#,
        emulator.url("/json/hook"),
    ))
}

/// The life's second update (a follow-up to the latest incident), previewed.
fn dry_run_follow_up() -> Vec<&'static str> {
    [&["post", "--dry-run"][..], LIFE[1]].concat()
}

fn post(ws: &Workspace, args: &[&str]) -> std::process::Output {
    ws.cmd(&[&["post", "--yes", "-q"], args].concat())
        .any_stdout()
        .any_stderr()
        .run()
}

/// Item 1: a channel that cannot render, let through with `--allow too-long`, is skipped with
/// the reason; it is never journaled as a delivery without a rendering, and the others go out.
#[test]
fn a_channel_that_cannot_render_is_skipped_and_the_others_go_out() {
    let emulator = Emulator::start();
    let ws = workspace(
        &emulator,
        "[[channel]]\nname = \"chat\"\nkind = \"webhook\"\nformat = \"discord\"\nurl = \"https://discord.example/x\"\ntemplate = \"long.md\"",
    );
    ws.write("long.md", "{{ status_label }}: {{ title }} {{ next_update }} {{ link }} {% for i in range(400) %}padding {% endfor %}");
    let report = json(
        &ws.cmd(
            &[
                &[
                    "post",
                    "--yes",
                    "--json",
                    "--allow",
                    "too-long=the chat template is being fixed",
                ],
                OPEN,
            ]
            .concat(),
        )
        .any_stdout()
        .run(),
    );
    let outcomes = crate::support::delivery_fields(&report, &["channel", "outcome"]);
    assert_eq!(
        outcomes,
        [
            "hook delivered",
            "banner delivered",
            "feed delivered",
            "chat skipped"
        ]
    );
    assert!(
        report["deliveries"][3]["note"]
            .as_str()
            .unwrap()
            .starts_with("not rendered: the rendering is "),
        "{report}"
    );
    assert_eq!(
        ws.query(
            "SELECT d.channel, d.state FROM deliveries d JOIN renderings r ON r.id = d.rendering
             WHERE r.payload = 'null'"
        ),
        ["chat|skipped"]
    );
    ws.cmd(&["status"])
        .stdout(
            "
            INCIDENT                   STATUS         AGE     LAST UPDATE  NEXT UPDATE DUE  TITLE
            2026-11-22-login-failures  investigating  0m ago  0m ago       10:30 UTC        Login failures
            ",
        )
        .run();
}

/// Item 1, the other half: a journal that holds a pending delivery without a rendering (the
/// previous version could record one) is finished by a plain `retry`, which renders it.
#[test]
fn a_delivery_recorded_without_a_rendering_is_finished_by_retry() {
    let emulator = Emulator::start();
    emulator.always("/json/hook", Fault::status(503, ""));
    let ws = workspace(&emulator, "");
    ws.cmd(&[&["post", "--yes", "-q"], OPEN].concat())
        .any_stdout()
        .any_stderr()
        .status(1)
        .run();
    // As the previous version left it: pending, never attempted, no rendering.
    let conn = rusqlite::Connection::open(ws.journal()).unwrap();
    conn.execute(
        "UPDATE deliveries SET state = 'pending', attempts = 0, payload = 'null', rendered = '',
             rendering = NULL WHERE channel = 'hook'",
        [],
    )
    .unwrap();
    drop(conn);
    emulator.with(|_| ());
    let emulator_ok = Emulator::start();
    ws.edit(
        "channels.toml",
        &emulator.url("/json/hook"),
        &emulator_ok.url("/json/hook"),
    );
    let report = json(&ws.cmd(&["retry", "latest", "--json"]).any_stdout().run());
    assert_eq!(report["deliveries"][0]["outcome"], "delivered");
    let event = emulator_ok.requests()[0].json();
    assert_eq!(event["data"]["update"]["sequence"], 1);
    assert!(
        event["data"]["text"]
            .as_str()
            .unwrap()
            .contains("Some customers cannot log in.")
    );
    assert_ne!(
        ws.query(
            "SELECT COALESCE(r.payload, d.payload) FROM deliveries d
             LEFT JOIN renderings r ON r.id = d.rendering WHERE d.channel = 'hook'"
        ),
        ["null"]
    );
}

/// Item 3: Ctrl-C while sending says which deliveries are now unknown and how to finish them,
/// and `status` shows the incident until they are.
#[test]
fn ctrl_c_while_sending_says_what_is_unknown_and_status_shows_it() {
    let emulator = Emulator::start();
    emulator.fail("/json/hook", vec![Fault::Delay(Duration::from_secs(30))]);
    let ws = workspace(&emulator, "");
    let child = ws.cmd(&[&["post", "--yes", "-q"], OPEN].concat()).spawn();
    let started = Instant::now();
    while emulator.requests().is_empty() {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "the request never arrived"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    // The banner and the feed are written meanwhile; under load that may take a moment.
    while ws
        .try_query("SELECT count(*) FROM deliveries WHERE state = 'delivered'")
        .is_none_or(|rows| rows != ["2"])
    {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "the banner and feed were never written"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    // SAFETY: the pid is our child's, which has not been waited for.
    assert_eq!(unsafe { libc::kill(child.id() as i32, libc::SIGINT) }, 0);
    let output = child.wait_with_output().unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(
        stderr,
        "interrupted: sending stopped. These may have gone out (unknown): hook. `outage retry 2026-11-22-login-failures` finishes them (it asks for --include-unknown before sending again what may have gone out).\nhook: unknown: interrupted while sending; it may have gone out\n"
    );
    assert_eq!(
        ws.query("SELECT channel, state FROM deliveries ORDER BY rowid"),
        ["hook|unknown", "banner|delivered", "feed|delivered"]
    );
    ws.cmd(&["status"])
        .stdout(
            "
            INCIDENT                   STATUS         AGE     LAST UPDATE  NEXT UPDATE DUE  NOT DELIVERED  TITLE
            2026-11-22-login-failures  investigating  0m ago  0m ago       10:30 UTC        1 unknown      Login failures

            `outage retry ID` finishes what did not go out; `outage history ID` shows it.
            ",
        )
        .run();
}

/// Item 4: a reader that closes the pipe (`| head`) is not an error, on every command.
#[test]
fn a_closed_pipe_is_not_an_error() {
    let emulator = Emulator::start();
    let ws = workspace(&emulator, "");
    post(&ws, OPEN);
    for args in [
        &["channels", "--json"][..],
        &["channels"][..],
        &["history", "latest", "--json"][..],
        &["history", "latest"][..],
        &["status", "--json"][..],
        &dry_run_follow_up()[..],
    ] {
        assert_eq!(
            ws.cmd(args).run_into_closed_pipe(),
            (Some(0), String::new()),
            "{args:?}"
        );
    }
}

/// Item 5: reading commands open the journal read-only, so a user who may read it but not
/// write it (a monitoring cron job) can run them; a post is refused saying why, and so is a dry
/// run (issue 16: it checks what the post would), naming the file or the folder.
#[test]
fn reading_commands_work_for_a_user_who_may_only_read_the_journal() {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("skipped: running commands as another user needs root");
        return;
    }
    let emulator = Emulator::start();
    let ws = workspace(&emulator, "");
    post(&ws, OPEN);
    // The owner lets a group read it; the reader is nobody.
    for path in [ws.path().to_owned(), ws.journal(), ws.file("channels.toml")] {
        let mode = if path.is_dir() { 0o755 } else { 0o644 };
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
    }
    let nobody = |args: &[&str]| ws.cmd(args).user(65534, 65534);
    nobody(&["status"])
        .stdout(
            "
            INCIDENT                   STATUS         AGE     LAST UPDATE  NEXT UPDATE DUE  TITLE
            2026-11-22-login-failures  investigating  0m ago  0m ago       10:30 UTC        Login failures
            ",
        )
        .run();
    nobody(&["status", "--check"])
        .env("OUTAGE_NOW", "2026-11-22T11:00:00Z")
        .any_stdout()
        .status(4)
        .run();
    nobody(&["history", "latest", "--json"]).any_stdout().run();
    // Writing is refused by the file system, not by a false alarm; and a dry run, which writes
    // nothing, says so before the post would.
    let follow_up = [
        "post",
        "--yes",
        "--incident",
        "latest",
        "--status",
        "identified",
        "--message",
        "Cause found.",
        "--next-update",
        "30m",
    ];
    nobody(&follow_up)
        .stderr("error: the journal [DIR]/journal.db or its folder cannot be written by this user; run it as a user who may write there, or pass --state FILE\n")
        .status(2)
        .run();
    let dry_run = |refused: &str| {
        nobody(&[&follow_up[..], &["--dry-run"]].concat())
            .any_stdout()
            .stderr(&format!("error: {refused} cannot be written by this user, and a post records there before it sends; run it as a user who may write there, or pass --state FILE\ndry run: a post would send nothing until this is fixed\n"))
            .status(2)
            .run();
    };
    dry_run("the journal [DIR]/journal.db");
    // Where the file may be written and its folder not, SQLite could not make its log there.
    std::fs::set_permissions(ws.journal(), std::fs::Permissions::from_mode(0o666)).unwrap();
    dry_run("the journal's folder [DIR]");
    std::fs::set_permissions(ws.journal(), std::fs::Permissions::from_mode(0o644)).unwrap();
}

/// Item 5: reading commands leave nothing beside the journal. SQLite makes `-wal` and `-shm`
/// files for any reader of a WAL journal, and a read-only connection left them after every
/// `status` until the next post removed them.
#[test]
fn reading_commands_leave_no_files_beside_the_journal() {
    let emulator = Emulator::start();
    let ws = workspace(&emulator, "");
    post(&ws, OPEN);
    let beside = || -> Vec<String> {
        let name = ws
            .journal()
            .file_name()
            .unwrap()
            .to_string_lossy()
            .into_owned();
        let mut found: Vec<String> = std::fs::read_dir(ws.path())
            .unwrap()
            .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|file| file.starts_with(&name) && *file != name && !file.ends_with(".locks"))
            .collect();
        found.sort();
        found
    };
    assert_eq!(beside(), Vec::<String>::new(), "after the post");
    for args in [
        &["status"][..],
        &["status", "--check"][..],
        &["incidents", "--json"][..],
        &["history", "latest"][..],
        &dry_run_follow_up()[..],
    ] {
        ws.cmd(args).any_stdout().run();
        assert_eq!(beside(), Vec::<String>::new(), "after {args:?}");
    }
}

/// A folder given for the journal (`--state ~/.local/state/outage`) is named as one, with the
/// file to give instead, by every command, before anything is sent or written.
#[test]
fn a_folder_given_for_the_journal_is_refused_with_a_file_to_name() {
    let emulator = Emulator::start();
    let ws = workspace(&emulator, "");
    let folder = ws.file("state");
    std::fs::create_dir(&folder).unwrap();
    let folder = folder.display().to_string();
    let said = format!(
        "error: the journal {folder} is a folder; name a file, such as {folder}/journal.db\n"
    );
    for args in [
        &["status"][..],
        &["history"][..],
        &[&["post", "--yes"], OPEN].concat()[..],
        &[&["post", "--dry-run"], OPEN].concat()[..],
    ] {
        ws.cmd(&[&["--state", &folder], args].concat())
            .stderr(&said.replace(&ws.path().display().to_string(), "[DIR]"))
            .status(2)
            .run();
    }
    assert!(emulator.requests().is_empty());
    assert_eq!(std::fs::read_dir(ws.file("state")).unwrap().count(), 0);
}

/// Item 5: a journal from a newer version, or an SQLite file that is not a journal, is refused
/// with a clear message and left exactly as it was.
#[test]
fn a_newer_journal_or_a_foreign_database_is_refused_untouched() {
    let emulator = Emulator::start();
    let ws = workspace(&emulator, "");
    post(&ws, OPEN);
    let conn = rusqlite::Connection::open(ws.journal()).unwrap();
    conn.pragma_update(None, "user_version", 99).unwrap();
    conn.pragma_update(None, "journal_mode", "DELETE").unwrap();
    drop(conn);
    let before = std::fs::read(ws.journal()).unwrap();
    for args in [
        &["status"][..],
        &[
            "post",
            "--yes",
            "--incident",
            "latest",
            "--status",
            "identified",
            "--message",
            "Cause found.",
            "--next-update",
            "30m",
        ][..],
    ] {
        ws.cmd(args)
            .stderr("error: the journal [DIR]/journal.db was written by a newer version of outage (schema 99; this one knows up to 4); upgrade outage\n")
            .status(2)
            .run();
    }
    assert_eq!(std::fs::read(ws.journal()).unwrap(), before);

    let foreign = ws.file("other.db");
    let conn = rusqlite::Connection::open(&foreign).unwrap();
    conn.execute_batch("CREATE TABLE accounts (id INTEGER PRIMARY KEY, name TEXT); INSERT INTO accounts VALUES (1, 'ann');").unwrap();
    drop(conn);
    let before = std::fs::read(&foreign).unwrap();
    let foreign_path = foreign.display().to_string();
    ws.cmd(&[&["post", "--yes", "--state", &foreign_path], OPEN].concat())
        .stderr("error: [DIR]/other.db is not an outage journal (it holds the tables accounts); it was left as it is: pass --state with another file\n")
        .status(2)
        .run();
    ws.write(
        "text.db",
        "not a database at all, just some text that is long enough to read\n",
    );
    let text_path = ws.file("text.db").display().to_string();
    ws.cmd(&["status", "--state", &text_path])
        .stderr("error: [DIR]/text.db is not an outage journal (not an SQLite file); it was left as it is: pass --state with another file\n")
        .status(2)
        .run();
    assert_eq!(std::fs::read(&foreign).unwrap(), before);
    assert_eq!(
        ws.read("text.db"),
        "not a database at all, just some text that is long enough to read\n"
    );
    assert!(emulator.requests().len() == 1);
}

/// Item 7: a server that echoes what it was sent (an Express 404 page) cannot leak a webhook
/// URL's token, a subscriber URL's token or a bearer token into the report or the journal.
#[test]
fn an_echoing_server_cannot_leak_a_secret() {
    let emulator = Emulator::start();
    let slack = "/slack/services/T0001/B0002/XyZsecretSlackToken42";
    let subscriber = "/json/subscriber?token=subscriber-token-55b1";
    emulator.always(slack, Fault::Echo(404));
    emulator.always("/json/subscriber", Fault::Echo(404));
    let ws = Workspace::new(
        r#"
        [organization]
        name = "Example Inc"
        [dispatch]
        max_attempts = 1
        [[channel]]
        name = "slack"
        kind = "webhook"
        format = "slack"
        url_env = "SLACK_URL"
        [[channel]]
        name = "subscribers"
        kind = "webhook"
        urls_file = "subscribers.txt"
        "#,
    )
    .env("SLACK_URL", &emulator.url(slack));
    ws.write(
        "subscribers.txt",
        &format!("{}\n", emulator.url(subscriber)),
    );
    let output = ws
        .cmd(&[&["post", "--yes", "--json"], OPEN].concat())
        .any_stdout()
        .status(1)
        .run();
    let report = json(&output);
    let error = report["deliveries"][0]["error"].as_str().unwrap();
    assert!(
        error.starts_with("Slack answered 404 Not Found: <pre>Cannot POST [redacted]?</pre>"),
        "{error}"
    );
    assert!(
        error.ends_with("; the webhook does not exist, check the url"),
        "{error}"
    );
    let error = report["deliveries"][1]["error"].as_str().unwrap();
    assert!(
        error.starts_with("the receiver answered 404 Not Found: <pre>Cannot POST [redacted]"),
        "{error}"
    );
    ws.assert_no_secrets(
        &[output],
        &["XyZsecretSlackToken42", "subscriber-token-55b1"],
    );
}

/// Item 8: public files are world-readable (and keep a mode given them); the journal, its
/// companions and its locks are its owner's only.
#[test]
fn public_files_are_world_readable_and_the_journal_owner_only() {
    let emulator = Emulator::start();
    let ws = workspace(&emulator, "");
    post(&ws, OPEN);
    let mode =
        |path: &std::path::Path| std::fs::metadata(path).unwrap().permissions().mode() & 0o777;
    for file in [
        "public/banner.html",
        "public/status.json",
        "public/feed.atom",
    ] {
        assert_eq!(mode(&ws.file(file)), 0o644, "{file}");
    }
    assert_eq!(mode(&ws.journal()), 0o600);
    let locks = ws.file("journal.db.locks");
    assert_eq!(mode(&locks), 0o700);
    for entry in std::fs::read_dir(&locks).unwrap() {
        assert_eq!(mode(&entry.unwrap().path()), 0o600);
    }
    for companion in ["journal.db-wal", "journal.db-shm"] {
        if ws.file(companion).exists() {
            assert_eq!(mode(&ws.file(companion)), 0o600, "{companion}");
        }
    }
    std::fs::set_permissions(
        ws.file("public/banner.html"),
        std::fs::Permissions::from_mode(0o640),
    )
    .unwrap();
    post(
        &ws,
        &[
            "--incident",
            "latest",
            "--status",
            "identified",
            "--message",
            "Cause found.",
            "--next-update",
            "30m",
        ],
    );
    assert_eq!(
        mode(&ws.file("public/banner.html")),
        0o640,
        "a chosen mode is kept"
    );
}

/// Item 9: control characters pasted into a message (terminal colours, NUL, form feed, a
/// right-to-left override) reach no file and no terminal; the feed stays valid XML.
#[test]
fn control_characters_reach_no_file_and_no_terminal() {
    let emulator = Emulator::start();
    let ws = workspace(&emulator, "");
    // A NUL cannot travel in an argument: it comes from a file, as pasted text does.
    ws.write(
        "message.txt",
        "\u{1b}[31mLogins fail\u{1b}[0m for\u{0} some\u{c} customers \u{202e}reversed\u{202c}.",
    );
    ws.write("update.toml", "title = \"Login\\u0007 failures\\u202E\"\n");
    let output = ws
        .cmd(&[
            "post",
            "--yes",
            "--from",
            "update.toml",
            "--status",
            "investigating",
            "--message-file",
            "message.txt",
            "--next-update",
            "30m",
        ])
        .any_stdout()
        .any_stderr()
        .run();
    let shown = String::from_utf8_lossy(&output.stdout);
    assert!(
        !shown.chars().any(|c| c != '\n' && c.is_control()),
        "{shown:?}"
    );
    let feed = ws.read("public/feed.atom");
    let parsed: atom_syndication::Feed = feed.parse().expect("the feed is valid XML");
    let content = parsed.entries()[0].content().unwrap().value().unwrap();
    assert!(
        content.contains("Logins fail for some customers reversed."),
        "{content}"
    );
    for file in [
        "public/feed.atom",
        "public/banner.html",
        "public/status.json",
    ] {
        let text = ws.read(file);
        assert!(
            !text
                .chars()
                .any(|c| (c != '\n' && c.is_control()) || ('\u{202a}'..='\u{202e}').contains(&c)),
            "{file}: {text:?}"
        );
    }
    let event = emulator.requests()[0].json();
    assert_eq!(event["data"]["incident"]["title"], "Login failures");
}

/// Item 10: escaping follows what the output is: a custom banner template named `.jinja`
/// escapes a message's markup like the built-in one.
#[test]
fn a_custom_banner_template_is_escaped_whatever_its_name() {
    let ws = Workspace::new(
        r#"
        [organization]
        name = "Example Inc"
        [[channel]]
        name = "banner"
        kind = "banner"
        html_path = "banner.html"
        template = "banner.html.j2"
        "#,
    );
    ws.write("banner.html.j2", "{% for item in items %}<p>{{ item.status_label }}: {{ item.title }} {{ item.message }} {{ item.next_update }}</p>{% endfor %}");
    post(
        &ws,
        &[
            "--status",
            "investigating",
            "--title",
            "Login <b>failures</b>",
            "--message",
            "See <script>alert(1)</script>.",
            "--next-update",
            "30m",
        ],
    );
    assert_eq!(
        ws.read("banner.html"),
        "<p>Investigating: Login &lt;b&gt;failures&lt;/b&gt; See &lt;script&gt;alert(1)&lt;/script&gt;. 10:30 UTC</p>\n"
    );
}

/// Item 11: an input without end is refused at its limit, by name, and nothing is recorded.
#[test]
fn endless_inputs_are_refused_at_their_limit() {
    let emulator = Emulator::start();
    let ws = workspace(&emulator, "");
    ws.cmd(&[
        "post",
        "--yes",
        "--status",
        "investigating",
        "--title",
        "Slow",
        "--message-file",
        "/dev/zero",
        "--next-update",
        "30m",
    ])
    .stderr("error: --message-file /dev/zero is longer than the limit of 16 KiB; shorten it\n")
    .status(2)
    .run();
    ws.cmd(&[
        "post",
        "--yes",
        "--status",
        "investigating",
        "--title",
        "Slow",
        "--message",
        "-",
        "--next-update",
        "30m",
    ])
    .endless_stdin()
    .stderr("error: the message on standard input is longer than the limit of 16 KiB; shorten it\n")
    .status(2)
    .run();
    ws.write(
        "update.toml",
        &format!("message = \"{}\"\n", "a".repeat(70_000)),
    );
    ws.cmd(&["post", "--yes", "--from", "update.toml"])
        .stderr(
            "error: the update file update.toml is longer than the limit of 64 KiB; shorten it\n",
        )
        .status(2)
        .run();
    assert!(emulator.requests().is_empty());
    assert!(!ws.journal().exists() || ws.query("SELECT count(*) FROM updates") == ["0"]);
}

/// Item 11: 256 subscribers answering with bodies that never end cost a bounded prefix each:
/// the process stays under 100 MB.
#[test]
fn servers_answering_without_end_cannot_grow_the_process() {
    let emulator = Emulator::start();
    let mut list = String::new();
    for n in 0..256 {
        let path = format!("/json/endless-{n}");
        emulator.always(&path, Fault::Endless);
        list.push_str(&format!("{}\n", emulator.url(&path)));
    }
    let ws = Workspace::new(
        r#"
        [organization]
        name = "Example Inc"
        [[channel]]
        name = "subscribers"
        kind = "webhook"
        urls_file = "subscribers.txt"
        "#,
    );
    ws.write("subscribers.txt", &list);
    let run = ws
        .cmd(&[&["post", "--yes", "-q"], OPEN].concat())
        .measure(true);
    assert_eq!(run.code, Some(0), "a 200 is a delivery, whatever follows");
    assert!(run.peak > 0, "the memory was sampled");
    assert!(
        run.peak < 100 * 1024 * 1024,
        "peak memory {} MB",
        run.peak / 1024 / 1024
    );
}
