//! The property tests, in a test binary of their own: they are CPU-bound where the suite's
//! tests wait on moto and the binary, and a longer run is one command,
//! `PROPTEST_CASES=5000 cargo test --test prop prop_zip::`.

#[path = "../common/mod.rs"]
mod common;

mod prop_config;
mod prop_documents;
mod prop_zip;
