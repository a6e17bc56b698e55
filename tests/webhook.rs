use std::time::Duration;

use crate::support::emulator::{Emulator, Fault};
use crate::support::{Workspace, json};

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const SLACK_TOKEN: &str = "T000/B000/XXXXsecretslacktoken";

const POST: &[&str] = &[
    "post",
    "--status",
    "investigating",
    "--title",
    "Login failures & SSO",
    "--message",
    "Some customers cannot log in to the web app. We are looking into it.",
    "--next-update",
    "30m",
    "--internal-note",
    "Root cause suspected in auth-7.",
    "--yes",
];

fn workspace(emulator: &Emulator) -> Workspace {
    Workspace::new(&format!(
        r#"
        [organization]
        name = "Example Inc"
        status_url = "https://status.example.com"

        [dispatch]
        timeout = "1s"
        max_attempts = 3
        retry_base = "10ms"
        max_retry_wait = "2s"

        [[channel]]
        name = "hook"
        kind = "webhook"
        url = "{json}"
        secret_env = "HOOK_SECRET"
        headers = {{ "X-Team" = "sre" }}

        [[channel]]
        name = "slack"
        kind = "webhook"
        format = "slack"
        url_env = "SLACK_URL"
        audience = "internal"

        [[channel]]
        name = "discord"
        kind = "webhook"
        format = "discord"
        url = "{discord}"

        [[channel]]
        name = "teams"
        kind = "webhook"
        format = "teams"
        url = "{teams}"

        [[channel]]
        name = "mattermost"
        kind = "webhook"
        format = "mattermost"
        url = "{mattermost}"
        "#,
        json = emulator.url("/json/hook"),
        discord = emulator.url("/discord/api/webhooks/123/token"),
        teams = emulator.url("/teams/workflow"),
        mattermost = emulator.url("/mattermost/hooks/key"),
    ))
    .env("HOOK_SECRET", SECRET)
    .env(
        "SLACK_URL",
        &emulator.url(&format!("/slack/services/{SLACK_TOKEN}")),
    )
}

fn emulator() -> Emulator {
    let emulator = Emulator::start();
    emulator.secret("/json/hook", SECRET);
    emulator
}

fn outcomes(report: &serde_json::Value) -> Vec<String> {
    crate::support::delivery_fields(report, &["channel", "outcome", "attempts"])
}

fn slack_path() -> String {
    format!("/slack/services/{SLACK_TOKEN}")
}

