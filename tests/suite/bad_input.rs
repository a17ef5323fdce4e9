//! A catalogue of bad inputs, each run through the real binary against a real moto: every one
//! must end with exit code 2, a message that names the setting (or file, or variable) and says
//! the fix, and no write to AWS at all — no layer, no version, no S3 object, no multipart
//! upload, in either region. Cases that are only found while packaging (links, sizes) or while
//! reading AWS (a missing bucket, a bucket in another region, a missing function) included.
//!
//! With `LAYERPUB_REPORT_DIR` set, each case appends one JSON line to
//! `$LAYERPUB_REPORT_DIR/bad_input.jsonl` (rendered into docs/reliability.md by
//! scripts/reliability.sh).

use crate::common;

use std::fs;
use std::io::Write;
use std::path::Path;

use common::moto::{Moto, moto};
use common::*;
use serde_json::{Value, json};

const BUCKET: &str = "layers";
/// A bucket in eu-west-1, for the run that publishes in us-east-1.
const EU_BUCKET: &str = "layers-eu";

/// A valid project: a site-packages folder, a lock file and a layerpub.yml that would publish.
const BASE_YAML: &str = "layer-name: deps\npath: site-packages\nprefix: python\nmanifest: requirements.txt\ncompatible-runtimes: [python3.12]\ns3-bucket: layers\n";

type Prepare = Box<dyn Fn(&Path)>;

/// One bad input: what is run, and what the error must say.
struct Case {
    name: &'static str,
    /// The setting, file or variable at fault (the report's `setting`).
    setting: &'static str,
    /// Every fragment must be in stderr: the input's name and the fix.
    expect: Vec<&'static str>,
    args: Vec<String>,
    /// Variables set (`Some`) or removed (`None`) on top of the emulator's environment.
    env: Vec<(String, Option<String>)>,
    prepare: Option<Prepare>,
    /// A mistake that only concerns the comment: a warning, the publish goes on (exit 0).
    warns: bool,
}

