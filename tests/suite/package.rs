//! `layerpub package` end to end: the real binary, real files, and zips read back by Python's
//! zipfile and Info-ZIP's unzip.

use crate::common;

use std::fs;
use std::os::unix::fs::symlink;
use std::path::Path;

use common::*;
use filetime::FileTime;

fn package_json(cwd: &Path, tree: &Path, zip: &Path, env: &[(&str, &str)]) -> serde_json::Value {
    layerpub(
        cwd,
        &[
            "package",
            "--layer-name",
            "deps",
            "--path",
            &path_str(tree),
            "--zip-path",
            &path_str(zip),
            "--output",
            "json",
        ],
        env,
    )
    .assert_ok()
    .layer()
}

fn touch_all(root: &Path, secs: i64) {
    for entry in walkdir(root) {
        let t = FileTime::from_unix_time(secs, 0);
        filetime::set_symlink_file_times(&entry, t, t).unwrap();
    }
}

fn walkdir(root: &Path) -> Vec<std::path::PathBuf> {
    let mut out = vec![];
    for e in fs::read_dir(root).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() && !p.is_symlink() {
            out.extend(walkdir(&p));
        }
        out.push(p);
    }
    out
}

#[test]
fn same_tree_gives_the_same_bytes_whatever_the_machine_state() {
    let a = temp();
    let b = temp();
    let tree_a = a.path().join("site-packages");
    // B: another folder, files created in the opposite order, another umask, other mtimes.
    let tree_b = b.path().join("deeper/checkout/site-packages");
    make_tree(&tree_a, false, 0o644, 0o755);
    make_tree(&tree_b, true, 0o600, 0o700);
    touch_all(&tree_a, 1_000_000_000);
    touch_all(&tree_b, 1_700_000_000);

    let zip_a = a.path().join("a.zip");
    let zip_b = b.path().join("b.zip");
    let ra = package_json(a.path(), &tree_a, &zip_a, &[("TZ", "UTC")]);
    let rb = package_json(b.path(), &tree_b, &zip_b, &[("TZ", "Pacific/Kiritimati")]);
    assert_eq!(ra["code_sha256"], rb["code_sha256"]);
    assert_eq!(fs::read(&zip_a).unwrap(), fs::read(&zip_b).unwrap());
    assert_eq!(ra["fingerprint"], rb["fingerprint"]);

    // Touching every file again (new mtimes and atimes) changes nothing either.
    touch_all(&tree_a, 1_234_567_890);
    let again = package_json(a.path(), &tree_a, &zip_a, &[]);
    assert_eq!(again["code_sha256"], ra["code_sha256"]);
}

#[test]
fn zip_reads_back_with_the_right_content_modes_and_no_extra_fields() {
    let dir = temp();
    let tree = dir.path().join("tree");
    make_tree(&tree, false, 0o640, 0o750);
    let zip = dir.path().join("out/deps.zip");
    let r = package_json(dir.path(), &tree, &zip, &[]);
    assert_unzip_ok(&zip);

    let entries = python_entries(&zip);
    let names: Vec<&str> = entries
        .iter()
        .map(|e| e["name"].as_str().unwrap())
        .collect();
    // Sorted by name; the default excludes dropped __pycache__/, *.pyc and .DS_Store.
    assert_eq!(
        names,
        [
            "bin/tool",
            "caf\u{e9}/men\u{fc}.txt",
            "empty.txt",
            "requests/__init__.py",
            "requests/_native.so",
            "requests/api.py",
        ]
    );
    assert_eq!(r["file_count"], 6);
    let expected: std::collections::HashMap<&str, (Vec<u8>, bool)> = sample_files()
        .into_iter()
        .map(|(n, c, x)| (n, (c, x)))
        .collect();
    for e in &entries {
        let name = e["name"].as_str().unwrap();
        let (content, exec) = &expected[name];
        let sha = format!("{:x}", <sha2::Sha256 as sha2::Digest>::digest(content));
        assert_eq!(e["sha256"], sha, "{name}");
        let mode = if *exec { 0o100755 } else { 0o100644 };
        assert_eq!(e["mode"], mode, "{name}");
        assert_eq!(
            e["date_time"],
            serde_json::json!([1980, 1, 1, 0, 0, 0]),
            "{name}"
        );
        assert_eq!(e["extra_len"], 0, "{name}: no uid/gid or timestamp fields");
        assert_eq!(e["create_system"], 3, "{name}: made by Unix");
    }
    let native = entries
        .iter()
        .find(|e| e["name"] == "requests/_native.so")
        .unwrap();
    let text = entries
        .iter()
        .find(|e| e["name"] == "requests/__init__.py")
        .unwrap();
    assert_eq!(text["compress_type"], 8, "text is deflated");
    assert_eq!(native["compress_type"], 0, "incompressible data is stored");

    let unzipped: u64 = sample_files()
        .iter()
        .take(6)
        .map(|(_, c, _)| c.len() as u64)
        .sum();
    assert_eq!(r["unzipped_size"], unzipped);
    assert_eq!(r["code_size"], fs::metadata(&zip).unwrap().len());
    let sha = <sha2::Sha256 as sha2::Digest>::digest(fs::read(&zip).unwrap());
    use base64::Engine;
    assert_eq!(
        r["code_sha256"],
        base64::engine::general_purpose::STANDARD.encode(sha)
    );
}

