//! The team journal on a real PostgreSQL server (issue 12): the whole incident life through it,
//! two "machines" (separate working folders and configs, one database) posting at once, a killed
//! process finished from the other machine, the server lost mid-post, libpq's environment, TLS,
//! and a copy round trip with SQLite. Each test starts its own throwaway server, and says that
//! it skipped when PostgreSQL is not installed.

// The child of a concurrency test is killed with a signal.
#![allow(unsafe_code)]

use std::time::{Duration, Instant};

use crate::support::emulator::{Emulator, Fault};
use crate::support::postgres::{PASSWORD, Server};
use crate::support::{LIFE, MAINTENANCE, OPEN, Workspace, hook_and_banner, json};

/// A working folder of its own (a "machine"), journaling to `url`.
fn machine(emulator: &Emulator, url: &str) -> Workspace {
    hook_and_banner(emulator, "").env("OUTAGE_STATE", url)
}

fn post(ws: &Workspace, args: &[&str]) -> serde_json::Value {
    json(
        &ws.cmd(&[&["post", "--yes", "--json"], args].concat())
            .any_stdout()
            .any_stderr()
            .run(),
    )
}

#[test]
fn a_whole_incident_lives_in_postgresql() {
    let Some(server) = Server::start("a_whole_incident_lives_in_postgresql") else {
        return;
    };
    let url = server.database("life");
    let emulator = Emulator::start();
    let ws = machine(&emulator, &url);
    for update in LIFE {
        post(&ws, update);
    }
    let history = json(&ws.cmd(&["history", "latest", "--json"]).any_stdout().run());
    let statuses: Vec<&str> = history["updates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|update| update["status"].as_str().unwrap())
        .collect();
    assert_eq!(
        statuses,
        ["investigating", "identified", "monitoring", "resolved"]
    );
    let events: Vec<String> = emulator
        .requests()
        .iter()
        .map(|r| {
            let event = r.json();
            format!(
                "{} {}",
                event["type"].as_str().unwrap(),
                event["data"]["update"]["previous_sequence"]
            )
        })
        .collect();
    assert_eq!(
        events,
        [
            "incident.created null",
            "incident.updated 1",
            "incident.updated 2",
            "incident.closed 3"
        ]
    );
    ws.cmd(&["status"])
        .stdout("No open incidents or maintenance.\n")
        .run();
    // A rerun is found in the database: nothing is sent again.
    let rerun = post(&ws, LIFE[3]);
    assert_eq!(rerun["rerun"], true);
    assert_eq!(emulator.requests().len(), 4);
    let rows = server
        .client("life")
        .query_one(
            "SELECT count(*) FROM deliveries WHERE state = 'delivered'",
            &[],
        )
        .unwrap()
        .get::<_, i64>(0);
    assert_eq!(rows, 8);
    ws.assert_no_secrets(&[], &[PASSWORD]);
}

/// Two machines post 10 follow-ups each to one incident at once: every update gets its own
/// consecutive sequence number and each post is serialised by the incident's lock; posts to
/// different incidents overlap instead of queueing.
#[test]
fn two_machines_share_one_journal() {
    let Some(server) = Server::start("two_machines_share_one_journal") else {
        return;
    };
    let url = server.database("team");
    let emulator = Emulator::start();
    emulator.with(|inner| inner.latency = Some(Duration::from_millis(150)));
    let laptop = machine(&emulator, &url);
    let bastion = machine(&emulator, &url);
    post(&laptop, OPEN);
    let follow_up = |ws: &Workspace, n: usize| {
        let message = format!("Update {n} from {}.", ws.path().display());
        let follow = crate::support::follow_up("2026-11-22-login-failures", &message);
        ws.cmd(&[&["post", "--yes", "-q"], &follow[..]].concat())
            .spawn()
    };
    let mut children = Vec::new();
    for n in 0..10 {
        children.push(follow_up(&laptop, n));
        children.push(follow_up(&bastion, n));
    }
    for child in children {
        let output = child.wait_with_output().unwrap();
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let mut client = server.client("team");
    let sequences: Vec<i64> = client
        .query("SELECT sequence FROM updates ORDER BY sequence", &[])
        .unwrap()
        .iter()
        .map(|row| row.get(0))
        .collect();
    assert_eq!(
        sequences,
        (1..=21).collect::<Vec<i64>>(),
        "none lost, none twice"
    );
    let events: Vec<(u64, u64)> = emulator
        .requests()
        .iter()
        .map(|r| {
            let event = r.json();
            (
                event["data"]["update"]["sequence"].as_u64().unwrap(),
                event["data"]["update"]["previous_sequence"]
                    .as_u64()
                    .unwrap_or(0),
            )
        })
        .collect();
    assert_eq!(events.len(), 21);
    for (sequence, previous) in &events {
        assert_eq!(*previous, sequence - 1, "the thread is intact");
    }

    assert_eq!(
        emulator.with(|inner| inner.concurrent_peak),
        1,
        "posts to one incident never send at the same time"
    );

    // Different incidents: the two machines' posts run at the same time.
    for (ws, title) in [(&laptop, "Billing delays"), (&bastion, "Search errors")] {
        ws.cmd(&[
            "post",
            "--yes",
            "-q",
            "--status",
            "investigating",
            "--title",
            title,
            "--message",
            "Some requests fail.",
            "--next-update",
            "30m",
        ])
        .any_stdout()
        .run();
    }
    // A second per request: the two processes overlap even when the machine is slow to start
    // one of them.
    emulator.with(|inner| {
        inner.concurrent_peak = 0;
        inner.latency = Some(Duration::from_secs(1));
    });
    let a = laptop
        .cmd(&[
            "post",
            "--yes",
            "-q",
            "--incident",
            "2026-11-22-billing-delays",
            "--status",
            "identified",
            "--message",
            "Cause found.",
            "--next-update",
            "30m",
        ])
        .spawn();
    let b = bastion
        .cmd(&[
            "post",
            "--yes",
            "-q",
            "--incident",
            "2026-11-22-search-errors",
            "--status",
            "identified",
            "--message",
            "Cause found.",
            "--next-update",
            "30m",
        ])
        .spawn();
    assert!(a.wait_with_output().unwrap().status.success());
    assert!(b.wait_with_output().unwrap().status.success());
    assert_eq!(
        emulator.with(|inner| inner.concurrent_peak),
        2,
        "posts to different incidents overlap instead of queueing"
    );
    // Each machine's banner shows the shared state: both incidents, whichever posted last.
    for ws in [&laptop, &bastion] {
        let banner = ws.read("banner.html");
        for title in ["Login failures", "Billing delays", "Search errors"] {
            assert!(banner.contains(title), "{title} missing from {banner}");
        }
    }
}

/// A process killed during dispatch on one machine is finished by `retry` from the other:
/// nothing lost, nothing doubled.
#[test]
fn a_killed_post_is_finished_from_another_machine() {
    let Some(server) = Server::start("a_killed_post_is_finished_from_another_machine") else {
        return;
    };
    let url = server.database("killed");
    let emulator = Emulator::start();
    emulator.fail("/json/hook", vec![Fault::Delay(Duration::from_secs(30))]);
    let laptop = machine(&emulator, &url);
    let bastion = machine(&emulator, &url);
    let mut child = laptop
        .cmd(&[&["post", "--yes", "-q"], OPEN].concat())
        .spawn();
    let started = Instant::now();
    while emulator.requests().is_empty() {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "the request never arrived"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    // The other machine sees the delivery as unknown once nobody holds the incident.
    let history = json(
        &bastion
            .cmd(&["history", "latest", "--json"])
            .any_stdout()
            .run(),
    );
    assert_eq!(history["updates"][0]["deliveries"][0]["outcome"], "unknown");
    // A JSON webhook is safe to send again (its receiver drops the repeated webhook-id).
    let report = json(
        &bastion
            .cmd(&["retry", "latest", "--json"])
            .any_stdout()
            .run(),
    );
    assert_eq!(report["deliveries"][0]["outcome"], "delivered");
    let requests = emulator.requests_to("/json/hook");
    assert_eq!(requests.len(), 2);
    assert_eq!(
        requests[0].header("webhook-id"),
        requests[1].header("webhook-id")
    );
    let report = json(
        &laptop
            .cmd(&["retry", "latest", "--json"])
            .any_stdout()
            .run(),
    );
    assert!(
        report["deliveries"]
            .as_array()
            .unwrap()
            .iter()
            .all(|d| d["outcome"] == "delivered")
    );
    assert_eq!(
        emulator.requests_to("/json/hook").len(),
        2,
        "nothing is sent twice"
    );
}

/// A delivery recorded without a rendering (an earlier version could leave one) is rendered by
/// `retry`, which stores what it made apart, as every delivery's rendering is from schema 4.
#[test]
fn retry_stores_the_rendering_it_makes() {
    let Some(server) = Server::start("retry_stores_the_rendering_it_makes") else {
        return;
    };
    let url = server.database("rendering");
    let failing = Emulator::start();
    failing.always("/json/hook", Fault::status(503, ""));
    let ws = machine(&failing, &url);
    ws.cmd(&[&["post", "--yes", "-q"], OPEN].concat())
        .any_stdout()
        .any_stderr()
        .status(1)
        .run();
    let mut client = server.client("rendering");
    client
        .batch_execute(
            "UPDATE deliveries SET state = 'pending', attempts = 0, rendered = '', \
             payload = 'null', rendering = NULL WHERE channel = 'hook'",
        )
        .unwrap();
    let emulator = Emulator::start();
    ws.edit(
        "channels.toml",
        &failing.url("/json/hook"),
        &emulator.url("/json/hook"),
    );
    let report = json(&ws.cmd(&["retry", "latest", "--json"]).any_stdout().run());
    assert_eq!(report["deliveries"][0]["outcome"], "delivered");
    let sent = emulator.requests()[0].json();
    let stored: Vec<(String, String, String)> = client
        .query(
            "SELECT d.payload, d.rendered, r.payload FROM deliveries d \
             JOIN renderings r ON r.id = d.rendering WHERE d.channel = 'hook'",
            &[],
        )
        .unwrap()
        .iter()
        .map(|row| (row.get(0), row.get(1), row.get(2)))
        .collect();
    assert_eq!(stored.len(), 1, "{stored:?}");
    let (inline, shown, payload) = &stored[0];
    assert_eq!((inline.as_str(), shown.as_str()), ("", ""));
    let payload: serde_json::Value = serde_json::from_str(payload).unwrap();
    let body: serde_json::Value = serde_json::from_str(payload["body"].as_str().unwrap()).unwrap();
    assert_eq!(body["data"]["text"], sent["data"]["text"]);
}

/// The database lost: before sending, one clear error and nothing sent; after a request went
/// out, the delivery stays pending, reads as unknown, and is never sent again on its own.
#[test]
fn a_lost_database_is_handled_like_a_lost_disk() {
    let Some(server) = Server::start("a_lost_database_is_handled_like_a_lost_disk") else {
        return;
    };
    let url = server.database("lost");
    let emulator = Emulator::start();
    let chat = format!(
        "[[channel]]\nname = \"chat\"\nkind = \"webhook\"\nformat = \"slack\"\nurl = \"{}\"",
        emulator.url("/slack/chat")
    );
    let ws = hook_and_banner(&emulator, &chat).env("OUTAGE_STATE", &url);
    server.stop();
    let output = ws
        .cmd(&[&["post", "--yes"], OPEN].concat())
        .any_stderr()
        .status(2)
        .run();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.starts_with(&format!(
            "error: cannot connect to the journal at postgres://postgres@127.0.0.1:{}/lost?sslmode=disable: ",
            server.port
        )),
        "{stderr}"
    );
    assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
    assert!(emulator.requests().is_empty());
    server.restart();

    emulator.fail("/slack/chat", vec![Fault::Delay(Duration::from_secs(2))]);
    let child = ws.cmd(&[&["post", "--yes", "-q"], OPEN].concat()).spawn();
    let started = Instant::now();
    while emulator.requests_to("/slack/chat").is_empty() {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "the request never arrived"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    server.stop();
    let output = child.wait_with_output().unwrap();
    assert_eq!(
        output.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    server.restart();
    let history = json(&ws.cmd(&["history", "latest", "--json"]).any_stdout().run());
    let chat = history["updates"][0]["deliveries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["channel"] == "chat")
        .unwrap()
        .clone();
    assert_eq!(chat["outcome"], "unknown");
    // What the post left undone is finished (the banner, when the server went before its
    // outcome was written) and the chat message is held back, or, with nothing else to do, the
    // retry is refused for it; not for another reason (a journal it could not reach would send
    // nothing too).
    let output = ws
        .cmd(&["retry", "latest", "--json"])
        .any_stdout()
        .any_stderr()
        .any_status()
        .run();
    match output.status.code() {
        Some(2) => assert_eq!(
            String::from_utf8_lossy(&output.stderr),
            "error: 1 delivery(ies) of update 1 have an unknown outcome (the process ended \
             mid-request) and may have gone out; check the channel, then pass \
             --include-unknown to send them again\n"
        ),
        code => {
            assert_eq!(code, Some(1), "{output:?}");
            let report = json(&output);
            let outcomes = crate::support::delivery_fields(&report, &["channel", "outcome"]);
            assert_eq!(
                outcomes,
                ["hook delivered", "chat unknown", "banner delivered"]
            );
        }
    }
    assert_eq!(
        emulator.requests_to("/slack/chat").len(),
        1,
        "a chat message that may have gone out is not sent again without --include-unknown"
    );
}

/// libpq's environment variables fill what the URL leaves out; the config can name the URL's
/// variable (`[state] url_env`) so the password stays out of the file.
#[test]
fn libpq_environment_and_url_env_work_as_users_expect() {
    let Some(server) = Server::start("libpq_environment_and_url_env_work_as_users_expect") else {
        return;
    };
    server.database("env");
    let emulator = Emulator::start();
    let ws = machine(&emulator, "postgresql://")
        .env("PGHOST", "127.0.0.1")
        .env("PGPORT", &server.port.to_string())
        .env("PGUSER", "postgres")
        .env("PGPASSWORD", PASSWORD)
        .env("PGDATABASE", "env")
        .env("PGSSLMODE", "disable");
    post(&ws, OPEN);
    assert_eq!(
        server
            .client("env")
            .query_one("SELECT count(*) FROM updates", &[])
            .unwrap()
            .get::<_, i64>(0),
        1
    );
    let configured = Workspace::new(&format!(
        r#"
        [organization]
        name = "Example Inc"
        [state]
        url_env = "OUTAGE_DATABASE_URL"
        [[channel]]
        name = "hook"
        kind = "webhook"
        url = "{}"
        "#,
        emulator.url("/json/hook"),
    ))
    .env("OUTAGE_DATABASE_URL", &server.url("env"));
    configured
        .cmd(&["status"])
        .env_remove("OUTAGE_STATE")
        .stdout(
            "
            INCIDENT                   STATUS         AGE     LAST UPDATE  NEXT UPDATE DUE  TITLE
            2026-11-22-login-failures  investigating  0m ago  0m ago       10:30 UTC        Login failures
            ",
        )
        .run();
    configured
        .cmd(&["status"])
        .env_remove("OUTAGE_STATE")
        .env_remove("OUTAGE_DATABASE_URL")
        .stderr("error: [DIR]/channels.toml: state.url_env names OUTAGE_DATABASE_URL, which is not set; export OUTAGE_DATABASE_URL with the journal's postgres:// URL\n")
        .status(2)
        .run();
}

/// TLS with libpq's modes: `verify-full` checks the chain and the name against `sslrootcert`,
/// `require` encrypts without checking, and a wrong root is refused.
#[test]
fn tls_honours_sslmode_and_sslrootcert() {
    let Some(server) = Server::start("tls_honours_sslmode_and_sslrootcert") else {
        return;
    };
    server.database("tls");
    let authority = crate::support::tls::Authority::for_name("localhost");
    server.enable_tls(&authority.cert_pem, &authority.key_pem);
    let emulator = Emulator::start();
    let ws = machine(&emulator, "");
    ws.write("root.pem", &authority.ca_pem);
    let other = crate::support::tls::ca();
    ws.write("other.pem", &other.pem());
    let url = |host: &str, mode: &str, root: &str| {
        let mut url = format!(
            "postgres://postgres:{PASSWORD}@{host}:{}/tls?sslmode={mode}",
            server.port
        );
        if !root.is_empty() {
            url.push_str(&format!("&sslrootcert={}", ws.file(root).display()));
        }
        url
    };
    for (state, works) in [
        (url("localhost", "verify-full", "root.pem"), true),
        (url("localhost", "require", ""), true),
        (url("127.0.0.1", "verify-ca", "root.pem"), true),
        (url("127.0.0.1", "verify-full", "root.pem"), false),
        (url("localhost", "verify-full", "other.pem"), false),
    ] {
        let output = ws
            .cmd(&["status"])
            .env("OUTAGE_STATE", &state)
            .any_stdout()
            .any_stderr()
            .any_status()
            .run();
        assert_eq!(
            output.status.success(),
            works,
            "{state}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        ws.assert_no_secrets(&[output], &[PASSWORD]);
    }
}

/// `outage journal copy` moves every kind of record from SQLite to PostgreSQL and back, and
/// refuses to copy into a journal that is not empty.
#[test]
fn journal_copy_round_trips_every_record() {
    let Some(server) = Server::start("journal_copy_round_trips_every_record") else {
        return;
    };
    let url = server.database("copy");
    let emulator = Emulator::start();
    emulator.fail("/json/hook", vec![Fault::status(503, "")]);
    let ws = Workspace::new(&format!(
        "[organization]\nname = \"Example Inc\"\n[dispatch]\nmax_attempts = 1\n[[channel]]\nname = \"hook\"\nkind = \"webhook\"\nurl = \"{}\"\n[[channel]]\nname = \"banner\"\nkind = \"banner\"\nhtml_path = \"banner.html\"\n",
        emulator.url("/json/hook")
    ));
    // Every kind of record: an incident and a maintenance, an idempotency key, an allowed rule,
    // a failed and a delivered delivery, a skipped one.
    ws.cmd(&[&["post", "--yes", "-q", "--idempotency-key", "ci-1"], OPEN].concat())
        .any_stdout()
        .any_stderr()
        .status(1)
        .run();
    ws.cmd(&[
        "post",
        "--yes",
        "-q",
        "--incident",
        "latest",
        "--status",
        "identified",
        "--message",
        "We apologize for any inconvenience.",
        "--next-update",
        "30m",
        "--allow",
        "stock-apology=legal wording",
    ])
    .any_stdout()
    .any_stderr()
    .run();
    ws.cmd(&[
        "post",
        "--yes",
        "-q",
        "--status",
        "scheduled",
        "--title",
        "Database upgrade",
        "--message",
        "Read-only dashboard.",
        "--starts",
        "+2h",
        "--ends",
        "+3h",
    ])
    .any_stdout()
    .any_stderr()
    .run();
    let sqlite = ws.journal().display().to_string();
    ws.cmd(&["journal", "copy", "--from", &sqlite, "--to", &url])
        .stdout("copied 2 incidents, 3 updates and 6 deliveries from [DIR]/journal.db to postgres://postgres@127.0.0.1:PORT/copy?sslmode=disable\n".replace("PORT", &server.port.to_string()).as_str())
        .run();
    ws.cmd(&["journal", "copy", "--from", &sqlite, "--to", &url])
        .stderr(&format!("error: postgres://postgres@127.0.0.1:{}/copy?sslmode=disable already holds incidents; copy into an empty journal\n", server.port))
        .status(2)
        .run();
    let back = ws.file("back.db").display().to_string();
    ws.cmd(&["journal", "copy", "--from", &url, "--to", &back])
        .any_stdout()
        .run();
    let dump = |from: &str| {
        let out = ws.file(&format!("dump-{}.json", from.len()));
        ws.cmd(&[
            "journal",
            "copy",
            "--from",
            from,
            "--to",
            &out.display().to_string(),
        ])
        .any_stdout()
        .run();
        std::fs::read_to_string(out).unwrap()
    };
    assert_eq!(
        dump(&sqlite),
        dump(&back),
        "the round trip keeps every record as it was"
    );
    // The copy works: a rerun is found there, and the history reads the same.
    let from_pg = ws
        .cmd(&["history", "latest", "--json"])
        .env("OUTAGE_STATE", &url)
        .any_stdout()
        .run();
    let from_sqlite = ws.cmd(&["history", "latest", "--json"]).any_stdout().run();
    assert_eq!(json(&from_pg), json(&from_sqlite));
}

/// The README's least-privilege setup, run as written: the tool's role owns its schema and
/// nothing else, and creates the journal there on first use; a monitoring role reads it for
/// `status --check` and is refused, by name, when it tries to post, with nothing sent.
#[test]
fn the_readmes_least_privilege_roles_work() {
    let Some(server) = Server::start("the_readmes_least_privilege_roles_work") else {
        return;
    };
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    // Each statement on its own: CREATE DATABASE cannot run inside a transaction block.
    let statements = |marker: &str| -> Vec<String> {
        let start = readme
            .find(marker)
            .unwrap_or_else(|| panic!("{marker} in README"));
        let sql = &readme[start + marker.len()..];
        sql[..sql.find("```").unwrap()]
            .split(";\n")
            .filter(|statement| !statement.trim().is_empty())
            .map(str::to_owned)
            .collect()
    };
    let mut admin = server.admin();
    for statement in statements("```sql\n-- as a superuser, once\n") {
        admin.batch_execute(&statement).unwrap();
    }
    let mut team = server.client("outage");
    for statement in statements("```sql\n-- connected to the database outage\n") {
        team.batch_execute(&statement).unwrap();
    }
    team.batch_execute(
        "ALTER ROLE outage PASSWORD 'role-password-1'; \
         ALTER ROLE outage_monitor PASSWORD 'role-password-2'",
    )
    .unwrap();
    let url = |role: &str, password: &str| {
        format!(
            "postgres://{role}:{password}@127.0.0.1:{}/outage?sslmode=disable",
            server.port
        )
    };
    let emulator = Emulator::start();
    let ws = machine(&emulator, &url("outage", "role-password-1"));
    post(&ws, OPEN);
    let tables: Vec<String> = team
        .query(
            "SELECT schemaname || '.' || tablename FROM pg_tables WHERE tableowner = 'outage' \
             ORDER BY 1",
            &[],
        )
        .unwrap()
        .iter()
        .map(|row| row.get(0))
        .collect();
    assert_eq!(
        tables,
        [
            "outage.deliveries",
            "outage.incidents",
            "outage.outage_schema",
            "outage.renderings",
            "outage.updates"
        ]
    );
    let monitor = url("outage_monitor", "role-password-2");
    // The monitor reads what the owner does, the renderings stored apart included.
    let history = |state: &str| {
        json(
            &ws.cmd(&["history", "--json"])
                .env("OUTAGE_STATE", state)
                .any_stdout()
                .run(),
        )
    };
    assert_eq!(
        history(&monitor),
        history(&url("outage", "role-password-1"))
    );
    ws.cmd(&["status", "--check"])
        .env("OUTAGE_STATE", &monitor)
        .stdout(
            "
            INCIDENT                   STATUS         AGE     LAST UPDATE  NEXT UPDATE DUE  TITLE
            2026-11-22-login-failures  investigating  0m ago  0m ago       10:30 UTC        Login failures
            ",
        )
        .run();
    ws.cmd(&[&["post", "--yes", "-q"], LIFE[1]].concat())
        .env("OUTAGE_STATE", &monitor)
        .stderr(&format!(
            "error: the journal at postgres://outage_monitor@127.0.0.1:{}/outage?sslmode=disable \
             may only be read by this role; post with the role that owns the journal's schema \
             (a read-only role suits `outage status`)\n",
            server.port
        ))
        .status(2)
        .run();
    assert_eq!(
        emulator.requests().len(),
        1,
        "the refused post sent nothing"
    );
    ws.assert_no_secrets(&[], &["role-password-1", "role-password-2"]);
}

/// Issue 15: ticks on two machines sharing the journal, at the same moment, post each step of a
/// maintenance once.
#[test]
fn ticks_on_two_machines_post_each_step_once() {
    let Some(server) = Server::start("ticks_on_two_machines_post_each_step_once") else {
        return;
    };
    let url = server.database("ticks");
    let emulator = Emulator::start();
    let machines = [machine(&emulator, &url), machine(&emulator, &url)];
    machines[0]
        .cmd(
            &[
                &["post", "--yes", "-q"],
                MAINTENANCE,
                &["--remind", "1h", "--auto"],
            ]
            .concat(),
        )
        .any_stdout()
        .run();
    for now in [
        "2026-11-24T01:00:10Z",
        "2026-11-24T02:00:10Z",
        "2026-11-24T03:00:10Z",
    ] {
        let children: Vec<_> = machines
            .iter()
            .chain(machines.iter())
            .map(|ws| ws.cmd(&["tick", "-q"]).env("OUTAGE_NOW", now).spawn())
            .collect();
        let mut posted = 0;
        for child in children {
            let output = child.wait_with_output().unwrap();
            assert!(output.status.success(), "{output:?}");
            posted += String::from_utf8_lossy(&output.stdout)
                .matches(") posted (")
                .count();
        }
        assert_eq!(posted, 1, "one tick posts the step due at {now}");
    }
    let statuses = crate::support::hook_statuses(&emulator);
    assert_eq!(
        statuses,
        ["scheduled", "scheduled", "in-progress", "completed"]
    );
}

/// A database that holds someone else's `incidents` table is refused by name, untouched; one
/// that holds outage's journal, created by another process a moment before, is not mistaken for
/// it (the tables are read in one snapshot).
#[test]
fn a_foreign_incidents_table_is_refused_and_a_fresh_journal_is_not() {
    let Some(server) =
        Server::start("a_foreign_incidents_table_is_refused_and_a_fresh_journal_is_not")
    else {
        return;
    };
    let url = server.database("foreign");
    server
        .client("foreign")
        .batch_execute("CREATE TABLE incidents (id int)")
        .unwrap();
    let emulator = Emulator::start();
    let ws = machine(&emulator, &url);
    let output = ws
        .cmd(&[&["post", "--yes", "-q"], OPEN].concat())
        .any_stderr()
        .status(2)
        .run();
    assert!(
        String::from_utf8_lossy(&output.stderr)
            .contains("holds an `incidents` table that is not outage's"),
        "{output:?}"
    );
    assert!(emulator.requests().is_empty());

    // Ten machines posting their first update at once to an empty database: each opens two
    // connections while one of them creates the tables; none calls the journal foreign.
    let url = server.database("fresh");
    let machines: Vec<_> = (0..10).map(|_| machine(&emulator, &url)).collect();
    let children: Vec<_> = machines
        .iter()
        .enumerate()
        .map(|(n, ws)| {
            let title = format!("Outage {n}");
            ws.cmd(&[
                "post",
                "--yes",
                "-q",
                "--status",
                "investigating",
                "--title",
                &title,
                "--message",
                "Some customers cannot log in.",
                "--next-update",
                "30m",
            ])
            .spawn()
        })
        .collect();
    for child in children {
        let output = child.wait_with_output().unwrap();
        assert!(output.status.success(), "{output:?}");
    }
}

/// A journal of schema 2 (before updates kept their words' digest): a read-only command asks
/// for the upgrade, the owner's `journal migrate` makes it, once, and the same words then go on
/// to the channels they had not reached, as one update, in PostgreSQL as in SQLite.
#[test]
fn a_schema_2_journal_is_upgraded_and_the_same_words_go_on_as_one_update() {
    let Some(server) =
        Server::start("a_schema_2_journal_is_upgraded_and_the_same_words_go_on_as_one_update")
    else {
        return;
    };
    let url = server.database("upgrade");
    let emulator = Emulator::start();
    let ws = machine(&emulator, &url);
    post(&ws, OPEN);
    // What schema 2 was: each delivery holding its rendering, no `content` column, version 2.
    server
        .client("upgrade")
        .batch_execute(
            "UPDATE deliveries d SET payload = r.payload \
             FROM renderings r WHERE r.id = d.rendering; \
             ALTER TABLE deliveries DROP COLUMN rendering; DROP TABLE renderings; \
             ALTER TABLE updates DROP COLUMN content; DELETE FROM outage_schema; \
             INSERT INTO outage_schema (version) VALUES (2)",
        )
        .unwrap();
    ws.cmd(&["status"])
        .env("OUTAGE_STATE", &url)
        .stderr(&format!(
            "error: the journal at {} has the schema of an earlier version (2) and must be \
             upgraded once: run `outage journal migrate` with the role that owns it\n",
            url.replace(&format!(":{PASSWORD}"), "")
        ))
        .status(2)
        .run();
    ws.cmd(&["journal", "migrate"])
        .stdout(&format!(
            "the journal at {} has schema 4 (this version's is 4)\n",
            url.replace(&format!(":{PASSWORD}"), "")
        ))
        .run();
    let versions: Vec<i32> = server
        .client("upgrade")
        .query("SELECT version FROM outage_schema ORDER BY version", &[])
        .unwrap()
        .iter()
        .map(|row| row.get(0))
        .collect();
    assert_eq!(versions, [2, 4], "each upgrade leaves its row");

    // New words to the hook alone, then the same words to every channel: the banner gets them,
    // the hook not again, and the incident has one update with them.
    let words = LIFE[1];
    post(&ws, &[words, &["--channels", "hook"]].concat());
    let again = post(&ws, words);
    assert_eq!(
        (&again["sequence"], &again["also_sent_to"]),
        (&2.into(), &serde_json::json!(["banner"]))
    );
    assert_eq!(
        emulator.requests().len(),
        2,
        "the hook got each update once"
    );
    assert!(
        ws.read("banner.html")
            .contains("A bad certificate is the cause.")
    );
    let updates: i64 = server
        .client("upgrade")
        .query_one("SELECT count(*) FROM updates", &[])
        .unwrap()
        .get(0);
    assert_eq!(updates, 2);
    ws.assert_no_secrets(&[], &[PASSWORD]);
}
