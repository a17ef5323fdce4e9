//! `layerpub publish` end to end: the real binary against a real moto_server.
//!
//! moto 5.2 gaps these tests must not mistake for correctness: it verifies no checksum, takes a
//! missing S3 key as an empty layer, ignores `MaxItems`, validates no names or limits, and
//! answers `GetLayerVersionByArn` with a 500. So every check reads back through boto3 what
//! layerpub claims (versions, `CodeSha256`, objects), rather than trusting its report.

use crate::common;

use std::fs;
use std::path::Path;
use std::process::{Command, Stdio};

use common::moto::{Moto, moto, run};
use common::*;

const BUCKET: &str = "layers";

/// A project folder: a site-packages tree, a lock file, and a layerpub.yml.
fn project(dir: &Path, extra_yaml: &str) {
    write_file(
        dir,
        "site-packages/requests/__init__.py",
        b"print('requests')\n",
        0o644,
    );
    fs::write(dir.join("requirements.txt"), "requests==2.32.3\n").unwrap();
    fs::write(
        dir.join("layerpub.yml"),
        format!(
            "layer-name: deps\npath: site-packages\nprefix: python\nmanifest: requirements.txt\ncompatible-runtimes: [python3.12]\ndescription: Shared deps\n{extra_yaml}"
        ),
    )
    .unwrap();
}

/// A clean emulator with the bucket, and a project that uploads to it (plus `extra_yaml`).
fn bucket_project(extra_yaml: &str) -> (common::moto::MotoGuard, tempfile::TempDir) {
    let m = moto();
    m.aws(&["create-bucket", BUCKET]);
    let dir = temp();
    project(dir.path(), &format!("s3-bucket: {BUCKET}\n{extra_yaml}"));
    (m, dir)
}

/// The binary started in `dir` against the emulator (not waited for), its output piped.
fn spawn(m: &Moto, dir: &Path, args: &[&str], extra: &[(&str, &str)]) -> std::process::Child {
    layerpub_cmd()
        .args(args)
        .current_dir(dir)
        .moto(m)
        .envs(extra.iter().copied())
        .spawn(Stdio::piped(), Stdio::piped())
}

fn publish(m: &Moto, dir: &Path) -> serde_json::Value {
    run(m, dir, &[]).assert_ok().layer()
}

#[test]
fn first_run_publishes_version_1_and_a_rerun_publishes_nothing() {
    let (m, dir) = bucket_project("");

    let first = publish(&m, dir.path());
    assert_eq!(first["published"], true);
    assert_eq!(first["layer_version"], 1);
    assert_eq!(first["reason"], "first_version");
    assert_eq!(first["previous_version"], serde_json::Value::Null);
    assert_eq!(first["region"], "us-east-1");
    assert_eq!(
        first["layer_version_arn"],
        "arn:aws:lambda:us-east-1:123456789012:layer:deps:1"
    );
    assert_eq!(
        first["layer_arn"],
        "arn:aws:lambda:us-east-1:123456789012:layer:deps"
    );

    // What Lambda holds is exactly this zip, described with the user's text and the marker.
    let versions = m.versions("deps");
    assert_eq!(versions.len(), 1);
    let fp = first["fingerprint"].as_str().unwrap();
    assert_eq!(
        versions[0]["description"],
        format!("Shared deps layerpub:sha256:{fp}")
    );
    assert_eq!(m.aws(&["code-sha256", "deps", "1"]), first["code_sha256"]);

    // The zip is addressed by content, with the fingerprint document beside it.
    let zip_sha = format!(
        "{:x}",
        <sha2::Sha256 as sha2::Digest>::digest(fs::read(dir.path().join("deps.zip")).unwrap())
    );
    let zip_key = format!("layerpub/deps/{zip_sha}.zip");
    assert_eq!(first["s3_uri"], format!("s3://{BUCKET}/{zip_key}"));
    assert_eq!(
        m.keys(BUCKET),
        [
            format!("layerpub/deps/{zip_sha}.manifest.json"),
            zip_key.clone()
        ]
    );
    assert_eq!(m.aws(&["checksum", BUCKET, &zip_key]), first["code_sha256"]);
    let doc: serde_json::Value = serde_json::from_str(
        m.aws(&[
            "get",
            BUCKET,
            &format!("layerpub/deps/{zip_sha}.manifest.json"),
        ])
        .as_str()
        .unwrap(),
    )
    .unwrap();
    assert_eq!(doc["source"]["files"][0]["text"], "requests==2.32.3\n");

    let again = run(&m, dir.path(), &[]);
    let again_json = again.assert_ok().layer();
    assert_eq!(again_json["published"], false);
    assert_eq!(again_json["reason"], "unchanged");
    assert_eq!(again_json["layer_version"], 1);
    assert_eq!(again_json["layer_version_arn"], first["layer_version_arn"]);
    assert!(
        again.stderr.contains("deps unchanged: version 1 stands"),
        "{}",
        again.stderr
    );
    assert_eq!(m.versions("deps").len(), 1);
}

