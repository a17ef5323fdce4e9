//! The errors a run can end with, what kind each is, and the exit code each kind maps to.
//!
//! Exit codes: 0 success, 1 failure (I/O, AWS, the network), 2 bad input (a setting, a file
//! or a folder the user can fix), 130/143 a signal. Every message says what was wrong and what
//! to do. An error's [`Kind`] is decided where the error is made (the place that knows whether
//! the user can fix it), never read back from an exit code; a failure of AWS, GitHub or GitLab
//! keeps the SDK's or HTTP client's own error as its `source()`, while `Display` stays the one
//! line the user reads (the sources are never printed: they are for callers and debuggers).

use std::fmt;
use std::io;

/// The cause an error keeps: the SDK's, the HTTP client's or the parser's own error.
pub(crate) type Cause = Box<dyn std::error::Error + Send + Sync + 'static>;

/// What kind of failure an error is: it decides the exit code, and whether a failed comment
/// fails the run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A setting, a file, a folder or a state the user can fix: exit 2.
    BadInput,
    /// The machine, the network or a service failed: exit 1.
    Failure,
    /// SIGINT or SIGTERM stopped the run: 128 + the signal's number.
    Interrupted(Signal),
}

impl Kind {
    pub fn exit_code(self) -> u8 {
        match self {
            Kind::BadInput => EXIT_BAD_INPUT,
            Kind::Failure => EXIT_FAILURE,
            Kind::Interrupted(s) => s.exit_code(),
        }
    }
}

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
    /// in another region, a function that does not exist).
    #[error("{0}")]
    BadInput(String),
    /// The layer's build (`build`, `build-command`) failed: the message holds the tool's last
    /// lines. Nothing was uploaded.
    #[error("{0}")]
    Build(String),
    /// AWS failed, refused, or answered something we cannot accept.
    #[error(transparent)]
    Aws(#[from] AwsError),
    /// The GitHub API failed (after the client's retries), refused, or answered something we
    /// cannot use.
    #[error(transparent)]
    GitHub(ForgeError),
    /// The GitLab API failed, refused or answered something we cannot accept, or a GitLab
    /// report could not be written as GitLab requires.
    #[error(transparent)]
    GitLab(ForgeError),
    /// Some of a run's targets (layers × regions) failed; the others are reported.
    #[error("{0}")]
    Targets(TargetFailures),
    /// Some of the listed functions could not be moved onto the version that stands.
    #[error("{} of the functions could not be moved onto {version_arn}:{}", .failures.len(), list(.failures, "\n    - "))]
    Functions {
        version_arn: String,
        /// In the order the functions are listed; never empty.
        failures: Vec<Error>,
    },
}

/// Each error on its own line, after `prefix`.
fn list(errors: &[Error], prefix: &str) -> String {
    errors.iter().map(|e| format!("{prefix}{e}")).collect()
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

    /// AWS answered something the run cannot accept; `message` says what, and what to do.
    pub fn aws(message: impl Into<String>) -> Self {
        Error::Aws(AwsError::Answer {
            message: message.into(),
            source: None,
        })
    }

    /// Like [`Error::aws`], keeping what went wrong underneath as the source.
    pub(crate) fn aws_caused(message: impl Into<String>, source: impl Into<Cause>) -> Self {
        Error::Aws(AwsError::Answer {
            message: message.into(),
            source: Some(source.into()),
        })
    }

    /// What kind of failure this is: decided where the error was made.
    pub fn kind(&self) -> Kind {
        match self {
            Error::Interrupted(s) | Error::Package(PackageError::Interrupted(s)) => {
                Kind::Interrupted(*s)
            }
            Error::Config(_) | Error::Package(PackageError::Input(_)) | Error::BadInput(_) => {
                Kind::BadInput
            }
            Error::Package(PackageError::Io { .. }) | Error::Io { .. } | Error::Build(_) => {
                Kind::Failure
            }
            Error::Aws(e) => e.kind(),
            Error::GitHub(e) | Error::GitLab(e) => e.kind,
            Error::Targets(t) => t.kind(),
            // As the first function's failure: what the user reads first decides.
            Error::Functions { failures, .. } => {
                failures.first().map_or(Kind::Failure, Error::kind)
            }
        }
    }

    pub fn exit_code(&self) -> u8 {
        self.kind().exit_code()
    }
}

/// Exit code for success, published or unchanged.
pub const EXIT_OK: u8 = 0;
/// Exit code for a failure of the machine, the network or a service.
pub const EXIT_FAILURE: u8 = 1;
/// Exit code for input the user must fix.
pub const EXIT_BAD_INPUT: u8 = 2;

/// AWS failed, refused, or answered something the run cannot accept.
#[derive(Debug, thiserror::Error)]
pub enum AwsError {
    /// A call that failed after the SDK's retries.
    #[error("{step} failed: {detail}{fix}")]
    Call {
        /// The API call and what it was about (`PutObject s3://bucket/key`).
        step: String,
        /// AWS's own words (its error code and message), or what the transport said.
        detail: String,
        /// ` — what to do`, or empty.
        fix: String,
        /// [`Kind::BadInput`] when the user can fix it: credentials, permissions, a missing
        /// bucket; else [`Kind::Failure`].
        kind: Kind,
        /// The SDK's error.
        #[source]
        source: Cause,
    },
    /// AWS answered, but not with what the run needs (a checksum that differs, a function
    /// that never settles, a policy that is not JSON); the message says what to do.
    #[error("{message}")]
    Answer {
        message: String,
        #[source]
        source: Option<Cause>,
    },
}

impl AwsError {
    pub fn kind(&self) -> Kind {
        match self {
            AwsError::Call { kind, .. } => *kind,
            AwsError::Answer { .. } => Kind::Failure,
        }
    }
}

