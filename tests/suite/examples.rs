//! The examples the README points at must keep working: the demo's layer config is run here.

use crate::common;

use std::path::Path;

use common::*;

#[test]
fn demo_python_layer_packages_cleanly() {
    let dir = temp();
    copy_tree(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/python-layer"),
        dir.path(),
    );
    let r = layerpub(dir.path(), &["package", "--output", "json"], &[]);
    let report = r.assert_ok().layer();
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
