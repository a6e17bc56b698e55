//! The status site: the page behind the link every post carries. A projection like the banner
//! and the feed, rendered in the plan from the journal's history with this update applied, and
//! published whole: a front page (the overall state, the open incidents with every update, the
//! maintenance, the components and the last 90 days), a permanent page per incident, the
//! history by month, an Atom feed and Statuspage's public JSON under `api/v2/`.
//!
//! Pages are self-contained (inline CSS, no script, font, image or request to anything else),
//! so they load from any static host, object store or `file://`. A post renders the files it
//! changes; the writer ([`mod@write`]) lays them over the previous version and swaps the whole site
//! at once. `outage site build` renders every page from the journal alone.

mod api;
mod model;
mod pages;
pub(crate) mod write;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use jiff::Timestamp;
use serde::Deserialize;

use super::{BuildCx, Channel, History, IncidentPages, Kind, Links, RenderCx, Rendering};
use crate::config::{self, Component, Organization};
use crate::update::Update;
use crate::wording::render::{FileOut, Output, Renderer};
use crate::wording::rules::{Finding, RuleId};

use self::model::Model;
use self::pages::Pages;

/// How many of the most recent updates the site's feed holds.
pub(crate) const FEED_ENTRIES: usize = 50;
/// How far back the front page goes.
pub(crate) const DAYS_SHOWN: i64 = 90;
/// How many of the most recent incidents, and of the most recent maintenances, the site shows
/// in full (Statuspage's `incidents.json` lists 50).
pub(crate) const LISTED: usize = 50;

#[derive(Debug, Clone)]
pub(crate) struct Site {
    dir: PathBuf,
    base_url: Option<String>,
    pretty_urls: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    dir: PathBuf,
    base_url: Option<String>,
    #[serde(default)]
    pretty_urls: bool,
}

pub(crate) fn parse(rest: toml::Table, base: &Path) -> anyhow::Result<Arc<dyn Kind>> {
    let raw: Raw = config::kind_settings(rest, "site", &[])?;
    if raw.dir.as_os_str().is_empty() {
        anyhow::bail!("dir is empty; name the folder the site is written to");
    }
    let dir = base.join(&raw.dir);
    if dir.file_name().is_none() || dir.parent().is_none() {
        anyhow::bail!(
            "dir {} must be a folder of its own (outage replaces it whole)",
            dir.display()
        );
    }
    if let Some(url) = &raw.base_url {
        config::check_url(url).map_err(|err| anyhow::anyhow!("base_url: {err:#}"))?;
    }
    Ok(Arc::new(Site {
        dir,
        base_url: raw.base_url.map(|url| url.trim_end_matches('/').to_owned()),
        pretty_urls: raw.pretty_urls,
    }))
}

/// A component's id in the JSON: its name in lower case, runs of other characters as `-`.
pub(crate) fn slug(name: &str) -> String {
    let mut slug = String::new();
    for c in name.chars().flat_map(char::to_lowercase) {
        if c.is_alphanumeric() {
            slug.push(c);
        } else if !slug.is_empty() && !slug.ends_with('-') {
            slug.push('-');
        }
    }
    slug.trim_end_matches('-').to_owned()
}

/// The file in each version of the site that says which settings its pages were written with:
/// a post to a site published with other settings writes every page again (or, when it reads
/// only part of a long history, says to run `outage site build`).
pub(crate) const SETTINGS_FILE: &str = ".outage-settings";

/// What every page of a site shows besides the history: the organization, its time zone, the
/// components, the pages' address, and how this version of outage lays them out.
pub(crate) struct Settings<'a> {
    pub(crate) organization: &'a Organization,
    pub(crate) components: &'a [Component],
    pub(crate) links: &'a Links,
}

/// What the site is rendered from: the same for a post and for `outage site build`.
pub(crate) struct SiteCx<'a> {
    pub(crate) organization: &'a Organization,
    pub(crate) components: &'a [Component],
    pub(crate) renderer: &'a Renderer,
    pub(crate) links: &'a Links,
    pub(crate) history: &'a History,
    /// The most recent updates, newest first, for the feed.
    pub(crate) recent: &'a [Update],
    pub(crate) now: Timestamp,
}

