//! `outage history ID`: the timeline of one incident, each update with its text and, per channel,
//! the outcome, the link or the error, and the attempts. It only reads.

use std::io::Write;

use serde::Serialize;

use super::resolve_incident;
use crate::cli::{Cli, HistoryArgs};
use crate::error::{Done, Error, Phase};
use crate::journal::{self, Allowed, incident_lock};
use crate::report::{DeliveryReport, Report};
use crate::setup::Setup;
use crate::update::Update;

#[derive(Serialize)]
struct Entry {
    #[serde(flatten)]
    update: Update,
    allowed: Allowed,
    deliveries: Vec<DeliveryReport>,
}

pub(crate) fn run(cli: &Cli, args: &HistoryArgs) -> Result<Done, Error> {
    let setup = Setup::load(cli).usage()?;
    let mut journal = journal::open_existing(&setup.state).usage()?;
    let incident_id = resolve_incident(&*journal, &args.incident).usage()?;
    let incident = journal
        .incident(&incident_id)
        .usage()?
        .expect("resolved above");
    let in_flight = journal.is_locked(&incident_lock(&incident_id));
    let mut entries = Vec::new();
    for stored in journal.updates(&incident_id).usage()? {
        let deliveries = journal
            .deliveries(&stored.id)
            .usage()?
            .iter()
            .map(|delivery| DeliveryReport::from_journal(delivery, in_flight))
            .collect();
        entries.push(Entry {
            allowed: stored.allowed,
            update: stored.update,
            deliveries,
        });
    }
    let mut out = std::io::stdout().lock();
    if args.json {
        serde_json::to_writer_pretty(
            &mut out,
            &serde_json::json!({ "incident": incident, "updates": entries }),
        )
        .usage()?;
        writeln!(out).usage()?;
        return Ok(Done::Ok);
    }
    let tz = &setup.config.organization.timezone;
    writeln!(
        out,
        "{} ({}, {}): {}",
        incident.id, incident.kind, incident.status, incident.title
    )
    .usage()?;
    for entry in entries {
        let update = &entry.update;
        writeln!(out).usage()?;
        let correction = if update.correction {
            ", correction"
        } else {
            ""
        };
        writeln!(
            out,
            "#{} {} at {}{correction}",
            update.sequence, update.status, update.posted_at
        )
        .usage()?;
        for line in update.message.lines() {
            writeln!(out, "  {line}").usage()?;
        }
        for line in facts(update, tz) {
            writeln!(out, "  {line}").usage()?;
        }
        for (rule, reason) in &entry.allowed {
            writeln!(out, "  allowed {rule}: {reason}").usage()?;
        }
        let report = Report::new(update, entry.deliveries, Vec::new());
        let mut table = Vec::new();
        report.print_table(&mut table).usage()?;
        for line in String::from_utf8_lossy(&table).lines() {
            writeln!(out, "  {line}").usage()?;
        }
    }
    Ok(Done::Ok)
}

/// The facts beside the message, as the JSON has them: the window, the ETA, the next update,
/// the components and impact, the compensation. Times are absolute, in the organisation's zone.
fn facts(update: &Update, tz: &jiff::tz::TimeZone) -> Vec<String> {
    let at = |time: jiff::Timestamp| {
        time.to_zoned(tz.clone())
            .strftime("%a %d %b %H:%M %Z")
            .to_string()
    };
    let mut lines = Vec::new();
    match (update.starts, update.ends) {
        (Some(starts), Some(ends)) => lines.push(format!("window: {} to {}", at(starts), at(ends))),
        (Some(starts), None) => lines.push(format!("window: from {}", at(starts))),
        (None, Some(ends)) => lines.push(format!("window: until {}", at(ends))),
        (None, None) => {}
    }
    if let Some(eta) = update.eta {
        lines.push(format!("eta: {}", at(eta)));
    }
    if let Some(next) = update.next_update {
        lines.push(format!("next update: {}", at(next)));
    }
    if !update.components.is_empty() {
        lines.push(format!("components: {}", update.components.join(", ")));
    }
    if let Some(impact) = update.impact {
        lines.push(format!("impact: {}", impact.as_str()));
    }
    if let Some(compensation) = &update.compensation {
        lines.push(format!("compensation: {compensation}"));
    }
    lines
}
