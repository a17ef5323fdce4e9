//! Known fake secrets through every path a run can take — publish, an unchanged re-run, plan,
//! a failing run, an AWS error, GitHub mode (outputs, summary, sticky comment) and GitLab mode
//! (dotenv, merge-request note), all at `LAYERPUB_LOG=trace` — and a search for each secret,
//! and its base64 form, in everything the run left: stdout, stderr, `$GITHUB_OUTPUT`,
//! `$GITHUB_STEP_SUMMARY`, the dotenv file, and every request body the mock GitHub, GitLab and
//! AWS servers received. The only place a token may appear is the `::add-mask::` line that
//! masks it (GitHub), which must be there.
//!
//! With `LAYERPUB_REPORT_DIR` set, each path appends `{"path", "secrets_found", "passed"}` to
//! `$LAYERPUB_REPORT_DIR/secrets.jsonl`.

use crate::common;

use std::fs;
use std::path::Path;

use base64::Engine;
use common::moto::{Moto, moto};
use common::*;
use serde_json::json;
use wiremock::matchers::{method, path_regex};
use wiremock::{Mock, MockServer, ResponseTemplate};

const ACCESS_KEY_ID: &str = "AKIAFAKELAYERPUB0001";
const AWS_SECRET: &str = "wJalrXUtnFEMI/K7MDENG/FakeSecretForLayerpubTests";
const AWS_SESSION: &str = "FwoGZXIvYXdzEFakeSessionTokenForLayerpubTests0123456789";
const GITHUB_TOKEN: &str = "ghp_FakeGitHubTokenForLayerpubTests0123";
const GITLAB_TOKEN: &str = "glpat-FakeGitLabTokenForLayerpubTests";
const BUCKET: &str = "layers";

/// Every secret, and the base64 of each (as a Basic auth header or a careless log would show
/// it).
fn needles() -> Vec<(String, String)> {
    let mut out = Vec::new();
    for (name, s) in [
        ("AWS_SECRET_ACCESS_KEY", AWS_SECRET),
        ("AWS_SESSION_TOKEN", AWS_SESSION),
        ("github-token", GITHUB_TOKEN),
        ("GITLAB_TOKEN", GITLAB_TOKEN),
    ] {
        out.push((name.to_owned(), s.to_owned()));
        let b64 = base64::engine::general_purpose::STANDARD.encode(s);
        out.push((format!("{name} (base64)"), b64));
    }
    out
}

/// Where each secret was found, among named texts.
fn leaks(texts: &[(String, String)]) -> Vec<String> {
    let mut found = Vec::new();
    for (what, text) in texts {
        for (name, needle) in needles() {
            if text.contains(&needle) {
                found.push(format!("{name} in {what}"));
            }
        }
    }
    found
}

fn report(row: serde_json::Value) {
    report_row("secrets.jsonl", &row);
}

/// A mock GitHub that accepts the comment (and one for GitLab that accepts the note), and
/// records every request.
async fn forge() -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path_regex("^(/api/v4)?/user$"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"id": 9, "login": "layer-bot", "username": "layer-bot"})),
        )
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([])))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .respond_with(
            ResponseTemplate::new(201)
                .set_body_json(json!({"id": 41, "body": "", "user": {"login": "layer-bot"}})),
        )
        .mount(&server)
        .await;
    server
}

/// A project that publishes to the bucket.
fn project(dir: &Path) {
    write_file(
        dir,
        "site-packages/requests/__init__.py",
        b"print('requests')\n",
        0o644,
    );
    fs::write(dir.join("requirements.txt"), "requests==2.32.3\n").unwrap();
    fs::write(
        dir.join("layerpub.yml"),
        format!("layer-name: deps\npath: site-packages\nprefix: python\nmanifest: requirements.txt\ncompatible-runtimes: [python3.12]\ns3-bucket: {BUCKET}\n"),
    )
    .unwrap();
}

/// The emulator's environment with the fake credentials and trace logging.
fn aws_env(m: &Moto) -> Vec<(String, String)> {
    vec![
        ("AWS_ACCESS_KEY_ID".into(), ACCESS_KEY_ID.into()),
        ("AWS_SECRET_ACCESS_KEY".into(), AWS_SECRET.into()),
        ("AWS_SESSION_TOKEN".into(), AWS_SESSION.into()),
        ("AWS_REGION".into(), "us-east-1".into()),
        ("AWS_ENDPOINT_URL".into(), m.endpoint.clone()),
        ("AWS_EC2_METADATA_DISABLED".into(), "true".into()),
        ("LAYERPUB_LOG".into(), "trace".into()),
    ]
}

