//! Integrity (issue 12): what layerpub hashes is what it ships, every run converges, and
//! packaging ends on a signal. Each test is a case that broke before: the binary against a real
//! moto, or the library's upload against it where only the library can reach the moment
//! between packaging and uploading.
//!
//! With `LAYERPUB_REPORT_DIR` set, every case appends one JSON line to `integrity.jsonl` there
//! (rendered into docs/reliability.md by scripts/reliability.sh).

use crate::common;

use std::fs;
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::moto::{Moto, moto, run};
use common::*;
use layerpub::aws::s3_store::{self, ZipFile};
use layerpub::config;
use layerpub::config::settings::Settings;
use layerpub::domain::interrupt::Interrupt;
use layerpub::package::{PackageOptions, package};
use serde_json::json;

const BUCKET: &str = "layers";

/// One line of the reliability report: the case, what a user would have seen before, and
/// whether it now holds (a failing assertion panics before this is written).
fn report(case: &str, before: &str, now: &str) {
    let row = json!({"case": case, "before": before, "now": now, "passed": true});
    report_row("integrity.jsonl", &row);
}

/// Names of the entries of a zip, as Python's zipfile reads them.
fn names(zip: &Path) -> Vec<String> {
    python_entries(zip)
        .iter()
        .map(|e| e["name"].as_str().unwrap().to_owned())
        .collect()
}

/// A project whose layer is the working directory itself (`path: .`) with the default
/// zip-path (`deps.zip`, in that same folder).
fn dot_project(dir: &Path, manifest: bool) {
    write_file(dir, "python/six.py", b"six = 1\n", 0o644);
    let mut yaml =
        "layer-name: deps\npath: .\ncompatible-runtimes: [python3.12]\nexclude: [layerpub.yml]\n"
            .to_owned();
    if manifest {
        fs::write(dir.join("requirements.txt"), "six==1.16.0\n").unwrap();
        yaml += "manifest: requirements.txt\n";
    }
    fs::write(dir.join("layerpub.yml"), yaml).unwrap();
}

#[test]
fn path_dot_with_the_default_zip_path_converges_and_never_packages_its_own_zip() {
    let m = moto();
    let dir = temp();
    dot_project(dir.path(), false);
    let first = run(&m, dir.path(), &[]).assert_ok().layer();
    assert_eq!(first["published"], true);
    let zip = dir.path().join("deps.zip");
    assert!(zip.exists());
    assert_eq!(names(&zip), ["python/six.py"]);
    // The zip now sits in path: it must not count as a change, nor be packaged.
    let second = run(&m, dir.path(), &[]).assert_ok().layer();
    assert_eq!(second["published"], false, "{second}");
    assert_eq!(second["reason"], "unchanged");
    let forced = run(&m, dir.path(), &["--force"]).assert_ok().layer();
    assert_eq!(forced["published"], true);
    assert_eq!(
        names(&zip),
        ["python/six.py"],
        "the previous zip is not inside"
    );
    assert_eq!(m.versions("deps").len(), 2, "one first publish, one forced");
    report(
        "path `.` with the default zip-path",
        "every run published a new version holding the previous zip",
        "the zip and its temporary files are never packaged; a re-run is unchanged",
    );
}

#[test]
fn a_zip_reached_again_through_a_link_is_found_by_identity() {
    let dir = temp();
    dot_project(dir.path(), true);
    fs::create_dir(dir.path().join("out")).unwrap();
    // `alias/deps.zip` is `out/deps.zip` under another name.
    std::os::unix::fs::symlink("out", dir.path().join("alias")).unwrap();
    let env = [("LAYERPUB_SYMLINKS", "follow")];
    let args = ["package", "--zip-path", "out/deps.zip"];
    layerpub(dir.path(), &args, &env).assert_ok();
    let zip = dir.path().join("out/deps.zip");
    assert_eq!(names(&zip), ["python/six.py", "requirements.txt"]);
    // Packaged again with the zip present, reachable as out/deps.zip and alias/deps.zip.
    layerpub(dir.path(), &args, &env).assert_ok();
    assert_eq!(names(&zip), ["python/six.py", "requirements.txt"]);
}

