//! The errors a run can end with, and the exit code each maps to.
//!
//! Exit codes: 0 success, 1 failure (I/O, AWS, the network), 2 bad input (a setting, a file
//! or a folder the user can fix). Every message says what was wrong and what to do.

use std::fmt;
use std::io;

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
    Interrupted(Signal),
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
    Interrupted(Signal),
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

/// One thing wrong with the configuration: where it is, and what to do about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The setting, variable or file at fault.
    pub input: String,
    /// Which layer, when the file lists several.
    pub layer: Option<String>,
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.layer {
            Some(layer) => write!(f, "{} (layer {layer}): {}", self.input, self.message),
            None => write!(f, "{}: {}", self.input, self.message),
        }
    }
}

/// Everything wrong with the configuration, reported together.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError(pub Vec<Problem>);

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0.as_slice() {
            [one] => write!(f, "invalid configuration: {one}"),
            many => {
                write!(f, "invalid configuration ({} problems):", many.len())?;
                for p in many {
                    write!(f, "\n  - {p}")?;
                }
                Ok(())
            }
        }
    }
}

impl std::error::Error for ConfigError {}

/// Which signal arrived.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    Interrupt,
    Terminate,
}

impl Signal {
    /// 128 + the signal's number.
    pub fn exit_code(self) -> u8 {
        match self {
            Signal::Interrupt => 130,
            Signal::Terminate => 143,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Signal::Interrupt => "SIGINT",
            Signal::Terminate => "SIGTERM",
        }
    }
}
