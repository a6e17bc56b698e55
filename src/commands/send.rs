//! The send step `post` and `retry` share: recorded deliveries become the dispatcher's jobs, the
//! message channels go out at once, and the projections are rendered again from the journal's
//! state under the projections lock (so two posts on different incidents never leave a banner
//! that misses one of them), journaled, and written while the lock is held. A projection never
//! holds up a message channel.

use std::collections::HashMap;
use std::sync::Arc;

use anyhow::Context;
use jiff::Timestamp;

use crate::channels::{Channel, ChannelConfig, Post, PostThread};
use crate::dispatch::{self, Job, Progress, Writer};
use crate::journal::{Access, Change, Delivery, Journal, Opening, PROJECTIONS};
use crate::plan;
use crate::redact::Redactor;
use crate::setup::Setup;
use crate::update::Update;
use crate::wording::render::Renderer;

/// The channels built and ready to send: the runtime they run on, their adapters, the
/// redactor that knows their secrets, and the projections' journal connection being opened.
pub(crate) struct Ready {
    /// Taken only when `Ready` is dropped.
    runtime: Option<tokio::runtime::Runtime>,
    adapters: HashMap<String, Arc<dyn Channel>>,
    redactor: Redactor,
    /// The projections take their lock on a connection of their own. Opening one to a
    /// PostgreSQL journal costs a few milliseconds (a backend and a password exchange): it is
    /// opened on a thread while the update is recorded.
    spare: std::sync::Mutex<Option<Opening>>,
}

impl Ready {
    /// Builds the adapters of the named channels. Every channel that is not ready is named in
    /// one error, and nothing goes out.
    /// `spare`, when given, is the projections' connection already being opened.
    pub(crate) fn build<'a>(
        setup: &Setup,
        channels: impl IntoIterator<Item = &'a str>,
        spare: Option<Opening>,
    ) -> anyhow::Result<Ready> {
        let channels: Vec<&str> = channels.into_iter().collect();
        setup
            .check_roots(channels.iter().copied())
            .map_err(|err| anyhow::anyhow!("{err:#}\nnothing was sent"))?;
        let runtime = crate::setup::runtime()?;
        let redactor = Redactor::default();
        // Some transports (lettre's SMTP connections) start tasks when built: build them on
        // the runtime.
        let adapters = {
            let _entered = runtime.enter();
            setup
                .build(channels, &redactor)
                .map_err(|err| anyhow::anyhow!("{err:#}\nnothing was sent"))?
        };
        let projects = adapters.keys().any(|name| {
            setup
                .channel(name)
                .is_some_and(|channel| channel.kind.is_projection())
        });
        let spare = projects
            .then(|| spare.unwrap_or_else(|| Opening::start(&setup.state, Access::ReadWrite)));
        // Every secret is known now. The redaction matcher is built by the runtime's worker
        // while the update is recorded (mostly a wait for the disk), not by the first answer;
        // by the worker, not a thread of its own, which would get an allocator arena of its own.
        // A list's is left for later (see `Redactor::prepare`).
        let prepared = redactor.clone();
        runtime.spawn(async move { prepared.prepare() });
        Ok(Ready {
            runtime: Some(runtime),
            adapters,
            redactor,
            spare: std::sync::Mutex::new(spare),
        })
    }
}

impl Ready {
    fn runtime(&self) -> &tokio::runtime::Runtime {
        self.runtime.as_ref().expect("taken only on drop")
    }
}

impl Drop for Ready {
    /// Everything sent has been awaited by now: what the runtime still holds is idle
    /// connections and their tasks, which it drops without this thread waiting for its worker to
    /// stop (half a millisecond at the end of every post).
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

/// What to send.
pub(crate) struct Sending<'a> {
    pub(crate) setup: &'a Setup,
    pub(crate) update: &'a Update,
    /// Recorded deliveries to send now, each with its rendering.
    pub(crate) deliveries: Vec<Delivery>,
    pub(crate) renderer: &'a Renderer,
    /// The "now" the update was planned with: projections are rendered again with it.
    pub(crate) now: Timestamp,
    pub(crate) progress: Arc<dyn Progress>,
}

/// How sending ended.
pub(crate) struct Sent {
    pub(crate) journal: Box<dyn Journal>,
    /// Ctrl-C stopped it.
    pub(crate) interrupted: bool,
}

