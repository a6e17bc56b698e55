//! Snapshots of every built-in rendering of every channel kind — the chat formats, X, Facebook,
//! the email's subject, plain and HTML parts, the banner and the feed — for an incident update
//! that uses every fact and for a scheduled maintenance with its window. A changed rendering
//! fails here; `UPDATE_SNAPSHOTS=1 cargo test` rewrites the files under `tests/snapshots/` for
//! review in the diff.

use crate::support::Workspace;

const CONFIG: &str = r#"
    [organization]
    name = "Example Inc"
    status_url = "https://status.example.com"
    timezone = "Europe/Paris"

    [[channel]]
    name = "json"
    kind = "webhook"
    url = "https://hooks.example.com/x"

    [[channel]]
    name = "slack"
    kind = "webhook"
    format = "slack"
    url = "https://hooks.slack.example/x"
    audience = "internal"

    [[channel]]
    name = "discord"
    kind = "webhook"
    format = "discord"
    url = "https://discord.example/x"

    [[channel]]
    name = "teams"
    kind = "webhook"
    format = "teams"
    url = "https://teams.example/x"

    [[channel]]
    name = "mattermost"
    kind = "webhook"
    format = "mattermost"
    url = "https://mm.example/x"

    [[channel]]
    name = "banner"
    kind = "banner"
    html_path = "banner.html"

    [[channel]]
    name = "feed"
    kind = "feed"
    path = "feed.atom"

    [[channel]]
    name = "x"
    kind = "x"
    bearer_token_env = "X_TOKEN"

    [[channel]]
    name = "facebook"
    kind = "facebook"
    page_id = "104708835651234"
    page_token_env = "FB_TOKEN"

    [[channel]]
    name = "email"
    kind = "email"
    host = "smtp.example.com"
    from = "Example Status <status@example.com>"
    to = ["customers@example.com"]
"#;

const INCIDENT: &[&str] = &[
    "--incident",
    "2026-11-22-api",
    "--status",
    "identified",
    "--title",
    "API errors <EU>",
    "--message",
    "About 5% of API requests in the EU region fail with errors 502 & 503.",
    "--components",
    "api,dashboard",
    "--impact",
    "major",
    "--eta",
    "12:30",
    "--next-update",
    "45m",
    "--compensation",
    "Affected customers get a day of credit.",
    "--internal-note",
    "Load balancer pool drained by the deploy at 09:40.",
];

const MAINTENANCE: &[&str] = &[
    "--status",
    "scheduled",
    "--title",
    "Database upgrade",
    "--message",
    "We will upgrade the primary database; the dashboard is read-only during the window.",
    "--components",
    "dashboard",
    "--starts",
    "2026-11-24T01:00:00Z",
    "--ends",
    "2026-11-24T02:00:00Z",
];

#[test]
fn every_built_in_rendering_matches_its_snapshot() {
    let ws = Workspace::new(CONFIG)
        .env("X_TOKEN", "x-token-for-the-snapshots")
        .env("FB_TOKEN", "fb-token-for-the-snapshots");
    let update = std::env::var_os("UPDATE_SNAPSHOTS").is_some();
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/snapshots");
    let mut stale = Vec::new();
    for (scenario, args) in [("incident", INCIDENT), ("maintenance", MAINTENANCE)] {
        let output = ws
            .cmd(&[&["post", "--dry-run", "--json"], args].concat())
            .any_stdout()
            .run();
        let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
        assert_eq!(report["findings"], serde_json::json!([]), "{scenario}");
        let folder = root.join(scenario);
        for delivery in report["deliveries"].as_array().unwrap() {
            let name = delivery["channel"].as_str().unwrap();
            let rendering = &delivery["rendering"];
            let mut files = vec![(
                format!("{name}.txt"),
                shown(delivery["rendered"].as_str().unwrap()),
            )];
            if let Some(html) = rendering["body"].as_str().filter(|_| name == "email") {
                files.push((format!("{name}.html"), format!("{html}\n")));
            }
            for (file, text) in files {
                let path = folder.join(&file);
                if update {
                    std::fs::create_dir_all(&folder).unwrap();
                    std::fs::write(&path, &text).unwrap();
                } else if std::fs::read_to_string(&path).ok().as_deref() != Some(&text) {
                    stale.push(format!("--- {} ---\n{text}", path.display()));
                }
            }
        }
    }
    assert!(
        stale.is_empty(),
        "renderings differ from the snapshots (UPDATE_SNAPSHOTS=1 rewrites them):\n{}",
        stale.join("\n")
    );
}

/// JSON bodies are kept pretty in the snapshot so a diff reads well.
fn shown(rendered: &str) -> String {
    match serde_json::from_str::<serde_json::Value>(rendered) {
        Ok(body) => serde_json::to_string_pretty(&body).unwrap() + "\n",
        Err(_) => format!("{rendered}\n"),
    }
}
