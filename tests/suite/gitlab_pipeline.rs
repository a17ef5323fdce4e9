//! The GitLab component (templates/layerpub.yml) run the way GitLab runs it: the inputs checked
//! against `spec: inputs:` (types, options, required), interpolated (`$[[ inputs.x ]]`, a lone
//! block keeping its type, `| truncate(a,b)`), `extends:` resolved, `rules:` evaluated for the
//! pipeline, the variables layered by GitLab's precedence (predefined < global `variables:` <
//! job and rules variables < dotenv inherited from earlier jobs < project CI/CD variables), and
//! the job's script run with `sh` (dash here, as busybox sh on alpine). The binary comes from a
//! local download server with the checksums stamped by scripts/stamp-component.sh, or from
//! PATH; AWS is moto; the GitLab API a local wiremock.

use crate::common;

use std::collections::BTreeMap;
use std::fs;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use common::moto::moto;
use common::*;
use serde_json::{Map, Value, json};

pub(crate) const REPO: &str = env!("CARGO_MANIFEST_DIR");
pub(crate) const TEMPLATE: &str = include_str!("../../templates/layerpub.yml");
/// The release file name of this machine's architecture (the tests run on x86_64 Linux).
const X86_64: &str = "layerpub-x86_64-unknown-linux-musl";
const AARCH64: &str = "layerpub-aarch64-unknown-linux-musl";

// ---------------------------------------------------------------------------------------------
// The component, as GitLab reads it.

/// The `spec:` header and the text of the job document.
pub(crate) fn split(template: &str) -> (Value, &str) {
    let (header, body) = template
        .split_once("\n---\n")
        .expect("a `spec:` header, a `---` line, then the jobs");
    let header: Value = serde_saphyr::from_str(header).expect("the header is YAML");
    (header, body)
}

pub(crate) fn spec_inputs(template: &str) -> Map<String, Value> {
    split(template).0["spec"]["inputs"]
        .as_object()
        .expect("spec: inputs: is a map")
        .clone()
}

/// The inputs GitLab would interpolate: each given value checked against its input's type and
/// `options:`, defaults for the rest; an error (as GitLab refuses the pipeline) otherwise.
pub(crate) fn resolve_inputs(
    template: &str,
    given: &Map<String, Value>,
) -> Result<Map<String, Value>, String> {
    let spec = spec_inputs(template);
    for name in given.keys() {
        if !spec.contains_key(name) {
            return Err(format!("unknown input name provided: `{name}`"));
        }
    }
    let mut out = Map::new();
    for (name, s) in &spec {
        let value = match given.get(name).or_else(|| s.get("default")) {
            Some(v) => v.clone(),
            None => {
                return Err(format!(
                    "`{name}` input: required value has not been provided"
                ));
            }
        };
        let ty = s.get("type").and_then(Value::as_str).unwrap_or("string");
        let ok = match ty {
            "string" => value.is_string(),
            "boolean" => value.is_boolean(),
            "number" => value.is_number(),
            "array" => value.is_array(),
            other => return Err(format!("`{name}`: unknown input type {other}")),
        };
        if !ok {
            return Err(format!("`{name}` input: provided value is not a {ty}"));
        }
        if let Some(options) = s.get("options").and_then(Value::as_array)
            && !options.contains(&value)
        {
            return Err(format!(
                "`{name}` input: `{value}` cannot be used because it is not in the list of allowed options"
            ));
        }
        out.insert(name.clone(), value);
    }
    Ok(out)
}

/// How GitLab writes a value into a longer string: arrays as Ruby prints them.
fn text_of(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Array(items) => format!(
            "[{}]",
            items
                .iter()
                .map(|i| i.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ),
        other => other.to_string(),
    }
}

/// `inputs.NAME | truncate(a,b) | …` → the value.
fn block_value(inner: &str, inputs: &Map<String, Value>) -> Value {
    let mut parts = inner.split('|').map(str::trim);
    let access = parts.next().unwrap();
    let name = access
        .strip_prefix("inputs.")
        .unwrap_or_else(|| panic!("`{access}` is not an input"));
    let mut value = inputs
        .get(name)
        .unwrap_or_else(|| panic!("unknown interpolation key: `{name}`"))
        .clone();
    for f in parts {
        let args = f
            .strip_prefix("truncate(")
            .and_then(|a| a.strip_suffix(')'))
            .unwrap_or_else(|| panic!("unsupported function {f}"));
        let (a, b) = args.split_once(',').unwrap();
        let (a, b): (usize, usize) = (a.trim().parse().unwrap(), b.trim().parse().unwrap());
        let s = text_of(&value);
        value = Value::String(s.chars().skip(a).take(b).collect());
    }
    value
}

fn interpolate_str(s: &str, inputs: &Map<String, Value>) -> Value {
    let t = s.trim();
    if t.starts_with("$[[") && t.ends_with("]]") && t.matches("$[[").count() == 1 {
        return block_value(&t[3..t.len() - 2], inputs);
    }
    let mut out = String::new();
    let mut rest = s;
    while let Some(at) = rest.find("$[[") {
        out.push_str(&rest[..at]);
        let (inner, after) = rest[at + 3..].split_once("]]").expect("`$[[` closed");
        out.push_str(&text_of(&block_value(inner, inputs)));
        rest = after;
    }
    out.push_str(rest);
    Value::String(out)
}

