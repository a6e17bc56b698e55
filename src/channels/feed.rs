//! The Atom feed (RFC 4287): the most recent updates of every incident, with ids that never
//! change, rewritten atomically like the banner.

use std::sync::Arc;

use async_trait::async_trait;
use atom_syndication::{Content, Entry, Feed as AtomFeed, FixedDateTime, Link, Person, Text};
use jiff::Timestamp;

use super::banner::write_atomically;
use super::{Channel, Context, Failure, Post, Receipt};
use crate::config::{ChannelConfig, ChannelSettings, FeedSettings, Organization};
use crate::journal::Journal;
use crate::update::Update;
use crate::wording::render::{Projection, Renderer};

#[derive(Clone)]
pub struct Feed {
    channel: ChannelConfig,
    renderer: Arc<Renderer>,
    context: Context,
}

impl Feed {
    pub fn new(channel: ChannelConfig, renderer: Arc<Renderer>, context: Context) -> Feed {
        Feed {
            channel,
            renderer,
            context,
        }
    }

    fn write(&self) -> anyhow::Result<Receipt> {
        let ChannelSettings::Feed(settings) = &self.channel.settings else {
            unreachable!("a feed channel has feed settings")
        };
        let journal = Journal::open(&self.context.journal_path)?;
        let recent = journal.recent_updates(settings.max_entries)?;
        let org = &self.context.organization;
        let xml = build(&recent, org, settings, crate::update::now()?, |update| {
            entry_text(&self.renderer, &self.channel, org, update)
        });
        write_atomically(&settings.path, xml.as_bytes())?;
        Ok(Receipt {
            url: Some(settings.path.display().to_string()),
            ..Receipt::default()
        })
    }
}

/// An entry says what the feed channel's rendering of that update said.
pub fn entry_text(
    renderer: &Renderer,
    channel: &ChannelConfig,
    org: &Organization,
    update: &Update,
) -> String {
    let (rendering, _) = renderer.render(
        channel,
        update,
        org,
        update.posted_at,
        &Projection::default(),
    );
    rendering.map_or_else(|| update.message.clone(), |rendering| rendering.text)
}

#[async_trait]
impl Channel for Feed {
    async fn deliver(&self, _post: &Post) -> Result<Receipt, Failure> {
        let feed = self.clone();
        tokio::task::spawn_blocking(move || feed.write())
            .await
            .map_err(|err| Failure::Unknown(format!("the feed writer stopped: {err}")))?
            .map_err(|err| Failure::Permanent(format!("{err:#}")))
    }

    fn repeat_is_safe(&self) -> bool {
        true
    }
}

/// Builds the feed from the most recent updates, newest first.
pub fn build(
    recent: &[Update],
    org: &Organization,
    settings: &FeedSettings,
    now: Timestamp,
    text_of: impl Fn(&Update) -> String,
) -> String {
    let authority = [settings.feed_url.as_deref(), org.status_url.as_deref()]
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
    let mut links = Vec::new();
    if let Some(url) = &settings.feed_url {
        links.push(link(url, "self"));
    }
    if let Some(url) = &org.status_url {
        links.push(link(url, "alternate"));
    }
    feed.set_links(links);
    let entries = recent
        .iter()
        .map(|update| {
            let mut entry = Entry::default();
            let date = update.posted_at.to_zoned(jiff::tz::TimeZone::UTC).date();
            entry.set_id(format!(
                "tag:{authority},{date}:{}/update-{}",
                update.incident, update.sequence
            ));
            entry.set_title(Text::plain(format!(
                "[{}] {}",
                update.status.label(),
                update.title
            )));
            entry.set_updated(atom_time(update.posted_at));
            if let Some(url) = &org.status_url {
                entry.set_links(vec![link(url, "alternate")]);
            }
            let mut content = Content::default();
            content.set_content_type("text".to_owned());
            content.set_value(text_of(update));
            entry.set_content(content);
            entry
        })
        .collect::<Vec<_>>();
    feed.set_entries(entries);
    feed.to_string()
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
