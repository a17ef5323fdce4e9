//! The GitHub Action, run the way the runner runs a composite action: read action.yml, fill in
//! the `${{ inputs.* }}` expressions of the step's `env:` from a `with:` block (defaults for
//! the rest), run the step's script with bash and the runner's files (`GITHUB_OUTPUT`,
//! `GITHUB_STEP_SUMMARY`, `GITHUB_EVENT_PATH`) in a temporary folder, against moto.

use crate::common;

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use common::moto::moto;
use common::*;
use serde_json::Value;

const REPO: &str = env!("CARGO_MANIFEST_DIR");
const TARGET_NAME: &str = "layerpub-x86_64-unknown-linux-musl";

fn yaml(path: &Path) -> Value {
    serde_saphyr::from_str(&fs::read_to_string(path).unwrap()).unwrap()
}

fn action() -> Value {
    yaml(&Path::new(REPO).join("action.yml"))
}

fn step(action: &Value) -> &Value {
    let steps = action["runs"]["steps"].as_array().unwrap();
    assert_eq!(steps.len(), 1, "one composite step");
    &steps[0]
}

/// A copy of the action as a release tag would hold it: action.yml, the launcher, a binary
/// (this build's, under the release name) and its checksum.
fn action_dir(dir: &Path, checksum_ok: bool) -> PathBuf {
    let root = dir.join("action");
    fs::create_dir_all(root.join("dist/bin")).unwrap();
    fs::copy(Path::new(REPO).join("action.yml"), root.join("action.yml")).unwrap();
    fs::copy(
        Path::new(REPO).join("dist/run.sh"),
        root.join("dist/run.sh"),
    )
    .unwrap();
    fs::copy(BIN, root.join("dist/bin").join(TARGET_NAME)).unwrap();
    let sha = format!(
        "{:x}",
        <sha2::Sha256 as sha2::Digest>::digest(fs::read(BIN).unwrap())
    );
    let sha = if checksum_ok { sha } else { "0".repeat(64) };
    fs::write(
        root.join("dist/checksums.txt"),
        format!("{sha}  {TARGET_NAME}\n"),
    )
    .unwrap();
    root
}

/// A clean emulator (with the example's bucket when asked), a workspace holding the example
/// project, and the action as a release would ship it.
fn workspace(
    bucket: bool,
    checksum_ok: bool,
) -> (common::moto::MotoGuard, tempfile::TempDir, PathBuf, PathBuf) {
    let m = moto();
    if bucket {
        m.aws(&["create-bucket", "my-layers-us-east-1"]);
    }
    let dir = temp();
    let workspace = dir.path().join("workspace");
    copy_tree(
        &Path::new(REPO).join("examples/python-build"),
        &workspace.join("examples/python-build"),
    );
    // The example builds with pip: the runner's pip is the moto venv's, installing from the
    // demo's wheelhouse (see `build_env`).
    let python = common::moto::ensure_installed();
    let made = std::process::Command::new(&python)
        .arg(Path::new(REPO).join("examples/python-build/make_wheels.py"))
        .arg(dir.path().join("wheelhouse"))
        .status()
        .unwrap();
    assert!(made.success());
    let bin = dir.path().join("bin");
    fs::create_dir_all(&bin).unwrap();
    fs::write(
        bin.join("pip"),
        format!("#!/bin/sh\nexec '{}' -m pip \"$@\"\n", python.display()),
    )
    .unwrap();
    fs::set_permissions(bin.join("pip"), fs::Permissions::from_mode(0o755)).unwrap();
    let root = action_dir(dir.path(), checksum_ok);
    (m, dir, workspace, root)
}

/// `${{ inputs.NAME }}` from `with` or the input's default; `${{ github.token }}` a fake.
fn expand(expr: &str, with: &BTreeMap<String, String>, action: &Value) -> String {
    let inner = expr
        .trim()
        .strip_prefix("${{")
        .and_then(|e| e.strip_suffix("}}"))
        .map(str::trim);
    match inner {
        None => expr.to_owned(),
        Some("github.token") => "ghs_fake_token_for_tests".to_owned(),
        Some(e) => {
            let name = e
                .strip_prefix("inputs.")
                .unwrap_or_else(|| panic!("unsupported expression {expr}"));
            match with.get(name) {
                Some(v) => v.clone(),
                None => {
                    let default = action["inputs"][name]["default"]
                        .as_str()
                        .unwrap_or_else(|| panic!("no input {name}"));
                    expand(default, with, action)
                }
            }
        }
    }
}

struct ActionRun {
    run: Run,
    outputs: BTreeMap<String, String>,
    summary: String,
}

