use mail_parser::{HeaderValue, MessageParser, MimeHeaders};

use crate::support::smtp::{Mode, PASSWORD, Smtp, USER};
use crate::support::{LIFE, Workspace, json};

/// [`LIFE`] with a title that needs escaping in HTML.
const UPDATES: [&[&str]; 4] = [
    &[
        "--status",
        "investigating",
        "--title",
        "Login <failures> & SSO",
        "--message",
        "Some customers cannot log in.",
        "--next-update",
        "30m",
    ],
    LIFE[1],
    LIFE[2],
    LIFE[3],
];

fn workspace(smtp: &Smtp, extra: &str) -> Workspace {
    let ws = Workspace::new(&format!(
        r#"
        [organization]
        name = "Example Inc"
        status_url = "https://status.example.com"

        [dispatch]
        timeout = "5s"
        max_attempts = 3
        retry_base = "10ms"

        [[channel]]
        name = "email"
        kind = "email"
        host = "127.0.0.1"
        port = {port}
        tls = "starttls"
        ca_file = "ca.pem"
        username_env = "SMTP_USER"
        password_env = "SMTP_PASSWORD"
        from = "Example Status <status@example.com>"
        to = ["customers@example.com"]
        cc = ["support@example.com"]
        bcc = ["archive@example.com"]
        reply_to = "support@example.com"
        unsubscribe_url = "https://status.example.com/unsubscribe?list=incidents&t={{token}}"
        unsubscribe_secret_env = "UNSUBSCRIBE_KEY"
        {extra}
        "#,
        port = smtp.port,
    ))
    .env("SMTP_USER", USER)
    .env("SMTP_PASSWORD", PASSWORD)
    .env("UNSUBSCRIBE_KEY", UNSUBSCRIBE_KEY);
    ws.write("ca.pem", &smtp.ca_pem);
    ws
}

const UNSUBSCRIBE_KEY: &str = "unsubscribe-key-5b2e9";

/// RFC 8058 one-click: the token is base64url(HMAC-SHA256(key, lowercased address)), as the README
/// documents it for the receiving side; recomputed here with the primitives, not `outage`'s code.
fn unsubscribe_token(address: &str) -> String {
    use base64::Engine;
    use hmac::{Hmac, KeyInit, Mac};
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(UNSUBSCRIBE_KEY.as_bytes()).unwrap();
    mac.update(address.to_lowercase().as_bytes());
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
}

fn post(ws: &Workspace, args: &[&str], status: i32) -> serde_json::Value {
    json(
        &ws.cmd(&[&["post", "--yes", "--json"], args].concat())
            .any_stdout()
            .status(status)
            .run(),
    )
}

fn text(value: Option<&HeaderValue>) -> String {
    match value {
        Some(HeaderValue::Text(text)) => text.to_string(),
        Some(HeaderValue::TextList(list)) => list.join(" "),
        Some(other) => format!("{other:?}"),
        None => String::new(),
    }
}