#[test]
fn a_changed_lock_file_publishes_version_2_and_a_crlf_checkout_does_not() {
    let (m, dir) = bucket_project("");
    publish(&m, dir.path());

    fs::write(dir.path().join("requirements.txt"), "requests==2.32.3\r\n").unwrap();
    assert_eq!(publish(&m, dir.path())["published"], false);

    fs::write(dir.path().join("requirements.txt"), "requests==2.32.4\n").unwrap();
    let r = publish(&m, dir.path());
    assert_eq!(r["published"], true);
    assert_eq!(r["layer_version"], 2);
    assert_eq!(r["previous_version"], 1);
    assert_eq!(r["reason"], "manifest_changed");
    assert_eq!(m.versions("deps").len(), 2);
}

#[test]
fn a_changed_setting_publishes_and_says_so() {
    let (m, dir) = bucket_project("");
    publish(&m, dir.path());
    let r = run(
        &m,
        dir.path(),
        &["--compatible-runtimes", "python3.12,python3.13"],
    )
    .assert_ok()
    .layer();
    assert_eq!(r["published"], true);
    assert_eq!(r["reason"], "settings_changed");
    // The description alone is not a reason to publish.
    let r = run(
        &m,
        dir.path(),
        &[
            "--compatible-runtimes",
            "python3.12,python3.13",
            "--description",
            "new words",
        ],
    )
    .assert_ok()
    .layer();
    assert_eq!(r["published"], false);
}

#[test]
fn without_a_manifest_a_changed_file_in_path_publishes() {
    let m = moto();
    let dir = temp();
    write_file(dir.path(), "layer/bin/tool", b"#!/bin/sh\necho 1\n", 0o755);
    let args = ["--layer-name", "tools", "--path", "layer"];
    let first = run(&m, dir.path(), &args).assert_ok().layer();
    assert_eq!(first["layer_version"], 1);
    assert_eq!(
        run(&m, dir.path(), &args).assert_ok().layer()["published"],
        false
    );
    write_file(dir.path(), "layer/bin/tool", b"#!/bin/sh\necho 2\n", 0o755);
    let r = run(&m, dir.path(), &args).assert_ok().layer();
    assert_eq!(r["published"], true);
    assert_eq!(r["layer_version"], 2);
    assert_eq!(
        r["reason"], "fingerprint_changed",
        "inline mode keeps no previous document"
    );
}

#[test]
fn inline_mode_publishes_without_a_bucket() {
    let m = moto();
    let dir = temp();
    project(dir.path(), "");
    let r = publish(&m, dir.path());
    assert_eq!(r["published"], true);
    assert_eq!(r["s3_uri"], serde_json::Value::Null);
    assert_eq!(m.aws(&["code-sha256", "deps", "1"]), r["code_sha256"]);
    assert_eq!(publish(&m, dir.path())["published"], false);
}

#[test]
fn force_publishes_an_unchanged_layer() {
    let m = moto();
    let dir = temp();
    project(dir.path(), "");
    publish(&m, dir.path());
    let r = run(&m, dir.path(), &["--force"]).assert_ok().layer();
    assert_eq!(
        (
            r["published"].as_bool(),
            r["reason"].as_str(),
            r["layer_version"].as_i64()
        ),
        (Some(true), Some("forced"), Some(2))
    );
}

