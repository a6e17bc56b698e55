//! The website banner: a small HTML fragment and a JSON file that the site serves, rewritten from
//! the whole current state (every open incident and upcoming or running maintenance), so posting
//! to one incident never erases another's banner.
//!
//! Both files are written atomically: a temporary file in the same folder, then a rename, so a
//! reader never sees half a file.

use std::io::Write;
use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;
use jiff::Timestamp;
use serde_json::json;

use super::{Channel, Context, Failure, Post, Receipt};
use crate::config::{ChannelConfig, ChannelSettings, Organization};
use crate::journal::Journal;
use crate::update::{Kind, Update};
use crate::wording::render::{Projection, Renderer, banner_html};

#[derive(Clone)]
pub struct Banner {
    channel: ChannelConfig,
    renderer: Arc<Renderer>,
    context: Context,
}

impl Banner {
    pub fn new(channel: ChannelConfig, renderer: Arc<Renderer>, context: Context) -> Banner {
        Banner {
            channel,
            renderer,
            context,
        }
    }

    fn write(&self) -> anyhow::Result<Receipt> {
        let ChannelSettings::Banner(settings) = &self.channel.settings else {
            unreachable!("a banner channel has banner settings")
        };
        let journal = Journal::open(&self.context.journal_path)?;
        let projection = Projection {
            open: journal.open_updates()?,
            recent: Vec::new(),
        };
        let now = crate::update::now()?;
        let org = &self.context.organization;
        let rendering = banner_html(&self.renderer, &self.channel, org, now, &projection)?;
        write_atomically(
            &settings.html_path,
            format!("{}\n", rendering.text).as_bytes(),
        )?;
        if let Some(json_path) = &settings.json_path {
            write_atomically(json_path, json(&projection.open, org, now).as_bytes())?;
        }
        Ok(Receipt {
            url: Some(settings.html_path.display().to_string()),
            ..Receipt::default()
        })
    }
}

#[async_trait]
impl Channel for Banner {
    async fn deliver(&self, _post: &Post) -> Result<Receipt, Failure> {
        // The file system is quick but blocking; keep it off the runtime's worker threads.
        let banner = self.clone();
        tokio::task::spawn_blocking(move || banner.write())
            .await
            .map_err(|err| Failure::Unknown(format!("the banner writer stopped: {err}")))?
            .map_err(|err| Failure::Permanent(format!("{err:#}")))
    }

    fn repeat_is_safe(&self) -> bool {
        true
    }
}

/// The banner's JSON file: the same state as the HTML, for sites that render it themselves.
pub fn json(open: &[Update], org: &Organization, now: Timestamp) -> String {
    let item = |update: &Update| {
        let time = |at: Option<Timestamp>| at.map(|at| at.to_string());
        json!({
            "id": update.incident,
            "title": update.title,
            "status": update.status.as_str(),
            "status_label": update.status.label(),
            "message": update.message,
            "impact": update.impact.map(|impact| impact.as_str()),
            "components": update.components,
            "eta": time(update.eta),
            "next_update": time(update.next_update),
            "starts": time(update.starts),
            "ends": time(update.ends),
            "updated_at": update.posted_at.to_string(),
        })
    };
    let of_kind = |kind: Kind| -> Vec<_> {
        open.iter()
            .filter(|update| update.kind == kind)
            .map(item)
            .collect()
    };
    let value = json!({
        "version": 1,
        "generated_at": now.to_string(),
        "organization": org.name,
        "status_url": org.status_url,
        "incidents": of_kind(Kind::Incident),
        "maintenance": of_kind(Kind::Maintenance),
    });
    serde_json::to_string_pretty(&value).expect("JSON values serialize") + "\n"
}

/// Writes `bytes` to `path` through a temporary file in the same folder and a rename.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let folder = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    std::fs::create_dir_all(folder)
        .map_err(|err| anyhow::anyhow!("cannot create {}: {err}", folder.display()))?;
    let mut file = tempfile::NamedTempFile::new_in(folder)
        .map_err(|err| anyhow::anyhow!("cannot write in {}: {err}", folder.display()))?;
    file.write_all(bytes)?;
    file.as_file().sync_all()?;
    file.persist(path)
        .map_err(|err| anyhow::anyhow!("cannot replace {}: {}", path.display(), err.error))?;
    Ok(())
}
