//! The dispatcher on paused time, with the stub channel: attempts, backoff, waits and their cap,
//! timeouts, harmless repeats, reply-thread parts, redaction and Ctrl-C, in milliseconds.

use std::sync::Mutex;

use tokio::time::Instant;

use super::*;
use crate::channels::{Receipt, Rendering, StubChannel};
use crate::journal::NewDelivery;

fn settings() -> Settings {
    Settings {
        max_attempts: 3,
        retry_base: Duration::from_secs(1),
        max_retry_wait: Duration::from_secs(60),
        max_in_flight: 8,
        open_files: None,
    }
}

/// A journal holding one update with a pending delivery per id.
fn journal(ids: &[&str]) -> (tempfile::TempDir, Box<dyn Journal>) {
    let deliveries: Vec<NewDelivery> = ids
        .iter()
        .map(|id| NewDelivery {
            id: (*id).to_owned(),
            channel: (*id).to_owned(),
            kind: "webhook".into(),
            target: String::new(),
            state: State::Pending,
            note: None,
            rendering: Some(Rendering::text("hello".into()).into()),
        })
        .collect();
    let (dir, journal, _) = crate::journal::example(&deliveries);
    (dir, Box::new(journal))
}

fn job(id: &str, adapter: Arc<dyn Channel>, repeat_is_safe: bool) -> Job {
    Job {
        channel: id.to_owned(),
        adapter,
        post: Post {
            delivery_id: id.to_owned(),
            target: String::new(),
            incident: "2026-11-22-login-failures".into(),
            sequence: 1,
            rendering: Rendering::text("hello".into()).into(),
            thread: None,
            posted: Vec::new(),
        },
        timeout: Duration::from_secs(5),
        repeat_is_safe,
    }
}

#[derive(Default)]
struct Recorder {
    finished: Mutex<Vec<String>>,
}

impl Progress for Recorder {
    fn planned(&self, _: &str, _: usize) {}
    fn retrying(&self, _: &str, _: &str, _: u32, _: Duration, _: &str) {}
    fn finished(&self, channel: &str, _: &str, outcome: &Outcome) {
        self.finished
            .lock()
            .unwrap()
            .push(format!("{channel} {}", outcome.state.as_str()));
    }
}

/// Dispatches and returns how it ended, the time that passed, what the progress display was told
/// and what the journal holds (the outcomes, in the order of the jobs).
async fn run(
    jobs: Vec<Job>,
    settings: Settings,
    redactor: &Redactor,
    interrupt: impl std::future::Future<Output = ()>,
) -> (
    Dispatched,
    Duration,
    Arc<Recorder>,
    Vec<crate::journal::Delivery>,
) {
    let ids: Vec<String> = jobs
        .iter()
        .map(|job| job.post.delivery_id.clone())
        .collect();
    let names: Vec<&str> = ids.iter().map(String::as_str).collect();
    let (_dir, journal) = journal(&names);
    let writer = Writer::inline(journal);
    let progress = Arc::new(Recorder::default());
    let started = Instant::now();
    let dispatched = dispatch(
        jobs,
        &settings,
        &writer,
        progress.clone(),
        redactor,
        interrupt,
    )
    .await;
    let elapsed = started.elapsed();
    let (journal, written) = writer.finish();
    written.unwrap();
    let update = journal
        .updates("2026-11-22-login-failures")
        .unwrap()
        .pop()
        .unwrap();
    let recorded = journal.deliveries(&update.id).unwrap();
    (dispatched, elapsed, progress, recorded)
}

fn never() -> std::future::Pending<()> {
    std::future::pending()
}

#[tokio::test(start_paused = true)]
async fn transient_failures_are_retried_with_backoff_until_the_last_attempt() {
    let stub = Arc::new(StubChannel::new_error(Failure::transient("503")));
    let (_, elapsed, _, recorded) = run(
        vec![job("a", stub.clone(), false)],
        settings(),
        &Redactor::default(),
        never(),
    )
    .await;
    assert_eq!(stub.attempts(), 3);
    // Exponential from 1 s with jitter: at least 1 s + 2 s, at most twice that.
    assert!(
        elapsed >= Duration::from_secs(3) && elapsed < Duration::from_secs(7),
        "{elapsed:?}"
    );
    assert_eq!(
        (recorded[0].state, recorded[0].attempts),
        (State::Failed, 3)
    );
}