#[test]
fn plan_and_dry_run_publish_nothing_and_write_nothing() {
    let (m, dir) = bucket_project("");
    for args in [&["plan"][..], &["publish", "--dry-run"][..]] {
        let r = run(&m, dir.path(), args);
        let j = r.assert_ok().layer();
        assert_eq!(j["published"], false);
        assert_eq!(j["dry_run"], true);
        assert_eq!(j["reason"], "first_version");
        assert!(
            r.stderr
                .contains("plan: deps would publish a new version (first version)"),
            "{}",
            r.stderr
        );
    }
    assert!(m.versions("deps").is_empty());
    assert!(m.keys(BUCKET).is_empty());
    assert!(
        !dir.path().join("deps.zip").exists(),
        "a plan does not even package"
    );
}

#[test]
fn a_version_published_by_another_tool_counts_as_changed() {
    let m = moto();
    let dir = temp();
    project(dir.path(), "");
    write_file(dir.path(), "foreign/x.txt", b"x", 0o644);
    run(
        &m,
        dir.path(),
        &[
            "package",
            "--layer-name",
            "other",
            "--path",
            "foreign",
            "--zip-path",
            "foreign.zip",
        ],
    )
    .assert_ok();
    m.aws(&[
        "publish-foreign",
        "deps",
        &path_str(&dir.path().join("foreign.zip")),
    ]);
    let r = run(&m, dir.path(), &[]);
    let j = r.assert_ok().layer();
    assert_eq!(j["published"], true);
    assert_eq!(j["reason"], "no_marker");
    assert!(
        r.stderr
            .contains("warning: version 1 of deps in us-east-1 has no layerpub marker"),
        "{}",
        r.stderr
    );
}

#[test]
fn two_concurrent_runs_publish_one_version() {
    let (m, dir) = bucket_project("");
    let run = |zip: &str| {
        spawn(
            &m,
            dir.path(),
            &["--output", "json", "--zip-path", zip],
            &[],
        )
    };
    let (a, b) = (run("a.zip"), run("b.zip"));
    let results: Vec<serde_json::Value> = [a, b]
        .into_iter()
        .map(|c| {
            let out = c.wait_with_output().unwrap();
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            let doc = serde_json::from_slice(&out.stdout).unwrap();
            schema::assert_valid_result(&doc);
            doc["layers"][0].clone()
        })
        .collect();
    assert_eq!(
        m.versions("deps").len(),
        1,
        "exactly one version: {results:?}"
    );
    let published: Vec<bool> = results
        .iter()
        .map(|r| r["published"].as_bool().unwrap())
        .collect();
    assert_eq!(published.iter().filter(|p| **p).count(), 1, "{results:?}");
    for r in &results {
        assert_eq!(r["layer_version"], 1);
    }
    assert!(
        m.keys(BUCKET).iter().all(|k| !k.contains("/claims/")),
        "claims released"
    );
}

#[test]
fn a_stale_claim_from_a_dead_run_is_taken_over() {
    let (m, dir) = bucket_project("claim-timeout: 1\n");
    let fp = run(&m, dir.path(), &["fingerprint"]).assert_ok().layer()["fingerprint"]
        .as_str()
        .unwrap()
        .to_owned();
    m.aws(&[
        "put",
        BUCKET,
        &format!("layerpub/deps/claims/{fp}.claim"),
        "{\"pid\": 1}",
    ]);
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let r = publish(&m, dir.path());
    assert_eq!(r["published"], true);
    assert_eq!(m.versions("deps").len(), 1);
    assert!(m.keys(BUCKET).iter().all(|k| !k.contains("/claims/")));
}

#[test]
fn a_failed_publish_is_rerun_into_exactly_one_version() {
    let m = moto();
    let dir = temp();
    project(dir.path(), &format!("s3-bucket: {BUCKET}\n"));
    // The bucket does not exist yet: the run fails before publishing anything.
    let failed = run(&m, dir.path(), &[]);
    assert_eq!(failed.code, 2, "{}", failed.stderr);
    assert!(failed.stderr.contains("NoSuchBucket"), "{}", failed.stderr);
    assert!(
        failed
            .stderr
            .contains("create the bucket (in the layer's region) or fix s3-bucket"),
        "{}",
        failed.stderr
    );
    assert!(m.versions("deps").is_empty());

    m.aws(&["create-bucket", BUCKET]);
    assert_eq!(publish(&m, dir.path())["layer_version"], 1);
    assert_eq!(publish(&m, dir.path())["published"], false);
    assert_eq!(m.versions("deps").len(), 1);
}