#[test]
fn a_temporary_zip_left_by_a_killed_run_is_removed_and_never_packaged() {
    let dir = temp();
    dot_project(dir.path(), true);
    // A pid above the kernel's maximum (4194304) cannot be running.
    let stale = dir.path().join(".layerpub-4999999-AbCdEf.zip.tmp");
    fs::write(&stale, b"half a zip").unwrap();
    // Someone else's file that merely looks alike (no pid) is left alone.
    let other = dir.path().join(".layerpub-notes.zip.tmp");
    fs::write(&other, b"mine").unwrap();
    layerpub(dir.path(), &["package"], &[]).assert_ok();
    assert!(!stale.exists(), "the leftover of a dead run is removed");
    assert!(other.exists());
    let zip = dir.path().join("deps.zip");
    assert_eq!(names(&zip), ["python/six.py", "requirements.txt"]);
    report(
        "a run killed (SIGKILL) while packaging",
        "left a `.tmp…` file beside the zip forever, packaged by `path: .`",
        "temporary zips are named `.layerpub-PID-….zip.tmp`, never packaged, removed by the next run once PID is gone",
    );
}

/// An S3 client built as a run builds it, with the emulator's fake credentials given directly:
/// the test process's environment stays untouched (tests run on several threads).
fn s3_client(m: &Moto) -> (tokio::runtime::Runtime, aws_sdk_s3::Client) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let c = rt
        .block_on(layerpub::aws::clients(
            Some("us-east-1"),
            Some(&m.endpoint),
            &layerpub::aws::ClientOptions::default(),
        ))
        .unwrap();
    let config =
        c.s3.config()
            .to_builder()
            .credentials_provider(aws_sdk_s3::config::Credentials::new(
                "testing", "testing", None, None, "tests",
            ))
            .build();
    (rt, aws_sdk_s3::Client::from_conf(config))
}

/// Packages the folder `dir/<name>` into `zip`.
fn package_layer(dir: &Path, name: &str, zip: &Path) -> layerpub::package::Packaged {
    let flags = Settings {
        layer_name: Some(name.into()),
        path: Some(dir.join(name)),
        zip_path: Some(zip.to_path_buf()),
        ..Settings::default()
    };
    let layer = config::resolve(None, Settings::default(), flags)
        .unwrap()
        .layers
        .remove(0);
    package(&layer, &PackageOptions::default()).unwrap()
}

#[test]
fn the_upload_sends_the_packaged_bytes_even_after_another_layer_replaced_the_zip_path() {
    let m = moto();
    m.aws(&["create-bucket", BUCKET]);
    let dir = temp();
    write_file(dir.path(), "alpha/python/alpha.py", b"alpha\n", 0o644);
    write_file(dir.path(), "beta/python/beta.py", b"beta\n", 0o644);
    std::os::unix::fs::symlink(".", dir.path().join("lnk")).unwrap();
    // Two layers whose zip-paths are one file: beta's packaging replaces alpha's zip on disk.
    let alpha = package_layer(dir.path(), "alpha", &dir.path().join("same.zip"));
    let beta = package_layer(dir.path(), "beta", &dir.path().join("lnk/same.zip"));
    assert_ne!(alpha.sha256, beta.sha256);
    let (rt, s3) = s3_client(&m);
    let key = "alpha.zip";
    rt.block_on(s3_store::upload_zip(
        &s3,
        BUCKET,
        key,
        ZipFile::from(&alpha),
        &Interrupt::never(),
    ))
    .unwrap();
    let stored = m.aws(&["checksum", BUCKET, key]);
    let alpha_b64 = layerpub::domain::outcome::code_sha256(&alpha.sha256);
    assert_eq!(stored, alpha_b64, "S3 holds alpha's bytes, not beta's");
    report(
        "two layers whose zip-paths are one file through a link",
        "alpha's version held beta's bytes; the re-run said unchanged",
        "the upload reads the zip through the handle it was written with, checked against its hash before sending",
    );
}

