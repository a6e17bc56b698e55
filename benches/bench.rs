//! The benchmark: runs the release binary as a user would, against the loopback emulators with
//! an injected latency, several runs each, and prints medians (issue 6).
//!
//! A. Fan-out overhead: X, Facebook, three webhooks (json, Slack, Discord), email and the banner,
//!    each remote answering after 200 ms; wall time / 200 ms (target <= 1.05), and what a bare
//!    client's request to the same emulator takes (the instrument's own share). Over plain HTTP
//!    with the email over STARTTLS or a relay, and over HTTPS (a TLS front, the system's roots
//!    read as a user's post reads them: OpenSSL's bundle and its folder).
//! B. Subscriber scale: 1,000 and 10,000 webhook subscribers answering after 100 ms (targets
//!    for 10,000: < 2 s, < 64 MB peak), side by side with Apprise when it is installed; the
//!    10,000 again, each on a server of its own; and 1,000 email recipients at 100 ms a message
//!    over 40 connections (target < 4 s).
//! C. Preview: `post --dry-run` for the seven channels, cold process (target < 3 ms).
//! D. Journal growth: `status` and `post` with 100,000 past incidents vs an empty journal
//!    (target: within 2x).
//! E. The PostgreSQL journal on loopback vs SQLite (target: within 10 ms).
//!
//! Run with `cargo bench`; `BENCH_RUNS=N` changes the number of runs (default 7) and
//! `BENCH_ONLY=AC` runs only some parts. `BENCH_AGAINST=path/to/outage` times another build
//! beside this one in A, B's webhook lists and C, run by run in turn (the order alternating),
//! and prints the median of the paired differences and in how many pairs this build was the faster: the
//! machine's drift moves both alike, so a change of a millisecond shows where two separate
//! runs of the benchmark would hide it.

// The test helpers are `pub` for the test modules.
#![allow(unreachable_pub)]

#[allow(dead_code)]
#[path = "../tests/support/mod.rs"]
mod support;

use std::time::Duration;

use support::Workspace;
use support::emulator::Emulator;
use support::facebook::{APP_SECRET, PAGE_ID, PAGE_TOKEN};
use support::smtp::{Mode, PASSWORD, Smtp, USER};
use support::x::{CONSUMER_KEY, CONSUMER_SECRET, TOKEN, TOKEN_SECRET};

fn runs() -> usize {
    std::env::var("BENCH_RUNS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(7)
}

/// Runs one command to the end and returns its wall time and (sampled when `memory`) its peak
/// resident memory. It must succeed: a delivery refused answers early, and a row that counted it
/// would time less than the work.
fn measure_with(cmd: support::Cmd, memory: bool) -> (Duration, u64) {
    let run = cmd.measure(memory);
    assert_eq!(
        run.code,
        Some(0),
        "the command failed (1: a delivery failed); run it by hand to see why"
    );
    (run.elapsed, run.peak)
}

fn measure(cmd: support::Cmd) -> (Duration, u64) {
    measure_with(cmd, false)
}

/// The release binary as a user runs it: a copy, as `cargo install` puts in `~/.cargo/bin`.
/// The file the linker wrote, fresh in the page cache, is held in small pages: a dry run from it
/// took 60 more page faults and 0.4-0.7 ms more than the same bytes copied (`perf stat`, nine
/// runs of each in turn), and A's rows up to 1.6 ms more.
fn outage() -> &'static str {
    static INSTALLED: std::sync::OnceLock<(tempfile::TempDir, String)> = std::sync::OnceLock::new();
    &INSTALLED.get_or_init(|| installed(support::OUTAGE)).1
}

/// The other build `BENCH_AGAINST` names, if any, copied in the same way.
fn against() -> Option<&'static str> {
    static AGAINST: std::sync::OnceLock<Option<(tempfile::TempDir, String)>> =
        std::sync::OnceLock::new();
    AGAINST
        .get_or_init(|| {
            let path = std::env::var("BENCH_AGAINST").ok()?;
            assert!(
                std::path::Path::new(&path).is_file(),
                "BENCH_AGAINST={path}: no such file; name another build of outage"
            );
            Some(installed(&path))
        })
        .as_ref()
        .map(|(_, path)| path.as_str())
}