#[test]
fn a_large_zip_goes_up_in_parts_and_is_verified() {
    let (m, dir) = bucket_project("");
    write_file(
        dir.path(),
        "site-packages/model.bin",
        &noise(20 << 20, 3),
        0o644,
    );
    let r = publish(&m, dir.path());
    assert_eq!(r["published"], true);
    assert!(r["code_size"].as_u64().unwrap() > 16 << 20);
    assert_eq!(m.aws(&["code-sha256", "deps", "1"]), r["code_sha256"]);
    assert!(
        m.aws(&["uploads", BUCKET]).as_array().unwrap().is_empty(),
        "no incomplete upload left"
    );
    // A re-run with the same content (forced) finds the object there and does not send it again.
    let mut env = m.env();
    env.push(("LAYERPUB_LOG", "info".into()));
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let again = layerpub(dir.path(), &["--output", "json", "--force"], &env);
    assert!(
        again
            .stderr
            .contains("already holds this zip; not sent again"),
        "{}",
        again.stderr
    );
    let again = again.assert_ok().layer();
    assert_eq!(again["s3_uri"], r["s3_uri"]);
    assert_eq!(again["code_sha256"], r["code_sha256"]);
    assert_eq!(again["layer_version"], 2);
}

#[test]
fn over_50_mb_without_a_bucket_is_refused_with_the_fix() {
    let m = moto();
    let dir = temp();
    project(dir.path(), "");
    write_file(
        dir.path(),
        "site-packages/big.bin",
        &noise(51 << 20, 5),
        0o644,
    );
    let r = run(&m, dir.path(), &[]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr
            .contains("over the 52428800 bytes Lambda takes inline; set s3-bucket"),
        "{}",
        r.stderr
    );
    assert!(m.versions("deps").is_empty());
}

#[test]
fn missing_credentials_and_region_are_bad_input() {
    let m = moto();
    let dir = temp();
    project(dir.path(), "");
    let no_region = layerpub(
        dir.path(),
        &[],
        &[
            ("AWS_ACCESS_KEY_ID", "x"),
            ("AWS_SECRET_ACCESS_KEY", "y"),
            ("AWS_ENDPOINT_URL", &m.endpoint),
        ],
    );
    assert_eq!(no_region.code, 2, "{}", no_region.stderr);
    assert!(
        no_region.stderr.contains("region: not set"),
        "{}",
        no_region.stderr
    );
    let no_creds = layerpub(
        dir.path(),
        &[],
        &[
            ("AWS_REGION", "us-east-1"),
            ("AWS_ENDPOINT_URL", &m.endpoint),
            ("AWS_EC2_METADATA_DISABLED", "true"),
        ],
    );
    assert_eq!(no_creds.code, 2, "{}", no_creds.stderr);
    assert!(
        no_creds.stderr.contains("no AWS credentials found"),
        "{}",
        no_creds.stderr
    );
}

