//! `outage init`: the first step of a new user. Writes the example configuration (every remote
//! channel off, so the first post needs no account) and says what to run next. It never
//! overwrites: a configuration may hold weeks of careful edits.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;

use crate::cli::Cli;
use crate::error::{Done, Error, Phase};

/// The example configuration, as shipped in the repository.
const EXAMPLE: &str = include_str!("../../channels.example.toml");

pub(crate) fn run(cli: &Cli) -> Result<Done, Error> {
    let path = cli
        .config
        .as_deref()
        .filter(|path| !path.is_empty())
        .map_or_else(|| PathBuf::from("channels.toml"), PathBuf::from);
    write(&path).usage()?;
    let user = crate::config::user_config_path().is_some_and(|user| user == path);
    let files = if user {
        crate::config::user_state_dir()
            .map(|dir| format!("{}/", dir.join("public").display()))
            .unwrap_or_else(|_| "the user state folder".to_owned())
    } else {
        path.parent()
            .filter(|parent| !parent.as_os_str().is_empty())
            .map_or_else(
                || "public/".to_owned(),
                |p| format!("{}/", p.join("public").display()),
            )
    };
    let config = if user || path == Path::new("channels.toml") {
        String::new()
    } else {
        format!(" --config {}", shell_word(&path.display().to_string()))
    };
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "wrote {}: the website banner, the Atom feed and the status site are on (they write \
         under {files}); every remote channel is off until you enable it.\n\
         next: see what each channel would say, without sending anything:\n  \
         outage post{config} --dry-run --status investigating --title \"Test\" \
         --message \"We are testing our status updates.\" --next-update 30m",
        path.display()
    )
    .usage()?;
    Ok(Done::Ok)
}

/// Writes the example, creating the folder, refusing a file that already exists.
fn write(path: &Path) -> anyhow::Result<()> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("cannot create the folder {}", parent.display()))?;
    }
    let mut file = match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
    {
        Ok(file) => file,
        Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => anyhow::bail!(
            "{} already exists; init never overwrites a configuration (remove it first, or \
             pass --config OTHER.toml)",
            path.display()
        ),
        Err(err) => {
            return Err(err).with_context(|| format!("cannot write {}", path.display()));
        }
    };
    file.write_all(EXAMPLE.as_bytes())
        .with_context(|| format!("cannot write {}", path.display()))
}

/// Quotes a path for the suggested command when it needs quoting.
fn shell_word(word: &str) -> String {
    if word
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "/._-~".contains(c))
    {
        word.to_owned()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}
