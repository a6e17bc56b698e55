//! `outage journal migrate` and `outage journal copy`: upgrading a journal's schema, and moving a
//! team from an SQLite journal to PostgreSQL (or back) with every incident, update, delivery,
//! thread anchor and idempotency key. A `.json` file on either side is a dump of every record
//! (a backup, or a journal prepared elsewhere).

use std::io::Write;
use std::path::Path;

use crate::cli::{Cli, CopyArgs, JournalCommand};
use crate::error::{Done, Error, Phase};
use crate::journal::{self, Access, Dump, Location, SCHEMA_VERSION};
use crate::setup::Setup;

pub(crate) fn run(cli: &Cli, command: &JournalCommand) -> Result<Done, Error> {
    match command {
        JournalCommand::Migrate => migrate(cli),
        JournalCommand::Copy(args) => copy(cli, args),
    }
}

fn migrate(cli: &Cli) -> Result<Done, Error> {
    let setup = Setup::load(cli).usage()?;
    let journal = journal::open(&setup.state, Access::ReadWrite)
        .usage()?
        .expect("a journal opened for writing exists");
    let version = journal.schema_version().usage()?;
    writeln!(
        std::io::stdout(),
        "the journal at {} has schema {version} (this version's is {SCHEMA_VERSION})",
        journal.location()
    )
    .usage()?;
    Ok(Done::Ok)
}

/// The largest dump file `copy` reads.
const DUMP_LIMIT: u64 = 4 * 1024 * 1024 * 1024;

fn copy(cli: &Cli, args: &CopyArgs) -> Result<Done, Error> {
    let from = match &args.from {
        Some(from) => from.clone(),
        None => Setup::load(cli).usage()?.state.to_string(),
    };
    let (dump, source) = if from.ends_with(".json") {
        let text = crate::limits::read_text(Path::new(&from), DUMP_LIMIT, "the dump").usage()?;
        let dump: Dump = serde_json::from_str(&text)
            .map_err(|err| anyhow::anyhow!("{from}: not a journal dump: {err}"))
            .usage()?;
        (dump, from.clone())
    } else {
        let source = journal::open_existing(&Location::parse(&from)).usage()?;
        (source.dump().usage()?, source.location())
    };
    if args.to.ends_with(".json") {
        let path = Path::new(&args.to);
        if path.exists() {
            return Err(Error::Usage(anyhow::anyhow!(
                "{} exists; copy into a new file",
                path.display()
            )));
        }
        let file = std::fs::File::create(path).usage()?;
        serde_json::to_writer(std::io::BufWriter::new(file), &dump).usage()?;
        return said(&dump, &source, &args.to);
    }
    let mut target = journal::open(&Location::parse(&args.to), Access::ReadWrite)
        .usage()?
        .expect("a journal opened for writing exists");
    if !target.is_empty().usage()? {
        return Err(Error::Usage(anyhow::anyhow!(
            "{} already holds incidents; copy into an empty journal",
            target.location()
        )));
    }
    target.load(&dump).usage()?;
    let copied = target.dump().usage()?;
    if copied != dump {
        return Err(Error::Usage(anyhow::anyhow!(
            "the copy in {} does not hold what {source} does; check both",
            target.location()
        )));
    }
    said(&dump, &source, &target.location())
}

fn said(dump: &Dump, from: &str, to: &str) -> Result<Done, Error> {
    use crate::wording::counted;
    writeln!(
        std::io::stdout(),
        "copied {}, {} and {} from {from} to {to}",
        counted(dump.incidents.len(), "incident", "incidents"),
        counted(dump.updates.len(), "update", "updates"),
        counted(dump.deliveries.len(), "delivery", "deliveries"),
    )
    .usage()?;
    Ok(Done::Ok)
}
