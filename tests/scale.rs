use crate::support::emulator::{Emulator, Fault};
use crate::support::{OPEN, Workspace, json};

fn workspace(emulator: &Emulator, subscribers: usize) -> Workspace {
    let ws = Workspace::new(
        r#"
        [organization]
        name = "Example Inc"

        [dispatch]
        max_attempts = 2
        retry_base = "10ms"
        max_in_flight = 16

        [[channel]]
        name = "subscribers"
        kind = "webhook"
        urls_file = "subscribers.txt"
        "#,
    );
    let mut list = String::from("# partners who asked for our webhooks\n\n");
    for n in 0..subscribers {
        list.push_str(&format!(
            "{}\n",
            emulator.url(&format!("/json/partner-{n}?token=partner-token-{n}"))
        ));
    }
    ws.write("subscribers.txt", &list);
    ws
}

/// Posts `OPEN` (with `extra` flags) to a list where something fails: exit 1, and what it printed
/// on stdout and stderr.
fn post_with_failures(ws: &Workspace, extra: &[&str]) -> (String, String) {
    let output = ws
        .cmd(&[&["post", "--yes"], extra, OPEN].concat())
        .any_stdout()
        .any_stderr()
        .status(1)
        .run();
    (
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn each_subscriber_is_its_own_delivery_and_retry_resends_only_the_failed() {
    let emulator = Emulator::start();
    emulator.always("/json/partner-3", Fault::status(503, ""));
    emulator.fail(
        "/json/partner-7",
        vec![Fault::status(500, ""), Fault::status(500, "")],
    );
    let ws = workspace(&emulator, 40);
    let (stdout, stderr) = post_with_failures(&ws, &[]);
    assert!(
        stdout.contains(
            "subscribers               webhook  partial  42        38 of 40 recipients delivered"
        ),
        "{stdout}"
    );
    assert!(
        stdout.contains("the receiver answered 503 Service Unavailable: no details"),
        "{stdout}"
    );
    assert!(
        !stdout.contains("partner-token"),
        "subscriber URLs may carry tokens: {stdout}"
    );
    assert!(
        stderr.ends_with("subscribers: 38 of 40 delivered\n"),
        "one summary line, not one per subscriber: {stderr}"
    );
    assert_eq!(
        stderr.lines().count(),
        5,
        "two retries, two failures, one summary: {stderr}"
    );
    assert_eq!(ws.query("SELECT count(*) FROM deliveries"), ["40"]);
    assert_eq!(emulator.requests().len(), 42);
    let journal = ws.query("SELECT group_concat(target) FROM deliveries");
    assert!(!journal[0].contains("token"), "{journal:?}");

    emulator.always("/json/partner-3", Fault::status(204, ""));
    let report = json(
        &ws.cmd(&["retry", "latest", "--json", "-q"])
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
    let requests = emulator.requests();
    assert_eq!(
        requests.len(),
        44,
        "only the two failed subscribers were sent again"
    );
    assert_eq!(
        requests
            .iter()
            .filter(|r| r.path == "/json/partner-3")
            .count(),
        3
    );
    assert_eq!(
        requests
            .iter()
            .filter(|r| r.path == "/json/partner-0")
            .count(),
        1
    );
}

#[test]
fn a_bad_line_in_the_subscriber_list_is_named() {
    let emulator = Emulator::start();
    let ws = workspace(&emulator, 2);
    ws.write(
        "subscribers.txt",
        "https://ok.example/hook\nftp://files.example/x\n",
    );
    ws.cmd(&[&["post", "--yes"], OPEN].concat())
        .stderr("error: channel `subscribers`: [DIR]/subscribers.txt:2: not an http(s) URL; fix or remove the line\n")
        .status(2)
        .run();
    assert!(emulator.requests().is_empty());
}

/// A list whose recipients all fail alike says so once, wherever it reports: `-q`'s problem
/// lines, the table and the progress lines on stderr. Thirty subscribers behind one failing
/// receiver are one line each, with how many more there were.
#[test]
fn recipients_that_fail_alike_are_one_line() {
    let emulator = Emulator::start();
    for n in 0..30 {
        emulator.always(&format!("/json/partner-{n}"), Fault::status(503, ""));
    }
    let why = "the receiver answered 503 Service Unavailable: no details";

    let (_, stderr) = post_with_failures(&workspace(&emulator, 30), &["-q"]);
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 2, "{stderr}");
    assert!(lines[0].starts_with("subscribers 127.0.0.1#"), "{stderr}");
    assert!(
        lines[0].ends_with(&format!(" and 29 more: failed: {why}")),
        "{stderr}"
    );
    assert!(
        lines[1].contains("sends the 30 that failed again"),
        "{stderr}"
    );

    let (stdout, stderr) = post_with_failures(&workspace(&emulator, 30), &[]);
    let rows: Vec<&str> = stdout
        .lines()
        .filter(|line| line.starts_with("  "))
        .collect();
    assert_eq!(rows.len(), 1, "{stdout}");
    assert!(rows[0].contains(" and 29 more "), "{stdout}");
    assert!(
        rows[0].ends_with(&format!("failed   60        {why}")),
        "the row sums the attempts: {stdout}"
    );
    // Progress: the first retry and the first failure, then one summary line that counts the
    // 29 retries and 29 failures it did not repeat.
    assert_eq!(stderr.lines().count(), 3, "{stderr}");
    assert!(
        stderr.ends_with(
            "subscribers: 0 of 30 delivered (58 more lines like those above not shown)\n"
        ),
        "{stderr}"
    );
    assert_eq!(emulator.requests().len(), 120);
}

/// A subscriber alone on its server asks for its connection to be closed after its request:
/// kept for a reuse that will not come, 10,000 subscribers on 10,000 servers held 10,000
/// connections (and open files) until the end. Subscribers sharing a server keep theirs.
#[test]
fn only_a_server_with_more_subscribers_keeps_its_connection() {
    let emulator = Emulator::start();
    let own = emulator.also_on(std::net::Ipv4Addr::new(127, 0, 0, 2));
    let ws = workspace(&emulator, 0);
    ws.write(
        "subscribers.txt",
        &format!(
            "{}\n{own}/json/b\n{}\n",
            emulator.url("/json/a"),
            emulator.url("/json/c")
        ),
    );
    ws.cmd(&[&["post", "--yes", "-q"], OPEN].concat())
        .any_stdout()
        .run();
    let mut seen: Vec<(String, Option<String>)> = emulator
        .requests()
        .into_iter()
        .map(|request| (request.path, request.headers.get("connection").cloned()))
        .collect();
    seen.sort();
    assert_eq!(
        seen,
        [
            ("/json/a".to_owned(), None),
            ("/json/b".to_owned(), Some("close".to_owned())),
            ("/json/c".to_owned(), None)
        ]
    );
}

/// A list that wants more connections than the process may open goes out in smaller waves
/// instead of failing its last connections with "too many open files": every subscriber is
/// delivered at the first attempt under a limit of 100 open files with 300 wanted in flight.
#[test]
fn a_low_open_file_limit_slows_a_list_and_fails_none() {
    let emulator = Emulator::start();
    emulator.with(|inner| inner.latency = Some(std::time::Duration::from_millis(50)));
    let ws = workspace(&emulator, 300);
    ws.edit("channels.toml", "max_in_flight = 16", "max_in_flight = 300");
    ws.cmd(&[&["post", "--yes", "-q"], OPEN].concat())
        .open_files(100)
        .any_stdout()
        .run();
    assert_eq!(
        ws.query("SELECT state, attempts, count(*) FROM deliveries GROUP BY state, attempts"),
        ["delivered|1|300"]
    );
}
