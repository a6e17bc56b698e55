//! `outage` publishes one incident update, at the same moment and in consistent words, to every
//! channel a company uses to talk to its customers.
//!
//! The path of an update, module by module:
//!
//! - [`cli`] and `input`: the flags and the update file, merged into one draft;
//! - `plan`: placed in its incident, its facts built, a rerun recognised, the wording rules
//!   applied (`wording::rules`), every channel rendered by its kind ([`channels`]) and checked to
//!   carry its facts (`wording::facts`) — all read-only;
//! - `journal`: recorded before anything is sent, behind one interface (SQLite or PostgreSQL);
//! - `dispatch`: sent to every channel at once, with retries, timeouts and redaction, each
//!   outcome journaled as it arrives;
//! - `report`: a table for people, JSON for scripts, and an exit code decided by phase (`error`).
//!
//! The library's public surface is [`run`] and the adapter contract in [`channels`] with its
//! test double; everything else is internal.

mod autopilot;
pub mod channels;
mod cli;
mod commands;
mod config;
mod digest;
mod dispatch;
mod error;
mod input;
mod journal;
mod limits;
mod plan;
mod redact;
mod report;
mod setup;
mod style;
mod tls;
mod update;
mod wording;

use clap::Parser;

use crate::cli::Cli;
use crate::error::exit;

/// Parses the arguments, runs the command, prints an error once, and returns the exit code.
pub fn run() -> u8 {
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
    style::init(cli.color);
    match commands::run(&cli) {
        Ok(done) => done.code(),
        Err(err) if err.is_broken_pipe() => exit::OK,
        Err(err) => {
            if !err.is_silent() {
                let lead = style::paint(style::Stream::Err, style::Tone::Bad, "error:");
                eprintln!("{lead} {err}");
            }
            err.code()
        }
    }
}
