//! `outage channels`: the configured channels and whether their secrets are present; `--check`
//! verifies each channel's credentials with the service, without posting.

use std::io::Write;
use std::sync::Arc;

use anyhow::Context as _;
use serde::Serialize;

use super::{Setup, exit};
use crate::channels::{self, Context};
use crate::cli::{ChannelsArgs, Cli};
use crate::report::print_table;
use crate::wording::render::Renderer;

#[derive(Serialize)]
struct Row {
    name: String,
    kind: &'static str,
    audience: &'static str,
    enabled: bool,
    missing_secrets: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    check: Option<Check>,
}

#[derive(Serialize)]
struct Check {
    ok: bool,
    message: String,
}

pub fn run(cli: &Cli, args: &ChannelsArgs) -> anyhow::Result<u8> {
    let setup = Setup::load(cli)?;
    let mut rows: Vec<Row> = setup
        .config
        .channels
        .iter()
        .map(|channel| Row {
            name: channel.name.clone(),
            kind: channel.kind(),
            audience: match channel.audience {
                crate::config::Audience::Public => "public",
                crate::config::Audience::Internal => "internal",
            },
            enabled: channel.enabled,
            missing_secrets: channel.missing_secrets(),
            check: None,
        })
        .collect();
    if args.check {
        let renderer = Arc::new(Renderer::new(&setup.config.channels)?);
        let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
        let _entered = runtime.enter();
        let context = Context::new(&setup.config, &setup.state_path)?;
        let timeout = setup.config.dispatch.timeout.unsigned_abs();
        let mut tasks = Vec::new();
        for channel in setup
            .config
            .channels
            .iter()
            .filter(|channel| channel.enabled)
        {
            let built = channels::build(channel, renderer.clone(), &context);
            tasks.push((
                channel.name.clone(),
                runtime.spawn(async move {
                    let adapter = built.map_err(|err| format!("not ready: {err:#}"))?;
                    match tokio::time::timeout(timeout, adapter.check()).await {
                        Ok(Ok(message)) => Ok(message),
                        Ok(Err(failure)) => Err(failure.message().to_owned()),
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
    }
    let mut out = std::io::stdout().lock();
    if args.json {
        serde_json::to_writer_pretty(&mut out, &rows)?;
        writeln!(out)?;
    } else {
        let table: Vec<[String; 6]> = rows
            .iter()
            .map(|row| {
                let secrets = if row.missing_secrets.is_empty() {
                    "present".to_owned()
                } else {
                    format!("missing: {}", row.missing_secrets.join(", "))
                };
                let check = match &row.check {
                    Some(check) if check.ok => format!("ok, {}", check.message),
                    Some(check) => format!("FAILED: {}", check.message),
                    None if !row.enabled => "disabled".to_owned(),
                    None => "-".to_owned(),
                };
                [
                    row.name.clone(),
                    row.kind.to_owned(),
                    row.audience.to_owned(),
                    if row.enabled { "yes" } else { "no" }.to_owned(),
                    secrets,
                    check,
                ]
            })
            .collect();
        print_table(
            &mut out,
            ["NAME", "KIND", "AUDIENCE", "ENABLED", "SECRETS", "CHECK"],
            &table,
        )?;
    }
    let enabled = rows.iter().filter(|row| row.enabled);
    let failed = enabled
        .clone()
        .any(|row| row.check.as_ref().is_some_and(|check| !check.ok));
    let missing = enabled.clone().any(|row| !row.missing_secrets.is_empty());
    Ok(if missing {
        exit::USAGE
    } else if failed {
        exit::DELIVERY_FAILED
    } else {
        exit::OK
    })
}