#[test]
fn a_zip_rewritten_in_place_after_packaging_is_refused_before_anything_is_uploaded() {
    let m = moto();
    m.aws(&["create-bucket", BUCKET]);
    let dir = temp();
    write_file(dir.path(), "small/python/a.py", b"print('a')\n", 0o644);
    // Over the multipart threshold, stored: the parts are read again to be sent.
    write_file(
        dir.path(),
        "large/python/blob.bin",
        &noise(17 << 20, 7),
        0o644,
    );
    let (rt, s3) = s3_client(&m);
    for name in ["small", "large"] {
        let packaged = package_layer(dir.path(), name, &dir.path().join(format!("{name}.zip")));
        // The same size, other bytes, in the last part.
        let f = fs::OpenOptions::new()
            .write(true)
            .open(&packaged.zip_path)
            .unwrap();
        f.write_all_at(b"XX", packaged.code_size - 30).unwrap();
        let key = format!("{name}.zip");
        let err = rt
            .block_on(s3_store::upload_zip(
                &s3,
                BUCKET,
                &key,
                ZipFile::from(&packaged),
                &Interrupt::never(),
            ))
            .unwrap_err();
        assert!(
            err.to_string()
                .contains("changed after layerpub packaged it"),
            "{err}"
        );
        assert_eq!(err.exit_code(), 2);
    }
    assert!(m.keys(BUCKET).is_empty(), "nothing uploaded");
    assert_eq!(
        m.aws(&["uploads", BUCKET]),
        json!([]),
        "no multipart upload left"
    );
    report(
        "the zip rewritten in place between packaging and upload (single PUT and multipart)",
        "uploaded as it was on disk; CodeSha256 compared only after PublishLayerVersion",
        "refused before the first byte is sent (exit 2): each PUT or part is checked against the packaged hash",
    );
}

#[test]
fn sigterm_while_packaging_exits_143_and_leaves_no_temporary_file() {
    let dir = temp();
    let layer = dir.path().join("layer");
    // Text that deflates slowly enough to be caught in the middle: ~200 MB of varied words.
    let mut words = Vec::with_capacity(1 << 20);
    let mut state = 7u32;
    while words.len() < 1 << 20 {
        state = state.wrapping_mul(1_103_515_245).wrapping_add(12_345);
        words.extend_from_slice(format!("w{} ", state >> 20).as_bytes());
    }
    fs::create_dir_all(layer.join("python")).unwrap();
    for i in 0..12 {
        let mut f = fs::File::create(layer.join(format!("python/data{i}.txt"))).unwrap();
        for _ in 0..16 {
            f.write_all(&words).unwrap();
        }
    }
    let mut child = layerpub_cmd()
        .args(["package", "--layer-name", "deps", "--path", "layer"])
        .current_dir(dir.path())
        .spawn(Stdio::null(), Stdio::piped());
    // Signal once the temporary zip exists: packaging has begun.
    let started = Instant::now();
    let temp_zip = || {
        fs::read_dir(dir.path())
            .unwrap()
            .flatten()
            .any(|e| e.file_name().as_bytes().starts_with(b".layerpub-"))
    };
    while !temp_zip() {
        assert!(started.elapsed() < Duration::from_secs(60), "never started");
        assert!(
            child.try_wait().unwrap().is_none(),
            "ended before packaging"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(143), "{stderr}");
    assert!(stderr.contains("SIGTERM"), "{stderr}");
    assert!(!temp_zip(), "the temporary zip is removed");
    assert!(!dir.path().join("deps.zip").exists(), "no zip appears");
    report(
        "SIGTERM while packaging",
        "swallowed until packaging ended (or the temporary zip was left behind)",
        "packaging stops between chunks: exit 143, temporary files removed",
    );
}

#[test]
fn a_name_that_is_not_utf8_can_be_excluded() {
    let dir = temp();
    write_file(dir.path(), "layer/python/ok.py", b"ok\n", 0o644);
    let bad = std::ffi::OsStr::from_bytes(b"caf\xe9.dat");
    fs::write(dir.path().join("layer/python").join(bad), b"x").unwrap();
    let base = ["package", "--layer-name", "deps", "--path", "layer"];
    let refused = layerpub(dir.path(), &base, &[]);
    assert_eq!(refused.code, 2, "{}", refused.stderr);
    assert!(refused.stderr.contains("not UTF-8"), "{}", refused.stderr);
    let mut args = base.to_vec();
    args.extend(["--exclude", "*.dat"]);
    layerpub(dir.path(), &args, &[]).assert_ok();
    assert_eq!(names(&dir.path().join("deps.zip")), ["python/ok.py"]);
    // A folder with such a name, excluded, is not even entered.
    let bad_dir = dir
        .path()
        .join("layer")
        .join(std::ffi::OsStr::from_bytes(b"d\xff"));
    fs::create_dir(&bad_dir).unwrap();
    fs::write(bad_dir.join("x.py"), b"x").unwrap();
    let mut args = base.to_vec();
    args.extend(["--exclude", "*.dat", "--exclude", "d?/"]);
    layerpub(dir.path(), &args, &[]).assert_ok();
    report(
        "a file whose name is not UTF-8, excluded by a glob",
        "refused with \"rename it or exclude it\" even though excluded",
        "globs match the name's bytes; only a packaged name must be UTF-8",
    );
}

#[test]
fn a_loop_of_links_is_called_a_loop() {
    let dir = temp();
    write_file(dir.path(), "layer/python/ok.py", b"ok\n", 0o644);
    let py = dir.path().join("layer/python");
    std::os::unix::fs::symlink("b", py.join("a")).unwrap();
    std::os::unix::fs::symlink("a", py.join("b")).unwrap();
    let r = layerpub(
        dir.path(),
        &["package", "--layer-name", "deps", "--path", "layer"],
        &[("LAYERPUB_SYMLINKS", "preserve")],
    );
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("loop of links"), "{}", r.stderr);
    assert!(!r.stderr.contains("does not exist"), "{}", r.stderr);
}