fn case(name: &'static str, setting: &'static str, expect: &[&'static str]) -> Case {
    Case {
        name,
        setting,
        expect: expect.to_vec(),
        args: Vec::new(),
        env: Vec::new(),
        prepare: None,
        warns: false,
    }
}

impl Case {
    /// The comment is a report, never the reason a publish fails (issue 14): expect exit 0,
    /// and the message on a `warning:` line.
    fn warning(mut self) -> Self {
        self.warns = true;
        self
    }
    fn args(mut self, args: &[&str]) -> Self {
        self.args.extend(args.iter().map(|a| a.to_string()));
        self
    }
    fn env(mut self, k: &str, v: &str) -> Self {
        self.env.push((k.into(), Some(v.into())));
        self
    }
    fn unset(mut self, k: &str) -> Self {
        self.env.push((k.into(), None));
        self
    }
    /// Replaces layerpub.yml.
    fn yaml(self, text: &'static str) -> Self {
        self.prepare(move |dir| fs::write(dir.join("layerpub.yml"), text).unwrap())
    }
    /// Appends to layerpub.yml.
    fn more_yaml(self, text: &'static str) -> Self {
        self.prepare(move |dir| {
            let mut f = fs::OpenOptions::new()
                .append(true)
                .open(dir.join("layerpub.yml"))
                .unwrap();
            f.write_all(text.as_bytes()).unwrap();
        })
    }
    fn prepare(mut self, f: impl Fn(&Path) + 'static) -> Self {
        let before = self.prepare.take();
        self.prepare = Some(Box::new(move |dir| {
            if let Some(b) = &before {
                b(dir);
            }
            f(dir);
        }));
        self
    }
}

/// Everything a run could have written to the emulator: layers in both regions, and each
/// bucket's objects and unfinished uploads.
fn writes(m: &Moto) -> (usize, Value) {
    let w = m.aws(&["writes", "us-east-1", "eu-west-1"]);
    let layers = w["layers"].as_object().map_or(0, |l| l.len());
    let objects: usize = w["buckets"]
        .as_object()
        .unwrap()
        .values()
        .map(|b| b["keys"].as_array().unwrap().len() + b["uploads"].as_array().unwrap().len())
        .sum();
    (layers + objects, w)
}

fn report(name: &str, row: Value) {
    if let Some(dir) = std::env::var_os("LAYERPUB_REPORT_DIR") {
        fs::create_dir_all(&dir).unwrap();
        let mut f = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(Path::new(&dir).join(name))
            .unwrap();
        writeln!(f, "{row}").unwrap();
    }
}

/// Runs every case against one clean emulator holding `layers` (us-east-1) and `layers-eu`
/// (eu-west-1); collects every failure, then fails once listing them all.
fn run_cases(cases: Vec<Case>) {
    let m = moto();
    m.aws(&["create-bucket", BUCKET]);
    m.aws_in("eu-west-1", &["create-bucket", EU_BUCKET]);
    let mut failures = Vec::new();
    let mut seen = 0;
    for c in cases {
        let dir = temp();
        write_file(
            dir.path(),
            "site-packages/requests/__init__.py",
            b"print('requests')\n",
            0o644,
        );
        fs::write(dir.path().join("requirements.txt"), "requests==2.32.3\n").unwrap();
        fs::write(dir.path().join("layerpub.yml"), BASE_YAML).unwrap();
        if let Some(p) = &c.prepare {
            p(dir.path());
        }
        let mut env: Vec<(String, String)> = m
            .env()
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect();
        for (k, v) in &c.env {
            env.retain(|(name, _)| name != k);
            if let Some(v) = v {
                env.push((k.clone(), v.clone()));
            }
        }
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let args: Vec<&str> = c.args.iter().map(String::as_str).collect();
        // Killed if it hangs (a FIFO opened for reading would block forever).
        let r = layerpub_within(dir.path(), &args, &env);
        // Counted from where the previous case left the emulator, so one case that wrote
        // does not make the next ones fail too.
        let (total, what) = writes(&m);
        let aws_writes = total - seen;
        seen = total;

        let mut wrong = Vec::new();
        let expected_code = if c.warns { 0 } else { 2 };
        if r.code != expected_code {
            wrong.push(format!("exit code {} (expected {expected_code})", r.code));
        }
        for f in &c.expect {
            if !r.stderr.contains(f) {
                wrong.push(format!("no `{f}` in the message"));
            }
        }
        if aws_writes > 0 && !c.warns {
            wrong.push(format!("{aws_writes} AWS writes: {what}"));
        }
        let start = if c.warns { "warning:" } else { "error:" };
        let message = r
            .stderr
            .lines()
            .find(|l| l.starts_with(start))
            .unwrap_or("")
            .to_owned();
        if message.is_empty() {
            wrong.push(format!("no `{start}` line"));
        }
        report(
            "bad_input.jsonl",
            json!({
                "case": c.name,
                "setting": c.setting,
                "exit_code": r.code,
                "message": message,
                "aws_writes": aws_writes,
                "passed": wrong.is_empty(),
            }),
        );
        if !wrong.is_empty() {
            failures.push(format!(
                "{} ({}): {}\n--- stderr:\n{}",
                c.name,
                c.setting,
                wrong.join("; "),
                r.stderr
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn bad_config_files_are_refused_before_any_call() {
    run_cases(vec![
        case(
            "yaml-unknown-key",
            "layerpub.yml",
            &["layerpub.yml", "unknown field `layer_nmae`", "expected one of"],
        )
        .more_yaml("layer_nmae: x\n"),
        case(
            "yaml-list-for-a-string",
            "layer-name",
            &["layerpub.yml", "layer-name"],
        )
        .yaml("layer-name: [a, b]\npath: site-packages\n"),
        case("yaml-bad-boolean", "force", &["layerpub.yml", "true or false"])
            .more_yaml("force: maybe\n"),
        case(
            "yaml-text-for-a-number",
            "keep-versions",
            &["layerpub.yml", "keep-versions"],
        )
        .more_yaml("keep-versions: many\n"),
        case(
            "yaml-syntax-error",
            "layerpub.yml",
            &["layerpub.yml", "line 2"],
        )
        .yaml("layer-name: deps\npath: [site-packages\n"),
        case(
            "yaml-layers-not-a-list-of-maps",
            "layers",
            &["layerpub.yml", "layers"],
        )
        .yaml("layers: [a, b]\n"),
        case(
            "yaml-nested-layers",
            "layers",
            &["layers cannot be nested", "list every layer under the top-level `layers:`"],
        )
        .yaml("layers:\n  - layer-name: a\n    path: site-packages\n    layers:\n      - layer-name: b\n"),
        case(
            "yaml-empty-layers",
            "layers",
            &["layers: layerpub.yml lists no layers", "give at least one"],
        )
        .yaml("layers: []\n"),
        case(
            "config-file-missing",
            "--config",
            &["nope.yml: cannot read the config file", "check --config"],
        )
        .args(&["--config", "nope.yml"]),
        case(
            "config-variable-names-a-missing-file",
            "LAYERPUB_CONFIG",
            &["gone.yml: cannot read the config file", "LAYERPUB_CONFIG"],
        )
        .env("LAYERPUB_CONFIG", "gone.yml"),
        case(
            "two-layers-one-name",
            "layer-name",
            &["2 layers are named `deps`", "give each layer its own name"],
        )
        .yaml("layers:\n  - {layer-name: deps, path: site-packages}\n  - {layer-name: deps, path: site-packages, zip-path: b.zip}\n"),
        case(
            "two-layers-one-zip-path",
            "zip-path",
            &["zip-path: 2 layers would write ", "same.zip; give each layer its own zip-path"],
        )
        .yaml("layers:\n  - {layer-name: a, path: site-packages, zip-path: same.zip}\n  - {layer-name: b, path: site-packages, zip-path: same.zip}\n"),
        case(
            "two-layers-one-zip-path-through-a-link",
            "zip-path",
            &[
                "zip-path: layers `a` and `b` write the same file: `",
                "/lnk/same.zip` name one file",
                "give each layer its own zip-path",
            ],
        )
        .yaml("layers:\n  - {layer-name: a, path: site-packages, zip-path: same.zip}\n  - {layer-name: b, path: site-packages, zip-path: lnk/same.zip}\n")
        .prepare(|d| std::os::unix::fs::symlink(".", d.join("lnk")).unwrap()),
        case(
            "yaml-duplicate-key",
            "layerpub.yml",
            &["key `layer-name` appears twice in layerpub.yml (line 7); keep one"],
        )
        .more_yaml("layer-name: other\n"),
        case(
            "config-file-is-a-fifo",
            "--config",
            &["pipe: is a FIFO (named pipe), not a regular file; point --config at the YAML file"],
        )
        .args(&["--config", "pipe"])
        .prepare(|d| mkfifo(&d.join("pipe"))),
        case(
            "default-config-file-is-a-folder",
            "layerpub.yml",
            &["layerpub.yml: is a folder, not a regular file; rename or remove it"],
        )
        .env("LAYERPUB_LAYER_NAME", "deps")
        .env("LAYERPUB_PATH", "site-packages")
        .prepare(|d| {
            fs::remove_file(d.join("layerpub.yml")).unwrap();
            fs::create_dir(d.join("layerpub.yml")).unwrap();
        }),
        case(
            "default-config-file-is-a-dangling-link",
            "layerpub.yml",
            &["layerpub.yml: is a symbolic link to `gone.yml`, which does not exist; fix the link or remove it"],
        )
        .env("LAYERPUB_LAYER_NAME", "deps")
        .env("LAYERPUB_PATH", "site-packages")
        .prepare(|d| {
            fs::remove_file(d.join("layerpub.yml")).unwrap();
            std::os::unix::fs::symlink("gone.yml", d.join("layerpub.yml")).unwrap();
        }),
        case(
            "allow-outside-workspace-in-the-file",
            "allow-outside-workspace",
            &["allow-outside-workspace: cannot be set in layerpub.yml", "LAYERPUB_ALLOW_OUTSIDE_WORKSPACE"],
        )
        .more_yaml("allow-outside-workspace: true\n"),
        case(
            "layer-name-not-set",
            "layer-name",
            &["layer-name: not set", "LAYERPUB_LAYER_NAME, or --layer-name"],
        )
        .yaml("path: site-packages\n"),
        case(
            "path-not-set",
            "path",
            &["path: not set", "LAYERPUB_PATH, or --path"],
        )
        .yaml("layer-name: deps\n"),
        case(
            "regions-empty-list",
            "regions",
            &["regions: lists no region", "regions: [us-east-1, eu-west-1]"],
        )
        .more_yaml("regions: []\n"),
    ]);
}

#[test]
fn bad_settings_are_refused_before_any_call() {
    let sixteen = layerpub::domain::limits::RUNTIMES[..16].join(",");
    let sixteen: &'static str = Box::leak(sixteen.into_boxed_str());
    let long_name: &'static str = Box::leak("x".repeat(141).into_boxed_str());
    let long_description: &'static str = Box::leak("d".repeat(176).into_boxed_str());
    let long_license: &'static str = Box::leak("l".repeat(513).into_boxed_str());
    run_cases(vec![
        case(
            "unknown-runtime",
            "compatible-runtimes",
            &["compatible-runtimes: `pyhton3.12` is not a Lambda runtime; did you mean `python3.12`?"],
        )
        .args(&["--compatible-runtimes", "pyhton3.12"]),
        case(
            "too-many-runtimes",
            "compatible-runtimes",
            &["compatible-runtimes: 16 runtimes given; Lambda accepts at most 15", "keep the ones your functions use"],
        )
        .env("LAYERPUB_COMPATIBLE_RUNTIMES", sixteen),
        case(
            "unknown-architecture",
            "compatible-architectures",
            &["`aarch64` is not a Lambda architecture (did you mean `arm64`?)", "use `x86_64`, `arm64`, or both"],
        )
        .args(&["--compatible-architectures", "aarch64"]),
        case(
            "too-many-architectures",
            "compatible-architectures",
            &["3 architectures given; Lambda accepts at most 2"],
        )
        .args(&["--compatible-architectures", "x86_64,arm64,mips"]),
        case(
            "layer-name-with-a-space",
            "layer-name",
            &["layer-name: `my layer` is not a valid layer name", "e.g. `my-deps`"],
        )
        .args(&["--layer-name", "my layer"]),
        case(
            "layer-name-too-long",
            "layer-name",
            &["is not a valid layer name; use 1 to 140"],
        )
        .env("LAYERPUB_LAYER_NAME", long_name),
        case(
            "layer-arn-bad-account",
            "layer-name",
            &["layer-name: `arn:aws:lambda:us-east-1:12345:layer:deps` is not a valid layer name", "arn:aws:lambda:REGION:ACCOUNT:layer:NAME"],
        )
        .args(&["--layer-name", "arn:aws:lambda:us-east-1:12345:layer:deps"]),
        case(
            "layer-arn-not-a-layer",
            "layer-name",
            &["is not a valid layer name", "arn:aws:lambda:REGION:ACCOUNT:layer:NAME"],
        )
        .args(&["--layer-name", "arn:aws:lambda:us-east-1:123456789012:function:deps"]),
        case(
            "layer-arn-in-another-region",
            "layer-name",
            &["layer-name: `arn:aws:lambda:eu-west-1:123456789012:layer:deps` is a layer in eu-west-1, but the run publishes in us-east-1", "set region (or regions) to eu-west-1"],
        )
        .args(&["--layer-name", "arn:aws:lambda:eu-west-1:123456789012:layer:deps"]),
        case(
            "description-leaves-no-room-for-the-marker",
            "description",
            &["description: 176 characters long; Lambda accepts at most 175", "shorten it"],
        )
        .env("LAYERPUB_DESCRIPTION", long_description),
        case(
            "license-too-long",
            "license-info",
            &["license-info: 513 characters long; Lambda accepts at most 512", "SPDX identifier"],
        )
        .env("INPUT_LICENSE-INFO", long_license),
        case(
            "prefix-with-dotdot",
            "prefix",
            &["prefix: `../python` contains `..`", "a folder inside the zip"],
        )
        .args(&["--prefix", "../python"]),
        case(
            "s3-prefix-with-dotdot",
            "s3-prefix",
            &["s3-prefix: `ci/../x` contains `..`"],
        )
        .args(&["--s3-prefix", "ci/../x"]),
        case(
            "invalid-glob",
            "exclude",
            &["exclude: `a[b` is not a valid glob", "patterns look like"],
        )
        .args(&["--exclude", "a[b"]),
        case(
            "invalid-bucket-name",
            "s3-bucket",
            &["s3-bucket: `s3://My_Bucket` is not a valid S3 bucket name", "not an s3:// URL"],
        )
        .args(&["--s3-bucket", "s3://My_Bucket"]),
        case(
            "bad-region",
            "region",
            &["region: `Frankfurt` is not an AWS region name", "e.g. `us-east-1`"],
        )
        .args(&["--region", "Frankfurt"]),
        case(
            "region-and-regions",
            "regions",
            &["regions: both `region` and `regions` are set", "alone for several regions"],
        )
        .args(&["--region", "us-east-1", "--regions", "us-east-1,eu-west-1"]),
        case(
            "one-bucket-for-several-regions",
            "s3-bucket",
            &["s3-bucket: `layers` is one bucket, but the layer is published in 2 regions", "`layers-{region}`"],
        )
        .args(&["--regions", "us-east-1,eu-west-1"]),
        case(
            "invalid-endpoint-url",
            "endpoint-url",
            &["endpoint-url: `localhost:5000` is not an http:// or https:// URL", "http://127.0.0.1:5000"],
        )
        .args(&["--endpoint-url", "localhost:5000"]),
        case(
            "endpoint-url-without-host",
            "endpoint-url",
            &["endpoint-url: `http://` has no host"],
        )
        .env("LAYERPUB_ENDPOINT_URL", "http://"),
        case(
            "endpoint-url-with-a-non-ascii-host",
            "endpoint-url",
            &["endpoint-url: `http://motö.internal:5000` has a host name that is not ASCII", "punycode"],
        )
        .env("LAYERPUB_ENDPOINT_URL", "http://motö.internal:5000"),
        case(
            "share-with-everyone-without-allow-public",
            "share-with",
            &["share-with: `*` makes the layer usable by every AWS account", "`allow-public: true`"],
        )
        .more_yaml("share-with: ['*']\n"),
        case(
            "share-with-bad-account",
            "share-with",
            &["share-with: ", "12345"],
        )
        .args(&["--share-with", "12345"]),
        case(
            "alias-without-publish-function-version",
            "alias",
            &["alias: an alias points at a published function version", "`publish-function-version: true`"],
        )
        .more_yaml("functions: [my-api]\nalias: live\n"),
        case(
            "publish-function-version-without-functions",
            "publish-function-version",
            &["publish-function-version: applies to the functions listed in `functions`", "functions: [my-api]"],
        )
        .args(&["--publish-function-version"]),
        case(
            "function-bad-arn",
            "functions",
            &["functions: `arn:aws:lambda:us-east-1:1:function:f` is not a function ARN", "or the function's name"],
        )
        .args(&["--functions", "arn:aws:lambda:us-east-1:1:function:f"]),
        case(
            "function-in-another-region",
            "functions",
            &["is in eu-west-1, where this layer is not published", "its own region"],
        )
        .args(&["--region", "us-east-1", "--functions", "arn:aws:lambda:eu-west-1:123456789012:function:f"]),
        case(
            "keep-versions-zero",
            "keep-versions",
            &["keep-versions: must be at least 1", "leave it unset to keep every version"],
        )
        .args(&["--keep-versions", "0"]),
        case(
            "claim-timeout-zero",
            "claim-timeout",
            &["claim-timeout: must be at least 1 second"],
        )
        .env("LAYERPUB_CLAIM_TIMEOUT", "0"),
        case(
            "prune-without-keep-versions",
            "keep-versions",
            &["keep-versions (layer deps): not set", "set `keep-versions: N`"],
        )
        .args(&["prune"]),
    ]);
}

#[test]
fn bad_variables_and_flags_are_refused_before_any_call() {
    run_cases(vec![
        case(
            "unknown-layerpub-variable",
            "LAYERPUB_LAYERNAME",
            &["LAYERPUB_LAYERNAME: not a layerpub setting; did you mean LAYERPUB_LAYER_NAME?"],
        )
        .env("LAYERPUB_LAYERNAME", "deps"),
        case(
            "bad-boolean-variable",
            "LAYERPUB_FORCE",
            &["LAYERPUB_FORCE: ", "\"maybe\"", "true or false"],
        )
        .env("LAYERPUB_FORCE", "maybe"),
        case(
            "bad-boolean-input",
            "INPUT_DRY-RUN",
            &["INPUT_DRY-RUN: ", "true or false"],
        )
        .env("INPUT_DRY-RUN", "perhaps"),
        case(
            "bad-number-variable",
            "LAYERPUB_KEEP_VERSIONS",
            &["LAYERPUB_KEEP_VERSIONS: ", "a whole number"],
        )
        .env("LAYERPUB_KEEP_VERSIONS", "ten"),
        case(
            "bad-choice-variable",
            "LAYERPUB_SYMLINKS",
            &[
                "LAYERPUB_SYMLINKS: unknown variant `sometimes`",
                "`preserve`, `follow`, `error`",
            ],
        )
        .env("LAYERPUB_SYMLINKS", "sometimes"),
        case(
            "bad-source-date-epoch",
            "SOURCE_DATE_EPOCH",
            &[
                "SOURCE_DATE_EPOCH: `yesterday` is not a Unix time in seconds",
                "$(git log -1 --format=%ct)",
            ],
        )
        .env("SOURCE_DATE_EPOCH", "yesterday"),
        case(
            "unknown-flag",
            "--layer-nmae",
            &[
                "unexpected argument '--layer-nmae'",
                "a similar argument exists: '--layer-name'",
            ],
        )
        .args(&["--layer-nmae", "deps"]),
        case(
            "bad-flag-choice",
            "--symlinks",
            &[
                "invalid value 'maybe' for '--symlinks <POLICY>'",
                "[possible values: preserve, follow, error]",
            ],
        )
        .args(&["--symlinks", "maybe"]),
        case(
            "bad-output-format",
            "--output",
            &["invalid value 'xml' for '--output", "json"],
        )
        .args(&["--output", "xml"]),
    ]);
}

#[test]
fn bad_folders_and_files_are_refused_before_any_write() {
    use std::os::unix::fs::symlink;
    run_cases(vec![
        case(
            "path-does-not-exist",
            "path",
            &[
                "path `nowhere` does not exist",
                "set path to the folder your build step fills",
            ],
        )
        .args(&["--path", "nowhere"]),
        case(
            "path-empty-string",
            "path",
            &["path: is empty; set it to the folder whose contents become the layer"],
        )
        .yaml("layer-name: deps\npath: ''\n"),
        case(
            "path-is-a-file",
            "path",
            &[
                "path `requirements.txt` is a file",
                "set path to the folder whose contents become the layer",
            ],
        )
        .args(&["--path", "requirements.txt"]),
        case(
            "path-through-a-file",
            "path",
            &[
                "path `requirements.txt/site-packages` cannot be read",
                "set path to a folder",
            ],
        )
        .args(&["--path", "requirements.txt/site-packages"]),
        case(
            "path-is-a-link-loop",
            "path",
            &[
                "path `loop` is a loop of symbolic links",
                "set path to the folder itself",
            ],
        )
        .args(&["--path", "loop"])
        .prepare(|d| symlink("loop", d.join("loop")).unwrap()),
        case(
            "path-is-empty",
            "path",
            &[
                "/site-packages` has no file to package",
                "run the build step that fills it first",
            ],
        )
        .prepare(|d| fs::remove_dir_all(d.join("site-packages/requests")).unwrap()),
        case(
            "include-leaves-nothing",
            "include",
            &[
                "has no file to package (after include/exclude)",
                "fix path, include and exclude",
            ],
        )
        .args(&["--include", "*.rb"]),
        case(
            "symlink-leaves-path",
            "symlinks",
            &[
                "`requests/lock` is a symbolic link to `../../requirements.txt`, outside path",
                "copy the target into path instead",
            ],
        )
        .prepare(|d| {
            symlink(
                "../../requirements.txt",
                d.join("site-packages/requests/lock"),
            )
            .unwrap()
        }),
        case(
            "symlink-absolute",
            "symlinks",
            &[
                "`requests/abs` is a symbolic link with an absolute target",
                "make it relative or set symlinks to `follow`",
            ],
        )
        .prepare(|d| {
            let target = fs::canonicalize(d.join("site-packages/requests/__init__.py")).unwrap();
            symlink(target, d.join("site-packages/requests/abs")).unwrap()
        }),
        case(
            "symlink-dangling",
            "symlinks",
            &[
                "`requests/gone` is a symbolic link to `missing.py`, which does not exist",
                "fix or remove the link",
            ],
        )
        .prepare(|d| symlink("missing.py", d.join("site-packages/requests/gone")).unwrap()),
        case(
            "symlink-with-symlinks-error",
            "symlinks",
            &[
                "`requests/alias.py` is a symbolic link and symlinks is `error`",
                "set symlinks to `preserve` or `follow`",
            ],
        )
        .args(&["--symlinks", "error"])
        .prepare(|d| symlink("__init__.py", d.join("site-packages/requests/alias.py")).unwrap()),
        case(
            "symlink-loop-with-follow",
            "symlinks",
            &[
                "symbolic link loop at",
                "links must not point at a folder that contains them",
            ],
        )
        .args(&["--symlinks", "follow"])
        .prepare(|d| symlink("..", d.join("site-packages/requests/up")).unwrap()),
        case(
            "non-utf8-file-name",
            "path",
            &["has a name that is not UTF-8; rename it"],
        )
        .prepare(|d| {
            use std::os::unix::ffi::OsStrExt;
            let name = std::ffi::OsStr::from_bytes(b"bad\xffname.py");
            fs::write(d.join("site-packages").join(name), b"x").unwrap();
        }),
        case(
            "not-a-regular-file",
            "path",
            &["is not a regular file, folder or link", "add it to exclude"],
        )
        .prepare(|d| mkfifo(&d.join("site-packages/requests/pipe"))),
        case(
            "manifest-is-a-fifo",
            "manifest",
            &[
                "manifest `pipe` is a FIFO (named pipe), not a regular file",
                "list the lock files themselves",
            ],
        )
        .args(&["--manifest", "pipe"])
        .prepare(|d| mkfifo(&d.join("pipe"))),
        case(
            "manifest-outside-the-workspace",
            "manifest",
            &[
                "manifest: `/proc/self/environ` is outside the workspace",
                "allow-outside-workspace: true",
            ],
        )
        .env("LAYERPUB_MANIFEST", "/proc/self/environ"),
        case(
            "manifest-links-out-of-the-workspace",
            "manifest",
            &[
                "manifest: `lock.txt` is outside the workspace",
                "it resolves through links to `/etc/passwd`",
            ],
        )
        .args(&["--manifest", "lock.txt"])
        .prepare(|d| std::os::unix::fs::symlink("/etc/passwd", d.join("lock.txt")).unwrap()),
        case(
            "path-outside-github-workspace",
            "path",
            &[
                "site-packages` is outside the workspace",
                "(GITHUB_WORKSPACE)",
            ],
        )
        .env("GITHUB_WORKSPACE", "checkout")
        .prepare(|d| fs::create_dir(d.join("checkout")).unwrap()),
        case(
            "manifest-over-16-mib",
            "manifest",
            &["manifest `huge.lock` is 16777217 bytes; layerpub reads at most 16777216 (16 MiB)"],
        )
        .args(&["--manifest", "huge.lock"])
        .prepare(|d| sparse(&d.join("huge.lock"), (16 << 20) + 1)),
        case(
            "manifest-missing",
            "manifest",
            &["manifest `nope.txt` does not exist", "list your lock files"],
        )
        .args(&["--manifest", "nope.txt"]),
        case(
            "manifest-is-a-folder",
            "manifest",
            &[
                "manifest `site-packages` is a folder",
                "list the lock files themselves",
            ],
        )
        .args(&["--manifest", "site-packages"]),
        // A terabyte that takes no disk: refused from its size on disk, before a byte is read
        // (reading it would take hours).
        case(
            "unzipped-over-250-mib",
            "path",
            &[
                "(1.0 TiB), over Lambda's limit of 262144000 bytes",
                "python/requests/huge.bin (1.0 TiB)",
                "Exclude what the functions do not need",
            ],
        )
        .prepare(|d| sparse(&d.join("site-packages/requests/huge.bin"), 1 << 40)),
        case(
            "unzipped-over-250-mib-without-a-manifest",
            "path",
            &["(1.0 TiB), over Lambda's limit of 262144000 bytes"],
        )
        .yaml("layer-name: deps\npath: site-packages\ns3-bucket: layers\n")
        .prepare(|d| sparse(&d.join("site-packages/huge.bin"), 1 << 40)),
        // One byte over the limit, as files do add up.
        case(
            "unzipped-one-byte-over",
            "path",
            &["the layer unzips to 262144001 bytes"],
        )
        .prepare(|d| {
            let init = fs::metadata(d.join("site-packages/requests/__init__.py"))
                .unwrap()
                .len();
            sparse(
                &d.join("site-packages/requests/big.bin"),
                262_144_001 - init,
            )
        }),
    ]);
}

/// Issue 12, items 8 and 9: every place a run writes is checked before the first AWS write;
/// these were found only after a version was published (exit 1, and again on every re-run),
/// or replaced what zip-path named.
#[test]
fn bad_output_destinations_are_refused_before_any_write() {
    use std::os::unix::fs::symlink;
    run_cases(vec![
        case(
            "dotenv-file-in-a-missing-folder",
            "dotenv-file",
            &[
                "dotenv-file: `missing/layerpub.env` cannot be created: the folder `missing` does not exist",
                "create the folder first",
            ],
        )
        .args(&["--dotenv-file", "missing/layerpub.env"]),
        case(
            "dotenv-file-is-a-folder",
            "dotenv-file",
            &["dotenv-file: `site-packages` is a folder", "set dotenv-file to"],
        )
        .args(&["--dotenv-file", "site-packages"]),
        case(
            "github-output-in-a-missing-folder",
            "GITHUB_OUTPUT",
            &[
                "GITHUB_OUTPUT: `missing/output` cannot be created: the folder `missing` does not exist",
                "the runner sets GITHUB_OUTPUT",
            ],
        )
        .env("GITHUB_OUTPUT", "missing/output"),
        case(
            "github-step-summary-in-a-missing-folder",
            "GITHUB_STEP_SUMMARY",
            &["GITHUB_STEP_SUMMARY: `missing/summary.md` cannot be created: the folder `missing` does not exist"],
        )
        .env("GITHUB_STEP_SUMMARY", "missing/summary.md"),
        case(
            "zip-path-is-a-link",
            "zip-path",
            &["zip-path: `link.zip` is a symbolic link", "set zip-path to"],
        )
        .args(&["--zip-path", "link.zip"])
        .prepare(|d| symlink("requirements.txt", d.join("link.zip")).unwrap()),
        case(
            "zip-path-is-a-fifo",
            "zip-path",
            &["zip-path: `pipe.zip` is a FIFO (named pipe)", "set zip-path to"],
        )
        .args(&["--zip-path", "pipe.zip"])
        .prepare(|d| mkfifo(&d.join("pipe.zip"))),
        case(
            "zip-path-is-a-folder",
            "zip-path",
            &["zip-path: `site-packages` is a folder; name the zip file"],
        )
        .args(&["--zip-path", "site-packages"]),
        case(
            "zip-path-under-a-file",
            "zip-path",
            &["zip-path: `requirements.txt/deps.zip` cannot be created: `requirements.txt` is a file, not a folder"],
        )
        .args(&["--zip-path", "requirements.txt/deps.zip"]),
    ]);
}

#[test]
fn bad_aws_state_is_refused_before_any_write() {
    run_cases(vec![
        case(
            "zip-over-50-mb-without-a-bucket",
            "s3-bucket",
            &["bytes, over the 52428800 bytes Lambda takes inline; set s3-bucket"],
        )
        .yaml("layer-name: deps\npath: site-packages\nprefix: python\nmanifest: requirements.txt\n")
        .prepare(|d| write_file(d, "site-packages/big.bin", &noise(51 << 20, 5), 0o644)),
        case(
            "bucket-does-not-exist",
            "s3-bucket",
            &[
                "NoSuchBucket",
                "create the bucket (in the layer's region) or fix s3-bucket; this run publishes in us-east-1",
            ],
        )
        .args(&["--s3-bucket", "no-such-bucket"]),
        case(
            "bucket-in-another-region",
            "s3-bucket",
            &[
                "s3-bucket: `layers-eu` is in eu-west-1, but the layer is published in us-east-1",
                "use a bucket in us-east-1",
            ],
        )
        .args(&["--s3-bucket", EU_BUCKET]),
        case(
            "missing-credentials",
            "AWS_ACCESS_KEY_ID",
            &[
                "no AWS credentials found",
                "set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_PROFILE, or use OIDC",
            ],
        )
        .unset("AWS_ACCESS_KEY_ID")
        .unset("AWS_SECRET_ACCESS_KEY"),
        case(
            "missing-region",
            "region",
            &[
                "region: not set",
                "LAYERPUB_REGION, --region, or AWS_REGION",
            ],
        )
        .unset("AWS_REGION"),
        case(
            "function-does-not-exist",
            "functions",
            &[
                "function nope not found in region us-east-1",
                "check `functions`",
                "nothing was published",
            ],
        )
        .more_yaml("functions: [nope]\n"),
    ]);
}

/// Issue 14: the comment is a report, never the reason a publish fails or is skipped. Every
/// mistake in where it goes (a broken event file, no token) is a warning that says what to
/// set, the publish goes on, and the exit code is the publish's.
#[test]
fn a_bad_ci_context_is_a_warning_and_the_publish_stands() {
    let github = |c: Case| {
        c.env("GITHUB_ACTIONS", "true")
            .env("GITHUB_REPOSITORY", "acme/app")
            .env("GITHUB_EVENT_NAME", "pull_request")
            .env("GITHUB_EVENT_PATH", "event.json")
            .env("GITHUB_API_URL", "http://127.0.0.1:9")
            .env("LAYERPUB_GITHUB_TOKEN", "ghs_not_a_real_token")
    };
    let gitlab = |c: Case| {
        c.env("GITLAB_CI", "true")
            .env("CI_API_V4_URL", "http://127.0.0.1:9/api/v4")
            .env("CI_PROJECT_ID", "5")
            .env("CI_MERGE_REQUEST_IID", "3")
            .env("GITLAB_TOKEN", "glpat-not-real")
    };
    run_cases(vec![
        github(case(
            "github-event-file-not-json",
            "GITHUB_EVENT_PATH",
            &[
                "GITHUB_EVENT_PATH: the event file `event.json` is not valid JSON",
                "or set pr-number",
            ],
        ))
        .warning()
        .prepare(|d| fs::write(d.join("event.json"), "{\"number\": 7,").unwrap()),
        github(case(
            "github-event-file-missing",
            "GITHUB_EVENT_PATH",
            &[
                "GITHUB_EVENT_PATH: cannot read the event file `event.json`",
                "or set pr-number",
            ],
        ))
        .warning(),
        github(case(
            "github-pull-request-without-a-number",
            "pr-number",
            &["the pull_request event in `event.json` has no pull_request.number; set pr-number"],
        ))
        .warning()
        .prepare(|d| fs::write(d.join("event.json"), "{\"pull_request\": {}}").unwrap()),
        github(case(
            "github-pr-number-zero",
            "pr-number",
            &["pr-number: 0 is not a pull request number"],
        ))
        .warning()
        .env("LAYERPUB_PR_NUMBER", "0")
        .prepare(|d| fs::write(d.join("event.json"), "{}").unwrap()),
        github(case(
            "github-token-missing",
            "github-token",
            &[
                "github-token: not set, but layerpub comments on pull request #7",
                "or set `comment: false`",
            ],
        ))
        .warning()
        .unset("LAYERPUB_GITHUB_TOKEN")
        .prepare(|d| fs::write(d.join("event.json"), "{\"number\": 7}").unwrap()),
        github(case(
            "github-api-url-not-http",
            "GITHUB_API_URL",
            &["GITHUB_API_URL: `ftp://example.com` is not an http:// or https:// URL"],
        ))
        .warning()
        .env("GITHUB_API_URL", "ftp://example.com")
        .prepare(|d| fs::write(d.join("event.json"), "{\"number\": 7}").unwrap()),
        gitlab(case(
            "gitlab-merge-request-iid-not-a-number",
            "CI_MERGE_REQUEST_IID",
            &["CI_MERGE_REQUEST_IID: `three` is not a merge request number"],
        ))
        .warning()
        .env("CI_MERGE_REQUEST_IID", "three"),
        gitlab(case(
            "gitlab-token-missing",
            "GITLAB_TOKEN",
            &["GITLAB_TOKEN: not set", "merge request !3"],
        ))
        .warning()
        .unset("GITLAB_TOKEN"),
    ]);
}

/// A file of `len` bytes that takes no disk space.
fn sparse(path: &Path, len: u64) {
    let f = fs::File::create(path).unwrap();
    f.set_len(len).unwrap();
}

fn mkfifo(path: &Path) {
    let ok = std::process::Command::new("mkfifo")
        .arg(path)
        .status()
        .unwrap();
    assert!(ok.success(), "mkfifo {}", path.display());
}
