use crate::support::Workspace;
use crate::support::emulator::Emulator;

const POST: &[&str] = &[
    "post",
    "--status",
    "investigating",
    "--title",
    "Login failures",
    "--message",
    "Some customers cannot log in.",
    "--next-update",
    "30m",
    "--yes",
    "-q",
];

fn config_with(channels: &str) -> String {
    format!(
        "[organization]\nname = \"Example Inc\"\n\n[[channel]]\nname = \"banner\"\nkind = \"banner\"\nhtml_path = \"banner.html\"\n\n{channels}"
    )
}

#[track_caller]
fn refused(config: &str, message: &str) {
    let ws = Workspace::new(config);
    ws.cmd(POST)
        .stderr(&format!("error: {message}\n"))
        .status(2)
        .run();
    assert!(!ws.file("banner.html").exists(), "nothing may be written");
}

#[test]
fn an_unknown_key_is_named_with_its_line() {
    refused(
        "[organization]\nname = \"Example Inc\"\ncolour = \"red\"\n",
        "[DIR]/channels.toml: TOML parse error at line 3, column 1: unknown field `colour`, expected one of `name`, `status_url`, `timezone`",
    );
    refused(
        "[organisation]\nname = \"Example Inc\"\n",
        "[DIR]/channels.toml: TOML parse error at line 1, column 2: unknown field `organisation`, expected one of `organization`, `state`, `dispatch`, `policy`, `component`, `channel`; did you mean `organization`?",
    );
    refused(
        &config_with(
            "[[channel]]\nname = \"hook\"\nkind = \"webhook\"\nurll = \"https://x.example\"\n",
        ),
        "[DIR]/channels.toml: channel #2 `hook`: webhook: unknown field `urll`, expected one of `url`, `url_env`, `urls_file`, `format`, `secret_env`, `secret_file`, `headers`, `ca_file`; did you mean `url`?",
    );
}

proptest::proptest! {
    #![proptest_config(crate::support::cases(96))]

    /// A channel's key misspelt by one letter is refused with the key that was meant: the
    /// kind's own keys, and those every channel has (which reach the kind, whose list of keys
    /// does not have them).
    #[test]
    fn a_misspelt_key_is_named_with_the_key_meant(
        key in proptest::sample::select(&[
            "audience", "enabled", "template", "timeout", "phases",
            "url", "url_env", "urls_file", "format", "secret_env", "secret_file", "headers",
        ][..]),
        at in proptest::prelude::any::<proptest::sample::Index>(),
        edit in 0..3u8,
        letter in proptest::char::range('a', 'z'),
    ) {
        let mut typo: Vec<char> = key.chars().collect();
        let at = at.index(typo.len());
        match edit {
            0 => drop(typo.remove(at)),
            1 => typo[at] = letter,
            _ => typo.insert(at, letter),
        }
        let typo: String = typo.into_iter().collect();
        proptest::prop_assume!(typo != key && !typo.is_empty());
        let ws = Workspace::new(&config_with(&format!(
            "[[channel]]\nname = \"hook\"\nkind = \"webhook\"\nurl = \"https://x.example\"\n{typo} = \"x\"\n"
        )));
        let output = ws.cmd(POST).any_stderr().status(2).run();
        let error = String::from_utf8(output.stderr).unwrap();
        proptest::prop_assert!(
            error.starts_with(&format!(
                "error: {}: channel #2 `hook`: webhook: unknown field `{typo}`",
                ws.file("channels.toml").display()
            ))
                && error.ends_with(&format!("; did you mean `{key}`?\n")),
            "{}", error
        );
        proptest::prop_assert!(!ws.file("banner.html").exists(), "nothing may be written");
    }
}

