//! The test harness: a temporary workspace with a config and a journal, and a command builder
//! that runs the real `outage` binary and asserts its whole output.
//!
//! Expected stdout and stderr default to empty and the expected exit code to 0, so any output a
//! test does not assert fails it.

pub mod bluesky;
pub mod emulator;
pub mod facebook;
pub mod latency;
pub mod mastodon;
pub mod postgres;
pub mod proxy;
pub mod smtp;
pub mod statuspage;
pub mod tls;
pub mod twitter_text;
pub mod x;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// The settings of the integration tests' proptests: `cases` cases, and no file of failures
/// (an integration test has no lib.rs beside it to keep them in; a failure prints its case).
pub fn cases(cases: u32) -> proptest::prelude::ProptestConfig {
    proptest::prelude::ProptestConfig {
        cases,
        failure_persistence: None,
        ..proptest::prelude::ProptestConfig::default()
    }
}

/// Each delivery of a `--json` report as its `fields`, space-separated ("hook delivered 1"):
/// strings as they are, numbers as written, null as nothing.
pub fn delivery_fields(report: &serde_json::Value, fields: &[&str]) -> Vec<String> {
    report["deliveries"]
        .as_array()
        .expect("a report has deliveries")
        .iter()
        .map(|delivery| {
            let values: Vec<String> = fields
                .iter()
                .map(|field| match &delivery[*field] {
                    serde_json::Value::String(text) => text.clone(),
                    serde_json::Value::Null => String::new(),
                    other => other.to_string(),
                })
                .collect();
            values.join(" ")
        })
        .collect()
}

/// A follow-up's `post` arguments: `incident` (an id or `latest`) identified, in `message`,
/// with the next update in 30 minutes.
pub fn follow_up<'a>(incident: &'a str, message: &'a str) -> [&'a str; 8] {
    [
        "--incident",
        incident,
        "--status",
        "identified",
        "--message",
        message,
        "--next-update",
        "30m",
    ]
}

pub const OUTAGE: &str = env!("CARGO_BIN_EXE_outage");

/// The fixed "now" of every test, so renderings and ids are reproducible.
pub const NOW: &str = "2026-11-22T10:00:00Z";

/// One incident's whole life as `post` arguments: investigating, identified, monitoring, resolved.
pub const LIFE: [&[&str]; 4] = [
    &[
        "--status",
        "investigating",
        "--title",
        "Login failures",
        "--message",
        "Some customers cannot log in.",
        "--next-update",
        "30m",
    ],
    &[
        "--incident",
        "latest",
        "--status",
        "identified",
        "--message",
        "A bad certificate is the cause.",
        "--next-update",
        "30m",
    ],
    &[
        "--incident",
        "latest",
        "--status",
        "monitoring",
        "--message",
        "A new certificate is in place.",
        "--next-update",
        "30m",
    ],
    &[
        "--incident",
        "latest",
        "--status",
        "resolved",
        "--message",
        "Logins work again.",
    ],
];

/// A maintenance scheduled for Tue 24 Nov 02:00–03:00 UTC, as `post` arguments.
pub const MAINTENANCE: &[&str] = &[
    "--status",
    "scheduled",
    "--title",
    "Database upgrade",
    "--message",
    "We will upgrade the database; the app will be read-only.",
    "--starts",
    "2026-11-24T02:00:00Z",
    "--ends",
    "2026-11-24T03:00:00Z",
];

/// The first update of [`LIFE`]: a new incident.
pub const OPEN: &[&str] = LIFE[0];

