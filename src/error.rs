//! The one error type, and the exit codes scripts rely on (README "Exit codes").
//!
//! The exit code follows the phase a failure happens in, never the function that failed: before
//! anything is recorded, every error is a usage or configuration error and nothing was sent (2);
//! once an update is recorded, every error may have let something go out (1). Commands say which
//! phase they are in with [`Phase::usage`] and [`Phase::after_recording`]; there is no implicit
//! conversion that could pick one by accident.

use std::fmt;

pub(crate) mod exit {
    pub(crate) const OK: u8 = 0;
    pub(crate) const DELIVERY_FAILED: u8 = 1;
    pub(crate) const USAGE: u8 = 2;
    pub(crate) const POLICY: u8 = 3;
    pub(crate) const OVERDUE: u8 = 4;
}

/// How a command that ran to its end went.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Done {
    /// Every selected channel delivered, or a dry run or lint found no error.
    Ok,
    /// One or more deliveries failed (or are unknown); the report says which.
    DeliveryFailed,
    /// `status --check`: an open incident is overdue for its promised update.
    Overdue,
}

impl Done {
    pub(crate) fn code(self) -> u8 {
        match self {
            Done::Ok => exit::OK,
            Done::DeliveryFailed => exit::DELIVERY_FAILED,
            Done::Overdue => exit::OVERDUE,
        }
    }
}

/// Why a command stopped.
pub(crate) enum Error {
    /// Before anything was recorded: a usage, input, configuration or journal error. Nothing
    /// was sent.
    Usage(anyhow::Error),
    /// The wording policy refused the update. Nothing was sent. `said` when the findings said
    /// all there is to say (lint, JSON).
    Policy { said: bool },
    /// After the update was recorded: some deliveries may have gone out.
    AfterRecording(anyhow::Error),
}

impl Error {
    pub(crate) fn code(&self) -> u8 {
        match self {
            Error::Usage(_) => exit::USAGE,
            Error::Policy { .. } => exit::POLICY,
            Error::AfterRecording(_) => exit::DELIVERY_FAILED,
        }
    }

    /// A reader that closed the pipe (`outage status | head`) is not an error: the Unix
    /// convention, as ripgrep and the standard tools follow it.
    /// Whether the error still has to be printed (a policy refusal may have said it all).
    pub(crate) fn is_silent(&self) -> bool {
        matches!(self, Error::Policy { said: true })
    }

    pub(crate) fn is_broken_pipe(&self) -> bool {
        let err = match self {
            Error::Usage(err) | Error::AfterRecording(err) => err,
            Error::Policy { .. } => return false,
        };
        err.chain().any(|cause| {
            let kind = cause
                .downcast_ref::<std::io::Error>()
                .map(std::io::Error::kind)
                .or_else(|| {
                    cause
                        .downcast_ref::<serde_json::Error>()
                        .and_then(serde_json::Error::io_error_kind)
                });
            kind == Some(std::io::ErrorKind::BrokenPipe)
        })
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Usage(err) => write!(f, "{err:#}"),
            Error::Policy { .. } => {
                f.write_str("the wording policy rejected the update; nothing was sent")
            }
            Error::AfterRecording(err) => write!(
                f,
                "{err:#}; some deliveries may have gone out: `outage history` shows which"
            ),
        }
    }
}

/// Says which phase a result belongs to.
pub(crate) trait Phase<T> {
    /// Before anything is recorded.
    fn usage(self) -> Result<T, Error>;
    /// Once the update is recorded.
    fn after_recording(self) -> Result<T, Error>;
}

impl<T, E: Into<anyhow::Error>> Phase<T> for Result<T, E> {
    fn usage(self) -> Result<T, Error> {
        self.map_err(|err| Error::Usage(err.into()))
    }

    fn after_recording(self) -> Result<T, Error> {
        self.map_err(|err| Error::AfterRecording(err.into()))
    }
}

/// Messages more than one command says.
pub(crate) mod say {
    pub(crate) const NO_CONFIRMATION: &str =
        "refusing to post without confirmation: pass --yes (or --dry-run to preview)";
    pub(crate) const NOT_POSTED: &str = "not posted: nothing was sent";
    pub(crate) const WAITING: &str = "waiting for another outage process to finish publishing...";
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_closed_pipe_is_seen_through_json_and_context() {
        let io = std::io::Error::from(std::io::ErrorKind::BrokenPipe);
        let json = serde_json::Error::io(std::io::Error::from(std::io::ErrorKind::BrokenPipe));
        assert!(Error::Usage(anyhow::Error::new(io).context("writing")).is_broken_pipe());
        assert!(Error::AfterRecording(anyhow::Error::new(json)).is_broken_pipe());
        assert!(!Error::Usage(anyhow::anyhow!("other")).is_broken_pipe());
    }
}