/// The push event the runs use unless a test gives another.
const PUSH: (&str, &str) = ("push", r#"{"ref": "refs/heads/main"}"#);

fn run_action(
    action_root: &Path,
    cwd: &Path,
    with: &BTreeMap<String, String>,
    extra: &[(&str, String)],
) -> ActionRun {
    run_action_on(action_root, cwd, with, extra, PUSH)
}

fn run_action_on(
    action_root: &Path,
    cwd: &Path,
    with: &BTreeMap<String, String>,
    extra: &[(&str, String)],
    (event_name, event_json): (&str, &str),
) -> ActionRun {
    let action = yaml(&action_root.join("action.yml"));
    let step = step(&action);
    let files = cwd.join(".runner");
    fs::create_dir_all(&files).unwrap();
    let (output, summary, event) = (
        files.join("output"),
        files.join("summary"),
        files.join("event.json"),
    );
    fs::write(&output, "").unwrap();
    fs::write(&summary, "").unwrap();
    fs::write(&event, event_json).unwrap();
    let mut cmd = ci_command("bash");
    cmd.arg("-c")
        .arg(step["run"].as_str().unwrap())
        .current_dir(cwd)
        .env("GITHUB_ACTION_PATH", action_root)
        .env("GITHUB_ACTIONS", "true")
        .env("RUNNER_OS", "Linux")
        .env("RUNNER_ARCH", "X64")
        .env("GITHUB_OUTPUT", &output)
        .env("GITHUB_STEP_SUMMARY", &summary)
        .env("GITHUB_EVENT_PATH", &event)
        .env("GITHUB_EVENT_NAME", event_name)
        .env("GITHUB_REPOSITORY", "octo/layers");
    for (k, v) in step["env"].as_object().unwrap() {
        cmd.env(k, expand(v.as_str().unwrap(), with, &action));
    }
    // The pip and wheelhouse `workspace` made beside the workspace, when there are.
    if let Some(dir) = cwd.parent().filter(|d| d.join("wheelhouse").is_dir()) {
        let path = format!(
            "{}:{}",
            dir.join("bin").display(),
            std::env::var("PATH").unwrap_or_default()
        );
        cmd.env("PATH", path)
            .env("PIP_NO_INDEX", "1")
            .env("PIP_NO_CACHE_DIR", "1")
            .env("PIP_FIND_LINKS", dir.join("wheelhouse"));
    }
    for (k, v) in extra {
        cmd.env(k, v);
    }
    ActionRun {
        run: cmd.output().unwrap().into(),
        outputs: parse_github_output(&fs::read_to_string(&output).unwrap()),
        summary: fs::read_to_string(&summary).unwrap(),
    }
}

/// The `with:` block of the layerpub step of the example workflow the README shows.
fn example_with() -> BTreeMap<String, String> {
    let wf = yaml(&Path::new(REPO).join("examples/github/publish-layer.yml"));
    let steps = wf["jobs"]["layer"]["steps"].as_array().unwrap();
    let step = steps
        .iter()
        .find(|s| s["uses"].as_str().is_some_and(|u| u.contains("/layerpub@")))
        .unwrap();
    step["with"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_owned()))
        .collect()
}

/// The example's `with:` block with `command: publish`: a publish whatever the event, as a
/// workflow that opts out of the plan-on-pull-request default would ask.
fn example_with_publish() -> BTreeMap<String, String> {
    let mut with = example_with();
    with.insert("command".into(), "publish".into());
    with
}

#[test]
fn every_setting_is_an_input_and_reaches_the_binary() {
    let action = action();
    let inputs = action["inputs"].as_object().unwrap();
    let env = step(&action)["env"].as_object().unwrap();
    for name in layerpub::config::settings::Settings::names()
        .iter()
        .filter(|n| **n != "layers")
    {
        assert!(inputs.contains_key(*name), "action.yml has no input {name}");
        let key = format!("INPUT_{}", name.to_ascii_uppercase().replace('-', "_"));
        assert_eq!(
            env.get(&key).and_then(Value::as_str),
            Some(format!("${{{{ inputs.{name} }}}}").as_str()),
            "{key}"
        );
    }
    for (name, spec) in inputs {
        assert!(
            spec["description"].as_str().is_some_and(|d| !d.is_empty()),
            "{name} has no description"
        );
        let passed = env
            .values()
            .any(|v| v.as_str() == Some(&format!("${{{{ inputs.{name} }}}}")));
        assert!(passed, "input {name} is not passed to the binary");
    }
}

#[test]
fn no_expression_is_pasted_into_a_script() {
    for s in action()["runs"]["steps"].as_array().unwrap() {
        assert!(!s["run"].as_str().unwrap_or("").contains("${{"), "{s}");
    }
}

#[test]
fn every_output_has_a_value_from_the_step() {
    let action = action();
    let outputs = action["outputs"].as_object().unwrap();
    let written: Vec<&str> = layerpub::ci::github_output::outputs(&[sample_result()])
        .iter()
        .map(|(n, _)| *n)
        .collect();
    for (name, spec) in outputs {
        assert_eq!(
            spec["value"].as_str(),
            Some(format!("${{{{ steps.layerpub.outputs.{name} }}}}").as_str()),
            "{name}"
        );
        assert!(
            written.contains(&name.as_str()),
            "the binary never writes output {name}"
        );
    }
    for name in [
        "layer-arn",
        "layer-version-arn",
        "layer-version",
        "published",
        "previous-version",
        "fingerprint",
        "code-sha256",
        "code-size",
        "result-json",
    ] {
        assert!(outputs.contains_key(name), "action.yml lacks output {name}");
    }
}

