use std::str::FromStr;

use crate::support::Workspace;

const CONFIG: &str = r#"
    [organization]
    name = "Example Inc"
    status_url = "https://status.example.com"

    [[channel]]
    name = "banner"
    kind = "banner"
    html_path = "site/banner.html"
    json_path = "site/status.json"

    [[channel]]
    name = "feed"
    kind = "feed"
    path = "site/feed.atom"
    max_entries = 3
    feed_url = "https://status.example.com/feed.atom"
"#;

fn post(ws: &Workspace, args: &[&str]) {
    let mut all = vec!["post", "--yes", "-q"];
    all.extend(args);
    ws.cmd(&all).any_stdout().run();
}

#[test]
fn the_banner_escapes_every_text_and_stays_small_and_accessible() {
    let ws = Workspace::new(CONFIG);
    post(
        &ws,
        &[
            "--status",
            "investigating",
            "--title",
            "<script>alert(1)</script> & \"Login\"",
            "--message",
            "Logins <b>fail</b> for some.",
            "--next-update",
            "30m",
        ],
    );
    let html = ws.read("site/banner.html");
    assert!(!html.contains("<script") && !html.contains("<b>"), "{html}");
    assert!(
        html.contains("&lt;script&gt;alert(1)&lt;/script&gt; &amp; &quot;Login&quot;"),
        "{html}"
    );
    assert!(html.contains(r#"role="status""#) && html.contains(r#"aria-live="polite""#));
    assert!(html.contains("style=\"margin:0;padding:10px 16px;"));
    assert!(html.len() < 2048);
    assert!(
        !html.contains("<link") && !html.contains("<style"),
        "self-contained: inline style only"
    );
}

#[test]
fn the_banner_shows_every_open_incident_and_clears_when_all_are_resolved() {
    let ws = Workspace::new(CONFIG);
    post(
        &ws,
        &[
            "--status",
            "investigating",
            "--title",
            "Login failures",
            "--message",
            "Some logins fail.",
            "--next-update",
            "30m",
        ],
    );
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
    let html = ws.read("site/banner.html");
    assert!(
        html.contains("Investigating: Login failures")
            && html.contains("Scheduled maintenance: Database upgrade"),
        "{html}"
    );
    let state: serde_json::Value = serde_json::from_str(&ws.read("site/status.json")).unwrap();
    assert_eq!(state["incidents"][0]["id"], "2026-11-22-login-failures");
    assert_eq!(state["maintenance"][0]["starts"], "2026-11-23T02:00:00Z");

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
    let html = ws.read("site/banner.html");
    assert!(
        !html.contains("Login failures") && html.contains("Database upgrade"),
        "{html}"
    );

    post(
        &ws,
        &[
            "--incident",
            "2026-11-22-database-upgrade",
            "--status",
            "completed",
            "--message",
            "The upgrade is done.",
        ],
    );
    assert_eq!(
        ws.read("site/banner.html"),
        "<div class=\"outage-banner outage-banner--clear\" role=\"status\" hidden></div>\n"
    );
    let state: serde_json::Value = serde_json::from_str(&ws.read("site/status.json")).unwrap();
    assert_eq!(state["incidents"], serde_json::json!([]));
    assert_eq!(state["maintenance"], serde_json::json!([]));
}

#[test]
fn long_messages_are_shortened_to_keep_the_banner_under_2_kb() {
    let ws = Workspace::new(CONFIG);
    let long = "Requests are slow. ".repeat(40);
    for title in [
        "API latency",
        "Login failures",
        "Billing delays",
        "Search errors",
    ] {
        post(
            &ws,
            &[
                "--status",
                "investigating",
                "--title",
                title,
                "--message",
                &long,
                "--next-update",
                "30m",
            ],
        );
    }
    let html = ws.read("site/banner.html");
    assert!(html.len() <= 2049, "{} bytes", html.len());
    for title in [
        "API latency",
        "Login failures",
        "Billing delays",
        "Search errors",
    ] {
        assert!(html.contains(title), "{title} missing");
    }
    assert!(html.contains('…'));
}

#[test]
fn the_feed_is_valid_atom_with_stable_ids() {
    let ws = Workspace::new(CONFIG);
    post(
        &ws,
        &[
            "--status",
            "investigating",
            "--title",
            "Login failures",
            "--message",
            "Some logins fail.",
            "--next-update",
            "30m",
        ],
    );
    let first = atom_syndication::Feed::from_str(&ws.read("site/feed.atom")).expect("valid Atom");
    post(
        &ws,
        &[
            "--incident",
            "latest",
            "--status",
            "identified",
            "--message",
            "A bad certificate.",
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
            "monitoring",
            "--message",
            "Fixed; watching.",
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
            "Resolved.",
        ],
    );
    let feed = atom_syndication::Feed::from_str(&ws.read("site/feed.atom")).expect("valid Atom");
    assert_eq!(feed.id(), "tag:status.example.com,2026:incidents");
    assert_eq!(feed.title().as_str(), "Example Inc status");
    assert_eq!(feed.authors()[0].name(), "Example Inc");
    let titles: Vec<&str> = feed.entries().iter().map(|e| e.title().as_str()).collect();
    assert_eq!(
        titles,
        [
            "[Resolved] Login failures",
            "[Monitoring] Login failures",
            "[Identified] Login failures"
        ]
    );
    let oldest = feed.entries().last().unwrap();
    assert_eq!(
        oldest.id(),
        "tag:status.example.com,2026-11-22:2026-11-22-login-failures/update-2"
    );
    assert_eq!(
        first.entries()[0].id(),
        "tag:status.example.com,2026-11-22:2026-11-22-login-failures/update-1"
    );
    assert!(
        oldest
            .content()
            .unwrap()
            .value()
            .unwrap()
            .contains("A bad certificate.")
    );
    assert_eq!(feed.links()[0].rel(), "self");
}
