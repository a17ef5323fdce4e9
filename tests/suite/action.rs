//! The GitHub Action, run the way the runner runs a composite action: read action.yml, fill in
//! the `${{ inputs.* }}` expressions of the step's `env:` from a `with:` block (defaults for
//! the rest), run the step's script with bash and the runner's files (`GITHUB_OUTPUT`,
//! `GITHUB_STEP_SUMMARY`, `GITHUB_EVENT_PATH`) in a temporary folder, against moto.

use crate::common;

use std::collections::BTreeMap;
use std::fs;
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
        &Path::new(REPO).join("examples/python-layer"),
        &workspace.join("examples/python-layer"),
    );
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
        "arn:aws:lambda:us-east-1:123456789012:layer:demo-python-deps:1"
    );
    assert_eq!(
        o["layer-arn"],
        "arn:aws:lambda:us-east-1:123456789012:layer:demo-python-deps"
    );
    assert_eq!(o["reason"], "first_version");
    assert_eq!(o["previous-version"], "");
    assert_eq!(
        o["code-sha256"],
        m.aws(&["code-sha256", "demo-python-deps", "1"])
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
    // The multi-line runtimes input reached the binary as a list.
    let versions = m.versions("demo-python-deps");
    assert_eq!(versions.len(), 1);

    let second = run_action(&root, &workspace, &with, &env);
    second.run.assert_ok();
    assert_eq!(second.outputs["published"], "false");
    assert_eq!(second.outputs["layer-version"], "1");
    assert_eq!(second.outputs["reason"], "unchanged");
    assert_eq!(m.versions("demo-python-deps").len(), 1);
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
    assert!(m.versions("demo-python-deps").is_empty(), "nothing ran");
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
    let first = run_action_on(&root, &workspace, &example_with(), &env, event);
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
        body.starts_with("<!-- layerpub:demo-python-deps -->"),
        "{body}"
    );
    assert!(
        body.contains("arn:aws:lambda:us-east-1:123456789012:layer:demo-python-deps:1"),
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
    let second = run_action_on(&root, &workspace, &example_with(), &env, event);
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
        &example_with(),
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
    assert_eq!(m.versions("demo-python-deps").len(), 1);
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
