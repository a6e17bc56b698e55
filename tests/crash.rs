//! Nothing lost, nothing doubled: processes killed mid-dispatch, many posts at once, and readers
//! of the banner while it is rewritten.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::support::emulator::{Emulator, Fault};
use crate::support::{OPEN, Workspace, json};

fn workspace(emulator: &Emulator) -> Workspace {
    Workspace::new(&format!(
        r#"
        [organization]
        name = "Example Inc"
        [dispatch]
        timeout = "5s"
        retry_base = "10ms"
        [[channel]]
        name = "banner"
        kind = "banner"
        html_path = "site/banner.html"
        json_path = "site/status.json"
        [[channel]]
        name = "a"
        kind = "webhook"
        url = "{a}"
        [[channel]]
        name = "b"
        kind = "webhook"
        url = "{b}"
        [[channel]]
        name = "c"
        kind = "webhook"
        url = "{c}"
        "#,
        a = emulator.url("/json/a"),
        b = emulator.url("/json/b"),
        c = emulator.url("/json/c"),
    ))
}

/// A small deterministic generator, so a failing run can be repeated.
fn next(seed: &mut u64) -> u64 {
    *seed = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    *seed >> 33
}

#[test]
fn processes_killed_at_random_moments_lose_nothing_and_retry_never_doubles() {
    let emulator = Emulator::start();
    emulator.always("/json/a", Fault::Delay(Duration::from_millis(40)));
    emulator.always("/json/b", Fault::Delay(Duration::from_millis(120)));
    emulator.always("/json/c", Fault::Delay(Duration::from_millis(220)));
    let ws = workspace(&emulator);
    let mut seed = 20261122;
    let mut moments = Vec::new();
    for round in 0..20 {
        let title = format!("Incident {round}");
        let mut child = ws
            .cmd(&[
                "post",
                "--yes",
                "-q",
                "--status",
                "investigating",
                "--title",
                &title,
                "--message",
                "Something fails.",
                "--next-update",
                "30m",
            ])
            .spawn();
        let wait = Duration::from_millis(next(&mut seed) % 300);
        std::thread::sleep(wait);
        let _ = child.kill();
        let status = child.wait().unwrap();
        moments.push(format!(
            "{}ms{}",
            wait.as_millis(),
            if status.success() { " (finished)" } else { "" }
        ));

        // Killed before the very first run had created the journal or its tables (the next
        // run creates them): nothing went out.
        if !ws.journal().exists()
            || ws.query("SELECT count(*) FROM sqlite_master WHERE name = 'deliveries'") == ["0"]
        {
            assert!(
                emulator.requests().is_empty(),
                "sent before the journal existed"
            );
            continue;
        }
        // The journal is always readable, and every delivery is delivered, failed or unknown.
        let states = ws.query("SELECT state FROM deliveries");
        assert!(
            states
                .iter()
                .all(|s| ["delivered", "failed", "pending"].contains(&s.as_str())),
            "{states:?}"
        );
        // Nothing was sent that the journal does not know about.
        let ids: Vec<String> = ws.query("SELECT id FROM deliveries");
        for request in emulator.requests() {
            assert!(
                ids.contains(&request.header("webhook-id").to_owned()),
                "an unrecorded request went out"
            );
        }
        let id = format!("2026-11-22-incident-{round}");
        if ws.query(&format!("SELECT count(*) FROM incidents WHERE id = '{id}'")) == ["0"] {
            continue; // killed before anything was recorded: nothing was sent either
        }
        let acknowledged = ws.query(&format!(
            "SELECT d.id FROM deliveries d JOIN updates u ON u.id = d.update_id WHERE u.incident_id = '{id}' AND d.state = 'delivered' AND d.kind = 'webhook'"
        ));
        ws.cmd(&["retry", &id, "--include-unknown", "-q"])
            .any_stdout()
            .run();
        let after = ws.query(&format!(
            "SELECT d.state FROM deliveries d JOIN updates u ON u.id = d.update_id WHERE u.incident_id = '{id}'"
        ));
        assert!(
            after.iter().all(|s| s == "delivered"),
            "retry completes the update: {after:?}"
        );
        let mut sent: HashMap<String, usize> = HashMap::new();
        for request in emulator.requests() {
            *sent
                .entry(request.header("webhook-id").to_owned())
                .or_default() += 1;
        }
        for delivery in acknowledged {
            assert_eq!(
                sent.get(&delivery),
                Some(&1),
                "an acknowledged delivery was sent again"
            );
        }
    }
    let killed_mid_way = moments
        .iter()
        .filter(|m| !m.ends_with("(finished)"))
        .count();
    assert!(
        killed_mid_way >= 10,
        "too few kills landed mid-way: {moments:?}"
    );
}