fn interpolate(v: &Value, inputs: &Map<String, Value>) -> Value {
    match v {
        Value::String(s) => interpolate_str(s, inputs),
        Value::Array(a) => Value::Array(a.iter().map(|x| interpolate(x, inputs)).collect()),
        Value::Object(m) => Value::Object(
            m.iter()
                .map(|(k, x)| (text_of(&interpolate_str(k, inputs)), interpolate(x, inputs)))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// The job documents after interpolation, or GitLab's refusal.
pub(crate) fn render(template: &str, given: &Map<String, Value>) -> Result<Value, String> {
    let inputs = resolve_inputs(template, given)?;
    let (_, body) = split(template);
    let jobs: Value = serde_saphyr::from_str(body).expect("the job document is YAML");
    Ok(interpolate(&jobs, &inputs))
}

/// Deep merge, as `extends:` does: maps merge, anything else is replaced.
fn merge(base: &mut Value, over: &Value) {
    match (base, over) {
        (Value::Object(b), Value::Object(o)) => {
            for (k, v) in o {
                merge(b.entry(k.clone()).or_insert(Value::Null), v);
            }
        }
        (b, o) => *b = o.clone(),
    }
}

/// The one visible job of the rendered document, with its `extends:` applied.
pub(crate) fn the_job(rendered: &Value) -> (String, Value) {
    let jobs = rendered.as_object().unwrap();
    let visible: Vec<_> = jobs.iter().filter(|(k, _)| !k.starts_with('.')).collect();
    assert_eq!(visible.len(), 1, "one job: {:?}", jobs.keys());
    let (name, job) = visible[0];
    let mut job = job.clone();
    if let Some(parent) = job.as_object_mut().unwrap().remove("extends") {
        let parent = parent.as_str().unwrap();
        let mut base = jobs
            .get(parent)
            .unwrap_or_else(|| panic!("{name}: unknown key in extends: {parent}"))
            .clone();
        merge(&mut base, &job);
        job = base;
    }
    (name.clone(), job)
}

pub(crate) fn job_with(given: Value) -> (String, Value) {
    let given = given.as_object().unwrap().clone();
    the_job(&render(TEMPLATE, &given).expect("GitLab accepts the inputs"))
}

// ---------------------------------------------------------------------------------------------
// rules: and variables.

/// One side of a comparison in `rules: if:`: a variable (unset is null) or a quoted string,
/// which GitLab never expands.
fn operand(text: &str, vars: &BTreeMap<String, String>) -> Option<String> {
    let t = text.trim();
    if let Some(name) = t.strip_prefix('$') {
        vars.get(name).cloned()
    } else {
        let inner = t
            .strip_prefix('"')
            .and_then(|x| x.strip_suffix('"'))
            .unwrap_or_else(|| panic!("unsupported operand {t}"));
        Some(inner.to_owned())
    }
}

/// `rules: if:` as far as the component uses it: clauses joined by `&&`, each `A == B`,
/// `A != B` or a bare `$VAR` (true when set and not empty).
pub(crate) fn expression(expr: &str, vars: &BTreeMap<String, String>) -> bool {
    expr.split("&&").all(|clause| {
        if let Some((a, b)) = clause.split_once("!=") {
            operand(a, vars) != operand(b, vars)
        } else if let Some((a, b)) = clause.split_once("==") {
            operand(a, vars) == operand(b, vars)
        } else {
            operand(clause, vars).is_some_and(|v| !v.is_empty())
        }
    })
}

/// Whether GitLab adds the job to a pipeline with these variables, and the variables its
/// matching rule sets: the first rule whose `if:` holds decides; none matching, no job.
pub(crate) fn rules_outcome(
    job: &Value,
    vars: &BTreeMap<String, String>,
) -> Option<BTreeMap<String, String>> {
    for rule in job["rules"].as_array().expect("the job has rules:") {
        let holds = rule
            .get("if")
            .and_then(Value::as_str)
            .is_none_or(|e| expression(e, vars));
        if holds {
            if rule["when"] == "never" {
                return None;
            }
            return Some(
                rule.get("variables")
                    .and_then(Value::as_object)
                    .map(|m| {
                        m.iter()
                            .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_owned()))
                            .collect()
                    })
                    .unwrap_or_default(),
            );
        }
    }
    None
}

/// `$NAME` and `${NAME}` replaced from `vars` (unset: empty), as GitLab expands a variable's
/// value unless it says `expand: false`.
fn expand(value: &str, vars: &BTreeMap<String, String>) -> String {
    let mut out = String::new();
    let mut chars = value.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '$' {
            out.push(c);
            continue;
        }
        let braced = chars.peek() == Some(&'{');
        if braced {
            chars.next();
        }
        let mut name = String::new();
        while let Some(&n) = chars.peek() {
            if n.is_ascii_alphanumeric() || n == '_' {
                name.push(n);
                chars.next();
            } else {
                break;
            }
        }
        if braced {
            chars.next();
        }
        if name.is_empty() {
            out.push('$');
        } else {
            out.push_str(vars.get(&name).map_or("", String::as_str));
        }
    }
    out
}

/// The job's `variables:` (and its rule's), each expanded unless `expand: false`.
fn job_variables(
    job: &Value,
    rule_vars: &BTreeMap<String, String>,
    context: &BTreeMap<String, String>,
) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    if let Some(vars) = job.get("variables").and_then(Value::as_object) {
        for (k, v) in vars {
            let value = match v {
                Value::String(s) => expand(s, context),
                Value::Object(o) => {
                    let raw = o["value"].as_str().expect("value: is text");
                    if o.get("expand") == Some(&Value::Bool(false)) {
                        raw.to_owned()
                    } else {
                        expand(raw, context)
                    }
                }
                other => panic!("{k}: GitLab refuses a variable whose value is {other}"),
            };
            out.insert(k.clone(), value);
        }
    }
    out.extend(rule_vars.clone());
    out
}

/// A dotenv report, as GitLab reads it: `NAME=value` lines.
pub(crate) fn read_dotenv(path: &Path) -> BTreeMap<String, String> {
    fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("no dotenv report at {}: {e}", path.display()))
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let (k, v) = l.split_once('=').expect("NAME=value");
            (k.to_owned(), v.to_owned())
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// A pipeline.

