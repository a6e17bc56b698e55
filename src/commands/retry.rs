//! `outage retry ID`: sends the latest update's failed deliveries again, under the same delivery
//! ids. Deliveries whose outcome is unknown (the process died mid-request) are only sent with
//! `--include-unknown`; delivered ones never.

use std::collections::HashMap;
use std::sync::Arc;

use anyhow::{Context as _, bail};

use super::{Setup, open_journal_for_reading, post::finish, resolve_incident};
use crate::channels::{self, Context};
use crate::cli::{Cli, RetryArgs};
use crate::journal::{PublishLock, State};
use crate::report::{self, Report};
use crate::wording::render::Renderer;

pub fn run(cli: &Cli, args: &RetryArgs) -> anyhow::Result<u8> {
    let setup = Setup::load(cli)?;
    let _lock = PublishLock::acquire(&setup.state_path, || {
        eprintln!("waiting for another outage process to finish publishing...");
    })?;
    let journal = open_journal_for_reading(&setup.state_path)?;
    journal.settle_abandoned()?;
    let incident_id = resolve_incident(&journal, &args.incident)?;
    let latest = journal
        .latest_update(&incident_id)?
        .context("the incident has no update")?;
    let update = latest.update.clone();
    let deliveries = journal.deliveries(&latest.id)?;
    let wanted: Vec<_> = deliveries
        .iter()
        .filter(|delivery| {
            delivery.state == State::Failed
                || (args.include_unknown && delivery.state == State::Unknown)
        })
        .collect();
    let unknown = deliveries
        .iter()
        .filter(|delivery| delivery.state == State::Unknown)
        .count();
    if wanted.is_empty() && unknown > 0 && !args.include_unknown {
        bail!(
            "{unknown} delivery(ies) of update {} have an unknown outcome (the process ended \
             mid-request); check the channel, then pass --include-unknown to send them again",
            update.sequence
        );
    }

    let renderer = Arc::new(Renderer::new(&setup.config.channels)?);
    // Some transports (lettre's SMTP pool) start tasks when built: build them on the runtime.
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    let _entered = runtime.enter();
    let context = Context::new(&setup.config, &setup.state_path)?;
    // One adapter per channel, shared by its recipients (and their connection pool).
    let mut adapters = HashMap::new();
    for delivery in &wanted {
        if adapters.contains_key(&delivery.channel) {
            continue;
        }
        let channel = setup
            .config
            .channels
            .iter()
            .find(|channel| channel.name == delivery.channel)
            .with_context(|| {
                format!(
                    "channel `{}` is no longer in {}; it cannot be retried",
                    delivery.channel,
                    setup.config.path.display()
                )
            })?;
        adapters.insert(
            delivery.channel.clone(),
            channels::build(channel, renderer.clone(), &context)?,
        );
    }
    let jobs = super::jobs(&journal, &setup, &update, &wanted, &adapters)?;
    let ids: Vec<String> = wanted.iter().map(|delivery| delivery.id.clone()).collect();
    journal.reopen(&ids)?;
    let progress = report::progress(args.quiet, args.json);
    let journal = super::send(&runtime, journal, jobs, &setup, progress)?;
    let report = Report::recorded(&update, &journal.deliveries(&latest.id)?, true);
    let verb = if ids.is_empty() {
        "has nothing to retry"
    } else {
        "retried"
    };
    finish(&report, args.json, verb)
}