#[test]
fn bad_values_are_named() {
    refused(
        &config_with(
            "[[channel]]\nname = \"hook\"\nkind = \"webhook\"\nurl = \"hooks.example.com/x\"\n",
        ),
        "[DIR]/channels.toml: channel #2 `hook`: url: `hooks.example.com/x` is not a URL (relative URL without a base); write https://...",
    );
    refused(
        &config_with(
            "[[channel]]\nname = \"hook\"\nkind = \"webhook\"\nurl = \"http://hooks.example.com/x\"\nca_file = \"ca.pem\"\n",
        ),
        "[DIR]/channels.toml: channel #2 `hook`: ca_file checks an https:// receiver, and url is http://; use https, or remove ca_file",
    );
    refused(
        &config_with("[[channel]]\nname = \"banner\"\nkind = \"feed\"\npath = \"feed.atom\"\n"),
        "[DIR]/channels.toml: channel #2 `banner`: another channel already has this name; names must be unique",
    );
    refused(
        &config_with("[[channel]]\nname = \"x\"\nkind = \"carrier-pigeon\"\n"),
        "[DIR]/channels.toml: channel #2 `x`: unknown kind `carrier-pigeon`; use one of webhook, banner, feed, site, phone, x, facebook, mastodon, bluesky, email",
    );
    refused(
        "[organization]\nname = \"Example Inc\"\ntimezone = \"Mars/Olympus\"\n",
        "[DIR]/channels.toml: organization.timezone: `Mars/Olympus` is not an IANA time zone such as UTC or Europe/Paris",
    );
    refused(
        &format!("{}\n[policy.rules]\nbe-nice = \"error\"\n", config_with("")),
        "[DIR]/channels.toml: policy.rules.be-nice: unknown rule `be-nice`; the rules are recovery-claim, unpromised-time, missing-next-update, update-interval, stock-apology, no-news, placeholder, shouting, glossary, internal-marker, too-long, missing-fact",
    );
}

#[test]
fn a_secret_written_in_the_file_is_refused_without_echoing_it() {
    let ws = Workspace::new(&config_with(
        "[[channel]]\nname = \"hook\"\nkind = \"webhook\"\nurl = \"https://x.example\"\nsecret = \"whsec_c2VjcmV0c2VjcmV0\"\n",
    ));
    let output = ws
        .cmd(POST)
        .stderr("error: [DIR]/channels.toml: channel #2 `hook`: `secret` must not be written in the file; name where it is kept with secret_env = \"VAR\" or secret_file = \"path\"\n")
        .status(2)
        .run();
    assert!(!String::from_utf8_lossy(&output.stderr).contains("whsec_c2Vj"));
}

/// A channel that is not ready blocks the whole post: no half-broadcast.
#[test]
fn a_missing_secret_blocks_every_channel() {
    let emulator = Emulator::start();
    let ws = Workspace::new(&config_with(&format!(
        "[[channel]]\nname = \"open-hook\"\nkind = \"webhook\"\nurl = \"{}\"\n\n[[channel]]\nname = \"hook\"\nkind = \"webhook\"\nurl = \"{}\"\nsecret_env = \"HOOK_SECRET\"\n",
        emulator.url("/json/open"),
        emulator.url("/json/hook"),
    )));
    ws.cmd(POST)
        .stderr("error: channel `hook`: secret_env names HOOK_SECRET, which is not set; export HOOK_SECRET, or set enabled = false for this channel\nnothing was sent\n")
        .status(2)
        .run();
    assert!(emulator.requests().is_empty());
    assert!(!ws.file("banner.html").exists());
    assert_eq!(ws.query("SELECT count(*) FROM updates"), ["0"]);
}

#[test]
fn a_secret_that_is_not_a_signing_key_is_a_config_error() {
    let emulator = Emulator::start();
    let ws = Workspace::new(&config_with(&format!(
        "[[channel]]\nname = \"hook\"\nkind = \"webhook\"\nurl = \"{}\"\nsecret_env = \"HOOK_SECRET\"\n",
        emulator.url("/json/hook"),
    )))
    .env("HOOK_SECRET", "not base64 at all!");
    let output = ws
        .cmd(POST)
        .stderr("error: channel `hook`: the webhook secret is not `whsec_` followed by base64\nnothing was sent\n")
        .status(2)
        .run();
    assert!(!String::from_utf8_lossy(&output.stderr).contains("not base64 at all"));
    assert!(emulator.requests().is_empty());
}

#[test]
fn no_config_found_says_where_it_looked() {
    let ws = Workspace::new("");
    std::fs::remove_file(ws.file("channels.toml")).unwrap();
    ws.cmd(POST)
        .env_remove("OUTAGE_CONFIG")
        .stderr("error: no configuration found: `outage init` writes one to start from (or pass --config FILE, or set OUTAGE_CONFIG)\n")
        .status(2)
        .run();
}

/// `OUTAGE_CONFIG=` and `OUTAGE_STATE=` left empty in a script mean unset: the config is found
/// in the working folder and the journal is in its default place.
#[test]
fn empty_environment_variables_mean_unset() {
    let ws = Workspace::new(&config_with(""));
    ws.cmd(POST)
        .env("OUTAGE_CONFIG", "")
        .env("OUTAGE_STATE", "")
        .env("XDG_STATE_HOME", &ws.file("state").display().to_string())
        .any_stdout()
        .run();
    assert!(ws.file("banner.html").exists());
    assert!(ws.file("state/outage/journal.db").exists());
}
