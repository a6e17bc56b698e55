use crate::support::Workspace;

const CONFIG: &str = r#"
    [organization]
    name = "Example Inc"
    status_url = "https://status.example.com"

    [policy.glossary]
    "outage" = "disruption"

    [[channel]]
    name = "hook"
    kind = "webhook"
    url = "https://hooks.example.com/x"
"#;

/// Runs `outage lint` with a base update plus `args` and returns the finding lines and the exit
/// code.
fn lint(ws: &Workspace, args: &[&str]) -> (String, i32) {
    let mut all = vec!["lint", "--title", "Login failures"];
    let has = |flag: &str| args.contains(&flag);
    if !has("--status") {
        all.extend(["--status", "investigating"]);
    }
    if !has("--message") {
        all.extend(["--message", "Some customers cannot log in."]);
    }
    if !has("--next-update") && !has("--no-next") {
        all.extend(["--next-update", "30m"]);
    }
    all.extend(args.iter().filter(|a| **a != "--no-next"));
    let output = ws.cmd(&all).any_stdout().any_status().run();
    (
        String::from_utf8_lossy(&output.stdout).into_owned(),
        output.status.code().unwrap(),
    )
}

/// The rules on the text. The two rules on renderings, `too-long` and `missing-fact`, fail in
/// `rendering_rules_check_each_channel`; their passing case is every default template's snapshot,
/// which must render with no finding.
#[test]
fn each_rule_has_a_passing_and_a_failing_case() {
    let ws = Workspace::new(CONFIG);
    let cases: &[(&str, &[&str], &[&str], &str)] = &[
        (
            "recovery-claim",
            &["--message", "We are looking into it."],
            &["--message", "Everything is back to normal."],
            "error[recovery-claim]: the message says \"back to normal\" but the status is investigating; post status monitoring or resolved once it is true, or reword",
        ),
        (
            "unpromised-time",
            &[
                "--message",
                "It will be fixed within the hour.",
                "--eta",
                "+45m",
            ],
            &["--message", "It will be fixed within the hour."],
            "error[unpromised-time]: the message promises a time (\"within the hour\") but no --eta was given; give --eta so it is stated as an estimate, or remove the promise",
        ),
        (
            "missing-next-update",
            &[
                "--status",
                "resolved",
                "--message",
                "Logins work again.",
                "--no-next",
            ],
            &["--no-next"],
            "error[missing-next-update]: An investigating update must say when the next one comes; add --next-update 30m (next_update in an update file)",
        ),
        (
            "update-interval",
            &["--next-update", "45m"],
            &["--next-update", "3h"],
            "error[update-interval]: the next update is 3h away, more than the policy's 1h; promise an earlier one",
        ),
        (
            "stock-apology",
            &["--message", "Logins fail for about a third of customers."],
            &["--message", "We apologize for any inconvenience."],
            "warning[stock-apology]: the message uses the stock phrase \"apologize for any inconvenience\"; say plainly what happened and what customers can do",
        ),
        (
            "placeholder",
            &["--message", "Logins fail for some customers."],
            &["--message", "Logins fail for TBD customers."],
            "error[placeholder]: the message still has a placeholder (\"TBD\"); write the real text",
        ),
        (
            "shouting",
            &["--message", "The API and SSO are affected."],
            &["--message", "LOGIN IS BROKEN FOR EVERYONE"],
            "warning[shouting]: the message shouts (\"LOGIN IS BROKEN FOR EVERYONE\"); use sentence case and one exclamation mark at most",
        ),
        (
            "glossary",
            &["--message", "A disruption affects logins."],
            &["--message", "An outage affects logins."],
            "warning[glossary]: the message says \"outage\"; the glossary prefers \"disruption\"",
        ),
        (
            "internal-marker",
            &[
                "--message",
                "Logins fail.",
                "--internal-note",
                "See INC-4521 on db7.internal.",
            ],
            &["--message", "Logins fail; see INC-4521 and db7.internal."],
            "error[internal-marker]: the message contains \"INC-4521\", which looks internal; move it to --internal-note\nerror[internal-marker]: the message contains \"db7.internal\", which looks internal; move it to --internal-note",
        ),
    ];
    for (rule, passing, failing, finding) in cases {
        let (clean, code) = lint(&ws, passing);
        assert!(
            !clean.contains(rule),
            "{rule}: the passing case was flagged:\n{clean}"
        );
        assert_eq!(code, 0, "{rule}: the passing case exits 0\n{clean}");
        let (flagged, code) = lint(&ws, failing);
        assert!(
            flagged.contains(finding),
            "{rule}: expected\n{finding}\ngot\n{flagged}"
        );
        let expected = if finding.starts_with("error") { 3 } else { 0 };
        assert_eq!(
            code, expected,
            "{rule}: errors exit 3, warnings 0\n{flagged}"
        );
    }
}

/// `stock-apology` catches the family of patronising empathy, not one sentence.
#[test]
fn patronising_empathy_is_flagged_in_every_form() {
    let ws = Workspace::new(CONFIG);
    for phrase in [
        "We understand how frustrating this must be.",
        "We understand how frustrating this is.",
        "We know how angry you must be.",
        "We know how frustrated you are.",
        "We understand your frustration.",
        "We apologize for any inconvenience this may have caused.",
    ] {
        let (out, code) = lint(&ws, &["--message", &format!("Logins fail. {phrase}")]);
        assert!(
            out.starts_with("warning[stock-apology]: the message uses the stock phrase"),
            "{phrase}: {out}"
        );
        assert_eq!(code, 0, "a warning does not block");
    }
}

