//! Settings from flags, environment and layerpub.yml, and every mistake a user can make with
//! them, through the real binary: exit code 2, a message naming the input and the fix, and no
//! zip written.

use crate::common;

use std::fs;

use common::*;

fn tree_in(dir: &std::path::Path) {
    write_file(dir, "build/python/mod.py", b"x = 1\n", 0o644);
}

#[test]
fn github_inputs_and_layerpub_variables_configure_a_run() {
    let dir = temp();
    tree_in(dir.path());
    let r = layerpub(
        dir.path(),
        &["package", "--output", "json"],
        &[
            ("INPUT_LAYER-NAME", "from-input"),
            ("INPUT_PATH", "build"),
            ("INPUT_PREFIX", ""), // an input the user left empty counts as unset
            ("LAYERPUB_ZIP_PATH", "out/layer.zip"),
        ],
    );
    r.assert_ok();
    assert_eq!(r.layer()["layer_name"], "from-input");
    assert!(dir.path().join("out/layer.zip").is_file());
}

#[test]
fn flag_beats_environment_beats_file() {
    let dir = temp();
    tree_in(dir.path());
    fs::write(
        dir.path().join("layerpub.yml"),
        "layer-name: from-file\npath: build\ndescription: from file\nzip-path: file.zip\n",
    )
    .unwrap();
    let r = layerpub(dir.path(), &["package", "--output", "json"], &[]);
    assert_eq!(r.assert_ok().layer()["layer_name"], "from-file");
    assert!(dir.path().join("file.zip").is_file());

    let env = [("LAYERPUB_LAYER_NAME", "from-env")];
    let r = layerpub(dir.path(), &["package", "--output", "json"], &env);
    assert_eq!(r.assert_ok().layer()["layer_name"], "from-env");

    let r = layerpub(
        dir.path(),
        &["package", "--output", "json", "--layer-name", "from-flag"],
        &env,
    );
    assert_eq!(r.assert_ok().layer()["layer_name"], "from-flag");
}

#[test]
fn config_file_can_be_named_by_flag_or_variable_and_paths_are_relative_to_it() {
    let dir = temp();
    write_file(dir.path(), "ci/build/x.txt", b"x", 0o644);
    fs::write(
        dir.path().join("ci/layers.yml"),
        "layer-name: deps\npath: build\nzip-path: deps.zip\n",
    )
    .unwrap();
    layerpub(dir.path(), &["package", "--config", "ci/layers.yml"], &[]).assert_ok();
    assert!(dir.path().join("ci/deps.zip").is_file());

    fs::remove_file(dir.path().join("ci/deps.zip")).unwrap();
    layerpub(
        dir.path(),
        &["package"],
        &[("LAYERPUB_CONFIG", "ci/layers.yml")],
    )
    .assert_ok();
    assert!(dir.path().join("ci/deps.zip").is_file());

    let missing = layerpub(dir.path(), &["package", "--config", "nope.yml"], &[]);
    assert_eq!(missing.code, 2);
    assert!(
        missing
            .stderr
            .contains("nope.yml: cannot read the config file"),
        "{}",
        missing.stderr
    );
}

#[test]
fn several_layers_in_one_file_each_get_their_zip() {
    let dir = temp();
    write_file(dir.path(), "a/python/a.py", b"a", 0o644);
    write_file(dir.path(), "b/nodejs/node_modules/b/index.js", b"b", 0o644);
    fs::write(
        dir.path().join("layerpub.yml"),
        "compatible-architectures: [arm64]\nlayers:\n  - layer-name: py\n    path: a\n    compatible-runtimes: [python3.12]\n  - layer-name: node\n    path: b\n    compatible-runtimes: nodejs20.x\n",
    )
    .unwrap();
    let r = layerpub(dir.path(), &["package", "--output", "json"], &[]);
    let layers = r.assert_ok().json()["layers"].as_array().unwrap().clone();
    assert_eq!(layers.len(), 2);
    assert_eq!(layers[0]["layer_name"], "py");
    assert_eq!(layers[1]["layer_name"], "node");
    assert!(!r.stderr.contains("warning"), "{}", r.stderr);
    assert!(dir.path().join("py.zip").is_file() && dir.path().join("node.zip").is_file());
}

/// One bad-input case: environment, arguments, and the fragments the error must contain.
type Case<'a> = (&'a [(&'a str, &'a str)], &'a [&'a str], &'a [&'a str]);

