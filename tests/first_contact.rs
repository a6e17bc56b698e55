//! The first five minutes of a new user (issue 16): `init`, completions and the man page,
//! colour, `incidents`, `history`'s facts, `-q`, a dry run that checks secrets, and the
//! confirmation that shows what goes out.

use crate::support::{LIFE, MAINTENANCE, OPEN, Workspace, json};

const EXAMPLE: &str = include_str!("../channels.example.toml");

const NEXT: &[&str] = &[
    "post",
    "--dry-run",
    "--status",
    "investigating",
    "--title",
    "Test",
    "--message",
    "We are testing our status updates.",
    "--next-update",
    "30m",
];

/// A workspace with no configuration at all, as a new user has.
fn empty() -> Workspace {
    let ws = Workspace::new("");
    std::fs::remove_file(ws.file("channels.toml")).unwrap();
    ws
}

#[test]
fn init_writes_the_example_refuses_to_overwrite_and_its_next_command_works() {
    let ws = empty();
    ws.cmd(&["init"])
        .env_remove("OUTAGE_CONFIG")
        .stdout(
            r#"
            wrote channels.toml: the website banner, the Atom feed and the status site are on (they write under public/); every remote channel is off until you enable it.
            next: see what each channel would say, without sending anything:
              outage post --dry-run --status investigating --title "Test" --message "We are testing our status updates." --next-update 30m
            "#,
        )
        .run();
    assert_eq!(ws.read("channels.toml"), EXAMPLE);

    // The printed next command passes with what init wrote.
    ws.cmd(NEXT).env_remove("OUTAGE_CONFIG").any_stdout().run();

    // Enabling a channel: `channels` names the ones a post would stop at.
    let enabled = EXAMPLE
        .replacen("enabled = false", "enabled = true", 1)
        .replace(
            "name = \"x\"\nkind = \"x\"\nenabled = false",
            "name = \"x\"\nkind = \"x\"\nenabled = true",
        );
    assert_ne!(enabled, EXAMPLE);
    std::fs::write(ws.file("channels.toml"), &enabled).unwrap();
    let mut channels = ws.cmd(&["channels"]).env_remove("OUTAGE_CONFIG");
    for secret in [
        "STATUS_HOOK_SECRET",
        "X_API_KEY",
        "X_API_SECRET",
        "X_ACCESS_TOKEN",
        "X_ACCESS_TOKEN_SECRET",
    ] {
        channels = channels.env_remove(secret);
    }
    // The table names what to export, and the secrets come last: X's four widen its row only.
    channels
        .stdout(
            "
            NAME             KIND      AUDIENCE  ENABLED  SECRETS
            banner           banner    public    yes      present
            feed             feed      public    yes      present
            site             site      public    yes      present
            status-hook      webhook   public    yes      missing: STATUS_HOOK_SECRET
            slack-support    webhook   internal  no       missing: SLACK_WEBHOOK_URL
            discord          webhook   public    no       missing: DISCORD_WEBHOOK_URL
            teams            webhook   internal  no       missing: TEAMS_WORKFLOW_URL
            mattermost       webhook   public    no       missing: MATTERMOST_WEBHOOK_URL
            x                x         public    yes      missing: X_API_KEY, X_API_SECRET, X_ACCESS_TOKEN, X_ACCESS_TOKEN_SECRET
            facebook         facebook  public    no       missing: FB_PAGE_TOKEN, FB_APP_SECRET
            mastodon         mastodon  public    no       missing: MASTODON_ACCESS_TOKEN
            bluesky          bluesky   public    no       missing: BLUESKY_APP_PASSWORD
            phone            phone     public    no       present
            email-customers  email     public    no       missing: SMTP_USERNAME, SMTP_PASSWORD, UNSUBSCRIBE_KEY
            email-support    email     internal  no       missing: SMTP_USERNAME, SMTP_PASSWORD
            ",
        )
        .stderr("error: enabled without a secret it needs: status-hook, x; a post sends nothing until each is set (SECRETS above) or the channel has enabled = false\n")
        .status(2)
        .run();
    // A secret read from a file is named by its path; --json keeps the key that names it.
    std::fs::write(
        ws.file("channels.toml"),
        enabled.replace(
            "secret_env = \"STATUS_HOOK_SECRET\"",
            "secret_file = \"hook.secret\"",
        ),
    )
    .unwrap();
    let table = ws
        .cmd(&["channels"])
        .env_remove("OUTAGE_CONFIG")
        .any_stdout()
        .status(2)
        .any_stderr()
        .run();
    let table = String::from_utf8_lossy(&table.stdout).into_owned();
    let row = table.lines().find(|line| line.starts_with("status-hook"));
    assert_eq!(
        row,
        Some("status-hook      webhook   public    yes      missing: hook.secret")
    );
    let listed = json(
        &ws.cmd(&["channels", "--json"])
            .env_remove("OUTAGE_CONFIG")
            .any_stdout()
            .status(2)
            .any_stderr()
            .run(),
    );
    assert_eq!(
        listed[3]["missing_secrets"],
        serde_json::json!(["secret_file hook.secret"])
    );

    // A second init, or one over a file of the user's, changes nothing.
    std::fs::write(ws.file("channels.toml"), "# mine\n").unwrap();
    ws.cmd(&["init"])
        .env_remove("OUTAGE_CONFIG")
        .stderr("error: channels.toml already exists; init never overwrites a configuration (remove it first, or pass --config OTHER.toml)\n")
        .status(2)
        .run();
    assert_eq!(ws.read("channels.toml"), "# mine\n");
}

