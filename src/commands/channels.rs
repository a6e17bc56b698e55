//! `outage channels`: the configured channels and whether their secrets are present; `--check`
//! verifies each enabled channel's credentials with its service, without posting.

use std::io::Write;

use serde::Serialize;

use crate::cli::{ChannelsArgs, Cli};
use crate::config::SecretSource;
use crate::error::{Done, Error, Phase};
use crate::redact::Redactor;
use crate::report::print_table;
use crate::setup::{self, Setup};

#[derive(Serialize)]
struct Row<'a> {
    name: String,
    kind: &'static str,
    audience: &'static str,
    enabled: bool,
    /// Each with the key that names it: `field_env VAR` or `field_file PATH` in the JSON, what
    /// to set (the variable or the file) in the table.
    #[serde(serialize_with = "described")]
    missing_secrets: Vec<(&'static str, &'a SecretSource)>,
    #[serde(skip_serializing_if = "Option::is_none")]
    check: Option<Check>,
}

fn described<S: serde::Serializer>(
    missing: &[(&'static str, &SecretSource)],
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.collect_seq(missing.iter().map(|(field, source)| source.describe(field)))
}

#[derive(Serialize)]
struct Check {
    ok: bool,
    message: String,
}

pub(crate) fn run(cli: &Cli, args: &ChannelsArgs) -> Result<Done, Error> {
    let setup = Setup::load(cli).usage()?;
    let mut rows: Vec<Row> = setup
        .channels
        .iter()
        .map(|channel| Row {
            name: channel.name.clone(),
            kind: channel.kind.name(),
            audience: channel.audience.as_str(),
            enabled: channel.enabled,
            missing_secrets: channel.missing_secrets(),
            check: None,
        })
        .collect();
    if args.check {
        check(&setup, &mut rows).usage()?;
    }
    let mut out = std::io::stdout().lock();
    if args.json {
        serde_json::to_writer_pretty(&mut out, &rows).usage()?;
        writeln!(out).usage()?;
    } else {
        // What a row says of its secrets, and (with --check) what its service answered: the
        // CHECK column is there only when something was checked, and comes last, being long.
        let cells = |row: &Row| -> [String; 5] {
            [
                row.name.clone(),
                row.kind.to_owned(),
                row.audience.to_owned(),
                if row.enabled { "yes" } else { "no" }.to_owned(),
                if row.missing_secrets.is_empty() {
                    "present".to_owned()
                } else {
                    let places: Vec<String> = row
                        .missing_secrets
                        .iter()
                        .map(|(_, source)| source.place())
                        .collect();
                    format!("missing: {}", places.join(", "))
                },
            ]
        };
        const HEADERS: [&str; 5] = ["NAME", "KIND", "AUDIENCE", "ENABLED", "SECRETS"];
        if args.check {
            let table: Vec<[String; 6]> = rows
                .iter()
                .map(|row| {
                    let check = match &row.check {
                        Some(check) if check.ok => format!("ok, {}", check.message),
                        Some(check) => format!("FAILED: {}", check.message),
                        None if !row.enabled => "disabled".to_owned(),
                        None => "-".to_owned(),
                    };
                    let [name, kind, audience, enabled, secrets] = cells(row);
                    [name, kind, audience, enabled, secrets, check]
                })
                .collect();
            let [a, b, c, d, e] = HEADERS;
            print_table(&mut out, [a, b, c, d, e, "CHECK"], &table)
        } else {
            let table: Vec<[String; 5]> = rows.iter().map(cells).collect();
            print_table(&mut out, HEADERS, &table)
        }
        .usage()?;
    }
    let enabled = rows.iter().filter(|row| row.enabled);
    let failed = enabled
        .clone()
        .any(|row| row.check.as_ref().is_some_and(|check| !check.ok));
    let missing: Vec<&str> = enabled
        .clone()
        .filter(|row| !row.missing_secrets.is_empty())
        .map(|row| row.name.as_str())
        .collect();
    if !missing.is_empty() {
        // The table says which secrets; the exit code says a post would not go out.
        return Err(Error::Usage(anyhow::anyhow!(
            "enabled without a secret it needs: {}; a post sends nothing until each is set \
             (SECRETS above) or the channel has enabled = false",
            missing.join(", ")
        )));
    }
    Ok(if failed {
        Done::DeliveryFailed
    } else {
        Done::Ok
    })
}

/// Asks every enabled channel's service whether its credentials work, all at once.
fn check(setup: &Setup, rows: &mut [Row]) -> anyhow::Result<()> {
    let runtime = setup::runtime()?;
    let _entered = runtime.enter();
    let redactor = Redactor::default();
    let timeout = setup.config.dispatch.timeout.unsigned_abs();
    let mut tasks = Vec::new();
    for channel in setup.channels.iter().filter(|channel| channel.enabled) {
        let built = setup.build([channel.name.as_str()], &redactor);
        let redactor = redactor.clone();
        tasks.push((
            channel.name.clone(),
            runtime.spawn(async move {
                let mut adapters = built.map_err(|err| format!("not ready: {err:#}"))?;
                let adapter = adapters.drain().next().expect("one built").1;
                match tokio::time::timeout(timeout, adapter.check()).await {
                    Ok(Ok(message)) => Ok(redactor.redact(&message)),
                    Ok(Err(failure)) => Err(redactor.redact(&failure.message)),
                    Err(_) => Err("no answer in time".to_owned()),
                }
            }),
        ));
    }
    for (name, task) in tasks {
        let result = runtime.block_on(task)?;
        let row = rows
            .iter_mut()
            .find(|row| row.name == name)
            .expect("listed");
        row.check = Some(match result {
            Ok(message) => Check { ok: true, message },
            Err(message) => Check { ok: false, message },
        });
    }
    Ok(())
}