impl SiteCx<'_> {
    /// What every page shows besides the history.
    fn settings(&self) -> Settings<'_> {
        Settings {
            organization: self.organization,
            components: self.components,
            links: self.links,
        }
    }
}

impl Site {
    fn pages(&self, status_url: Option<&str>) -> Option<IncidentPages> {
        let base = self.base_url.as_deref().or(status_url)?;
        Some(IncidentPages {
            base_url: base.trim_end_matches('/').to_owned(),
            pretty: self.pretty_urls,
        })
    }

    /// The pages' address: the one the channels link to, else the site's own.
    fn incident_pages(&self, links: &Links, status_url: Option<&str>) -> Option<IncidentPages> {
        links.pages.clone().or_else(|| self.pages(status_url))
    }

    /// A digest of the settings every page shows ([`SETTINGS_FILE`] holds it): when it differs
    /// from the published version's, pages written before show something else. The layout is
    /// this version of outage and its site templates (a build between releases keeps the
    /// version number).
    pub(crate) fn fingerprint(&self, settings: &Settings<'_>) -> String {
        self.fingerprint_with(settings, crate::wording::render::built_in("site/"))
    }

    fn fingerprint_with<'t>(
        &self,
        settings: &Settings<'_>,
        templates: impl Iterator<Item = &'t str>,
    ) -> String {
        use sha2::{Digest, Sha256};
        let organization = settings.organization;
        let pages = self.incident_pages(settings.links, organization.status_url.as_deref());
        let components: Vec<serde_json::Value> = settings
            .components
            .iter()
            .map(|component| {
                serde_json::json!([component.name, component.group, component.description])
            })
            .collect();
        let shown = serde_json::json!({
            "outage": env!("CARGO_PKG_VERSION"),
            "organization": [
                organization.name,
                organization.status_url,
                organization.timezone.iana_name(),
            ],
            "components": components,
            "pages": pages.map(|pages| (pages.base_url, pages.pretty)),
            "templates": templates
                .map(|source| crate::digest::hex(&Sha256::digest(source.as_bytes())))
                .collect::<Vec<_>>(),
        });
        crate::digest::hex(&Sha256::digest(shown.to_string().as_bytes()))
    }

    /// The files of the site: every page when the history is whole, else those an update of
    /// `current` changes (the front page, the history, its month, its own page, the feed and
    /// the JSON).
    pub(crate) fn files(
        &self,
        cx: &SiteCx<'_>,
        current: Option<&str>,
    ) -> Result<Vec<FileOut>, Finding> {
        let incident_pages = self
            .incident_pages(cx.links, cx.organization.status_url.as_deref())
            .ok_or_else(|| {
                Finding::new(
                    RuleId::MissingFact,
                    "the site has no address: give it base_url, or the organization a status_url",
                )
            })?;
        let model = Model::new(cx.history, cx.components);
        let pages = Pages {
            model: &model,
            organization: cx.organization,
            now: cx.now,
        };
        let render = |name: &str, frame: pages::Frame, values: serde_json::Value| {
            let mut context = serde_json::to_value(frame).expect("plain data");
            if let (Some(context), serde_json::Value::Object(values)) =
                (context.as_object_mut(), values)
            {
                context.extend(values);
            }
            cx.renderer.render(name, &context)
        };
        let mut files = Vec::new();
        let mut add = |path: String, content: String| {
            files.push(FileOut {
                path: PathBuf::from(path),
                content: content + "\n",
            });
        };
        add(
            "index.html".into(),
            render(
                "site/index.html",
                pages.frame("", None),
                pages.index(DAYS_SHOWN),
            )?,
        );
        // The pages of incidents: this update's, or every one whose timeline the site has.
        for state in &model.all {
            let wanted = match current {
                _ if cx.history.whole => !state.timeline.is_empty(),
                Some(current) => state.incident.id == current,
                None => false,
            };
            if !wanted {
                continue;
            }
            let link = incident_pages.url(&state.incident.id);
            add(
                pages::href(&state.incident.id),
                render(
                    "site/incident.html",
                    pages.frame("../", Some(link.clone())),
                    serde_json::json!({
                        "incident": pages.incident(state),
                        "state_class": Pages::state_class(state),
                        "link": link,
                    }),
                )?,
            );
        }
        // The history, and the month pages it links to when long.
        let months = pages.months();
        let current_month = current.and_then(|current| {
            let state = model
                .all
                .iter()
                .find(|state| state.incident.id == current)?;
            let date = state
                .incident
                .opened_at
                .to_zoned(cx.organization.timezone.clone())
                .date();
            Some(format!("{:04}-{:02}", date.year(), date.month()))
        });
        let mut month_pages = Vec::new();
        for month in &months {
            if cx.history.whole || current_month.as_deref() == Some(month.id()) {
                month_pages.push((pages::month_href(month.id()), month.label().to_owned()));
            }
        }
        let mut months_by_id: std::collections::HashMap<String, pages::MonthView> = months
            .into_iter()
            .map(|month| (month.id().to_owned(), month))
            .collect();
        for (href, label) in month_pages {
            let id = href
                .trim_start_matches("history/")
                .trim_end_matches(".html")
                .to_owned();
            let Some(month) = months_by_id.remove(&id) else {
                continue;
            };
            add(
                href,
                render(
                    "site/history.html",
                    pages.frame("../", None),
                    serde_json::json!({ "heading": label, "months": [month], "older": [] }),
                )?,
            );
        }
        add(
            "history.html".into(),
            render(
                "site/history.html",
                pages.frame("", None),
                pages.history(pages.months()),
            )?,
        );
        // The feed: the most recent updates, each linking its incident's page.
        let recent: Vec<&Update> = cx.recent.iter().take(FEED_ENTRIES).collect();
        let mut texts = Vec::with_capacity(recent.len());
        for update in &recent {
            let facts = pages::facts(
                update,
                cx.organization,
                Some(incident_pages.url(&update.incident)),
            );
            texts.push(cx.renderer.render("plain.txt", &facts)?);
        }
        add(
            "feed.atom".into(),
            super::feed::build(
                &recent,
                &texts,
                cx.organization,
                cx.links,
                Some(&format!("{}/feed.atom", incident_pages.base_url)),
                cx.now,
            )
            .trim_end()
            .to_owned(),
        );
        // Statuspage's JSON.
        let body = |update: &Update| body(update, cx.organization);
        let api = api::Api {
            model: &model,
            organization: cx.organization,
            pages: &incident_pages,
            now: cx.now,
            body: &body,
        };
        for (path, content) in api.files() {
            add(path.to_owned(), content.trim_end().to_owned());
        }
        // Written with every page, and kept as it is by the posts that write a few.
        if cx.history.whole {
            add(SETTINGS_FILE.to_owned(), self.fingerprint(&cx.settings()));
        }
        Ok(files)
    }
}

