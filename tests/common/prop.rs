//! Running a property: a bounded number of cases for CI, more on request with `PROPTEST_CASES`,
//! and one line per property in `$LAYERPUB_REPORT_DIR/properties.jsonl` when that is set.

use std::fs::OpenOptions;
use std::io::Write;
use std::path::Path;

use proptest::strategy::Strategy;
use proptest::test_runner::{Config, TestCaseError, TestRunner};

/// `ci_cases` cases, unless `PROPTEST_CASES` asks for another number (proptest reads it into
/// `Config::default()`; an explicit `cases` would override it). Shrinking is bounded too, so
/// that a failure is reported in seconds even when each case runs Python.
pub fn config(ci_cases: u32, max_shrink_iters: u32) -> Config {
    let base = Config::default();
    let cases = if std::env::var_os("PROPTEST_CASES").is_some() {
        base.cases
    } else {
        ci_cases
    };
    Config {
        cases,
        max_shrink_iters: if std::env::var_os("PROPTEST_MAX_SHRINK_ITERS").is_some() {
            base.max_shrink_iters
        } else {
            max_shrink_iters
        },
        // The failing value is printed; no regression files are written into the repository.
        failure_persistence: None,
        ..base
    }
}

/// Runs `test` on `config.cases` values of `strategy`; panics with the smallest failing value.
/// Records the outcome in the report file either way.
pub fn check<S: Strategy>(
    property: &str,
    config: Config,
    strategy: S,
    test: impl Fn(S::Value) -> Result<(), TestCaseError>,
) {
    let cases = config.cases;
    let mut runner = TestRunner::new(config);
    let result = runner.run(&strategy, test);
    record(property, cases, result.is_ok());
    if let Err(e) = result {
        panic!("property `{property}` failed: {e}");
    }
}

fn record(property: &str, cases: u32, passed: bool) {
    let Some(dir) = std::env::var_os("LAYERPUB_REPORT_DIR").filter(|d| !d.is_empty()) else {
        return;
    };
    let dir = Path::new(&dir);
    std::fs::create_dir_all(dir).expect("create LAYERPUB_REPORT_DIR");
    let line = serde_json::json!({ "property": property, "cases": cases, "passed": passed });
    // One write of one whole line: tests of one binary run on several threads.
    let mut file = OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("properties.jsonl"))
        .expect("open properties.jsonl");
    file.write_all(format!("{line}\n").as_bytes())
        .expect("write properties.jsonl");
}