#[test]
fn a_prefix_too_long_for_a_zip_entry_is_named() {
    let dir = temp();
    write_file(dir.path(), "layer/ok.py", b"ok\n", 0o644);
    let prefix = "p".repeat(70_000);
    let r = layerpub(
        dir.path(),
        &["package", "--layer-name", "deps", "--path", "layer"],
        &[("LAYERPUB_PREFIX", &prefix)],
    );
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr.contains("prefix is 70000 bytes long"),
        "{}",
        &r.stderr[..300.min(r.stderr.len())]
    );
    assert!(!dir.path().join("deps.zip").exists());
}

#[test]
fn a_version_whose_code_sha256_is_not_the_packaged_zip_is_deleted_at_once() {
    use wiremock::matchers::{method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};
    let rt = tokio::runtime::Runtime::new().unwrap();
    // A Lambda that stores other bytes than it was sent (moto cannot be made to).
    let lambda = rt.block_on(MockServer::start());
    let arn = "arn:aws:lambda:us-east-1:123456789012:layer:deps";
    rt.block_on(async {
        Mock::given(method("GET"))
            .and(path("/2018-10-31/layers/deps/versions"))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({"LayerVersions": []})))
            .mount(&lambda)
            .await;
        Mock::given(method("POST"))
            .and(path("/2018-10-31/layers/deps/versions"))
            .respond_with(ResponseTemplate::new(201).set_body_json(json!({
                "Content": {"CodeSha256": "bm90IHRoZSB6aXA=", "CodeSize": 10},
                "LayerArn": arn,
                "LayerVersionArn": format!("{arn}:1"),
                "Version": 1,
                "Description": "x",
            })))
            .expect(1)
            .mount(&lambda)
            .await;
        Mock::given(method("DELETE"))
            .and(path("/2018-10-31/layers/deps/versions/1"))
            .respond_with(ResponseTemplate::new(204))
            .expect(1)
            .mount(&lambda)
            .await;
    });
    let dir = temp();
    write_file(dir.path(), "layer/python/a.py", b"a\n", 0o644);
    let r = layerpub(
        dir.path(),
        &["publish", "--layer-name", "deps", "--path", "layer"],
        &[
            ("AWS_ACCESS_KEY_ID", "testing"),
            ("AWS_SECRET_ACCESS_KEY", "testing"),
            ("AWS_REGION", "us-east-1"),
            ("AWS_ENDPOINT_URL", &lambda.uri()),
        ],
    );
    assert_ne!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stderr.contains("that version was deleted"),
        "{}",
        r.stderr
    );
    rt.block_on(lambda.verify());
    report(
        "Lambda reports another CodeSha256 than the packaged zip's",
        "the version stood, and every later run reported it unchanged",
        "the upload is verified before PublishLayerVersion; a version that still differs is deleted at once",
    );
}