#[test]
fn every_format_is_delivered_in_its_services_shape() {
    let emulator = emulator();
    let ws = workspace(&emulator);
    let output = posted(&ws, &[]).run();
    let report = json(&output);
    assert_eq!(
        outcomes(&report),
        [
            "hook delivered 1",
            "slack delivered 1",
            "discord delivered 1",
            "teams delivered 1",
            "mattermost delivered 1"
        ]
    );
    // Discord's wait=true answer gives the message id.
    assert!(
        report["deliveries"][2]["remote_id"]
            .as_str()
            .unwrap()
            .starts_with("12")
    );

    assert!(
        emulator
            .requests()
            .iter()
            .all(|request| request.method == "POST")
    );
    let hook = &emulator.requests_to("/json/hook")[0];
    assert_eq!(hook.header("x-team"), "sre");
    assert!(hook.header("webhook-signature").starts_with("v1,"));
    let event = hook.json();
    assert_eq!(
        event,
        serde_json::json!({
            "type": "incident.created",
            "version": 1,
            "timestamp": "2026-11-22T10:00:00Z",
            "data": {
                "incident": {
                    "id": "2026-11-22-login-failures-sso",
                    "kind": "incident",
                    "title": "Login failures & SSO",
                    "impact": null,
                    "components": [],
                    "url": "https://status.example.com"
                },
                "update": {
                    "sequence": 1,
                    "previous_sequence": null,
                    "status": "investigating",
                    "status_label": "Investigating",
                    "message": "Some customers cannot log in to the web app. We are looking into it.",
                    "eta": null,
                    "next_update": "2026-11-22T10:30:00Z",
                    "starts": null,
                    "ends": null,
                    "compensation": null,
                    "correction": false,
                    "reminder": false,
                    "rescheduled": false,
                    "posted_at": "2026-11-22T10:00:00Z"
                },
                "text": "Investigating: Login failures & SSO\n\nSome customers cannot log in to the web app. We are looking into it.\nNext update by 10:30 UTC.\n\nhttps://status.example.com"
            }
        })
    );
    let delivery_id = ws.query("SELECT id FROM deliveries WHERE channel = 'hook'");
    assert_eq!(hook.header("webhook-id"), delivery_id[0]);

    let slack = emulator.requests_to(&slack_path())[0].json();
    assert_eq!(slack["text"], "Investigating: Login failures &amp; SSO");
    assert_eq!(
        slack["blocks"][0]["text"]["text"],
        "*Investigating: Login failures &amp; SSO*\nSome customers cannot log in to the web app. We are looking into it.\nNext update by 10:30 UTC.\n_Internal note:_ Root cause suspected in auth-7.\n<https://status.example.com|Status page>"
    );
    assert!(
        emulator
            .requests_to("/discord/api/webhooks/123/token")
            .is_empty()
    );
    let discord = &emulator.requests_to("/discord/api/v10/webhooks/123/token")[0];
    assert_eq!(discord.query, "wait=true");
    assert_eq!(
        discord.json()["allowed_mentions"],
        serde_json::json!({"parse": []})
    );
    let teams = emulator.requests_to("/teams/workflow")[0].json();
    assert_eq!(teams["attachments"][0]["content"]["version"], "1.2");
    let mattermost = emulator.requests_to("/mattermost/hooks/key")[0].json();
    assert!(
        mattermost["text"]
            .as_str()
            .unwrap()
            .starts_with("**Investigating: Login failures & SSO**")
    );
}

#[test]
fn the_internal_note_reaches_only_internal_channels() {
    let emulator = emulator();
    let ws = workspace(&emulator);
    ws.cmd(&[POST, &["-q"]].concat()).any_stdout().run();
    for request in emulator.requests() {
        let internal = request.path == slack_path();
        assert_eq!(
            request.body.contains("Root cause suspected"),
            internal,
            "{} {}",
            request.path,
            request.body
        );
    }
}

#[test]
fn a_transient_failure_is_retried_with_the_same_webhook_id() {
    let emulator = emulator();
    emulator.fail(
        "/json/hook",
        vec![Fault::status(503, "busy"), Fault::status(500, "oops")],
    );
    let ws = workspace(&emulator);
    let output = posted(&ws, &["--channels", "hook"]).run();
    assert_eq!(outcomes(&json(&output)), ["hook delivered 3"]);
    let requests = emulator.requests_to("/json/hook");
    assert_eq!(requests.len(), 3);
    assert!(
        requests
            .iter()
            .all(|r| r.header("webhook-id") == requests[0].header("webhook-id"))
    );
    assert!(requests.iter().all(|r| r.body == requests[0].body));
}

#[test]
fn a_failing_channel_never_stops_the_others() {
    let emulator = emulator();
    emulator.always(&slack_path(), Fault::status(410, "channel_is_archived"));
    emulator.always("/teams/workflow", Fault::status(500, ""));
    let ws = workspace(&emulator);
    let output = ws.cmd(POST).any_stdout().any_stderr().status(1).run();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("slack       webhook  failed     1         Slack answered 410 Gone: channel_is_archived; the endpoint is gone, remove it or replace the url"), "{stdout}");
    assert!(stdout.contains("teams       webhook  failed     3         Teams answered 500 Internal Server Error: no details"), "{stdout}");
    assert!(
        stdout.contains(
            "\n`outage retry 2026-11-22-login-failures-sso` sends the 2 that failed again.\n"
        ),
        "{stdout}"
    );
    assert_eq!(
        ws.query("SELECT channel, state, attempts FROM deliveries ORDER BY rowid"),
        [
            "hook|delivered|1",
            "slack|failed|1",
            "discord|delivered|1",
            "teams|failed|3",
            "mattermost|delivered|1"
        ]
    );
}