/// A copy of the binary at `path` in a folder of its own (kept as long as the folder is).
fn installed(path: &str) -> (tempfile::TempDir, String) {
    let folder = tempfile::tempdir().expect("temp dir");
    let copy = folder.path().join("outage");
    std::fs::copy(path, &copy).expect("copy the binary");
    let copy = copy.display().to_string();
    (folder, copy)
}

/// Times of this build and another, run by run in turn.
#[derive(Default)]
struct Paired {
    ours: Vec<Duration>,
    theirs: Vec<Duration>,
}

impl Paired {
    /// Times this build with `time(outage(), false)` and, when there is another, that one with
    /// `time(program, true)`, in the order `run` says: this build first on even runs.
    fn measure(&mut self, run: usize, mut time: impl FnMut(&'static str, bool) -> Duration) {
        match against() {
            None => self.ours.push(time(outage(), false)),
            Some(other) if run.is_multiple_of(2) => {
                self.ours.push(time(outage(), false));
                self.theirs.push(time(other, true));
            }
            Some(other) => {
                self.theirs.push(time(other, true));
                self.ours.push(time(outage(), false));
            }
        }
    }

    /// This build's median.
    fn wall(&self) -> Duration {
        median(self.ours.clone())
    }

    /// `against 212.3 ms   this build 1.1 ms faster (median of 11 pairs), faster in 9`, when
    /// there is another build.
    fn against(&self) -> Option<String> {
        if self.theirs.is_empty() {
            return None;
        }
        let mut differences: Vec<f64> = self
            .ours
            .iter()
            .zip(&self.theirs)
            .map(|(ours, theirs)| (theirs.as_secs_f64() - ours.as_secs_f64()) * 1000.0)
            .collect();
        differences.sort_by(f64::total_cmp);
        let middle = differences[differences.len() / 2];
        let faster = differences.iter().filter(|d| **d > 0.0).count();
        Some(format!(
            "      against {:>10}   this build {:.1} ms {} (median of {} pairs), faster in {faster}",
            ms(median(self.theirs.clone())),
            middle.abs(),
            if middle >= 0.0 { "faster" } else { "slower" },
            differences.len()
        ))
    }
}

fn median(mut values: Vec<Duration>) -> Duration {
    values.sort();
    values[values.len() / 2]
}

fn ms(duration: Duration) -> String {
    format!("{:.1} ms", duration.as_secs_f64() * 1000.0)
}

fn mb(bytes: u64) -> String {
    format!("{:.1} MB", bytes as f64 / 1_048_576.0)
}

fn post_args(title: &str) -> Vec<String> {
    [
        "post",
        "--yes",
        "-q",
        "--status",
        "investigating",
        "--title",
        title,
        "--message",
        "Some customers cannot log in to the web app. We are looking into it.",
        "--next-update",
        "30m",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

fn seven_channels(base: &str, smtp: &Smtp) -> Workspace {
    // A time zone, as the example configuration and most users' have.
    let ws = Workspace::new(&format!(
        r#"
        [organization]
        name = "Example Inc"
        status_url = "https://status.example.com"
        timezone = "Europe/Paris"
        [[channel]]
        name = "x"
        kind = "x"
        api_base = "{base}"
        consumer_key_env = "X_KEY"
        consumer_secret_env = "X_SECRET"
        access_token_env = "X_TOKEN"
        access_token_secret_env = "X_TOKEN_SECRET"
        [[channel]]
        name = "facebook"
        kind = "facebook"
        graph_base = "{base}"
        page_id = "{PAGE_ID}"
        page_token_env = "FB_TOKEN"
        app_secret_env = "FB_APP_SECRET"
        [[channel]]
        name = "hook"
        kind = "webhook"
        url = "{base}/json/hook"
        [[channel]]
        name = "slack"
        kind = "webhook"
        format = "slack"
        url = "{base}/slack/services/T/B/x"
        [[channel]]
        name = "discord"
        kind = "webhook"
        format = "discord"
        url = "{base}/discord/api/webhooks/1/x"
        [[channel]]
        name = "email"
        kind = "email"
        host = "127.0.0.1"
        port = {port}
        ca_file = "ca.pem"
        username_env = "SMTP_USER"
        password_env = "SMTP_PASSWORD"
        from = "status@example.com"
        to = ["customers@example.com"]
        [[channel]]
        name = "banner"
        kind = "banner"
        html_path = "banner.html"
        "#,
        port = smtp.port,
    ))
    .env("X_KEY", CONSUMER_KEY)
    .env("X_SECRET", CONSUMER_SECRET)
    .env("X_TOKEN", TOKEN)
    .env("X_TOKEN_SECRET", TOKEN_SECRET)
    .env("FB_TOKEN", PAGE_TOKEN)
    .env("FB_APP_SECRET", APP_SECRET)
    .env("SMTP_USER", USER)
    .env("SMTP_PASSWORD", PASSWORD);
    ws.write("ca.pem", &smtp.ca_pem);
    ws
}

/// How the fan-out's remotes are reached.
#[derive(Clone, Copy, PartialEq)]
enum Remotes {
    /// HTTP, and SMTP with STARTTLS.
    Starttls,
    /// HTTP, and an SMTP relay without TLS.
    Relay,
    /// HTTPS through a TLS front with a certificate the system's roots and a test CA check, as
    /// every real service is reached, and SMTP with STARTTLS.
    Https,
}

fn fan_out(remotes: Remotes) -> FanOut {
    let latency = Duration::from_millis(200);
    let emulator = Emulator::start();
    emulator.with(|inner| inner.latency = Some(latency));
    let smtp = Smtp::start(if remotes == Remotes::Relay {
        Mode::Plain
    } else {
        Mode::Starttls
    });
    smtp.with(|state| state.latency = Some(latency));
    let (base, ca) = match remotes {
        Remotes::Https => {
            let (base, ca) = emulator.behind_tls();
            (base, Some(ca))
        }
        _ => (emulator.base.clone(), None),
    };
    let mut ws = seven_channels(&base, &smtp);
    if let Some(ca) = &ca {
        // The system's roots as a user's post reads them, OpenSSL's bundle and its folder, with
        // the front's CA in the bundle.
        let system =
            std::fs::read_to_string("/etc/ssl/certs/ca-certificates.crt").unwrap_or_default();
        ws.write("roots.pem", &format!("{system}\n{ca}"));
        std::fs::create_dir_all(ws.file("certs")).unwrap();
        for entry in std::fs::read_dir("/etc/ssl/certs").into_iter().flatten() {
            let entry = entry.unwrap();
            if let Ok(target) = std::fs::canonicalize(entry.path()) {
                let _ =
                    std::os::unix::fs::symlink(target, ws.file("certs").join(entry.file_name()));
            }
        }
        let (file, dir) = (ws.file("roots.pem"), ws.file("certs"));
        ws = ws
            .env("SSL_CERT_FILE", &file.display().to_string())
            .env("SSL_CERT_DIR", &dir.display().to_string());
    }
    if remotes == Remotes::Relay {
        ws.edit("channels.toml", "ca_file = \"ca.pem\"", "tls = \"none\"");
    }
    let (mut paired, mut bare) = (Paired::default(), Vec::new());
    for run in 0..runs() {
        paired.measure(run, |program, theirs| {
            // A title of its own for each build's post: the same one would be a rerun.
            let title = match theirs {
                true => format!("Fan-out run {run}, the other build"),
                false => format!("Fan-out run {run}"),
            };
            let args = post_args(&title);
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            // Every channel delivered: a refusal answers early and would time nothing.
            measure(ws.cmd_of(program, &args)).0
        });
        bare.push(match &ca {
            Some(ca) => bare_https_request(&base, ca),
            None => bare_request(&emulator),
        });
    }
    FanOut {
        ratio: paired.wall().as_secs_f64() / latency.as_secs_f64(),
        bare: median(bare),
        paired,
    }
}

/// A fan-out row's median wall time and its ratio to the remotes' latency, and the median time
/// a bare client took for one request to the same emulator between the runs.
struct FanOut {
    ratio: f64,
    bare: Duration,
    /// This build's times (and with `BENCH_AGAINST`, the other's).
    paired: Paired,
}

/// One request from a client that does nothing else, connection included: how long the
/// emulator told to answer after 200 ms takes, seen from outside. What it takes beyond the
/// 200 ms is the instrument's, not outage's, though the fan-out ratio counts it.
fn bare_request(emulator: &Emulator) -> Duration {
    let address = emulator.base.trim_start_matches("http://");
    let start = std::time::Instant::now();
    let stream = std::net::TcpStream::connect(address).unwrap();
    stream.set_nodelay(true).unwrap();
    bare_exchange(stream, address, start)
}

/// The same through the TLS front at `base`, handshake included, trusting its CA alone.
fn bare_https_request(base: &str, ca_pem: &str) -> Duration {
    use std::sync::Arc;

    use rustls::pki_types::pem::PemObject;
    let address = base.trim_start_matches("https://");
    let mut roots = rustls::RootCertStore::empty();
    let ca = rustls::pki_types::CertificateDer::from_pem_slice(ca_pem.as_bytes()).unwrap();
    roots.add(ca).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let name = rustls::pki_types::ServerName::try_from("127.0.0.1").unwrap();
    let start = std::time::Instant::now();
    let tcp = std::net::TcpStream::connect(address).unwrap();
    tcp.set_nodelay(true).unwrap();
    let connection = rustls::ClientConnection::new(Arc::new(config), name).unwrap();
    bare_exchange(rustls::StreamOwned::new(connection, tcp), address, start)
}

/// Sends the bare client's request over `stream` and reads the status line: the time since
/// `start`.
fn bare_exchange(
    mut stream: impl std::io::Read + std::io::Write,
    address: &str,
    start: std::time::Instant,
) -> Duration {
    let body = "{}";
    let request = format!(
        "POST /json/bare HTTP/1.1\r\nhost: {address}\r\ncontent-type: application/json\r\n\
         content-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).unwrap();
    let mut status = [0; 12];
    stream.read_exact(&mut status).unwrap();
    let elapsed = start.elapsed();
    // An answer that is not the receiver's (a refusal comes at once) would time nothing.
    assert_eq!(
        &status, b"HTTP/1.1 204",
        "the emulator's JSON receiver answers 204"
    );
    elapsed
}

/// `count` webhook subscribers answering after 100 ms: outage's wall time, peak memory and
/// journal growth, and Apprise's wall time for the same list against the same emulator when it
/// is installed.
fn webhook_subscribers(count: usize) -> (ListRun, Option<Apprise>) {
    let emulator = Emulator::start();
    emulator.with(|inner| inner.latency = Some(Duration::from_millis(100)));
    let urls: Vec<String> = (0..count)
        .map(|n| emulator.url(&format!("/json/subscriber-{n}")))
        .collect();
    let (ws, ours) = post_to_list(&urls);
    (ours, apprise(&emulator, &ws, &urls))
}

/// `count` webhook subscribers answering after 100 ms, each on a server of its own (an address
/// of 127.0.0.0/8): nothing is reused, as with customers' own endpoints. `None` when this
/// process may not open a listener for each.
fn webhook_servers(count: usize) -> Option<ListRun> {
    // A listener for each server, and a connection for each one in flight.
    let wanted = (count + 2_000) as u64;
    if rlimit::increase_nofile_limit(wanted).ok()? < wanted {
        return None;
    }
    let emulator = Emulator::start();
    emulator.with(|inner| inner.latency = Some(Duration::from_millis(100)));
    let urls: Vec<String> = (0..count)
        .map(|n| {
            let [_, a, b, c] = (0x7f00_0002 + n as u32).to_be_bytes();
            let base = emulator.also_on(std::net::Ipv4Addr::new(127, a, b, c));
            format!("{base}/json/subscriber-{n}")
        })
        .collect();
    Some(post_to_list(&urls).1)
}

/// Posts to a list: the median wall time, the peak memory, and what the journal grew by a post.
struct ListRun {
    peak: u64,
    journal: u64,
    /// This build's times (and with `BENCH_AGAINST`, the other's, whose posts go to a journal
    /// of its own).
    paired: Paired,
}

impl ListRun {
    fn line(&self, targets: &str) -> String {
        let line = format!(
            "   outage  wall {:>10}   peak {:>8}   journal +{} a post{targets}",
            ms(self.paired.wall()),
            mb(self.peak),
            mb(self.journal)
        );
        match self.paired.against() {
            Some(against) => format!("{line}\n{against}"),
            None => line,
        }
    }
}

/// A workspace whose one channel is a webhook list of `urls`.
fn list_workspace(urls: &[String]) -> Workspace {
    let ws = Workspace::new(
        r#"
        [organization]
        name = "Example Inc"
        [[channel]]
        name = "subscribers"
        kind = "webhook"
        urls_file = "subscribers.txt"
        "#,
    );
    ws.write("subscribers.txt", &(urls.join("\n") + "\n"));
    ws
}

/// Posts to a list of `urls`: the workspace, and the run's figures.
fn post_to_list(urls: &[String]) -> (Workspace, ListRun) {
    let ws = list_workspace(urls);
    let theirs = against().map(|_| list_workspace(urls));
    let (mut paired, mut peak, mut sizes) = (Paired::default(), 0, Vec::new());
    for run in 0..runs().min(5) {
        let args = post_args(&format!("Subscribers run {run}"));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        paired.measure(run, |program, other| match (other, &theirs) {
            // Sampled for memory as ours is: the sampling takes time of its own.
            (true, Some(theirs)) => measure_with(theirs.cmd_of(program, &args), true).0,
            _ => {
                let (time, memory) = measure_with(ws.cmd_of(program, &args), true);
                peak = peak.max(memory);
                // Each post folds its log into the file as it ends: the file holds all of it.
                sizes.push(std::fs::metadata(ws.journal()).map_or(0, |meta| meta.len()));
                time
            }
        });
    }
    // From the first post on, so that making the journal's tables is not counted.
    let journal = match sizes.as_slice() {
        [first, .., last] => (last - first) / (sizes.len() as u64 - 1),
        [only] => *only,
        [] => 0,
    };
    (
        ws,
        ListRun {
            peak,
            journal,
            paired,
        },
    )
}

/// Apprise's run over the same list: wall time, and how many requests arrived (so a ratio is
/// only quoted for a run that delivered everything).
struct Apprise {
    version: String,
    wall: Duration,
    delivered: usize,
}

/// Runs `apprise` (the nearest peer: a CLI that notifies many services at once) with the same
/// JSON webhook targets, when it is installed (`pip install apprise`).
fn apprise(emulator: &Emulator, ws: &Workspace, urls: &[String]) -> Option<Apprise> {
    let version = std::process::Command::new("apprise")
        .arg("--version")
        .output()
        .ok()
        .filter(|output| output.status.success())?;
    let version = String::from_utf8_lossy(&version.stdout)
        .lines()
        .next()
        .unwrap_or_default()
        .trim()
        .to_owned();
    // Apprise's JSON notifier: `json://host:port/path`, given as arguments (its configuration
    // files are limited to 128 KB, which 10,000 URLs exceed).
    let targets: Vec<String> = urls
        .iter()
        .map(|url| url.replacen("http://", "json://", 1))
        .collect();
    let mut times = Vec::new();
    let mut delivered = 0;
    // Apprise takes a minute over 10,000 targets: one run there is enough to compare.
    let tries = if urls.len() > 1_000 { 1 } else { runs().min(3) };
    for _ in 0..tries {
        let before = emulator.requests().len();
        let started = std::time::Instant::now();
        let status = std::process::Command::new("apprise")
            .args(["--title", "Investigating: Login failures"])
            .args([
                "--body",
                "Some customers cannot log in. We are looking into it.",
            ])
            .args(&targets)
            .current_dir(ws.path())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .ok()?;
        times.push(started.elapsed());
        delivered = emulator.requests().len() - before;
        if !status.success() {
            break;
        }
    }
    Some(Apprise {
        version,
        wall: median(times),
        delivered,
    })
}

fn email_recipients() -> (Duration, u64) {
    let smtp = Smtp::start(Mode::Starttls);
    smtp.with(|state| state.latency = Some(Duration::from_millis(100)));
    let ws = Workspace::new(&format!(
        r#"
        [organization]
        name = "Example Inc"
        [[channel]]
        name = "subscribers"
        kind = "email"
        connections = 40
        host = "127.0.0.1"
        port = {}
        ca_file = "ca.pem"
        username_env = "SMTP_USER"
        password_env = "SMTP_PASSWORD"
        from = "status@example.com"
        recipients_file = "subscribers.txt"
        "#,
        smtp.port
    ))
    .env("SMTP_USER", USER)
    .env("SMTP_PASSWORD", PASSWORD);
    ws.write("ca.pem", &smtp.ca_pem);
    let list: String = (0..1000)
        .map(|n| format!("subscriber{n}@example.net\n"))
        .collect();
    ws.write("subscribers.txt", &list);
    let (mut times, mut peak) = (Vec::new(), 0);
    for run in 0..runs().min(3) {
        let args = post_args(&format!("Email run {run}"));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let (time, memory) = measure_with(ws.cmd_of(outage(), &args), true);
        times.push(time);
        peak = peak.max(memory);
    }
    (median(times), peak)
}

/// The dry runs' times (with `BENCH_AGAINST`, the other build's beside them).
fn preview() -> Paired {
    let emulator = Emulator::start();
    let smtp = Smtp::start(Mode::Starttls);
    let ws = seven_channels(&emulator.base, &smtp);
    let args = post_args("Preview");
    let mut args: Vec<&str> = args.iter().map(String::as_str).collect();
    args.push("--dry-run");
    let mut paired = Paired::default();
    for run in 0..runs() * 3 {
        paired.measure(run, |program, _| {
            measure(ws.cmd_of(program, &args).any_stdout()).0
        });
    }
    paired
}

/// `status` and `post` on an empty journal and on one with 100,000 past incidents.
fn journal_growth() -> [(Duration, Duration); 2] {
    let emulator = Emulator::start();
    let config = format!(
        r#"
        [organization]
        name = "Example Inc"
        [[channel]]
        name = "hook"
        kind = "webhook"
        url = "{}"
        [[channel]]
        name = "banner"
        kind = "banner"
        html_path = "banner.html"
        "#,
        emulator.url("/json/hook")
    );
    let empty = Workspace::new(&config);
    let full = Workspace::new(&config);
    support::fill(&full, 100_000, &full.journal().display().to_string(), 60);
    // Create the empty journal first so both runs open an existing file.
    let args = post_args("First");
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    measure(empty.cmd_of(outage(), &args));
    let [statuses, posts] = take_turns([&empty, &full], "Growth");
    [statuses, posts]
}

/// `post` to the banner alone and `status`, with 10,000 past incidents, on SQLite and on a
/// PostgreSQL server on loopback (when one can be started).
fn postgres_cost() -> Option<[(Duration, Duration); 2]> {
    let server = support::postgres::Server::start("the benchmark's PostgreSQL rows")?;
    let url = server.database("bench");
    let config = r#"
        [organization]
        name = "Example Inc"
        [[channel]]
        name = "banner"
        kind = "banner"
        html_path = "banner.html"
        "#;
    let sqlite = Workspace::new(config);
    let postgres = Workspace::new(config).env("OUTAGE_STATE", &url);
    support::fill(&sqlite, 10_000, &sqlite.journal().display().to_string(), 60);
    support::fill(&postgres, 10_000, &url, 60);
    let [statuses, posts] = take_turns([&sqlite, &postgres], "Journal");
    Some([posts, statuses])
}

/// The medians of `status` and of `post` on two workspaces that take turns, so that whatever
/// else the machine does weighs on both alike.
fn take_turns(sides: [&Workspace; 2], title: &str) -> [(Duration, Duration); 2] {
    let (mut statuses, mut posts) = ([Vec::new(), Vec::new()], [Vec::new(), Vec::new()]);
    for run in 0..runs() {
        for (side, ws) in sides.into_iter().enumerate() {
            statuses[side].push(measure(ws.cmd_of(outage(), &["status"])).0);
            let args = post_args(&format!("{title} run {run}"));
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            posts[side].push(measure(ws.cmd_of(outage(), &args)).0);
        }
    }
    let pair = |[a, b]: [Vec<Duration>; 2]| (median(a), median(b));
    [pair(statuses), pair(posts)]
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` would pass nothing useful either.
    if std::env::args().any(|arg| arg == "--list") {
        return;
    }
    println!(
        "outage benchmark: medians of {} runs, release binary, loopback emulators\n",
        runs()
    );
    if against().is_some() {
        let other = std::env::var("BENCH_AGAINST").unwrap_or_default();
        println!("A, B's webhook lists and C beside {other}, run by run in turn\n");
    }
    let only = std::env::var("BENCH_ONLY").unwrap_or_else(|_| "ABCDE".into());
    if only.contains('A') {
        println!("A. fan-out, 7 channels, remotes answer after 200 ms");
        let mut bare = Vec::new();
        for (relay, remotes) in [
            ("SMTP with STARTTLS", Remotes::Starttls),
            ("SMTP relay without TLS", Remotes::Relay),
            ("HTTPS, SMTP STARTTLS", Remotes::Https),
        ] {
            let row = fan_out(remotes);
            println!(
                "   {relay:<23} wall {:>10}   ratio {:.3}   (target <= 1.05)",
                ms(row.paired.wall()),
                row.ratio
            );
            if let Some(against) = row.paired.against() {
                println!("{against}");
            }
            bare.push(ms(row.bare));
        }
        println!(
            "   a bare client's request to the same emulator, between the runs: {}",
            bare.join(" / ")
        );
    }
    if only.contains('B') {
        for (count, targets) in [(1_000, ""), (10_000, "   (targets < 2 s, < 64 MB)")] {
            let (ours, peer) = webhook_subscribers(count);
            let wall = ours.paired.wall();
            println!("B. {count} webhook subscribers, 100 ms each");
            println!("{}", ours.line(targets));
            match peer {
                None => println!("   apprise skipped: not installed (pip install apprise)"),
                Some(peer) => println!(
                    "   apprise wall {:>10}   {} of {count} delivered   ratio {:.1}x   ({})",
                    ms(peer.wall),
                    peer.delivered,
                    peer.wall.as_secs_f64() / wall.as_secs_f64(),
                    peer.version
                ),
            }
        }
        println!("B. 10000 webhook subscribers, 100 ms each, each on a server of its own");
        match webhook_servers(10_000) {
            None => println!("   skipped: this process may not open 12,000 files"),
            Some(ours) => println!("{}", ours.line("   (targets < 2 s, < 64 MB)")),
        }
        let (wall, peak) = email_recipients();
        println!("   1,000 email recipients, 100 ms per message, connections = 40");
        println!(
            "   wall {:>10}   peak {:>8}   (target < 4 s)",
            ms(wall),
            mb(peak)
        );
    }
    if only.contains('C') {
        let paired = preview();
        println!("C. post --dry-run, 7 channels, cold process");
        println!("   wall {:>10}   (target < 3 ms)", ms(paired.wall()));
        if let Some(against) = paired.against() {
            println!("{against}");
        }
    }
    if only.contains('E') {
        println!("E. PostgreSQL journal on loopback vs SQLite, 10,000 past incidents");
        match postgres_cost() {
            None => println!("   skipped: PostgreSQL is not installed"),
            Some([(post_sqlite, post_pg), (status_sqlite, status_pg)]) => {
                for (what, sqlite, pg) in [
                    ("post  ", post_sqlite, post_pg),
                    ("status", status_sqlite, status_pg),
                ] {
                    println!(
                        "   {what} {:>10} vs {:>10}   +{:.1} ms   (target within 10 ms)",
                        ms(pg),
                        ms(sqlite),
                        (pg.as_secs_f64() - sqlite.as_secs_f64()) * 1000.0
                    );
                }
            }
        }
    }
    if !only.contains('D') {
        return;
    }
    let [(status_empty, status_full), (post_empty, post_full)] = journal_growth();
    println!("D. journal with 100,000 past incidents vs empty");
    println!(
        "   status {:>10} vs {:>10}   ratio {:.2}   (target <= 2)",
        ms(status_full),
        ms(status_empty),
        status_full.as_secs_f64() / status_empty.as_secs_f64()
    );
    println!(
        "   post   {:>10} vs {:>10}   ratio {:.2}   (target <= 2)",
        ms(post_full),
        ms(post_empty),
        post_full.as_secs_f64() / post_empty.as_secs_f64()
    );
}