#[test]
fn every_bad_input_is_refused_with_its_name_and_its_fix() {
    let cases: &[Case] = &[
        (
            &[],
            &["package"],
            &[
                "layer-name: not set; set `layer-name: my-deps` in layerpub.yml, LAYERPUB_LAYER_NAME, or --layer-name",
                "path: not set",
            ],
        ),
        (
            &[("LAYERPUB_LAYER_NAME", "my layer")],
            &["package", "--path", "build"],
            &["layer-name: `my layer` is not a valid layer name"],
        ),
        (
            &[("LAYERPUB_LAYER_NAME", &"x".repeat(141))],
            &["package", "--path", "build"],
            &["is not a valid layer name; use 1 to 140"],
        ),
        (
            &[("INPUT_COMPATIBLE-RUNTIMES", "python3.12\npyhton3.13")],
            &["package", "--layer-name", "d", "--path", "build"],
            &[
                "compatible-runtimes: `pyhton3.13` is not a Lambda runtime; did you mean `python3.13`?",
            ],
        ),
        (
            &[],
            &[
                "package",
                "--layer-name",
                "d",
                "--path",
                "build",
                "--compatible-architectures",
                "x86_64,aarch64",
            ],
            &["`aarch64` is not a Lambda architecture (did you mean `arm64`?)"],
        ),
        (
            &[("LAYERPUB_DESCRIPTION", &"d".repeat(300))],
            &["package", "--layer-name", "d", "--path", "build"],
            &[
                "description: 300 characters long; Lambda accepts at most 175: the rest of Lambda's 256 holds the fingerprint marker",
            ],
        ),
        (
            &[("LAYERPUB_LICENSE_INFO", &"l".repeat(600))],
            &["package", "--layer-name", "d", "--path", "build"],
            &["license-info: 600 characters long; Lambda accepts at most 512"],
        ),
        (
            &[("LAYERPUB_LAYERNAME", "d")],
            &["package", "--path", "build"],
            &["LAYERPUB_LAYERNAME: not a layerpub setting; did you mean LAYERPUB_LAYER_NAME?"],
        ),
        (
            &[("LAYERPUB_SYMLINKS", "sometimes")],
            &["package", "--layer-name", "d", "--path", "build"],
            &[
                "LAYERPUB_SYMLINKS: unknown variant `sometimes`, expected one of `preserve`, `follow`, `error`",
            ],
        ),
        (
            &[],
            &[
                "package",
                "--layer-name",
                "d",
                "--path",
                "build",
                "--prefix",
                "../up",
            ],
            &["prefix: `../up` contains `..`"],
        ),
        (
            &[],
            &[
                "package",
                "--layer-name",
                "d",
                "--path",
                "build",
                "--exclude",
                "a[b",
            ],
            &["exclude: `a[b` is not a valid glob"],
        ),
        (
            &[],
            &["package", "--layer-name", "d", "--path", "nowhere"],
            &["path `nowhere` does not exist; set path to the folder your build step fills"],
        ),
        (
            &[],
            &[
                "package",
                "--layer-name",
                "d",
                "--path",
                "build/python/mod.py",
            ],
            &["path `build/python/mod.py` is a file, not a folder; set path to the folder"],
        ),
        (
            &[],
            &[
                "package",
                "--layer-name",
                "d",
                "--path",
                "build",
                "--manifest",
                "requirements.txt",
            ],
            &["manifest `requirements.txt` does not exist; list your lock files"],
        ),
        (
            &[],
            &[
                "package",
                "--layer-name",
                "d",
                "--path",
                "build",
                "--symlinks",
                "maybe",
            ],
            &["invalid value 'maybe' for '--symlinks <POLICY>'"],
        ),
    ];
    for (env, args, fragments) in cases {
        let dir = temp();
        tree_in(dir.path());
        let r = layerpub(dir.path(), args, env);
        assert_eq!(r.code, 2, "{args:?} {env:?}: {}", r.stderr);
        for f in *fragments {
            assert!(
                r.stderr.contains(f),
                "{args:?} {env:?}: expected `{f}` in:\n{}",
                r.stderr
            );
        }
        let zips: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .filter(|e| {
                e.as_ref()
                    .unwrap()
                    .path()
                    .extension()
                    .is_some_and(|x| x == "zip")
            })
            .collect();
        assert!(zips.is_empty(), "{args:?}: a zip was written");
    }
}