#[test]
fn a_four_update_incident_is_one_thread_in_every_mailbox() {
    let smtp = Smtp::start(Mode::Starttls);
    let ws = workspace(&smtp, "");
    for update in UPDATES {
        let report = post(&ws, update, 0);
        let outcomes = crate::support::delivery_fields(&report, &["target", "outcome"]);
        assert_eq!(
            outcomes,
            [
                "customers@example.com delivered",
                "support@example.com delivered",
                "archive@example.com delivered"
            ]
        );
    }
    let messages = smtp.messages();
    assert_eq!(messages.len(), 12, "one message per recipient per update");
    let mut envelopes: Vec<String> = messages[..3]
        .iter()
        .map(|m| format!("{} -> {}", m.from, m.to.join(",")))
        .collect();
    envelopes.sort();
    assert_eq!(
        envelopes,
        [
            "status@example.com -> archive@example.com",
            "status@example.com -> customers@example.com",
            "status@example.com -> support@example.com"
        ]
    );

    let parser = MessageParser::default();
    let id = "2026-11-22-login-failures-sso";
    for (index, received) in messages.iter().enumerate() {
        let sequence = index / 3 + 1;
        let message = parser
            .parse(received.data.as_bytes())
            .expect("a valid message");
        assert_eq!(
            message.subject(),
            Some(format!("Example Inc: Login <failures> & SSO [{id}]").as_str())
        );
        assert_eq!(
            message.message_id(),
            Some(format!("{id}.{sequence}.email@example.com").as_str())
        );
        if sequence == 1 {
            assert!(message.in_reply_to().is_empty());
        } else {
            assert_eq!(
                text(Some(message.in_reply_to())),
                format!("{id}.{}.email@example.com", sequence - 1)
            );
            let references: Vec<String> = (1..sequence)
                .map(|n| format!("{id}.{n}.email@example.com"))
                .collect();
            assert_eq!(text(Some(message.references())), references.join(" "));
        }
        assert!(message.date().is_some());
        assert_eq!(
            message.from().unwrap().first().unwrap().address(),
            Some("status@example.com")
        );
        assert_eq!(
            message.to().unwrap().first().unwrap().address(),
            Some("customers@example.com")
        );
        assert_eq!(
            message.cc().unwrap().first().unwrap().address(),
            Some("support@example.com")
        );
        assert!(message.bcc().is_none(), "Bcc never appears in the headers");
        assert_eq!(
            message.reply_to().unwrap().first().unwrap().address(),
            Some("support@example.com")
        );
        let header = |name: &str| {
            message
                .header_raw(name)
                .map(str::trim)
                .unwrap_or_default()
                .to_owned()
        };
        assert_eq!(header("Auto-Submitted"), "auto-generated");
        assert_eq!(
            header("List-Id"),
            "Example Inc status <incidents.example.com>"
        );
        assert_eq!(
            header("List-Unsubscribe"),
            format!(
                "<https://status.example.com/unsubscribe?list=incidents&t={}>",
                unsubscribe_token(&received.to[0])
            ),
            "the one-click link names its recipient"
        );
        assert_eq!(
            header("List-Unsubscribe-Post"),
            "List-Unsubscribe=One-Click"
        );
        assert_eq!(
            message
                .content_type()
                .map(|c| c.ctype().to_owned() + "/" + c.subtype().unwrap()),
            Some("multipart/alternative".into())
        );
        let plain = message.body_text(0).unwrap();
        let html = message.body_html(0).unwrap();
        assert!(plain.contains("Login <failures> & SSO"), "{plain}");
        assert!(html.contains("Login &lt;failures&gt; &amp; SSO"), "{html}");
        assert!(!html.contains("<failures>"));
        let parts = &message.parts;
        let order: Vec<String> = parts
            .iter()
            .skip(1)
            .map(|p| {
                p.content_type()
                    .map(|c| c.subtype().unwrap_or("").to_owned())
                    .unwrap_or_default()
            })
            .collect();
        assert_eq!(order, ["plain", "html"], "plain text first, HTML last");
    }
}

#[test]
fn a_rejected_recipient_is_reported_by_address_and_the_rest_are_delivered() {
    let smtp = Smtp::start(Mode::Starttls);
    smtp.with(|state| state.rejected.insert("support@example.com".into()));
    let ws = workspace(&smtp, "");
    let output = ws
        .cmd(&[&["post", "--yes"], UPDATES[0]].concat())
        .any_stdout()
        .any_stderr()
        .status(1)
        .run();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains(
            "email                  email  partial  3         2 of 3 recipients delivered"
        ),
        "{stdout}"
    );
    assert!(stdout.contains("  support@example.com  email  failed   1         the SMTP server refused: permanent error (550): 5.1.1 <support@example.com>: Recipient address rejected: User unknown"), "{stdout}");
    assert_eq!(smtp.messages().len(), 2);
}

