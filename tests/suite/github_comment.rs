//! The sticky pull-request comment against a local GitHub API (wiremock): every request is
//! asserted exactly (method, path, `per_page`, `Authorization: Bearer …`, JSON body), and every
//! write that must not happen is mounted with `.expect(0)`.

use std::future::Future;

use layerpub::ci::forge::Outcome as CommentOutcome;
use layerpub::ci::github::{GitHubContext, context, upsert_comment};
use layerpub::config::env::Env;
use layerpub::domain::error::{EXIT_BAD_INPUT, EXIT_FAILURE};
use layerpub::domain::secret::Secret;
use layerpub::render::comment::marker;
use serde_json::{Value, json};
use wiremock::matchers::{body_json, header, method, path, query_param, query_param_is_missing};
use wiremock::{Mock, MockServer, ResponseTemplate};

const TOKEN: &str = "ghs_s3cr3tT0kenV4lue";
const LAYER: &str = "deps";
const BOT: &str = "github-actions[bot]";
const COMMENTS: &str = "/repos/acme/app/issues/7/comments";

/// Runs one async test body on a fresh runtime (the crate's tokio has no test macro).
fn run<F: Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
        .block_on(f)
}

fn env(pairs: &[(&str, &str)]) -> Env {
    Env::from_pairs(pairs.iter().copied())
}

/// The context for acme/app#7 with the API at the mock server (plus a GHES-style prefix).
fn ctx(server: &MockServer, prefix: &str) -> GitHubContext {
    let api = format!("{}{prefix}", server.uri());
    context(
        &env(&[("GITHUB_REPOSITORY", "acme/app"), ("GITHUB_API_URL", &api)]),
        Some(&Secret::new(TOKEN)),
        Some(7),
    )
    .unwrap()
    .expect("a pull request")
}

fn body(text: &str) -> String {
    format!("{}\n### `{LAYER}`\n{text}\n", marker(LAYER))
}

fn comment(id: u64, login: &str, body: &str) -> Value {
    json!({
        "id": id,
        "node_id": "IC_x",
        "body": body,
        "user": { "login": login, "id": 1, "type": "Bot" },
        "html_url": format!("https://github.com/acme/app/pull/7#issuecomment-{id}"),
    })
}

fn authorized(m: wiremock::MockBuilder) -> wiremock::MockBuilder {
    m.and(header("authorization", format!("Bearer {TOKEN}").as_str()))
}

/// `GET /user`: our login, or 403 as for the workflow's installation token.
async fn mount_user(server: &MockServer, prefix: &str, login: Option<&str>) {
    let answer = match login {
        Some(l) => ResponseTemplate::new(200).set_body_json(json!({ "login": l })),
        None => ResponseTemplate::new(403)
            .set_body_json(json!({ "message": "Resource not accessible by integration" })),
    };
    authorized(Mock::given(method("GET")).and(path(format!("{prefix}/user"))))
        .respond_with(answer)
        .expect(1)
        .mount(server)
        .await;
}

/// One page of the pull request's comments, the only page.
async fn mount_list(server: &MockServer, prefix: &str, comments: Vec<Value>) {
    authorized(Mock::given(method("GET")).and(path(format!("{prefix}{COMMENTS}"))))
        .and(query_param("per_page", "100"))
        .respond_with(ResponseTemplate::new(200).set_body_json(comments))
        .expect(1)
        .mount(server)
        .await;
}

/// `POST` of a new comment with exactly `text`, answered with `status`.
async fn mount_post(server: &MockServer, prefix: &str, text: &str, status: u16, times: u64) {
    let answer = if status == 201 {
        ResponseTemplate::new(201).set_body_json(comment(901, BOT, text))
    } else {
        ResponseTemplate::new(status)
            .set_body_json(json!({ "message": "Resource not accessible by integration" }))
    };
    authorized(Mock::given(method("POST")).and(path(format!("{prefix}{COMMENTS}"))))
        .and(body_json(json!({ "body": text })))
        .respond_with(answer)
        .expect(times)
        .mount(server)
        .await;
}