#[test]
fn all_problems_are_reported_in_one_run() {
    let dir = temp();
    let r = layerpub(
        dir.path(),
        &[
            "package",
            "--layer-name",
            "bad name",
            "--compatible-runtimes",
            "python2",
            "--compatible-architectures",
            "sparc",
        ],
        &[("LAYERPUB_DESCRIPTION", &"d".repeat(257))],
    );
    assert_eq!(r.code, 2);
    assert!(
        r.stderr.contains("invalid configuration (5 problems):"),
        "{}",
        r.stderr
    );
    for input in [
        "layer-name:",
        "path:",
        "compatible-runtimes:",
        "compatible-architectures:",
        "description:",
    ] {
        assert!(
            r.stderr.contains(&format!("  - {input}")),
            "{input} missing from:\n{}",
            r.stderr
        );
    }
}

#[test]
fn unknown_and_mistyped_keys_in_the_file_name_the_key_and_the_file() {
    let dir = temp();
    tree_in(dir.path());
    fs::write(
        dir.path().join("layerpub.yml"),
        "layer-name: d\npath: build\ncompatible_runtimes: [python3.12]\n",
    )
    .unwrap();
    let r = layerpub(dir.path(), &["package"], &[]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("layerpub.yml"), "{}", r.stderr);
    assert!(r.stderr.contains("compatible_runtimes"), "{}", r.stderr);

    fs::write(
        dir.path().join("layerpub.yml"),
        "layer-name: d\npath: build\nsymlinks: [a]\n",
    )
    .unwrap();
    let r = layerpub(dir.path(), &["package"], &[("LAYERPUB_COLOUR", "x")]);
    assert_eq!(r.code, 2);
    // The file's problem and the environment's are reported together.
    assert!(r.stderr.contains("layerpub.yml"), "{}", r.stderr);
    assert!(
        r.stderr.contains("LAYERPUB_COLOUR: not a layerpub setting"),
        "{}",
        r.stderr
    );
}

#[test]
fn non_utf8_file_name_is_refused() {
    use std::os::unix::ffi::OsStrExt;
    let dir = temp();
    tree_in(dir.path());
    let name = std::ffi::OsStr::from_bytes(b"bad\xffname.py");
    fs::write(dir.path().join("build").join(name), b"x").unwrap();
    let r = layerpub(
        dir.path(),
        &["package", "--layer-name", "d", "--path", "build"],
        &[],
    );
    assert_eq!(r.code, 2);
    assert!(
        r.stderr.contains("has a name that is not UTF-8; rename it"),
        "{}",
        r.stderr
    );
}

#[test]
fn fingerprint_prints_what_package_reports_and_follows_the_manifest() {
    let dir = temp();
    tree_in(dir.path());
    fs::write(
        dir.path().join("requirements.txt"),
        "requests==2.32.3\nurllib3==2.2.2\n",
    )
    .unwrap();
    let args = [
        "--layer-name",
        "deps",
        "--path",
        "build",
        "--manifest",
        "requirements.txt",
    ];
    let fp = |extra: &[&str]| {
        let mut a = vec!["fingerprint"];
        a.extend_from_slice(&args);
        a.extend_from_slice(extra);
        let r = layerpub(dir.path(), &a, &[]);
        r.assert_ok();
        r.stdout.trim().to_owned()
    };
    let first = fp(&[]);
    assert_eq!(first.len(), 64);
    assert!(first.bytes().all(|b| b.is_ascii_hexdigit()));

    let mut pkg = vec!["package", "--output", "json"];
    pkg.extend_from_slice(&args);
    let r = layerpub(dir.path(), &pkg, &[]);
    assert_eq!(r.assert_ok().layer()["fingerprint"], first);

    // A Windows checkout of the same lock file: same fingerprint.
    fs::write(
        dir.path().join("requirements.txt"),
        "requests==2.32.3\r\nurllib3==2.2.2\r\n",
    )
    .unwrap();
    assert_eq!(fp(&[]), first);
    // A changed pin: a new fingerprint. Files in path do not count when a manifest is named.
    fs::write(
        dir.path().join("requirements.txt"),
        "requests==2.32.4\nurllib3==2.2.2\n",
    )
    .unwrap();
    let second = fp(&[]);
    assert_ne!(second, first);
    write_file(dir.path(), "build/python/other.py", b"y", 0o644);
    assert_eq!(fp(&[]), second);
    // A setting that shapes the layer: a new fingerprint.
    assert_ne!(fp(&["--compatible-runtimes", "python3.12"]), second);

    let json = layerpub(
        dir.path(),
        &[
            "fingerprint",
            "--output",
            "json",
            "--layer-name",
            "deps",
            "--path",
            "build",
            "--manifest",
            "requirements.txt",
        ],
        &[],
    );
    let doc = json.assert_ok().layer();
    assert_eq!(doc["document"]["source"]["kind"], "manifests");
    assert_eq!(
        doc["document"]["source"]["files"][0]["name"],
        "requirements.txt"
    );
    assert_eq!(
        doc["document"]["source"]["files"][0]["text"],
        "requests==2.32.4\nurllib3==2.2.2\n"
    );
}