#[test]
fn a_run_waiting_on_another_runs_claim_says_what_it_waits_for() {
    let m = moto();
    m.aws(&["create-bucket", BUCKET]);
    let dir = temp();
    dot_project(dir.path(), true);
    let yaml = dir.path().join("layerpub.yml");
    let mut text = fs::read_to_string(&yaml).unwrap();
    // The claim's age counts from its put below, in S3's whole seconds: 10 s leaves a loaded
    // machine (the suite runs 8 tests at a time) room to reach the claim before it is stale.
    text += &format!("s3-bucket: {BUCKET}\nclaim-timeout: 10\n");
    fs::write(&yaml, text).unwrap();
    let fp = run(&m, dir.path(), &["fingerprint"]).assert_ok().layer()["fingerprint"]
        .as_str()
        .unwrap()
        .to_owned();
    let claim = format!("layerpub/deps/claims/{fp}.claim");
    m.aws(&["put", BUCKET, &claim, "{\"pid\": 1}"]);
    let r = run(&m, dir.path(), &[]);
    r.assert_ok();
    assert!(
        r.stderr
            .contains("waiting for another run publishing deps with this fingerprint"),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr.contains("taken over once held 10s"),
        "{}",
        r.stderr
    );
    report(
        "a run waiting on another run's claim",
        "silent for up to claim-timeout seconds",
        "says what it waits for, at once and every 5 s",
    );
    assert_eq!(
        r.layer()["published"],
        true,
        "taken over after claim-timeout"
    );
}

#[test]
fn a_large_file_rewritten_while_packaging_never_gives_a_zip_with_a_bad_crc() {
    use std::sync::atomic::{AtomicBool, Ordering};
    let dir = temp();
    let blob = dir.path().join("layer/python/blob.bin");
    // Over 16 MiB and incompressible: stored, and copied from the file when written.
    let (a, b) = (noise(17 << 20, 1), noise(17 << 20, 2));
    write_file(dir.path(), "layer/python/blob.bin", &a, 0o644);
    write_file(dir.path(), "layer/python/small.py", b"x = 1\n", 0o644);
    let stop = AtomicBool::new(false);
    let mut outcomes = Vec::new();
    std::thread::scope(|s| {
        // Rewrites the file in place, at the same size, for as long as the runs last.
        s.spawn(|| {
            let f = fs::OpenOptions::new().write(true).open(&blob).unwrap();
            let mut flip = false;
            while !stop.load(Ordering::Relaxed) {
                f.write_all_at(if flip { &a } else { &b }, 0).unwrap();
                flip = !flip;
            }
        });
        for _ in 0..4 {
            outcomes.push(layerpub(
                dir.path(),
                &["package", "--layer-name", "deps", "--path", "layer"],
                &[],
            ));
            if outcomes.last().is_some_and(|r| r.code == 0) {
                // Checked outside the scope: a panic here would leave the writer running.
                fs::copy(
                    dir.path().join("deps.zip"),
                    dir.path().join(format!("run{}.zip", outcomes.len())),
                )
                .unwrap();
            }
        }
        stop.store(true, Ordering::Relaxed);
    });
    let mut refused = 0;
    for (i, r) in outcomes.iter().enumerate() {
        match r.code {
            0 => assert_unzip_ok(&dir.path().join(format!("run{}.zip", i + 1))),
            2 if r.stderr.contains("changed while layerpub was packaging it") => refused += 1,
            _ => panic!("exit {}: {}", r.code, r.stderr),
        }
    }
    report(
        "a stored file over 16 MiB rewritten in place, same size, while packaging",
        "exit 0 with a zip whose entry had a bad CRC, published and never repaired",
        &format!(
            "the copy's CRC-32 is checked against the read that hashed it: exit 2 \"changed while packaging\" ({refused} of 4 runs here), or a valid zip"
        ),
    );
}
