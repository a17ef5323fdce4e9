//! The GitLab CI/CD component (templates/layerpub.yml) keeps up with layerpub's settings: every
//! setting is an input of the right type, reaches the job under the component's own name
//! (LP_IN_*, not expanded by GitLab) and is exported by the script as the LAYERPUB_* variable
//! layerpub reads; the job hands its results on as a dotenv report. A new setting cannot be
//! forgotten here. How the job behaves in a pipeline is in gitlab_pipeline.rs.

use std::collections::BTreeSet;

use layerpub::config::settings::Settings;
use serde_json::{Value, json};

use crate::gitlab_pipeline::{
    Pipeline, TEMPLATE, job_with, recorded_env, recording_layerpub, run_job, spec_inputs, split,
    workdir,
};

/// Settings the component does not offer: `layers` lives in layerpub.yml, and the GitHub token
/// has no meaning on GitLab (the note uses the GITLAB_TOKEN variable).
const NOT_INPUTS: &[&str] = &["layers", "github-token"];

/// The component's own inputs, which are not layerpub settings.
const JOB_INPUTS: &[&str] = &[
    "job-name",
    "stage",
    "image",
    "binary",
    "download-url",
    "publish-on",
    "publish-on-tags",
    "plan-in-merge-requests",
    "aws-role-arn",
    "aws-audience",
];

fn inputs() -> serde_json::Map<String, Value> {
    spec_inputs(TEMPLATE)
}

/// The one job the component defines, rendered with the defaults.
fn job() -> Value {
    job_with(json!({})).1
}

fn script() -> String {
    job()["script"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l.as_str().unwrap())
        .collect::<Vec<_>>()
        .join("\n")
}

fn settings() -> impl Iterator<Item = &'static str> {
    Settings::names()
        .iter()
        .copied()
        .filter(|n| !NOT_INPUTS.contains(n))
}

/// `layer-name` → `LAYER_NAME`.
fn snake(setting: &str) -> String {
    setting.to_ascii_uppercase().replace('-', "_")
}

/// `layer-name` → `LAYERPUB_LAYER_NAME`, the spelling `env` reads.
fn variable(setting: &str) -> String {
    format!("LAYERPUB_{}", snake(setting))
}

fn interpolation(input: &str) -> String {
    format!("$[[ inputs.{input} ]]")
}

/// What kind of value a setting takes, so its input has the matching type.
fn kind(setting: &str) -> &'static str {
    match setting {
        "default-excludes"
        | "force"
        | "dry-run"
        | "comment"
        | "allow-public"
        | "allow-outside-workspace"
        | "protect-in-use"
        | "add-to-functions"
        | "publish-function-version" => "boolean",
        "claim-timeout" | "pr-number" | "keep-versions" | "dotenv-max-variables" => "number",
        "include"
        | "exclude"
        | "manifest"
        | "compatible-runtimes"
        | "compatible-architectures"
        | "regions"
        | "share-with"
        | "functions" => "array",
        _ => "string",
    }
}

/// layerpub's own default for a boolean setting.
fn layerpub_default(setting: &str) -> bool {
    matches!(setting, "default-excludes" | "protect-in-use" | "comment")
}

#[test]
fn every_setting_is_an_input_passed_to_the_job_under_the_components_name() {
    let inputs = inputs();
    let job = job();
    let variables = job["variables"].as_object().expect("job variables");
    let script = script();
    let raw = split(TEMPLATE).1;
    for setting in settings() {
        assert!(
            inputs.contains_key(setting),
            "templates/layerpub.yml: setting `{setting}` has no input under spec: inputs:"
        );
        let name = format!("LP_IN_{}", snake(setting));
        let spec = variables
            .get(&name)
            .unwrap_or_else(|| panic!("templates/layerpub.yml: the job must set {name}"));
        assert_eq!(
            spec["expand"],
            Value::Bool(false),
            "{name}: GitLab must not expand `$` in the user's value"
        );
        assert!(
            raw.contains(&format!("{name}: {{ value: ")) && raw.contains(&interpolation(setting)),
            "{name} must carry $[[ inputs.{setting} ]]"
        );
        assert!(
            script.contains(&format!(
                "{} \"$LP_IN_{}\"",
                variable(setting),
                snake(setting)
            )),
            "the script must export {} from {name}",
            variable(setting)
        );
    }
}

#[test]
fn inputs_are_typed_as_their_settings() {
    let inputs = inputs();
    for setting in settings() {
        let declared = inputs[setting]
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or("string");
        assert_eq!(declared, kind(setting), "input `{setting}`");
    }
    for closed in ["symlinks", "native-check", "dotenv-format"] {
        assert!(
            inputs[closed]["options"].is_array(),
            "`{closed}` is a closed set: options:"
        );
    }
    assert_eq!(inputs["binary"]["options"], json!(["download", "path"]));
}

