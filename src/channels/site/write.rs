//! Publishing the site whole. The configured `dir` is a symbolic link to one version of the
//! site in `.<dir>.versions/` beside it; a new version is made by hard-linking the current one's
//! files (nothing is copied), writing the files that changed as new files (a linked file is
//! never written in place, so the current version stays as it was), and replacing the link in
//! one rename. A reader, a web server or `aws s3 sync`, sees the old site or the new one, never
//! a mix. The previous version is kept for readers still in it; older ones are removed.

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Component, Path, PathBuf};

use anyhow::{Context, bail};
use async_trait::async_trait;

use crate::channels::{Channel, Failure, Post, Receipt};
use crate::wording::render::FileOut;

pub(crate) struct SiteWriter {
    pub(crate) dir: PathBuf,
}

#[async_trait]
impl Channel for SiteWriter {
    async fn deliver(&self, post: &Post) -> Result<Receipt, Failure> {
        let files = post.rendering.files.clone();
        if files.is_empty() {
            return Err(Failure::permanent(
                "the rendering has no file to write; run `outage retry` to render it again",
            ));
        }
        let dir = self.dir.clone();
        let (whole, outdated) = (post.rendering.whole, post.rendering.outdated);
        tokio::task::spawn_blocking(move || {
            let first = publish(&dir, &files)?;
            let note = if first && !whole {
                Some(format!(
                    "{} is new: `outage site build` writes the pages of earlier incidents",
                    dir.display()
                ))
            } else if outdated {
                Some(format!(
                    "the other pages of {} were written with other settings (the \
                     organization, time zone, components or address, or an earlier outage's \
                     layout), or not yet: `outage site build` writes every page",
                    dir.display()
                ))
            } else {
                None
            };
            Ok(Receipt {
                url: Some(dir.join("index.html").display().to_string()),
                note,
                ..Receipt::default()
            })
        })
        .await
        .map_err(|err| Failure::unknown(format!("the site writer stopped: {err}")))?
        .map_err(|err: anyhow::Error| Failure::permanent(format!("{err:#}")))
    }
}

/// What is published at a site's `dir`, as a post sees it before writing anything.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Published {
    /// No version of the site yet.
    Nothing,
    /// A version whose pages show the settings of this digest ([`super::SETTINGS_FILE`]), or
    /// (`None`) ones it does not say: written in part, or by an earlier version of outage.
    With(Option<String>),
}

/// What is published at `dir` (a link to a folder), read without changing anything.
pub(crate) fn published(dir: &Path) -> Published {
    use std::io::Read;
    let linked = std::fs::symlink_metadata(dir).is_ok_and(|meta| meta.file_type().is_symlink());
    if !(linked && dir.is_dir()) {
        return Published::Nothing;
    }
    // A digest in hex; anything longer is not one.
    let mut digest = String::new();
    let read = std::fs::File::open(dir.join(super::SETTINGS_FILE))
        .and_then(|file| file.take(256).read_to_string(&mut digest));
    Published::With(read.ok().map(|_| digest.trim().to_owned()))
}

/// Publishes `files` (paths relative to the site) over the current version of the site at
/// `dir`, as a new version swapped in at once. True when there was no site yet.
pub(crate) fn publish(dir: &Path, files: &[FileOut]) -> anyhow::Result<bool> {
    let parent = match dir.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    let name = dir
        .file_name()
        .with_context(|| format!("{} does not name a folder", dir.display()))?
        .to_string_lossy()
        .into_owned();
    let versions_name = format!(".{name}.versions");
    let versions = parent.join(&versions_name);
    create_dir(&versions)?;
    let current = current_version(dir, parent)?;
    let version = format!(
        "{}-{}",
        jiff::Timestamp::now().as_nanosecond(),
        uuid::Uuid::new_v4().simple()
    );
    let new = versions.join(&version);
    create_dir(&new)?;
    if let Some(current) = &current {
        link_tree(current, &new)
            .with_context(|| format!("cannot prepare a new version of {}", dir.display()))?;
    }
    for file in files {
        let relative = safe(&file.path)?;
        let path = new.join(relative);
        if let Some(folder) = path.parent() {
            create_dir(folder)?;
        }
        match std::fs::remove_file(&path) {
            Ok(()) => {}
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
            Err(err) => return Err(err).context(format!("cannot replace {}", path.display())),
        }
        let mut out = std::fs::File::create(&path)
            .with_context(|| format!("cannot write {}", path.display()))?;
        out.write_all(file.content.as_bytes())?;
        out.set_permissions(std::fs::Permissions::from_mode(0o644))?;
        out.sync_all()?;
    }
    // The swap: a new link beside the old one, renamed over it.
    let swap = parent.join(format!(".{name}.{}.swap", uuid::Uuid::new_v4().simple()));
    std::os::unix::fs::symlink(Path::new(&versions_name).join(&version), &swap)
        .with_context(|| format!("cannot write in {}", parent.display()))?;
    if let Err(err) = std::fs::rename(&swap, dir) {
        let _ = std::fs::remove_file(&swap);
        return Err(err).context(format!("cannot replace {}", dir.display()));
    }
    if let Ok(folder) = std::fs::File::open(parent) {
        let _ = folder.sync_all();
    }
    prune(&versions, &new, current.as_deref());
    Ok(current.is_none())
}

/// The version `dir` links to; `None` when there is no site yet. A real folder is taken over
/// only when empty: outage never deletes files it did not write.
fn current_version(dir: &Path, parent: &Path) -> anyhow::Result<Option<PathBuf>> {
    match std::fs::symlink_metadata(dir) {
        Ok(meta) if meta.file_type().is_symlink() => {
            let target = std::fs::read_link(dir)?;
            let target = parent.join(target);
            Ok(target.is_dir().then_some(target))
        }
        Ok(meta) if meta.is_dir() => {
            if std::fs::read_dir(dir)?.next().is_some() {
                bail!(
                    "{} is a folder outage did not make, and the site replaces its folder whole: \
                     move its files away, or give the site a `dir` of its own",
                    dir.display()
                );
            }
            std::fs::remove_dir(dir)?;
            Ok(None)
        }
        Ok(_) => bail!(
            "{} is a file; give the site a `dir` of its own",
            dir.display()
        ),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(err) => Err(err).context(format!("cannot read {}", dir.display())),
    }
}

/// Recreates `from`'s folders in `to` and hard-links its files (copies them where the file
/// system cannot link).
fn link_tree(from: &Path, to: &Path) -> anyhow::Result<()> {
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        let kind = entry.file_type()?;
        if kind.is_dir() {
            create_dir(&target)?;
            link_tree(&entry.path(), &target)?;
        } else if kind.is_file() && std::fs::hard_link(entry.path(), &target).is_err() {
            std::fs::copy(entry.path(), &target)?;
        }
    }
    Ok(())
}

/// A rendered path, checked to stay inside the site.
fn safe(path: &Path) -> anyhow::Result<&Path> {
    if path
        .components()
        .all(|component| matches!(component, Component::Normal(_)))
    {
        Ok(path)
    } else {
        bail!("{} is not a path inside the site", path.display())
    }
}

fn create_dir(path: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(path).with_context(|| format!("cannot create {}", path.display()))?;
    let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755));
    Ok(())
}

/// Removes every version but the new one and the one it replaced.
fn prune(versions: &Path, new: &Path, previous: Option<&Path>) {
    let Ok(entries) = std::fs::read_dir(versions) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let keep = path.file_name() == new.file_name()
            || previous.is_some_and(|previous| previous.file_name() == path.file_name());
        if !keep {
            let _ = std::fs::remove_dir_all(&path);
        }
    }
}
