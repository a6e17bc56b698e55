//! The status site (issue 13): pages parsed as HTML5 and checked for every update's facts, no
//! script and no reference to anything outside the site, the front page's size, the JSON field
//! by field against Statuspage's documented shape, component statuses through an incident and a
//! maintenance, the link every post carries, whole-site publishing that readers never see half
//! done, `outage site build`, and a screenshot in a real browser when one is installed.

use std::path::Path;

use scraper::{Html, Selector};
use serde_json::Value;

use crate::support::emulator::Emulator;
use crate::support::{Workspace, json, statuspage};

fn config(emulator: &Emulator, site: &str) -> String {
    format!(
        r#"
        [organization]
        name = "Example Inc"
        status_url = "https://status.example.com"
        timezone = "Europe/Paris"
        [[component]]
        name = "Web app"
        group = "Customer"
        [[component]]
        name = "API"
        group = "Customer"
        description = "The public REST API"
        [[component]]
        name = "Billing"
        [[channel]]
        name = "hook"
        kind = "webhook"
        url = "{}"
        [[channel]]
        name = "site"
        kind = "site"
        dir = "public/status"
        {site}
        "#,
        emulator.url("/json/hook")
    )
}

fn post(ws: &Workspace, now: &str, args: &[&str]) -> Value {
    json(
        &ws.cmd(&[&["post", "--yes", "--json"], args].concat())
            .env("OUTAGE_NOW", now)
            .any_stdout()
            .run(),
    )
}