#[test]
fn the_job_sets_no_layerpub_variable_so_the_users_own_still_apply() {
    let job = job();
    for name in job["variables"].as_object().unwrap().keys() {
        assert!(
            !name.starts_with("LAYERPUB_") && !name.starts_with("INPUT_"),
            "{name}: a job variable would replace the user's own, even when the input is empty"
        );
    }
    for name in NOT_INPUTS {
        assert!(
            !inputs().contains_key(*name),
            "`{name}` must not be an input"
        );
    }
    let known: BTreeSet<&str> = settings().chain(JOB_INPUTS.iter().copied()).collect();
    for name in inputs().keys() {
        assert!(
            known.contains(name.as_str()),
            "input `{name}` is neither a setting nor one of the job's"
        );
    }
}

#[test]
fn every_interpolated_input_is_declared_and_every_input_is_used() {
    let declared: BTreeSet<String> = inputs().keys().cloned().collect();
    let (_, body) = split(TEMPLATE);
    let mut used = BTreeSet::new();
    for piece in body.split("$[[").skip(1) {
        let (inside, _) = piece.split_once("]]").expect("`$[[` closed by `]]`");
        let access = inside.split('|').next().unwrap();
        let name = access
            .trim()
            .strip_prefix("inputs.")
            .unwrap_or_else(|| panic!("`$[[{inside}]]` is not an input"));
        used.insert(name.to_owned());
    }
    assert_eq!(used, declared, "inputs used in the job vs declared");
}

/// A value of the right type for each setting, to check layerpub accepts what the job exports.
fn sample(setting: &str) -> Value {
    match (kind(setting), setting) {
        ("boolean", s) => json!(!layerpub_default(s)),
        ("number", _) => json!(7),
        (_, "compatible-runtimes") => json!(["python3.12"]),
        (_, "compatible-architectures") => json!(["arm64"]),
        ("array", _) => json!(["x"]),
        (_, "symlinks") => json!("follow"),
        (_, "native-check") => json!("warn"),
        (_, "build") => json!("pip"),
        (_, "dotenv-format") => json!("json"),
        (_, "endpoint-url") => json!("http://127.0.0.1:5000"),
        (_, "region") => json!("eu-west-1"),
        _ => json!("x"),
    }
}

#[test]
fn layerpub_reads_every_variable_the_job_exports() {
    let dir = common_temp();
    let mut given = serde_json::Map::new();
    for setting in settings() {
        given.insert(setting.to_owned(), sample(setting));
    }
    given.insert("binary".into(), json!("path"));
    let (_, job) = job_with(Value::Object(given));
    let mut pipeline = Pipeline::push("main");
    pipeline.path = vec![recording_layerpub(dir.path())];
    let rules = pipeline.decide(&job).unwrap();
    let w = workdir(dir.path(), "all");
    let r = run_job(&pipeline, &job, &rules, &Default::default(), &w, 1);
    assert_eq!(r.run.code, 0, "{}", r.run.stderr);
    let vars: Vec<(String, String)> = recorded_env(&w)
        .into_iter()
        .filter(|(k, _)| k.starts_with("LAYERPUB_"))
        .collect();
    assert_eq!(
        vars.iter().map(|(k, _)| k.clone()).collect::<BTreeSet<_>>(),
        settings().map(variable).collect::<BTreeSet<_>>(),
        "every setting given as an input is exported"
    );
    if let Err(problems) = layerpub::config::env::settings_from_env(vars) {
        panic!("layerpub refuses the job's variables: {problems:?}");
    }
}

fn common_temp() -> tempfile::TempDir {
    crate::common::temp()
}

#[test]
fn settings_default_to_unset_so_layerpub_yml_still_applies() {
    let inputs = inputs();
    let script = script();
    for setting in settings().filter(|s| *s != "dotenv-file") {
        let default = &inputs[setting]["default"];
        match kind(setting) {
            "string" => assert_eq!(default, &json!(""), "input `{setting}`"),
            "array" => assert_eq!(default, &json!([]), "input `{setting}`"),
            "number" => assert_eq!(default, &json!(0), "input `{setting}`"),
            _ => {
                // A boolean cannot be empty: it defaults to layerpub's default, which the script
                // does not repeat.
                let d = layerpub_default(setting);
                assert_eq!(
                    default,
                    &json!(d),
                    "input `{setting}` defaults to layerpub's {d}"
                );
                let line = format!(
                    "lp_bool {} \"$LP_IN_{}\" {d}",
                    variable(setting),
                    snake(setting)
                );
                assert!(script.contains(&line), "the script must say: {line}");
            }
        }
    }
}

