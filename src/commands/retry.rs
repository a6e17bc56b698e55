//! `outage retry ID`: finishes the latest update of an incident, under the same delivery ids.
//!
//! A plain `retry` sends again what certainly did not go out (failed), and what may have but
//! whose repeat is harmless (projections, which are written again from the current state; JSON
//! webhooks, whose receivers drop a repeated `webhook-id`). What may have gone out elsewhere
//! (unknown) is sent again only with `--include-unknown`. Delivered ones never are. A delivery
//! recorded without a rendering (by an earlier version) is rendered now, or skipped with the
//! reason when it cannot be.

use crate::cli::{Cli, RetryArgs};
use crate::error::{Done, Error, Phase, say};
use crate::journal::{self, Access, Change, Delivery, State, incident_lock};
use crate::plan;
use crate::report::{self, Report};
use crate::setup::Setup;

use super::send::{self, Ready, Sending};
use super::{finish, resolve_incident, retry_hint};

pub(crate) fn run(cli: &Cli, args: &RetryArgs) -> Result<Done, Error> {
    let setup = Setup::load(cli).usage()?;
    let now = crate::update::now().usage()?;
    if journal::open(&setup.state, Access::ReadOnly)
        .usage()?
        .is_none()
    {
        return Err(Error::Usage(anyhow::anyhow!(
            "no journal at {}; nothing has been posted yet (or pass --state FILE)",
            setup.state
        )));
    }
    let mut journal = journal::open(&setup.state, Access::ReadWrite)
        .usage()?
        .expect("it exists");
    let incident = resolve_incident(&*journal, &args.incident).usage()?;
    journal
        .lock(&incident_lock(&incident), &mut || {
            if !args.quiet && !args.json {
                eprintln!("{}", say::WAITING);
            }
        })
        .usage()?;
    journal.settle_abandoned(&incident).usage()?;
    let latest = journal
        .updates(&incident)
        .usage()?
        .pop()
        .ok_or_else(|| Error::Usage(anyhow::anyhow!("incident {incident} has no update")))?;
    let update = latest.update.clone();
    let deliveries = journal.deliveries(&latest.id).usage()?;
    let safe = |delivery: &Delivery| {
        setup
            .channel(&delivery.channel)
            .is_some_and(|channel| channel.kind.repeat_is_safe(delivery.started_at, now))
    };
    let mut wanted: Vec<Delivery> = deliveries
        .iter()
        .filter(|delivery| match delivery.state {
            State::Failed | State::Pending => true,
            State::Unknown => args.include_unknown || safe(delivery),
            State::Delivered | State::Skipped => false,
        })
        .cloned()
        .collect();
    let waiting = deliveries
        .iter()
        .filter(|delivery| delivery.state == State::Unknown && !safe(delivery))
        .count();
    if wanted.is_empty() && waiting > 0 && !args.include_unknown {
        return Err(Error::Usage(anyhow::anyhow!(
            "{waiting} delivery(ies) of update {} have an unknown outcome (the process ended \
             mid-request) and may have gone out; check the channel, then pass --include-unknown \
             to send them again",
            update.sequence
        )));
    }

    // A delivery without a rendering (an earlier version could record one) is rendered now,
    // from the update as it was recorded.
    let renderer = setup.renderer().usage()?;
    let mut changes = Vec::new();
    let links = setup.links();
    let projection = plan::projection(
        Some(&*journal),
        &update,
        wanted
            .iter()
            .filter(|delivery| delivery.rendering.is_none())
            .filter_map(|delivery| setup.channel(&delivery.channel)),
        &setup.site_settings(&links),
    )
    .usage()?;
    wanted.retain_mut(|delivery| {
        if delivery.rendering.is_some() {
            return true;
        }
        let rendered = setup.channel(&delivery.channel).map(|channel| {
            plan::render_one(
                &setup,
                channel,
                &update,
                &projection,
                &renderer,
                update.posted_at,
                &links,
            )
        });
        match rendered {
            Some((Some(rendering), _)) => {
                changes.push(Change::Rendering {
                    id: delivery.id.clone(),
                    rendering: rendering.clone(),
                });
                delivery.rendering = Some(std::sync::Arc::new(rendering));
                true
            }
            Some((None, findings)) => {
                let why = findings
                    .first()
                    .map_or("it cannot be rendered".to_owned(), |f| f.message.clone());
                changes.push(Change::Skip {
                    id: delivery.id.clone(),
                    note: format!("not rendered: {why}"),
                });
                false
            }
            None => true,
        }
    });

    let ready = Ready::build(
        &setup,
        wanted.iter().map(|delivery| delivery.channel.as_str()),
        None,
    )
    .usage()?;
    changes.extend(wanted.iter().map(|delivery| Change::Reopen {
        id: delivery.id.clone(),
    }));
    journal.apply(&changes).usage()?;

    // From here on, whatever fails may come after something went out.
    let retried = wanted.len();
    let sent = send::send(
        &ready,
        journal,
        Sending {
            setup: &setup,
            update: &update,
            deliveries: wanted,
            renderer: &renderer,
            now,
            progress: report::progress(args.quiet, args.json),
        },
    )
    .after_recording()?;
    let report = Report::recorded(
        &update,
        &sent.journal.deliveries(&latest.id).after_recording()?,
        true,
    );
    let verb = if retried == 0 {
        "has nothing to retry"
    } else {
        "retried"
    };
    let hint = retry_hint(&report, &setup, now);
    finish(&report, super::Shape::of(args.json, args.quiet), verb, hint).after_recording()
}