/// What GitLab knows about the pipeline, plus the variables of the levels the component does not
/// define: `global` (the user's top-level `variables:`) and `project` (CI/CD settings).
#[derive(Clone, Default)]
pub(crate) struct Pipeline {
    pub predefined: BTreeMap<String, String>,
    pub global: BTreeMap<String, String>,
    pub project: BTreeMap<String, String>,
    /// Directories put before the system's PATH (a `layerpub` for `binary: path`, a fake
    /// `uname`).
    pub path: Vec<PathBuf>,
}

fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

impl Pipeline {
    /// A push pipeline on `branch` of a project whose default branch is `main`.
    pub fn push(branch: &str) -> Pipeline {
        Pipeline {
            predefined: map(&[
                ("CI", "true"),
                ("GITLAB_CI", "true"),
                ("CI_PIPELINE_SOURCE", "push"),
                ("CI_COMMIT_BRANCH", branch),
                ("CI_COMMIT_REF_NAME", branch),
                ("CI_DEFAULT_BRANCH", "main"),
                ("CI_PROJECT_ID", "42"),
                ("CI_PROJECT_PATH", "group/proj"),
            ]),
            ..Pipeline::default()
        }
    }

    /// A tag pipeline.
    pub fn tag(tag: &str) -> Pipeline {
        let mut p = Pipeline::push("main");
        p.predefined.remove("CI_COMMIT_BRANCH");
        p.predefined.insert("CI_COMMIT_TAG".into(), tag.into());
        p.predefined.insert("CI_COMMIT_REF_NAME".into(), tag.into());
        p
    }

    /// A merge-request pipeline for merge request !7 from `branch`.
    pub fn merge_request(branch: &str) -> Pipeline {
        let mut p = Pipeline::push(branch);
        p.predefined.remove("CI_COMMIT_BRANCH");
        p.predefined
            .insert("CI_PIPELINE_SOURCE".into(), "merge_request_event".into());
        p.predefined
            .insert("CI_MERGE_REQUEST_IID".into(), "7".into());
        p.predefined
            .insert("CI_MERGE_REQUEST_SOURCE_BRANCH_NAME".into(), branch.into());
        p
    }

    fn rule_context(&self) -> BTreeMap<String, String> {
        let mut v = self.predefined.clone();
        v.extend(self.global.clone());
        v.extend(self.project.clone());
        v
    }

    /// Whether the job is in this pipeline, and with which rule variables.
    pub fn decide(&self, job: &Value) -> Option<BTreeMap<String, String>> {
        rules_outcome(job, &self.rule_context())
    }
}

/// One job as the runner ran it.
pub(crate) struct JobRun {
    pub run: Run,
    pub env: BTreeMap<String, String>,
}

/// Runs `job` (already in the pipeline: `rule_vars` from [`Pipeline::decide`]) in `workdir`,
/// with the dotenv variables it inherits, as the runner would: every variable layered by
/// GitLab's precedence, `before_script` and `script` in one `sh`, then `after_script`.
pub(crate) fn run_job(
    pipeline: &Pipeline,
    job: &Value,
    rule_vars: &BTreeMap<String, String>,
    inherited: &BTreeMap<String, String>,
    workdir: &Path,
    job_id: u32,
) -> JobRun {
    let builds = workdir.parent().unwrap();
    let mut env = pipeline.predefined.clone();
    env.insert("CI_PROJECT_DIR".into(), workdir.display().to_string());
    env.insert("CI_BUILDS_DIR".into(), builds.display().to_string());
    env.insert("CI_JOB_ID".into(), job_id.to_string());
    env.extend(pipeline.global.clone());
    // Expanded at run time, when every level is known.
    let mut context = env.clone();
    context.extend(inherited.clone());
    context.extend(pipeline.project.clone());
    let own = job_variables(job, rule_vars, &context);
    env.extend(own);
    env.extend(inherited.clone());
    env.extend(pipeline.project.clone());
    // id_tokens: GitLab issues each one as a variable holding a signed JWT.
    if let Some(tokens) = job.get("id_tokens").and_then(Value::as_object) {
        for (name, spec) in tokens {
            let aud = spec["aud"].as_str().unwrap();
            env.insert(name.clone(), format!("fake.jwt.for-{aud}"));
        }
    }
    let lines = |key: &str| -> String {
        job.get(key)
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .map(|l| l.as_str().unwrap().to_owned())
                    .collect::<Vec<_>>()
                    .join("\n")
            })
            .unwrap_or_default()
    };
    let system_path = std::env::var("PATH").unwrap_or_default();
    let mut path: Vec<String> = pipeline
        .path
        .iter()
        .map(|p| p.display().to_string())
        .collect();
    path.push(system_path);
    let sh = |script: String| -> Run {
        ci_command("sh")
            .arg("-e")
            .arg("-c")
            .arg(script)
            .current_dir(workdir)
            .env_clear()
            .envs(&env)
            .env("PATH", path.join(":"))
            .env("HOME", builds)
            .output()
            .unwrap()
            .into()
    };
    let run = sh(format!("{}\n{}", lines("before_script"), lines("script")));
    let _after = sh(lines("after_script"));
    JobRun { run, env }
}

// ---------------------------------------------------------------------------------------------
// The binary's download server, and the component as a release stamps it.

/// A tiny HTTP server on a free loopback port: GET `/<folder>/<file>` answers the file's bytes
/// from `files` (any folder), anything else 404. Records the paths asked for.
pub(crate) struct Downloads {
    pub url: String,
    pub asked: Arc<Mutex<Vec<String>>>,
}

