//! layerpub: publish AWS Lambda layers from CI, only when their dependencies changed.
//!
//! The functional core (settings, config, fingerprint, archive, layout, report) does no I/O;
//! the shell (walk, package, app) reads files and writes the zip. See ARCHITECTURE.md.

// The library reports through return values; only `app` and `main` print.
#![warn(clippy::print_stdout, clippy::print_stderr)]

pub mod app;
pub mod archive;
pub mod aws;
pub mod changes;
pub mod comment;
pub mod config;
pub mod destinations;
pub mod dotenv;
pub mod env;
pub mod error;
pub mod fingerprint;
pub mod functions;
pub mod github;
pub mod github_output;
pub mod gitlab;
pub mod inputs;
pub mod interrupt;
pub mod lambda_api;
pub mod lambda_limits;
pub mod layout;
pub mod marker;
pub mod package;
pub mod plan;
pub mod prune;
pub mod publish;
pub mod report;
pub mod s3_store;
pub mod secret;
pub mod settings;
pub mod share;
pub mod summary;
pub mod text;
pub mod walk;