#[tokio::test(start_paused = true)]
async fn a_wait_within_the_cap_is_honoured_and_one_over_it_fails_at_once() {
    let stub = Arc::new(StubChannel::new_ok().then(Err(Failure::rate_limited(
        "429",
        Some(Duration::from_secs(30)),
    ))));
    let (_, elapsed, _, recorded) = run(
        vec![job("a", stub.clone(), false)],
        settings(),
        &Redactor::default(),
        never(),
    )
    .await;
    assert_eq!(recorded[0].state, State::Delivered);
    assert_eq!(stub.attempts(), 2);
    assert_eq!(elapsed.as_secs(), 30);

    let stub = Arc::new(StubChannel::new_error(Failure::rate_limited(
        "429",
        Some(Duration::from_secs(600)),
    )));
    let (_, elapsed, _, recorded) = run(
        vec![job("a", stub.clone(), false)],
        settings(),
        &Redactor::default(),
        never(),
    )
    .await;
    let outcome = &recorded[0];
    assert_eq!((outcome.state, outcome.attempts), (State::Failed, 1));
    assert_eq!(
        outcome.error.as_deref(),
        Some(
            "429; rate limited for 10m, longer than max_retry_wait (1m); run `outage retry` later"
        )
    );
    assert_eq!(elapsed, Duration::ZERO);
}

#[tokio::test(start_paused = true)]
async fn a_permanent_failure_is_never_retried() {
    let stub = Arc::new(StubChannel::new_error(Failure::permanent("401")));
    let (.., recorded) = run(
        vec![job("a", stub.clone(), false)],
        settings(),
        &Redactor::default(),
        never(),
    )
    .await;
    assert_eq!(stub.attempts(), 1);
    assert_eq!(recorded[0].state, State::Failed);
}

#[tokio::test(start_paused = true)]
async fn a_timeout_is_unknown_and_retried_only_where_a_repeat_is_harmless() {
    for (safe, attempts, state) in [(false, 1, State::Unknown), (true, 3, State::Unknown)] {
        let stub = Arc::new(StubChannel::new_ok().delayed(Duration::from_secs(20)));
        let (.., recorded) = run(
            vec![job("a", stub.clone(), safe)],
            settings(),
            &Redactor::default(),
            never(),
        )
        .await;
        let outcome = &recorded[0];
        assert_eq!(
            (outcome.state, outcome.attempts),
            (state, attempts),
            "safe: {safe}"
        );
        assert_eq!(outcome.error.as_deref(), Some("no answer within 5s"));
    }
}

#[tokio::test(start_paused = true)]
async fn a_slow_channel_does_not_hold_up_the_others() {
    let slow = Arc::new(StubChannel::new_ok().delayed(Duration::from_secs(4)));
    let fast = Arc::new(StubChannel::new_ok());
    let (_, elapsed, progress, _) = run(
        vec![job("slow", slow, false), job("fast", fast, false)],
        settings(),
        &Redactor::default(),
        never(),
    )
    .await;
    assert_eq!(
        *progress.finished.lock().unwrap(),
        ["fast delivered", "slow delivered"]
    );
    assert_eq!(elapsed.as_secs(), 4);
}

#[tokio::test(start_paused = true)]
async fn the_parts_of_a_thread_that_went_out_are_not_posted_again() {
    let stub = Arc::new(
        StubChannel::new_ok()
            .then(Err(Failure::transient("503").with_posted(vec!["p1".into()])))
            .then(Ok(Receipt {
                remote_id: Some("p2".into()),
                parts: vec!["p1".into(), "p2".into()],
                ..Receipt::default()
            })),
    );
    let (.., recorded) = run(
        vec![job("x", stub.clone(), false)],
        settings(),
        &Redactor::default(),
        never(),
    )
    .await;
    let posts = stub.posts();
    assert_eq!(posts[0].posted, Vec::<String>::new());
    assert_eq!(posts[1].posted, ["p1"]);
    assert_eq!(recorded[0].parts, ["p1", "p2"]);
}

