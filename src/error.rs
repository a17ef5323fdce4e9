//! The errors a run can end with, and the exit code each maps to.
//!
//! Exit codes: 0 success, 1 failure (I/O, AWS, the network), 2 bad input (a setting, a file
//! or a folder the user can fix). Every message says what was wrong and what to do.

use std::io;

use crate::config::ConfigError;

/// Why packaging (or reading what packaging needs) failed.
#[derive(Debug, thiserror::Error)]
pub enum PackageError {
    /// Something the user can fix: a missing folder, a bad link, a layer too large.
    #[error("{0}")]
    Input(String),
    /// The machine failed us: a read or write error.
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: io::Error,
    },
    /// SIGINT or SIGTERM arrived while packaging; the temporary files are removed.
    #[error("stopped by {} while packaging", .0.name())]
    Interrupted(crate::interrupt::Signal),
}

impl PackageError {
    pub fn input(message: impl Into<String>) -> Self {
        PackageError::Input(message.into())
    }

    pub fn io(context: impl Into<String>, source: io::Error) -> Self {
        PackageError::Io {
            context: context.into(),
            source,
        }
    }
}

/// Any error a run ends with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    Config(#[from] ConfigError),
    #[error("{0}")]
    Package(PackageError),
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: io::Error,
    },
    /// SIGINT or SIGTERM stopped the run after cleaning up.
    #[error("stopped by {}: unfinished uploads were aborted and claims released; what was published before is reported above; run again to finish", .0.name())]
    Interrupted(crate::interrupt::Signal),
    /// A setting or state the user can fix, found while running (a missing region, a bucket
    /// that does not exist, credentials that do not work).
    #[error("{0}")]
    BadInput(String),
    /// AWS failed, or answered something we cannot accept.
    #[error("{0}")]
    Aws(String),
    /// The GitHub API failed (after octocrab's retries), or answered something we cannot use.
    #[error("{0}")]
    GitHub(String),
    /// The GitLab API failed or answered something we cannot accept, or a GitLab report could
    /// not be written as GitLab requires.
    #[error("{0}")]
    GitLab(String),
    /// Some of a run's targets (layers × regions) failed; the others are reported.
    #[error("{message}")]
    Targets { message: String, exit_code: u8 },
}

impl From<PackageError> for Error {
    /// A signal during packaging ends the run like a signal anywhere else.
    fn from(e: PackageError) -> Self {
        match e {
            PackageError::Interrupted(s) => Error::Interrupted(s),
            e => Error::Package(e),
        }
    }
}

impl Error {
    pub fn bad_input(message: impl Into<String>) -> Self {
        Error::BadInput(message.into())
    }
}

/// Exit code for success, published or unchanged.
pub const EXIT_OK: u8 = 0;
/// Exit code for a failure of the machine, the network or a service.
pub const EXIT_FAILURE: u8 = 1;
/// Exit code for input the user must fix.
pub const EXIT_BAD_INPUT: u8 = 2;

impl Error {
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::Interrupted(s) | Error::Package(PackageError::Interrupted(s)) => s.exit_code(),
            Error::Targets { exit_code, .. } => *exit_code,
            Error::Config(_) | Error::Package(PackageError::Input(_)) | Error::BadInput(_) => {
                EXIT_BAD_INPUT
            }
            Error::Package(PackageError::Io { .. })
            | Error::Io { .. }
            | Error::Aws(_)
            | Error::GitHub(_)
            | Error::GitLab(_) => EXIT_FAILURE,
        }
    }
}
