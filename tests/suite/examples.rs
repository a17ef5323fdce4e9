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

/// The demo's built layer (examples/python-build, the layer examples/demo.sh publishes): pip
/// installs its lock file for python3.12 on arm64 from the demo's wheelhouse, under python/.
#[test]
fn demo_built_layer_builds_with_pip_from_its_lock_file() {
    use std::os::unix::fs::PermissionsExt;
    let dir = temp();
    let root = dir.path();
    copy_tree(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/python-build"),
        root,
    );
    let python = common::moto::ensure_installed();
    let made = std::process::Command::new(&python)
        .arg(root.join("make_wheels.py"))
        .arg(root.join("wheelhouse"))
        .status()
        .unwrap();
    assert!(made.success());
    let bin = root.join("bin");
    std::fs::create_dir(&bin).unwrap();
    std::fs::write(
        bin.join("pip"),
        format!("#!/bin/sh\nexec '{}' -m pip \"$@\"\n", python.display()),
    )
    .unwrap();
    std::fs::set_permissions(bin.join("pip"), std::fs::Permissions::from_mode(0o755)).unwrap();
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap());
    let wheelhouse = root.join("wheelhouse");
    let r = layerpub(
        root,
        &["package", "--output", "json"],
        &[
            ("PATH", &path),
            ("PIP_NO_INDEX", "1"),
            ("PIP_NO_CACHE_DIR", "1"),
            ("PIP_FIND_LINKS", wheelhouse.to_str().unwrap()),
        ],
    );
    let report = r.assert_ok().layer();
    assert_eq!(report["layer_name"], "demo-built-deps");
    let entries = python_entries(&root.join("demo-built-deps.zip"));
    let hello = entries
        .iter()
        .find(|e| e["name"] == "python/hello/__init__.py")
        .expect("python/hello/__init__.py");
    assert_eq!(hello["text"], "VERSION = \"1.0.0\"\n");
}