#[tokio::test(start_paused = true)]
async fn what_comes_back_is_redacted_before_it_is_kept() {
    let redactor = Redactor::default();
    redactor.add("s3cr3t-token-value");
    let stub = Arc::new(StubChannel::new_error(Failure::permanent(
        "404 Cannot POST /hooks/s3cr3t-token-value \u{1b}[31m",
    )));
    let (.., recorded) = run(vec![job("a", stub, false)], settings(), &redactor, never()).await;
    let expected = Some("404 Cannot POST /hooks/[redacted]");
    assert_eq!(recorded[0].error.as_deref(), expected);
}

#[tokio::test(start_paused = true)]
async fn an_interrupt_leaves_what_was_sending_unknown_and_what_waited_failed() {
    let settings = Settings {
        max_in_flight: 1,
        ..settings()
    };
    let stub = Arc::new(StubChannel::new_ok().delayed(Duration::from_secs(10)));
    let jobs = vec![job("a", stub.clone(), false), job("a", stub.clone(), false)];
    let mut second = jobs.into_iter();
    let first = second.next().unwrap();
    let mut other = second.next().unwrap();
    other.post.delivery_id = "b".into();
    let (dispatched, elapsed, _, recorded) = run(
        vec![first, other],
        settings,
        &Redactor::default(),
        tokio::time::sleep(Duration::from_secs(2)),
    )
    .await;
    assert!(dispatched.interrupted);
    assert_eq!(elapsed.as_secs(), 2);
    assert_eq!(recorded[0].state, State::Unknown);
    assert_eq!(
        recorded[0].attempts, 1,
        "the attempt was journaled before the request"
    );
    assert_eq!(recorded[1].state, State::Failed);
    assert_eq!(recorded[1].attempts, 0);
}

#[test]
fn durations_read_as_people_write_them() {
    assert_eq!(humanize(Duration::from_millis(250)), "250ms");
    assert_eq!(humanize(Duration::from_millis(1500)), "1.5s");
    assert_eq!(humanize(Duration::from_secs(125)), "2m 5s");
    assert_eq!(humanize(Duration::from_secs(3 * 3600 + 20 * 60)), "3h 20m");
}

/// A list of `count` recipients answering after a second, `max_in_flight` at a time but never
/// more than `open_files`, and Ctrl-C after `stop_after` half-seconds: the first `limit` go out
/// in the first second, the next `limit` in the second, and so on; at the interrupt, the wave
/// being sent is unknown and the rest failed.
fn a_list_goes_out_in_waves_of_max_in_flight(
    count: usize,
    max_in_flight: usize,
    open_files: Option<usize>,
    stop_after: u64,
) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .unwrap();
    let stub = Arc::new(StubChannel::new_ok().delayed(Duration::from_secs(1)));
    let jobs: Vec<Job> = (0..count)
        .map(|n| {
            let mut job = job(&format!("d{n:03}"), stub.clone(), false);
            job.channel = "subscribers".into();
            job
        })
        .collect();
    let settings = Settings {
        max_in_flight,
        open_files,
        ..settings()
    };
    let limit = max_in_flight.min(open_files.unwrap_or(usize::MAX)).max(1);
    let stop = Duration::from_millis(500 * stop_after);
    let (dispatched, elapsed, progress, recorded) = runtime.block_on(async {
        let interrupt = tokio::time::sleep(stop);
        run(jobs, settings, &Redactor::default(), interrupt).await
    });
    let waves = count.div_ceil(limit);
    let whole = Duration::from_secs(waves as u64);
    assert_eq!(dispatched.interrupted, stop < whole);
    assert_eq!(elapsed, stop.min(whole));
    // Whole seconds before the interrupt: that many waves went out; the next was on its way.
    let done = (stop.as_secs() as usize * limit).min(count);
    let sending = if stop < whole {
        limit.min(count - done)
    } else {
        0
    };
    let expected: Vec<(String, State, u32)> = (0..count)
        .map(|n| {
            let (state, attempts) = if n < done {
                (State::Delivered, 1)
            } else if n < done + sending {
                (State::Unknown, 1)
            } else {
                (State::Failed, 0)
            };
            (format!("d{n:03}"), state, attempts)
        })
        .collect();
    let got: Vec<(String, State, u32)> = recorded
        .iter()
        .map(|delivery| (delivery.id.clone(), delivery.state, delivery.attempts))
        .collect();
    assert_eq!(got, expected);
    assert_eq!(stub.posts().len(), done + sending, "each sent at most once");
    assert_eq!(progress.finished.lock().unwrap().len(), count);
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]

    #[test]
    fn lists_go_out_in_waves_of_max_in_flight(
        count in 1usize..40,
        limit in 1usize..12,
        open_files in proptest::option::of(0usize..12),
        stop_after in proptest::prelude::prop_oneof![1u64..12, proptest::prelude::Just(1_000)],
    ) {
        // Half-seconds that are whole seconds would tie with a wave ending: odd ones only.
        a_list_goes_out_in_waves_of_max_in_flight(count, limit, open_files, stop_after | 1);
    }

    /// Lanes get what they want when it fits the open files; else no lane gets more than it
    /// wants, each gets one at least, and together they stay within the budget (or one each).
    #[test]
    fn channels_share_the_open_files(
        wanted in proptest::collection::vec(1usize..2_000, 1..8),
        budget in 0usize..4_000,
    ) {
        let limits = share(&wanted, budget);
        let total: usize = wanted.iter().sum();
        if total <= budget {
            proptest::prop_assert_eq!(&limits, &wanted);
        }
        for (limit, want) in limits.iter().zip(&wanted) {
            proptest::prop_assert!((1..=*want).contains(limit));
        }
        proptest::prop_assert!(limits.iter().sum::<usize>() <= budget.max(wanted.len()));
    }
}