#[test]
fn prefix_places_the_tree_under_a_folder_and_silences_the_layout_warning() {
    let dir = temp();
    let tree = dir.path().join("site-packages");
    write_file(&tree, "requests/__init__.py", b"x", 0o644);
    let zip = dir.path().join("deps.zip");
    let args = |prefix: &'static str| {
        vec![
            "package",
            "--layer-name",
            "deps",
            "--compatible-runtimes",
            "python3.12",
            "--path",
            "site-packages",
            "--prefix",
            prefix,
        ]
    };
    let flat = layerpub(dir.path(), &args(""), &[]);
    flat.assert_ok();
    assert!(
        flat.stderr
            .contains("warning: none of the 1 files is where python3.12 looks"),
        "{}",
        flat.stderr
    );

    let placed = layerpub(dir.path(), &args("python"), &[]);
    placed.assert_ok();
    assert!(!placed.stderr.contains("warning"), "{}", placed.stderr);
    let names: Vec<String> = python_entries(&zip)
        .iter()
        .map(|e| e["name"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(names, ["python/requests/__init__.py"]);
}

#[test]
fn source_date_epoch_sets_every_timestamp_and_nothing_else() {
    let dir = temp();
    let tree = dir.path().join("tree");
    make_tree(&tree, false, 0o644, 0o755);
    let plain = package_json(dir.path(), &tree, &dir.path().join("a.zip"), &[]);
    let dated = package_json(
        dir.path(),
        &tree,
        &dir.path().join("b.zip"),
        &[("SOURCE_DATE_EPOCH", "1700000000")],
    );
    assert_ne!(plain["code_sha256"], dated["code_sha256"]);
    assert_eq!(plain["fingerprint"], dated["fingerprint"]);
    assert_eq!(plain["code_size"], dated["code_size"]);
    for e in python_entries(&dir.path().join("b.zip")) {
        // 2023-11-14T22:13:20Z
        assert_eq!(
            e["date_time"],
            serde_json::json!([2023, 11, 14, 22, 13, 20])
        );
        assert_eq!(e["extra_len"], 0);
    }
    let bad = layerpub(
        dir.path(),
        &["package", "--layer-name", "d", "--path", "tree"],
        &[("SOURCE_DATE_EPOCH", "yesterday")],
    );
    assert_eq!(bad.code, 2);
    assert!(
        bad.stderr
            .contains("SOURCE_DATE_EPOCH: `yesterday` is not a Unix time in seconds"),
        "{}",
        bad.stderr
    );
}

#[test]
fn include_and_exclude_select_files() {
    let dir = temp();
    let tree = dir.path().join("tree");
    make_tree(&tree, false, 0o644, 0o755);
    write_file(&tree, "requests/tests/test_api.py", b"x", 0o644);
    let r = layerpub(
        dir.path(),
        &[
            "package",
            "--layer-name",
            "deps",
            "--path",
            "tree",
            "--include",
            "*.py",
            "--exclude",
            "tests/",
        ],
        &[],
    );
    r.assert_ok();
    let names: Vec<String> = python_entries(&dir.path().join("deps.zip"))
        .iter()
        .map(|e| e["name"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(names, ["requests/__init__.py", "requests/api.py"]);

    // With the default excludes off, the .pyc litter is packaged.
    let r = layerpub(
        dir.path(),
        &[
            "package",
            "--layer-name",
            "deps",
            "--path",
            "tree",
            "--default-excludes",
            "false",
            "--output",
            "json",
        ],
        &[],
    );
    assert_eq!(r.assert_ok().layer()["file_count"], 10);
}

#[test]
fn symlinks_follow_the_policy_and_never_leave_the_folder() {
    let dir = temp();
    let tree = dir.path().join("tree");
    write_file(&tree, "lib/libfoo.so.1", b"ELF", 0o755);
    symlink("libfoo.so.1", tree.join("lib/libfoo.so")).unwrap();
    let run = |policy: &str| {
        layerpub(
            dir.path(),
            &[
                "package",
                "--layer-name",
                "deps",
                "--path",
                "tree",
                "--symlinks",
                policy,
                "--output",
                "json",
            ],
            &[],
        )
    };

    run("preserve").assert_ok();
    let entries = python_entries(&dir.path().join("deps.zip"));
    let link = entries
        .iter()
        .find(|e| e["name"] == "lib/libfoo.so")
        .unwrap();
    assert_eq!(link["mode"], 0o120777);
    assert_eq!(link["text"], "libfoo.so.1");
    assert_unzip_ok(&dir.path().join("deps.zip"));

    run("follow").assert_ok();
    let entries = python_entries(&dir.path().join("deps.zip"));
    let link = entries
        .iter()
        .find(|e| e["name"] == "lib/libfoo.so")
        .unwrap();
    assert_eq!(link["mode"], 0o100755);
    assert_eq!(link["text"], "ELF");

    let refused = run("error");
    assert_eq!(refused.code, 2);
    assert!(
        refused
            .stderr
            .contains("`lib/libfoo.so` is a symbolic link and symlinks is `error`"),
        "{}",
        refused.stderr
    );

    // A link out of the folder is refused under every policy.
    fs::write(dir.path().join("secret.txt"), "x").unwrap();
    symlink("../../secret.txt", tree.join("lib/escape")).unwrap();
    for policy in ["preserve", "follow"] {
        let r = run(policy);
        assert_eq!(r.code, 2, "{policy}");
        assert!(
            r.stderr
                .contains("`lib/escape` is a symbolic link to `../../secret.txt`, outside path"),
            "{policy}: {}",
            r.stderr
        );
    }
}

#[test]
fn dangling_and_absolute_links_are_refused_with_a_fix() {
    let dir = temp();
    let tree = dir.path().join("tree");
    write_file(&tree, "a.txt", b"a", 0o644);
    symlink("missing.txt", tree.join("dangling")).unwrap();
    let r = layerpub(
        dir.path(),
        &["package", "--layer-name", "deps", "--path", "tree"],
        &[],
    );
    assert_eq!(r.code, 2);
    assert!(
        r.stderr
            .contains("`dangling` is a symbolic link to `missing.txt`, which does not exist"),
        "{}",
        r.stderr
    );

    fs::remove_file(tree.join("dangling")).unwrap();
    symlink(tree.join("a.txt"), tree.join("absolute")).unwrap();
    let r = layerpub(
        dir.path(),
        &["package", "--layer-name", "deps", "--path", "tree"],
        &[],
    );
    assert_eq!(r.code, 2);
    assert!(
        r.stderr
            .contains("`absolute` is a symbolic link with an absolute target"),
        "{}",
        r.stderr
    );
    assert!(
        !dir.path().join("deps.zip").exists(),
        "nothing half-written"
    );
}

#[test]
fn large_files_stream_through_a_spool_and_read_back() {
    let dir = temp();
    let tree = dir.path().join("tree");
    // Over the 16 MiB spool threshold: one compressible, one not.
    let text = "lorem ipsum dolor sit amet\n".repeat(700_000).into_bytes();
    let noise = noise(17 << 20, 7);
    write_file(&tree, "lib/big.txt", &text, 0o644);
    write_file(&tree, "lib/big.bin", &noise, 0o644);
    let zip = dir.path().join("deps.zip");
    let r = package_json(dir.path(), &tree, &zip, &[]);
    assert_eq!(r["unzipped_size"], (text.len() + noise.len()) as u64);
    assert_unzip_ok(&zip);
    let entries = python_entries(&zip);
    assert_eq!(entries[0]["name"], "lib/big.bin");
    assert_eq!(entries[0]["compress_type"], 0);
    assert_eq!(entries[1]["compress_type"], 8);
    let sha = |b: &[u8]| format!("{:x}", <sha2::Sha256 as sha2::Digest>::digest(b));
    assert_eq!(entries[0]["sha256"], sha(&noise));
    assert_eq!(entries[1]["sha256"], sha(&text));
}

#[test]
fn a_layer_over_lambdas_unzipped_limit_is_refused_before_compressing() {
    let dir = temp();
    let tree = dir.path().join("tree");
    fs::create_dir_all(&tree).unwrap();
    // Sparse: the size is real to the walk, the disk holds nothing.
    let f = fs::File::create(tree.join("model.bin")).unwrap();
    f.set_len(262_144_001).unwrap();
    let r = layerpub(
        dir.path(),
        &["package", "--layer-name", "deps", "--path", "tree"],
        &[],
    );
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("the layer unzips to 262144001 bytes (250.0 MiB), over Lambda's limit of 262144000 bytes"), "{}", r.stderr);
    assert!(
        r.stderr
            .contains("the largest entries: model.bin (250.0 MiB)"),
        "{}",
        r.stderr
    );
    assert!(!dir.path().join("deps.zip").exists());
}

#[test]
fn many_entries_get_a_valid_zip64_directory() {
    let dir = temp();
    let tree = dir.path().join("tree");
    for i in 0..66_000 {
        let rel = format!("d{:03}/f{i:05}", i % 500);
        if i < 500 {
            fs::create_dir_all(tree.join(format!("d{:03}", i % 500))).unwrap();
        }
        fs::write(tree.join(rel), b"").unwrap();
    }
    let zip = dir.path().join("deps.zip");
    let r = package_json(dir.path(), &tree, &zip, &[]);
    assert_eq!(r["file_count"], 66_000);
    assert_unzip_ok(&zip);
    assert_eq!(python_entries(&zip).len(), 66_000);
}

#[test]
fn entries_are_in_byte_order_of_their_full_names_though_the_walk_streams_them() {
    // A folder's entries sort after a sibling file whose name continues with a byte below
    // `/` (`a-c.py`, `a.py` before `a/b.py`): visiting folders in plain name order would put
    // `a/…` first.
    let dir = temp();
    let tree = dir.path().join("tree");
    for rel in [
        "ab.py", "a0/x.py", "a/z/q.py", "a/b.py", "a.py", "a-c.py", "a/z.py",
    ] {
        write_file(&tree, rel, b"x = 1\n", 0o644);
    }
    let zip = dir.path().join("deps.zip");
    package_json(dir.path(), &tree, &zip, &[]);
    let names: Vec<String> = python_entries(&zip)
        .iter()
        .map(|e| e["name"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        names,
        [
            "a-c.py", "a.py", "a/b.py", "a/z.py", "a/z/q.py", "a0/x.py", "ab.py"
        ]
    );
}

#[test]
fn a_tree_deeper_than_the_open_file_limit_is_walked_whole_and_in_order() {
    // The walk holds a few folders open, not one per level: 150 levels under a limit of 40
    // open files (each level has a file that sorts after its subfolder, so every folder is
    // opened again on the way back up).
    let dir = temp();
    let tree = dir.path().join("tree");
    let mut rel = String::new();
    let mut want = Vec::new();
    for level in 0..150 {
        write_file(&tree, &format!("{rel}z{level}.py"), b"x = 1\n", 0o644);
        want.push(format!("{rel}z{level}.py"));
        rel.push_str("d/");
    }
    write_file(&tree, &format!("{rel}end.py"), b"x = 1\n", 0o644);
    want.push(format!("{rel}end.py"));
    want.sort();
    let zip = dir.path().join("deps.zip");
    let run = std::process::Command::new("sh")
        .current_dir(dir.path())
        .args(["-c", "ulimit -n 40 && exec \"$0\" \"$@\"", BIN, "package"])
        .args(["--layer-name", "deps", "--path", &path_str(&tree)])
        .args(["--zip-path", &path_str(&zip), "--output", "json"])
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap())
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let names: Vec<String> = python_entries(&zip)
        .iter()
        .map(|e| e["name"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(names, want);
}