#[test]
fn smtp_4xx_is_retried_and_5xx_is_not() {
    let smtp = Smtp::start(Mode::Starttls);
    smtp.fail("MAIL", "451 4.3.0 Mail server temporarily rejected message");
    smtp.fail("DATA", "554 5.7.1 Message rejected as spam");
    let ws = workspace(&smtp, "");
    let report = post(&ws, &[UPDATES[0], &["--channels", "email"]].concat(), 1);
    let outcomes = crate::support::delivery_fields(&report, &["outcome", "attempts"]);
    let mut sorted = outcomes.clone();
    sorted.sort();
    assert_eq!(
        sorted,
        ["delivered 1", "delivered 2", "failed 1"],
        "{outcomes:?}"
    );
    let failed = report["deliveries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["outcome"] == "failed")
        .unwrap();
    assert_eq!(
        failed["error"],
        "the SMTP server refused: permanent error (554): 5.7.1 Message rejected as spam"
    );
}

#[test]
fn wrong_credentials_fail_without_showing_the_password() {
    let smtp = Smtp::start(Mode::Starttls);
    let ws = workspace(&smtp, "").env("SMTP_PASSWORD", "not-the-password-4242");
    let output = ws
        .cmd(&[&["post", "--yes", "--json"], UPDATES[0]].concat())
        .any_stdout()
        .status(1)
        .run();
    let report = json(&output);
    assert_eq!(report["deliveries"][0]["outcome"], "failed");
    assert_eq!(report["deliveries"][0]["attempts"], 1);
    assert!(
        report["deliveries"][0]["error"]
            .as_str()
            .unwrap()
            .contains("535"),
        "{}",
        report["deliveries"][0]["error"]
    );
    ws.assert_no_secrets(&[output], &["not-the-password-4242", PASSWORD]);
}

#[test]
fn an_untrusted_certificate_is_refused() {
    let smtp = Smtp::start(Mode::Starttls);
    let ws = workspace(&smtp, "");
    ws.write("ca.pem", &Smtp::start(Mode::Starttls).ca_pem);
    let report = post(&ws, UPDATES[0], 1);
    assert_eq!(report["deliveries"][0]["outcome"], "failed");
    assert!(
        report["deliveries"][0]["error"]
            .as_str()
            .unwrap()
            .starts_with("TLS failed"),
        "{}",
        report["deliveries"][0]["error"]
    );
    assert!(smtp.messages().is_empty());
}

#[test]
fn only_internal_email_carries_the_internal_note() {
    let smtp = Smtp::start(Mode::Plain);
    let ws = Workspace::new(&format!(
        r#"
        [organization]
        name = "Example Inc"
        [[channel]]
        name = "customers"
        kind = "email"
        host = "127.0.0.1"
        port = {port}
        tls = "none"
        from = "status@example.com"
        to = ["customers@example.com"]
        [[channel]]
        name = "support"
        kind = "email"
        audience = "internal"
        host = "127.0.0.1"
        port = {port}
        tls = "none"
        from = "status@example.com"
        to = ["support@example.com"]
        "#,
        port = smtp.port
    ));
    post(
        &ws,
        &[
            UPDATES[0],
            &["--internal-note", "Caused by the 09:40 deploy."],
        ]
        .concat(),
        0,
    );
    for message in smtp.messages() {
        let internal = message.to == ["support@example.com"];
        assert_eq!(
            message.data.contains("Caused by the 09:40 deploy."),
            internal,
            "{}",
            message.data
        );
    }
}

#[test]
fn a_line_break_in_a_title_cannot_inject_a_header() {
    let smtp = Smtp::start(Mode::Starttls);
    let ws = workspace(&smtp, "");
    post(
        &ws,
        &[
            "--status",
            "investigating",
            "--title",
            "Login\r\nBcc: victim@example.org",
            "--message",
            "Logins fail.",
            "--next-update",
            "30m",
            "--channels",
            "email",
        ],
        0,
    );
    for received in smtp.messages() {
        let message = MessageParser::default()
            .parse(received.data.as_bytes())
            .unwrap();
        assert!(message.bcc().is_none());
        assert_eq!(
            message.subject(),
            Some(
                "Example Inc: Login Bcc: victim@example.org [2026-11-22-login-bcc-victim-example-org]"
            )
        );
        assert!(!received.to.contains(&"victim@example.org".to_owned()));
    }
}

#[test]
fn a_subscriber_list_gets_one_message_each_over_few_connections() {
    let smtp = Smtp::start(Mode::Starttls);
    let list: String = (0..60)
        .map(|n| format!("subscriber{n}@example.net\n"))
        .collect();
    let ws = workspace(&smtp, "recipients_file = \"subscribers.txt\"");
    ws.write(
        "subscribers.txt",
        &format!("# customers who asked for updates\n{list}\nsubscriber1@example.net\n"),
    );
    let output = ws
        .cmd(&[&["post", "--yes"], UPDATES[0]].concat())
        .any_stdout()
        .any_stderr()
        .run();
    assert!(String::from_utf8_lossy(&output.stdout).contains("63 of 63 recipients delivered"));
    let messages = smtp.messages();
    assert_eq!(messages.len(), 63);
    let subscriber = messages
        .iter()
        .find(|m| m.to == ["subscriber7@example.net"])
        .unwrap();
    let parsed = MessageParser::default()
        .parse(subscriber.data.as_bytes())
        .unwrap();
    assert_eq!(
        parsed.to().unwrap().first().unwrap().address(),
        Some("subscriber7@example.net"),
        "a subscriber sees only their own address"
    );
    assert!(
        // 8 at once, give or take a connection the pool opens while another is being returned.
        smtp.with(|state| state.connections) <= 16,
        "{} connections",
        smtp.with(|state| state.connections)
    );
    assert_eq!(
        ws.query("SELECT count(*) FROM deliveries WHERE state = 'delivered'"),
        ["63"]
    );

    ws.write("subscribers.txt", "ok@example.net\nnot an address\n");
    ws.cmd(&[&["post", "--yes", "-q", "--title", "Other"], &UPDATES[0][..2], &UPDATES[0][4..]].concat())
        .stderr("error: channel `email`: [DIR]/subscribers.txt:2: `not an address` is not an email address such as status@example.com; fix or remove the line\n")
        .status(2)
        .run();
}

/// Against a real SMTP server implementation (aiosmtpd). `.ci/run` installs it and runs this
/// test; locally: `pip install aiosmtpd && cargo test -- --ignored interop`.
#[test]
#[ignore = "needs python3 -m aiosmtpd (pip install aiosmtpd)"]
fn interop_with_aiosmtpd() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let maildir = tempfile::tempdir().unwrap();
    let mut server = std::process::Command::new("python3")
        .args([
            "-m",
            "aiosmtpd",
            "-n",
            "-l",
            &format!("127.0.0.1:{port}"),
            "-c",
            "aiosmtpd.handlers.Mailbox",
        ])
        .arg(maildir.path().join("mail"))
        .spawn()
        .expect("python3 -m aiosmtpd");
    let started = std::time::Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(started.elapsed().as_secs() < 20, "aiosmtpd did not start");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let ws = Workspace::new(&format!(
        r#"
        [organization]
        name = "Example Inc"
        [[channel]]
        name = "email"
        kind = "email"
        host = "127.0.0.1"
        port = {port}
        tls = "none"
        from = "Example Status <status@example.com>"
        to = ["customers@example.com"]
        "#
    ));
    for update in UPDATES {
        post(&ws, update, 0);
    }
    server.kill().ok();
    server.wait().ok();
    let mut messages: Vec<String> = std::fs::read_dir(maildir.path().join("mail/new"))
        .unwrap()
        .map(|entry| std::fs::read_to_string(entry.unwrap().path()).unwrap())
        .collect();
    assert_eq!(messages.len(), 4);
    messages.sort_by_key(|m| {
        MessageParser::default()
            .parse(m.as_bytes())
            .unwrap()
            .message_id()
            .unwrap()
            .to_owned()
    });
    let last = MessageParser::default()
        .parse(messages[3].as_bytes())
        .unwrap();
    assert_eq!(
        last.message_id(),
        Some("2026-11-22-login-failures-sso.4.email@example.com")
    );
    assert_eq!(
        text(Some(last.in_reply_to())),
        "2026-11-22-login-failures-sso.3.email@example.com"
    );
    assert!(last.body_text(0).unwrap().contains("Logins work again."));
}

