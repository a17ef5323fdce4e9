//! The GitLab CI/CD component (templates/layerpub.yml) keeps up with layerpub's settings: every
//! setting is an input, reaches the job as the LAYERPUB_* variable layerpub reads, and the
//! job hands its results on as a dotenv report. A new setting cannot be forgotten here.

use std::collections::BTreeSet;

use layerpub::config::settings::Settings;
use serde_json::Value;

const TEMPLATE: &str = include_str!("../../templates/layerpub.yml");

/// Settings the component does not offer: `layers` lives in layerpub.yml, and the GitHub token
/// has no meaning on GitLab (the note uses the GITLAB_TOKEN variable).
const NOT_INPUTS: &[&str] = &["layers", "github-token"];

/// The `spec:` header and the job definitions: the two YAML documents of a component file.
fn documents() -> (Value, Value) {
    let (header, jobs) = TEMPLATE
        .split_once("\n---\n")
        .expect("a `spec:` header, a `---` line, then the job");
    let parse = |text: &str, what: &str| -> Value {
        serde_saphyr::from_str(text).unwrap_or_else(|e| panic!("{what} is not YAML: {e}"))
    };
    (parse(header, "the header"), parse(jobs, "the job document"))
}

fn inputs() -> serde_json::Map<String, Value> {
    let (header, _) = documents();
    header["spec"]["inputs"]
        .as_object()
        .expect("spec: inputs: is a map")
        .clone()
}

/// The one job the component defines.
fn job() -> Value {
    let (_, jobs) = documents();
    let jobs = jobs.as_object().expect("the job document is a map");
    assert_eq!(jobs.len(), 1, "one job: {:?}", jobs.keys());
    jobs.values().next().unwrap().clone()
}

fn settings() -> impl Iterator<Item = &'static str> {
    Settings::names()
        .iter()
        .copied()
        .filter(|n| !NOT_INPUTS.contains(n))
}

/// `layer-name` → `LAYERPUB_LAYER_NAME`, the spelling `env` reads.
fn variable(setting: &str) -> String {
    format!(
        "LAYERPUB_{}",
        setting.to_ascii_uppercase().replace('-', "_")
    )
}

fn interpolation(input: &str) -> String {
    format!("$[[ inputs.{input} ]]")
}

#[test]
fn every_setting_is_an_input_passed_to_the_job_as_its_variable() {
    let inputs = inputs();
    let job = job();
    let variables = job["variables"].as_object().expect("job variables");
    for setting in settings() {
        assert!(
            inputs.contains_key(setting),
            "templates/layerpub.yml: setting `{setting}` has no input under spec: inputs:"
        );
        let name = variable(setting);
        assert_eq!(
            variables.get(&name).and_then(Value::as_str),
            Some(interpolation(setting).as_str()),
            "templates/layerpub.yml: the job must set {name}: \"$[[ inputs.{setting} ]]\""
        );
    }
}

#[test]
fn the_job_sets_no_layerpub_variable_that_is_not_a_setting() {
    let job = job();
    let known: BTreeSet<String> = settings().map(variable).collect();
    for name in job["variables"].as_object().unwrap().keys() {
        if name.starts_with("LAYERPUB_") {
            assert!(known.contains(name), "{name} is not a layerpub setting");
        }
    }
    for name in NOT_INPUTS {
        assert!(
            !inputs().contains_key(*name),
            "`{name}` must not be an input"
        );
    }
}

#[test]
fn every_interpolated_input_is_declared_and_every_input_is_used() {
    let declared: BTreeSet<String> = inputs().keys().cloned().collect();
    let (_, body) = TEMPLATE.split_once("\n---\n").unwrap();
    let mut used = BTreeSet::new();
    for piece in body.split("$[[").skip(1) {
        let (inside, _) = piece.split_once("]]").expect("`$[[` closed by `]]`");
        let name = inside
            .trim()
            .strip_prefix("inputs.")
            .unwrap_or_else(|| panic!("`$[[{inside}]]` is not an input"));
        used.insert(name.to_owned());
    }
    assert_eq!(used, declared, "inputs used in the job vs declared");
}

/// A value of the right type for each setting, to check layerpub accepts the job's variables.
fn sample(setting: &str) -> &'static str {
    match setting {
        "default-excludes"
        | "force"
        | "dry-run"
        | "comment"
        | "allow-public"
        | "allow-outside-workspace"
        | "protect-in-use"
        | "add-to-functions"
        | "publish-function-version" => "true",
        "claim-timeout" | "pr-number" | "keep-versions" => "7",
        "symlinks" => "follow",
        "compatible-runtimes" => "python3.12",
        "compatible-architectures" => "arm64",
        "endpoint-url" => "http://127.0.0.1:5000",
        "region" => "eu-west-1",
        _ => "x",
    }
}

#[test]
fn layerpub_reads_every_variable_the_job_sets() {
    let job = job();
    let vars: Vec<(String, String)> = job["variables"]
        .as_object()
        .unwrap()
        .iter()
        .filter(|(k, _)| k.starts_with("LAYERPUB_"))
        .map(|(k, v)| {
            let input = v.as_str().unwrap();
            let setting = input
                .trim_start_matches("$[[ inputs.")
                .trim_end_matches(" ]]");
            (k.clone(), sample(setting).to_owned())
        })
        .collect();
    assert_eq!(vars.len(), settings().count());
    if let Err(problems) = layerpub::config::env::settings_from_env(vars) {
        panic!("layerpub refuses the job's variables: {problems:?}");
    }
}

#[test]
fn settings_default_to_empty_so_layerpub_yml_still_applies() {
    let inputs = inputs();
    for setting in settings().filter(|s| *s != "dotenv-file") {
        assert_eq!(
            inputs[setting]["default"],
            Value::String(String::new()),
            "input `{setting}` must default to \"\" (unset), or it would override layerpub.yml"
        );
    }
}

#[test]
fn the_job_writes_its_dotenv_report_and_declares_it() {
    let inputs = inputs();
    assert_eq!(inputs["dotenv-file"]["default"], "layerpub.env");
    let job = job();
    assert_eq!(
        job["variables"]["LAYERPUB_DOTENV_FILE"],
        interpolation("dotenv-file")
    );
    assert_eq!(
        job["artifacts"]["reports"]["dotenv"],
        interpolation("dotenv-file")
    );
    assert_eq!(job["stage"], interpolation("stage"));
    assert_eq!(job["image"], interpolation("image"));
    let script = job["script"].to_string();
    assert!(script.contains("layerpub --output json"), "{script}");
}

#[test]
fn aws_credentials_come_from_an_oidc_id_token() {
    let job = job();
    assert_eq!(
        job["id_tokens"]["AWS_OIDC_TOKEN"]["aud"],
        interpolation("aws-audience")
    );
    let vars = &job["variables"];
    assert_eq!(vars["AWS_ROLE_ARN"], interpolation("aws-role-arn"));
    let file = vars["AWS_WEB_IDENTITY_TOKEN_FILE"].as_str().unwrap();
    assert!(
        file.contains("$CI_JOB_ID"),
        "one token file per job: {file}"
    );
    let script = job["script"].to_string();
    assert!(
        script.contains(r#"> \"$AWS_WEB_IDENTITY_TOKEN_FILE\""#),
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
