//! `outage history ID`: the timeline of one incident, each update with its text and, per channel,
//! the outcome, the link or the error, and the attempts.

use std::io::Write;

use serde::Serialize;

use super::{Setup, open_journal_for_reading, resolve_incident};
use crate::cli::{Cli, HistoryArgs};
use crate::journal::PublishLock;
use crate::report::{DeliveryReport, Report};
use crate::update::Update;

#[derive(Serialize)]
struct Entry {
    #[serde(flatten)]
    update: Update,
    allowed: serde_json::Value,
    deliveries: Vec<DeliveryReport>,
}

pub fn run(cli: &Cli, args: &HistoryArgs) -> anyhow::Result<u8> {
    let setup = Setup::load(cli)?;
    let journal = open_journal_for_reading(&setup.state_path)?;
    let incident_id = resolve_incident(&journal, &args.incident)?;
    let incident = journal.incident(&incident_id)?.expect("resolved above");
    let in_flight = PublishLock::is_held(&setup.state_path);
    let mut entries = Vec::new();
    for stored in journal.updates(&incident_id)? {
        let deliveries = journal
            .deliveries(&stored.id)?
            .iter()
            .map(|delivery| DeliveryReport::from_journal(delivery, in_flight))
            .collect();
        entries.push(Entry {
            allowed: serde_json::from_str(&stored.allowed).unwrap_or_default(),
            update: stored.update,
            deliveries,
        });
    }
    let mut out = std::io::stdout().lock();
    if args.json {
        serde_json::to_writer_pretty(
            &mut out,
            &serde_json::json!({ "incident": incident, "updates": entries }),
        )?;
        writeln!(out)?;
        return Ok(super::exit::OK);
    }
    writeln!(
        out,
        "{} ({}, {}): {}",
        incident.id, incident.kind, incident.status, incident.title
    )?;
    for entry in entries {
        let update = &entry.update;
        writeln!(out)?;
        let correction = if update.correction {
            ", correction"
        } else {
            ""
        };
        writeln!(
            out,
            "#{} {} at {}{correction}",
            update.sequence, update.status, update.posted_at
        )?;
        for line in update.message.lines() {
            writeln!(out, "  {line}")?;
        }
        if let Some(object) = entry.allowed.as_object() {
            for (rule, reason) in object {
                writeln!(
                    out,
                    "  allowed {rule}: {}",
                    reason.as_str().unwrap_or_default()
                )?;
            }
        }
        let report = Report::new(update, entry.deliveries, Vec::new());
        let mut table = Vec::new();
        report.print_table(&mut table)?;
        for line in String::from_utf8_lossy(&table).lines() {
            writeln!(out, "  {line}")?;
        }
    }
    Ok(super::exit::OK)
}