/// `PATCH` of comment `id` with exactly `text`.
async fn mount_patch(server: &MockServer, id: u64, text: &str, times: u64) {
    authorized(
        Mock::given(method("PATCH")).and(path(format!("/repos/acme/app/issues/comments/{id}"))),
    )
    .and(body_json(json!({ "body": text })))
    .respond_with(ResponseTemplate::new(200).set_body_json(comment(id, BOT, text)))
    .expect(times)
    .mount(server)
    .await;
}

/// Any write at all: for runs that must write nothing.
async fn forbid_writes(server: &MockServer) {
    for verb in ["POST", "PATCH", "PUT", "DELETE"] {
        Mock::given(method(verb))
            .respond_with(ResponseTemplate::new(500))
            .expect(0)
            .named(format!("no {verb}"))
            .mount(server)
            .await;
    }
}

#[test]
fn first_run_creates_the_comment() {
    run(async {
        let server = MockServer::start().await;
        mount_user(&server, "", Some("layerpub-bot")).await;
        mount_list(&server, "", vec![comment(1, "alice", "LGTM")]).await;
        mount_post(&server, "", &body("v1"), 201, 1).await;
        mount_patch(&server, 1, &body("v1"), 0).await;
        let outcome = upsert_comment(&ctx(&server, ""), LAYER, &body("v1")).await;
        assert_eq!(outcome.unwrap(), CommentOutcome::Created(901));
    });
}

#[test]
fn second_run_updates_our_comment_with_patch() {
    run(async {
        let server = MockServer::start().await;
        mount_user(&server, "", None).await; // the installation token: we are github-actions[bot]
        mount_list(
            &server,
            "",
            vec![comment(1, "alice", "LGTM"), comment(55, BOT, &body("v1"))],
        )
        .await;
        mount_patch(&server, 55, &body("v2"), 1).await;
        mount_post(&server, "", &body("v2"), 201, 0).await;
        let outcome = upsert_comment(&ctx(&server, ""), LAYER, &body("v2")).await;
        assert_eq!(outcome.unwrap(), CommentOutcome::Updated(55));
    });
}

#[test]
fn unchanged_body_makes_no_write() {
    run(async {
        let server = MockServer::start().await;
        mount_user(&server, "", None).await;
        mount_list(&server, "", vec![comment(55, BOT, &body("v1"))]).await;
        forbid_writes(&server).await;
        let outcome = upsert_comment(&ctx(&server, ""), LAYER, &body("v1")).await;
        assert_eq!(outcome.unwrap(), CommentOutcome::Unchanged(55));
    });
}

#[test]
fn another_layers_comment_is_not_ours() {
    run(async {
        let server = MockServer::start().await;
        mount_user(&server, "", None).await;
        let other = format!("{}\nother layer\n", marker("deps-2"));
        mount_list(&server, "", vec![comment(60, BOT, &other)]).await;
        mount_post(&server, "", &body("v1"), 201, 1).await;
        mount_patch(&server, 60, &body("v1"), 0).await;
        let outcome = upsert_comment(&ctx(&server, ""), LAYER, &body("v1")).await;
        assert_eq!(outcome.unwrap(), CommentOutcome::Created(901));
    });
}

#[test]
fn a_comment_by_another_author_with_our_marker_is_left_alone() {
    run(async {
        let server = MockServer::start().await;
        mount_user(&server, "", Some("layerpub-bot")).await;
        mount_list(&server, "", vec![comment(70, "mallory", &body("forged"))]).await;
        mount_patch(&server, 70, &body("v1"), 0).await;
        mount_post(&server, "", &body("v1"), 201, 1).await;
        let outcome = upsert_comment(&ctx(&server, ""), LAYER, &body("v1")).await;
        assert_eq!(outcome.unwrap(), CommentOutcome::Created(901));
    });
}