/// An update's text in the JSON: its message, then each fact it states, as the pages say them.
fn body(update: &Update, organization: &Organization) -> String {
    let facts = pages::facts(update, organization, None);
    let mut lines = Vec::new();
    if update.correction && !update.message.starts_with("Correction") {
        lines.push(format!(
            "Correction to our previous update: {}",
            facts.message
        ));
    } else {
        lines.push(facts.message.clone());
    }
    if !facts.components.is_empty() {
        lines.push(format!("Affected: {}.", facts.components.join(", ")));
    }
    match (&facts.starts, &facts.ends) {
        (Some(starts), Some(ends)) => lines.push(format!("Window: {starts} to {ends}.")),
        (Some(starts), None) => lines.push(format!("Window: from {starts}.")),
        (None, Some(ends)) => lines.push(format!("Window: until {ends}.")),
        (None, None) => {}
    }
    if let Some(impact) = facts.impact {
        lines.push(format!("Impact: {impact}."));
    }
    if let Some(eta) = &facts.eta {
        lines.push(format!(
            "Estimated resolution: {eta} (an estimate, not a promise)."
        ));
    }
    if let Some(next) = &facts.next_update {
        lines.push(format!("Next update by {next}."));
    }
    if let Some(compensation) = &facts.compensation {
        lines.push(compensation.clone());
    }
    lines.join("\n")
}