#[test]
fn a_config_in_the_user_folder_keeps_its_files_in_the_user_state_folder() {
    let ws = empty();
    let user = ws.file(".config/outage/channels.toml");
    ws.cmd(&["init", "--config", user.to_str().unwrap()])
        .env_remove("OUTAGE_CONFIG")
        .stdout(
            r#"
            wrote [DIR]/.config/outage/channels.toml: the website banner, the Atom feed and the status site are on (they write under [DIR]/.local/state/outage/public/); every remote channel is off until you enable it.
            next: see what each channel would say, without sending anything:
              outage post --dry-run --status investigating --title "Test" --message "We are testing our status updates." --next-update 30m
            "#,
        )
        .run();
    // Found without --config, and the banner lands in the state folder, as the report says.
    let mut post: Vec<&str> = vec!["post"];
    post.extend_from_slice(OPEN);
    post.extend_from_slice(&["--yes", "--channels", "banner", "-q"]);
    ws.cmd(&post)
        .env_remove("OUTAGE_CONFIG")
        .env_remove("OUTAGE_STATE")
        .stdout("opened new incident 2026-11-22-login-failures: update 1 (investigating) posted: 1 delivered\n")
        .run();
    assert!(
        ws.read(".local/state/outage/public/status-banner.html")
            .contains("Login failures")
    );
    assert!(!ws.file(".config/outage/public").exists());
    assert!(ws.file(".local/state/outage/outage-state.db").exists());
}

#[test]
fn init_at_another_path_says_to_pass_it() {
    let ws = empty();
    ws.cmd(&["--config", "ops/status channels.toml", "init"])
        .env_remove("OUTAGE_CONFIG")
        .stdout(
            r#"
            wrote ops/status channels.toml: the website banner, the Atom feed and the status site are on (they write under ops/public/); every remote channel is off until you enable it.
            next: see what each channel would say, without sending anything:
              outage post --config 'ops/status channels.toml' --dry-run --status investigating --title "Test" --message "We are testing our status updates." --next-update 30m
            "#,
        )
        .run();
    let mut next = vec!["--config", "ops/status channels.toml"];
    next.extend_from_slice(NEXT);
    ws.cmd(&next).env_remove("OUTAGE_CONFIG").any_stdout().run();
}

#[test]
fn without_a_config_the_error_points_to_init() {
    let ws = empty();
    ws.cmd(&["status"])
        .env_remove("OUTAGE_CONFIG")
        .stderr("error: no configuration found: `outage init` writes one to start from (or pass --config FILE, or set OUTAGE_CONFIG)\n")
        .status(2)
        .run();
}

