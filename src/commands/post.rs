//! `outage post`: check, render, journal, send, report.

use std::collections::HashMap;
use std::io::{IsTerminal, Write};
use std::sync::Arc;

use anyhow::{Context as _, bail};

use super::{Draft, Prepared, Setup, exit, prepare};
use crate::channels::{self, Context};
use crate::cli::{Cli, PostArgs};
use crate::journal::{Delivery, Journal, NewDelivery, PublishLock, State};
use crate::report::{self, DeliveryReport, Report};
use crate::update;
use crate::wording::render::Renderer;

pub fn run(cli: &Cli, args: &PostArgs) -> anyhow::Result<u8> {
    let setup = Setup::load(cli)?;
    let draft = Draft::read(&args.update, args.idempotency_key.as_deref())?;
    let renderer = Arc::new(Renderer::new(&setup.config.channels)?);
    let now = update::now()?;

    if args.dry_run {
        let journal = Journal::open_if_exists(&setup.state_path)?;
        let prepared = prepare(draft, &setup.config, journal.as_ref(), &renderer, now)?;
        let report = preview(&prepared, true);
        let mut out = std::io::stdout().lock();
        if args.json {
            report.print_json(&mut out)?;
        } else {
            report.print_renderings(&mut out)?;
            report.print_table(&mut out)?;
            report::print_findings(&mut std::io::stderr(), &report.findings)?;
        }
        if report.blocked() {
            return rejected(args.json);
        }
        if !args.json {
            writeln!(out, "\nDry run: nothing was sent and nothing was recorded.")?;
        }
        return Ok(exit::OK);
    }

    // One publisher at a time: the sequence number and the thread anchors read below stay true
    // until this update is recorded and sent.
    let _lock = PublishLock::acquire(&setup.state_path, || {
        eprintln!("waiting for another outage process to finish publishing...");
    })?;
    let mut journal = Journal::open(&setup.state_path)?;
    journal.settle_abandoned()?;
    let prepared = prepare(draft, &setup.config, Some(&journal), &renderer, now)?;

    if let Some(stored) = &prepared.rerun {
        let report = Report {
            rerun: true,
            ..Report::recorded(&stored.update, &journal.deliveries(&stored.id)?, false)
        };
        return finish(&report, args.json, "already posted; nothing was sent again");
    }
    if preview(&prepared, false).blocked() {
        if args.json {
            preview(&prepared, false).print_json(&mut std::io::stdout())?;
        } else {
            report::print_findings(&mut std::io::stderr(), &prepared.findings)?;
        }
        return rejected(args.json);
    }
    confirm(args.yes, &prepared)?;

    // Some transports (lettre's SMTP pool) start tasks when built: build them on the runtime.
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    let _entered = runtime.enter();
    let context = Context::new(&setup.config, &setup.state_path)?;
    let mut adapters = HashMap::new();
    let mut problems = Vec::new();
    for planned in prepared
        .plan
        .iter()
        .filter(|planned| planned.skipped.is_none())
    {
        match channels::build(&planned.channel, renderer.clone(), &context) {
            Ok(adapter) => {
                adapters.insert(planned.channel.name.clone(), adapter);
            }
            Err(err) => problems.push(format!("{err:#}")),
        }
    }
    if !problems.is_empty() {
        bail!("{}\nnothing was sent", problems.join("\n"));
    }

    // One delivery per channel and target (an email channel has one per recipient).
    let mut deliveries = Vec::new();
    for planned in &prepared.plan {
        for target in &planned.targets {
            deliveries.push(NewDelivery {
                id: uuid::Uuid::now_v7().to_string(),
                channel: planned.channel.name.clone(),
                kind: planned.channel.kind().to_owned(),
                target: target.clone(),
                state: match planned.skipped {
                    Some(_) => State::Skipped,
                    None => State::Pending,
                },
                note: planned.skipped.clone(),
                rendering: planned.rendering.clone(),
            });
        }
    }
    let allowed: serde_json::Map<String, serde_json::Value> = prepared
        .allow
        .iter()
        .map(|(rule, reason)| (rule.as_str().to_owned(), reason.clone().into()))
        .collect();
    let update_id = journal.record(
        &prepared.update,
        &prepared.fingerprint,
        prepared.idempotency_key.as_deref(),
        &serde_json::Value::Object(allowed).to_string(),
        &deliveries,
    )?;

    let recorded = journal.deliveries(&update_id)?;
    let pending: Vec<&Delivery> = recorded
        .iter()
        .filter(|delivery| delivery.state == State::Pending)
        .collect();
    let jobs = super::jobs(&journal, &setup, &prepared.update, &pending, &adapters)?;
    let progress = report::progress(args.quiet, args.json);
    let journal = super::send(&runtime, journal, jobs, &setup, progress)?;
    let report = Report {
        findings: prepared.findings.clone(),
        ..Report::recorded(&prepared.update, &journal.deliveries(&update_id)?, true)
    };
    if !args.json {
        report::print_findings(&mut std::io::stderr(), &report.findings)?;
    }
    finish(&report, args.json, "posted")
}

/// The report of a dry run (`planned`) or of a post that has not been sent yet.
fn preview(prepared: &Prepared, dry_run: bool) -> Report {
    let deliveries = prepared
        .plan
        .iter()
        .map(|planned| DeliveryReport {
            channel: planned.channel.name.clone(),
            kind: planned.channel.kind().into(),
            target: String::new(),
            outcome: if planned.skipped.is_some() {
                "skipped"
            } else {
                "planned"
            },
            remote_id: None,
            url: None,
            attempts: 0,
            error: None,
            note: planned.skipped.clone(),
            rendered: planned
                .rendering
                .as_ref()
                .map(|rendering| rendering.shown()),
        })
        .collect();
    Report {
        dry_run,
        ..Report::new(&prepared.update, deliveries, prepared.findings.clone())
    }
}

fn rejected(json: bool) -> anyhow::Result<u8> {
    if !json {
        eprintln!("error: the wording policy rejected the update; nothing was sent");
    }
    Ok(exit::POLICY)
}

/// Asks on a terminal; refuses in a script that did not pass `--yes`.
fn confirm(yes: bool, prepared: &Prepared) -> anyhow::Result<()> {
    if yes {
        return Ok(());
    }
    if !std::io::stdin().is_terminal() {
        bail!("refusing to post without confirmation: pass --yes (or --dry-run to preview)");
    }
    let count = prepared.plan.iter().filter(|p| p.skipped.is_none()).count();
    eprint!(
        "Post update {} of {} ({}) to {count} channel(s)? [y/N] ",
        prepared.update.sequence, prepared.update.incident, prepared.update.status
    );
    std::io::stderr().flush()?;
    let mut answer = String::new();
    std::io::stdin().read_line(&mut answer)?;
    if matches!(answer.trim(), "y" | "Y" | "yes") {
        Ok(())
    } else {
        bail!("not posted: nothing was sent")
    }
}

/// Prints the report and turns it into the exit code.
pub fn finish(report: &Report, json: bool, verb: &str) -> anyhow::Result<u8> {
    let mut out = std::io::stdout().lock();
    if json {
        report.print_json(&mut out)?;
    } else {
        writeln!(
            out,
            "{}: update {} ({}) {verb}\n",
            report.incident, report.sequence, report.status
        )?;
        report.print_table(&mut out)?;
        if report.failed() {
            writeln!(
                out,
                "\nSome deliveries did not succeed; `outage retry {}` sends them again.",
                report.incident
            )?;
        }
    }
    Ok(if report.failed() {
        exit::DELIVERY_FAILED
    } else {
        exit::OK
    })
}