/// GitHub or GitLab failed, refused, or answered something the run cannot use.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct ForgeError {
    /// [`Kind::BadInput`] when the user can fix it (a refused token, a pull request that does
    /// not exist); else [`Kind::Failure`].
    pub kind: Kind,
    /// What failed and what to do; never the token.
    pub message: String,
    /// The HTTP client's or the parser's error, when there is one.
    #[source]
    pub source: Option<Cause>,
}

impl ForgeError {
    /// The service or the network failed.
    pub fn failure(message: impl Into<String>) -> Self {
        ForgeError {
            kind: Kind::Failure,
            message: message.into(),
            source: None,
        }
    }

    /// The service refused what the user gave it (the token, the pull request).
    pub fn bad_input(message: impl Into<String>) -> Self {
        ForgeError {
            kind: Kind::BadInput,
            ..ForgeError::failure(message)
        }
    }

    /// The same, with the error underneath kept as the source.
    pub(crate) fn caused_by(self, source: impl Into<Cause>) -> Self {
        ForgeError {
            source: Some(source.into()),
            ..self
        }
    }
}

/// One target (a layer in a region) that failed, and why.
#[derive(Debug)]
pub struct TargetFailure {
    pub layer: String,
    pub region: String,
    pub error: Error,
}

/// The targets of a run that failed, out of `total`.
#[derive(Debug)]
pub struct TargetFailures {
    pub total: usize,
    /// In the order of the run's targets; never empty.
    pub failed: Vec<TargetFailure>,
}

impl TargetFailures {
    /// A signal is the run's end whatever else failed; when every target failed the same way,
    /// that is the run's kind (all bad input: exit 2); otherwise (some published, or failures
    /// of different kinds) a failure, exit 1.
    pub fn kind(&self) -> Kind {
        let kinds: Vec<Kind> = self.failed.iter().map(|f| f.error.kind()).collect();
        if let Some(k) = kinds.iter().find(|k| matches!(k, Kind::Interrupted(_))) {
            return *k;
        }
        match kinds.split_first() {
            Some((first, rest))
                if self.failed.len() == self.total && rest.iter().all(|k| k == first) =>
            {
                *first
            }
            _ => Kind::Failure,
        }
    }
}

impl fmt::Display for TargetFailures {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} of {} layer publishes failed (the others are reported above); fix the cause and run again: a re-run publishes only what is missing",
            self.failed.len(),
            self.total
        )?;
        for t in &self.failed {
            write!(f, "\n  - {} in {}: {}", t.layer, t.region, t.error)?;
        }
        Ok(())
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

#[cfg(test)]
mod tests {
    use super::*;

    fn target(region: &str, error: Error) -> TargetFailure {
        TargetFailure {
            layer: "deps".into(),
            region: region.into(),
            error,
        }
    }

    #[test]
    fn a_runs_exit_code_is_computed_from_its_targets_failures() {
        let all = |errors: Vec<Error>| {
            let failed: Vec<_> = errors.into_iter().map(|e| target("r", e)).collect();
            Error::Targets(TargetFailures {
                total: failed.len(),
                failed,
            })
        };
        // Every target failed on input: the user has something to fix, exit 2.
        let bad = all(vec![Error::bad_input("a"), Error::bad_input("b")]);
        assert_eq!((bad.kind(), bad.exit_code()), (Kind::BadInput, 2));
        // Different kinds: a failure, exit 1.
        let mixed = all(vec![Error::bad_input("a"), Error::aws("b")]);
        assert_eq!((mixed.kind(), mixed.exit_code()), (Kind::Failure, 1));
        // Some published: exit 1, whatever the others' kind.
        let partial = Error::Targets(TargetFailures {
            total: 3,
            failed: vec![
                target("a", Error::bad_input("x")),
                target("b", Error::bad_input("y")),
            ],
        });
        assert_eq!(partial.exit_code(), EXIT_FAILURE);
        // A signal is the run's end whatever else failed.
        let stopped = all(vec![Error::aws("a"), Error::Interrupted(Signal::Terminate)]);
        assert_eq!(stopped.exit_code(), 143);
    }

    #[test]
    fn failed_functions_take_the_kind_of_the_first_and_list_every_one() {
        let e = Error::Functions {
            version_arn: "arn:aws:lambda:us-east-1:1:layer:deps:3".into(),
            failures: vec![Error::bad_input("function a not found"), Error::aws("b")],
        };
        assert_eq!(e.kind(), Kind::BadInput);
        assert_eq!(
            e.to_string(),
            "2 of the functions could not be moved onto arn:aws:lambda:us-east-1:1:layer:deps:3:\n    - function a not found\n    - b"
        );
    }

    #[test]
    fn a_service_error_says_its_message_and_keeps_its_cause() {
        let cause = io::Error::new(io::ErrorKind::ConnectionReset, "connection reset");
        let e = Error::GitLab(
            ForgeError::failure("GET /user failed: connection reset").caused_by(cause),
        );
        assert_eq!(e.to_string(), "GET /user failed: connection reset");
        assert_eq!(e.kind(), Kind::Failure);
        let source = std::error::Error::source(&e).expect("the cause is kept");
        assert_eq!(source.to_string(), "connection reset");
        let refused = Error::GitHub(ForgeError::bad_input("GitHub refused the token"));
        assert_eq!(refused.exit_code(), EXIT_BAD_INPUT);
        let answer = Error::aws_caused("the policy is not JSON", cause_of("expected value"));
        assert_eq!(
            (answer.kind(), answer.to_string().as_str()),
            (Kind::Failure, "the policy is not JSON")
        );
        assert!(std::error::Error::source(&answer).is_some());
    }

    fn cause_of(text: &str) -> Cause {
        text.into()
    }
}