#[test]
fn rate_limits_are_honoured_up_to_the_cap() {
    let emulator = emulator();
    // Sent to the versioned API, the wait is 0.2 s; read from the unversioned one it would be
    // 200 "seconds", over the cap.
    emulator.with(|inner| inner.discord_rate_limit = Some(0.2));
    emulator.fail(
        &slack_path(),
        vec![Fault::status(429, "rate_limited").with_header("retry-after", "1")],
    );
    emulator.always(
        "/mattermost/hooks/key",
        Fault::status(429, "").with_header("retry-after", "3600"),
    );
    let ws = workspace(&emulator);
    let started = std::time::Instant::now();
    let output = posted(&ws, &[]).status(1).run();
    let report = json(&output);
    assert_eq!(
        outcomes(&report),
        [
            "hook delivered 1",
            "slack delivered 2",
            "discord delivered 2",
            "teams delivered 1",
            "mattermost failed 1"
        ]
    );
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "slack's Retry-After was not honoured"
    );
    assert_eq!(
        report["deliveries"][4]["error"],
        "Mattermost answered 429 Too Many Requests: no details; rate limited for 1h, longer than max_retry_wait (2s); run `outage retry` later"
    );
}

#[test]
fn a_wrong_signature_is_refused_by_the_receiver_and_not_retried() {
    let emulator = Emulator::start();
    emulator.secret("/json/hook", "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD");
    let ws = workspace(&emulator);
    let output = posted(&ws, &["--channels", "hook"]).status(1).run();
    let report = json(&output);
    assert_eq!(outcomes(&report), ["hook failed 1"]);
    assert_eq!(
        report["deliveries"][0]["error"],
        "the receiver answered 401 Unauthorized: no matching signature; check the webhook url or its token"
    );
}

#[test]
fn a_timeout_is_retried_only_where_a_repeat_is_harmless() {
    let emulator = emulator();
    emulator.fail("/json/hook", vec![Fault::Delay(Duration::from_secs(3))]);
    emulator.fail(&slack_path(), vec![Fault::Delay(Duration::from_secs(3))]);
    let ws = workspace(&emulator);
    let output = posted(&ws, &["--channels", "hook,slack"]).status(1).run();
    let report = json(&output);
    // The receiver drops the repeated webhook-id; Slack would post twice, so it stays unknown.
    assert_eq!(outcomes(&report), ["hook delivered 2", "slack unknown 1"]);
    assert_eq!(report["deliveries"][1]["error"], "no answer within 1s");
}

#[test]
fn a_refused_connection_is_transient() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let ws = Workspace::new(&format!(
        r#"
        [organization]
        name = "Example Inc"
        [dispatch]
        max_attempts = 2
        retry_base = "10ms"
        [[channel]]
        name = "hook"
        kind = "webhook"
        url = "http://127.0.0.1:{port}/json/hook"
        "#
    ));
    let output = posted(&ws, &[]).status(1).run();
    let report = json(&output);
    assert_eq!(outcomes(&report), ["hook failed 2"]);
    // The cause, not the client's layers around it ("error sending request: client error
    // (Connect): tcp connect error: ...").
    let error = report["deliveries"][0]["error"].as_str().unwrap();
    assert!(
        error.starts_with("cannot connect: Connection refused (os error "),
        "{error}"
    );
}

/// `post` with `--json` and `extra` on `ws`, its report on stdout.
fn posted(ws: &Workspace, extra: &[&str]) -> crate::support::Cmd {
    ws.cmd(&[POST, &["--json"], extra].concat()).any_stdout()
}