#[test]
fn completions_and_the_man_page_cover_every_command() {
    let ws = empty();
    let commands = [
        "post",
        "lint",
        "status",
        "incidents",
        "history",
        "retry",
        "tick",
        "channels",
        "journal",
        "site",
        "init",
        "completions",
        "man",
    ];
    for shell in ["bash", "zsh", "fish", "powershell", "elvish"] {
        let output = ws.cmd(&["completions", shell]).any_stdout().run();
        let script = String::from_utf8(output.stdout).unwrap();
        let words = words(&script);
        for command in commands {
            assert!(words.contains(command), "{shell} lacks {command}");
        }
        assert!(script.contains("dry-run"), "{shell} lacks post's flags");
    }
    // The bash script is valid bash, where bash is installed.
    let bash = ws.cmd(&["completions", "bash"]).any_stdout().run();
    if let Ok(mut child) = std::process::Command::new("bash")
        .arg("-n")
        .stdin(std::process::Stdio::piped())
        .spawn()
    {
        use std::io::Write;
        child.stdin.take().unwrap().write_all(&bash.stdout).unwrap();
        assert!(
            child.wait().unwrap().success(),
            "bash -n refused the script"
        );
    }
    let man = ws.cmd(&["man"]).any_stdout().run();
    let man = String::from_utf8(man.stdout).unwrap();
    assert!(man.starts_with(".ie") || man.starts_with(".TH"), "{man}");
    assert!(man.contains(".TH outage 1"));
    for command in commands {
        assert!(
            man.contains(&format!("outage\\-{command}(1)")),
            "the man page lacks {command}"
        );
    }
    ws.cmd(&["completions", "tcsh"])
        .any_stderr()
        .status(2)
        .run();
}

/// `man outage` lists `outage-post(1)` and the others: `--out` writes each page any page lists,
/// and nothing else (`--dir`, its first name, too); `man post` prints the page `--out` wrote.
#[test]
fn man_writes_every_page_the_pages_list_and_prints_any_one() {
    let ws = empty();
    let dir = ws.file("share/man/man1");
    let output = ws
        .cmd(&["man", "--out", dir.to_str().unwrap()])
        .any_stdout()
        .run();
    let report = String::from_utf8(output.stdout).unwrap();
    let written: std::collections::BTreeSet<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().into_string().unwrap())
        .collect();
    let page = |file: &str| std::fs::read_to_string(dir.join(file)).unwrap();
    // outage(1) is the page nobody lists; every other is listed by its parent.
    let mut listed = std::collections::BTreeSet::from(["outage.1".to_owned()]);
    for file in &written {
        let text = page(file);
        let name = file.trim_end_matches(".1");
        assert!(text.contains(&format!(".TH {name} 1 ")), "{file}");
        let footer = format!("\"outage {}\"", env!("CARGO_PKG_VERSION"));
        assert!(text.contains(&footer), "{file} lacks {footer}");
        listed.extend(
            text.split_whitespace()
                .filter(|word| word.starts_with("outage") && word.ends_with("(1)"))
                .map(|word| format!("{}.1", word.trim_end_matches("(1)").replace("\\-", "-"))),
        );
    }
    assert_eq!(listed, written, "pages listed and pages written");
    assert!(written.contains("outage-journal-migrate.1"), "{written:?}");
    assert!(
        report.starts_with(&format!(
            "wrote {} man pages into {}: outage.1, outage-post.1, ",
            written.len(),
            dir.display()
        )),
        "{report}"
    );
    for (args, file) in [
        (&["man", "post"][..], "outage-post.1"),
        (
            &["man", "journal", "migrate"][..],
            "outage-journal-migrate.1",
        ),
        (&["man"][..], "outage.1"),
    ] {
        let printed = ws.cmd(args).any_stdout().run();
        assert_eq!(
            String::from_utf8(printed.stdout).unwrap(),
            page(file),
            "{args:?}"
        );
    }
    assert!(page("outage-post.1").contains("\\-\\-dry\\-run"));
    // Its first name writes the same pages.
    let again = ws.file("man-dir");
    ws.cmd(&["man", "--dir", again.to_str().unwrap()])
        .any_stdout()
        .run();
    for file in &written {
        assert_eq!(
            std::fs::read_to_string(again.join(file)).unwrap(),
            page(file)
        );
    }
    // Each page is clean roff where groff is installed.
    for file in &written {
        if let Ok(checked) = std::process::Command::new("groff")
            .args(["-man", "-Tutf8", "-ww", "-z"])
            .arg(dir.join(file))
            .output()
        {
            assert!(checked.status.success(), "{file}");
            assert_eq!(String::from_utf8_lossy(&checked.stderr), "", "{file}");
        }
    }
    ws.cmd(&["man", "journal", "nosuch"])
        .stderr("error: `outage journal` has no command `nosuch`; its commands are migrate, copy\n")
        .status(2)
        .run();
    ws.cmd(&["man", "journal", "copy", "extra"])
        .stderr("error: `outage journal copy` has no commands under it; `outage man journal copy` prints its page\n")
        .status(2)
        .run();
}