pub(crate) fn serve(files: BTreeMap<String, PathBuf>) -> Downloads {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let asked = Arc::new(Mutex::new(Vec::new()));
    let log = asked.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut request = String::new();
            let _ = reader.read_line(&mut request);
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
            }
            let target = request.split(' ').nth(1).unwrap_or("").to_owned();
            log.lock().unwrap().push(target.clone());
            let file = target.rsplit('/').next().unwrap_or("");
            match files.get(file).map(fs::read) {
                Some(Ok(body)) => {
                    let _ = write!(
                        stream,
                        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                        body.len()
                    );
                    let _ = stream.write_all(&body);
                }
                _ => {
                    let _ = stream.write_all(
                        b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                    );
                }
            }
        }
    });
    Downloads { url, asked }
}

pub(crate) fn sha256_hex(path: &Path) -> String {
    format!(
        "{:x}",
        <sha2::Sha256 as sha2::Digest>::digest(fs::read(path).unwrap())
    )
}

/// The component as `scripts/stamp-component.sh VERSION CHECKSUMS` writes it on a release.
pub(crate) fn stamped(dir: &Path, version: &str, x86_64_sha: &str) -> String {
    let template = dir.join("layerpub.yml");
    fs::write(&template, TEMPLATE).unwrap();
    let sums = dir.join("checksums.txt");
    fs::write(
        &sums,
        format!(
            "# SHA-256 of the release binaries\n{x86_64_sha}  {X86_64}\n{}  {AARCH64}\n",
            "b".repeat(64)
        ),
    )
    .unwrap();
    let out = ci_command("sh")
        .arg(Path::new(REPO).join("scripts/stamp-component.sh"))
        .args([Path::new(version), &sums, &template])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "stamp-component.sh: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    fs::read_to_string(&template).unwrap()
}

/// A folder holding only a `layerpub` that is this build's binary, for `binary: path`.
pub(crate) fn layerpub_on_path(dir: &Path) -> PathBuf {
    let bin = dir.join("path-bin");
    fs::create_dir_all(&bin).unwrap();
    std::os::unix::fs::symlink(BIN, bin.join("layerpub")).unwrap();
    bin
}

/// A `layerpub` that runs nothing: it records its arguments and environment in the working
/// folder (`.layerpub-args`, `.layerpub-env`, NUL-separated) and prints `{}`.
pub(crate) fn recording_layerpub(dir: &Path) -> PathBuf {
    let bin = dir.join("recording-bin");
    write_file(
        &bin,
        "layerpub",
        b"#!/bin/sh\nprintf '%s\\n' \"$*\" > .layerpub-args\nenv -0 > .layerpub-env\necho '{}'\n",
        0o755,
    );
    bin
}

/// The environment the recording `layerpub` saw.
pub(crate) fn recorded_env(workdir: &Path) -> BTreeMap<String, String> {
    let raw = fs::read(workdir.join(".layerpub-env")).expect("layerpub ran");
    raw.split(|b| *b == 0)
        .filter(|e| !e.is_empty())
        .map(|e| {
            let e = String::from_utf8_lossy(e);
            let (k, v) = e.split_once('=').unwrap();
            (k.to_owned(), v.to_owned())
        })
        .collect()
}

/// A job's working folder (`CI_PROJECT_DIR`) under its own builds folder.
pub(crate) fn workdir(root: &Path, name: &str) -> PathBuf {
    let w = root.join(format!("builds-{name}")).join("project");
    fs::create_dir_all(&w).unwrap();
    w
}

/// The sample layer's files in a job's working folder: `site-packages/`, `requirements.txt`.
fn checkout(workdir: &Path) {
    copy_tree(
        &Path::new(REPO).join("examples/python-layer/site-packages"),
        &workdir.join("site-packages"),
    );
    fs::copy(
        Path::new(REPO).join("examples/python-layer/requirements.txt"),
        workdir.join("requirements.txt"),
    )
    .unwrap();
}

