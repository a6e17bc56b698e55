//! `outage status`: the open incidents and maintenance, and whether a promised update is overdue.

use std::io::Write;

use jiff::Timestamp;
use serde::Serialize;

use super::{Setup, exit};
use crate::cli::{Cli, StatusArgs};
use crate::journal::Journal;
use crate::report::print_table;
use crate::update::{Status, format_time};

#[derive(Serialize)]
struct Row {
    incident: String,
    kind: String,
    status: Status,
    title: String,
    opened_at: Timestamp,
    last_update_at: Timestamp,
    updates: u32,
    next_update_due: Option<Timestamp>,
    overdue: bool,
}

pub fn run(cli: &Cli, args: &StatusArgs) -> anyhow::Result<u8> {
    let setup = Setup::load(cli)?;
    let now = crate::update::now()?;
    let rows: Vec<Row> = match Journal::open_if_exists(&setup.state_path)? {
        None => Vec::new(),
        Some(journal) => journal
            .open_updates()?
            .into_iter()
            .zip(journal.incidents(true)?)
            .map(|(latest, incident)| {
                let due = latest.next_update.or(match latest.status {
                    Status::Scheduled => latest.starts,
                    _ => None,
                });
                Row {
                    incident: incident.id,
                    kind: incident.kind,
                    status: incident.status,
                    title: incident.title,
                    opened_at: incident.opened_at,
                    last_update_at: incident.updated_at,
                    updates: incident.last_sequence,
                    next_update_due: due,
                    overdue: due.is_some_and(|due| due < now),
                }
            })
            .collect(),
    };
    let overdue = rows.iter().any(|row| row.overdue);
    let mut out = std::io::stdout().lock();
    if args.json {
        serde_json::to_writer_pretty(
            &mut out,
            &serde_json::json!({ "open": rows, "overdue": overdue }),
        )?;
        writeln!(out)?;
    } else if rows.is_empty() {
        writeln!(out, "No open incidents or maintenance.")?;
    } else {
        let tz = &setup.config.organization.timezone;
        let table: Vec<[String; 6]> = rows
            .iter()
            .map(|row| {
                let due = match row.next_update_due {
                    Some(due) if row.overdue => {
                        format!("OVERDUE since {}", format_time(due, now, tz))
                    }
                    Some(due) => format_time(due, now, tz),
                    None => "-".into(),
                };
                [
                    row.incident.clone(),
                    row.status.to_string(),
                    ago(now, row.opened_at),
                    ago(now, row.last_update_at),
                    due,
                    row.title.clone(),
                ]
            })
            .collect();
        print_table(
            &mut out,
            [
                "INCIDENT",
                "STATUS",
                "AGE",
                "LAST UPDATE",
                "NEXT UPDATE DUE",
                "TITLE",
            ],
            &table,
        )?;
    }
    Ok(if args.check && overdue {
        exit::OVERDUE
    } else {
        exit::OK
    })
}

/// `5m ago`, `2h 10m ago`.
fn ago(now: Timestamp, then: Timestamp) -> String {
    let minutes = now.duration_since(then).as_mins().max(0);
    match (minutes / 60, minutes % 60) {
        (0, minutes) => format!("{minutes}m ago"),
        (hours, 0) => format!("{hours}h ago"),
        (hours, minutes) => format!("{hours}h {minutes}m ago"),
    }
}