/// One webhook at `https`, tried once.
fn https_hook(https: &str) -> String {
    format!(
        r#"
        [organization]
        name = "Example Inc"
        [dispatch]
        max_attempts = 1
        [[channel]]
        name = "hook"
        kind = "webhook"
        url = "{https}/json/hook"
        "#
    )
}

/// HTTPS is checked against the system's roots (`SSL_CERT_FILE` names them, as for OpenSSL):
/// a server whose certificate no trusted root signed gets nothing, and the same server is
/// reached once its CA is trusted. The checking verifier is made while the post runs, after
/// the client (src/tls.rs): it must still check.
#[test]
fn https_certificates_are_checked_against_the_systems_roots() {
    let emulator = Emulator::start();
    let (https, ca_pem) = emulator.behind_tls();
    let config = https_hook(&https);
    let untrusted = Workspace::new(&config);
    let output = posted(&untrusted, &[]).status(1).run();
    let report = json(&output);
    assert_eq!(outcomes(&report), ["hook failed 1"]);
    let error = report["deliveries"][0]["error"].as_str().unwrap();
    assert_eq!(
        error,
        "cannot connect: invalid peer certificate: UnknownIssuer"
    );
    assert!(emulator.requests_to("/json/hook").is_empty());

    let trusted = Workspace::new(&config).trusting(&ca_pem);
    let output = posted(&trusted, &[]).run();
    assert_eq!(outcomes(&json(&output)), ["hook delivered 1"]);
    assert_eq!(emulator.requests_to("/json/hook").len(), 1);

    // No roots at all (a mistyped path, a container without ca-certificates): one clear error
    // before anything is recorded, not a failed delivery on every HTTPS channel.
    let rootless = Workspace::new(&config);
    rootless
        .cmd(POST)
        .env("SSL_CERT_FILE", "/nonexistent/ca.pem")
        .stderr(
            "error: no root certificates for HTTPS: SSL_CERT_FILE/SSL_CERT_DIR name \
             /nonexistent/ca.pem, which does not exist; install the ca-certificates package, or \
             name a file of root certificates in SSL_CERT_FILE\nnothing was sent\n",
        )
        .status(2)
        .run();
    assert!(!rootless.journal().exists() || rootless.query("SELECT id FROM deliveries").is_empty());
    // A dry run, which a CI job runs before posting, says so too.
    rootless
        .cmd(&[POST, &["--dry-run"]].concat())
        .env("SSL_CERT_FILE", "/nonexistent/ca.pem")
        .any_stdout()
        .stderr(
            "error: no root certificates for HTTPS: SSL_CERT_FILE/SSL_CERT_DIR name \
             /nonexistent/ca.pem, which does not exist; install the ca-certificates package, or \
             name a file of root certificates in SSL_CERT_FILE\ndry run: a post would send \
             nothing until this is fixed\n",
        )
        .status(2)
        .run();
    assert_eq!(emulator.requests_to("/json/hook").len(), 1);
}

/// The roots are read as OpenSSL keeps them, a bundle file and a folder: a server whose CA is
/// in the folder alone is trusted though the bundle, read first, does not vouch for it, and one
/// whose CA is in neither is not.
#[test]
fn a_root_in_the_certificate_folder_alone_is_trusted() {
    let emulator = Emulator::start();
    let (https, ca_pem) = emulator.behind_tls();
    // The bundle holds another CA, by another name; the folder, the server's or nothing.
    let another_ca = {
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "Another CA");
        let key = rcgen::KeyPair::generate().unwrap();
        params.self_signed(&key).unwrap().pem()
    };
    let post = |folder_holds: Option<&str>, status: i32| {
        let ws = Workspace::new(&https_hook(&https));
        ws.write("bundle.pem", &another_ca);
        std::fs::create_dir(ws.file("certs")).unwrap();
        if let Some(pem) = folder_holds {
            ws.write("certs/server-ca.pem", pem);
        }
        let bundle = ws.file("bundle.pem").display().to_string();
        let folder = ws.file("certs").display().to_string();
        let ws = ws
            .env("SSL_CERT_FILE", &bundle)
            .env("SSL_CERT_DIR", &folder);
        json(&posted(&ws, &[]).status(status).run())
    };
    assert_eq!(outcomes(&post(Some(&ca_pem), 0)), ["hook delivered 1"]);
    assert_eq!(
        post(None, 1)["deliveries"][0]["error"],
        "cannot connect: invalid peer certificate: UnknownIssuer"
    );
    assert_eq!(emulator.requests_to("/json/hook").len(), 1);
}