/// Issue 10, item 7: an SMTP server that quotes the login in its refusal cannot leak it.
#[test]
fn a_refusal_quoting_the_login_does_not_leak_it() {
    let smtp = Smtp::start(Mode::Starttls);
    smtp.fail(
        "AUTH",
        &format!("535 5.7.8 Authentication failed for {USER}:{PASSWORD} (AUTH PLAIN)"),
    );
    let ws = workspace(&smtp, "");
    let output = ws
        .cmd(&[&["post", "--yes", "--json"], UPDATES[0]].concat())
        .any_stdout()
        .status(1)
        .run();
    let report = json(&output);
    let errors: Vec<&str> = report["deliveries"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|d| d["error"].as_str())
        .collect();
    assert_eq!(
        errors,
        [
            "the SMTP server refused: permanent error (535): 5.7.8 Authentication failed for [redacted]:[redacted] (AUTH PLAIN)"
        ]
    );
    ws.assert_no_secrets(&[output], &[USER, PASSWORD]);
}

/// Issue 10, item 14: EHLO gives a fully qualified name (`helo_name`, else the host's full name,
/// else the sender's domain), and XOAUTH2 logs in with an access token instead of a password.
#[test]
fn ehlo_gives_a_full_name_and_xoauth2_logs_in_with_a_token() {
    let smtp = Smtp::start(Mode::Starttls);
    let token = "ya29.a0AfH6SMC-access-token-for-xoauth2";
    smtp.with(|state| state.oauth_token = Some(token.to_owned()));
    let ws = Workspace::new(&format!(
        r#"
        [organization]
        name = "Example Inc"
        [[channel]]
        name = "email"
        kind = "email"
        host = "127.0.0.1"
        port = {}
        ca_file = "ca.pem"
        username_env = "SMTP_USER"
        oauth_token_env = "SMTP_TOKEN"
        helo_name = "status-sender.example.com"
        from = "status@example.com"
        to = ["customers@example.com"]
        "#,
        smtp.port,
    ))
    .env("SMTP_USER", USER)
    .env("SMTP_TOKEN", token);
    ws.write("ca.pem", &smtp.ca_pem);
    let report = post(&ws, UPDATES[0], 0);
    assert_eq!(report["deliveries"][0]["outcome"], "delivered");
    assert_eq!(smtp.messages().len(), 1);
    let hellos = smtp.with(|state| state.hellos.clone());
    assert!(!hellos.is_empty());
    assert!(
        hellos
            .iter()
            .all(|name| name == "status-sender.example.com"),
        "{hellos:?}"
    );
    // Without helo_name, a name with a dot: the host's, or the sender's domain.
    let ws = workspace(&smtp, "");
    post(&ws, UPDATES[0], 0);
    let name = smtp.with(|state| state.hellos.last().cloned().unwrap());
    assert!(name.contains('.') && name != "localhost", "{name}");
}
