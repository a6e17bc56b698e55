//! `outage completions SHELL` and `outage man`: generated from the clap definitions, so they
//! can never disagree with `--help`.

use clap::CommandFactory;

use crate::cli::Cli;
use crate::error::{Done, Error, Phase};

pub(crate) fn completions(shell: clap_complete::Shell) -> Result<Done, Error> {
    let mut command = Cli::command();
    clap_complete::generate(shell, &mut command, "outage", &mut std::io::stdout().lock());
    Ok(Done::Ok)
}

pub(crate) fn man() -> Result<Done, Error> {
    clap_mangen::Man::new(Cli::command())
        .render(&mut std::io::stdout().lock())
        .usage()?;
    Ok(Done::Ok)
}
