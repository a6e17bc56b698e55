//! The phone line (issue 14): the IVR greeting as TwiML checked against what Twilio accepts,
//! and as a script, with times spoken, the site as its host name, nothing a voice cannot say,
//! the most severe first, within Twilio's limits, and the agents' briefing on internal lines.

use crate::support::{Workspace, json};

fn workspace(extra: &str) -> Workspace {
    Workspace::new(&format!(
        r#"
        [organization]
        name = "Example Inc"
        status_url = "https://status.example.com/incidents"
        timezone = "Europe/Paris"
        [[channel]]
        name = "phone"
        kind = "phone"
        twiml_path = "ivr/greeting.xml"
        script_path = "ivr/greeting.txt"
        {extra}
        "#
    ))
}

fn post(ws: &Workspace, now: &str, args: &[&str]) -> serde_json::Value {
    json(
        &ws.cmd(&[&["post", "--yes", "--json"], args].concat())
            .env("OUTAGE_NOW", now)
            .any_stdout()
            .run(),
    )
}

/// TwiML as Twilio takes it: `<Response>` holding only `<Say>` (with `voice`, `language`,
/// `loop`) and `<Pause>` (with `length`), each `<Say>` plain text within the voice's limit.
/// Returns what is said.
fn said(twiml: &str, limit: usize) -> Vec<String> {
    let document = roxmltree::Document::parse(twiml).expect("well-formed XML");
    let root = document.root_element();
    assert_eq!(root.tag_name().name(), "Response");
    assert!(root.attributes().next().is_none());
    let mut says = Vec::new();
    for verb in root.children().filter(roxmltree::Node::is_element) {
        let allowed: &[&str] = match verb.tag_name().name() {
            "Say" => &["voice", "language", "loop"],
            "Pause" => &["length"],
            other => panic!("Twilio has no <{other}> verb here"),
        };
        for attribute in verb.attributes() {
            assert!(allowed.contains(&attribute.name()), "{}", attribute.name());
        }
        if verb.tag_name().name() == "Say" {
            assert!(
                verb.children().all(|child| child.is_text()),
                "plain text only"
            );
            let text = verb.text().unwrap_or_default().to_owned();
            assert!(
                text.chars().count() <= limit,
                "{} characters",
                text.chars().count()
            );
            says.push(text);
        }
    }
    says
}

/// Nothing a voice cannot say: no link, no markup, no emoji or other symbol.
fn sayable(text: &str) {
    assert!(
        !text.contains("http") && !text.contains('<') && !text.contains('>'),
        "{text}"
    );
    assert!(
        text.chars().all(|c| c.is_alphanumeric()
            || c.is_whitespace()
            || ".,;:!?'\"-()/&%€$£+@#".contains(c)),
        "{text}"
    );
}

#[test]
fn a_caller_hears_what_is_wrong_and_when_it_will_be_fixed() {
    let ws = workspace("");
    post(
        &ws,
        "2026-11-22T13:00:00Z",
        &[
            "--status",
            "identified",
            "--title",
            "Login failures 🔐",
            "--message",
            "Some customers cannot log in <b>now</b>. Details: https://status.example.com/x 🚨",
            "--components",
            "Web app,Mobile app",
            "--impact",
            "major",
            "--eta",
            "+90m",
            "--next-update",
            "30m",
            "--internal-note",
            "Ticket OPS-1234: tell callers about the app.",
            "--allow",
            "internal-marker=the note is for agents",
        ],
    );
    let script = ws.read("ivr/greeting.txt");
    assert_eq!(
        script,
        "This is Example Inc. We know about a problem. Identified: Login failures. Some customers \
         cannot log in now. Details. This affects Web app and Mobile app. We expect it to be fixed \
         by half past three in the afternoon, Central European Time. That is an estimate, not a \
         promise. Our next update will be by half past two in the afternoon, Central European \
         Time. For the latest news, visit status.example.com.\n"
    );
    sayable(&script);
    let says = said(&ws.read("ivr/greeting.xml"), 3000);
    assert_eq!(says, [script.trim_end()]);
    assert!(
        ws.read("ivr/greeting.xml")
            .contains("<Say voice=\"Polly.Joanna\" language=\"en-US\">")
    );
    assert!(
        !script.contains("OPS-1234"),
        "a public line has no internal note"
    );

    // Resolved: nothing is open, the IVR goes on to its menu.
    post(
        &ws,
        "2026-11-22T14:10:00Z",
        &[
            "--incident",
            "latest",
            "--status",
            "resolved",
            "--message",
            "Logins work again.",
        ],
    );
    assert_eq!(
        ws.read("ivr/greeting.xml"),
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Response/>\n"
    );
    assert_eq!(
        ws.read("ivr/greeting.txt"),
        "Nothing is open: the phone line plays its usual menu.\n"
    );
}