#[test]
fn ten_posts_at_once_on_one_incident_all_land_with_distinct_sequence_numbers() {
    let emulator = Emulator::start();
    let ws = workspace(&emulator);
    ws.cmd(&[
        "post",
        "--yes",
        "-q",
        "--status",
        "investigating",
        "--title",
        "Login failures",
        "--message",
        "Logins fail.",
        "--next-update",
        "30m",
    ])
    .any_stdout()
    .run();
    let children: Vec<_> = (0..10)
        .map(|n| {
            let message = format!("Update number {n} from another engineer.");
            let follow = crate::support::follow_up("latest", &message);
            ws.cmd(&[&["post", "--yes", "-q"], &follow[..]].concat())
                .spawn()
        })
        .collect();
    for child in children {
        let output = child.wait_with_output().unwrap();
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let sequences = ws.query("SELECT sequence FROM updates ORDER BY sequence");
    let expected: Vec<String> = (1..=11).map(|n| n.to_string()).collect();
    assert_eq!(sequences, expected);
    assert_eq!(
        ws.query("SELECT count(*) FROM deliveries WHERE state = 'delivered'"),
        ["44"]
    );
    let messages = ws.query("SELECT count(DISTINCT json_extract(facts, '$.message')) FROM updates");
    assert_eq!(messages, ["11"], "no update was lost or merged");
    // Serialised, not merely numbered: each post waited for the one before to finish sending.
    let order: Vec<String> = emulator
        .requests_to("/json/a")
        .iter()
        .map(|r| r.json()["data"]["update"]["sequence"].to_string())
        .collect();
    assert_eq!(order, expected);
}

#[test]
fn a_reader_polling_the_banner_never_sees_a_partial_file() {
    let emulator = Emulator::start();
    let ws = workspace(&emulator);
    let html = ws.file("site/banner.html");
    let state = ws.file("site/status.json");
    let stop = Arc::new(AtomicBool::new(false));
    let reader = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut reads = 0;
            while !stop.load(Ordering::Relaxed) {
                if let Ok(text) = std::fs::read_to_string(&html) {
                    assert!(
                        text.starts_with("<div") && text.ends_with("</div>\n"),
                        "partial banner: {text:?}"
                    );
                    reads += 1;
                }
                if let Ok(text) = std::fs::read_to_string(&state) {
                    serde_json::from_str::<serde_json::Value>(&text).expect("a whole JSON file");
                }
            }
            reads
        })
    };
    let started = Instant::now();
    for round in 0..12 {
        let title = format!("Incident {round} with a longer title to make the file bigger");
        let status = if round % 3 == 2 {
            "resolved"
        } else {
            "investigating"
        };
        let mut args = vec![
            "post",
            "--yes",
            "-q",
            "--channels",
            "banner",
            "--status",
            status,
            "--message",
            if status == "resolved" {
                "It works again for everyone."
            } else {
                "Something fails for some customers."
            },
        ];
        if status == "resolved" {
            args.extend(["--incident", "latest"]);
        } else {
            args.extend(["--title", &title, "--next-update", "30m"]);
        }
        ws.cmd(&args).any_stdout().run();
    }
    stop.store(true, Ordering::Relaxed);
    let reads = reader.join().expect("the reader saw only whole files");
    assert!(
        reads > 10,
        "the reader barely ran ({reads} reads in {:?})",
        started.elapsed()
    );
    let report = json(&ws.cmd(&["status", "--json"]).any_stdout().run());
    assert_eq!(
        report["open"].as_array().unwrap().len(),
        4,
        "eight opened, four resolved"
    );
}

/// While the deliveries wait on slow remotes, the journal's own file already holds the update
/// and each attempt: a copy of `journal.db` alone, as a backup that knows nothing of SQLite's
/// write-ahead log takes it, made mid-post has them, not only what was there before the post.
#[test]
fn a_copy_of_the_journal_file_made_while_deliveries_wait_holds_them() {
    let emulator = Emulator::start();
    for path in ["/json/a", "/json/b", "/json/c"] {
        emulator.always(path, Fault::Delay(Duration::from_secs(4)));
    }
    let ws = workspace(&emulator);
    let mut child = ws.cmd(&[&["post", "--yes", "-q"], OPEN].concat()).spawn();
    let copy = ws.file("copy.db");
    let copied = || -> Option<Vec<String>> {
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", copy.display()));
        }
        std::fs::copy(ws.journal(), &copy).ok()?;
        let conn = rusqlite::Connection::open(&copy).ok()?;
        let mut statement = conn
            .prepare("SELECT channel, state, attempts FROM deliveries ORDER BY channel")
            .ok()?;
        let rows = statement
            .query_map([], |row| {
                Ok(format!(
                    "{}|{}|{}",
                    row.get::<_, String>(0)?,
                    row.get::<_, String>(1)?,
                    row.get::<_, i64>(2)?
                ))
            })
            .ok()?;
        rows.collect::<Result<_, _>>().ok()
    };
    let expected = [
        "a|pending|1",
        "b|pending|1",
        "banner|delivered|1",
        "c|pending|1",
    ];
    // Well within the remotes' four seconds; a torn copy (taken mid-write) is taken again.
    let deadline = Instant::now() + Duration::from_secs(3);
    let mut seen = None;
    while Instant::now() < deadline {
        seen = copied();
        if seen.as_deref() == Some(&expected.map(String::from)[..]) {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let running = child.try_wait().unwrap().is_none();
    let _ = child.kill();
    let _ = child.wait();
    assert!(running, "the post was still waiting on the remotes");
    assert_eq!(seen.unwrap_or_default(), expected);
}