#[test]
fn without_a_manifest_the_fingerprint_follows_the_packaged_files() {
    let dir = temp();
    tree_in(dir.path());
    let fp = || {
        let r = layerpub(
            dir.path(),
            &["fingerprint", "--layer-name", "deps", "--path", "build"],
            &[],
        );
        r.assert_ok();
        r.stdout.trim().to_owned()
    };
    let first = fp();
    assert_eq!(fp(), first);
    // Excluded litter does not count.
    write_file(
        dir.path(),
        "build/python/__pycache__/mod.cpython-312.pyc",
        b"junk",
        0o644,
    );
    assert_eq!(fp(), first);
    write_file(dir.path(), "build/python/mod.py", b"x = 2\n", 0o644);
    let second = fp();
    assert_ne!(second, first);
    // The executable bit is part of the content.
    write_file(dir.path(), "build/python/mod.py", b"x = 2\n", 0o755);
    assert_ne!(fp(), second);

    let r = layerpub(
        dir.path(),
        &[
            "package",
            "--output",
            "json",
            "--layer-name",
            "deps",
            "--path",
            "build",
        ],
        &[],
    );
    let packaged = r.assert_ok().layer()["fingerprint"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(packaged, fp());
}

fn mkfifo(path: &std::path::Path) {
    let ok = std::process::Command::new("mkfifo")
        .arg(path)
        .status()
        .expect("mkfifo");
    assert!(ok.success(), "mkfifo {}", path.display());
}

/// Issue 12, item 5: a FIFO named as a manifest blocked forever (deaf to SIGTERM), one named
/// as the config file until killed. Both are refused at once, naming the setting.
#[test]
fn a_fifo_named_as_manifest_or_config_file_is_refused_without_blocking() {
    let dir = temp();
    tree_in(dir.path());
    mkfifo(&dir.path().join("pipe"));
    let base = ["fingerprint", "--layer-name", "d", "--path", "build"];
    let runs = [
        (
            [&base[..], &["--manifest", "pipe"]].concat(),
            vec![],
            "manifest `pipe` is a FIFO (named pipe), not a regular file",
        ),
        (
            [&base[..], &["--config", "pipe"]].concat(),
            vec![],
            "pipe: is a FIFO (named pipe), not a regular file; point --config at the YAML file",
        ),
        (
            base.to_vec(),
            vec![("LAYERPUB_CONFIG", "pipe")],
            "pipe: is a FIFO (named pipe), not a regular file; point LAYERPUB_CONFIG at the YAML file",
        ),
    ];
    for (args, env, expected) in runs {
        let r = layerpub_within(dir.path(), &args, &env);
        assert_eq!(r.code, 2, "{args:?}: {}", r.stderr);
        assert!(r.stderr.contains(expected), "{args:?}: {}", r.stderr);
    }
}

/// A `layerpub.yml` in the working directory that is a folder or a dangling link was silently
/// ignored, and the run went on with other settings than the user meant.
#[test]
fn a_default_config_file_that_is_a_folder_or_a_dangling_link_is_not_ignored() {
    let dir = temp();
    tree_in(dir.path());
    let args = ["package", "--layer-name", "d", "--path", "build"];
    fs::create_dir(dir.path().join("layerpub.yml")).unwrap();
    let r = layerpub(dir.path(), &args, &[]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr
            .contains("layerpub.yml: is a folder, not a regular file; rename or remove it"),
        "{}",
        r.stderr
    );
    fs::remove_dir(dir.path().join("layerpub.yml")).unwrap();
    std::os::unix::fs::symlink("ci/gone.yml", dir.path().join("layerpub.yml")).unwrap();
    let r = layerpub(dir.path(), &args, &[]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr.contains(
            "layerpub.yml: is a symbolic link to `ci/gone.yml`, which does not exist; fix the link or remove it"
        ),
        "{}",
        r.stderr
    );
    assert!(!dir.path().join("d.zip").exists(), "no zip written");
}

/// Issue 12, item 9: zip-path naming a link or a special file replaced it with the zip (as
/// root, `--zip-path /dev/null` would replace /dev/null); a folder, or a file on the way, was
/// a failure (exit 1) with only the OS's words. All are bad input, and nothing is replaced.
#[test]
fn a_zip_path_that_is_a_link_a_special_file_or_a_folder_is_refused_and_left_alone() {
    use std::os::unix::fs::{FileTypeExt, symlink};
    let dir = temp();
    tree_in(dir.path());
    fs::write(dir.path().join("keep.txt"), "precious\n").unwrap();
    symlink("keep.txt", dir.path().join("link.zip")).unwrap();
    mkfifo(&dir.path().join("pipe.zip"));
    fs::create_dir(dir.path().join("folder.zip")).unwrap();
    let cases = [
        ("link.zip", "zip-path: `link.zip` is a symbolic link"),
        ("pipe.zip", "zip-path: `pipe.zip` is a FIFO (named pipe)"),
        (
            "folder.zip",
            "zip-path: `folder.zip` is a folder; name the zip file",
        ),
        (
            "keep.txt/d.zip",
            "zip-path: `keep.txt/d.zip` cannot be created: `keep.txt` is a file, not a folder",
        ),
    ];
    for (zip, expected) in cases {
        for command in ["package", "publish"] {
            let args = [
                command,
                "--layer-name",
                "d",
                "--path",
                "build",
                "--zip-path",
                zip,
            ];
            // `publish` must stop before AWS: here, an endpoint nothing listens on.
            let aws = [
                ("AWS_REGION", "us-east-1"),
                ("AWS_ENDPOINT_URL", "http://127.0.0.1:9"),
                ("AWS_ACCESS_KEY_ID", "testing"),
                ("AWS_SECRET_ACCESS_KEY", "testing"),
                ("AWS_EC2_METADATA_DISABLED", "true"),
            ];
            let r = layerpub_within(dir.path(), &args, &aws);
            assert_eq!(r.code, 2, "{args:?}: {}", r.stderr);
            assert!(r.stderr.contains(expected), "{args:?}: {}", r.stderr);
            assert!(
                r.stderr.contains("set zip-path to"),
                "{args:?}: the fix: {}",
                r.stderr
            );
        }
    }
    let meta = |p: &str| fs::symlink_metadata(dir.path().join(p)).unwrap();
    assert!(
        meta("link.zip").file_type().is_symlink(),
        "the link stays a link"
    );
    assert_eq!(
        fs::read_to_string(dir.path().join("keep.txt")).unwrap(),
        "precious\n"
    );
    assert!(
        meta("pipe.zip").file_type().is_fifo(),
        "the FIFO stays a FIFO"
    );
    assert!(meta("folder.zip").is_dir());
}

/// Issue 12, item 12: `LAYERPUB_MANIFEST=/proc/self/environ` printed the job's secrets in the
/// fingerprint document. Manifests and path must lie inside the workspace (resolved through
/// links) unless `allow-outside-workspace` says otherwise, and a manifest has a size cap.
#[test]
fn manifests_and_path_outside_the_workspace_are_refused_unless_allowed() {
    let dir = temp();
    tree_in(dir.path());
    let outside = temp();
    fs::write(outside.path().join("requirements.txt"), "outside==1\n").unwrap();
    write_file(outside.path(), "layer/python/x.py", b"x", 0o644);
    let outside_lock = path_str(&outside.path().join("requirements.txt"));
    let outside_layer = path_str(&outside.path().join("layer"));
    std::os::unix::fs::symlink(&outside_lock, dir.path().join("lock.txt")).unwrap();

    let secret = [("AWS_SECRET_ACCESS_KEY", "wJalrXUtnFEMI-not-a-real-secret")];
    let r = layerpub(
        dir.path(),
        &[
            "fingerprint",
            "--output",
            "json",
            "--layer-name",
            "d",
            "--path",
            "build",
        ],
        &[secret[0], ("LAYERPUB_MANIFEST", "/proc/self/environ")],
    );
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        !r.stdout.contains(secret[0].1) && !r.stderr.contains(secret[0].1),
        "the secret was printed: {}{}",
        r.stdout,
        r.stderr
    );
    assert!(
        r.stderr
            .contains("manifest: `/proc/self/environ` is outside the workspace"),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr.contains("set allow-outside-workspace: true"),
        "the fix: {}",
        r.stderr
    );

    let fingerprint = |extra: &[&str], env: &[(&str, &str)]| {
        let mut args = vec!["fingerprint", "--layer-name", "d"];
        args.extend_from_slice(extra);
        layerpub(dir.path(), &args, env)
    };
    // A link inside the workspace to a file outside it is outside.
    let r = fingerprint(&["--path", "build", "--manifest", "lock.txt"], &[]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr
            .contains("manifest: `lock.txt` is outside the workspace"),
        "{}",
        r.stderr
    );
    let r = fingerprint(&["--path", &outside_layer], &[]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr
            .contains(&format!("path: `{outside_layer}` is outside the workspace")),
        "{}",
        r.stderr
    );
    // GITHUB_WORKSPACE, when set, is the workspace (here: only `build`).
    let workspace = path_str(&dir.path().join("build"));
    fs::write(dir.path().join("requirements.txt"), "a==1\n").unwrap();
    let r = fingerprint(
        &["--path", "build", "--manifest", "requirements.txt"],
        &[("GITHUB_WORKSPACE", &workspace)],
    );
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr.contains("GITHUB_WORKSPACE"),
        "names where the workspace came from: {}",
        r.stderr
    );

    // Explicitly allowed: flag, variable.
    fingerprint(
        &[
            "--path",
            &outside_layer,
            "--manifest",
            "lock.txt",
            "--allow-outside-workspace",
        ],
        &[],
    )
    .assert_ok();
    fingerprint(
        &["--path", &outside_layer],
        &[("LAYERPUB_ALLOW_OUTSIDE_WORKSPACE", "true")],
    )
    .assert_ok();
}