#[test]
fn secrets_never_appear_in_output_or_the_journal() {
    let emulator = emulator();
    emulator.always(&slack_path(), Fault::status(404, "no_service"));
    let ws = workspace(&emulator);
    let mut seen = Vec::new();
    for extra in [&["--json"][..], &["--dry-run"][..], &["-q"][..]] {
        seen.push(
            ws.cmd(&[POST, extra].concat())
                .any_stdout()
                .any_stderr()
                .status(if extra == ["--dry-run"] { 0 } else { 1 })
                .run(),
        );
    }
    ws.assert_no_secrets(
        &seen,
        &[SECRET, "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", SLACK_TOKEN],
    );
}

proptest::proptest! {
    #![proptest_config(crate::support::cases(24))]

    /// Behind a company's proxy, whatever the environment names: HTTPS goes through the proxy
    /// of `HTTPS_PROXY` or `https_proxy`, else of `ALL_PROXY` or `all_proxy`, in a `CONNECT`
    /// tunnel with the certificate still checked end to end; plain HTTP through that of
    /// `HTTP_PROXY` or `http_proxy`, else the same fallback; `NO_PROXY` names the hosts (or
    /// networks) reached directly. A proxy that wants a login gets it from its URL; one refused
    /// fails the delivery, not retried, in words that name the variable to fix and never show
    /// the password; nothing else goes through it.
    #[test]
    fn requests_go_through_the_proxy_the_environment_names(
        https_variable in proptest::option::of(proptest::sample::select(vec!["HTTPS_PROXY", "https_proxy"])),
        http_variable in proptest::option::of(proptest::sample::select(vec!["HTTP_PROXY", "http_proxy"])),
        all_variable in proptest::option::of(proptest::sample::select(vec!["ALL_PROXY", "all_proxy"])),
        password in proptest::sample::select(vec!["proxy-pass-7Yq2", "not-the-pass-3Kd", ""]),
        no_proxy in proptest::option::of(proptest::sample::select(
            vec!["127.0.0.1", "127.0.0.2", "127.0.0.0/8", "status.example.com"],
        )),
    ) {
        use crate::support::proxy::{Proxy, Seen};
        let emulator = Emulator::start();
        let (https, ca_pem) = emulator.behind_tls();
        // The plain receiver on an address of its own, for NO_PROXY to tell them apart.
        let plain = format!("{}/json/plain", emulator.also_on(std::net::Ipv4Addr::new(127, 0, 0, 2)));
        let proxy = Proxy::start(Some(("ops", "proxy-pass-7Yq2")));
        let through = match password {
            "" => proxy.url.clone(),
            password => proxy.url_with("ops", password),
        };
        let config = format!(
            "{}\n[[channel]]\nname = \"plain\"\nkind = \"webhook\"\nurl = \"{plain}\"\n",
            https_hook(&https),
        );
        let mut ws = Workspace::new(&config).trusting(&ca_pem);
        for variable in [https_variable, http_variable, all_variable].into_iter().flatten() {
            ws = ws.env(variable, &through);
        }
        if let Some(no_proxy) = no_proxy {
            ws = ws.env("NO_PROXY", no_proxy);
        }
        let exempt = |ip: &str| match no_proxy {
            Some("127.0.0.0/8") => true,
            Some(host) => host == ip,
            None => false,
        };
        // The variable that sends each receiver through the proxy, if any.
        let secure_by = https_variable.or(all_variable).filter(|_| !exempt("127.0.0.1"));
        let plain_by = http_variable.or(all_variable).filter(|_| !exempt("127.0.0.2"));
        let let_in = password == "proxy-pass-7Yq2";
        let expect = |by: Option<&str>| match by {
            Some(variable) if !let_in => format!(
                "failed 1 the proxy refused the request without its user and password (407 \
                 Proxy Authentication Required): put them in its URL, \
                 {variable}=http://user:password@host:port"
            ),
            _ => "delivered 1 ".to_owned(),
        };
        let failing = [secure_by, plain_by].iter().any(|by| by.is_some() && !let_in);
        let output = posted(&ws, &[])
            .status(if failing { 1 } else { 0 })
            .run();
        let report = json(&output);
        let got = crate::support::delivery_fields(&report, &["outcome", "attempts", "error"]);
        proptest::prop_assert_eq!(got, vec![expect(secure_by), expect(plain_by)]);
        proptest::prop_assert!(!String::from_utf8_lossy(&output.stdout).contains("pass-"));
        // What the proxy saw: exactly the requests it was named for.
        let mut wanted = Vec::new();
        let authority = https.trim_start_matches("https://").to_owned();
        if secure_by.is_some() {
            wanted.push(if let_in { Seen::Tunnel(authority) } else { Seen::Refused(authority) });
        }
        if plain_by.is_some() {
            wanted.push(if let_in {
                Seen::Forwarded("POST".into(), plain.clone())
            } else {
                Seen::Refused(plain.clone())
            });
        }
        let mut seen = proxy.seen();
        seen.sort_by_key(|seen| format!("{seen:?}"));
        wanted.sort_by_key(|seen| format!("{seen:?}"));
        proptest::prop_assert_eq!(seen, wanted);
    }
}