#[test]
fn every_page_of_comments_is_searched() {
    run(async {
        let server = MockServer::start().await;
        mount_user(&server, "", None).await;
        let page2 = format!("{}{COMMENTS}?per_page=100&page=2", server.uri());
        let first: Vec<Value> = (1..=100).map(|i| comment(i, "alice", "+1")).collect();
        authorized(Mock::given(method("GET")).and(path(COMMENTS)))
            .and(query_param("per_page", "100"))
            .and(query_param_is_missing("page"))
            .respond_with(
                ResponseTemplate::new(200)
                    .insert_header(
                        "link",
                        format!("<{page2}>; rel=\"next\", <{page2}>; rel=\"last\"").as_str(),
                    )
                    .set_body_json(first),
            )
            .expect(1)
            .mount(&server)
            .await;
        authorized(Mock::given(method("GET")).and(path(COMMENTS)))
            .and(query_param("per_page", "100"))
            .and(query_param("page", "2"))
            .respond_with(ResponseTemplate::new(200).set_body_json(vec![comment(
                250,
                BOT,
                &body("v1"),
            )]))
            .expect(1)
            .mount(&server)
            .await;
        mount_patch(&server, 250, &body("v2"), 1).await;
        mount_post(&server, "", &body("v2"), 201, 0).await;
        let outcome = upsert_comment(&ctx(&server, ""), LAYER, &body("v2")).await;
        assert_eq!(outcome.unwrap(), CommentOutcome::Updated(250));
    });
}

#[test]
fn a_next_page_link_to_another_host_is_not_followed() {
    run(async {
        let server = MockServer::start().await;
        mount_user(&server, "", None).await;
        authorized(Mock::given(method("GET")).and(path(COMMENTS)))
            .respond_with(
                ResponseTemplate::new(200)
                    .insert_header("link", "<https://evil.example/steal?page=2>; rel=\"next\"")
                    .set_body_json(Vec::<Value>::new()),
            )
            .expect(1)
            .mount(&server)
            .await;
        forbid_writes(&server).await;
        let err = upsert_comment(&ctx(&server, ""), LAYER, &body("v1"))
            .await
            .unwrap_err();
        assert!(err.to_string().contains("outside"), "{err}");
    });
}

#[test]
fn a_403_on_create_is_forbidden_not_a_failure() {
    run(async {
        let server = MockServer::start().await;
        mount_user(&server, "", None).await;
        mount_list(&server, "", vec![]).await;
        mount_post(&server, "", &body("v1"), 403, 1).await;
        let outcome = upsert_comment(&ctx(&server, ""), LAYER, &body("v1"))
            .await
            .unwrap();
        let CommentOutcome::Forbidden(message) = outcome else {
            panic!("expected Forbidden, got {outcome:?}");
        };
        assert!(message.contains("acme/app#7"), "{message}");
        assert!(
            message.contains("403 Resource not accessible by integration"),
            "{message}"
        );
        assert!(message.contains("pull-requests: write"), "{message}");
        assert!(!message.contains(TOKEN), "{message}");
    });
}

#[test]
fn a_ghes_base_url_keeps_its_api_v3_prefix() {
    run(async {
        let server = MockServer::start().await;
        let prefix = "/api/v3";
        mount_user(&server, prefix, None).await;
        mount_list(&server, prefix, vec![comment(55, BOT, &body("v1"))]).await;
        authorized(
            Mock::given(method("PATCH")).and(path("/api/v3/repos/acme/app/issues/comments/55")),
        )
        .and(body_json(json!({ "body": body("v2") })))
        .respond_with(ResponseTemplate::new(200).set_body_json(comment(55, BOT, &body("v2"))))
        .expect(1)
        .mount(&server)
        .await;
        let context = ctx(&server, &format!("{prefix}/"));
        assert_eq!(context.api_url, format!("{}/api/v3", server.uri()));
        let outcome = upsert_comment(&context, LAYER, &body("v2")).await;
        assert_eq!(outcome.unwrap(), CommentOutcome::Updated(55));
    });
}

