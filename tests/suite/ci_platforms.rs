//! Issue 14: layerpub as CI platforms run it. The comment or note is a report, never the reason
//! a publish fails or is skipped; GitLab's dotenv report is checked against its limits before
//! the first AWS write, and an earlier job's report never steers a later layerpub job; after a
//! merge, the merged pull (merge) request's comment says what was published. The real binary
//! against a real moto_server; the GitHub and GitLab APIs as wiremock servers that check the
//! exact requests.

use crate::common;

use std::fs;
use std::path::Path;

use common::moto::{Moto, moto};
use common::*;
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

/// A one-layer project whose layerpub.yml adds `extra_yaml`.
fn project(dir: &Path, extra_yaml: &str) {
    write_file(dir, "site-packages/dep/__init__.py", b"x = 1\n", 0o644);
    fs::write(dir.join("requirements.txt"), "dep==1.0\n").unwrap();
    fs::write(
        dir.join("layerpub.yml"),
        format!("layer-name: deps\npath: site-packages\nprefix: python\nmanifest: requirements.txt\n{extra_yaml}"),
    )
    .unwrap();
}

/// layerpub in `dir` against the emulator with the job's `extra` variables.
fn run_in<K: AsRef<str>>(m: &Moto, dir: &Path, args: &[&str], extra: &[(K, String)]) -> Run {
    let mut env: Vec<(String, String)> = m
        .env()
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
    env.extend(
        extra
            .iter()
            .map(|(k, v)| (k.as_ref().to_owned(), v.clone())),
    );
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    layerpub(dir, args, &env)
}

/// A GitLab merge-request pipeline's variables, the API at `api` (`None`: no GITLAB_TOKEN).
fn merge_request_pipeline(api: &str, token: Option<&str>) -> Vec<(&'static str, String)> {
    let mut vars = vec![
        ("GITLAB_CI", "true".to_owned()),
        ("CI_API_V4_URL", format!("{api}/api/v4")),
        ("CI_PROJECT_ID", "5".to_owned()),
        ("CI_MERGE_REQUEST_IID", "3".to_owned()),
        ("CI_PIPELINE_SOURCE", "merge_request_event".to_owned()),
    ];
    if let Some(t) = token {
        vars.push(("GITLAB_TOKEN", t.to_owned()));
    }
    vars
}

fn dotenv_of(dir: &Path) -> String {
    fs::read_to_string(dir.join("layerpub.env")).expect("the dotenv report was written")
}

#[test]
fn a_missing_invalid_or_unreachable_gitlab_token_is_a_warning_and_the_publish_stands() {
    let m = moto();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let gitlab = rt.block_on(MockServer::start());
    // An expired token: GitLab answers 401 to every call.
    rt.block_on(
        Mock::given(method("GET"))
            .and(path("/api/v4/user"))
            .respond_with(
                ResponseTemplate::new(401)
                    .set_body_json(serde_json::json!({"message": "401 Unauthorized"})),
            )
            .expect(1)
            .mount(&gitlab),
    );
    // (case, the job's variables, what the warning says)
    type Case = (&'static str, Vec<(&'static str, String)>, &'static str);
    let cases: [Case; 3] = [
        (
            "no token",
            merge_request_pipeline(&gitlab.uri(), None),
            "GITLAB_TOKEN: not set",
        ),
        (
            "expired token",
            merge_request_pipeline(&gitlab.uri(), Some("glpat-expired")),
            "401",
        ),
        (
            "unreachable API",
            merge_request_pipeline("http://127.0.0.1:9", Some("glpat-x")),
            "check the network and CI_API_V4_URL",
        ),
    ];
    for (i, (case, vars, says)) in cases.into_iter().enumerate() {
        let dir = temp();
        project(dir.path(), "dotenv-file: layerpub.env\n");
        // A new manifest each time, so each case publishes the next version.
        fs::write(dir.path().join("requirements.txt"), format!("dep=={i}.0\n")).unwrap();
        let r = run_in(&m, dir.path(), &["--output", "json"], &vars);
        assert_eq!(
            r.code, 0,
            "{case}: the note must not fail the job: {}",
            r.stderr
        );
        assert_eq!(r.layer()["published"], true, "{case}");
        assert!(
            r.stderr
                .contains("warning: the comment for deps was not written")
                || r.stderr.contains("warning: no comment was written"),
            "{case}: {}",
            r.stderr
        );
        assert!(r.stderr.contains(says), "{case}: {}", r.stderr);
        assert!(
            !r.stderr.contains("glpat-"),
            "{case}: the token is never shown"
        );
        // The report later jobs read is written whatever happened to the note.
        let dotenv = dotenv_of(dir.path());
        assert!(
            dotenv.contains(&format!("LAYERPUB_LAYER_VERSION={}\n", i + 1)),
            "{case}: {dotenv}"
        );
    }
    assert_eq!(m.versions("deps").len(), 3);
    rt.block_on(gitlab.verify());
}