/// The site's delivery in a post's `--json` report.
fn site_delivery(report: &Value) -> &Value {
    report["deliveries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|delivery| delivery["channel"] == "site")
        .unwrap_or_else(|| panic!("no site delivery in {report}"))
}

/// A page of the site, read through its `dir` as a web server would.
fn page(ws: &Workspace, path: &str) -> String {
    ws.read(&format!("public/status/{path}"))
}

fn api(ws: &Workspace, path: &str) -> Value {
    let text = page(ws, &format!("api/v2/{path}"));
    let value: Value = serde_json::from_str(&text).unwrap();
    if let Err(problem) = statuspage::file(path, &value) {
        panic!("api/v2/{path}: {problem}\n{text}");
    }
    value
}

/// An HTML page as a browser takes it: parsed without error, with a language, landmarks and
/// one h1; no script, no style sheet, image, font or frame from anywhere, nothing in the CSS
/// that fetches; every link inside the site or to its own address.
fn check_page(html: &str, path: &str) -> Html {
    let parsed = Html::parse_document(html);
    assert!(parsed.errors.is_empty(), "{path}: {:?}", parsed.errors);
    let select = |css: &str| {
        parsed
            .select(&Selector::parse(css).unwrap())
            .collect::<Vec<_>>()
    };
    assert_eq!(select("html[lang]").len(), 1, "{path}: lang");
    for landmark in ["header", "main", "footer", "nav", "h1"] {
        assert_eq!(select(landmark).len(), 1, "{path}: one {landmark}");
    }
    assert!(
        select("script, img, iframe, object, embed, video, audio, link[rel=stylesheet], [src]")
            .is_empty(),
        "{path}: nothing that loads"
    );
    assert!(
        select("[style]").is_empty() && !html.contains("@import") && !html.contains("url("),
        "{path}: the CSS fetches nothing"
    );
    for element in select("[href]") {
        let href = element.value().attr("href").unwrap();
        assert!(
            !href.contains("//") || href.starts_with("https://status.example.com/"),
            "{path}: {href} leaves the site"
        );
    }
    for time in select("time") {
        let at = time.value().attr("datetime").unwrap();
        assert!(
            at.parse::<jiff::Timestamp>().is_ok() || at.parse::<jiff::civil::Date>().is_ok(),
            "{path}: <time datetime={at}>"
        );
    }
    parsed
}

fn text(parsed: &Html) -> String {
    parsed.root_element().text().collect::<Vec<_>>().join("")
}

fn component_statuses(ws: &Workspace) -> Vec<(String, String)> {
    api(ws, "components.json")["components"]
        .as_array()
        .unwrap()
        .iter()
        .map(|component| {
            (
                component["name"].as_str().unwrap().to_owned(),
                component["status"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

/// A new incident of major impact on two components.
fn opening(message: &str) -> [&str; 12] {
    [
        "--status",
        "investigating",
        "--title",
        "Login failures",
        "--message",
        message,
        "--components",
        "Web app,API",
        "--impact",
        "major",
        "--next-update",
        "30m",
    ]
}

#[test]
fn a_site_follows_an_incident_and_a_maintenance() {
    let emulator = Emulator::start();
    let ws = Workspace::new(&config(&emulator, ""));
    let id = "2026-11-22-login-failures";
    let life: [(&str, &[&str], &str, &str); 4] = [
        (
            "2026-11-22T10:00:00Z",
            &opening("Some customers cannot log in <b>now</b>."),
            "partial_outage",
            "major",
        ),
        (
            "2026-11-22T10:25:00Z",
            &[
                "--incident",
                "latest",
                "--status",
                "identified",
                "--message",
                "A bad certificate is the cause.",
                "--impact",
                "critical",
                "--eta",
                "+45m",
                "--next-update",
                "30m",
            ],
            "major_outage",
            "critical",
        ),
        (
            "2026-11-22T10:50:00Z",
            &[
                "--incident",
                "latest",
                "--status",
                "monitoring",
                "--message",
                "A new certificate is in place.",
                "--correction",
                "--next-update",
                "30m",
            ],
            "major_outage",
            "critical",
        ),
        (
            "2026-11-22T11:20:00Z",
            &[
                "--incident",
                "latest",
                "--status",
                "resolved",
                "--message",
                "Logins work again.",
                "--compensation",
                "Affected customers get a day of credit.",
            ],
            "operational",
            "none",
        ),
    ];
    for (step, (now, args, component, indicator)) in life.iter().enumerate() {
        let report = post(&ws, now, args);
        assert_eq!(report["findings"], serde_json::json!([]), "step {step}");
        // Every post links to the incident's own page.
        let event = emulator.requests().last().unwrap().json();
        assert_eq!(
            event["data"]["incident"]["url"],
            format!("https://status.example.com/incidents/{id}.html"),
            "{event}"
        );
        // The front page: the state, under 20 KB.
        let index = page(&ws, "index.html");
        assert!(index.len() < 20 * 1024, "{} bytes", index.len());
        check_page(&index, "index.html");
        // The incident's page: every update so far, with each of its facts, newest first.
        let incident = check_page(&page(&ws, &format!("incidents/{id}.html")), id);
        let shown = text(&incident);
        let mut at = usize::MAX;
        for (_, args, ..) in life.iter().take(step + 1) {
            let message = args[args.iter().position(|a| *a == "--message").unwrap() + 1];
            let found = shown
                .find(message)
                .unwrap_or_else(|| panic!("{message} in {shown}"));
            assert!(found < at, "newest first");
            at = found;
        }
        for fact in [
            "Impact: major",
            "Affected: Web app, API.",
            "Next update by 11:30 CET.",
        ] {
            assert!(shown.contains(fact), "{fact} in {shown}");
        }
        if step >= 1 {
            assert!(
                shown.contains("Estimated resolution: 12:10 CET (an estimate"),
                "{shown}"
            );
        }
        if step >= 2 {
            assert!(shown.contains("Correction: A new certificate"), "{shown}");
        }
        // The components and the overall indicator follow the incident's impact.
        let statuses = component_statuses(&ws);
        for (name, status) in &statuses {
            let expected = match name.as_str() {
                "Billing" => "operational",
                _ => component,
            };
            assert_eq!(status, expected, "step {step}: {name}");
        }
        assert_eq!(api(&ws, "status.json")["status"]["indicator"], *indicator);
        for file in statuspage::FILES {
            api(&ws, file);
        }
    }
    let incident = check_page(&page(&ws, &format!("incidents/{id}.html")), id);
    let shown = text(&incident);
    assert!(shown.contains("Affected customers get a day of credit."));
    assert!(
        shown.contains("<b>now</b>"),
        "markup shown as text: {shown}"
    );
    assert!(!page(&ws, &format!("incidents/{id}.html")).contains("<b>now"));

    // The JSON of the incident, field by field.
    let incidents = api(&ws, "incidents.json");
    let listed = &incidents["incidents"][0];
    assert_eq!(listed["id"], id);
    assert_eq!(listed["name"], "Login failures");
    assert_eq!(listed["status"], "resolved");
    assert_eq!(listed["impact"], "critical");
    assert_eq!(listed["started_at"], "2026-11-22T11:00:00+01:00");
    assert_eq!(listed["monitoring_at"], "2026-11-22T11:50:00+01:00");
    assert_eq!(listed["resolved_at"], "2026-11-22T12:20:00+01:00");
    assert_eq!(
        listed["shortlink"],
        format!("https://status.example.com/incidents/{id}.html")
    );
    let updates = listed["incident_updates"].as_array().unwrap();
    let statuses: Vec<&str> = updates
        .iter()
        .map(|u| u["status"].as_str().unwrap())
        .collect();
    assert_eq!(
        statuses,
        ["resolved", "monitoring", "identified", "investigating"]
    );
    assert_eq!(
        updates[2]["body"],
        "A bad certificate is the cause.\nImpact: critical.\nEstimated resolution: 12:10 CET (an \
         estimate, not a promise).\nNext update by 11:55 CET."
    );
    let first_change: Vec<(&str, &str, &str)> = updates[3]["affected_components"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["name"].as_str().unwrap(),
                c["old_status"].as_str().unwrap(),
                c["new_status"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        first_change,
        [
            ("Web app", "operational", "partial_outage"),
            ("API", "operational", "partial_outage")
        ]
    );
    let last_change = &updates[0]["affected_components"][0];
    assert_eq!(last_change["old_status"], "major_outage");
    assert_eq!(last_change["new_status"], "operational");
    assert_eq!(
        api(&ws, "incidents/unresolved.json")["incidents"],
        serde_json::json!([])
    );

    // A maintenance: upcoming, then running (under maintenance), then completed.
    let steps: [(&str, &[&str], &str, &str); 3] = [
        (
            "2026-11-23T09:00:00Z",
            &[
                "--status",
                "scheduled",
                "--title",
                "Billing database upgrade",
                "--message",
                "We will upgrade the billing database.",
                "--components",
                "Billing",
                "--starts",
                "2026-11-24T02:00:00Z",
                "--ends",
                "2026-11-24T03:00:00Z",
            ],
            "operational",
            "upcoming.json",
        ),
        (
            "2026-11-24T02:00:00Z",
            &[
                "--incident",
                "latest",
                "--status",
                "in-progress",
                "--message",
                "The upgrade has begun.",
                "--ends",
                "2026-11-24T03:00:00Z",
            ],
            "under_maintenance",
            "active.json",
        ),
        (
            "2026-11-24T02:40:00Z",
            &[
                "--incident",
                "latest",
                "--status",
                "completed",
                "--message",
                "The upgrade is done.",
            ],
            "operational",
            "",
        ),
    ];
    for (now, args, billing, listed_in) in steps {
        post(&ws, now, args);
        let statuses = component_statuses(&ws);
        assert!(
            statuses.contains(&("Billing".into(), billing.into())),
            "{statuses:?}"
        );
        for file in ["upcoming.json", "active.json"] {
            let found =
                api(&ws, &format!("scheduled-maintenances/{file}"))["scheduled_maintenances"]
                    .as_array()
                    .unwrap()
                    .len();
            assert_eq!(found, usize::from(file == listed_in), "{now} {file}");
        }
        let summary = api(&ws, "summary.json");
        let expected = if billing == "under_maintenance" {
            "Service Under Maintenance"
        } else {
            "All Systems Operational"
        };
        assert_eq!(summary["status"]["description"], expected);
        check_page(&page(&ws, "index.html"), "index.html");
    }
    let maintenance = &api(&ws, "scheduled-maintenances.json")["scheduled_maintenances"][0];
    assert_eq!(maintenance["impact"], "maintenance");
    assert_eq!(maintenance["scheduled_for"], "2026-11-24T03:00:00+01:00");
    assert_eq!(maintenance["scheduled_until"], "2026-11-24T04:00:00+01:00");
    assert_eq!(maintenance["status"], "completed");
    let page_text = text(&check_page(
        &page(&ws, "incidents/2026-11-23-billing-database-upgrade.html"),
        "maintenance",
    ));
    assert!(
        page_text.contains("From Tue 24 Nov 03:00 CET to Tue 24 Nov 04:00 CET."),
        "{page_text}"
    );

    // The history lists both, by month; the feed links the pages.
    let history = text(&check_page(&page(&ws, "history.html"), "history.html"));
    assert!(history.contains("November 2026"), "{history}");
    assert!(history.contains("Login failures") && history.contains("Billing database upgrade"));
    let feed = page(&ws, "feed.atom")
        .parse::<atom_syndication::Feed>()
        .unwrap();
    assert_eq!(feed.entries().len(), 7);
    assert_eq!(
        feed.entries()[6].links()[0].href(),
        format!("https://status.example.com/incidents/{id}.html")
    );
}

/// A dry run names each page where it goes (the pages people read whole, the JSON API by
/// length), and those are the pages the post then writes.
#[test]
fn a_dry_run_names_each_page_where_the_post_writes_it() {
    let emulator = Emulator::start();
    let ws = Workspace::new(&config(&emulator, ""));
    let now = "2026-11-22T10:00:00Z";
    let args = opening("Some customers cannot log in.");
    let preview = ws
        .cmd(&[&["post", "--dry-run", "--channels", "site"], &args[..]].concat())
        .env("OUTAGE_NOW", now)
        .any_stdout()
        .run();
    let preview = String::from_utf8(preview.stdout).unwrap();
    let shown: Vec<&str> = preview
        .lines()
        .filter_map(|line| Some(line.strip_prefix("==> ")?.split_once(" <==")?.0))
        .collect();
    assert!(shown.len() > 10, "{preview}");
    // The pages people read whole, the JSON API listed by length.
    assert!(
        preview.contains("/status/index.html <==\n<!doctype html>"),
        "{preview}"
    );
    assert!(
        preview.contains("/status/api/v2/summary.json <== "),
        "{preview}"
    );
    assert!(
        shown
            .iter()
            .all(|path| !std::path::Path::new(path).exists())
    );
    post(&ws, now, &[&["--channels", "site"], &args[..]].concat());
    for path in shown {
        assert!(
            path.starts_with(&ws.file("public/status/").display().to_string()),
            "{path}"
        );
        assert!(
            std::path::Path::new(path).is_file(),
            "{path} was not written"
        );
    }
}

/// Ten open incidents of three updates each, every one with typical words: the front page
/// shows them all and stays under 20 KB.
#[test]
fn the_front_page_stays_under_20_kb_with_ten_open_incidents() {
    let emulator = Emulator::start();
    let ws = Workspace::new(&config(&emulator, ""));
    for n in 0..10 {
        let title = format!("Incident number {n}: slow checkout for some customers");
        let incident = format!("2026-11-22-incident-number-{n}-slow-checkout-for-some");
        post(
            &ws,
            "2026-11-22T10:00:00Z",
            &[
                "--status",
                "investigating",
                "--title",
                &title,
                "--message",
                "Some customers see errors or long waits when they pay. We are looking into it.",
                "--components",
                "Web app,Billing",
                "--impact",
                "minor",
                "--next-update",
                "30m",
            ],
        );
        post(
            &ws,
            "2026-11-22T10:20:00Z",
            &[
                "--incident",
                &incident,
                "--status",
                "identified",
                "--message",
                "A payment provider answers slowly; we are moving traffic to the other one.",
                "--eta",
                "+1h",
                "--next-update",
                "30m",
            ],
        );
        post(
            &ws,
            "2026-11-22T10:40:00Z",
            &[
                "--incident",
                &incident,
                "--status",
                "monitoring",
                "--message",
                "Traffic has moved; payments complete normally again. We are watching.",
                "--next-update",
                "30m",
            ],
        );
    }
    let index = page(&ws, "index.html");
    let shown = text(&check_page(&index, "index.html"));
    for n in 0..10 {
        assert!(shown.contains(&format!("Incident number {n}:")), "{n}");
    }
    assert_eq!(shown.matches("Traffic has moved").count(), 10);
    assert!(index.len() < 20 * 1024, "{} bytes", index.len());
}

/// With `pretty_urls`, posts link to `…/incidents/ID` (the host serves the `.html` file there);
/// the pages keep linking each other by file, so the site also works from `file://`.
#[test]
fn pretty_urls_drop_the_extension_from_the_links_posts_carry() {
    let emulator = Emulator::start();
    let ws = Workspace::new(&config(
        &emulator,
        "base_url = \"https://example.com/status/\"\npretty_urls = true",
    ));
    post(&ws, "2026-11-22T10:00:00Z", crate::support::OPEN);
    let event = emulator.requests()[0].json();
    assert_eq!(
        event["data"]["incident"]["url"],
        "https://example.com/status/incidents/2026-11-22-login-failures"
    );
    let incident = page(&ws, "incidents/2026-11-22-login-failures.html");
    assert!(incident.contains(
        "<link rel=\"canonical\" href=\"https://example.com/status/incidents/2026-11-22-login-failures\">"
    ));
    assert!(page(&ws, "index.html").contains("href=\"incidents/2026-11-22-login-failures.html\""));
    assert_eq!(
        api(&ws, "summary.json")["page"]["url"],
        "https://example.com/status"
    );
}

#[test]
fn a_site_is_configured_or_refused_by_name() {
    let refused = |config: &str, message: &str| {
        let ws = Workspace::new(config);
        ws.cmd(&[&["post", "--yes", "-q"], crate::support::OPEN].concat())
            .stderr(&format!("error: {message}\n"))
            .status(2)
            .run();
        assert!(!ws.file("public").exists(), "nothing written");
    };
    refused(
        "[organization]\nname = \"Example Inc\"\n[[channel]]\nname = \"site\"\nkind = \"site\"\ndir = \"public/status\"\n",
        "[DIR]/channels.toml: channel `site`: a site needs an address for its pages: give it base_url = \"https://...\", or give [organization] a status_url",
    );
    refused(
        "[organization]\nname = \"Example Inc\"\nstatus_url = \"https://status.example.com\"\n[[channel]]\nname = \"site\"\nkind = \"site\"\ndir = \"public/status\"\ntemplate = \"mine.html\"\n",
        "[DIR]/channels.toml: channel #1 `site`: `template` does not apply to kind `site`: its pages use the built-in templates",
    );
    // An update names only the configured components.
    let emulator = Emulator::start();
    let ws = Workspace::new(&config(&emulator, ""));
    ws.cmd(&[&["post", "--yes", "-q", "--components", "Web app,Databse"], crate::support::OPEN].concat())
        .stderr("error: --components / components: no component is named `Databse`; the components are Web app, API, Billing\n")
        .status(2)
        .run();
    assert!(!ws.file("public").exists(), "nothing written");
    // In any case, and spelt as the config spells them on every channel.
    let report = json(
        &ws.cmd(
            &[
                &[
                    "post",
                    "--yes",
                    "--json",
                    "--components",
                    "web app, BILLING",
                ],
                crate::support::OPEN,
            ]
            .concat(),
        )
        .any_stdout()
        .run(),
    );
    assert_eq!(report["deliveries"][0]["outcome"], "delivered");
    assert_eq!(
        emulator.requests()[0].json()["data"]["incident"]["components"],
        serde_json::json!(["Web app", "Billing"])
    );
    let summary = api(&ws, "summary.json");
    let affected: Vec<&str> = summary["incidents"][0]["components"]
        .as_array()
        .unwrap()
        .iter()
        .map(|component| component["name"].as_str().unwrap())
        .collect();
    assert_eq!(affected, ["Web app", "Billing"]);
}

/// A journal kept before the site existed: a post writes the pages it changes and says that
/// the rest needs `outage site build`, which writes every page from the journal alone.
#[test]
fn site_build_writes_every_page_from_the_journal() {
    let emulator = Emulator::start();
    let ws = Workspace::new(&config(&emulator, ""));
    // Sixty incidents a week apart from 2024: more than the site reads for a post.
    crate::support::fill(&ws, 60, &ws.journal().display().to_string(), 7 * 24 * 60);
    let report = post(&ws, "2026-11-22T10:00:00Z", crate::support::OPEN);
    let note = site_delivery(&report)["note"].clone();
    assert!(
        note.as_str()
            .unwrap()
            .contains("`outage site build` writes the pages of earlier incidents"),
        "{report}"
    );
    assert!(
        !ws.file("public/status/incidents/past-incident-0.html")
            .exists()
    );
    ws.cmd(&["site", "build"])
        .stdout(
            "wrote the site for 61 incidents and maintenances (88 files) to [DIR]/public/status\n",
        )
        .run();
    let ids: Vec<String> = ws.query("SELECT id FROM incidents");
    assert_eq!(ids.len(), 61);
    for id in &ids {
        check_page(&page(&ws, &format!("incidents/{id}.html")), id);
    }
    // More than a hundred incidents' worth of months: history.html links the older months.
    let history = check_page(&page(&ws, "history.html"), "history.html");
    let months: Vec<String> = history
        .select(&Selector::parse("a[href^='history/']").unwrap())
        .map(|a| a.value().attr("href").unwrap().to_owned())
        .collect();
    assert!(months.is_empty(), "61 incidents fit one page: {months:?}");
    for month in ["2024-01", "2025-02", "2026-11"] {
        let text = text(&check_page(
            &page(&ws, &format!("history/{month}.html")),
            month,
        ));
        assert!(
            text.contains("Past incident") || text.contains("Login failures"),
            "{text}"
        );
    }
    // Into another folder, for a first publication elsewhere.
    ws.cmd(&["site", "build", "--out", "elsewhere/status"])
        .stdout("wrote the site for 61 incidents and maintenances (88 files) to elsewhere/status\n")
        .run();
    assert_eq!(
        ws.read("elsewhere/status/index.html"),
        page(&ws, "index.html")
    );
    // Built with these settings, the site takes posts without a note; once the organization's
    // name changes, a post writes what it changes and says the other pages wait for a build.
    let site_note = |now: &str| {
        let message = format!("Update at {now}: we are working on a fix.");
        let follow = crate::support::follow_up("2026-11-22-login-failures", &message);
        let report = post(&ws, now, &follow);
        site_delivery(&report)["note"].clone()
    };
    assert_eq!(site_note("2026-11-22T11:00:00Z"), Value::Null);
    ws.edit("channels.toml", "Example Inc", "Example Corporation");
    let note = site_note("2026-11-22T12:00:00Z");
    assert!(
        note.as_str()
            .unwrap()
            .contains("were written with other settings"),
        "{note}"
    );
    assert!(page(&ws, "incidents/past-incident-0.html").contains("Example Inc"));
    ws.cmd(&["site", "build"]).any_stdout().run();
    assert!(!page(&ws, "incidents/past-incident-0.html").contains("Example Inc"));
    assert_eq!(site_note("2026-11-22T13:00:00Z"), Value::Null);
}

/// Every file of the published site, its identity (a file a post did not write is the previous
/// version's, hard-linked) and its content.
fn site_files(ws: &Workspace) -> std::collections::BTreeMap<String, (u64, String)> {
    files_in(ws, "public/status")
}

/// Every file under the workspace's folder `dir`, with its identity and its content.
fn files_in(ws: &Workspace, dir: &str) -> std::collections::BTreeMap<String, (u64, String)> {
    use std::os::unix::fs::MetadataExt;
    let root = std::fs::canonicalize(ws.file(dir)).unwrap();
    let mut files = std::collections::BTreeMap::new();
    let mut folders = vec![root.clone()];
    while let Some(folder) = folders.pop() {
        for entry in std::fs::read_dir(folder).unwrap() {
            let path = entry.unwrap().path();
            let meta = std::fs::metadata(&path).unwrap();
            if meta.is_dir() {
                folders.push(path);
            } else {
                let name = path.strip_prefix(&root).unwrap().display().to_string();
                let content = std::fs::read_to_string(&path).unwrap();
                files.insert(name, (meta.ino(), content));
            }
        }
    }
    files
}

proptest::proptest! {
    #![proptest_config(crate::support::cases(6))]

    /// Once the site is published, a post writes the pages it changes and no other, however
    /// small the journal: its incident's page among the incidents' (each post of a history of
    /// 1,000 recent incidents wrote 1,000 pages), the front page, the history, the feed and the
    /// JSON, each of them changed. The page it writes is the one `outage site build` writes.
    #[test]
    fn a_post_writes_only_the_pages_it_changes(
        steps in proptest::collection::vec(0..4usize, 2..6)
    ) {
        let emulator = Emulator::start();
        let ws = Workspace::new(&config(&emulator, ""));
        let mut open: Vec<String> = Vec::new();
        for (n, step) in steps.into_iter().enumerate() {
            let now = format!("2026-11-22T10:{:02}:00Z", n * 5);
            let message = format!("Step {n}: some customers cannot log in.");
            let title = format!("Login failures {n}");
            let follow = (step > 0 && !open.is_empty()).then(|| open[step % open.len()].clone());
            let args: Vec<&str> = match &follow {
                Some(id) => crate::support::follow_up(id, &message).to_vec(),
                None => vec![
                    "--status", "investigating", "--title", &title, "--message", &message,
                    "--next-update", "30m",
                ],
            };
            let before = (n > 0).then(|| site_files(&ws));
            let report = post(&ws, &now, &args);
            let id = report["incident"].as_str().unwrap().to_owned();
            if follow.is_none() {
                open.push(id.clone());
            }
            let Some(before) = before else { continue };
            let after = site_files(&ws);
            let own = format!("incidents/{id}.html");
            let written: Vec<&String> = after
                .iter()
                .filter(|(name, (inode, _))| before.get(*name).map(|(old, _)| old) != Some(inode))
                .map(|(name, _)| name)
                .collect();
            // Each page written changed: nothing is written again as it was.
            for name in &written {
                proptest::prop_assert_ne!(
                    before.get(*name).map(|(_, content)| content),
                    Some(&after[*name].1),
                    "{} was written as it was",
                    name
                );
            }
            proptest::prop_assert!(written.contains(&&own), "{written:?}");
            for name in &written {
                proptest::prop_assert!(
                    **name == own || !name.starts_with("incidents/"),
                    "{name} was written again: {written:?}"
                );
            }
            let page = ws.read(&format!("public/status/{own}"));
            ws.cmd(&["site", "build", "--out", "built"])
                .env("OUTAGE_NOW", &now)
                .any_stdout()
                .run();
            proptest::prop_assert_eq!(page, ws.read(&format!("built/{own}")));
        }
    }

    /// When what every page shows changes in the config (the organization's name, its time
    /// zone, the components, the site's address or link style), the next post to a published
    /// site over a short history writes every page again: the site is then the one `outage site
    /// build` writes, file for file, and the post says nothing is left to do.
    #[test]
    fn a_post_after_a_settings_change_writes_every_page_again(
        incidents in 1..4usize,
        changes in proptest::sample::subsequence(
            vec![
                ("name = \"Example Inc\"", "name = \"Example Corporation\""),
                ("timezone = \"Europe/Paris\"", "timezone = \"America/New_York\""),
                ("name = \"Billing\"", "name = \"Payments\""),
                ("The public REST API", "Our public REST API"),
                ("dir = \"public/status\"", "dir = \"public/status\"\npretty_urls = true"),
                (
                    "dir = \"public/status\"",
                    "dir = \"public/status\"\nbase_url = \"https://status.example.org\"",
                ),
            ],
            1..=3,
        ),
    ) {
        let emulator = Emulator::start();
        let ws = Workspace::new(&config(&emulator, ""));
        let mut ids = Vec::new();
        for n in 0..incidents {
            let title = format!("Login failures {n}");
            let report = post(&ws, &format!("2026-11-22T10:{:02}:00Z", n * 5), &[
                "--status", "investigating", "--title", &title,
                "--message", "Some customers cannot log in.", "--next-update", "30m",
            ]);
            ids.push(report["incident"].as_str().unwrap().to_owned());
        }
        for (from, to) in &changes {
            ws.edit("channels.toml", from, to);
        }
        let now = "2026-11-22T11:00:00Z";
        let report = post(&ws, now, &crate::support::follow_up(&ids[0], "We found the cause."));
        let site = site_delivery(&report);
        proptest::prop_assert_eq!(&site["outcome"], "delivered");
        proptest::prop_assert!(site["note"].is_null(), "{}", site);
        ws.cmd(&["site", "build", "--out", "built"])
            .env("OUTAGE_NOW", now)
            .any_stdout()
            .run();
        let contents = |dir| -> std::collections::BTreeMap<String, String> {
            files_in(&ws, dir)
                .into_iter()
                .map(|(name, (_, content))| (name, content))
                .collect()
        };
        let (published, built) = (contents("public/status"), contents("built"));
        proptest::prop_assert_eq!(
            published.keys().collect::<Vec<_>>(),
            built.keys().collect::<Vec<_>>()
        );
        // The pages first, then the file that says which settings they show.
        let marker = ".outage-settings";
        let pages = built.iter().filter(|(name, _)| *name != marker);
        for (name, content) in pages.chain(built.get_key_value(marker)) {
            proptest::prop_assert_eq!(&published[name], content, "{} differs", name);
        }
    }
}

/// The site is swapped whole: a reader that opens the site's folder and reads its pages sees
/// one version, never the front page of one post and the JSON of another, while posts go on.
#[test]
fn readers_never_see_half_a_site() {
    let emulator = Emulator::start();
    let ws = Workspace::new(&config(&emulator, ""));
    post(&ws, "2026-11-22T10:00:00Z", crate::support::OPEN);
    let dir = ws.file("public/status");
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let reader = {
        let stop = stop.clone();
        let dir = dir.clone();
        std::thread::spawn(move || {
            let mut reads = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                // As a web server does: the folder is resolved once per request.
                let Ok(version) = std::fs::canonicalize(&dir) else {
                    continue;
                };
                let read = |path: &str| std::fs::read_to_string(version.join(path));
                let (Ok(index), Ok(status)) = (read("index.html"), read("api/v2/status.json"))
                else {
                    // The version before the previous one is removed: a reader that slept
                    // through two posts starts again.
                    continue;
                };
                let updated: Value = serde_json::from_str(&status).unwrap();
                let at = updated["page"]["updated_at"].as_str().unwrap();
                let at: jiff::Timestamp = at.parse().unwrap();
                assert!(
                    index.contains(&format!("datetime=\"{at}\"")),
                    "a front page and a status.json of different posts"
                );
                reads += 1;
            }
            reads
        })
    };
    for minute in 1..=12 {
        post(
            &ws,
            &format!("2026-11-22T10:{:02}:00Z", minute * 4),
            &[
                "--incident",
                "latest",
                "--status",
                "identified",
                "--message",
                &format!("Still working on it, step {minute}."),
                "--next-update",
                "30m",
            ],
        );
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let reads = reader.join().unwrap();
    assert!(reads > 0);
    // Two versions are kept: the current one and the one before, for readers still in it.
    let versions = std::fs::read_dir(ws.file("public/.status.versions"))
        .unwrap()
        .count();
    assert_eq!(versions, 2);
}

/// The site replaces its folder whole, so a folder it did not make is refused, its files kept.
#[test]
fn a_folder_the_site_did_not_make_is_left_alone() {
    let emulator = Emulator::start();
    let ws = Workspace::new(&config(&emulator, ""));
    std::fs::create_dir_all(ws.file("public/status")).unwrap();
    ws.write("public/status/keep.html", "mine");
    let report = json(
        &ws.cmd(&[&["post", "--yes", "--json"], crate::support::OPEN].concat())
            .any_stdout()
            .status(1)
            .run(),
    );
    let site = site_delivery(&report);
    assert_eq!(site["outcome"], "failed");
    assert!(
        site["error"]
            .as_str()
            .unwrap()
            .contains("public/status is a folder outage did not make"),
        "{site}"
    );
    assert_eq!(ws.read("public/status/keep.html"), "mine\n");
    assert_eq!(emulator.requests().len(), 1, "the other channels went out");
}

/// The front page in a real browser (headless Chromium, when installed): it renders, and the
/// screenshot is not blank. `UPDATE_SCREENSHOT=1` saves it as the README's picture.
#[test]
fn the_front_page_renders_in_a_real_browser() {
    let Some(chromium) = ["chromium", "chromium-browser", "google-chrome"]
        .into_iter()
        .find(|name| {
            std::process::Command::new(name)
                .arg("--version")
                .output()
                .is_ok_and(|out| out.status.success())
        })
    else {
        eprintln!(
            "SKIPPED the_front_page_renders_in_a_real_browser: no Chromium installed \
             (apt-get install chromium)"
        );
        return;
    };
    let emulator = Emulator::start();
    let ws = Workspace::new(&config(&emulator, ""));
    post(
        &ws,
        "2026-11-22T10:00:00Z",
        &opening("Some customers cannot log in to the web app. We are looking into it."),
    );
    post(
        &ws,
        "2026-11-22T10:25:00Z",
        &[
            "--incident",
            "latest",
            "--status",
            "identified",
            "--message",
            "An expired certificate on the login service is the cause; we are replacing it.",
            "--eta",
            "+45m",
            "--next-update",
            "30m",
        ],
    );
    post(
        &ws,
        "2026-11-22T10:30:00Z",
        &[
            "--status",
            "scheduled",
            "--title",
            "Billing database upgrade",
            "--message",
            "We will upgrade the billing database; invoices cannot be downloaded meanwhile.",
            "--components",
            "Billing",
            "--starts",
            "2026-11-24T02:00:00Z",
            "--ends",
            "2026-11-24T03:00:00Z",
        ],
    );
    let profile = tempfile::tempdir().unwrap();
    let shot = ws.file("index.png");
    let index = std::fs::canonicalize(ws.file("public/status/index.html")).unwrap();
    let output = std::process::Command::new(chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
            "--window-size=900,1300",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg(format!("--screenshot={}", shot.display()))
        .arg(format!("file://{}", index.display()))
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let png = std::fs::read(&shot).unwrap();
    let decoder = png::Decoder::new(std::io::Cursor::new(&png));
    let mut reader = decoder.read_info().unwrap();
    let mut pixels = vec![0; reader.output_buffer_size().unwrap()];
    let frame = reader.next_frame(&mut pixels).unwrap();
    let pixels = &pixels[..frame.buffer_size()];
    let step = frame.color_type.samples();
    let background = &pixels[..step];
    let inked = pixels
        .chunks(step)
        .filter(|pixel| *pixel != background)
        .count();
    let share = inked as f64 / (pixels.len() / step) as f64;
    assert!(
        (0.03..0.6).contains(&share),
        "{:.1}% of the screenshot differs from its background",
        share * 100.0
    );
    if std::env::var_os("UPDATE_SCREENSHOT").is_some() {
        std::fs::create_dir_all(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs")).unwrap();
        std::fs::write(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/status-site.png"),
            &png,
        )
        .unwrap();
    }
}
