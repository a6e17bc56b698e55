//! `outage completions SHELL` and `outage man`: generated from the clap definitions, so they
//! can never disagree with `--help`.

use clap::CommandFactory;

use anyhow::Context;

use crate::cli::{Cli, ManArgs};
use crate::error::{Done, Error, Phase};

pub(crate) fn completions(shell: clap_complete::Shell) -> Result<Done, Error> {
    let mut command = Cli::command();
    clap_complete::generate(shell, &mut command, "outage", &mut std::io::stdout().lock());
    Ok(Done::Ok)
}

/// `outage man` prints outage(1), `outage man post` outage-post(1), and `--out` writes them
/// all: every page the others list under SUBCOMMANDS exists.
pub(crate) fn man(args: &ManArgs) -> Result<Done, Error> {
    // The pages list each other; `help` has no page of its own (its text is each page's).
    let mut command = Cli::command().disable_help_subcommand(true);
    command.build();
    if let Some(dir) = &args.out {
        let mut written = Vec::new();
        std::fs::create_dir_all(dir)
            .and_then(|()| write_pages(&command, dir, &mut written))
            .with_context(|| format!("cannot write the man pages into {}", dir.display()))
            .usage()?;
        println!(
            "wrote {} man pages into {}: {}",
            written.len(),
            dir.display(),
            written.join(", ")
        );
        println!(
            "read them with `man outage`, `man outage-post`, ... (the folder's parent must be on \
             the man path, which `manpath` prints)"
        );
        return Ok(Done::Ok);
    }
    let mut path = vec!["outage"];
    for name in &args.command {
        let Some(sub) = command.find_subcommand(name).cloned() else {
            let known: Vec<&str> = command
                .get_subcommands()
                .map(|sub| sub.get_name())
                .collect();
            let path = path.join(" ");
            return Err(if known.is_empty() {
                anyhow::anyhow!(
                    "`{path}` has no commands under it; `outage man {}` prints its page",
                    path.trim_start_matches("outage ")
                )
            } else {
                anyhow::anyhow!(
                    "`{path}` has no command `{name}`; its commands are {}",
                    known.join(", ")
                )
            })
            .usage();
        };
        path.push(name);
        command = sub;
    }
    page(command)
        .render(&mut std::io::stdout().lock())
        .usage()?;
    Ok(Done::Ok)
}

/// A command's page, its footer naming outage and its version (a subcommand has none of its own).
fn page(command: clap::Command) -> clap_mangen::Man {
    clap_mangen::Man::new(command).source(concat!("outage ", env!("CARGO_PKG_VERSION")))
}

/// Writes the page of `command` and of each command under it, and names the files written.
fn write_pages(
    command: &clap::Command,
    dir: &std::path::Path,
    written: &mut Vec<String>,
) -> std::io::Result<()> {
    let file = page(command.clone()).generate_to(dir)?;
    written.extend(
        file.file_name()
            .map(|name| name.to_string_lossy().into_owned()),
    );
    for sub in command.get_subcommands().filter(|sub| !sub.is_hide_set()) {
        write_pages(sub, dir, written)?;
    }
    Ok(())
}