#[test]
fn a_comment_github_refuses_is_a_warning_annotation_and_the_publish_stands() {
    let m = moto();
    let dir = temp();
    project(dir.path(), "");
    let rt = tokio::runtime::Runtime::new().unwrap();
    let github = rt.block_on(MockServer::start());
    // A revoked token: 401 on every call.
    rt.block_on(
        Mock::given(method("GET"))
            .respond_with(
                ResponseTemplate::new(401)
                    .set_body_json(serde_json::json!({"message": "Bad credentials"})),
            )
            .mount(&github),
    );
    let vars = [
        ("GITHUB_ACTIONS", "true".to_owned()),
        ("GITHUB_REPOSITORY", "acme/app".to_owned()),
        ("GITHUB_API_URL", github.uri()),
        ("LAYERPUB_PR_NUMBER", "7".to_owned()),
        ("LAYERPUB_GITHUB_TOKEN", "ghs_revoked".to_owned()),
    ];
    let r = run_in(&m, dir.path(), &["--output", "json"], &vars);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.layer()["published"], true);
    assert!(
        r.stderr.contains("::warning title=layerpub comment::"),
        "an annotation on the run's page: {}",
        r.stderr
    );
    assert!(r.stderr.contains("check github-token"), "{}", r.stderr);
    // The token appears only where the runner is asked to mask it.
    assert_eq!(r.stderr.matches("ghs_revoked").count(), 1, "{}", r.stderr);
    assert!(
        r.stderr.contains("::add-mask::ghs_revoked\n"),
        "{}",
        r.stderr
    );
}

/// Three layers in two regions: the README's "many targets" shape.
fn many_layers(dir: &Path, layers: usize, dotenv_yaml: &str) {
    write_file(dir, "site-packages/dep/__init__.py", b"x = 1\n", 0o644);
    let mut yaml = format!(
        "path: site-packages\nprefix: python\nregions: [us-east-1, eu-west-1]\ndotenv-file: layerpub.env\n{dotenv_yaml}layers:\n"
    );
    for i in 0..layers {
        yaml += &format!("  - layer-name: layer-{i}\n");
    }
    fs::write(dir.join("layerpub.yml"), yaml).unwrap();
}

