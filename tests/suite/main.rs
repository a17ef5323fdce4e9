//! The end-to-end and API tests, in one test binary: each of the old `tests/*.rs` files is a
//! module here, so the AWS SDK and the rest are linked once instead of once per file
//! (as ripgrep's `tests/tests.rs` does). Run one area with a filter on its module:
//! `cargo test --test suite faults::`.
//!
//! Helpers shared by every area live in tests/common (run the binary, moto, the fault proxy);
//! the Python side of the emulator in tests/support.

#[path = "../common/mod.rs"]
mod common;

mod action;
mod bad_input;
mod binary_size;
mod build;
mod ci_platforms;
mod config_cli;
mod examples;
mod faults;
mod functions;
mod github_comment;
mod gitlab_note;
mod gitlab_pipeline;
mod gitlab_template;
mod integrity;
mod native;
mod package;
mod publish;
mod rollout;
mod secrets;
mod several_layers;
mod share_prune;
mod tls;
mod untrusted_text;