fn sample_result() -> layerpub::domain::outcome::PublishResult {
    let mut r = layerpub::domain::outcome::PublishResult {
        layer_name: "x".into(),
        ..Default::default()
    };
    r.status = layerpub::domain::outcome::Status::Published(
        layerpub::domain::outcome::Reason::FirstVersion,
    );
    r
}

#[test]
fn the_example_workflow_publishes_then_skips_through_the_action() {
    let (m, _dir, workspace, root) = workspace(true, true);
    let env: Vec<(&str, String)> = m.env();
    let with = example_with();

    let first = run_action(&root, &workspace, &with, &env);
    first.run.assert_ok();
    let o = &first.outputs;
    assert_eq!(o["published"], "true");
    assert_eq!(o["layer-version"], "1");
    assert_eq!(
        o["layer-version-arn"],
        "arn:aws:lambda:us-east-1:123456789012:layer:demo-built-deps:1"
    );
    assert_eq!(
        o["layer-arn"],
        "arn:aws:lambda:us-east-1:123456789012:layer:demo-built-deps"
    );
    assert_eq!(o["reason"], "first_version");
    assert_eq!(o["previous-version"], "");
    assert_eq!(
        o["code-sha256"],
        m.aws(&["code-sha256", "demo-built-deps", "1"])
            .as_str()
            .unwrap()
    );
    let doc: Value = serde_json::from_str(&o["result-json"]).unwrap();
    common::schema::assert_valid_result(&doc);
    let result = &doc["layers"][0];
    assert_eq!(
        result["fingerprint"].as_str(),
        Some(o["fingerprint"].as_str())
    );
    assert_eq!(result["layer_version"], 1);
    // Every output action.yml declares got a value.
    for name in action()["outputs"].as_object().unwrap().keys() {
        assert!(o.contains_key(name), "no value for output {name}: {o:?}");
    }
    let versions = m.versions("demo-built-deps");
    assert_eq!(versions.len(), 1);

    let second = run_action(&root, &workspace, &with, &env);
    second.run.assert_ok();
    assert_eq!(second.outputs["published"], "false");
    assert_eq!(second.outputs["layer-version"], "1");
    assert_eq!(second.outputs["reason"], "unchanged");
    assert_eq!(m.versions("demo-built-deps").len(), 1);
    assert!(
        first
            .summary
            .contains("| Result | published version 1 — first version |"),
        "{}",
        first.summary
    );
    assert!(
        second
            .summary
            .contains("| Result | unchanged: version 1 stands — unchanged |"),
        "{}",
        second.summary
    );
}

#[test]
fn the_launcher_refuses_a_binary_whose_checksum_does_not_match() {
    let (m, _dir, workspace, root) = workspace(false, false);
    let r = run_action(&root, &workspace, &example_with(), &m.env());
    assert_eq!(r.run.code, 1);
    assert!(
        r.run
            .stdout
            .contains("::error title=layerpub::refusing to run layerpub-x86_64-unknown-linux-musl"),
        "{}",
        r.run.stdout
    );
    assert!(r.outputs.is_empty());
    assert!(m.versions("demo-built-deps").is_empty(), "nothing ran");
}

#[test]
fn the_launcher_names_the_runners_it_supports() {
    let dir = temp();
    let root = action_dir(dir.path(), true);
    let out = ci_command("bash")
        .arg(root.join("dist/run.sh"))
        .env("RUNNER_OS", "Windows")
        .env("RUNNER_ARCH", "X64")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stdout).contains(
        "no layerpub binary for Windows/X64: the action runs on Linux x64 and arm64 runners"
    ));
}

