//! The command line: clap definitions only.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::update::Impact;

#[derive(Debug, Parser)]
#[command(
    name = "outage",
    version,
    about = "Publish one incident update, in consistent words, to every channel at once",
    after_help = "Exit codes: 0 done, 1 a delivery failed, 2 usage or configuration error \
                  (nothing sent), 3 the wording policy rejected the update (nothing sent), \
                  4 `status --check` found an overdue update."
)]
pub struct Cli {
    /// The channels file [default: ./channels.toml, then the user config folder]
    #[arg(long, global = true, env = "OUTAGE_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// The journal file [default: the config's [state] path, then the user state folder]
    #[arg(long, global = true, env = "OUTAGE_STATE", value_name = "FILE")]
    pub state: Option<PathBuf>,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check, render and send an update to every channel
    Post(PostArgs),
    /// Check an update's wording and renderings without sending anything
    Lint(LintArgs),
    /// List open incidents and maintenance, and whether an update is overdue
    Status(StatusArgs),
    /// Show an incident's timeline: each update and where it was delivered
    History(HistoryArgs),
    /// Send the latest update's failed deliveries again
    Retry(RetryArgs),
    /// List the configured channels and whether their secrets are present
    Channels(ChannelsArgs),
}

#[derive(Debug, Args)]
pub struct ChannelsArgs {
    /// Verify each enabled channel's credentials with its service, without posting
    #[arg(long)]
    pub check: bool,

    /// Print as JSON
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct PostArgs {
    #[command(flatten)]
    pub update: UpdateArgs,

    /// Show every channel's exact output and send nothing
    #[arg(long)]
    pub dry_run: bool,

    /// Send without asking for confirmation (scripts and CI)
    #[arg(long, short = 'y')]
    pub yes: bool,

    /// Print the result as JSON
    #[arg(long)]
    pub json: bool,

    /// Do not show progress while sending
    #[arg(long, short = 'q')]
    pub quiet: bool,

    /// Name this update yourself so that a rerun with the same key sends nothing
    #[arg(long, value_name = "KEY")]
    pub idempotency_key: Option<String>,
}

#[derive(Debug, Args)]
pub struct LintArgs {
    #[command(flatten)]
    pub update: UpdateArgs,

    /// Print the findings as JSON
    #[arg(long)]
    pub json: bool,
}

/// The facts of an update, from flags or from an update file (`--from`); flags win.
#[derive(Debug, Args, Default)]
pub struct UpdateArgs {
    /// The incident to follow up (`latest` for the most recent one); omit to open a new one
    #[arg(long, value_name = "ID")]
    pub incident: Option<String>,

    /// investigating, identified, monitoring, resolved; for maintenance scheduled, in-progress,
    /// completed
    #[arg(long)]
    pub status: Option<String>,

    /// The incident's title [default for a follow-up: the incident's title]
    #[arg(long)]
    pub title: Option<String>,

    /// What is happening, for customers (`-` reads standard input)
    #[arg(long)]
    pub message: Option<String>,

    /// Read the message from a file
    #[arg(long, value_name = "FILE", conflicts_with = "message")]
    pub message_file: Option<PathBuf>,

    /// Affected components, comma separated
    #[arg(long, value_delimiter = ',')]
    pub components: Vec<String>,

    #[arg(long, value_enum)]
    pub impact: Option<Impact>,

    /// Estimated resolution: 14:30, +45m, or RFC 3339; stated as an estimate
    #[arg(long)]
    pub eta: Option<String>,

    /// When the next update comes: 30m, 14:30, or RFC 3339
    #[arg(long, value_name = "WHEN")]
    pub next_update: Option<String>,

    /// Maintenance start: 14:30, +1h, or RFC 3339
    #[arg(long)]
    pub starts: Option<String>,

    /// Maintenance end: 16:00, +3h, or RFC 3339
    #[arg(long)]
    pub ends: Option<String>,

    /// A note on compensation for customers, usually with the resolved update
    #[arg(long)]
    pub compensation: Option<String>,

    /// A note only `audience = "internal"` channels receive
    #[arg(long)]
    pub internal_note: Option<String>,

    /// Send only to these channels, comma separated
    #[arg(long, value_delimiter = ',')]
    pub channels: Vec<String>,

    /// Let one wording rule's error through, with a reason that is journaled: RULE=reason
    #[arg(long, value_name = "RULE=REASON")]
    pub allow: Vec<String>,

    /// This update corrects the previous one; every channel says so
    #[arg(long)]
    pub correction: bool,

    /// Post to an incident that is already resolved or completed
    #[arg(long)]
    pub reopen: bool,

    /// Read the update from a TOML file with the same fields (flags override it)
    #[arg(long, value_name = "FILE")]
    pub from: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Print as JSON
    #[arg(long)]
    pub json: bool,

    /// Exit with 4 when an open incident is overdue for its promised update
    #[arg(long)]
    pub check: bool,
}

#[derive(Debug, Args)]
pub struct HistoryArgs {
    /// The incident (`latest` for the most recent one)
    pub incident: String,

    /// Print as JSON
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct RetryArgs {
    /// The incident (`latest` for the most recent one)
    pub incident: String,

    /// Also send deliveries whose outcome is unknown (the process died mid-request); they may
    /// have been delivered already
    #[arg(long)]
    pub include_unknown: bool,

    /// Print the result as JSON
    #[arg(long)]
    pub json: bool,

    /// Do not show progress while sending
    #[arg(long, short = 'q')]
    pub quiet: bool,
}
