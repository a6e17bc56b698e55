//! `outage status`: the open incidents and maintenance, whether a promised update is overdue,
//! and every incident whose latest update has deliveries that did not go out.
//!
//! It only reads: a monitoring user who may read the journal but not write it can run it from
//! cron, and `--check` exits 4 when an update is overdue.

use std::io::Write;

use jiff::Timestamp;
use serde::Serialize;

use crate::cli::{Cli, StatusArgs};
use crate::error::{Done, Error, Phase};
use crate::journal::{self, Access, Filter, Journal, Unsettled, incident_lock};
use crate::report::print_columns;
use crate::setup::Setup;
use crate::update::{IncidentKind, Status, format_time};

#[derive(Serialize)]
struct Row {
    incident: String,
    kind: IncidentKind,
    status: Status,
    title: String,
    opened_at: Timestamp,
    last_update_at: Timestamp,
    updates: u32,
    next_update_due: Option<Timestamp>,
    /// Maintenance on autopilot: the next step `outage tick` posts, and when.
    #[serde(skip_serializing_if = "Option::is_none")]
    next_step: Option<NextStep>,
    overdue: bool,
    /// Deliveries of the latest update that did not go out, or may not have.
    failed: u32,
    unknown: u32,
}

#[derive(Serialize)]
struct NextStep {
    step: String,
    phase: crate::autopilot::Phase,
    at: Timestamp,
    /// Due more than 5 minutes ago and not posted: the tick is not running.
    late: bool,
}

/// How long a due step may wait for the tick before `status --check` calls it overdue.
const TICK_GRACE: jiff::SignedDuration = jiff::SignedDuration::from_mins(5);

pub(crate) fn run(cli: &Cli, args: &StatusArgs) -> Result<Done, Error> {
    let setup = Setup::load(cli).usage()?;
    let now = crate::update::now().usage()?;
    let rows = match journal::open(&setup.state, Access::ReadOnly).usage()? {
        None => Vec::new(),
        Some(mut journal) => rows(&mut *journal, now).usage()?,
    };
    let overdue = rows.iter().any(|row| row.overdue);
    let mut out = std::io::stdout().lock();
    if args.json {
        serde_json::to_writer_pretty(
            &mut out,
            &serde_json::json!({ "open": rows, "overdue": overdue }),
        )
        .usage()?;
        writeln!(out).usage()?;
    } else if rows.is_empty() {
        writeln!(out, "No open incidents or maintenance.").usage()?;
    } else {
        let tz = &setup.config.organization.timezone;
        // The deliveries column shows only when something did not go out.
        let unsettled = rows.iter().any(|row| row.failed + row.unknown > 0);
        let mut header = vec![
            "INCIDENT",
            "STATUS",
            "AGE",
            "LAST UPDATE",
            "NEXT UPDATE DUE",
        ];
        if unsettled {
            header.push("NOT DELIVERED");
        }
        let steps = rows.iter().any(|row| row.next_step.is_some());
        if steps {
            header.push("NEXT AUTOMATIC STEP");
        }
        header.push("TITLE");
        let table: Vec<Vec<String>> = rows
            .iter()
            .map(|row| {
                let due = match row.next_update_due {
                    Some(due) if row.overdue => {
                        format!("OVERDUE since {}", format_time(due, now, tz))
                    }
                    Some(due) => format_time(due, now, tz),
                    None => "-".into(),
                };
                let mut cells = vec![
                    row.incident.clone(),
                    row.status.to_string(),
                    ago(now, row.opened_at),
                    ago(now, row.last_update_at),
                    due,
                ];
                if unsettled {
                    cells.push(match (row.failed, row.unknown) {
                        (0, 0) => "-".to_owned(),
                        (failed, 0) => format!("{failed} failed"),
                        (0, unknown) => format!("{unknown} unknown"),
                        (failed, unknown) => format!("{failed} failed, {unknown} unknown"),
                    });
                }
                if steps {
                    cells.push(match &row.next_step {
                        None => "-".to_owned(),
                        Some(step) if step.late => format!(
                            "OVERDUE: {} was due {} (is `outage tick` running?)",
                            step.step,
                            format_time(step.at, now, tz)
                        ),
                        Some(step) => format!("{} at {}", step.step, format_time(step.at, now, tz)),
                    });
                }
                cells.push(row.title.clone());
                cells
            })
            .collect();
        let table: Vec<&[String]> = table.iter().map(Vec::as_slice).collect();
        print_columns(&mut out, &header, &table).usage()?;
        if unsettled {
            writeln!(
                out,
                "\n`outage retry ID` finishes what did not go out; `outage history ID` shows it."
            )
            .usage()?;
        }
    }
    Ok(if args.check && overdue {
        Done::Overdue
    } else {
        Done::Ok
    })
}