fn layerpub_vars(env: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    env.iter()
        .filter(|(k, _)| k.starts_with("LAYERPUB_"))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

// ---------------------------------------------------------------------------------------------
// The tests.

/// Issue 14: two layerpub jobs in two stages, the second inheriting the first's dotenv report,
/// two layers in two regions, then a `needs:` job reading the second's result. The binary is
/// downloaded from a local server and checked against the stamped checksums.
#[test]
fn two_jobs_in_two_stages_publish_two_layers_in_two_regions() {
    let m = moto();
    let dir = temp();
    let downloads = serve(BTreeMap::from([(X86_64.to_owned(), PathBuf::from(BIN))]));
    let template = stamped(dir.path(), "1.2.3", &sha256_hex(Path::new(BIN)));
    let mut pipeline = Pipeline::push("main");
    // The project's CI/CD variables: AWS credentials and the emulator (AWS_REGION us-east-1).
    pipeline.project = m
        .env()
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
    let include = |layer: &str, region: &str, job: &str| -> (String, Value) {
        let given = json!({
            "job-name": job,
            "download-url": format!("{}/mirror/v{{version}}/", downloads.url),
            "layer-name": layer,
            "path": "site-packages",
            "prefix": "python",
            "manifest": ["requirements.txt"],
            "region": region,
            "comment": false,
        });
        the_job(&render(&template, given.as_object().unwrap()).unwrap())
    };

    // Stage 1: layer-a in us-east-1.
    let (_, job1) = include("layer-a", "us-east-1", "publish-a");
    let rules1 = pipeline.decide(&job1).expect("the job runs on main");
    let w1 = workdir(dir.path(), "1");
    checkout(&w1);
    let one = run_job(&pipeline, &job1, &rules1, &BTreeMap::new(), &w1, 101);
    one.run.assert_ok();
    let report1 = read_dotenv(&w1.join("layerpub.env"));
    assert_eq!(report1["LAYERPUB_PUBLISHED"], "true", "{report1:?}");
    assert!(
        report1["LAYERPUB_LAYER_VERSION_ARN"].contains(":us-east-1:")
            && report1["LAYERPUB_LAYER_VERSION_ARN"].contains(":layer:layer-a:1"),
        "{report1:?}"
    );
    assert!(
        downloads
            .asked
            .lock()
            .unwrap()
            .contains(&format!("/mirror/v1.2.3/{X86_64}")),
        "the binary came from download-url with the version filled in: {:?}",
        downloads.asked.lock().unwrap()
    );

    // Stage 2: layer-b in eu-west-1, inheriting every variable of stage 1's report, which
    // outrank the job's own variables in GitLab.
    let (_, job2) = include("layer-b", "eu-west-1", "publish-b");
    let rules2 = pipeline.decide(&job2).unwrap();
    let w2 = workdir(dir.path(), "2");
    checkout(&w2);
    let two = run_job(&pipeline, &job2, &rules2, &report1, &w2, 102);
    assert_eq!(
        two.run.code, 0,
        "a second layerpub job must not be broken or steered by the first one's report\nstderr: {}",
        two.run.stderr
    );
    let report2 = read_dotenv(&w2.join("layerpub.env"));
    let arn = &report2["LAYERPUB_LAYER_VERSION_ARN"];
    assert!(
        arn.contains(":eu-west-1:") && arn.contains(":layer:layer-b:1"),
        "job 2 publishes layer-b in eu-west-1: {report2:?}"
    );
    let versions = |region: &str| -> Vec<Value> {
        m.aws_in(region, &["versions", "layer-b"])
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v["version"].clone())
            .collect()
    };
    assert_eq!(versions("eu-west-1"), [json!(1)]);
    assert_eq!(
        versions("us-east-1"),
        Vec::<Value>::new(),
        "nothing in job 1's region"
    );
    assert_eq!(report2["LAYERPUB_LAYER_REGION"], "eu-west-1", "{report2:?}");

    // Stage 3: a job with `needs: [publish-b]` gets publish-b's report.
    let roll_out = json!({ "script": ["echo \"rolling out $LAYERPUB_LAYER_VERSION_ARN\""] });
    let w3 = workdir(dir.path(), "3");
    let three = run_job(&pipeline, &roll_out, &BTreeMap::new(), &report2, &w3, 103);
    three.run.assert_ok();
    assert_eq!(three.run.stdout.trim(), format!("rolling out {arn}"));
}

/// Issue 14, point 4: a merge-request pipeline plans (nothing is published) and the note on the
/// merge request says what would be published.
#[tokio::test(flavor = "multi_thread")]
async fn a_merge_request_pipeline_plans_and_notes_what_would_be_published() {
    use wiremock::matchers::{method, path_regex};
    use wiremock::{Mock, MockServer, ResponseTemplate};
    let gitlab = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path_regex("^/api/v4/user$"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"id": 9, "username": "bot"})))
        .mount(&gitlab)
        .await;
    Mock::given(method("GET"))
        .and(path_regex("/notes$"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([])))
        .mount(&gitlab)
        .await;
    Mock::given(method("POST"))
        .and(path_regex("/merge_requests/7/notes$"))
        .respond_with(ResponseTemplate::new(201).set_body_json(
            json!({"id": 1, "body": "", "author": {"id": 9, "username": "bot"}, "system": false}),
        ))
        .mount(&gitlab)
        .await;
    let api = format!("{}/api/v4", gitlab.uri());

    let result = tokio::task::spawn_blocking(move || {
        let m = moto();
        let dir = temp();
        let mut pipeline = Pipeline::merge_request("feature");
        pipeline.project = m
            .env()
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect();
        pipeline
            .project
            .insert("GITLAB_TOKEN".into(), "glpat-fake-token-for-tests".into());
        pipeline.predefined.insert("CI_API_V4_URL".into(), api);
        pipeline.path = vec![layerpub_on_path(dir.path())];
        let (_, job) = job_with(json!({
            "binary": "path",
            "layer-name": "mr-layer",
            "path": "site-packages",
            "manifest": ["requirements.txt"],
        }));
        let rules = pipeline
            .decide(&job)
            .expect("the job is in merge-request pipelines");
        assert_eq!(rules["LP_COMMAND"], "plan");
        let w = workdir(dir.path(), "mr");
        checkout(&w);
        let r = run_job(&pipeline, &job, &rules, &BTreeMap::new(), &w, 7);
        r.run.assert_ok();
        let versions = m.aws(&["versions", "mr-layer"]);
        (
            versions,
            fs::read_to_string(w.join("layerpub.json")).unwrap(),
        )
    })
    .await
    .unwrap();
    assert_eq!(result.0, json!([]), "a plan publishes nothing");
    let doc: Value = serde_json::from_str(&result.1).unwrap();
    assert_eq!(doc["layers"][0]["status"], "would_publish", "{doc}");
    let posted: Vec<String> = gitlab
        .received_requests()
        .await
        .unwrap()
        .iter()
        .filter(|r| r.method.as_str() == "POST")
        .map(|r| String::from_utf8_lossy(&r.body).into_owned())
        .collect();
    assert_eq!(posted.len(), 1, "one note: {posted:?}");
    assert!(
        posted[0].contains("would publish"),
        "the note says what would be published: {}",
        posted[0]
    );
}