#[test]
fn the_job_writes_its_dotenv_report_and_declares_it() {
    let inputs = inputs();
    assert_eq!(inputs["dotenv-file"]["default"], "layerpub.env");
    let job = job_with(json!({ "dotenv-file": "out/lp.env", "stage": "ship" })).1;
    assert_eq!(job["variables"]["LP_IN_DOTENV_FILE"]["value"], "out/lp.env");
    assert_eq!(job["artifacts"]["reports"]["dotenv"], "out/lp.env");
    assert_eq!(job["stage"], "ship");
    assert!(
        script().contains("lp_str LAYERPUB_DOTENV_FILE"),
        "the report's path always reaches layerpub"
    );
    assert!(
        script().contains(r#""$lp_bin" "$LP_COMMAND" --output json > layerpub.json"#),
        "{}",
        script()
    );
}

#[test]
fn aws_credentials_come_from_an_oidc_id_token() {
    let job =
        job_with(json!({ "aws-role-arn": "arn:aws:iam::1:role/r", "aws-audience": "aud-x" })).1;
    assert_eq!(job["id_tokens"]["LP_OIDC_TOKEN"]["aud"], "aud-x");
    let vars = &job["variables"];
    assert_eq!(vars["LP_AWS_ROLE_ARN"], "arn:aws:iam::1:role/r");
    let script = script();
    assert!(
        script
            .contains(r#"AWS_WEB_IDENTITY_TOKEN_FILE="$CI_BUILDS_DIR/.layerpub-oidc-$CI_JOB_ID""#),
        "one token file per job: {script}"
    );
    assert!(
        script.contains(r#"> "$AWS_WEB_IDENTITY_TOKEN_FILE""#),
        "the script writes the ID token to the file the SDK reads: {script}"
    );
    assert!(job["after_script"].to_string().contains("rm -f"));
}

#[test]
fn the_component_never_uses_the_job_token() {
    assert!(!TEMPLATE.contains("CI_JOB_TOKEN:"));
    assert!(!TEMPLATE.contains("$CI_JOB_TOKEN"));
    assert!(!TEMPLATE.contains("${CI_JOB_TOKEN}"));
}

#[test]
fn the_readme_example_uses_only_declared_inputs_and_sets_the_required_ones() {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/examples/gitlab/gitlab-ci.yml"
    ))
    .unwrap();
    let example: Value = serde_saphyr::from_str(&text).unwrap();
    let include = &example["include"][0];
    assert!(
        include["component"]
            .as_str()
            .unwrap()
            .ends_with("/layerpub/layerpub@1.0.0")
    );
    let used = include["inputs"].as_object().unwrap();
    let declared = inputs();
    for name in used.keys() {
        assert!(
            declared.contains_key(name),
            "the example sets `{name}`, which the component does not declare"
        );
    }
    for (name, spec) in &declared {
        if spec.get("default").is_none() {
            assert!(
                used.contains_key(name),
                "the example omits the required input `{name}`"
            );
        }
    }
    // GitLab accepts the example's values: each of the input's type.
    if let Err(e) = crate::gitlab_pipeline::render(TEMPLATE, used) {
        panic!("GitLab would refuse the example: {e}");
    }
    // The later job reads what the component's dotenv report provides.
    let job_name = job_name_default();
    assert_eq!(
        example["roll-out"]["needs"][0].as_str(),
        Some(job_name.as_str())
    );
}

fn job_name_default() -> String {
    inputs()["job-name"]["default"].as_str().unwrap().to_owned()
}

#[test]
fn the_readme_shows_the_example_as_it_is() {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let example = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/examples/gitlab/gitlab-ci.yml"
    ))
    .unwrap();
    assert!(
        readme.contains(&format!("```yaml\n{example}```")),
        "README.md's GitLab section must show examples/gitlab/gitlab-ci.yml verbatim"
    );
}

/// A `name@sha256:<64 hex>` reference: pinned, so a moved tag changes nothing.
fn pinned(image: &str) -> bool {
    image.split_once("@sha256:").is_some_and(|(_, d)| {
        d.len() == 64
            && d.chars()
                .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
    })
}

#[test]
fn the_images_are_pinned_by_digest_and_the_container_has_the_static_binary() {
    let default = inputs()["image"]["default"].as_str().unwrap().to_owned();
    assert!(
        pinned(&default),
        "the default image must be pinned by digest: {default}"
    );
    let dockerfile =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/container/Dockerfile"))
            .unwrap();
    let from: Vec<&str> = dockerfile
        .lines()
        .filter_map(|l| l.strip_prefix("FROM "))
        .collect();
    assert_eq!(from.len(), 1, "{from:?}");
    assert!(
        pinned(from[0]),
        "FROM must be pinned by digest: {}",
        from[0]
    );
    assert_eq!(
        from[0].split('@').next(),
        default.split('@').next(),
        "the image and the default job image are the same base"
    );
    assert!(dockerfile.contains("ARG TARGETARCH"));
    for name in [
        "layerpub-$arch-unknown-linux-musl",
        "amd64) arch=x86_64",
        "arm64) arch=aarch64",
        "/usr/local/bin/layerpub",
    ] {
        assert!(dockerfile.contains(name), "container/Dockerfile: {name}");
    }
}