#[test]
fn a_dotenv_report_over_gitlabs_limits_is_refused_before_anything_is_published() {
    let m = moto();
    // 3 layers × 2 regions = 60 variables, over GitLab's default of 20.
    let dir = temp();
    many_layers(dir.path(), 3, "");
    let none: [(&str, String); 0] = [];
    let r = run_in(&m, dir.path(), &[], &none);
    assert_eq!(r.code, 2, "{}", r.stderr);
    for part in [
        "60 variables",
        "dotenv-max-variables (20)",
        "dotenv-format: json",
    ] {
        assert!(r.stderr.contains(part), "{part}: {}", r.stderr);
    }
    // 5 layers × 2 regions: over 5 KB even when the instance allows the variables.
    let big = temp();
    many_layers(big.path(), 5, "dotenv-max-variables: 500\n");
    let r = run_in(&m, big.path(), &[], &none);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("5120 bytes"), "{}", r.stderr);
    for region in ["us-east-1", "eu-west-1"] {
        for i in 0..5 {
            let versions = m.aws_in(region, &["versions", &format!("layer-{i}")]);
            assert_eq!(
                versions,
                serde_json::json!([]),
                "nothing published in {region}"
            );
        }
    }
    assert!(!dir.path().join("layerpub.env").exists());

    // The compact form carries all ten targets in one variable.
    let compact = temp();
    many_layers(compact.path(), 5, "dotenv-format: json\n");
    let r = run_in(&m, compact.path(), &[], &none);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let dotenv = fs::read_to_string(compact.path().join("layerpub.env")).unwrap();
    assert_eq!(dotenv.lines().count(), 1, "{dotenv}");
    let items: serde_json::Value = serde_json::from_str(
        dotenv
            .trim_end()
            .strip_prefix("LAYERPUB_RESULTS_JSON=")
            .expect(&dotenv),
    )
    .unwrap();
    assert_eq!(items.as_array().unwrap().len(), 10, "{items}");
    let eu = items
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["layer_name"] == "layer-4" && i["region"] == "eu-west-1")
        .unwrap();
    assert_eq!(
        eu["layer_version_arn"],
        "arn:aws:lambda:eu-west-1:123456789012:layer:layer-4:1"
    );
    assert_eq!(eu["published"], true);
}

/// The variables a dotenv report hands to later jobs, as GitLab parses them.
fn report_variables(text: &str) -> Vec<(String, String)> {
    text.lines()
        .map(|l| {
            let (k, v) = l.split_once('=').expect(l);
            (k.to_owned(), v.to_owned())
        })
        .collect()
}

#[test]
fn a_later_job_is_neither_stopped_nor_steered_by_an_earlier_jobs_report() {
    let m = moto();
    // Job 1: layer `alpha` in us-east-1 (its region from the job's variable).
    let first = temp();
    project(first.path(), "dotenv-file: layerpub.env\n");
    fs::write(
        first.path().join("layerpub.yml"),
        "layer-name: alpha\npath: site-packages\nmanifest: requirements.txt\ndotenv-file: layerpub.env\n",
    )
    .unwrap();
    let job1 = run_in(
        &m,
        first.path(),
        &[],
        &[("LAYERPUB_REGION", "us-east-1".to_owned())],
    );
    job1.assert_ok();
    let inherited = report_variables(&dotenv_of(first.path()));
    assert!(
        inherited
            .iter()
            .any(|(k, v)| k == "LAYERPUB_LAYER_REGION" && v == "us-east-1"),
        "{inherited:?}"
    );
    // Job 2, a later stage: layer `beta` in eu-west-1, set by the job's own variable, which
    // GitLab ranks below the inherited report. Its `layerpub prune` too.
    let second = temp();
    fs::create_dir_all(second.path().join("site-packages")).unwrap();
    fs::write(second.path().join("site-packages/b.py"), "b = 2\n").unwrap();
    fs::write(
        second.path().join("layerpub.yml"),
        "layer-name: beta\npath: site-packages\ndotenv-file: layerpub.env\nkeep-versions: 1\n",
    )
    .unwrap();
    let mut job2_vars = vec![("LAYERPUB_REGION".to_owned(), "eu-west-1".to_owned())];
    job2_vars.extend(inherited);
    let job2 = run_in(&m, second.path(), &["--output", "json"], &job2_vars);
    assert_eq!(job2.code, 0, "{}", job2.stderr);
    assert_eq!(job2.layer()["region"], "eu-west-1");
    assert_eq!(
        job2.layer()["layer_version_arn"],
        "arn:aws:lambda:eu-west-1:123456789012:layer:beta:1"
    );
    assert_eq!(
        m.aws_in("us-east-1", &["versions", "beta"]),
        serde_json::json!([])
    );
    let prune = run_in(&m, second.path(), &["prune"], &job2_vars);
    assert_eq!(prune.code, 0, "{}", prune.stderr);
}

