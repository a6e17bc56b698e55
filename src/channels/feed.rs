//! The Atom feed (RFC 4287): the most recent updates of every incident, with ids that never
//! change, rendered in the plan from the journal's recent updates plus this one, and written whole
//! like the banner.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use atom_syndication::{Content, Entry, Feed as AtomFeed, FixedDateTime, Link, Person, Text};
use jiff::Timestamp;
use serde::Deserialize;

use super::files::Files;
use super::{BuildCx, Channel, Kind, Links, RenderCx, Rendering};
use crate::config::{self, Organization};
use crate::update::Update;
use crate::wording::fit::Measure;
use crate::wording::render::FileOut;
use crate::wording::rules::Finding;

#[derive(Debug, Clone)]
pub(crate) struct Feed {
    path: PathBuf,
    max_entries: usize,
    feed_url: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    path: PathBuf,
    #[serde(default = "twenty")]
    max_entries: usize,
    feed_url: Option<String>,
}

fn twenty() -> usize {
    20
}

/// The most entries a feed keeps.
pub(crate) const MAX_ENTRIES: usize = 200;

pub(crate) fn parse(rest: toml::Table, base: &Path) -> anyhow::Result<Arc<dyn Kind>> {
    let raw: Raw = config::kind_settings(rest, "feed", &[])?;
    if raw.max_entries == 0 || raw.max_entries > MAX_ENTRIES {
        anyhow::bail!("max_entries must be between 1 and {MAX_ENTRIES}");
    }
    if let Some(url) = &raw.feed_url {
        config::check_url(url).map_err(|err| anyhow::anyhow!("feed_url: {err:#}"))?;
    }
    Ok(Arc::new(Feed {
        path: config::file_path(base, &raw.path, "path")?,
        max_entries: raw.max_entries,
        feed_url: raw.feed_url,
    }))
}

impl Feed {
    /// An entry says what the feed's text of that update says, written as of its own time.
    fn entry_text(cx: &RenderCx<'_>, update: &Update) -> Result<String, Finding> {
        let facts = cx.facts_of(update, update.posted_at);
        cx.fitted("plain.txt", &facts, Measure::Unlimited)
    }
}

impl Kind for Feed {
    fn name(&self) -> &'static str {
        "feed"
    }

    fn is_projection(&self) -> bool {
        true
    }

    fn recent_shown(&self) -> usize {
        MAX_ENTRIES
    }

    fn render(&self, cx: &RenderCx<'_>) -> Result<Rendering, Finding> {
        let recent: Vec<&Update> = cx.projection.recent.iter().take(self.max_entries).collect();
        let mut texts = Vec::with_capacity(recent.len());
        for update in &recent {
            texts.push(Feed::entry_text(cx, update)?);
        }
        let text = Feed::entry_text(cx, cx.update)?;
        let xml = build(
            &recent,
            &texts,
            cx.organization,
            cx.links,
            self.feed_url.as_deref(),
            cx.now,
        );
        Ok(Rendering {
            text,
            files: vec![FileOut {
                path: self.path.clone(),
                content: xml,
            }],
            ..Rendering::default()
        })
    }

    fn build(&self, _cx: &BuildCx<'_>, _channel: &str) -> anyhow::Result<Arc<dyn Channel>> {
        Ok(Arc::new(Files))
    }

    fn repeat_is_safe(&self, _started: Option<Timestamp>, _now: Timestamp) -> bool {
        true
    }
}

/// The feed from the most recent updates, newest first, each with its text (a status site
/// writes one too).
pub(crate) fn build(
    recent: &[&Update],
    texts: &[String],
    org: &Organization,
    links: &Links,
    feed_url: Option<&str>,
    now: Timestamp,
) -> String {
    let authority = [feed_url, org.status_url.as_deref()]
        .into_iter()
        .flatten()
        .find_map(|url| reqwest::Url::parse(url).ok()?.host_str().map(str::to_owned))
        .unwrap_or_else(|| "outage.invalid".to_owned());
    let updated = recent.first().map_or(now, |update| update.posted_at);
    let mut feed = AtomFeed::default();
    feed.set_id(format!("tag:{authority},2026:incidents"));
    feed.set_title(Text::plain(format!("{} status", org.name)));
    feed.set_updated(atom_time(updated));
    let mut author = Person::default();
    author.set_name(org.name.clone());
    feed.set_authors(vec![author]);
    let mut own = Vec::new();
    if let Some(url) = feed_url {
        own.push(link(url, "self"));
    }
    if let Some(url) = &org.status_url {
        own.push(link(url, "alternate"));
    }
    feed.set_links(own);
    let entries = recent
        .iter()
        .zip(texts)
        .map(|(update, text)| {
            let mut entry = Entry::default();
            let date = update.posted_at.to_zoned(jiff::tz::TimeZone::UTC).date();
            entry.set_id(format!(
                "tag:{authority},{date}:{}/update-{}",
                update.incident, update.sequence
            ));
            entry.set_title(Text::plain(format!(
                "[{}] {}",
                update.label(),
                update.title
            )));
            entry.set_updated(atom_time(update.posted_at));
            if let Some(url) = links.for_incident(&update.incident) {
                entry.set_links(vec![link(&url, "alternate")]);
            }
            let mut content = Content::default();
            content.set_content_type("text".to_owned());
            content.set_value(text.clone());
            entry.set_content(content);
            entry
        })
        .collect::<Vec<_>>();
    feed.set_entries(entries);
    let config = atom_syndication::WriteConfig {
        write_document_declaration: true,
        indent_size: Some(2),
    };
    let bytes = feed
        .write_with_config(Vec::new(), config)
        .expect("writing to memory cannot fail");
    String::from_utf8(bytes).expect("the feed is UTF-8") + "\n"
}

fn link(href: &str, rel: &str) -> Link {
    let mut link = Link::default();
    link.set_href(href.to_owned());
    link.set_rel(rel.to_owned());
    link
}

fn atom_time(at: Timestamp) -> FixedDateTime {
    FixedDateTime::parse_from_rfc3339(&at.to_string()).expect("jiff prints RFC 3339")
}