/// One path: runs the binary in `dir` with `env`, then gathers every text it left.
struct Scenario {
    name: &'static str,
    args: Vec<&'static str>,
    env: Vec<(String, String)>,
    expect_code: i32,
    github: bool,
    /// What stderr must say (the comment or note was written, so its body was searched).
    says: &'static str,
}

fn github_env(dir: &Path, api: &str, token_var: &str) -> Vec<(String, String)> {
    fs::write(dir.join("event.json"), r#"{"number": 7}"#).unwrap();
    let p = |f: &str| path_str(&dir.join(f));
    vec![
        ("GITHUB_ACTIONS".into(), "true".into()),
        ("GITHUB_OUTPUT".into(), p("output")),
        ("GITHUB_STEP_SUMMARY".into(), p("summary")),
        ("GITHUB_EVENT_NAME".into(), "pull_request".into()),
        ("GITHUB_EVENT_PATH".into(), p("event.json")),
        ("GITHUB_REPOSITORY".into(), "acme/app".into()),
        ("GITHUB_API_URL".into(), api.into()),
        (token_var.into(), GITHUB_TOKEN.into()),
    ]
}

/// Runs one path and returns the leaks found (and checks the exit code and the mask).
fn run_path(rt: &tokio::runtime::Runtime, dir: &Path, p: Scenario, mocks: &[&MockServer]) -> usize {
    // Requests of earlier paths are not this path's.
    let before: Vec<usize> = mocks
        .iter()
        .map(|m| rt.block_on(m.received_requests()).unwrap_or_default().len())
        .collect();
    for f in ["output", "summary", "layerpub.env"] {
        let _ = fs::remove_file(dir.join(f));
    }
    let env: Vec<(&str, &str)> = p
        .env
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let r = layerpub(dir, &p.args, &env);
    assert_eq!(r.code, p.expect_code, "{}: {}", p.name, r.stderr);
    assert!(r.stderr.contains(p.says), "{}: {}", p.name, r.stderr);
    if p.args.contains(&"json") {
        // A failed target is a result too: the document keeps its contract.
        r.json();
    }

    let mask = format!("::add-mask::{GITHUB_TOKEN}");
    if p.github {
        assert!(
            r.stderr.starts_with(&mask),
            "{}: the token is masked before anything else is printed:\n{}",
            p.name,
            r.stderr
        );
    }
    let stderr: String = r
        .stderr
        .lines()
        .filter(|l| *l != mask)
        .map(|l| format!("{l}\n"))
        .collect();
    let mut texts = vec![
        ("stdout".to_owned(), r.stdout.clone()),
        ("stderr".to_owned(), stderr),
    ];
    for f in ["output", "summary", "layerpub.env"] {
        if let Ok(t) = fs::read_to_string(dir.join(f)) {
            texts.push((f.to_owned(), t));
        }
    }
    for (m, skip) in mocks.iter().zip(before) {
        let requests = rt.block_on(m.received_requests()).unwrap_or_default();
        for req in requests.into_iter().skip(skip) {
            texts.push((
                format!("the body of {} {}", req.method, req.url.path()),
                String::from_utf8_lossy(&req.body).into_owned(),
            ));
        }
    }
    let found = leaks(&texts);
    report(json!({"path": p.name, "secrets_found": found.len(), "passed": found.is_empty()}));
    assert!(found.is_empty(), "{}: {found:?}", p.name);
    texts.len()
}

#[test]
fn no_secret_reaches_any_output_on_any_path() {
    let m = moto();
    m.aws(&["create-bucket", BUCKET]);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let github = rt.block_on(forge());
    let gitlab = rt.block_on(forge());
    let dir = temp();
    project(dir.path());
    let d = dir.path();
    let gh = |token_var: &str| {
        let mut env = aws_env(&m);
        env.extend(github_env(d, &github.uri(), token_var));
        env
    };

    let paths = vec![
        Scenario {
            name: "publish (GitHub mode, S3, sticky comment)",
            args: vec!["--output", "json"],
            env: gh("INPUT_GITHUB-TOKEN"),
            expect_code: 0,
            github: true,
            says: "pull request comment 41 created",
        },
        Scenario {
            name: "unchanged re-run (GitHub mode)",
            args: vec!["--output", "json"],
            env: gh("LAYERPUB_GITHUB_TOKEN"),
            expect_code: 0,
            github: true,
            says: "deps unchanged: version 1 stands",
        },
        Scenario {
            name: "plan (GitHub mode)",
            args: vec!["plan", "--force", "--output", "json"],
            env: gh("INPUT_GITHUB-TOKEN"),
            expect_code: 0,
            github: true,
            says: "plan: deps would publish a new version",
        },
        Scenario {
            name: "failing run: missing bucket (GitHub mode)",
            args: vec![
                "--force",
                "--output",
                "json",
                "--s3-bucket",
                "no-such-bucket",
            ],
            env: gh("INPUT_GITHUB-TOKEN"),
            expect_code: 2,
            github: true,
            says: "NoSuchBucket",
        },
        Scenario {
            name: "bad input: config error with the token set",
            args: vec!["--compatible-runtimes", "pyhton3.12"],
            env: gh("INPUT_GITHUB-TOKEN"),
            expect_code: 2,
            github: false,
            says: "did you mean `python3.12`",
        },
        Scenario {
            name: "GitLab mode: dotenv and merge-request note",
            args: vec!["--force", "--dotenv-file", "layerpub.env"],
            env: {
                let mut env = aws_env(&m);
                env.extend([
                    ("GITLAB_CI".into(), "true".into()),
                    ("CI_API_V4_URL".into(), format!("{}/api/v4", gitlab.uri())),
                    ("CI_PROJECT_ID".into(), "5".into()),
                    ("CI_MERGE_REQUEST_IID".into(), "3".into()),
                    ("GITLAB_TOKEN".into(), GITLAB_TOKEN.into()),
                ]);
                env
            },
            expect_code: 0,
            github: false,
            says: "merge request note 41 created",
        },
    ];
    for p in paths {
        run_path(&rt, d, p, &[&github, &gitlab]);
    }
    // The comment and the note were written (so their bodies were searched).
    assert!(
        fs::read_to_string(d.join("layerpub.env"))
            .unwrap()
            .contains("LAYERPUB_PUBLISHED=true")
    );
}

#[test]
fn an_aws_error_answer_and_the_signed_requests_carry_no_secret() {
    // An AWS endpoint that refuses everything, as IAM would: the run fails with the service's
    // words, and what the SDK sent shows the secret key nowhere (the session token travels only
    // in its own header, as SigV4 requires).
    let rt = tokio::runtime::Runtime::new().unwrap();
    let aws = rt.block_on(MockServer::start());
    rt.block_on(
        Mock::given(method("GET"))
            .respond_with(
                ResponseTemplate::new(403)
                    .insert_header("x-amzn-errortype", "AccessDeniedException")
                    .set_body_json(json!({"message": "User is not authorized to perform: lambda:ListLayerVersions"})),
            )
            .mount(&aws),
    );
    let dir = temp();
    project(dir.path());
    let env = [
        ("AWS_ACCESS_KEY_ID", ACCESS_KEY_ID),
        ("AWS_SECRET_ACCESS_KEY", AWS_SECRET),
        ("AWS_SESSION_TOKEN", AWS_SESSION),
        ("AWS_REGION", "us-east-1"),
        ("AWS_EC2_METADATA_DISABLED", "true"),
        ("LAYERPUB_LOG", "trace"),
    ];
    let uri = aws.uri();
    let r = layerpub(
        dir.path(),
        &["--output", "json", "--endpoint-url", &uri],
        &env,
    );
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("AccessDeniedException"), "{}", r.stderr);
    assert_eq!(r.layer()["status"], "failed", "{}", r.stdout);
    let mut texts = vec![
        ("stdout".to_owned(), r.stdout.clone()),
        ("stderr".to_owned(), r.stderr.clone()),
    ];
    let requests = rt.block_on(aws.received_requests()).unwrap();
    assert!(!requests.is_empty());
    for req in &requests {
        let headers: String = req
            .headers
            .iter()
            .filter(|(k, _)| k.as_str() != "x-amz-security-token")
            .map(|(k, v)| format!("{k}: {}\n", v.to_str().unwrap_or("")))
            .collect();
        assert!(headers.contains(ACCESS_KEY_ID), "SigV4 names the key id");
        texts.push(("AWS request headers".into(), headers));
        texts.push((
            "AWS request body".into(),
            String::from_utf8_lossy(&req.body).into_owned(),
        ));
    }
    let found = leaks(&texts);
    report(
        json!({"path": "AWS error answer (AccessDenied), signed requests", "secrets_found": found.len(), "passed": found.is_empty()}),
    );
    assert!(found.is_empty(), "{found:?}");
}
