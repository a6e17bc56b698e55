//! The command line: clap definitions only.

use clap::{Args, Parser, Subcommand};

use crate::input::UpdateInput;
use crate::style::ColorChoice;

/// Where the options every command takes are listed in each command's help: after its own.
const GLOBAL: &str = "Global options";

#[derive(Debug, Parser)]
#[command(
    name = "outage",
    version,
    about = "Publish one incident update, in consistent words, to every channel at once",
    after_help = "Exit codes: 0 done, 1 a delivery failed, 2 usage or configuration error \
                  (nothing sent), 3 the wording policy rejected the update (nothing sent), \
                  4 `status --check` found an overdue update."
)]
pub(crate) struct Cli {
    /// The channels file [default: ./channels.toml, then the user config folder]
    // A string, not a path: an empty `OUTAGE_CONFIG=` means unset rather than an error.
    #[arg(long, global = true, env = "OUTAGE_CONFIG", value_name = "FILE", help_heading = GLOBAL)]
    pub(crate) config: Option<String>,

    /// The journal: a file, or a postgres:// URL [default: the config's `[state]`, then the user
    /// state folder]
    #[arg(long, global = true, env = "OUTAGE_STATE", value_name = "FILE|URL", help_heading = GLOBAL)]
    pub(crate) state: Option<String>,

    /// Colour: auto (on a terminal, unless NO_COLOR is set), always, never
    #[arg(
        long,
        global = true,
        value_enum,
        default_value_t,
        value_name = "WHEN",
        help_heading = GLOBAL
    )]
    pub(crate) color: ColorChoice,

    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Check, render and send an update to every channel
    #[command(after_long_help = POST_EXAMPLES)]
    Post(PostArgs),
    /// Check an update's wording and renderings without sending anything
    Lint(LintArgs),
    /// List open incidents and maintenance, and whether an update is overdue
    Status(StatusArgs),
    /// List every incident and maintenance, open and closed, newest first
    Incidents(IncidentsArgs),
    /// Show an incident's timeline: each update and where it was delivered
    History(HistoryArgs),
    /// Send the latest update's failed deliveries again
    Retry(RetryArgs),
    /// Post what maintenance on autopilot has due (run it every minute from cron or CI)
    Tick(TickArgs),
    /// List the configured channels and whether their secrets are present
    Channels(ChannelsArgs),
    /// Look after the journal: upgrade its schema, or copy it to another store
    #[command(subcommand)]
    Journal(JournalCommand),
    /// The status site: build every page from the journal
    #[command(subcommand)]
    Site(SiteCommand),
    /// Write a commented channels.toml to start from (here, or at --config)
    Init,
    /// Print the shell completion script (see the README for where it goes)
    Completions(CompletionsArgs),
    /// Print a man page (roff), or write them all with --out; generated from the same
    /// definitions as --help
    Man(ManArgs),
}

#[derive(Debug, Args)]
pub(crate) struct ManArgs {
    /// The command whose page to print (`post`, `journal migrate`); omitted: outage(1)
    #[arg(value_name = "COMMAND", conflicts_with = "out")]
    pub(crate) command: Vec<String>,

    /// Write every page (outage.1, outage-post.1, ...) into this folder, created if missing;
    /// `man` finds them in share/man/man1 beside the bin folder outage is installed in
    // `--out`, as `site build` names its folder; `--dir`, its first name, still works.
    #[arg(long, value_name = "DIR", alias = "dir")]
    pub(crate) out: Option<std::path::PathBuf>,
}

#[derive(Debug, Args)]
pub(crate) struct CompletionsArgs {
    /// The shell to complete in
    #[arg(value_enum)]
    pub(crate) shell: clap_complete::Shell,
}

#[derive(Debug, Subcommand)]
pub(crate) enum SiteCommand {
    /// Write the whole site from the journal alone, without posting (to publish it the first
    /// time, or again after a change of template or components)
    Build(SiteBuildArgs),
}

#[derive(Debug, Args)]
pub(crate) struct SiteBuildArgs {
    /// The folder to write it to [default: the site channel's `dir`]
    #[arg(long, value_name = "DIR")]
    pub(crate) out: Option<String>,

    /// The site channel to build, when the config has several
    #[arg(long, value_name = "NAME")]
    pub(crate) channel: Option<String>,
}

#[derive(Debug, Subcommand)]
pub(crate) enum JournalCommand {
    /// Upgrade the journal to this version's schema (done on first use anyway)
    Migrate,
    /// Copy every incident, update and delivery into an empty journal (SQLite to PostgreSQL or
    /// back)
    Copy(CopyArgs),
}

