//! `outage incidents`: every incident and maintenance in the journal, open and closed, newest
//! first — the list to find an id in (`history`, `retry`, `--incident` take one). It only reads.

use std::io::Write;

use jiff::Timestamp;
use serde::Serialize;

use super::status::ago;
use crate::cli::{Cli, IncidentsArgs};
use crate::error::{Done, Error, Phase};
use crate::journal::{self, Access, Filter};
use crate::report::print_table;
use crate::setup::Setup;
use crate::update::{IncidentKind, Status};

#[derive(Serialize)]
struct Row {
    incident: String,
    kind: IncidentKind,
    status: Status,
    open: bool,
    title: String,
    opened_at: Timestamp,
    last_update_at: Timestamp,
    updates: u32,
}

pub(crate) fn run(cli: &Cli, args: &IncidentsArgs) -> Result<Done, Error> {
    let setup = Setup::load(cli).usage()?;
    let now = crate::update::now().usage()?;
    let since = args
        .since
        .as_deref()
        .map(|text| since(text, now))
        .transpose()
        .usage()?;
    let filter = Filter {
        only_open: args.open,
        since,
    };
    let incidents = match journal::open(&setup.state, Access::ReadOnly).usage()? {
        None => Vec::new(),
        Some(journal) => journal.incidents(&filter).usage()?,
    };
    let rows: Vec<Row> = incidents
        .into_iter()
        .map(|incident| Row {
            kind: incident.kind,
            status: incident.status,
            open: incident.is_open,
            title: incident.title,
            opened_at: incident.opened_at,
            last_update_at: incident.updated_at,
            updates: incident.last_sequence,
            incident: incident.id,
        })
        .collect();
    let mut out = std::io::stdout().lock();
    if args.json {
        serde_json::to_writer_pretty(&mut out, &serde_json::json!({ "incidents": rows }))
            .usage()?;
        writeln!(out).usage()?;
        return Ok(Done::Ok);
    }
    if rows.is_empty() {
        let which = match (args.open, &args.since) {
            (true, Some(since)) => format!("No open incidents updated within {since}."),
            (true, None) => "No open incidents.".to_owned(),
            (false, Some(since)) => format!("No incidents updated within {since}."),
            (false, None) => "No incidents yet.".to_owned(),
        };
        writeln!(out, "{which}").usage()?;
        return Ok(Done::Ok);
    }
    let table: Vec<[String; 7]> = rows
        .iter()
        .map(|row| {
            [
                row.incident.clone(),
                row.kind.to_string(),
                row.status.to_string(),
                if row.open { "open" } else { "closed" }.to_owned(),
                ago(now, row.opened_at),
                row.updates.to_string(),
                row.title.clone(),
            ]
        })
        .collect();
    print_table(
        &mut out,
        [
            "INCIDENT", "KIND", "STATUS", "STATE", "AGE", "UPDATES", "TITLE",
        ],
        &table,
    )
    .usage()?;
    Ok(Done::Ok)
}

/// `--since`: a duration back from now (`7d`, `2w`, `36h`) or an RFC 3339 time.
fn since(text: &str, now: Timestamp) -> anyhow::Result<Timestamp> {
    if let Ok(at) = text.trim().parse::<Timestamp>() {
        return Ok(at);
    }
    let back = crate::update::parse_long_duration(text).ok_or_else(|| {
        anyhow::anyhow!(
            "--since: `{text}` is not a duration such as 7d, 24h or 2w, nor an RFC 3339 time"
        )
    })?;
    Ok(now.checked_sub(back)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn since_reads_days_weeks_hours_and_times() {
        let now: Timestamp = "2026-11-22T10:00:00Z".parse().unwrap();
        let at = |text: &str| since(text, now).unwrap().to_string();
        assert_eq!(at("7d"), "2026-11-15T10:00:00Z");
        assert_eq!(at("2w"), "2026-11-08T10:00:00Z");
        assert_eq!(at("36h"), "2026-11-20T22:00:00Z");
        assert_eq!(at("2026-11-01T00:00:00Z"), "2026-11-01T00:00:00Z");
        assert!(since("soon", now).is_err());
        assert!(since("0d", now).is_err());
    }
}