/// The words of a script or page: what a command name must be, not part of a longer word
/// (`man` is in `command`).
fn words(text: &str) -> std::collections::HashSet<&str> {
    text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '-'))
        .collect()
}

/// The post of the example, sent to the banner only.
fn banner_post(ws: &Workspace, extra: &[&str]) -> std::process::Output {
    let mut args: Vec<&str> = vec!["post"];
    args.extend_from_slice(OPEN);
    args.extend_from_slice(&["--yes", "--channels", "banner"]);
    args.extend_from_slice(extra);
    ws.cmd(&args).any_stdout().any_stderr().run()
}

#[test]
fn colour_follows_the_flag_then_no_color_then_clicolor_force_and_never_reaches_a_pipe() {
    const ESC: u8 = 0x1b;
    let has = |output: &std::process::Output| {
        output.stdout.contains(&ESC) || output.stderr.contains(&ESC)
    };
    type Case<'a> = (&'a [&'a str], &'a [(&'a str, &'a str)], bool);
    let cases: [Case; 7] = [
        (&[], &[], false),
        (&["--color", "always"], &[], true),
        (&["--color", "always"], &[("NO_COLOR", "1")], true),
        (&[], &[("CLICOLOR_FORCE", "1")], true),
        (&[], &[("CLICOLOR_FORCE", "1"), ("NO_COLOR", "1")], false),
        (&["--color", "never"], &[("CLICOLOR_FORCE", "1")], false),
        (&[], &[("CLICOLOR_FORCE", "0")], false),
    ];
    for (flags, env, coloured) in cases {
        let mut ws = Workspace::new(EXAMPLE);
        for (key, value) in env {
            ws = ws.env(key, value);
        }
        let output = banner_post(&ws, flags);
        assert_eq!(has(&output), coloured, "{flags:?} {env:?}");
        if coloured {
            let stdout = String::from_utf8_lossy(&output.stdout);
            assert!(stdout.contains("\x1b[32mdelivered\x1b[0m"), "{stdout}");
        }
        // JSON is for scripts: never coloured.
        let json_out = banner_post(&Workspace::new(EXAMPLE), &[&["--json"], flags].concat());
        assert!(!json_out.stdout.contains(&ESC));
    }
    // An error's lead is coloured.
    Workspace::new(EXAMPLE)
        .cmd(&["--color", "always", "incidents", "--since", "soon"])
        .stderr("\x1b[1;31merror:\x1b[0m --since: `soon` is not a duration such as 7d, 24h or 2w, nor an RFC 3339 time\n")
        .status(2)
        .run();
}