/// Issue 14, point 4: where the job runs, and which command.
#[test]
fn the_job_publishes_on_the_default_branch_plans_in_merge_requests_and_is_absent_elsewhere() {
    let command = |pipeline: &Pipeline, given: Value| -> Option<String> {
        let (_, job) = job_with(given);
        pipeline
            .decide(&job)
            .map(|v| v.get("LP_COMMAND").cloned().unwrap_or_default())
    };
    let none = json!({});
    assert_eq!(
        command(&Pipeline::push("main"), none.clone()).as_deref(),
        Some("publish")
    );
    assert_eq!(
        command(&Pipeline::merge_request("feature"), none.clone()).as_deref(),
        Some("plan")
    );
    assert_eq!(command(&Pipeline::push("feature"), none.clone()), None);
    assert_eq!(command(&Pipeline::tag("v1.0.0"), none.clone()), None);
    // A project whose default branch is not main.
    let mut trunk = Pipeline::push("trunk");
    trunk
        .predefined
        .insert("CI_DEFAULT_BRANCH".into(), "trunk".into());
    assert_eq!(command(&trunk, none.clone()).as_deref(), Some("publish"));
    assert_eq!(
        command(&Pipeline::push("main"), none.clone()).as_deref(),
        Some("publish")
    );

    let release = json!({ "publish-on": "release" });
    assert_eq!(
        command(&Pipeline::push("release"), release.clone()).as_deref(),
        Some("publish")
    );
    assert_eq!(command(&Pipeline::push("main"), release.clone()), None);
    assert_eq!(
        command(&Pipeline::tag("v1.0.0"), json!({ "publish-on-tags": true })).as_deref(),
        Some("publish")
    );
    assert_eq!(
        command(
            &Pipeline::merge_request("feature"),
            json!({ "plan-in-merge-requests": false })
        ),
        None,
        "without plans, merge-request pipelines have no layerpub job (and never publish)"
    );
}

/// Runs the job with the recording `layerpub` on PATH (`binary: path`) and returns what it saw.
fn recorded(pipeline: &mut Pipeline, given: Value) -> (JobRun, BTreeMap<String, String>, String) {
    let dir = temp();
    pipeline.path.insert(0, recording_layerpub(dir.path()));
    let mut given = given;
    given["binary"] = json!("path");
    let (_, job) = job_with(given);
    let rules = pipeline.decide(&job).expect("the job runs");
    let w = workdir(dir.path(), "rec");
    let r = run_job(pipeline, &job, &rules, &BTreeMap::new(), &w, 5);
    assert_eq!(r.run.code, 0, "stderr: {}", r.run.stderr);
    let env = recorded_env(&w);
    let args = fs::read_to_string(w.join(".layerpub-args")).unwrap();
    (r, env, args)
}

/// Issue 14, point 6: a pipeline-level `LAYERPUB_DRY_RUN: "true"` reaches layerpub; inputs left
/// out set nothing; an input given does.
#[test]
fn only_the_inputs_given_reach_layerpub_and_pipeline_variables_survive() {
    let mut pipeline = Pipeline::push("main");
    pipeline.global = map(&[
        ("LAYERPUB_DRY_RUN", "true"),
        ("LAYERPUB_S3_PREFIX", "team/"),
    ]);
    let (_, env, args) = recorded(
        &mut pipeline,
        json!({ "layer-name": "given", "force": true, "keep-versions": 3 }),
    );
    assert_eq!(args.trim(), "publish --output json");
    assert_eq!(
        layerpub_vars(&env),
        map(&[
            ("LAYERPUB_DRY_RUN", "true"),
            ("LAYERPUB_S3_PREFIX", "team/"),
            ("LAYERPUB_LAYER_NAME", "given"),
            ("LAYERPUB_FORCE", "true"),
            ("LAYERPUB_KEEP_VERSIONS", "3"),
            ("LAYERPUB_DOTENV_FILE", "layerpub.env"),
        ]),
        "only what the user gave, and the report's path"
    );
    // A boolean whose layerpub default is true is passed on when turned off.
    let (_, env, _) = recorded(
        &mut Pipeline::push("main"),
        json!({ "comment": false, "default-excludes": false }),
    );
    assert_eq!(
        env.get("LAYERPUB_COMMENT").map(String::as_str),
        Some("false")
    );
    assert_eq!(
        env.get("LAYERPUB_DEFAULT_EXCLUDES").map(String::as_str),
        Some("false")
    );
    assert_eq!(env.get("LAYERPUB_PROTECT_IN_USE"), None);
}

/// Issue 14, point 7: input values are not expanded by GitLab (`expand: false`).
#[test]
fn a_dollar_in_an_input_stays_a_dollar() {
    let text = "costs $5, see ${HOME} and $CI_PROJECT_ID";
    let mut pipeline = Pipeline::push("main");
    let (_, env, _) = recorded(
        &mut pipeline,
        json!({ "description": text, "license-info": "$LICENSE" }),
    );
    assert_eq!(env["LAYERPUB_DESCRIPTION"], text);
    assert_eq!(env["LAYERPUB_LICENSE_INFO"], "$LICENSE");
}

/// Issue 14, point 5: array inputs arrive as one item per line, so a glob with a comma stays
/// one glob; in GitLab's JSON spelling too.
#[test]
fn array_inputs_reach_layerpub_one_item_per_line() {
    let mut pipeline = Pipeline::push("main");
    let (_, env, _) = recorded(
        &mut pipeline,
        json!({
            "exclude": ["tests/", "*.{md,txt}", "say \"hi\""],
            "compatible-runtimes": ["python3.12", "python3.13"],
            "regions": ["eu-west-1"],
        }),
    );
    assert_eq!(env["LAYERPUB_EXCLUDE"], "tests/\n*.{md,txt}\nsay \"hi\"");
    assert_eq!(
        env["LAYERPUB_COMPATIBLE_RUNTIMES"],
        "python3.12\npython3.13"
    );
    assert_eq!(env["LAYERPUB_REGIONS"], "eu-west-1");
    assert!(!env.contains_key("LAYERPUB_INCLUDE"), "[] is unset");
    // Written without spaces (JSON) rather than as Ruby prints it.
    let mut compact = Pipeline::push("main");
    compact.project = map(&[("LP_IN_MANIFEST", "items [\"a.txt\",\"b.lock\"]")]);
    let (_, env, _) = recorded(&mut compact, json!({}));
    assert_eq!(env["LAYERPUB_MANIFEST"], "a.txt\nb.lock");
}

