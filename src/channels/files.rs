//! The adapter every projection shares: it writes the files its rendering holds, and nothing
//! else. Each file is written whole through a temporary file in the same folder and a rename, so
//! a web server never serves half a file; public files are world-readable (a file that exists
//! keeps its mode), because a web server often runs as another user.

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use async_trait::async_trait;

use super::{Channel, Failure, Post, Receipt};

pub(crate) struct Files;

#[async_trait]
impl Channel for Files {
    async fn deliver(&self, post: &Post) -> Result<Receipt, Failure> {
        let files = post.rendering.files.clone();
        if files.is_empty() {
            return Err(Failure::permanent(
                "the rendering has no file to write; run `outage retry` to render it again",
            ));
        }
        // The file system is quick but blocking; keep it off the runtime's worker threads.
        tokio::task::spawn_blocking(move || {
            for file in &files {
                write_atomically(&file.path, file.content.as_bytes())?;
            }
            Ok(Receipt {
                url: Some(files[0].path.display().to_string()),
                ..Receipt::default()
            })
        })
        .await
        .map_err(|err| Failure::unknown(format!("the file writer stopped: {err}")))?
        .map_err(|err: anyhow::Error| Failure::permanent(format!("{err:#}")))
    }
}

/// Writes `bytes` to `path` through a temporary file in the same folder and a rename.
pub(crate) fn write_atomically(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let folder = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    std::fs::create_dir_all(folder)
        .map_err(|err| anyhow::anyhow!("cannot create {}: {err}", folder.display()))?;
    let mode = std::fs::metadata(path).map_or(0o644, |meta| meta.permissions().mode() & 0o7777);
    let mut file = tempfile::NamedTempFile::new_in(folder)
        .map_err(|err| anyhow::anyhow!("cannot write in {}: {err}", folder.display()))?;
    file.write_all(bytes)?;
    file.as_file()
        .set_permissions(std::fs::Permissions::from_mode(mode))?;
    file.as_file().sync_all()?;
    file.persist(path)
        .map_err(|err| anyhow::anyhow!("cannot replace {}: {}", path.display(), err.error))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_files_are_world_readable_and_existing_ones_keep_their_mode() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("banner.html");
        write_atomically(&path, b"one").unwrap();
        let mode = |path: &Path| std::fs::metadata(path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&path), 0o644);
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
        write_atomically(&path, b"two").unwrap();
        assert_eq!(mode(&path), 0o640);
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "two");
    }
}