/// GitLab's API for a first note on merge request `mr` by `layer-bot` (token `token`): the
/// user, an empty list of notes, and the note created as `note_id`, each called once.
fn gitlab_first_note(
    rt: &tokio::runtime::Runtime,
    gitlab: &MockServer,
    token: &str,
    mr: u64,
    note_id: u64,
) {
    let notes = format!("/api/v4/projects/5/merge_requests/{mr}/notes");
    let auth = || header("PRIVATE-TOKEN", token);
    let user = serde_json::json!({"id": 9, "username": "layer-bot"});
    let created = serde_json::json!({"id": note_id, "body": ""});
    for (verb, at, answer) in [
        (
            "GET",
            "/api/v4/user".to_owned(),
            ResponseTemplate::new(200).set_body_json(user),
        ),
        (
            "GET",
            notes.clone(),
            ResponseTemplate::new(200).set_body_json(serde_json::json!([])),
        ),
        (
            "POST",
            notes,
            ResponseTemplate::new(201).set_body_json(created),
        ),
    ] {
        let mock = Mock::given(method(verb))
            .and(path(at.as_str()))
            .and(auth())
            .respond_with(answer)
            .expect(1);
        rt.block_on(mock.mount(gitlab));
    }
}

const SHA: &str = "4f2a9c0e1b7d3a5f6e8c9b0a1d2e3f4a5b6c7d8e";

#[test]
fn after_a_merge_on_github_the_merged_pull_requests_comment_says_what_was_published() {
    let m = moto();
    let dir = temp();
    project(dir.path(), "");
    let rt = tokio::runtime::Runtime::new().unwrap();
    let github = rt.block_on(MockServer::start());
    let auth = || header("authorization", "Bearer ghs_push_token");
    let mount = |m: Mock| rt.block_on(m.mount(&github));
    // The commit is the merge of #7; #5 merely contains it and must be left alone.
    mount(
        Mock::given(method("GET"))
            .and(path(format!("/repos/acme/app/commits/{SHA}/pulls")))
            .and(auth())
            .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!([
                {"number": 5, "merge_commit_sha": "0000000000000000000000000000000000000000", "merged_at": "2026-11-01T00:00:00Z"},
                {"number": 7, "merge_commit_sha": SHA, "merged_at": "2026-11-30T00:00:00Z"},
            ])))
            .expect(1),
    );
    mount(
        Mock::given(method("GET"))
            .and(path("/user"))
            .respond_with(ResponseTemplate::new(403))
            .expect(1),
    );
    mount(
        Mock::given(method("GET"))
            .and(path("/repos/acme/app/issues/7/comments"))
            .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!([])))
            .expect(1),
    );
    mount(
        Mock::given(method("POST"))
            .and(path("/repos/acme/app/issues/7/comments"))
            .and(auth())
            .respond_with(ResponseTemplate::new(201).set_body_json(
                serde_json::json!({"id": 70, "body": "", "user": {"login": "github-actions[bot]"}}),
            ))
            .expect(1),
    );
    let push = |sha: &str| {
        vec![
            ("GITHUB_ACTIONS", "true".to_owned()),
            ("GITHUB_EVENT_NAME", "push".to_owned()),
            ("GITHUB_SHA", sha.to_owned()),
            ("GITHUB_REPOSITORY", "acme/app".to_owned()),
            ("GITHUB_API_URL", github.uri()),
            ("LAYERPUB_GITHUB_TOKEN", "ghs_push_token".to_owned()),
        ]
    };
    let r = run_in(&m, dir.path(), &[], &push(SHA));
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stderr.contains("pull request comment 70 created"),
        "{}",
        r.stderr
    );
    rt.block_on(github.verify());
    let requests = rt.block_on(github.received_requests()).unwrap();
    let posted = requests
        .iter()
        .find(|q| q.method.as_str() == "POST")
        .unwrap();
    let body: serde_json::Value = serde_json::from_slice(&posted.body).unwrap();
    let body = body["body"].as_str().unwrap();
    assert!(
        body.contains("### Published `deps`: new version 1"),
        "{body}"
    );

    // A direct push (no pull request merged as it): nothing is written, the run succeeds.
    let other = "1111111111111111111111111111111111111111";
    mount(
        Mock::given(method("GET"))
            .and(path(format!("/repos/acme/app/commits/{other}/pulls")))
            .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!([]))),
    );
    let r = run_in(&m, dir.path(), &[], &push(other));
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stderr.contains("no pull request's merge"), "{}", r.stderr);
}

