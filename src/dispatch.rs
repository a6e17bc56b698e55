//! The dispatcher: sends every delivery at once and owns, for all channels, the timeouts, the
//! retries, the rate-limit waits, the journal entries and the progress display.
//!
//! Each delivery runs in its own task, so a slow or failing channel never holds up or cancels the
//! others. Transient failures are retried with exponential backoff and jitter; a rate limit's
//! `Retry-After` is honoured when it is within `max_retry_wait`; permanent failures are never
//! retried; an unknown outcome is retried only when the channel says a repeat is harmless.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use backon::{BackoffBuilder, ExponentialBuilder};
use tokio::sync::Semaphore;

use crate::channels::{Channel, Failure, Post};
use crate::journal::{Journal, Outcome, State};

/// One delivery to make.
pub struct Job {
    pub channel: String,
    pub adapter: Arc<dyn Channel>,
    pub post: Post,
    pub timeout: Duration,
}

#[derive(Clone, Debug)]
pub struct Settings {
    pub max_attempts: u32,
    pub retry_base: Duration,
    pub max_retry_wait: Duration,
    /// How many deliveries of one channel (a subscriber list) may be in flight at once.
    pub max_in_flight: usize,
}

impl From<&crate::config::DispatchSettings> for Settings {
    fn from(config: &crate::config::DispatchSettings) -> Settings {
        Settings {
            max_attempts: config.max_attempts,
            retry_base: config.retry_base.unsigned_abs(),
            max_retry_wait: config.max_retry_wait.unsigned_abs(),
            max_in_flight: config.max_in_flight,
        }
    }
}

/// What the dispatcher tells the person watching. Implementations must be cheap: they are called
/// from the delivery tasks.
pub trait Progress: Send + Sync {
    /// Called once per channel before anything is sent, with how many deliveries it has.
    fn planned(&self, channel: &str, deliveries: usize);
    fn started(&self, channel: &str, target: &str);
    fn retrying(&self, channel: &str, target: &str, attempt: u32, wait: Duration, why: &str);
    fn finished(&self, channel: &str, target: &str, outcome: &Outcome);
}

/// The finished deliveries, in the order of `jobs`, each with its delivery id.
pub async fn dispatch(
    jobs: Vec<Job>,
    settings: &Settings,
    journal: Arc<Mutex<Journal>>,
    progress: Arc<dyn Progress>,
) -> anyhow::Result<Vec<(String, Outcome)>> {
    let mut counts: Vec<(String, usize)> = Vec::new();
    for job in &jobs {
        match counts
            .iter_mut()
            .find(|(channel, _)| *channel == job.channel)
        {
            Some((_, count)) => *count += 1,
            None => counts.push((job.channel.clone(), 1)),
        }
    }
    for (channel, count) in &counts {
        progress.planned(channel, *count);
    }
    let mut limits: HashMap<String, Arc<Semaphore>> = HashMap::new();
    let mut tasks = tokio::task::JoinSet::new();
    for (index, job) in jobs.into_iter().enumerate() {
        let limit = limits
            .entry(job.channel.clone())
            .or_insert_with(|| {
                let limit = settings.max_in_flight.min(job.adapter.concurrency());
                Arc::new(Semaphore::new(limit.max(1)))
            })
            .clone();
        let (settings, journal, progress) = (settings.clone(), journal.clone(), progress.clone());
        tasks.spawn(async move {
            let _permit = limit
                .acquire_owned()
                .await
                .expect("semaphores are never closed");
            let id = job.post.delivery_id.clone();
            let outcome = deliver(&job, &settings, &journal, progress.as_ref()).await;
            let recorded = record(&journal, &id, &outcome).await;
            progress.finished(&job.channel, &job.post.target, &outcome);
            (index, id, outcome, recorded)
        });
    }
    let mut finished = Vec::new();
    let mut journal_error = None;
    while let Some(joined) = tasks.join_next().await {
        let (index, id, outcome, recorded) = joined?;
        if let Err(err) = recorded {
            journal_error.get_or_insert(err);
        }
        finished.push((index, id, outcome));
    }
    if let Some(err) = journal_error {
        return Err(err.context("an outcome could not be written to the journal"));
    }
    finished.sort_by_key(|(index, ..)| *index);
    Ok(finished
        .into_iter()
        .map(|(_, id, outcome)| (id, outcome))
        .collect())
}