#[test]
fn on_a_pull_request_the_sticky_comment_is_created_once_and_then_left_alone() {
    use wiremock::matchers::{header, method, path, query_param};
    use wiremock::{Mock, MockServer, ResponseTemplate};

    let (m, _dir, workspace, root) = workspace(true, true);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let github = rt.block_on(MockServer::start());
    let mut env = m.env();
    env.push(("GITHUB_API_URL", github.uri()));
    let event = (
        "pull_request",
        r#"{"number": 7, "pull_request": {"number": 7}}"#,
    );
    let comments = "/repos/octo/layers/issues/7/comments";
    let auth = "Bearer ghs_fake_token_for_tests";

    // The workflow's own token cannot read /user: layerpub then looks for the Actions bot.
    let user = Mock::given(method("GET"))
        .and(path("/user"))
        .respond_with(ResponseTemplate::new(403));
    rt.block_on(user.mount(&github));
    rt.block_on(
        Mock::given(method("GET"))
            .and(path(comments))
            .and(query_param("per_page", "100"))
            .and(header("authorization", auth))
            .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!([])))
            .expect(1)
            .mount(&github),
    );
    rt.block_on(
        Mock::given(method("POST"))
            .and(path(comments))
            .and(header("authorization", auth))
            .respond_with(
                ResponseTemplate::new(201).set_body_json(serde_json::json!({"id": 41, "body": ""})),
            )
            .expect(1)
            .mount(&github),
    );
    // `command: publish`: this test is about the comment of a publish; the plan a pull request
    // gets by default is the_example_plans_on_a_pull_request_and_publishes_on_the_push.
    let first = run_action_on(&root, &workspace, &example_with_publish(), &env, event);
    first.run.assert_ok();
    assert!(
        first.run.stderr.contains("pull request comment 41 created"),
        "{}",
        first.run.stderr
    );
    let posted = rt.block_on(github.received_requests()).unwrap();
    let post = posted.iter().find(|r| r.method.as_str() == "POST").unwrap();
    let body = serde_json::from_slice::<Value>(&post.body).unwrap()["body"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        body.starts_with("<!-- layerpub:demo-built-deps -->"),
        "{body}"
    );
    assert!(
        body.contains("arn:aws:lambda:us-east-1:123456789012:layer:demo-built-deps:1"),
        "{body}"
    );
    assert!(!body.contains("ghs_fake_token_for_tests"));
    rt.block_on(github.verify());

    // Second run: our comment is there with the body this run would write? No: the layer is
    // unchanged now, so the body differs and is updated in place, never posted again.
    rt.block_on(github.reset());
    rt.block_on(
        Mock::given(method("GET"))
            .and(path("/user"))
            .respond_with(ResponseTemplate::new(403))
            .mount(&github),
    );
    rt.block_on(
        Mock::given(method("GET"))
            .and(path(comments))
            .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!([
                {"id": 41, "body": body, "user": {"login": "github-actions[bot]"}}
            ])))
            .mount(&github),
    );
    rt.block_on(
        Mock::given(method("POST"))
            .respond_with(ResponseTemplate::new(201))
            .expect(0)
            .mount(&github),
    );
    rt.block_on(
        Mock::given(method("PATCH"))
            .and(path("/repos/octo/layers/issues/comments/41"))
            .respond_with(
                ResponseTemplate::new(200).set_body_json(serde_json::json!({"id": 41, "body": ""})),
            )
            .expect(1)
            .mount(&github),
    );
    let second = run_action_on(&root, &workspace, &example_with_publish(), &env, event);
    second.run.assert_ok();
    assert!(
        second
            .run
            .stderr
            .contains("pull request comment 41 updated"),
        "{}",
        second.run.stderr
    );
    rt.block_on(github.verify());
}

#[test]
fn a_forbidden_comment_is_a_warning_and_the_publish_stands() {
    use wiremock::matchers::{method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};

    let (m, _dir, workspace, root) = workspace(true, true);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let github = rt.block_on(MockServer::start());
    rt.block_on(
        Mock::given(method("GET"))
            .and(path("/user"))
            .respond_with(ResponseTemplate::new(403))
            .mount(&github),
    );
    rt.block_on(
        Mock::given(method("GET"))
            .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!([])))
            .mount(&github),
    );
    rt.block_on(
        Mock::given(method("POST"))
            .respond_with(ResponseTemplate::new(403).set_body_json(
                serde_json::json!({"message": "Resource not accessible by integration"}),
            ))
            .expect(1)
            .mount(&github),
    );
    let mut env = m.env();
    env.push(("GITHUB_API_URL", github.uri()));
    let r = run_action_on(
        &root,
        &workspace,
        &example_with_publish(),
        &env,
        ("pull_request", r#"{"number": 7}"#),
    );
    r.run.assert_ok();
    assert_eq!(r.outputs["published"], "true");
    assert!(
        r.run.stderr.contains("::warning title=layerpub comment::"),
        "{}",
        r.run.stderr
    );
    assert_eq!(m.versions("demo-built-deps").len(), 1);
}