impl Kind for Site {
    fn name(&self) -> &'static str {
        "site"
    }

    fn template_output(&self) -> Output {
        Output::Html
    }

    fn takes_template(&self) -> bool {
        false
    }

    fn is_projection(&self) -> bool {
        true
    }

    fn recent_shown(&self) -> usize {
        FEED_ENTRIES
    }

    fn history_shown(&self) -> bool {
        true
    }

    fn incident_pages(&self, status_url: Option<&str>) -> anyhow::Result<Option<IncidentPages>> {
        match self.pages(status_url) {
            Some(pages) => Ok(Some(pages)),
            None => anyhow::bail!(
                "a site needs an address for its pages: give it base_url = \"https://...\", or \
                 give [organization] a status_url"
            ),
        }
    }

    fn render(&self, cx: &RenderCx<'_>) -> Result<Rendering, Finding> {
        let fallback;
        let history = match &cx.projection.history {
            Some(history) => history,
            None => {
                fallback = History::default();
                &fallback
            }
        };
        let site = SiteCx {
            organization: cx.organization,
            components: cx.components,
            renderer: cx.renderer,
            links: cx.links,
            history,
            recent: &cx.projection.recent,
            now: cx.now,
        };
        let files = self.files(&site, Some(&cx.update.incident))?;
        // The text is the incident's page: what the facts of this update are checked in.
        let page = pages::href(&cx.update.incident);
        let text = files
            .iter()
            .find(|file| file.path == Path::new(&page))
            .map(|file| file.content.trim_end().to_owned())
            .unwrap_or_default();
        Ok(Rendering {
            text,
            files,
            whole: history.whole,
            outdated: !history.whole && cx.projection.outdated_sites.contains(&self.dir),
            folded: false,
            ..Rendering::default()
        })
    }

    fn build(&self, _cx: &BuildCx<'_>, _channel: &str) -> anyhow::Result<Arc<dyn Channel>> {
        Ok(Arc::new(write::SiteWriter {
            dir: self.dir.clone(),
        }))
    }

    fn repeat_is_safe(&self, _started: Option<Timestamp>, _now: Timestamp) -> bool {
        true
    }

    fn site(&self) -> Option<&Site> {
        Some(self)
    }
}

impl Site {
    pub(crate) fn dir(&self) -> &Path {
        &self.dir
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The digest follows what every page shows, the site templates' text included, and
    /// nothing else: the same settings and layout give the same digest.
    #[test]
    fn the_fingerprint_changes_with_the_layout_and_only_with_what_pages_show() {
        let site = Site {
            dir: PathBuf::from("public/status"),
            base_url: None,
            pretty_urls: false,
        };
        let organization = Organization {
            name: "Example Inc".into(),
            status_url: Some("https://status.example.com".into()),
            timezone: jiff::tz::TimeZone::UTC,
        };
        let links = Links {
            status_url: organization.status_url.clone(),
            pages: None,
        };
        let settings = Settings {
            organization: &organization,
            components: &[],
            links: &links,
        };
        let of = |templates: &[&str]| site.fingerprint_with(&settings, templates.iter().copied());
        assert_eq!(of(&["<p>{{ a }}</p>"]), of(&["<p>{{ a }}</p>"]));
        assert_ne!(of(&["<p>{{ a }}</p>"]), of(&["<div>{{ a }}</div>"]));
        assert_ne!(
            of(&["<p>{{ a }}</p>"]),
            of(&["<p>{{ a }}</p>", "<p>{{ b }}</p>"])
        );
        assert_eq!(site.fingerprint(&settings), site.fingerprint(&settings));
        let other = Site {
            dir: PathBuf::from("elsewhere"),
            ..site.clone()
        };
        // Where the site is written is not something a page shows.
        assert_eq!(other.fingerprint(&settings), site.fingerprint(&settings));
        // The organization's name is.
        let renamed = Organization {
            name: "Example Corporation".into(),
            ..organization.clone()
        };
        let renamed = Settings {
            organization: &renamed,
            ..settings
        };
        assert_ne!(site.fingerprint(&renamed), site.fingerprint(&settings));
    }
}