#[derive(Debug, Args)]
pub(crate) struct CopyArgs {
    /// The journal to copy: a file or a postgres:// URL [default: the configured journal]
    #[arg(long, value_name = "FILE|URL")]
    pub(crate) from: Option<String>,

    /// The journal to copy into, which must be empty: a file or a postgres:// URL
    #[arg(long, value_name = "FILE|URL")]
    pub(crate) to: String,
}

#[derive(Debug, Args)]
pub(crate) struct ChannelsArgs {
    /// Verify each enabled channel's credentials with its service, without posting
    #[arg(long)]
    pub(crate) check: bool,

    /// Print as JSON
    #[arg(long)]
    pub(crate) json: bool,
}

/// What `post --help` shows last: the commands of an incident's life, each run as it is written
/// by the tests (against the example config).
const POST_EXAMPLES: &str = "\
Examples:
  Open an incident (each channel's words are shown, then you are asked):
    outage post --status investigating --title \"Login failures\" \\
      --message \"Some customers cannot log in. We are looking into it.\" --next-update 30m

  Follow up the most recent incident:
    outage post --incident latest --status identified \\
      --message \"A faulty release; we are rolling it back.\" --next-update 30m

  Resolve it:
    outage post --incident latest --status resolved \\
      --message \"Logins have worked normally since the rollback.\"

  Schedule maintenance, which `outage tick` starts and completes on time:
    outage post --status scheduled --title \"Database upgrade\" --starts +24h --ends +25h \\
      --auto --message \"The dashboard will be read-only during the upgrade.\"

  In a script or CI, add --yes; to see first what each channel would say, --dry-run.";

#[derive(Debug, Args)]
pub(crate) struct PostArgs {
    #[command(flatten)]
    pub(crate) update: UpdateInput,

    /// Show each channel's exact output, check all the post checks before sending (secrets and
    /// their values, the journal), and send nothing
    #[arg(long)]
    pub(crate) dry_run: bool,

    /// Send without asking for confirmation (scripts and CI)
    #[arg(long, short = 'y')]
    pub(crate) yes: bool,

    /// Print the result as JSON
    #[arg(long)]
    pub(crate) json: bool,

    /// Do not show progress while sending
    #[arg(long, short = 'q')]
    pub(crate) quiet: bool,
}

#[derive(Debug, Args)]
pub(crate) struct LintArgs {
    #[command(flatten)]
    pub(crate) update: UpdateInput,

    /// Print the findings as JSON
    #[arg(long)]
    pub(crate) json: bool,
}

#[derive(Debug, Args)]
pub(crate) struct StatusArgs {
    /// Print as JSON
    #[arg(long)]
    pub(crate) json: bool,

    /// Exit with 4 when an open incident is overdue for its promised update
    #[arg(long)]
    pub(crate) check: bool,
}

#[derive(Debug, Args)]
pub(crate) struct IncidentsArgs {
    /// Only the open ones
    #[arg(long)]
    pub(crate) open: bool,

    /// Only those updated within this long (`7d`, `24h`)
    #[arg(long, value_name = "DURATION")]
    pub(crate) since: Option<String>,

    /// Print as JSON
    #[arg(long)]
    pub(crate) json: bool,
}

#[derive(Debug, Args)]
pub(crate) struct HistoryArgs {
    /// The incident (`latest`, the default, for the most recent one)
    #[arg(default_value = "latest")]
    pub(crate) incident: String,

    /// Print as JSON
    #[arg(long)]
    pub(crate) json: bool,
}

#[derive(Debug, Args)]
pub(crate) struct TickArgs {
    /// Say what is due and send nothing
    #[arg(long)]
    pub(crate) dry_run: bool,

    /// Print the result as JSON
    #[arg(long)]
    pub(crate) json: bool,

    /// One line per step, and nothing when nothing is due
    #[arg(long, short = 'q')]
    pub(crate) quiet: bool,
}

#[derive(Debug, Args)]
pub(crate) struct RetryArgs {
    /// The incident (`latest` for the most recent one)
    pub(crate) incident: String,

    /// Also send deliveries whose outcome is unknown (the process died mid-request) and whose
    /// repeat is not harmless; they may have been delivered already
    #[arg(long)]
    pub(crate) include_unknown: bool,

    /// Print the result as JSON
    #[arg(long)]
    pub(crate) json: bool,

    /// Do not show progress while sending
    #[arg(long, short = 'q')]
    pub(crate) quiet: bool,
}
