//! Times `changes::changes` (the "what changed" listing of the summary and the comment) on
//! the inputs that took minutes when it was quadratic (issue 12, item 13), and prints one
//! Markdown table row per case. Run by `bash bench/changes.sh`, which writes the table into
//! docs/benchmarks.md.
//!
//!   cargo run --release --example changes_bench [RUNS [CASE]]   (CASE: a part of a case's label)

use std::time::{Duration, Instant};

use layerpub::config::settings::SymlinkPolicy;
use layerpub::package::changes::changes;
use layerpub::package::fingerprint::{
    FORMAT_VERSION, FingerprintDocument, ManifestFile, ShapingSettings, Source, TreeFile,
};

fn document(source: Source) -> FingerprintDocument {
    FingerprintDocument {
        format: FORMAT_VERSION,
        layer_name: "bench".into(),
        settings: ShapingSettings {
            compatible_runtimes: vec!["python3.12".into()],
            compatible_architectures: vec![],
            license_info: None,
            prefix: "python".into(),
            include: vec![],
            exclude: vec![],
            symlinks: SymlinkPolicy::default(),
            build: None,
        },
        source,
    }
}

/// A lock file of `lines` pins, `package-N==1.0.V` where V is `version(N)`.
fn lock(lines: usize, version: impl Fn(usize) -> usize) -> FingerprintDocument {
    let text: String = (0..lines)
        .map(|i| format!("package-{i:06}==1.0.{}\n", version(i)))
        .collect();
    document(Source::Manifests {
        files: vec![ManifestFile {
            name: "requirements.txt".into(),
            sha256: "0".repeat(64),
            text: Some(text),
        }],
    })
}

/// A tree of `files` files whose hashes depend on `version(N)`.
fn tree(files: usize, version: impl Fn(usize) -> usize) -> FingerprintDocument {
    document(Source::Tree {
        files: (0..files)
            .map(|i| TreeFile {
                path: format!("site-packages/pkg{:03}/module_{i:06}.py", i % 500),
                mode: "644".into(),
                sha256: fake_sha256(i, version(i)),
            })
            .collect(),
    })
}

/// 64 hex digits that differ from their first digit on whenever `i` or `v` differ.
fn fake_sha256(i: usize, v: usize) -> String {
    let word = ((i as u64) << 8 ^ v as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    format!("{word:016x}").repeat(4)
}

fn main() {
    let runs: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(5);
    let only = std::env::args().nth(2).unwrap_or_default();
    let cases: Vec<(&str, FingerprintDocument, FingerprintDocument)> = vec![
        (
            "40,000-line lock file, every pin changed",
            lock(40_000, |_| 0),
            lock(40_000, |_| 1),
        ),
        (
            "100,000-line lock file, one pin changed",
            lock(100_000, |_| 0),
            lock(100_000, |i| usize::from(i == 50_000)),
        ),
        (
            "100,000-line lock file, unchanged (`--force`)",
            lock(100_000, |_| 0),
            lock(100_000, |_| 0),
        ),
        (
            "70,000-file tree (no manifest), one file changed",
            tree(70_000, |_| 0),
            tree(70_000, |i| usize::from(i == 35_000)),
        ),
    ];
    println!(
        "| input | median time of `changes` (ms) | lines listed | lines counted, not listed |"
    );
    println!("|---|---:|---:|---:|");
    for (label, before, after) in cases.iter().filter(|c| c.0.contains(&only)) {
        let mut times: Vec<Duration> = Vec::new();
        let mut listed = (0, 0);
        for _ in 0..runs.max(1) {
            let t = Instant::now();
            let c = changes(before, after);
            times.push(t.elapsed());
            listed = (c.added.len() + c.removed.len() + c.changed.len(), c.omitted);
        }
        times.sort();
        let median = times[times.len() / 2];
        println!(
            "| {label} | {:.1} | {} | {} |",
            median.as_secs_f64() * 1000.0,
            listed.0,
            listed.1
        );
    }
}