/// The status of each update the `hook` of [`hook_and_banner`] received, in order.
pub fn hook_statuses(emulator: &emulator::Emulator) -> Vec<String> {
    emulator
        .requests_to("/json/hook")
        .iter()
        .map(|request| {
            request.json()["data"]["update"]["status"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect()
}

/// The workspace most tests use: a JSON webhook `hook` on the emulator and a `banner`, with
/// short retries; `between` adds channels between the two.
pub fn hook_and_banner(emulator: &emulator::Emulator, between: &str) -> Workspace {
    Workspace::new(&format!(
        r#"
        [organization]
        name = "Example Inc"
        status_url = "https://status.example.com"

        [dispatch]
        timeout = "10s"
        max_attempts = 2
        retry_base = "10ms"

        [[channel]]
        name = "hook"
        kind = "webhook"
        url = "{}"
        {between}
        [[channel]]
        name = "banner"
        kind = "banner"
        html_path = "banner.html"
        "#,
        emulator.url("/json/hook"),
    ))
}

/// A temporary folder holding `channels.toml` and the journal.
pub struct Workspace {
    dir: tempfile::TempDir,
    env: Vec<(String, String)>,
}

impl Workspace {
    pub fn new(config: &str) -> Workspace {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::write(dir.path().join("channels.toml"), unindent(config)).expect("write config");
        Workspace {
            dir,
            env: Vec::new(),
        }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn file(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn write(&self, name: &str, text: &str) -> &Self {
        std::fs::write(self.file(name), unindent(text)).expect("write file");
        self
    }

    /// Replaces `from` with `to` in the file `name`, which must hold `from`: an edit that
    /// matched nothing would leave the test running on the file as it was.
    pub fn edit(&self, name: &str, from: &str, to: &str) -> &Self {
        let text = self.read(name);
        assert!(text.contains(from), "{name} does not hold {from:?}");
        self.write(name, &text.replace(from, to))
    }

    pub fn read(&self, name: &str) -> String {
        std::fs::read_to_string(self.file(name))
            .unwrap_or_else(|err| panic!("cannot read {name}: {err}"))
    }

    /// The values of the environment variables set on this workspace: in these tests they are
    /// all secrets (tokens, passwords, URLs that carry a token).
    fn secrets(&self) -> Vec<String> {
        self.env
            .iter()
            .map(|(_, value)| value.clone())
            .filter(|value| value.len() >= 8)
            .collect()
    }

    /// Sets an environment variable for every command run in this workspace.
    pub fn env(mut self, key: &str, value: &str) -> Self {
        self.env.push((key.into(), value.into()));
        self
    }

    /// Trusts the CA of `ca_pem` alone for HTTPS: it is written to `ca.pem`, which
    /// `SSL_CERT_FILE` names.
    pub fn trusting(self, ca_pem: &str) -> Self {
        self.write("ca.pem", ca_pem);
        let roots = self.file("ca.pem").display().to_string();
        self.env("SSL_CERT_FILE", &roots)
    }

    pub fn journal(&self) -> PathBuf {
        self.file("journal.db")
    }

    pub fn cmd(&self, args: &[&str]) -> Cmd {
        self.cmd_of(OUTAGE, args)
    }

    /// The same with another build of outage (the benchmark's `BENCH_AGAINST`).
    pub fn cmd_of(&self, program: &str, args: &[&str]) -> Cmd {
        let mut command = self.command(program);
        command.args(args);
        Cmd {
            command,
            secrets: self.secrets(),
            dir: self.path().display().to_string(),
            stdin: None,
            endless_stdin: false,
            stdout: Expect::Exactly(String::new()),
            stderr: Expect::Exactly(String::new()),
            status: Some(0),
        }
    }

    /// `program` in this workspace, with the environment every command here gets: nothing from
    /// the test's own but `PATH`, then the workspace's config, journal, "now" and variables.
    pub fn command(&self, program: &str) -> Command {
        let mut command = Command::new(program);
        command
            .current_dir(self.path())
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("HOME", self.path())
            .env("OUTAGE_CONFIG", self.file("channels.toml"))
            .env("OUTAGE_STATE", self.journal())
            .env("OUTAGE_NOW", NOW);
        for (key, value) in &self.env {
            command.env(key, value);
        }
        command
    }

    /// Runs a SQL query on the journal and returns the rows as `|`-joined text lines.
    #[track_caller]
    pub fn query(&self, sql: &str) -> Vec<String> {
        self.try_query(sql).expect("the journal can be queried")
    }

    /// The same, `None` while the journal is not there yet (for polling a running process).
    pub fn try_query(&self, sql: &str) -> Option<Vec<String>> {
        if !self.journal().exists() {
            return None;
        }
        let conn = rusqlite::Connection::open(self.journal()).ok()?;
        let mut statement = conn.prepare(sql).ok()?;
        let columns = statement.column_count();
        let rows = statement
            .query_map([], |row| {
                let cells: Vec<String> = (0..columns)
                    .map(|i| match row.get_ref(i).unwrap() {
                        rusqlite::types::ValueRef::Null => "NULL".to_owned(),
                        rusqlite::types::ValueRef::Integer(n) => n.to_string(),
                        rusqlite::types::ValueRef::Real(n) => n.to_string(),
                        rusqlite::types::ValueRef::Text(t) => String::from_utf8_lossy(t).into(),
                        rusqlite::types::ValueRef::Blob(_) => "<blob>".into(),
                    })
                    .collect();
                Ok(cells.join("|"))
            })
            .ok()?;
        rows.collect::<Result<_, _>>().ok()
    }

    /// Fails when a secret appears in any captured output or anywhere in the journal (its WAL
    /// included).
    #[track_caller]
    pub fn assert_no_secrets(&self, outputs: &[Output], secrets: &[&str]) {
        let mut seen = Vec::new();
        for output in outputs {
            seen.extend_from_slice(&output.stdout);
            seen.extend_from_slice(&output.stderr);
        }
        for suffix in ["", "-wal"] {
            let path = PathBuf::from(format!("{}{suffix}", self.journal().display()));
            seen.extend(std::fs::read(path).unwrap_or_default());
        }
        let seen = String::from_utf8_lossy(&seen);
        for secret in secrets {
            assert!(!seen.contains(secret), "{secret} leaked");
        }
    }
}

impl Drop for Workspace {
    /// Every test's journal is scanned for the secrets the test configured.
    fn drop(&mut self) {
        if std::thread::panicking() {
            return;
        }
        self.assert_no_secrets(
            &[],
            &self
                .secrets()
                .iter()
                .map(String::as_str)
                .collect::<Vec<_>>(),
        );
    }
}

enum Expect {
    Exactly(String),
    /// The same lines in any order (progress lines from concurrent deliveries).
    Unordered(String),
    Any,
}

#[must_use]
pub struct Cmd {
    command: Command,
    /// Values that must never appear in the output.
    secrets: Vec<String>,
    /// Replaced by `[DIR]` in the output before it is compared.
    dir: String,
    stdin: Option<String>,
    /// Feed standard input without end (`yes | outage …`).
    endless_stdin: bool,
    stdout: Expect,
    stderr: Expect,
    status: Option<i32>,
}

impl Cmd {
    /// Runs with at most `limit` open files, soft and hard (`ulimit -n` in a shell).
    #[allow(unsafe_code)]
    pub fn open_files(mut self, limit: u64) -> Self {
        use std::os::unix::process::CommandExt;
        // SAFETY: `setrlimit` is one system call, async-signal-safe, touching nothing of the
        // parent's.
        unsafe {
            self.command
                .pre_exec(move || rlimit::setrlimit(rlimit::Resource::NOFILE, limit, limit));
        }
        self
    }

    /// Runs as another user (tests that need root to do so say when they skip).
    pub fn user(mut self, uid: u32, gid: u32) -> Self {
        use std::os::unix::process::CommandExt;
        self.command.uid(uid).gid(gid);
        self
    }

    /// Standard input that never ends, as `yes | outage …` gives.
    pub fn endless_stdin(mut self) -> Self {
        self.endless_stdin = true;
        self
    }

    /// Runs with standard output closed by its reader before anything is written (`| head -0`),
    /// and returns the exit code and standard error.
    pub fn run_into_closed_pipe(mut self) -> (Option<i32>, String) {
        self.command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = self.command.spawn().expect("spawn outage");
        drop(child.stdout.take());
        let output = child.wait_with_output().expect("wait for outage");
        (
            output.status.code(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    }

    pub fn env(mut self, key: &str, value: &str) -> Self {
        self.command.env(key, value);
        self
    }

    pub fn env_remove(mut self, key: &str) -> Self {
        self.command.env_remove(key);
        self
    }

    pub fn stdin(mut self, text: &str) -> Self {
        self.stdin = Some(text.into());
        self
    }

    pub fn stdout(mut self, text: &str) -> Self {
        self.stdout = Expect::Exactly(unindent(text));
        self
    }

    pub fn any_stdout(mut self) -> Self {
        self.stdout = Expect::Any;
        self
    }

    pub fn stderr(mut self, text: &str) -> Self {
        self.stderr = Expect::Exactly(unindent(text));
        self
    }

    pub fn stderr_unordered(mut self, text: &str) -> Self {
        self.stderr = Expect::Unordered(unindent(text));
        self
    }

    pub fn any_stderr(mut self) -> Self {
        self.stderr = Expect::Any;
        self
    }

    pub fn status(mut self, code: i32) -> Self {
        self.status = Some(code);
        self
    }

    pub fn any_status(mut self) -> Self {
        self.status = None;
        self
    }

    /// Runs the command and asserts the exit code, stdout and stderr.
    #[track_caller]
    pub fn run(mut self) -> Output {
        let output = self.output();
        let stdout = String::from_utf8_lossy(&output.stdout).replace(&self.dir, "[DIR]");
        let stderr = String::from_utf8_lossy(&output.stderr).replace(&self.dir, "[DIR]");
        let shown = format!(
            "--- stdout ---\n{stdout}\n--- stderr ---\n{stderr}\n--- exit {:?} ---",
            output.status.code()
        );
        for secret in &self.secrets {
            assert!(
                !shown.contains(secret.as_str()),
                "a secret leaked into the output\n{shown}"
            );
        }
        check("stdout", &self.stdout, &stdout, &shown);
        check("stderr", &self.stderr, &stderr, &shown);
        if let Some(status) = self.status {
            assert_eq!(
                output.status.code(),
                Some(status),
                "unexpected exit code\n{shown}"
            );
        }
        output
    }

    /// Starts the command without waiting (for kill and concurrency tests).
    pub fn spawn(mut self) -> std::process::Child {
        self.command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn outage")
    }

    fn output(&mut self) -> Output {
        self.command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = self.command.spawn().expect("spawn outage");
        let stdin = child.stdin.take().expect("stdin");
        if let Some(text) = self.stdin.take() {
            use std::io::Write;
            let mut stdin = stdin;
            stdin.write_all(text.as_bytes()).expect("write stdin");
        } else if self.endless_stdin {
            std::thread::spawn(move || {
                use std::io::Write;
                let mut stdin = stdin;
                let chunk = b"y\n".repeat(32 * 1024);
                while stdin.write_all(&chunk).is_ok() {}
            });
        }
        child.wait_with_output().expect("wait for outage")
    }
}

#[track_caller]
fn check(name: &str, expect: &Expect, actual: &str, shown: &str) {
    match expect {
        Expect::Exactly(expected) => {
            if expected != actual {
                panic!("{name} differs\n--- expected {name} ---\n{expected}\n{shown}");
            }
        }
        Expect::Unordered(expected) => {
            let mut want: Vec<&str> = expected.lines().collect();
            let mut got: Vec<&str> = actual.lines().collect();
            want.sort_unstable();
            got.sort_unstable();
            if want != got {
                panic!(
                    "{name} lines differ\n--- expected {name} (any order) ---\n{expected}\n{shown}"
                );
            }
        }
        Expect::Any => {}
    }
}

/// Removes the common leading indentation and the first newline, so fixtures can be indented.
pub fn unindent(text: &str) -> String {
    let text = text.strip_prefix('\n').unwrap_or(text);
    let indent = text
        .lines()
        .filter(|line| !line.trim().is_empty())
        .map(|line| line.len() - line.trim_start().len())
        .min()
        .unwrap_or(0);
    let mut out = String::new();
    for line in text.lines() {
        out.push_str(line.get(indent..).unwrap_or("").trim_end_matches(' '));
        out.push('\n');
    }
    // Keep a trailing newline only when the fixture had content.
    if out.trim().is_empty() {
        String::new()
    } else {
        let trimmed = out.trim_end_matches('\n');
        format!("{trimmed}\n")
    }
}

/// How a command ran: its exit code, its wall time, and its peak resident memory.
pub struct Measured {
    pub code: Option<i32>,
    /// Read by the benchmark; tests never assert a time.
    #[allow(dead_code)]
    pub elapsed: std::time::Duration,
    pub peak: u64,
}

impl Cmd {
    /// Runs to the end, sampling the process's own peak resident memory (`VmHWM`) every
    /// millisecond when `memory` is set. (`wait4`'s `ru_maxrss` would not do: the kernel carries
    /// the parent's peak across `fork` and `exec`, and a test process is large.)
    pub fn measure(self, memory: bool) -> Measured {
        let started = std::time::Instant::now();
        let mut child = self.spawn();
        let pid = child.id();
        let sampler = memory.then(|| {
            std::thread::spawn(move || {
                let mut peak = 0;
                while let Ok(text) = std::fs::read_to_string(format!("/proc/{pid}/status")) {
                    let Some(kb) = text
                        .lines()
                        .find(|line| line.starts_with("VmHWM:"))
                        .and_then(|line| line.split_whitespace().nth(1))
                        .and_then(|kb| kb.parse::<u64>().ok())
                    else {
                        break;
                    };
                    peak = peak.max(kb * 1024);
                    std::thread::sleep(std::time::Duration::from_millis(1));
                }
                peak
            })
        });
        let status = child.wait().expect("wait for outage");
        let elapsed = started.elapsed();
        Measured {
            code: status.code(),
            elapsed,
            peak: sampler.map_or(0, |sampler| sampler.join().unwrap()),
        }
    }
}

/// Parses the JSON a command printed.
pub fn json(output: &Output) -> serde_json::Value {
    serde_json::from_slice(&output.stdout).expect("stdout is JSON")
}

/// Fills the journal `to` (of `ws`'s config) with `count` resolved incidents of two updates
/// each, `every_minutes` apart from 2024-01-01, every one delivered to a webhook and the banner:
/// a journal dump written here, loaded by `outage journal copy`.
pub fn fill(ws: &Workspace, count: usize, to: &str, every_minutes: i64) {
    let start: jiff::Timestamp = "2024-01-01T00:00:00Z".parse().unwrap();
    let (mut incidents, mut updates, mut deliveries) = (Vec::new(), Vec::new(), Vec::new());
    for n in 0..count {
        let at = start + jiff::SignedDuration::from_mins(n as i64 * every_minutes);
        let id = format!("past-incident-{n}");
        incidents.push(serde_json::json!({
            "id": id, "kind": "incident", "title": format!("Past incident {n}"),
            "status": "resolved", "is_open": false, "last_sequence": 2,
            "opened_at": at.to_string(), "updated_at": at.to_string(),
        }));
        for (sequence, status) in [(1, "investigating"), (2, "resolved")] {
            let update_id = uuid::Uuid::now_v7().to_string();
            let facts = serde_json::json!({
                "incident": id, "sequence": sequence, "kind": "incident", "status": status,
                "title": format!("Past incident {n}"), "message": "Something failed for a while.",
                "components": [], "impact": null, "eta": null, "next_update": null,
                "starts": null, "ends": null, "compensation": null, "internal_note": null,
                "correction": false, "posted_at": at.to_string(),
            });
            updates.push(serde_json::json!({
                "id": update_id, "incident_id": id, "sequence": sequence, "status": status,
                "facts": facts.to_string(), "fingerprint": format!("f{n}.{sequence}"),
                "input": null, "idempotency_key": null, "allowed": "{}",
                "created_at": at.to_string(),
            }));
            for (channel, kind) in [("hook", "webhook"), ("banner", "banner")] {
                deliveries.push(serde_json::json!({
                    "id": uuid::Uuid::now_v7().to_string(), "update_id": update_id,
                    "channel": channel, "kind": kind, "target": "", "state": "delivered",
                    "remote_id": format!("r{n}"), "parts": null, "url": null, "attempts": 1,
                    "error": null, "note": null, "rendered": "", "payload": "null",
                    "created_at": at.to_string(), "started_at": at.to_string(),
                    "finished_at": at.to_string(),
                }));
            }
        }
    }
    let dump =
        serde_json::json!({"incidents": incidents, "updates": updates, "deliveries": deliveries});
    ws.write("fill.json", &dump.to_string());
    let from = ws.file("fill.json");
    let copied = ws
        .cmd(&[
            "journal",
            "copy",
            "--from",
            from.to_str().unwrap(),
            "--to",
            to,
        ])
        .any_stdout()
        .run();
    assert!(copied.status.success());
}