#[test]
fn incidents_lists_open_and_closed_newest_first_with_filters() {
    let ws = Workspace::new(EXAMPLE);
    // An incident resolved a day ago, a maintenance scheduled an hour ago, an incident open now.
    let at = |when: &str, args: &[&str]| {
        let mut all = vec!["post"];
        all.extend_from_slice(args);
        all.extend_from_slice(&["--yes", "--channels", "banner", "-q"]);
        ws.cmd(&all).env("OUTAGE_NOW", when).any_stdout().run();
    };
    at("2026-11-21T09:00:00Z", LIFE[0]);
    at("2026-11-21T09:30:00Z", LIFE[3]);
    at("2026-11-22T09:00:00Z", MAINTENANCE);
    at(
        "2026-11-22T10:00:00Z",
        &[
            "--status",
            "investigating",
            "--title",
            "Slow pages",
            "--message",
            "Pages load slowly for some customers.",
            "--next-update",
            "30m",
        ],
    );
    ws.cmd(&["incidents"])
        .stdout(
            "
            INCIDENT                     KIND         STATUS         STATE   AGE      UPDATES  TITLE
            2026-11-22-slow-pages        incident     investigating  open    0m ago   1        Slow pages
            2026-11-22-database-upgrade  maintenance  scheduled      open    1h ago   1        Database upgrade
            2026-11-21-login-failures    incident     resolved       closed  25h ago  2        Login failures
            ",
        )
        .run();
    ws.cmd(&["incidents", "--open", "--since", "30m"])
        .stdout(
            "
            INCIDENT               KIND      STATUS         STATE  AGE     UPDATES  TITLE
            2026-11-22-slow-pages  incident  investigating  open   0m ago  1        Slow pages
            ",
        )
        .run();
    let listed = json(
        &ws.cmd(&["incidents", "--since", "2d", "--json"])
            .any_stdout()
            .run(),
    );
    let ids: Vec<&str> = listed["incidents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|row| row["incident"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        [
            "2026-11-22-slow-pages",
            "2026-11-22-database-upgrade",
            "2026-11-21-login-failures"
        ]
    );
    assert_eq!(listed["incidents"][2]["open"], false);
    assert_eq!(listed["incidents"][2]["updates"], 2);
    ws.cmd(&["incidents", "--since", "soon"])
        .stderr("error: --since: `soon` is not a duration such as 7d, 24h or 2w, nor an RFC 3339 time\n")
        .status(2)
        .run();
    Workspace::new(EXAMPLE)
        .cmd(&["incidents"])
        .stdout("No incidents yet.\n")
        .run();
}

#[test]
fn history_shows_the_facts_beside_the_message() {
    let ws = Workspace::new(EXAMPLE);
    banner_post(&ws, &[]);
    ws.cmd(&[
        "post",
        "--incident",
        "latest",
        "--status",
        "identified",
        "--message",
        "A faulty certificate is the cause; we are replacing it.",
        "--eta",
        "+45m",
        "--next-update",
        "30m",
        "--components",
        "Web app",
        "--impact",
        "major",
        "--yes",
        "--channels",
        "banner",
        "-q",
    ])
    .any_stdout()
    .run();
    let output = ws.cmd(&["history", "latest"]).any_stdout().run();
    let text = String::from_utf8(output.stdout).unwrap();
    // Without an incident, the latest one.
    let bare = ws.cmd(&["history"]).any_stdout().run();
    assert_eq!(String::from_utf8(bare.stdout).unwrap(), text);
    let second = &text[text.find("#2 identified").unwrap()..];
    assert!(
        second.starts_with(
            "#2 identified at 2026-11-22T10:00:00Z\n  A faulty certificate is the cause; we are replacing it.\n  eta: Sun 22 Nov 10:45 UTC\n  next update: Sun 22 Nov 10:30 UTC\n  components: Web app\n  impact: major\n  CHANNEL"
        ),
        "{second}"
    );
}

