//! `outage` publishes one incident update, at the same moment and in consistent words, to every
//! channel a company uses to talk to its customers.
//!
//! The path of an update: input -> [`update::Update`] -> wording rules ([`wording::rules`]) ->
//! one rendering per channel ([`wording::render`]) -> journal ([`journal`]) -> dispatch
//! ([`dispatch`]) through the channel adapters ([`channels`]) -> report ([`report`]). Everything
//! before the journal is pure.

pub mod channels;
pub mod cli;
pub mod commands;
pub mod config;
pub mod dispatch;
pub mod journal;
pub mod report;
pub mod update;
pub mod wording;

use clap::Parser;

use crate::cli::{Cli, Command};
use crate::commands::exit;

/// Parses the arguments, runs the command, prints an error once, and returns the exit code.
pub fn run() -> u8 {
    // reqwest and lettre share one TLS crypto provider; it is chosen here, once.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) => {
            let code = if err.use_stderr() {
                exit::USAGE
            } else {
                exit::OK
            };
            let _ = err.print();
            return code;
        }
    };
    let result = match &cli.command {
        Command::Post(args) => commands::post::run(&cli, args),
        Command::Lint(args) => commands::lint::run(&cli, args),
        Command::Status(args) => commands::status::run(&cli, args),
        Command::History(args) => commands::history::run(&cli, args),
        Command::Retry(args) => commands::retry::run(&cli, args),
        Command::Channels(args) => commands::channels::run(&cli, args),
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            if is_broken_pipe(&err) {
                return exit::OK;
            }
            eprintln!("error: {err:#}");
            if err.downcast_ref::<commands::AfterSending>().is_some() {
                exit::DELIVERY_FAILED
            } else {
                exit::USAGE
            }
        }
    }
}

/// A reader that closed the pipe (`outage status | head`) is not an error.
fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}
