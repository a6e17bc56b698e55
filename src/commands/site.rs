//! `outage site build`: the whole status site from the journal alone, without posting, written
//! the way a post writes it (a new version swapped in at once) under the projections lock, so
//! that it never interleaves with a post's own writing.

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;

use crate::channels::site::{self, FEED_ENTRIES, SiteCx};
use crate::channels::{ChannelConfig, History};
use crate::cli::{Cli, SiteBuildArgs, SiteCommand};
use crate::error::{Done, Error, Phase};
use crate::journal::{self, Access, PROJECTIONS};
use crate::setup::Setup;

pub(crate) fn run(cli: &Cli, command: &SiteCommand) -> Result<Done, Error> {
    match command {
        SiteCommand::Build(args) => build(cli, args),
    }
}

fn build(cli: &Cli, args: &SiteBuildArgs) -> Result<Done, Error> {
    let setup = Setup::load(cli).usage()?;
    let (channel, site) = chosen(&setup, args.channel.as_deref()).usage()?;
    let renderer = setup.renderer().usage()?;
    let now = crate::update::now().usage()?;
    let links = setup.links();
    let journal = journal::open(&setup.state, Access::ReadOnly).usage()?;
    let (history, recent, _journal) = match journal {
        Some(mut journal) => {
            journal.lock(PROJECTIONS, &mut || {}).usage()?;
            let history = crate::plan::history(&*journal, None, &[], true).usage()?;
            let recent = journal.recent_updates(FEED_ENTRIES).usage()?;
            (history, recent, Some(journal))
        }
        None => (
            History {
                whole: true,
                ..History::default()
            },
            Vec::new(),
            None,
        ),
    };
    let cx = SiteCx {
        organization: &setup.config.organization,
        components: &setup.config.components,
        renderer: &renderer,
        links: &links,
        history: &history,
        recent: &recent,
        now,
    };
    let files = site
        .files(&cx, None)
        .map_err(|finding| anyhow::anyhow!("channel `{}`: {}", channel.name, finding.message))
        .usage()?;
    let dir = args
        .out
        .as_ref()
        .map_or_else(|| site.dir().to_owned(), PathBuf::from);
    site::write::publish(&dir, &files)
        .with_context(|| format!("cannot write the site to {}", dir.display()))
        .usage()?;
    writeln!(
        std::io::stdout(),
        "wrote the site for {} ({}) to {}",
        crate::wording::counted(
            history.incidents.len(),
            "incident or maintenance",
            "incidents and maintenances"
        ),
        crate::wording::counted(files.len(), "file", "files"),
        dir.display()
    )
    .usage()?;
    Ok(Done::Ok)
}

/// The site channel to build: the one named, or the only one.
fn chosen<'a>(
    setup: &'a Setup,
    name: Option<&str>,
) -> anyhow::Result<(&'a ChannelConfig, &'a site::Site)> {
    let sites: Vec<(&ChannelConfig, &site::Site)> = setup
        .channels
        .iter()
        .filter_map(|channel| channel.kind.site().map(|site| (channel, site)))
        .collect();
    let path = setup.config.path.display();
    match (name, sites.as_slice()) {
        (_, []) => anyhow::bail!(
            "{path} has no site channel; add one: [[channel]] name = \"site\" kind = \"site\" \
             dir = \"public/status\""
        ),
        (None, [one]) => Ok(*one),
        (None, _) => anyhow::bail!(
            "{path} has several site channels; name one with --channel ({})",
            names(&sites)
        ),
        (Some(name), _) => sites
            .iter()
            .find(|(channel, _)| channel.name == name)
            .copied()
            .with_context(|| {
                format!(
                    "--channel: no site channel is named `{name}`; the site channels are {}",
                    names(&sites)
                )
            }),
    }
}

fn names(sites: &[(&ChannelConfig, &site::Site)]) -> String {
    sites
        .iter()
        .map(|(channel, _)| channel.name.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}