#[test]
fn quiet_prints_one_line_and_still_the_errors() {
    let ws = Workspace::new(EXAMPLE);
    let mut args = vec!["post"];
    args.extend_from_slice(OPEN);
    args.extend_from_slice(&["--yes", "-q"]);
    // A quiet dry run: the line, not the renderings and the table.
    ws.cmd(&[&args[..], &["--dry-run"]].concat())
        .stdout("2026-11-22-login-failures: update 1 (investigating) would be posted, opening the incident: 3 planned, 12 skipped; dry run, nothing was sent\n")
        .run();
    let mut apology = args.clone();
    let message = apology.iter().position(|arg| *arg == "--message").unwrap() + 1;
    apology[message] = "Some customers cannot log in. We apologize for any inconvenience.";
    apology.retain(|arg| *arg != "--next-update" && *arg != "30m");
    ws.cmd(&[&apology[..], &["--dry-run"]].concat())
        .stderr_unordered("error[missing-next-update]: An investigating update must say when the next one comes; add --next-update 30m (next_update in an update file)\nwarning[stock-apology]: the message uses the stock phrase \"apologize for any inconvenience\"; say plainly what happened and what customers can do\nerror: the wording policy rejected the update; nothing was sent\n")
        .status(3)
        .run();
    ws.cmd(&args)
        .stdout("opened new incident 2026-11-22-login-failures: update 1 (investigating) posted: 3 delivered, 12 skipped\n")
        .run();
    ws.cmd(&args)
        .stdout("2026-11-22-login-failures: update 1 (investigating) already posted; nothing was sent again: 3 delivered, 12 skipped\n")
        .run();
    ws.cmd(&["post", "-q", "--yes"])
        .stderr("error: the update needs --status (investigating, identified, monitoring, resolved; for maintenance scheduled, in-progress, completed, cancelled), --message TEXT (or --message-file FILE, or --message - for standard input), --title (a new incident needs one; or --incident ID to follow one up)\n")
        .status(2)
        .run();
}

#[test]
fn a_dry_run_fails_where_the_post_would_for_a_missing_secret_and_never_shows_one() {
    let config = EXAMPLE.replacen(
        "[[channel]]\nname = \"status-hook\"\nkind = \"webhook\"\nenabled = false",
        "[[channel]]\nname = \"status-hook\"\nkind = \"webhook\"\nenabled = true",
        1,
    );
    assert_ne!(config, EXAMPLE, "the example's status-hook section moved");
    let ws = Workspace::new(&config);
    let mut dry = vec!["post"];
    dry.extend_from_slice(OPEN);
    let mut post = dry.clone();
    dry.push("--dry-run");
    post.push("--yes");
    let missing = "error: channel `status-hook`: secret_env names STATUS_HOOK_SECRET, which is not set; export STATUS_HOOK_SECRET, or set enabled = false for this channel\n";
    ws.cmd(&dry)
        .any_stdout()
        .stderr(&format!(
            "{missing}dry run: a post would send nothing until this is fixed\n"
        ))
        .status(2)
        .run();
    ws.cmd(&post)
        .stderr(&format!("{missing}nothing was sent\n"))
        .status(2)
        .run();
    // `lint` checks the words only, for runs without secrets.
    let mut lint = vec!["lint"];
    lint.extend_from_slice(OPEN);
    ws.cmd(&lint).any_stdout().run();
    // With the secret, the dry run passes and never prints it.
    let ws = ws.env(
        "STATUS_HOOK_SECRET",
        "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
    );
    ws.cmd(&dry).any_stdout().run();
}