#[test]
fn a_server_error_fails_without_showing_the_token() {
    run(async {
        let server = MockServer::start().await;
        mount_user(&server, "", None).await;
        // A 5xx to a GET is retried three times, then the run gives up.
        authorized(Mock::given(method("GET")).and(path(COMMENTS)))
            .respond_with(
                ResponseTemplate::new(502).set_body_json(json!({ "message": "Bad Gateway" })),
            )
            .expect(4)
            .mount(&server)
            .await;
        forbid_writes(&server).await;
        let context = ctx(&server, "");
        let err = upsert_comment(&context, LAYER, &body("v1"))
            .await
            .unwrap_err();
        assert_eq!(err.exit_code(), EXIT_FAILURE);
        assert_eq!(
            err.to_string(),
            "listing the comments of acme/app#7 failed: 502 Bad Gateway"
        );
        for shown in [err.to_string(), format!("{err:?}"), format!("{context:?}")] {
            assert!(!shown.contains(TOKEN), "{shown}");
        }
        // GitHub's answer is kept underneath the message (octocrab's error before: the client
        // changed, the rule did not).
        let source = std::error::Error::source(&err).expect("GitHub's answer is kept");
        let refused = source
            .downcast_ref::<layerpub::ci::rest::Refused>()
            .unwrap_or_else(|| panic!("{source:?}"));
        assert_eq!(refused.status, 502);
        assert_eq!(refused.message.as_deref(), Some("Bad Gateway"));
        assert!(format!("{context:?}").contains("***"));
    });
}

#[test]
fn a_refused_token_is_bad_input() {
    run(async {
        let server = MockServer::start().await;
        authorized(Mock::given(method("GET")).and(path("/user")))
            .respond_with(
                ResponseTemplate::new(401).set_body_json(json!({ "message": "Bad credentials" })),
            )
            .expect(1)
            .mount(&server)
            .await;
        forbid_writes(&server).await;
        let err = upsert_comment(&ctx(&server, ""), LAYER, &body("v1"))
            .await
            .unwrap_err();
        assert_eq!(err.exit_code(), EXIT_BAD_INPUT);
        assert!(err.to_string().contains("401 Bad credentials"), "{err}");
        assert!(err.to_string().contains("github-token"), "{err}");
        assert!(!err.to_string().contains(TOKEN), "{err}");
    });
}

#[test]
fn an_unreachable_api_fails_without_showing_the_token() {
    run(async {
        // A port nothing listens on: bind one, then drop it.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let context = context(
            &env(&[
                ("GITHUB_REPOSITORY", "acme/app"),
                ("GITHUB_API_URL", &format!("http://127.0.0.1:{port}")),
            ]),
            Some(&Secret::new(TOKEN)),
            Some(7),
        )
        .unwrap()
        .unwrap();
        let err = upsert_comment(&context, LAYER, &body("v1"))
            .await
            .unwrap_err();
        assert_eq!(err.exit_code(), EXIT_FAILURE);
        assert!(err.to_string().contains("GET /user"), "{err}");
        assert!(!err.to_string().contains(TOKEN) && !format!("{err:?}").contains(TOKEN));
    });
}

// --- context(): where the pull request comes from -------------------------------------------

fn event_file(json: &str) -> tempfile::NamedTempFile {
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), json).unwrap();
    file
}

fn github_env(event: &str, path: &str) -> Env {
    env(&[
        ("GITHUB_REPOSITORY", "acme/app"),
        ("GITHUB_EVENT_NAME", event),
        ("GITHUB_EVENT_PATH", path),
        ("GITHUB_API_URL", "https://api.github.com"),
    ])
}