#[test]
fn several_incidents_are_read_most_severe_first_and_agents_hear_the_note() {
    let ws = workspace("audience = \"internal\"\nvoice = \"alice\"\nlanguage = \"en-GB\"");
    let open = |title: &str, impact: &str, note: &str| {
        post(
            &ws,
            "2026-11-22T09:00:00Z",
            &[
                "--status",
                "investigating",
                "--title",
                title,
                "--message",
                "We are looking into it.",
                "--impact",
                impact,
                "--next-update",
                "30m",
                "--internal-note",
                note,
            ],
        );
    };
    open("Slow search", "minor", "Search only.");
    open(
        "Payments failing",
        "critical",
        "Offer to take the order by phone.",
    );
    open("Delayed emails", "major", "Emails arrive late.");
    post(
        &ws,
        "2026-11-22T09:00:00Z",
        &[
            "--status",
            "scheduled",
            "--title",
            "Database upgrade",
            "--message",
            "Invoices cannot be downloaded meanwhile.",
            "--starts",
            "2026-11-24T02:00:00Z",
            "--ends",
            "2026-11-24T03:00:00Z",
        ],
    );
    let says = said(&ws.read("ivr/greeting.xml"), 4096);
    let order: Vec<&str> = says
        .iter()
        .map(|say| {
            [
                "Payments failing",
                "Delayed emails",
                "Slow search",
                "Database upgrade",
            ]
            .into_iter()
            .find(|title| say.contains(title))
            .unwrap()
        })
        .collect();
    assert_eq!(
        order,
        [
            "Payments failing",
            "Delayed emails",
            "Slow search",
            "Database upgrade"
        ]
    );
    assert!(says[0].starts_with("This is Example Inc. We know about 3 problems."));
    assert!(says[0].contains("Internal note for our agents: Offer to take the order by phone."));
    assert!(says[3].contains(
        "It runs from on Tuesday the 24th of November at three o'clock in the morning, Central \
         European Time, until on Tuesday the 24th of November at four o'clock in the morning, \
         Central European Time."
    ));
    assert!(
        ws.read("ivr/greeting.xml")
            .contains("<Say voice=\"alice\" language=\"en-GB\">")
    );
    assert!(says[3].ends_with("For the latest news, visit status.example.com."));
    for say in &says {
        sayable(say);
    }
}

/// A caller hears at most a few hundred characters of a message; when the facts are long too
/// (here 40 components), the message is cut further so that each `<Say>` stays within Twilio's
/// 3,000 characters for Polly voices, the facts whole. Markup in a title is escaped, not
/// injected.
#[test]
fn long_words_fit_twilios_limit_and_markup_is_escaped() {
    let ws = workspace("");
    let message = "Every region sees errors when customers sign in or pay. ".repeat(120);
    let components: Vec<String> = (1..=40)
        .map(|n| format!("Regional payment gateway number {n} of the western network"))
        .collect();
    let report = post(
        &ws,
        "2026-11-22T09:00:00Z",
        &[
            "--status",
            "investigating",
            "--title",
            "Tom & Jerry's \"payments\" <fail>",
            "--message",
            &message,
            "--components",
            &components.join(","),
            "--next-update",
            "30m",
        ],
    );
    assert_eq!(report["findings"], serde_json::json!([]));
    let twiml = ws.read("ivr/greeting.xml");
    let says = said(&twiml, 3000);
    assert!(
        says[0].chars().count() > 2500,
        "as much as fits: {}",
        says[0].len()
    );
    assert!(says[0].contains("Every region sees errors"));
    assert!(
        says[0].contains("western network number 40")
            || says[0].contains("number 40 of the western network")
    );
    assert!(says[0].contains("Our next update will be by half past ten in the morning"));
    assert!(
        says[0].contains("Investigating: Tom & Jerry's \"payments\"."),
        "{}",
        says[0]
    );
    assert!(twiml.contains("Tom &amp; Jerry&#x27;s &quot;payments&quot;"));
    // Alone, the message is cut to what a caller can follow.
    let ws = workspace("");
    post(
        &ws,
        "2026-11-22T09:00:00Z",
        &[
            "--status",
            "investigating",
            "--title",
            "Payments",
            "--message",
            &message,
            "--next-update",
            "30m",
        ],
    );
    let says = said(&ws.read("ivr/greeting.xml"), 3000);
    assert!(says[0].chars().count() < 700, "{}", says[0].len());
}

#[test]
fn a_phone_line_is_configured_or_refused_by_name() {
    let ws = workspace("voice = \"Robot.Bob\"");
    ws.cmd(&["post", "--yes", "--status", "investigating", "--title", "X", "--message", "Y.", "--next-update", "30m"])
        .stderr("error: [DIR]/channels.toml: channel #1 `phone`: voice `Robot.Bob` is not one Twilio knows: man, woman, alice, Polly.<Name> or Google.<name>\n")
        .status(2)
        .run();
}