proptest::proptest! {
    #![proptest_config(crate::support::cases(32))]

    /// Whatever a webhook's secrets hold, a dry run refuses exactly what the post refuses
    /// before sending, in the same words and never showing a value (a URL secret that holds no
    /// URL, a signing secret that does not decode); what the dry run passes, the post delivers.
    #[test]
    fn a_dry_run_refuses_exactly_the_secret_values_a_post_refuses(
        url in proptest::option::of("\\PC{1,30}"),
        secret in proptest::prop_oneof![
            proptest::strategy::Just("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".to_owned()),
            "whsec_[A-Za-z0-9+/=_-]{0,24}",
            "\\PC{1,30}",
        ],
    ) {
        let emulator = crate::support::emulator::Emulator::start();
        let ws = Workspace::new(
            r#"
            [organization]
            name = "Example Inc"
            status_url = "https://status.example.com"
            [dispatch]
            max_attempts = 1
            [[channel]]
            name = "hook"
            kind = "webhook"
            url_env = "HOOK_URL"
            secret_env = "HOOK_SECRET"
            "#,
        )
        // No URL generated: the emulator's.
        .env("HOOK_URL", &url.unwrap_or_else(|| emulator.url("/json/hook")))
        .env("HOOK_SECRET", &secret);
        let args = [&["post", "--yes"], OPEN].concat();
        let dry = ws.cmd(&[&args[..], &["--dry-run"]].concat()).any_stdout().any_stderr().any_status().run();
        let post = ws.cmd(&args).any_stdout().any_stderr().any_status().run();
        let (dry_err, post_err) = (
            String::from_utf8_lossy(&dry.stderr).into_owned(),
            String::from_utf8_lossy(&post.stderr).into_owned(),
        );
        match dry.status.code() {
            Some(2) => {
                proptest::prop_assert_eq!(post.status.code(), Some(2), "{}", post_err);
                let why = dry_err
                    .strip_suffix("dry run: a post would send nothing until this is fixed\n")
                    .expect("the dry run says a post would send nothing");
                proptest::prop_assert_eq!(post_err, format!("{why}nothing was sent\n"));
                proptest::prop_assert!(emulator.requests().is_empty());
            }
            code => {
                proptest::prop_assert_eq!(code, Some(0), "{}", dry_err);
                proptest::prop_assert_eq!(post.status.code(), Some(0), "{}", post_err);
                proptest::prop_assert_eq!(emulator.requests().len(), 1);
            }
        }
    }
}

