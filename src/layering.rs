//! The layer rule, checked on the source: each top-level folder of `src/` may use only the
//! folders below it (see lib.rs and ARCHITECTURE.md). A strict order also rules out import
//! circles between folders; `package` and `aws` are siblings and may not use each other.

use std::fs;
use std::path::{Path, PathBuf};

/// The layers from the bottom up; folders on one line are siblings.
const LAYERS: &[&[&str]] = &[
    &["domain"],
    &["config"],
    &["package", "aws", "build"],
    &["publish"],
    &["render"],
    &["ci"],
    &["cli"],
];

fn rank(folder: &str) -> Option<usize> {
    LAYERS.iter().position(|layer| layer.contains(&folder))
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The top-level folders a file names through `crate::…`, outside comments.
fn folders_used(source: &str) -> Vec<String> {
    let mut used = Vec::new();
    for line in source.lines() {
        let code = line.split("//").next().unwrap_or("");
        let mut rest = code;
        while let Some(at) = rest.find("crate::") {
            rest = &rest[at + "crate::".len()..];
            let name: String = rest
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            if name.is_empty() {
                // `use crate::{a, b}` names several: take each.
                if let Some(group) = rest.strip_prefix('{') {
                    let group = group.split('}').next().unwrap_or("");
                    for item in group.split(',') {
                        let item = item.trim().split("::").next().unwrap_or("").trim();
                        if !item.is_empty() {
                            used.push(item.to_owned());
                        }
                    }
                }
            } else {
                used.push(name);
            }
        }
    }
    used
}

/// Every use of a folder that is not below the user's: `file uses folder`.
fn violations(src: &Path) -> Vec<String> {
    let mut files = Vec::new();
    rust_files(src, &mut files);
    files.sort();
    let mut found = Vec::new();
    for file in files {
        let relative = file.strip_prefix(src).unwrap();
        let Some(own) = relative.parent().and_then(|p| p.iter().next()) else {
            continue; // lib.rs, main.rs and this test sit above every layer
        };
        let own = own.to_str().unwrap();
        let own_rank = rank(own).unwrap_or_else(|| panic!("src/{own}/ is not in LAYERS"));
        let source = fs::read_to_string(&file).unwrap();
        for used in folders_used(&source) {
            if used == own {
                continue;
            }
            let allowed = rank(&used).is_some_and(|r| r < own_rank);
            if !allowed {
                found.push(format!("src/{} uses crate::{used}", relative.display()));
            }
        }
    }
    found.dedup();
    found
}

#[test]
fn every_folder_uses_only_the_layers_below_it() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let found = violations(&src);
    assert!(
        found.is_empty(),
        "the layer rule (domain < config < package | aws | build < publish < render < ci < cli) is broken:\n{}",
        found.join("\n")
    );
}

#[test]
fn the_check_sees_an_upward_use_a_sibling_and_a_grouped_import() {
    let dir = tempfile::tempdir().unwrap();
    let write = |path: &str, text: &str| {
        let path = dir.path().join(path);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, text).unwrap();
    };
    write(
        "domain/mod.rs",
        "use crate::domain::text; // crate::cli in a comment\n",
    );
    write("config/mod.rs", "use crate::{domain::error, publish};\n");
    write("aws/s3.rs", "fn f(p: &crate::package::Packaged) {}\n");
    write("cli/mod.rs", "use crate::render::report;\n");
    assert_eq!(
        violations(dir.path()),
        [
            "src/aws/s3.rs uses crate::package",
            "src/config/mod.rs uses crate::publish"
        ]
    );
}