/// A proxy that is not there: HTTPS says the proxy could not be reached, and plain HTTP, which
/// goes to the proxy without a tunnel, says to check it or NO_PROXY.
#[test]
fn a_proxy_that_is_down_is_named() {
    let emulator = Emulator::start();
    let (https, ca_pem) = emulator.behind_tls();
    let config = format!(
        "{}\n[[channel]]\nname = \"plain\"\nkind = \"webhook\"\nurl = \"{}\"\n",
        https_hook(&https),
        emulator.url("/json/plain")
    );
    let ws = Workspace::new(&config)
        .trusting(&ca_pem)
        .env("HTTPS_PROXY", "http://127.0.0.1:1")
        .env("http_proxy", "http://127.0.0.1:1");
    let output = posted(&ws, &[]).status(1).run();
    let report = json(&output);
    let error = |n: usize| {
        report["deliveries"][n]["error"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    assert!(
        error(0).starts_with("cannot connect through the proxy in HTTPS_PROXY: Connection refused"),
        "{}",
        error(0)
    );
    assert!(
        error(1).starts_with("cannot connect: Connection refused")
            && error(1).ends_with(
                "; http_proxy names a proxy: check that it is up, or name this host in NO_PROXY"
            ),
        "{}",
        error(1)
    );
    assert!(emulator.requests().is_empty());
    // A SOCKS proxy, which the client does not speak: said, and not tried again.
    ws.edit("channels.toml", "max_attempts = 1", "max_attempts = 3");
    let output = posted(&ws, &["--incident", "socks", "--channels", "hook"])
        .env("HTTPS_PROXY", "socks5://127.0.0.1:1080")
        .status(1)
        .run();
    let report = json(&output);
    assert_eq!(report["deliveries"][0]["attempts"], 1);
    assert_eq!(
        report["deliveries"][0]["error"],
        "cannot connect through the proxy in HTTPS_PROXY: unsupported scheme socks5; name an \
         HTTP proxy (http://host:port)"
    );
}

/// A receiver inside the company, with a CA of its own (a self-hosted Mattermost, say) or a
/// certificate that signs itself: `ca_file` checks that channel's HTTPS against that
/// certificate alone, without the system's roots (none of which vouch for it) and without
/// changing what other channels trust. A file that holds no certificate, or is missing, stops
/// the post before anything is sent.
#[test]
fn a_webhook_checks_its_receiver_against_its_own_ca_file() {
    let internal = Emulator::start();
    let (internal_https, internal_ca) = internal.behind_tls();
    let public = Emulator::start();
    let (public_https, _) = public.behind_tls();
    let hurried = Emulator::start();
    let (hurried_https, hurried_cert) =
        hurried.behind_tls_with(crate::support::tls::Authority::self_signed("127.0.0.1"));
    let config = format!(
        r#"
        [organization]
        name = "Example Inc"
        [dispatch]
        max_attempts = 1
        [[channel]]
        name = "internal"
        kind = "webhook"
        format = "mattermost"
        url = "{internal_https}/mattermost/hooks/abc"
        ca_file = "internal-ca.pem"
        [[channel]]
        name = "public"
        kind = "webhook"
        url = "{public_https}/json/public"
        [[channel]]
        name = "hurried"
        kind = "webhook"
        url = "{hurried_https}/json/hurried"
        ca_file = "hurried.pem"
        "#
    );
    // The system's roots: a CA that signed none of the servers.
    let ws = Workspace::new(&config).trusting(&crate::support::tls::ca().pem());
    ws.write("internal-ca.pem", &internal_ca);
    ws.write("hurried.pem", &hurried_cert);
    let output = posted(&ws, &[]).status(1).run();
    let report = json(&output);
    assert_eq!(
        outcomes(&report),
        [
            "internal delivered 1",
            "public failed 1",
            "hurried delivered 1"
        ]
    );
    // (Test CAs share one name: the check fails on the signature rather than the issuer.)
    let refused = |error: &serde_json::Value| {
        let error = error.as_str().unwrap();
        assert!(
            error.starts_with("cannot connect: invalid peer certificate: "),
            "{error}"
        );
    };
    refused(&report["deliveries"][1]["error"]);
    assert_eq!(internal.requests().len(), 1);
    // Nor does it need the system's roots: on a machine without them it is still reached.
    let output = posted(&ws, &["--incident", "rootless", "--channels", "hurried"])
        .env("SSL_CERT_FILE", "/nonexistent/ca.pem")
        .run();
    assert_eq!(outcomes(&json(&output)), ["hurried delivered 1"]);
    // The CA file is all the channel trusts: pointed at the other server, it refuses it.
    ws.edit("channels.toml", &internal_https, &public_https);
    let output = posted(&ws, &["--incident", "elsewhere"]).status(1).run();
    refused(&json(&output)["deliveries"][0]["error"]);
    assert!(public.requests().is_empty());
    // Not a certificate, then no file: the dry run and the post say which, nothing is sent.
    ws.write("internal-ca.pem", "not a certificate\n");
    let holds_none = "error: channel `internal`: ca_file [DIR]/internal-ca.pem holds no CA \
                      certificate (a PEM file with -----BEGIN CERTIFICATE----- blocks)\n";
    ws.cmd(&[POST, &["--incident", "bad-ca"]].concat())
        .stderr(&format!("{holds_none}nothing was sent\n"))
        .status(2)
        .run();
    std::fs::remove_file(ws.file("internal-ca.pem")).unwrap();
    ws.cmd(&[POST, &["--incident", "bad-ca", "--dry-run"]].concat())
        .any_stdout()
        .stderr(
            "error: channel `internal`: cannot read ca_file [DIR]/internal-ca.pem: No such file \
             or directory (os error 2)\ndry run: a post would send nothing until this is fixed\n",
        )
        .status(2)
        .run();
    assert_eq!(internal.requests().len(), 1);
    assert!(public.requests().is_empty());
    // The three posts that went out; the refused ones sent nothing.
    assert_eq!(hurried.requests().len(), 3);
}
