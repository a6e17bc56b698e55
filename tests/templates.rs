//! Snapshots of every default template, rendered from one update that uses every field. A
//! changed rendering fails here; `UPDATE_SNAPSHOTS=1 cargo test` rewrites the files under
//! `tests/snapshots/` for review in the diff.

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
"#;

#[test]
fn every_default_template_matches_its_snapshot() {
    let ws = Workspace::new(CONFIG);
    let output = ws
        .cmd(&[
            "post",
            "--dry-run",
            "--json",
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
        ])
        .any_stdout()
        .run();
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["findings"], serde_json::json!([]));
    let update = std::env::var_os("UPDATE_SNAPSHOTS").is_some();
    let folder = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/snapshots");
    let mut stale = Vec::new();
    for delivery in report["deliveries"].as_array().unwrap() {
        let name = delivery["channel"].as_str().unwrap();
        let rendered = delivery["rendered"].as_str().unwrap();
        // JSON bodies are kept pretty in the snapshot so a diff reads well.
        let rendered = match serde_json::from_str::<serde_json::Value>(rendered) {
            Ok(body) => serde_json::to_string_pretty(&body).unwrap() + "\n",
            Err(_) => format!("{rendered}\n"),
        };
        let path = folder.join(format!("{name}.txt"));
        if update {
            std::fs::create_dir_all(&folder).unwrap();
            std::fs::write(&path, &rendered).unwrap();
        } else if std::fs::read_to_string(&path).ok().as_deref() != Some(&rendered) {
            stale.push(format!("--- {} ---\n{rendered}", path.display()));
        }
    }
    assert!(
        stale.is_empty(),
        "renderings differ from the snapshots (UPDATE_SNAPSHOTS=1 rewrites them):\n{}",
        stale.join("\n")
    );
}