/// The setting that lifts the confinement cannot come from the file it protects against: a
/// pull request that edits layerpub.yml could otherwise lift it itself.
#[test]
fn allow_outside_workspace_is_refused_in_the_config_file() {
    let dir = temp();
    tree_in(dir.path());
    fs::write(
        dir.path().join("layerpub.yml"),
        "layer-name: d\npath: build\nallow-outside-workspace: true\n",
    )
    .unwrap();
    let r = layerpub(dir.path(), &["fingerprint"], &[]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr.contains(
            "allow-outside-workspace: cannot be set in layerpub.yml; give it as a flag, a LAYERPUB_ALLOW_OUTSIDE_WORKSPACE variable or an action input"
        ),
        "{}",
        r.stderr
    );
}

/// Issue 13: the run-level settings were read from the first layer, so `comment: false` inside
/// a `layers:` entry was silently ignored. Such a key is refused, naming it and the layer and
/// saying where it goes; at the top level the same key is taken.
#[test]
fn a_run_level_setting_inside_a_layer_entry_is_refused_naming_the_key_and_the_layer() {
    let dir = temp();
    tree_in(dir.path());
    let layers = "layers:\n  - {layer-name: a, path: build, zip-path: a.zip}\n  - {layer-name: b, path: build, zip-path: b.zip, comment: false}\n";
    fs::write(dir.path().join("layerpub.yml"), layers).unwrap();
    let r = layerpub(dir.path(), &["package"], &[]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr.contains(
            "comment (layer `b`): belongs to the whole run, not to one layer; move `comment:` to the top level of layerpub.yml (above `layers:`), or give it as --comment or LAYERPUB_COMMENT"
        ),
        "{}",
        r.stderr
    );
    assert!(!dir.path().join("a.zip").exists() && !dir.path().join("b.zip").exists());

    let top_level = layers.replace(", comment: false", "");
    fs::write(
        dir.path().join("layerpub.yml"),
        format!("comment: false\n{top_level}"),
    )
    .unwrap();
    layerpub(dir.path(), &["package"], &[]).assert_ok();
}

/// A lock file of tens of megabytes is already unusual: a manifest over 16 MiB is refused
/// from its size, before it is read (sparse, so it takes no disk).
#[test]
fn a_manifest_over_the_size_cap_is_refused_before_it_is_read() {
    let dir = temp();
    tree_in(dir.path());
    let f = fs::File::create(dir.path().join("huge.lock")).unwrap();
    f.set_len((16 << 20) + 1).unwrap();
    let r = layerpub(
        dir.path(),
        &[
            "fingerprint",
            "--layer-name",
            "d",
            "--path",
            "build",
            "--manifest",
            "huge.lock",
        ],
        &[],
    );
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr.contains(
            "manifest `huge.lock` is 16777217 bytes; layerpub reads at most 16777216 (16 MiB)"
        ),
        "{}",
        r.stderr
    );
}