/// The confirmation on a terminal shows each distinct text under the channels that send it,
/// with a list's recipients counted. Run under `script`, which gives the process a terminal.
#[test]
fn the_confirmation_shows_what_goes_out_before_asking() {
    if std::process::Command::new("script")
        .arg("--version")
        .output()
        .is_err()
    {
        eprintln!("skipped: `script` (util-linux) is not installed, so no terminal to confirm on");
        return;
    }
    let config = EXAMPLE
        .replacen(
            "name = \"slack-support\"\nkind = \"webhook\"\nenabled = false",
            "name = \"slack-support\"\nkind = \"webhook\"\nenabled = true",
            1,
        )
        .replacen(
            "name = \"discord\"\nkind = \"webhook\"\nenabled = false",
            "name = \"discord\"\nkind = \"webhook\"\nenabled = true",
            1,
        );
    assert_ne!(config, EXAMPLE, "the example's chat sections moved");
    let ws = Workspace::new(&config)
        .env("TERM", "dumb")
        .env(
            "SLACK_WEBHOOK_URL",
            "https://hooks.slack.com/services/T0/B0/secretsecret",
        )
        .env(
            "DISCORD_WEBHOOK_URL",
            "https://discord.com/api/webhooks/1/secretsecret",
        );
    // `outage post ...` on a terminal, answered "n".
    let declined = |args: &[&str]| {
        let quoted: Vec<String> = args.iter().map(|arg| format!("'{arg}'")).collect();
        let line = format!("{} post {}", crate::support::OUTAGE, quoted.join(" "));
        let mut child = ws
            .command("script")
            .args(["-qec", &line, "/dev/null"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("run script");
        {
            use std::io::Write;
            let mut stdin = child.stdin.take().unwrap();
            stdin.write_all(b"n\n").unwrap();
        }
        let output = child.wait_with_output().unwrap();
        String::from_utf8_lossy(&output.stdout)
            .replace('\r', "")
            .replace(&ws.path().display().to_string(), "[DIR]")
    };
    let shown = declined(OPEN);
    let start = shown.find("This goes out:").expect("the preview is shown");
    assert_eq!(
        &shown[start..shown.find("[y/N]").unwrap() + 5],
        "This goes out:\n\n  banner:\n    rewrites [DIR]/public/status-banner.html, [DIR]/public/status.json\n\n  feed:\n    rewrites [DIR]/public/feed.atom\n\n  site:\n    rewrites 14 files under [DIR]/public/status\n\n  slack-support:\n    *Investigating: Login failures*\n    Some customers cannot log in.\n    Next update by 10:30 UTC.\n    <https://status.example.com/incidents/2026-11-22-login-failures.html|Status page>\n\n  discord:\n    **Investigating: Login failures**\n    Some customers cannot log in.\n    Next update by 10:30 UTC.\n    https://status.example.com/incidents/2026-11-22-login-failures.html\n\nPost update 1 of 2026-11-22-login-failures (investigating) to 5 channels? [y/N]",
    );
    assert!(shown.contains("not posted: nothing was sent"), "{shown}");
    assert!(!shown.contains("secretsecret"));
    assert!(!ws.journal().exists() || ws.query("SELECT count(*) FROM updates") == ["0"]);

    // Posted to the banner alone, the same words then go on to the rest, and the question says
    // so: the banner is not among what goes out.
    ws.cmd(&[&["post", "--yes", "-q", "--channels", "banner"], OPEN].concat())
        .any_stdout()
        .run();
    let shown = declined(OPEN);
    let start = shown.find("This goes out:").expect("the preview is shown");
    let asked = &shown[start..shown.find("[y/N]").unwrap() + 5];
    assert!(!asked.contains("banner:"), "{asked}");
    assert!(
        asked.ends_with("Send update 1 of 2026-11-22-login-failures (investigating), which went to banner, on to 4 channels? [y/N]"),
        "{asked}"
    );
    assert_eq!(ws.query("SELECT channel FROM deliveries"), ["banner"]);
}

/// Before the first post, `latest` says how to open an incident, wherever it is used (the post
/// that tries it leaves an empty journal, which the others then read).
#[test]
fn latest_before_any_incident_says_how_to_open_one() {
    let ws = Workspace::new(EXAMPLE);
    let post = [&["post", "--yes"][..], LIFE[1]].concat();
    for args in [
        &post[..],
        &["history", "latest"][..],
        &["retry", "latest"][..],
    ] {
        let prefix = if args[0] == "post" {
            "--incident latest: "
        } else {
            ""
        };
        ws.cmd(args)
            .stderr(&format!(
                "error: {prefix}there is no incident in the journal yet; a post without --incident opens one\n"
            ))
            .status(2)
            .run();
    }
}

/// Counts take the number they count: one incident, one update, one delivery.
#[test]
fn one_of_a_thing_is_said_in_the_singular() {
    let ws = Workspace::new(EXAMPLE);
    banner_post(&ws, &[]);
    ws.cmd(&["journal", "copy", "--to", "copy.db"])
        .stdout("copied 1 incident, 1 update and 1 delivery from [DIR]/journal.db to copy.db\n")
        .run();
    let site = ws.cmd(&["site", "build"]).any_stdout().run();
    let site = String::from_utf8(site.stdout).unwrap();
    assert!(
        site.starts_with("wrote the site for 1 incident or maintenance ("),
        "{site}"
    );
}

/// The examples `post --help` ends with are commands that work: each is run as written, in
/// order, on the example config (with `--yes`, as a script runs it), and posts.
#[test]
fn the_examples_in_post_help_run_as_written() {
    let ws = Workspace::new(EXAMPLE);
    let help = ws.cmd(&["post", "--help"]).any_stdout().run();
    let help = String::from_utf8_lossy(&help.stdout).into_owned();
    let examples = help
        .split("Examples:\n")
        .nth(1)
        .expect("post --help ends with examples");
    // Each command with its continuation lines joined.
    let (mut commands, mut current) = (Vec::new(), String::new());
    for line in examples.lines().map(str::trim) {
        if line.starts_with("outage ") || !current.is_empty() {
            match line.strip_suffix('\\') {
                Some(start) => current.push_str(start),
                None => commands.push(std::mem::take(&mut current) + line),
            }
        }
    }
    assert_eq!(commands.len(), 4, "{examples}");
    for command in &commands {
        let line = command.replacen("outage", crate::support::OUTAGE, 1);
        let output = ws
            .command("sh")
            .args(["-c", &format!("{line} --yes -q")])
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "{command}\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    assert_eq!(
        ws.query("SELECT status FROM updates ORDER BY rowid"),
        ["investigating", "identified", "resolved", "scheduled"]
    );
}
