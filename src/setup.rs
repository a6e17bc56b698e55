//! What every command starts from: the configuration read and its channels configured by their
//! kinds, where the journal is, and the one place that builds the runtime and the adapters for
//! `post`, `retry`, `tick` and `channels --check`.

use std::collections::HashMap;
use std::sync::Arc;

use anyhow::Context;

use crate::channels::{self, BuildCx, Channel, ChannelConfig, IncidentPages, Links};
use crate::cli::Cli;
use crate::config::{self, Config};
use crate::journal::Location;
use crate::redact::Redactor;
use crate::wording::render::{Custom, Renderer};

pub(crate) struct Setup {
    pub(crate) config: Config,
    pub(crate) channels: Vec<ChannelConfig>,
    pub(crate) state: Location,
    /// Where incident pages are, when a status site publishes them.
    pages: Option<IncidentPages>,
}

impl Setup {
    pub(crate) fn load(cli: &Cli) -> anyhow::Result<Setup> {
        // An empty `OUTAGE_CONFIG=` or `OUTAGE_STATE=` in a script means unset, as it does for
        // most tools.
        let path = config::locate(
            cli.config
                .as_deref()
                .filter(|path| !path.is_empty())
                .map(std::path::Path::new),
        )?;
        let config = config::load(&path)?;
        Setup::from_config(
            config,
            cli.state.as_deref().filter(|state| !state.is_empty()),
        )
    }

    pub(crate) fn from_config(mut config: Config, state: Option<&str>) -> anyhow::Result<Setup> {
        let raw = std::mem::take(&mut config.channels);
        let channels = raw
            .into_iter()
            .map(|raw| channels::configure(raw, &config.base))
            .collect::<anyhow::Result<Vec<_>>>()?;
        let state = match (state, &config.state) {
            (Some(state), _) => Location::parse(state),
            (
                None,
                config::StateConfig {
                    url_env: Some(name),
                    ..
                },
            ) => {
                let url = std::env::var(name)
                    .ok()
                    .filter(|url| !url.trim().is_empty());
                let url = url.with_context(|| {
                    format!(
                        "{}: state.url_env names {name}, which is not set; export {name} with the \
                         journal's postgres:// URL",
                        config.path.display()
                    )
                })?;
                Location::Postgres(url)
            }
            (
                None,
                config::StateConfig {
                    path: Some(path), ..
                },
            ) => Location::File(path.clone()),
            (None, _) => Location::File(config::default_state_path()?),
        };
        let mut pages = None;
        for channel in channels.iter().filter(|channel| channel.enabled) {
            let found = channel
                .kind
                .incident_pages(config.organization.status_url.as_deref())
                .with_context(|| {
                    format!("{}: channel `{}`", config.path.display(), channel.name)
                })?;
            pages = pages.or(found);
        }
        Ok(Setup {
            config,
            channels,
            state,
            pages,
        })
    }

    /// The links posts carry: to each incident's page on the first enabled status site, else
    /// to the organisation's status page.
    pub(crate) fn links(&self) -> Links {
        Links {
            status_url: self.config.organization.status_url.clone(),
            pages: self.pages.clone(),
        }
    }

    /// What every page of a status site shows besides the history, with these `links`.
    pub(crate) fn site_settings<'a>(&'a self, links: &'a Links) -> channels::site::Settings<'a> {
        channels::site::Settings {
            organization: &self.config.organization,
            components: &self.config.components,
            links,
        }
    }

    /// The built-in templates and every channel's own.
    pub(crate) fn renderer(&self) -> anyhow::Result<Renderer> {
        Renderer::new(self.channels.iter().filter_map(|channel| {
            channel.template.as_deref().map(|path| Custom {
                channel: &channel.name,
                path,
                output: channel.kind.template_output(),
            })
        }))
    }

    /// That there are root certificates to check the servers of those of the named channels
    /// that may connect over HTTPS with (nothing to check when none does).
    pub(crate) fn check_roots<'a>(
        &self,
        names: impl IntoIterator<Item = &'a str>,
    ) -> anyhow::Result<()> {
        let https = names.into_iter().any(|name| {
            self.channel(name)
                .is_some_and(|channel| channel.kind.uses_https())
        });
        if https {
            crate::tls::check_roots()?;
        }
        Ok(())
    }

    pub(crate) fn channel(&self, name: &str) -> Option<&ChannelConfig> {
        self.channels.iter().find(|channel| channel.name == name)
    }

    /// Builds the adapters of the named channels, resolving their secrets. Every channel that is
    /// not ready is named in one error: nothing goes out until all are.
    pub(crate) fn build<'a>(
        &self,
        names: impl IntoIterator<Item = &'a str>,
        redactor: &Redactor,
    ) -> anyhow::Result<HashMap<String, Arc<dyn Channel>>> {
        let cx = BuildCx::new(
            &self.config.organization,
            self.config.dispatch.timeout.unsigned_abs(),
            redactor,
        );
        let mut adapters = HashMap::new();
        let mut problems = Vec::new();
        for name in names {
            if adapters.contains_key(name) {
                continue;
            }
            let Some(channel) = self.channel(name) else {
                problems.push(format!(
                    "channel `{name}` is no longer in {}",
                    self.config.path.display()
                ));
                continue;
            };
            match channel.kind.build(&cx, &channel.name) {
                Ok(adapter) => {
                    adapters.insert(name.to_owned(), adapter);
                }
                Err(err) => problems.push(format!("{err:#}")),
            }
        }
        if !problems.is_empty() {
            anyhow::bail!("{}", problems.join("\n"));
        }
        Ok(adapters)
    }
}

/// The async runtime the sending runs on. One worker thread: sending waits on the network, not
/// on the processor, and each thread that allocates gets an allocator arena of its own that
/// keeps what it freed. With two, a list of 10,000 subscribers each on its own server peaked at
/// 70-72 MB, with one at 57-58 MB, in the same time (the benchmark, run in turn). The multi-thread
/// flavour still, for `block_in_place`: taking the projections lock may wait for another process
/// while the message channels go on.
pub(crate) fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use proptest::prelude::*;

    use super::*;

    const VALID: &str = "[organization]\nname = \"Example\"\n[[channel]]\nname = \"hook\"\nkind = \"webhook\"\nurl = \"https://hooks.example.com/x\"\n";

    fn load(text: &str) -> anyhow::Result<Setup> {
        let config = config::parse(text, Path::new("channels.toml"))?;
        Setup::from_config(config, Some("journal.db"))
    }

    proptest! {
        /// Any text is a configuration or one clear line that names the file.
        #[test]
        fn any_text_parses_or_fails_with_one_line(text in "(\\[|\\]|\\[\\[channel\\]\\]|organization|name|kind|url|=|\"|\\n|webhook|email|x|facebook|[a-z0-9 ._:/-]){0,120}") {
            if let Err(err) = load(&text) {
                let message = format!("{err:#}");
                prop_assert!(message.starts_with("channels.toml: "), "{message}");
                prop_assert!(!message.contains('\n'), "{message}");
            }
        }

        /// Changing one value of a valid file never panics, whatever the value.
        #[test]
        fn any_value_in_a_valid_file_is_checked(value in "\\PC{0,40}") {
            let text = VALID.replace("https://hooks.example.com/x", &value.replace(['"', '\\'], ""));
            let _ = load(&text);
        }
    }
}