/// Sends, journaling each outcome as it arrives, and hands the journal back.
pub(crate) fn send(
    ready: &Ready,
    journal: Box<dyn Journal>,
    mut sending: Sending<'_>,
) -> anyhow::Result<Sent> {
    let setup = sending.setup;
    let runtime = ready.runtime();
    let deliveries = std::mem::take(&mut sending.deliveries);
    // Each delivery becomes its job (10,000 subscribers are not held twice while they are sent,
    // nor in a list grown by doubling to room for 16,384).
    let mut messages = Vec::with_capacity(deliveries.len());
    let mut projections = Vec::new();
    for delivery in deliveries {
        let channel = setup.channel(&delivery.channel).with_context(|| {
            format!(
                "channel `{}` is no longer in {}",
                delivery.channel,
                setup.config.path.display()
            )
        })?;
        let job = job(&*journal, &sending, &ready.adapters, channel, delivery)?;
        if channel.kind.is_projection() {
            projections.push((channel, job));
        } else {
            messages.push(job);
        }
    }
    let settings = dispatch::Settings::from(&setup.config.dispatch);
    let writer = Writer::start(journal);
    let interrupted = runtime.block_on(async {
        let (stop, stopped) = tokio::sync::watch::channel(false);
        // Registered here, before anything is sent: `ctrl_c()` would register only when its
        // task is first polled, and a Ctrl-C before that would kill the process mid-request.
        let mut interrupts =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())?;
        let listener = tokio::spawn(async move {
            if interrupts.recv().await.is_some() {
                let _ = stop.send(true);
            }
        });
        let interrupt = || {
            let mut stopped = stopped.clone();
            async move {
                if stopped.wait_for(|stopped| *stopped).await.is_err() {
                    std::future::pending::<()>().await;
                }
            }
        };
        let messages = dispatch::dispatch(
            messages,
            &settings,
            &writer,
            sending.progress.clone(),
            &ready.redactor,
            interrupt(),
        );
        let projections = async {
            if projections.is_empty() {
                return Ok(false);
            }
            // Blocking: taking the lock may wait for another process. The message channels go
            // on meanwhile on the runtime's other threads.
            let spare = ready.spare.lock().ok().and_then(|mut spare| spare.take());
            let (guard, jobs) = tokio::task::block_in_place(|| {
                rendered_again(&sending, spare, projections, &writer)
            })?;
            let done = dispatch::dispatch(
                jobs,
                &settings,
                &writer,
                sending.progress.clone(),
                &ready.redactor,
                interrupt(),
            )
            .await;
            // Closing a connection may block (a PostgreSQL client runs its own runtime).
            tokio::task::block_in_place(|| drop(guard));
            Ok::<bool, anyhow::Error>(done.interrupted)
        };
        let (messages, projections) = tokio::join!(messages, projections);
        listener.abort();
        projections.map(|interrupted| interrupted || messages.interrupted)
    });
    let (journal, written) = writer.finish();
    written.context("an outcome could not be written to the journal")?;
    Ok(Sent {
        journal,
        interrupted: interrupted?,
    })
}

/// The dispatcher's job for one recorded delivery.
fn job(
    journal: &dyn Journal,
    sending: &Sending<'_>,
    adapters: &HashMap<String, Arc<dyn Channel>>,
    channel: &ChannelConfig,
    delivery: Delivery,
) -> anyhow::Result<Job> {
    let update = sending.update;
    let adapter = adapters
        .get(&delivery.channel)
        .with_context(|| format!("channel `{}` was not built", delivery.channel))?;
    let thread = if channel.kind.threads() {
        journal
            .thread(&update.incident, &delivery.channel, &delivery.target)?
            .map(PostThread::from)
    } else {
        None
    };
    Ok(Job {
        channel: delivery.channel,
        adapter: adapter.clone(),
        post: Post {
            delivery_id: delivery.id,
            target: delivery.target,
            incident: update.incident.clone(),
            sequence: update.sequence,
            rendering: delivery
                .rendering
                .context("the journal has no rendering for this delivery")?,
            thread,
            posted: delivery.parts,
        },
        timeout: channel
            .timeout
            .unwrap_or(sending.setup.config.dispatch.timeout)
            .unsigned_abs(),
        repeat_is_safe: channel
            .kind
            .repeat_is_safe(delivery.started_at, Timestamp::now()),
    })
}

/// Takes the projections lock on a connection of its own, reads the state (this update
/// recorded, and any other process's since), renders each projection again, and journals the
/// renderings that changed. The returned journal holds the lock until the files are written.
fn rendered_again(
    sending: &Sending<'_>,
    spare: Option<Opening>,
    projections: Vec<(&ChannelConfig, Job)>,
    writer: &Writer,
) -> anyhow::Result<(Box<dyn Journal>, Vec<Job>)> {
    let setup = sending.setup;
    let opened = spare
        .unwrap_or_else(|| Opening::start(&setup.state, Access::ReadWrite))
        .finish();
    let mut journal = opened?.context("the journal went away while sending")?;
    journal.lock(PROJECTIONS, &mut || {})?;
    let links = setup.links();
    let projection = plan::projection(
        Some(&*journal),
        sending.update,
        projections.iter().map(|(channel, _)| *channel),
        &setup.site_settings(&links),
    )?;
    let jobs = projections
        .into_iter()
        .map(|(channel, mut job)| {
            let (rendering, _) = plan::render_one(
                setup,
                channel,
                sending.update,
                &projection,
                sending.renderer,
                sending.now,
                &links,
            );
            if let Some(rendering) = rendering
                && rendering != *job.post.rendering
            {
                writer.send(Change::Rendering {
                    id: job.post.delivery_id.clone(),
                    rendering: rendering.clone(),
                });
                job.post.rendering = Arc::new(rendering);
            }
            job
        })
        .collect();
    Ok((journal, jobs))
}