#[test]
fn workflows_pin_every_third_party_action_by_commit_sha() {
    let mut files: Vec<PathBuf> = fs::read_dir(Path::new(REPO).join(".github/workflows"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.push(Path::new(REPO).join("examples/github/publish-layer.yml"));
    for file in files {
        for line in fs::read_to_string(&file).unwrap().lines() {
            let Some(uses) = line.trim().trim_start_matches("- ").strip_prefix("uses: ") else {
                continue;
            };
            if uses.starts_with("./") || uses.starts_with("layerpub/layerpub@") {
                continue;
            }
            let sha = uses
                .split_once('@')
                .map(|(_, r)| r.split_whitespace().next().unwrap_or(""));
            assert!(
                sha.is_some_and(|s| s.len() == 40 && s.bytes().all(|b| b.is_ascii_hexdigit())),
                "{}: `{uses}` is not pinned by commit SHA",
                file.display()
            );
        }
    }
}

#[test]
fn a_token_given_as_an_input_is_masked_and_never_printed() {
    let (m, _dir, workspace, root) = workspace(true, true);
    let secret = "ghp_0123456789abcdefSECRETtoken";
    let mut with = example_with();
    with.insert("github-token".into(), secret.into());
    let r = run_action(&root, &workspace, &with, &m.env());
    r.run.assert_ok();
    let mask = format!("::add-mask::{secret}");
    assert_eq!(
        r.run.stderr.lines().filter(|l| *l == mask).count(),
        1,
        "{}",
        r.run.stderr
    );
    let everything = format!(
        "{}{}{}{:?}",
        r.run.stdout,
        r.run.stderr.replace(&mask, ""),
        r.summary,
        r.outputs
    );
    assert!(
        !everything.contains(secret),
        "the token leaked: {everything}"
    );
    // Masking must come first, before any line that could carry it.
    assert!(r.run.stderr.starts_with(&mask), "{}", r.run.stderr);
}

/// The recommended flow the example workflow shows, with the action's default `command: auto`:
/// the pull request gets a plan (nothing published, the comment says what would be), the push
/// that merges it publishes.
#[test]
fn the_example_plans_on_a_pull_request_and_publishes_on_the_push() {
    use wiremock::matchers::{method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};

    let (m, _dir, workspace, root) = workspace(true, true);
    let with = example_with();
    assert!(
        !with.contains_key("command"),
        "the example relies on the default"
    );
    let rt = tokio::runtime::Runtime::new().unwrap();
    let github = rt.block_on(MockServer::start());
    let comments = "/repos/octo/layers/issues/7/comments";
    // The workflow's own token cannot read /user: layerpub then looks for the Actions bot.
    rt.block_on(
        Mock::given(method("GET"))
            .and(path("/user"))
            .respond_with(ResponseTemplate::new(403))
            .mount(&github),
    );
    rt.block_on(
        Mock::given(method("GET"))
            .and(path(comments))
            .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!([])))
            .mount(&github),
    );
    rt.block_on(
        Mock::given(method("POST"))
            .and(path(comments))
            .respond_with(
                ResponseTemplate::new(201).set_body_json(serde_json::json!({"id": 41, "body": ""})),
            )
            .expect(1)
            .mount(&github),
    );
    let sha = "0123456789abcdef0123456789abcdef01234567";
    let mut env = m.env();
    env.push(("GITHUB_API_URL", github.uri()));
    env.push(("GITHUB_SHA", sha.into()));

    let pr = run_action_on(
        &root,
        &workspace,
        &with,
        &env,
        (
            "pull_request",
            r#"{"number": 7, "pull_request": {"number": 7}}"#,
        ),
    );
    pr.run.assert_ok();
    assert_eq!(pr.outputs["published"], "false", "{:?}", pr.outputs);
    assert!(
        m.versions("demo-built-deps").is_empty(),
        "a pull request published a version"
    );
    let requests = rt.block_on(github.received_requests()).unwrap();
    let post = requests
        .iter()
        .find(|r| r.method.as_str() == "POST")
        .expect("the plan posted no comment");
    let body = serde_json::from_slice::<Value>(&post.body).unwrap()["body"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        body.starts_with("<!-- layerpub:demo-built-deps -->"),
        "{body}"
    );
    // It says that the merge would publish, and why; it names no version ARN: none exists.
    assert!(
        body.contains("would publish a new version (first version; newest now: none)"),
        "{body}"
    );
    assert!(!body.contains("layer:demo-built-deps:1"), "{body}");
    rt.block_on(github.verify());

    // The merge: the push of the merge commit publishes, and the merged pull request's comment
    // (found from the commit) is updated in place to say what was published.
    rt.block_on(github.reset());
    rt.block_on(
        Mock::given(method("GET"))
            .and(path("/user"))
            .respond_with(ResponseTemplate::new(403))
            .mount(&github),
    );
    rt.block_on(
        Mock::given(method("GET"))
            .and(path(format!("/repos/octo/layers/commits/{sha}/pulls")))
            .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!([
                {"number": 7, "merge_commit_sha": sha, "merged_at": "2026-11-30T02:00:00Z"}
            ])))
            .expect(1)
            .mount(&github),
    );
    rt.block_on(
        Mock::given(method("GET"))
            .and(path(comments))
            .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!([
                {"id": 41, "body": body, "user": {"login": "github-actions[bot]"}}
            ])))
            .mount(&github),
    );
    rt.block_on(
        Mock::given(method("POST"))
            .respond_with(ResponseTemplate::new(201))
            .expect(0)
            .mount(&github),
    );
    rt.block_on(
        Mock::given(method("PATCH"))
            .and(path("/repos/octo/layers/issues/comments/41"))
            .respond_with(
                ResponseTemplate::new(200).set_body_json(serde_json::json!({"id": 41, "body": ""})),
            )
            .expect(1)
            .mount(&github),
    );
    let push = run_action_on(&root, &workspace, &with, &env, PUSH);
    push.run.assert_ok();
    assert_eq!(push.outputs["published"], "true");
    assert_eq!(push.outputs["layer-version"], "1");
    assert_eq!(m.versions("demo-built-deps").len(), 1);
    let requests = rt.block_on(github.received_requests()).unwrap();
    let patch = requests
        .iter()
        .find(|r| r.method.as_str() == "PATCH")
        .expect("the merged pull request's comment was not updated");
    let updated = serde_json::from_slice::<Value>(&patch.body).unwrap()["body"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        updated.contains("arn:aws:lambda:us-east-1:123456789012:layer:demo-built-deps:1"),
        "{updated}"
    );
    rt.block_on(github.verify());
}