/// Open incidents, and closed ones whose last update did not fully go out.
fn rows(journal: &mut dyn Journal, now: Timestamp) -> anyhow::Result<Vec<Row>> {
    let unsettled: Vec<Unsettled> = journal.unsettled()?;
    let mut incidents = journal.incidents(&Filter {
        only_open: true,
        since: None,
    })?;
    for entry in &unsettled {
        if !incidents
            .iter()
            .any(|incident| incident.id == entry.incident)
            && let Some(incident) = journal.incident(&entry.incident)?
        {
            incidents.push(incident);
        }
    }
    incidents.sort_by(|a, b| a.opened_at.cmp(&b.opened_at).then(a.id.cmp(&b.id)));
    let latest = journal.open_updates()?;
    let mut rows = Vec::new();
    for incident in incidents {
        let update = latest.iter().find(|update| update.incident == incident.id);
        // On autopilot, the tick moves the phases: their times are not owed by a person.
        let auto = update.is_some_and(|update| update.autopilot.as_ref().is_some_and(|a| a.auto));
        let due = update.and_then(|update| {
            update.next_update.or(match update.status {
                Status::Scheduled if !auto => update.starts,
                Status::InProgress if !auto => update.ends,
                _ => None,
            })
        });
        let mut next_step = None;
        if let Some(update) = update.filter(|update| update.autopilot.is_some()) {
            let mut posted = |step: &crate::autopilot::Step| {
                crate::autopilot::is_posted(&*journal, update, step).unwrap_or(false)
            };
            next_step = crate::autopilot::next(update, now, &mut posted).map(|step| NextStep {
                step: step.name(),
                phase: step.phase,
                late: step
                    .at
                    .checked_add(TICK_GRACE)
                    .is_ok_and(|grace| grace < now),
                at: step.at,
            });
        }
        let late = next_step.as_ref().is_some_and(|step| step.late);
        let counts = unsettled
            .iter()
            .find(|entry| entry.incident == incident.id)
            .cloned()
            .unwrap_or_default();
        let in_flight = counts.pending > 0 && journal.is_locked(&incident_lock(&incident.id));
        let pending = if in_flight { 0 } else { counts.pending };
        rows.push(Row {
            kind: incident.kind,
            status: incident.status,
            title: incident.title,
            opened_at: incident.opened_at,
            last_update_at: incident.updated_at,
            updates: incident.last_sequence,
            next_update_due: due,
            next_step,
            overdue: incident.is_open && (late || due.is_some_and(|due| due < now)),
            failed: counts.failed,
            unknown: counts.unknown + pending,
            incident: incident.id,
        });
    }
    Ok(rows)
}

/// `5m ago`, `2h 10m ago`, `3d 4h ago`.
pub(crate) fn ago(now: Timestamp, then: Timestamp) -> String {
    let minutes = now.duration_since(then).as_mins().max(0);
    let (hours, minutes) = (minutes / 60, minutes % 60);
    match (hours / 24, hours % 24, minutes) {
        (0, 0, minutes) => format!("{minutes}m ago"),
        (0, hours, 0) => format!("{hours}h ago"),
        (0, hours, minutes) => format!("{hours}h {minutes}m ago"),
        (1, hours, 0) => format!("{}h ago", 24 + hours),
        (1, hours, minutes) => format!("{}h {minutes}m ago", 24 + hours),
        (days, 0, _) => format!("{days}d ago"),
        (days, hours, _) => format!("{days}d {hours}h ago"),
    }
}
