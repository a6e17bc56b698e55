//! Colour on a terminal, as users of ripgrep, cargo and gh expect it: `--color auto|always|never`,
//! `NO_COLOR` (off) and `CLICOLOR_FORCE` (on) honoured, and in `auto` only a terminal that is not
//! `TERM=dumb` gets colour. Output for scripts (`--json`, pipes) never carries escape codes.
//!
//! Colour is added after a table is laid out, so columns stay aligned.

use std::io::IsTerminal;
use std::sync::atomic::{AtomicBool, Ordering};

/// `--color`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum ColorChoice {
    /// On a terminal, unless NO_COLOR is set (CLICOLOR_FORCE forces it on)
    #[default]
    Auto,
    /// Always, even into a pipe or a file
    Always,
    /// Never
    Never,
}

static STDOUT: AtomicBool = AtomicBool::new(false);
static STDERR: AtomicBool = AtomicBool::new(false);

/// Decides, once per process, whether each stream gets colour.
pub(crate) fn init(choice: ColorChoice) {
    let env = |name: &str| std::env::var_os(name).filter(|value| !value.is_empty());
    let decide = |terminal: bool| match choice {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto if env("NO_COLOR").is_some() => false,
        ColorChoice::Auto if env("CLICOLOR_FORCE").is_some_and(|value| value != "0") => true,
        ColorChoice::Auto => terminal && env("TERM").is_none_or(|term| term != "dumb"),
    };
    STDOUT.store(decide(std::io::stdout().is_terminal()), Ordering::Relaxed);
    STDERR.store(decide(std::io::stderr().is_terminal()), Ordering::Relaxed);
}

/// What a piece of text says, which picks its colour.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Tone {
    /// `error`, `failed`, `OVERDUE`.
    Bad,
    /// `warning`, `unknown`, `partial`.
    Doubtful,
    /// `delivered`.
    Good,
}

impl Tone {
    fn code(self) -> &'static str {
        match self {
            Tone::Bad => "\x1b[1;31m",
            Tone::Doubtful => "\x1b[33m",
            Tone::Good => "\x1b[32m",
        }
    }

    /// The tone of a delivery outcome or a status cell, if it has one.
    pub(crate) fn of(word: &str) -> Option<Tone> {
        let first = word.split([' ', ':', ',']).next().unwrap_or_default();
        match first {
            "delivered" | "ok" => Some(Tone::Good),
            "failed" | "FAILED" | "OVERDUE" | "error" => Some(Tone::Bad),
            "unknown" | "partial" | "pending" | "warning" => Some(Tone::Doubtful),
            _ => None,
        }
    }
}

/// Which stream a text is written to.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Stream {
    Out,
    Err,
}

impl Stream {
    pub(crate) fn colored(self) -> bool {
        match self {
            Stream::Out => STDOUT.load(Ordering::Relaxed),
            Stream::Err => STDERR.load(Ordering::Relaxed),
        }
    }
}

/// `text` in `tone` when the stream gets colour.
pub(crate) fn paint(stream: Stream, tone: Tone, text: &str) -> String {
    if stream.colored() {
        painted(tone, text)
    } else {
        text.to_owned()
    }
}

/// `text` in `tone`.
pub(crate) fn painted(tone: Tone, text: &str) -> String {
    if text.is_empty() {
        String::new()
    } else {
        format!("{}{text}\x1b[0m", tone.code())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcomes_have_the_tone_they_say() {
        assert_eq!(Tone::of("delivered"), Some(Tone::Good));
        assert_eq!(Tone::of("failed"), Some(Tone::Bad));
        assert_eq!(Tone::of("OVERDUE since 10:30"), Some(Tone::Bad));
        assert_eq!(Tone::of("FAILED: 401 Unauthorized"), Some(Tone::Bad));
        assert_eq!(Tone::of("unknown"), Some(Tone::Doubtful));
        assert_eq!(Tone::of("skipped"), None);
        assert_eq!(Tone::of("investigating"), None);
    }
}