/// `command` picks the subcommand on every event: `auto` plans on `pull_request_target` too
/// (it runs with the base repository's secrets) and on `merge_group` (before the merge), `plan` plans on a push, `publish` publishes on
/// a pull request; surrounding white space is trimmed as for every input.
#[test]
fn the_command_input_picks_plan_or_publish_whatever_the_event() {
    let (m, _dir, workspace, root) = workspace(true, true);
    let env = m.env();
    let cases = [
        ("auto", ("pull_request_target", r#"{"number": 7}"#)),
        // A merge queue checks before the merge: publishing there would publish unmerged code.
        ("auto", ("merge_group", "{}")),
        ("", ("pull_request", r#"{"number": 7}"#)),
        ("plan", PUSH),
        (" plan\n", ("workflow_dispatch", "{}")),
    ];
    for (command, event) in cases {
        let mut with = example_with();
        with.insert("command".into(), command.into());
        with.insert("comment".into(), "false".into());
        let r = run_action_on(&root, &workspace, &with, &env, event);
        r.run.assert_ok();
        assert_eq!(r.outputs["published"], "false", "{command:?} on {event:?}");
        let doc: Value = serde_json::from_str(&r.outputs["result-json"]).unwrap();
        assert_eq!(
            doc["layers"][0]["status"], "would_publish",
            "{command:?} on {event:?}"
        );
        assert!(
            m.versions("demo-built-deps").is_empty(),
            "{command:?} on {event:?} published"
        );
    }
    let mut with = example_with();
    with.insert("command".into(), "publish".into());
    with.insert("comment".into(), "false".into());
    let r = run_action_on(
        &root,
        &workspace,
        &with,
        &env,
        ("pull_request", r#"{"number": 7}"#),
    );
    r.run.assert_ok();
    assert_eq!(r.outputs["published"], "true");
    assert_eq!(m.versions("demo-built-deps").len(), 1);
}

#[test]
fn an_unknown_command_is_refused_before_anything_runs() {
    let dir = temp();
    let root = action_dir(dir.path(), true);
    let mut with = BTreeMap::new();
    with.insert("command".to_owned(), "deploy $(id)".to_owned());
    let r = run_action(&root, dir.path(), &with, &[]);
    assert_eq!(r.run.code, 1, "{r:?}", r = r.run.stderr);
    assert!(
        r.run.stdout.contains(
            r"::error title=layerpub::the command input is deploy\ \$\(id\): set it to auto (the default: plan on pull_request, pull_request_target and merge_group, else publish), publish or plan"
        ),
        "{}",
        r.run.stdout
    );
    assert!(r.outputs.is_empty(), "the binary ran: {:?}", r.outputs);
}

/// The README's first workflow is the example file, byte for byte, so what users copy is what
/// the runner simulation above runs.
#[test]
fn the_readme_shows_the_tested_example_workflow() {
    let readme = fs::read_to_string(Path::new(REPO).join("README.md")).unwrap();
    let example =
        fs::read_to_string(Path::new(REPO).join("examples/github/publish-layer.yml")).unwrap();
    assert!(
        readme.contains(&format!("```yaml\n{example}```\n")),
        "README.md's GitHub Action section must show examples/github/publish-layer.yml as it is"
    );
}

fn workflow(name: &str) -> Value {
    yaml(&Path::new(REPO).join(".github/workflows").join(name))
}

/// Every step of every job of a workflow, with its job's name.
fn steps(wf: &Value) -> Vec<(String, Value)> {
    let mut all = Vec::new();
    for (job, spec) in wf["jobs"].as_object().unwrap() {
        for s in spec["steps"].as_array().unwrap() {
            all.push((job.clone(), s.clone()));
        }
    }
    all
}

fn uses(step: &Value) -> &str {
    step["uses"].as_str().unwrap_or("")
}

/// The example asks for the three permissions the flow needs and no more, and runs on pull
/// requests (the plan) and on pushes to main (the publish).
#[test]
fn the_example_workflow_runs_on_pull_requests_and_main_with_minimal_permissions() {
    let wf = yaml(&Path::new(REPO).join("examples/github/publish-layer.yml"));
    assert_eq!(
        wf["permissions"],
        serde_json::json!({"contents": "read", "pull-requests": "write", "id-token": "write"})
    );
    let on = wf["on"].as_object().expect("on: is a map of events");
    assert!(on.contains_key("pull_request"), "{on:?}");
    assert_eq!(on["push"]["branches"], serde_json::json!(["main"]));
    assert_eq!(on.len(), 2, "{on:?}");
    for (_, s) in steps(&wf) {
        if uses(&s).starts_with("actions/checkout@") {
            assert_eq!(s["with"]["persist-credentials"], false, "{s}");
        }
    }
}

/// release.yml: the workflow grants nothing and each job asks for what it needs; only the job
/// that pushes the tags may write contents, only the image job may write packages.
#[test]
fn the_release_workflow_gives_each_job_only_the_permissions_it_needs() {
    let wf = workflow("release.yml");
    assert_eq!(wf["permissions"], serde_json::json!({}));
    let jobs = wf["jobs"].as_object().unwrap();
    assert_eq!(
        jobs["build"]["permissions"],
        serde_json::json!({"contents": "read"})
    );
    assert_eq!(
        jobs["release"]["permissions"],
        serde_json::json!({"contents": "write"})
    );
    assert_eq!(
        jobs["image"]["permissions"],
        serde_json::json!({"contents": "read", "packages": "write"})
    );
    for (name, job) in jobs {
        let permissions = job["permissions"]
            .as_object()
            .unwrap_or_else(|| panic!("job {name} sets no permissions of its own"));
        for (scope, level) in permissions {
            let allowed = matches!(
                (name.as_str(), scope.as_str()),
                ("release", "contents") | ("image", "packages")
            );
            assert!(
                level == "read" || allowed,
                "job {name} may write {scope}: only release writes contents, only image packages"
            );
        }
    }
    // One release at a time, never cancelled halfway.
    assert_eq!(wf["concurrency"]["group"], "release");
    assert_eq!(wf["concurrency"]["cancel-in-progress"], false);
}

/// Checkouts keep no token in .git/config unless the job pushes; uploads fail when the file is
/// missing instead of publishing a release without a binary.
#[test]
fn workflows_persist_no_credentials_and_upload_nothing_missing() {
    for name in ["ci.yml", "release.yml"] {
        for (job, s) in steps(&workflow(name)) {
            if uses(&s).starts_with("actions/checkout@") {
                let pushes = name == "release.yml" && job == "release";
                assert_eq!(
                    s["with"]["persist-credentials"], pushes,
                    "{name} job {job}: persist-credentials must be {pushes}"
                );
            }
            if uses(&s).starts_with("actions/upload-artifact@") {
                assert_eq!(s["with"]["if-no-files-found"], "error", "{name} job {job}");
            }
        }
    }
}

/// Tools the release installs are pinned, so a release is rebuilt with the same tools.
#[test]
fn the_release_pins_the_tools_it_installs() {
    let wf = workflow("release.yml");
    let scripts: Vec<String> = steps(&wf)
        .iter()
        .filter_map(|(_, s)| s["run"].as_str().map(str::to_owned))
        .collect();
    let lines: Vec<&str> = scripts
        .iter()
        .flat_map(|s| s.lines())
        .map(str::trim)
        .collect();
    let installs: Vec<&&str> = lines
        .iter()
        .filter(|l| l.starts_with("cargo install") || l.starts_with("pip install"))
        .collect();
    assert!(!installs.is_empty());
    for line in installs {
        let pinned = if line.starts_with("cargo install") {
            line.contains(" --locked ")
                && line.split_whitespace().last().is_some_and(|pkg| {
                    pkg.split_once('@').is_some_and(|(_, v)| {
                        v.split('.').count() == 3 && v.split('.').all(|n| n.parse::<u32>().is_ok())
                    })
                })
        } else {
            line.split_whitespace()
                .skip(2)
                .all(|pkg| pkg.contains("=="))
        };
        assert!(pinned, "release.yml installs an unpinned tool: `{line}`");
    }
    assert!(
        lines.contains(&"cargo install --locked cargo-zigbuild@0.24.1"),
        "{lines:?}"
    );
}

/// The release commit carries the GitLab component stamped with the release's version and
/// checksums: the stamp runs after the checksum list is written and before the commit, and
/// the stamped template is committed.
#[test]
fn the_release_commit_stamps_the_gitlab_component() {
    let wf = workflow("release.yml");
    let script = steps(&wf)
        .into_iter()
        .filter(|(job, _)| job == "release")
        .find_map(|(_, s)| s["run"].as_str().map(str::to_owned))
        .unwrap();
    let at = |needle: &str| {
        script
            .find(needle)
            .unwrap_or_else(|| panic!("the release script lacks `{needle}`"))
    };
    let checksums = at("> dist/checksums.txt");
    let stamp = at(r#"bash scripts/stamp-component.sh "$VERSION" dist/checksums.txt"#);
    let add = at("git add -f dist/bin dist/checksums.txt templates/layerpub.yml");
    let commit = at("git commit");
    assert!(checksums < stamp && stamp < add && add < commit, "{script}");
}

/// The container image is built from container/Dockerfile for both architectures, from the
/// release tag's binaries, and pushed to ghcr.io under the version, by a job of its own.
#[test]
fn the_release_pushes_the_container_image_for_both_architectures() {
    let wf = workflow("release.yml");
    let image = &wf["jobs"]["image"];
    assert_eq!(image["needs"], "release");
    let steps = image["steps"].as_array().unwrap();
    let checkout = steps
        .iter()
        .find(|s| uses(s).starts_with("actions/checkout@"))
        .unwrap();
    assert_eq!(
        checkout["with"]["ref"], "refs/tags/v${{ inputs.version }}",
        "the image is built from the release tag"
    );
    let verify = steps
        .iter()
        .find_map(|s| s["run"].as_str())
        .unwrap_or_default();
    assert!(
        verify.contains("sha256sum --check --strict ../checksums.txt"),
        "{verify}"
    );
    let build = steps
        .iter()
        .find(|s| uses(s).starts_with("docker/build-push-action@"))
        .unwrap();
    let with = &build["with"];
    assert_eq!(with["context"], "dist/bin");
    assert_eq!(with["file"], "container/Dockerfile");
    assert_eq!(with["platforms"], "linux/amd64,linux/arm64");
    assert_eq!(with["push"], true);
    assert_eq!(
        with["tags"],
        "${{ steps.image.outputs.name }}:${{ inputs.version }}"
    );
    assert!(verify.contains(r#"echo "name=ghcr.io/${GITHUB_REPOSITORY,,}""#));
    for needed in [
        "docker/setup-qemu-action@",
        "docker/setup-buildx-action@",
        "docker/login-action@",
    ] {
        assert!(
            steps.iter().any(|s| uses(s).starts_with(needed)),
            "{needed}"
        );
    }
}

/// Each third-party action is pinned to one verified commit everywhere, its release tag in the
/// comment: these SHAs were checked against each action's repository (the tag's commit), the
/// newest release of the action's current major version when pinned.
#[test]
fn every_pinned_action_is_a_verified_release_commit() {
    let verified: BTreeMap<&str, (&str, &str)> = [
        (
            "actions/checkout",
            ("3d3c42e5aac5ba805825da76410c181273ba90b1", "v7.0.1"),
        ),
        (
            "actions/cache",
            ("27d5ce7f107fe9357f9df03efb73ab90386fccae", "v5.0.5"),
        ),
        (
            "actions/upload-artifact",
            ("bbbca2ddaa5d8feaa63e36b76fdaad77386f024f", "v7.0.0"),
        ),
        (
            "actions/download-artifact",
            ("3e5f45b2cfb9172054b4087a40e8e0b5a5461e7c", "v8.0.1"),
        ),
        (
            "aws-actions/configure-aws-credentials",
            ("e6de054238d6b7531b4efff3b6587d9aade6a06c", "v6.2.3"),
        ),
        (
            "docker/setup-qemu-action",
            ("96fe6ef7f33517b61c61be40b68a1882f3264fb8", "v4.2.0"),
        ),
        (
            "docker/setup-buildx-action",
            ("37fe631027851001ddb9b187196cc803df7f5f0e", "v4.3.0"),
        ),
        (
            "docker/login-action",
            ("4907a6ddec9925e35a0a9e82d7399ccc52663121", "v4.1.0"),
        ),
        (
            "docker/build-push-action",
            ("53b7df96c91f9c12dcc8a07bcb9ccacbed38856a", "v7.3.0"),
        ),
    ]
    .into_iter()
    .collect();
    let files = [
        ".github/workflows/ci.yml",
        ".github/workflows/release.yml",
        "examples/github/publish-layer.yml",
    ];
    for file in files {
        for line in fs::read_to_string(Path::new(REPO).join(file))
            .unwrap()
            .lines()
        {
            let Some(uses) = line.trim().trim_start_matches("- ").strip_prefix("uses: ") else {
                continue;
            };
            if uses.starts_with("./") || uses.starts_with("layerpub/layerpub@") {
                continue;
            }
            let (action, pin) = uses.split_once('@').unwrap();
            let (sha, tag) = verified
                .get(action)
                .unwrap_or_else(|| panic!("{file}: {action} has no verified pin here"));
            assert_eq!(
                pin,
                format!("{sha} # {tag}"),
                "{file}: pin {action} to its verified release commit, the tag as a comment"
            );
        }
    }
}

/// .ci/run audits the action and the workflows with a pinned zizmor, offline, failing on a
/// finding of medium severity or higher.
#[test]
fn ci_runs_a_pinned_zizmor_offline_over_the_action_and_the_workflows() {
    let ci = fs::read_to_string(Path::new(REPO).join(".ci/run")).unwrap();
    assert!(
        ci.lines().any(|l| l.trim() == "bash scripts/zizmor.sh"),
        ".ci/run does not run scripts/zizmor.sh"
    );
    let script = fs::read_to_string(Path::new(REPO).join("scripts/zizmor.sh")).unwrap();
    assert!(
        script.lines().any(|l| l
            .strip_prefix("ZIZMOR_VERSION=")
            .is_some_and(|v| v.split('.').all(|n| n.parse::<u32>().is_ok()))),
        "zizmor's version is not pinned"
    );
    assert!(script.contains(r#""zizmor==$ZIZMOR_VERSION""#));
    assert!(
        script.contains(
            r#"exec "$venv/bin/zizmor" --offline --min-severity medium action.yml .github/workflows/"#
        ),
        "{script}"
    );
}

/// ci.yml runs the action from the checkout on pushes and pull requests alike, and checks that
/// it publishes: so it asks for `publish` (on a pull request `auto` would plan), and every input
/// it gives is one action.yml declares.
#[test]
fn ci_runs_the_action_from_the_checkout_as_a_publish_on_every_event() {
    let action = action();
    let inputs = action["inputs"].as_object().unwrap();
    let local: Vec<(String, Value)> = steps(&workflow("ci.yml"))
        .into_iter()
        .filter(|(_, s)| uses(s) == "./")
        .collect();
    assert!(!local.is_empty());
    for (job, s) in local {
        let with = s["with"].as_object().unwrap();
        assert_eq!(with["command"], "publish", "ci.yml job {job}: {s}");
        for name in with.keys() {
            assert!(
                inputs.contains_key(name),
                "ci.yml job {job}: no input {name}"
            );
        }
    }
}