async fn deliver(
    job: &Job,
    settings: &Settings,
    journal: &Arc<Mutex<Journal>>,
    progress: &dyn Progress,
) -> Outcome {
    progress.started(&job.channel, &job.post.target);
    let mut delays = ExponentialBuilder::default()
        .with_min_delay(settings.retry_base)
        .with_max_delay(settings.max_retry_wait)
        .with_jitter()
        .with_max_times(settings.max_attempts as usize)
        .build();
    let mut attempts = 0;
    loop {
        attempts += 1;
        if let Err(err) = count_attempt(journal, &job.post.delivery_id).await {
            return failed(State::Failed, attempts - 1, format!("{err:#}"));
        }
        let result = match tokio::time::timeout(job.timeout, job.adapter.deliver(&job.post)).await {
            Ok(result) => result,
            Err(_) => Err(Failure::Unknown(format!(
                "no answer within {}",
                humanize(job.timeout)
            ))),
        };
        let failure = match result {
            Ok(receipt) => {
                return Outcome {
                    state: State::Delivered,
                    remote_id: receipt.remote_id,
                    url: receipt.url,
                    attempts,
                    error: None,
                    note: receipt.note,
                };
            }
            Err(failure) => failure,
        };
        let retryable = match &failure {
            Failure::Transient(_) | Failure::RateLimited { .. } => true,
            Failure::Unknown(_) => job.adapter.repeat_is_safe(),
            Failure::Permanent(_) => false,
        };
        let final_state = match failure {
            Failure::Unknown(_) => State::Unknown,
            _ => State::Failed,
        };
        if !retryable || attempts >= settings.max_attempts {
            return failed(final_state, attempts, failure.message().to_owned());
        }
        let wait = match &failure {
            Failure::RateLimited {
                retry_after: Some(wait),
                message,
            } => {
                if *wait > settings.max_retry_wait {
                    return failed(
                        State::Failed,
                        attempts,
                        format!(
                            "{message}; rate limited for {}, longer than max_retry_wait ({}); run \
                             `outage retry` later",
                            humanize(*wait),
                            humanize(settings.max_retry_wait)
                        ),
                    );
                }
                *wait
            }
            _ => delays.next().unwrap_or(settings.retry_base),
        };
        progress.retrying(
            &job.channel,
            &job.post.target,
            attempts,
            wait,
            failure.message(),
        );
        tokio::time::sleep(wait).await;
    }
}

fn failed(state: State, attempts: u32, error: String) -> Outcome {
    Outcome {
        state,
        remote_id: None,
        url: None,
        attempts,
        error: Some(error),
        note: None,
    }
}

async fn count_attempt(journal: &Arc<Mutex<Journal>>, id: &str) -> anyhow::Result<()> {
    let (journal, id) = (journal.clone(), id.to_owned());
    tokio::task::spawn_blocking(move || lock(&journal).attempt(&id)).await?
}

async fn record(journal: &Arc<Mutex<Journal>>, id: &str, outcome: &Outcome) -> anyhow::Result<()> {
    let (journal, id, outcome) = (journal.clone(), id.to_owned(), outcome.clone());
    tokio::task::spawn_blocking(move || lock(&journal).finish(&id, &outcome)).await?
}

fn lock(journal: &Mutex<Journal>) -> std::sync::MutexGuard<'_, Journal> {
    // A panic while holding the lock leaves the connection usable: SQLite rolls back on its own.
    journal
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// `1.5s`, `30s`, `2m 5s`.
pub fn humanize(duration: Duration) -> String {
    let millis = duration.as_millis();
    if millis < 1000 {
        format!("{millis}ms")
    } else if millis < 60_000 {
        let seconds = duration.as_secs_f64();
        if seconds.fract() < 0.05 {
            format!("{}s", duration.as_secs())
        } else {
            format!("{seconds:.1}s")
        }
    } else {
        let seconds = duration.as_secs();
        match seconds % 60 {
            0 => format!("{}m", seconds / 60),
            rest => format!("{}m {rest}s", seconds / 60),
        }
    }
}
