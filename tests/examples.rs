//! The examples the README points at must keep working: the demo's layer config is run here.

mod common;

use std::fs;
use std::path::Path;

use common::*;

fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for e in fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let target = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            fs::copy(e.path(), &target).unwrap();
        }
    }
}

#[test]
fn demo_python_layer_packages_cleanly() {
    let dir = temp();
    copy_dir(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/python-layer"),
        dir.path(),
    );
    let r = layerpub(dir.path(), &["package", "--output", "json"], &[]);
    let report = r.assert_ok().json();
    assert_eq!(report["layer_name"], "demo-python-deps");
    assert_eq!(report["warnings"], serde_json::json!([]));
    let names: Vec<String> = python_entries(&dir.path().join("demo-python-deps.zip"))
        .iter()
        .map(|e| e["name"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        names,
        ["python/hello/__init__.py"],
        "prefix applied, __pycache__ left out"
    );

    let fp = layerpub(dir.path(), &["fingerprint"], &[]);
    assert_eq!(fp.assert_ok().stdout.trim(), report["fingerprint"]);
}