#[test]
fn context_reads_the_pr_number_from_a_pull_request_event() {
    let file = event_file(r#"{"action":"synchronize","number":42,"pull_request":{"number":42}}"#);
    let token = Secret::new(TOKEN);
    let ctx = context(
        &github_env("pull_request", file.path().to_str().unwrap()),
        Some(&token),
        None,
    )
    .unwrap()
    .unwrap();
    assert_eq!(
        (ctx.owner.as_str(), ctx.repo.as_str(), ctx.pr),
        ("acme", "app", 42)
    );
    assert_eq!(ctx.api_url, "https://api.github.com");
}

#[test]
fn context_reads_number_from_a_pull_request_target_event() {
    let file = event_file(r#"{"number":8}"#);
    let ctx = context(
        &github_env("pull_request_target", file.path().to_str().unwrap()),
        Some(&Secret::new(TOKEN)),
        None,
    )
    .unwrap()
    .unwrap();
    assert_eq!(ctx.pr, 8);
}

#[test]
fn context_is_none_for_a_push() {
    let file = event_file(r#"{"ref":"refs/heads/main"}"#);
    let got = context(
        &github_env("push", file.path().to_str().unwrap()),
        Some(&Secret::new(TOKEN)),
        None,
    )
    .unwrap();
    assert_eq!(got, None);
}

#[test]
fn context_pr_number_setting_wins_over_the_event() {
    let file = event_file(r#"{"ref":"refs/heads/main"}"#);
    let ctx = context(
        &github_env("workflow_dispatch", file.path().to_str().unwrap()),
        Some(&Secret::new(TOKEN)),
        Some(5),
    )
    .unwrap()
    .unwrap();
    assert_eq!(ctx.pr, 5);
}

#[test]
fn context_errors_clearly_on_a_malformed_event_file() {
    let file = event_file(r#"{"pull_request": {"number": 4"#);
    let path = file.path().to_str().unwrap().to_owned();
    let err = context(
        &github_env("pull_request", &path),
        Some(&Secret::new(TOKEN)),
        None,
    )
    .unwrap_err();
    assert_eq!(err.exit_code(), EXIT_BAD_INPUT);
    let text = err.to_string();
    assert!(text.starts_with("GITHUB_EVENT_PATH: "), "{text}");
    assert!(
        text.contains("not valid JSON") && text.contains(&path),
        "{text}"
    );
}

#[test]
fn context_errors_on_an_unreadable_or_numberless_event_file() {
    let token = Secret::new(TOKEN);
    let err = context(
        &github_env("pull_request", "/nonexistent/event.json"),
        Some(&token),
        None,
    )
    .unwrap_err();
    assert!(
        err.to_string()
            .starts_with("GITHUB_EVENT_PATH: cannot read the event file `/nonexistent/event.json`"),
        "{err}"
    );
    let file = event_file(r#"{"pull_request": {}}"#);
    let err = context(
        &github_env("pull_request", file.path().to_str().unwrap()),
        Some(&token),
        None,
    )
    .unwrap_err();
    assert!(err.to_string().contains("no pull_request.number"), "{err}");
}

#[test]
fn context_needs_a_token_for_a_pull_request() {
    let file = event_file(r#"{"pull_request":{"number":42}}"#);
    let err = context(
        &github_env("pull_request", file.path().to_str().unwrap()),
        None,
        None,
    )
    .unwrap_err();
    assert_eq!(err.exit_code(), EXIT_BAD_INPUT);
    assert!(err.to_string().contains("github-token"), "{err}");
}

#[test]
fn context_debug_never_shows_the_token() {
    let ctx = context(
        &env(&[("GITHUB_REPOSITORY", "acme/app")]),
        Some(&Secret::new(TOKEN)),
        Some(1),
    )
    .unwrap()
    .unwrap();
    let debug = format!("{ctx:?} {ctx:#?}");
    assert!(!debug.contains(TOKEN), "{debug}");
    assert!(debug.contains("***"), "{debug}");
}

#[test]
fn our_marker_quoted_inside_another_layers_comment_is_not_ours() {
    // A lock-file line `<!-- layerpub:deps -->` shown in layer `other`'s comment (same author):
    // only a body whose first line is the marker is this layer's comment.
    run(async {
        let server = MockServer::start().await;
        mount_user(&server, "", None).await;
        let other = format!("{}\n- added `{}`\n", marker("other"), marker(LAYER));
        mount_list(&server, "", vec![comment(60, BOT, &other)]).await;
        mount_patch(&server, 60, &body("v1"), 0).await;
        mount_post(&server, "", &body("v1"), 201, 1).await;
        let outcome = upsert_comment(&ctx(&server, ""), LAYER, &body("v1")).await;
        assert_eq!(outcome.unwrap(), CommentOutcome::Created(901));
    });
}

#[test]
fn a_body_without_its_marker_is_refused_before_any_request() {
    // Posted, it could never be found again: every later run would add another comment.
    run(async {
        let server = MockServer::start().await;
        Mock::given(wiremock::matchers::any())
            .respond_with(ResponseTemplate::new(500))
            .expect(0)
            .mount(&server)
            .await;
        let err = upsert_comment(&ctx(&server, ""), LAYER, "no marker")
            .await
            .unwrap_err();
        assert!(
            err.to_string().contains("must start with its marker"),
            "{err}"
        );
        let other = format!("{}\nbody\n", marker("other"));
        assert!(
            upsert_comment(&ctx(&server, ""), LAYER, &other)
                .await
                .is_err()
        );
    });
}