#[test]
fn after_a_merge_on_gitlab_the_merged_merge_requests_note_says_what_was_published() {
    let m = moto();
    let dir = temp();
    project(dir.path(), "dotenv-file: layerpub.env\n");
    let rt = tokio::runtime::Runtime::new().unwrap();
    let gitlab = rt.block_on(MockServer::start());
    let mount = |m: Mock| rt.block_on(m.mount(&gitlab));
    let auth = || header("PRIVATE-TOKEN", "glpat-push");
    mount(
        Mock::given(method("GET"))
            .and(path(format!("/api/v4/projects/5/repository/commits/{SHA}/merge_requests")))
            .and(auth())
            .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!([
                {"iid": 2, "state": "opened", "merge_commit_sha": null, "squash_commit_sha": null, "sha": SHA},
                {"iid": 4, "state": "merged", "merge_commit_sha": null, "squash_commit_sha": SHA, "sha": "aa"},
            ])))
            .expect(1),
    );
    gitlab_first_note(&rt, &gitlab, "glpat-push", 4, 40);
    let vars = vec![
        ("GITLAB_CI", "true".to_owned()),
        ("CI_PIPELINE_SOURCE", "push".to_owned()),
        ("CI_COMMIT_SHA", SHA.to_owned()),
        ("CI_API_V4_URL", format!("{}/api/v4", gitlab.uri())),
        ("CI_PROJECT_ID", "5".to_owned()),
        ("GITLAB_TOKEN", "glpat-push".to_owned()),
    ];
    let r = run_in(&m, dir.path(), &[], &vars);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stderr.contains("merge request note 40 created"),
        "{}",
        r.stderr
    );
    rt.block_on(gitlab.verify());
}

#[test]
fn a_plan_in_a_merge_request_says_what_would_be_published_and_publishes_nothing() {
    let m = moto();
    let dir = temp();
    project(dir.path(), "");
    let rt = tokio::runtime::Runtime::new().unwrap();
    let gitlab = rt.block_on(MockServer::start());
    gitlab_first_note(&rt, &gitlab, "glpat-mr", 3, 30);
    let vars = merge_request_pipeline(&gitlab.uri(), Some("glpat-mr"));
    let r = run_in(&m, dir.path(), &["plan"], &vars);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(m.versions("deps"), Vec::<serde_json::Value>::new());
    let requests = rt.block_on(gitlab.received_requests()).unwrap();
    let posted = requests
        .iter()
        .find(|q| q.method.as_str() == "POST")
        .unwrap();
    let body: serde_json::Value = serde_json::from_slice(&posted.body).unwrap();
    let body = body["body"].as_str().unwrap();
    assert!(
        body.contains(
            "### Plan: `deps` would publish a new version (first version; newest now: none)"
        ),
        "{body}"
    );
}