#[test]
fn in_a_gitlab_merge_request_pipeline_it_writes_the_dotenv_report_and_the_note() {
    use wiremock::matchers::{header, method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};

    let m = moto();
    let dir = temp();
    project(dir.path(), "dotenv-file: layerpub.env\n");
    let rt = tokio::runtime::Runtime::new().unwrap();
    let gitlab = rt.block_on(MockServer::start());
    let notes = "/api/v4/projects/5/merge_requests/3/notes";
    let ours = |p: &'static str, verb: &'static str| {
        Mock::given(method(verb))
            .and(path(p))
            .and(header("PRIVATE-TOKEN", "glpat-test"))
    };
    rt.block_on(
        ours("/api/v4/user", "GET")
            .respond_with(
                ResponseTemplate::new(200)
                    .set_body_json(serde_json::json!({"id": 9, "username": "layer-bot"})),
            )
            .mount(&gitlab),
    );
    rt.block_on(
        ours(notes, "GET")
            .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!([])))
            .expect(1)
            .mount(&gitlab),
    );
    rt.block_on(
        ours(notes, "POST")
            .respond_with(
                ResponseTemplate::new(201).set_body_json(serde_json::json!({"id": 77, "body": ""})),
            )
            .expect(1)
            .mount(&gitlab),
    );

    let mut env = m.env();
    env.extend([
        ("GITLAB_CI", "true".to_owned()),
        ("CI_API_V4_URL", format!("{}/api/v4", gitlab.uri())),
        ("CI_PROJECT_ID", "5".to_owned()),
        ("CI_MERGE_REQUEST_IID", "3".to_owned()),
        ("GITLAB_TOKEN", "glpat-test".to_owned()),
        ("CI_JOB_TOKEN", "must-not-be-used".to_owned()),
    ]);
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let r = layerpub(dir.path(), &[], &env);
    r.assert_ok();
    assert!(
        r.stderr.contains("merge request note 77 created"),
        "{}",
        r.stderr
    );
    rt.block_on(gitlab.verify());
    let posted = rt.block_on(gitlab.received_requests()).unwrap();
    assert!(
        posted
            .iter()
            .all(|p| !String::from_utf8_lossy(&p.body).contains("must-not-be-used"))
    );

    let dotenv = fs::read_to_string(dir.path().join("layerpub.env")).unwrap();
    assert!(dotenv.contains("LAYERPUB_LAYER_VERSION=1\n"), "{dotenv}");
    assert!(dotenv.contains("LAYERPUB_PUBLISHED=true\n"), "{dotenv}");
    assert!(
        dotenv.contains(
            "LAYERPUB_LAYER_VERSION_ARN=arn:aws:lambda:us-east-1:123456789012:layer:deps:1\n"
        ),
        "{dotenv}"
    );
}

/// Issue 13: `dotenv-file` in the config file was taken from the working directory, unlike
/// every other relative path in the file (the README says all are relative to the file).
#[test]
fn a_dotenv_file_named_in_the_config_file_is_relative_to_the_files_folder() {
    let m = moto();
    let dir = temp();
    project(&dir.path().join("ci"), "dotenv-file: layerpub.env\n");
    let r = run(&m, dir.path(), &["--config", "ci/layerpub.yml"]);
    r.assert_ok();
    let dotenv = fs::read_to_string(dir.path().join("ci/layerpub.env")).unwrap();
    assert!(dotenv.contains("LAYERPUB_LAYER_VERSION=1\n"), "{dotenv}");
    assert!(
        !dir.path().join("layerpub.env").exists(),
        "not in the working directory"
    );
}

#[test]
fn trace_logging_never_prints_credentials() {
    let (m, dir) = bucket_project("");
    let (key, secret, session) = (
        "AKIAFAKEKEY123456789",
        "fakeSecretKey/abc+123",
        "FakeSessionTokenXYZ987",
    );
    let env = [
        ("AWS_ACCESS_KEY_ID", key),
        ("AWS_SECRET_ACCESS_KEY", secret),
        ("AWS_SESSION_TOKEN", session),
        ("AWS_REGION", "us-east-1"),
        ("AWS_ENDPOINT_URL", m.endpoint.as_str()),
        ("AWS_EC2_METADATA_DISABLED", "true"),
        ("LAYERPUB_LOG", "trace"),
    ];
    for args in [
        &["--output", "json"][..],
        &["--output", "json"][..],
        &["--force", "--output", "json"][..],
    ] {
        let r = layerpub(dir.path(), args, &env);
        r.assert_ok();
        for s in [key, secret, session] {
            assert!(
                !r.stdout.contains(s) && !r.stderr.contains(s),
                "{s} leaked:\n{}",
                r.stderr
            );
        }
    }
}

#[test]
fn sigterm_during_a_multipart_upload_aborts_it_releases_the_claim_and_exits_143() {
    use std::io::{BufRead, BufReader};

    let (m, dir) = bucket_project("");
    // Large and incompressible: a multipart upload of about 15 parts, long enough to interrupt.
    write_file(
        dir.path(),
        "site-packages/model.bin",
        &noise(120 << 20, 11),
        0o644,
    );
    let mut child = spawn(&m, dir.path(), &[], &[("LAYERPUB_LOG", "info")]);
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut log = String::new();
    loop {
        let mut line = String::new();
        assert!(
            stderr.read_line(&mut line).unwrap() > 0,
            "no upload started: {log}"
        );
        log.push_str(&line);
        if line.contains("uploading s3://") {
            break;
        }
    }
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut stderr, &mut rest).unwrap();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(143), "{log}{rest}");
    assert!(rest.contains("stopped by SIGTERM"), "{rest}");

    assert!(m.versions("deps").is_empty(), "nothing published");
    assert!(
        m.aws(&["uploads", BUCKET]).as_array().unwrap().is_empty(),
        "the multipart upload was aborted"
    );
    assert!(
        m.keys(BUCKET).iter().all(|k| !k.contains("/claims/")),
        "the claim was released"
    );

    // A re-run converges on exactly one version.
    assert_eq!(publish(&m, dir.path())["layer_version"], 1);
    assert_eq!(m.versions("deps").len(), 1);
}

