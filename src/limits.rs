//! Bounds on everything `outage` reads: a message, an update file, the configuration, subscriber
//! lists, templates and every remote answer. An input over its bound is refused with an error
//! that names it and the bound; nothing is read past it, so a `/dev/zero` or a hostile server
//! cannot make the process grow.

use std::io::Read;
use std::path::Path;

use anyhow::{Context, bail};

/// The message of an update.
pub(crate) const MESSAGE: u64 = 16 * 1024;
/// An update file (`--from`).
pub(crate) const UPDATE_FILE: u64 = 64 * 1024;
/// The configuration file.
pub(crate) const CONFIG: u64 = 1024 * 1024;
/// A file of CA certificates a channel trusts (a whole system bundle is about 200 KB).
pub(crate) const CA_FILE: u64 = 1024 * 1024;
/// A subscriber list (`urls_file`, `recipients_file`).
pub(crate) const LIST: u64 = 16 * 1024 * 1024;
/// The part of a remote answer that is kept (for the error message or the receipt); the rest is
/// never read.
pub(crate) const RESPONSE: usize = 16 * 1024;

/// Open files kept for what is not a delivery's connection: the standard streams, the journal
/// and the projections' connection to it, the runtime's own, the files a projection writes, and
/// idle connections kept for reuse.
pub(crate) const RESERVED_FILES: usize = 64;

/// How many connections may be open at once when `wanted` are: the process's open-file limit is
/// raised as far as they need and the system allows (a shell's usual 1,024 is less than two
/// lists want at 896 in flight each; the hard limit is rarely), less [`RESERVED_FILES`].
/// When the limit cannot be read, as many as wanted.
pub(crate) fn open_files(wanted: usize) -> usize {
    let needed = wanted.saturating_add(RESERVED_FILES);
    match rlimit::increase_nofile_limit(u64::try_from(needed).unwrap_or(u64::MAX)) {
        Ok(limit) => usize::try_from(limit)
            .unwrap_or(usize::MAX)
            .saturating_sub(RESERVED_FILES)
            .max(1),
        Err(_) => wanted,
    }
}

/// `16 KiB`, `1 MiB`.
pub(crate) fn describe(bytes: u64) -> String {
    if bytes >= 1024 * 1024 && bytes.is_multiple_of(1024 * 1024) {
        format!("{} MiB", bytes / (1024 * 1024))
    } else if bytes >= 1024 && bytes.is_multiple_of(1024) {
        format!("{} KiB", bytes / 1024)
    } else {
        format!("{bytes} bytes")
    }
}

/// Reads at most `limit` bytes of UTF-8 from `reader`; more is an error naming `what`.
pub(crate) fn read_bounded(reader: impl Read, limit: u64, what: &str) -> anyhow::Result<String> {
    let mut bytes = Vec::new();
    reader
        .take(limit + 1)
        .read_to_end(&mut bytes)
        .with_context(|| format!("cannot read {what}"))?;
    if bytes.len() as u64 > limit {
        bail!(
            "{what} is longer than the limit of {}; shorten it",
            describe(limit)
        );
    }
    String::from_utf8(bytes).map_err(|_| anyhow::anyhow!("{what} is not UTF-8 text"))
}

/// Reads a text file of at most `limit` bytes.
pub(crate) fn read_text(path: &Path, limit: u64, what: &str) -> anyhow::Result<String> {
    let file = std::fs::File::open(path)
        .with_context(|| format!("cannot read {what} {}", path.display()))?;
    read_bounded(file, limit, &format!("{what} {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_endless_input_stops_at_the_limit() {
        let err = read_bounded(std::io::repeat(b'y'), 1024, "the message").unwrap_err();
        assert_eq!(
            err.to_string(),
            "the message is longer than the limit of 1 KiB; shorten it"
        );
        assert_eq!(read_bounded(&b"ok"[..], 1024, "x").unwrap(), "ok");
        assert!(read_bounded(&[0xff_u8][..], 1024, "x").is_err());
    }
}
