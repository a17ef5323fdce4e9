//! layerpub: publish AWS Lambda layers from CI, only when their dependencies changed.
//!
//! The crate is layered; each folder may use only the folders below it (checked by
//! `tests/layers` …see ARCHITECTURE.md):
//!
//! ```text
//! cli      the command line: gathers the sources, runs a command, writes the reports
//! ci       GitHub and GitLab: runner files, annotations, the comment / note
//! render   results as text, JSON, summary, comment, dotenv (pure)
//! publish  the decision and the run: targets, claim, upload, publish, follow-up
//! package  aws  build   packaging (walk, zip, fingerprint) | AWS clients and API calls |
//!                        building the layer with pip, uv, npm or a command (siblings)
//! config   settings from flags, environment and file, resolved and checked
//! domain   shared values: errors, Lambda's limits, marker, text, secrets, interrupt
//! ```

// The library reports through return values; only `cli` and `main` print.
#![warn(clippy::print_stdout, clippy::print_stderr)]

pub mod aws;
pub mod build;
pub mod ci;
pub mod cli;
pub mod config;
pub mod domain;
pub mod package;
pub mod publish;
pub mod render;

#[cfg(test)]
mod layering;