/// The printed document with what depends on the zip's exact bytes (its hash, size and S3 key)
/// and on the temporary folder replaced by placeholders, so the snapshot pins the document's
/// shape, order and meaning, not the compressor's output.
fn masked(stdout: &str, doc: &serde_json::Value, dir: &Path) -> String {
    let item = &doc["layers"][0];
    let sha = item["code_sha256"].as_str().unwrap();
    let hex = item["s3_uri"].as_str().unwrap().rsplit('/').next().unwrap();
    stdout
        .replace(sha, "<code_sha256>")
        .replace(
            &format!("\"code_size\": {},", item["code_size"]),
            "\"code_size\": \"<code_size>\",",
        )
        .replace(hex.trim_end_matches(".zip"), "<zip-sha256-hex>")
        .replace(dir.to_str().unwrap(), "<dir>")
}

/// The whole `--output json` document of a publish with a bucket, a previous version and a
/// changed lock file (so `changes` is filled), against the committed
/// tests/snapshots/result.json: the contract users read, in one place.
#[test]
fn the_json_result_matches_its_snapshot() {
    let (m, dir) = bucket_project("");
    publish(&m, dir.path());
    fs::write(
        dir.path().join("requirements.txt"),
        "requests==2.32.4\nidna==3.7\n",
    )
    .unwrap();
    let r = run(&m, dir.path(), &[]);
    let doc = r.assert_ok().json();
    schema::assert_valid_result(&doc);
    schema::assert_snapshot("result.json", &masked(&r.stdout, &doc, dir.path()));
}

/// The schema can fail: documents that break the contract in one way each are refused, while
/// the valid document they are made from passes.
#[test]
fn the_result_schema_refuses_documents_that_break_the_contract() {
    let mut valid = schema::snapshot("result.json");
    // The snapshot's placeholders, as values of the right type and form.
    let item = &mut valid["layers"][0];
    item["code_sha256"] = "WLZSxnGTsHhPKSv8j9f1UBbWn628NfWBHtS+k15RpCs=".into();
    item["code_size"] = 2048.into();
    schema::assert_valid_result(&valid);

    let broken = |what: &str, change: &dyn Fn(&mut serde_json::Value)| {
        let mut doc = valid.clone();
        change(&mut doc);
        let errors = schema::schema_errors(schema::Schema::Result, &doc);
        assert!(!errors.is_empty(), "{what}: accepted\n{doc:#}");
    };
    broken("the old single-object shape", &|d| {
        *d = d["layers"][0].clone()
    });
    broken("no schema_version", &|d| {
        d.as_object_mut().unwrap().remove("schema_version");
    });
    broken("another schema_version", &|d| {
        d["schema_version"] = 2.into()
    });
    broken("no layers", &|d| d["layers"] = serde_json::json!([]));
    broken("an unknown key", &|d| {
        d["layers"][0]["publishd"] = true.into()
    });
    broken("a key missing", &|d| {
        d["layers"][0].as_object_mut().unwrap().remove("reason");
    });
    broken("an unknown reason", &|d| {
        d["layers"][0]["reason"] = "changed".into()
    });
    broken("an unknown status", &|d| {
        d["layers"][0]["status"] = "done".into()
    });
    broken("a number as text", &|d| {
        d["layers"][0]["layer_version"] = "2".into()
    });
    broken("published contradicting status", &|d| {
        d["layers"][0]["published"] = false.into()
    });
    broken("a failure without its error", &|d| {
        d["layers"][0]["status"] = "failed".into()
    });
    broken("an error on a success", &|d| {
        d["layers"][0]["error"] = "x".into()
    });
    broken("a fingerprint that is not SHA-256 hex", &|d| {
        d["layers"][0]["fingerprint"] = "abc".into()
    });
}