/// Issue 14, point 7: the job asks GitLab for an ID token only when it has a role to assume.
#[test]
fn an_id_token_only_with_a_role_to_assume() {
    let (_, without) = job_with(json!({}));
    assert!(without.get("id_tokens").is_none(), "{without}");
    for role in [
        "arn:aws:iam::123456789012:role/publisher",
        "$LAYER_ROLE_ARN",
    ] {
        let (_, with) = job_with(json!({ "aws-role-arn": role, "aws-audience": "my-aud" }));
        assert_eq!(
            with["id_tokens"]["LP_OIDC_TOKEN"]["aud"], "my-aud",
            "{role}"
        );
    }
    // Anything else is refused when the pipeline is created (no such `extends:` target).
    let given = json!({ "aws-role-arn": "role/publisher" });
    let rendered = render(TEMPLATE, given.as_object().unwrap()).unwrap();
    let target = rendered["publish-layer"]["extends"].as_str().unwrap();
    assert_eq!(target, ".publish-layer-credentials-r");
    assert!(rendered.get(target).is_none());

    // With a role, the token reaches the SDK as a web-identity file only this job uses.
    let mut pipeline = Pipeline::push("main");
    pipeline.project = map(&[("LAYER_ROLE_ARN", "arn:aws:iam::1:role/r")]);
    let (r, env, _) = recorded(&mut pipeline, json!({ "aws-role-arn": "$LAYER_ROLE_ARN" }));
    assert_eq!(env["AWS_ROLE_ARN"], "arn:aws:iam::1:role/r");
    let file = &env["AWS_WEB_IDENTITY_TOKEN_FILE"];
    assert!(file.ends_with(".layerpub-oidc-5"), "{file}");
    assert!(
        !Path::new(file).exists(),
        "after_script removes the token file"
    );
    assert_eq!(env["LP_OIDC_TOKEN"], r.env["LP_OIDC_TOKEN"]);
    // Without one, the SDK's own chain is left alone.
    let (_, env, _) = recorded(&mut Pipeline::push("main"), json!({}));
    assert!(!env.contains_key("AWS_ROLE_ARN") && !env.contains_key("AWS_WEB_IDENTITY_TOKEN_FILE"));
}

/// Runs the job in download mode against `downloads` with `template`; the served "binary" is a
/// script that leaves a marker file when it runs.
fn download_job(template: &str, downloads: &Downloads, path: Vec<PathBuf>) -> (Run, bool) {
    let dir = temp();
    let given = json!({ "download-url": format!("{}/r/{{version}}", downloads.url) });
    let (_, job) = the_job(&render(template, given.as_object().unwrap()).unwrap());
    let mut pipeline = Pipeline::push("main");
    pipeline.path = path;
    let rules = pipeline.decide(&job).unwrap();
    let w = workdir(dir.path(), "dl");
    let r = run_job(&pipeline, &job, &rules, &BTreeMap::new(), &w, 9);
    (r.run, w.join("ran").exists())
}

/// A stand-in release binary: a script that leaves `ran` in the working folder.
fn marker_binary(dir: &Path) -> PathBuf {
    write_file(
        dir,
        "served/fake",
        b"#!/bin/sh\ntouch ran\necho '{}'\n",
        0o644,
    );
    dir.join("served/fake")
}

/// Issue 14, point 8: a download whose SHA-256 matches the stamped checksum runs.
#[test]
fn a_downloaded_binary_with_the_stamped_checksum_runs() {
    let dir = temp();
    let fake = marker_binary(dir.path());
    let downloads = serve(BTreeMap::from([(X86_64.to_owned(), fake.clone())]));
    let template = stamped(dir.path(), "2.0.1", &sha256_hex(&fake));
    let (run, ran) = download_job(&template, &downloads, vec![]);
    assert_eq!(run.code, 0, "stderr: {}", run.stderr);
    assert!(ran, "the verified binary ran");
    assert_eq!(
        *downloads.asked.lock().unwrap(),
        [format!("/r/2.0.1/{X86_64}")]
    );
}

/// Issue 14, point 8: other bytes than the release's are never executed.
#[test]
fn a_wrong_checksum_refuses_and_never_runs_the_binary() {
    let dir = temp();
    let fake = marker_binary(dir.path());
    let downloads = serve(BTreeMap::from([(X86_64.to_owned(), fake)]));
    let template = stamped(dir.path(), "2.0.1", &"0".repeat(64));
    let (run, ran) = download_job(&template, &downloads, vec![]);
    assert_ne!(run.code, 0);
    assert!(!ran, "the binary must not run: {}", run.stderr);
    assert!(
        run.stderr.contains("refusing to run it")
            && run.stderr.contains(&"0".repeat(64))
            && run.stderr.contains("download-url"),
        "{}",
        run.stderr
    );
}

/// Issue 14, point 8: the unreleased component (main) has no checksums: no download at all.
#[test]
fn an_unstamped_component_refuses_to_download() {
    let dir = temp();
    let downloads = serve(BTreeMap::from([(
        X86_64.to_owned(),
        marker_binary(dir.path()),
    )]));
    let (run, ran) = download_job(TEMPLATE, &downloads, vec![]);
    assert_ne!(run.code, 0);
    assert!(!ran);
    assert!(run.stderr.contains("has no checksum"), "{}", run.stderr);
    assert!(run.stderr.contains("binary: path"), "{}", run.stderr);
    assert!(downloads.asked.lock().unwrap().is_empty());
}

