//! Several layers and regions in one run, end to end against moto: each README example named
//! here is run as written.

use crate::common;

use std::fs;

use common::moto::{Moto, moto, run};
use common::*;

const REGIONS: [&str; 2] = ["us-east-1", "eu-west-1"];

/// The results of a run with several targets, in order.
fn results(r: &Run) -> Vec<serde_json::Value> {
    r.json()["layers"]
        .as_array()
        .expect("several results")
        .clone()
}

fn versions_in(m: &Moto, region: &str, layer: &str) -> Vec<i64> {
    let v = m.aws_in(region, &["versions", layer]);
    let mut n: Vec<i64> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["version"].as_i64().unwrap())
        .collect();
    n.sort();
    n
}

/// The README's two-layers-in-two-regions project, with its buckets in `bucket_regions`.
fn two_by_two(m: &Moto, bucket_regions: &[&str]) -> tempfile::TempDir {
    for r in bucket_regions {
        m.aws_in(r, &["create-bucket", &format!("my-layers-{r}")]);
    }
    let dir = temp();
    let d = dir.path();
    write_file(d, "build/py/requests/__init__.py", b"print('r')\n", 0o644);
    write_file(d, "build/tools/bin/jq", b"#!/bin/sh\n", 0o755);
    fs::write(d.join("requirements.txt"), "requests==2.32.3\n").unwrap();
    fs::write(
        d.join("layerpub.yml"),
        readme_example("several-layers-and-regions"),
    )
    .unwrap();
    dir
}

fn summary(results: &[serde_json::Value]) -> Vec<(String, String, bool, i64)> {
    results
        .iter()
        .map(|r| {
            (
                r["layer_name"].as_str().unwrap().to_owned(),
                r["region"].as_str().unwrap().to_owned(),
                r["published"].as_bool().unwrap(),
                r["layer_version"].as_i64().unwrap_or(0),
            )
        })
        .collect()
}

fn row(layer: &str, region: &str, published: bool, version: i64) -> (String, String, bool, i64) {
    (layer.into(), region.into(), published, version)
}

#[test]
fn two_layers_in_two_regions_publish_four_versions_then_none() {
    let m = moto();
    let dir = two_by_two(&m, &REGIONS);

    let first = run(&m, dir.path(), &[]);
    first.assert_ok();
    assert_eq!(
        summary(&results(&first)),
        [
            row("py-deps", "us-east-1", true, 1),
            row("py-deps", "eu-west-1", true, 1),
            row("tools", "us-east-1", true, 1),
            row("tools", "eu-west-1", true, 1),
        ]
    );
    for region in REGIONS {
        for layer in ["py-deps", "tools"] {
            assert_eq!(versions_in(&m, region, layer), [1], "{layer} in {region}");
        }
        // Each region's zip went to that region's bucket, nowhere else.
        let keys: Vec<String> =
            serde_json::from_value(m.aws_in(region, &["keys", &format!("my-layers-{region}")]))
                .unwrap();
        assert_eq!(
            keys.iter().filter(|k| k.ends_with(".zip")).count(),
            2,
            "{keys:?}"
        );
    }
    let arns = results(&first);
    assert_eq!(
        arns[1]["layer_version_arn"],
        "arn:aws:lambda:eu-west-1:123456789012:layer:py-deps:1"
    );
    // Packaged once per layer: both regions carry the same zip.
    assert_eq!(arns[0]["code_sha256"], arns[1]["code_sha256"]);

    let again = run(&m, dir.path(), &[]);
    again.assert_ok();
    assert_eq!(
        summary(&results(&again)),
        [
            row("py-deps", "us-east-1", false, 1),
            row("py-deps", "eu-west-1", false, 1),
            row("tools", "us-east-1", false, 1),
            row("tools", "eu-west-1", false, 1),
        ]
    );
    for region in REGIONS {
        assert_eq!(versions_in(&m, region, "py-deps"), [1]);
    }
}