/// Panics on the post to `boom`, delivers the others.
struct PanicsOnBoom;

#[async_trait::async_trait]
impl Channel for PanicsOnBoom {
    async fn deliver(&self, post: &Post) -> Result<Receipt, Failure> {
        assert_ne!(post.delivery_id, "boom", "a bug in an adapter");
        Ok(Receipt::default())
    }
}

#[tokio::test(start_paused = true)]
async fn a_panic_ends_its_delivery_and_not_the_ones_behind_it() {
    let adapter = Arc::new(PanicsOnBoom);
    let jobs: Vec<Job> = ["before", "boom", "after"]
        .into_iter()
        .map(|id| {
            let mut job = job(id, adapter.clone(), false);
            job.channel = "list".into();
            job
        })
        .collect();
    let settings = Settings {
        max_in_flight: 1,
        ..settings()
    };
    let (dispatched, .., recorded) = run(jobs, settings, &Redactor::default(), never()).await;
    assert!(!dispatched.interrupted);
    let got: Vec<(&str, State, Option<&str>)> = recorded
        .iter()
        .map(|delivery| {
            (
                delivery.id.as_str(),
                delivery.state,
                delivery.error.as_deref(),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            ("before", State::Delivered, None),
            (
                "boom",
                State::Unknown,
                Some("outage stopped this delivery on an internal error; it may have gone out")
            ),
            ("after", State::Delivered, None),
        ]
    );
}

/// Records the order its deliveries start in; `session` says whether it opens one first.
struct Starts {
    session: bool,
    started: Arc<Mutex<Vec<String>>>,
}

#[async_trait::async_trait]
impl Channel for Starts {
    async fn deliver(&self, post: &Post) -> Result<Receipt, Failure> {
        self.started.lock().unwrap().push(post.delivery_id.clone());
        Ok(Receipt::default())
    }

    fn opens_session(&self) -> bool {
        self.session
    }
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]

    /// Channels that open a session start first, in the order they were given; the others
    /// follow in theirs.
    #[test]
    fn sessions_start_first(sessions in proptest::collection::vec(proptest::bool::ANY, 1..8)) {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .start_paused(true)
            .build()
            .unwrap();
        let started = Arc::new(Mutex::new(Vec::new()));
        let jobs: Vec<Job> = sessions
            .iter()
            .enumerate()
            .map(|(n, &session)| {
                job(&format!("c{n}"), Arc::new(Starts { session, started: started.clone() }), false)
            })
            .collect();
        let (dispatched, ..) =
            runtime.block_on(run(jobs, settings(), &Redactor::default(), never()));
        proptest::prop_assert!(!dispatched.interrupted);
        let (first, then): (Vec<usize>, Vec<usize>) =
            (0..sessions.len()).partition(|&n| sessions[n]);
        let expected: Vec<String> = first.into_iter().chain(then).map(|n| format!("c{n}")).collect();
        proptest::prop_assert_eq!(&*started.lock().unwrap(), &expected);
    }
}