/// Issue 14, point 8: an architecture without a release binary is refused by name; aarch64
/// picks its own file and checksum.
#[test]
fn the_architecture_decides_the_file_and_an_unknown_one_is_refused() {
    let dir = temp();
    let fake = marker_binary(dir.path());
    let downloads = serve(BTreeMap::from([(AARCH64.to_owned(), fake.clone())]));
    let uname = |arch: &str| -> PathBuf {
        let d = dir.path().join(format!("uname-{arch}"));
        write_file(
            &d,
            "uname",
            format!("#!/bin/sh\necho {arch}\n").as_bytes(),
            0o755,
        );
        d
    };
    let template = stamped(dir.path(), "2.0.1", &"a".repeat(64));
    let (run, ran) = download_job(&template, &downloads, vec![uname("riscv64")]);
    assert_ne!(run.code, 0);
    assert!(!ran);
    assert!(run.stderr.contains("riscv64"), "{}", run.stderr);
    // The aarch64 checksum stamped is b…b: the fake does not match it, so it is refused, after
    // asking for the aarch64 file.
    let (run, ran) = download_job(&template, &downloads, vec![uname("aarch64")]);
    assert_ne!(run.code, 0);
    assert!(!ran);
    assert!(run.stderr.contains(&"b".repeat(64)), "{}", run.stderr);
    assert_eq!(
        downloads.asked.lock().unwrap().last().unwrap(),
        &format!("/r/2.0.1/{AARCH64}")
    );
}

/// Issue 14, point 8: `binary: path` with no layerpub on PATH says so.
#[test]
fn binary_path_without_layerpub_on_path_is_refused() {
    let dir = temp();
    let (_, job) = job_with(json!({ "binary": "path" }));
    let pipeline = Pipeline::push("main");
    let rules = pipeline.decide(&job).unwrap();
    let r = run_job(
        &pipeline,
        &job,
        &rules,
        &BTreeMap::new(),
        &workdir(dir.path(), "p"),
        3,
    );
    assert_ne!(r.run.code, 0);
    assert!(
        r.run.stderr.contains("no layerpub on PATH"),
        "{}",
        r.run.stderr
    );
}

/// scripts/stamp-component.sh refuses what would make a broken release.
#[test]
fn stamping_refuses_a_bad_version_or_a_missing_checksum() {
    let dir = temp();
    let template = dir.path().join("layerpub.yml");
    fs::write(&template, TEMPLATE).unwrap();
    let sums = dir.path().join("checksums.txt");
    fs::write(&sums, format!("{}  {X86_64}\n", "a".repeat(64))).unwrap();
    let stamp = |version: &str| -> Run {
        ci_command("sh")
            .arg(Path::new(REPO).join("scripts/stamp-component.sh"))
            .args([Path::new(version), &sums, &template])
            .output()
            .unwrap()
            .into()
    };
    let r = stamp("1.0.0");
    assert_ne!(r.code, 0);
    assert!(r.stderr.contains(AARCH64), "{}", r.stderr);
    let r = stamp("v1.0.0");
    assert_ne!(r.code, 0);
    assert!(r.stderr.contains("without the leading v"), "{}", r.stderr);
    assert_eq!(
        fs::read_to_string(&template).unwrap(),
        TEMPLATE,
        "left as it was"
    );
}

/// Issue 14, point 5: GitLab itself refuses a typo or a wrong type.
#[test]
fn gitlab_refuses_wrong_types_and_unknown_options() {
    let refused = |given: Value| render(TEMPLATE, given.as_object().unwrap()).unwrap_err();
    assert!(refused(json!({ "force": "yes" })).contains("not a boolean"));
    assert!(refused(json!({ "keep-versions": "3" })).contains("not a number"));
    assert!(refused(json!({ "manifest": "requirements.txt" })).contains("not a array"));
    assert!(refused(json!({ "symlinks": "follw" })).contains("allowed options"));
    assert!(refused(json!({ "dotenv-format": "yaml" })).contains("allowed options"));
    assert!(refused(json!({ "binary": "docker" })).contains("allowed options"));
    assert!(render(
        TEMPLATE,
        json!({ "force": true, "keep-versions": 3, "symlinks": "follow", "dotenv-format": "json" })
            .as_object()
            .unwrap()
    )
    .is_ok());
}

/// Issue 14, point 2, as a new user meets it: a merge-request pipeline with no GITLAB_TOKEN
/// still plans (a warning says what to set), and its exit code is the plan's.
#[test]
fn a_merge_request_pipeline_without_a_token_still_plans() {
    let m = moto();
    let dir = temp();
    let mut pipeline = Pipeline::merge_request("feature");
    pipeline.project = m
        .env()
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
    pipeline
        .predefined
        .insert("CI_API_V4_URL".into(), "http://127.0.0.1:9/api/v4".into());
    pipeline.path = vec![layerpub_on_path(dir.path())];
    let (_, job) = job_with(json!({
        "binary": "path",
        "layer-name": "new-user",
        "path": "site-packages",
        "manifest": ["requirements.txt"],
    }));
    let rules = pipeline.decide(&job).unwrap();
    let w = workdir(dir.path(), "mr");
    checkout(&w);
    let r = run_job(&pipeline, &job, &rules, &BTreeMap::new(), &w, 8);
    assert_eq!(r.run.code, 0, "stderr: {}", r.run.stderr);
    assert!(r.run.stderr.contains("GITLAB_TOKEN"), "{}", r.run.stderr);
    let report = read_dotenv(&w.join("layerpub.env"));
    assert_eq!(report["LAYERPUB_PUBLISHED"], "false", "{report:?}");
    assert_eq!(m.aws(&["versions", "new-user"]), json!([]));
}