#[test]
fn a_missing_bucket_fails_only_its_region_and_a_rerun_publishes_only_there() {
    let m = moto();
    let dir = two_by_two(&m, &["us-east-1"]);

    let first = run(&m, dir.path(), &[]);
    assert_eq!(first.code, 1, "partial failure exits 1: {}", first.stderr);
    let rs = results(&first);
    assert_eq!(
        summary(&rs)
            .iter()
            .map(|(l, r, p, _)| (l.as_str(), r.as_str(), *p))
            .collect::<Vec<_>>(),
        [
            ("py-deps", "us-east-1", true),
            ("py-deps", "eu-west-1", false),
            ("tools", "us-east-1", true),
            ("tools", "eu-west-1", false),
        ]
    );
    for r in &rs {
        let failed = r["region"] == "eu-west-1";
        assert_eq!(r["error"].is_string(), failed, "{r}");
        if failed {
            let e = r["error"].as_str().unwrap();
            assert!(
                e.contains("my-layers-eu-west-1") || e.contains("NoSuchBucket"),
                "{e}"
            );
        }
    }
    assert!(
        first.stderr.contains("2 of 4 layer publishes failed"),
        "{}",
        first.stderr
    );
    assert!(
        first.stderr.contains("py-deps in eu-west-1"),
        "{}",
        first.stderr
    );
    assert_eq!(versions_in(&m, "eu-west-1", "py-deps"), Vec::<i64>::new());

    m.aws_in("eu-west-1", &["create-bucket", "my-layers-eu-west-1"]);
    let again = run(&m, dir.path(), &[]);
    again.assert_ok();
    assert_eq!(
        summary(&results(&again)),
        [
            row("py-deps", "us-east-1", false, 1),
            row("py-deps", "eu-west-1", true, 1),
            row("tools", "us-east-1", false, 1),
            row("tools", "eu-west-1", true, 1),
        ]
    );
    assert_eq!(versions_in(&m, "us-east-1", "tools"), [1]);
}

#[test]
fn inline_uploads_publish_in_every_region_without_a_bucket() {
    let m = moto();
    let dir = temp();
    write_file(dir.path(), "lib/a.py", b"a = 1\n", 0o644);
    let r = run(
        &m,
        dir.path(),
        &[
            "--layer-name",
            "small",
            "--path",
            "lib",
            "--regions",
            "us-east-1,eu-west-1",
        ],
    );
    r.assert_ok();
    assert_eq!(
        summary(&results(&r)),
        [
            row("small", "us-east-1", true, 1),
            row("small", "eu-west-1", true, 1)
        ]
    );
}

#[test]
fn one_layer_per_architecture_publishes_one_name_each_with_its_own_fingerprint() {
    let m = moto();
    let dir = temp();
    let d = dir.path();
    write_file(d, "build/arm64/lib/native.so", b"arm64 code", 0o755);
    write_file(d, "build/x86_64/lib/native.so", b"x86_64 code", 0o755);
    fs::write(d.join("layerpub.yml"), readme_example("per-architecture")).unwrap();

    let first = run(&m, d, &[]);
    first.assert_ok();
    let rs = results(&first);
    assert_eq!(
        summary(&rs),
        [
            row("native-deps-arm64", "us-east-1", true, 1),
            row("native-deps-x86_64", "us-east-1", true, 1)
        ]
    );
    assert_ne!(rs[0]["fingerprint"], rs[1]["fingerprint"]);
    assert_eq!(versions_in(&m, "us-east-1", "native-deps-arm64"), [1]);

    // A new arm64 build publishes arm64 only.
    write_file(d, "build/arm64/lib/native.so", b"arm64 code v2", 0o755);
    let second = run(&m, d, &[]);
    second.assert_ok();
    assert_eq!(
        summary(&results(&second)),
        [
            row("native-deps-arm64", "us-east-1", true, 2),
            row("native-deps-x86_64", "us-east-1", false, 1)
        ]
    );
}

#[test]
fn a_packaging_mistake_in_one_layer_publishes_nothing_anywhere() {
    let m = moto();
    let dir = two_by_two(&m, &REGIONS);
    // A link out of the tools folder: packaging refuses it, before any upload.
    std::os::unix::fs::symlink("/etc/passwd", dir.path().join("build/tools/bin/passwd")).unwrap();
    let r = run(&m, dir.path(), &[]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("passwd"), "{}", r.stderr);
    for region in REGIONS {
        assert_eq!(versions_in(&m, region, "py-deps"), Vec::<i64>::new());
        let keys: Vec<String> =
            serde_json::from_value(m.aws_in(region, &["keys", &format!("my-layers-{region}")]))
                .unwrap();
        assert_eq!(keys, Vec::<String>::new(), "nothing uploaded in {region}");
    }
}

#[test]
fn github_outputs_give_every_version_arn_by_layer_and_region() {
    let m = moto();
    let dir = two_by_two(&m, &REGIONS);
    let out = dir.path().join("github_output");
    let env = m.env();
    let mut env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let out_str = path_str(&out);
    env.push(("GITHUB_OUTPUT", &out_str));
    layerpub(dir.path(), &[], &env).assert_ok();
    let outputs = parse_github_output(&fs::read_to_string(&out).unwrap());
    let value = |name: &str| outputs[name].clone();
    assert_eq!(value("published"), "true");
    let arns: serde_json::Value = serde_json::from_str(&value("layer-version-arns")).unwrap();
    assert_eq!(
        arns["tools"]["eu-west-1"],
        "arn:aws:lambda:eu-west-1:123456789012:layer:tools:1"
    );
    assert_eq!(arns["py-deps"].as_object().unwrap().len(), 2);
    assert!(
        !outputs.contains_key("layer-version-arn"),
        "no single-layer outputs with several"
    );
}