/// `no-news`: a follow-up that repeats an earlier message word for word.
#[test]
fn a_follow_up_that_repeats_an_earlier_message_is_no_news() {
    let ws = Workspace::new(&format!(
        "{CONFIG}\n[[channel]]\nname = \"banner\"\nkind = \"banner\"\nhtml_path = \"banner.html\"\n"
    ));
    ws.cmd(&[
        "post",
        "--yes",
        "-q",
        "--channels",
        "banner",
        "--status",
        "investigating",
        "--title",
        "Login failures",
        "--message",
        "We are still looking into it.",
        "--next-update",
        "30m",
    ])
    .any_stdout()
    .run();
    let (out, code) = lint(
        &ws,
        &[
            "--incident",
            "latest",
            "--message",
            "We are  still looking into it.",
        ],
    );
    assert_eq!(
        out,
        "warning[no-news]: the message repeats update 1 word for word; say what changed, what is being done, or when you will know more\n0 errors, 1 warning\n"
    );
    assert_eq!(code, 0);
    let (out, _) = lint(
        &ws,
        &[
            "--incident",
            "latest",
            "--message",
            "The cause is a certificate.",
        ],
    );
    assert_eq!(out, "0 errors, 0 warnings\n");
}

#[test]
fn rendering_rules_check_each_channel() {
    let ws = Workspace::new(&format!(
        "{CONFIG}\n[[channel]]\nname = \"long\"\nkind = \"webhook\"\nformat = \"discord\"\nurl = \"https://discord.example/x\"\ntemplate = \"long.md\"\n\n[[channel]]\nname = \"lossy\"\nkind = \"webhook\"\nformat = \"mattermost\"\nurl = \"https://mm.example/x\"\ntemplate = \"lossy.md\"\n"
    ));
    ws.write("long.md", "{{ status_label }}: {{ title }} {{ next_update }} {{ link }} {{ message }} {% for i in range(300) %}padding {% endfor %}");
    ws.write(
        "lossy.md",
        "{{ status_label }}: {{ title }}. {{ message }} {{ link }}",
    );
    let output = ws
        .cmd(&["lint", "--status", "investigating", "--title", "Login failures", "--message", "Logins fail.", "--next-update", "30m"])
        .stdout(
            "
            error[too-long] long: the rendering is 2467 characters even with no message, over the channel's limit of 2000 characters; shorten the title, compensation or template
            error[missing-fact] lossy: the rendering lost the next update time (\"10:30 UTC\"); check the channel's template
            2 errors, 0 warnings
            ",
        )
        .status(3)
        .run();
    assert!(!output.status.success());
}

#[test]
fn the_free_text_is_shortened_to_fit_and_the_facts_survive() {
    let ws = Workspace::new(&format!(
        "{CONFIG}\n[[channel]]\nname = \"discord\"\nkind = \"webhook\"\nformat = \"discord\"\nurl = \"https://discord.example/x\"\n"
    ));
    let long = "Logins fail for some customers. ".repeat(100);
    let output = ws
        .cmd(&[
            "post",
            "--dry-run",
            "--json",
            "--channels",
            "discord",
            "--status",
            "investigating",
            "--title",
            "Login failures",
            "--message",
            &long,
            "--next-update",
            "30m",
        ])
        .any_stdout()
        .run();
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let body: serde_json::Value =
        serde_json::from_str(report["deliveries"][0]["rendered"].as_str().unwrap()).unwrap();
    let content = body["content"].as_str().unwrap();
    assert!(
        content.chars().count() <= 2000,
        "{}",
        content.chars().count()
    );
    assert!(
        content.chars().count() > 1900,
        "shortened too much: {}",
        content.chars().count()
    );
    assert!(
        content.ends_with(" some…\nNext update by 10:30 UTC.\nhttps://status.example.com"),
        "{content}"
    );
}

#[test]
fn a_rule_error_blocks_the_post_unless_allowed_with_a_reason() {
    let ws = Workspace::new(&format!(
        "{CONFIG}\n[[channel]]\nname = \"banner\"\nkind = \"banner\"\nhtml_path = \"banner.html\"\n"
    ));
    let args = [
        "post",
        "--yes",
        "-q",
        "--channels",
        "banner",
        "--status",
        "investigating",
        "--title",
        "Login failures",
        "--message",
        "Back to normal for most; some still fail.",
        "--next-update",
        "30m",
    ];
    ws.cmd(&args)
        .stderr(
            "
            error[recovery-claim]: the message says \"Back to normal\" but the status is investigating; post status monitoring or resolved once it is true, or reword
            error: the wording policy rejected the update; nothing was sent
            ",
        )
        .status(3)
        .run();
    assert!(!ws.file("banner.html").exists());
    ws.cmd(&[&args[..], &["--allow", "recovery-claim=most customers recovered; wording approved by comms"]].concat())
        .any_stdout()
        .stderr("allowed[recovery-claim]: the message says \"Back to normal\" but the status is investigating; post status monitoring or resolved once it is true, or reword (allowed: most customers recovered; wording approved by comms)\n")
        .run();
    assert_eq!(
        ws.query("SELECT allowed FROM updates"),
        [r#"{"recovery-claim":"most customers recovered; wording approved by comms"}"#]
    );
}
