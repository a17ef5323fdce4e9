//! The merge-request note against a mock GitLab API (wiremock): exact requests, one note per
//! merge request, and a token that never leaks.

use layerpub::ci::forge::Outcome as NoteOutcome;
use layerpub::ci::gitlab::{GitLabContext, upsert_note};
use layerpub::config::env::Env;
use layerpub::domain::error::{EXIT_BAD_INPUT, EXIT_FAILURE};
use layerpub::domain::secret::Secret;
use serde_json::{Value, json};
use wiremock::matchers::{body_json, header, method, path};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

const TOKEN: &str = "glpat-not-a-real-token-1234";
const ME: &str = "project_42_bot_layerpub";
/// The layer whose note these tests write, and its marker (`forge::marker`, as on GitHub).
const LAYER: &str = "note";
const MARKER: &str = "<!-- layerpub:note -->";
/// The project is given as a path, so its `/` must arrive encoded.
const NOTES: &str = "/api/v4/projects/group%2Fsub%2Fproj/merge_requests/7/notes";
const FIRST_PAGE: &str = "per_page=100&sort=asc";

fn body(text: &str) -> String {
    format!("{MARKER}\n### layerpub\n{text}\n")
}

fn ctx(server: &MockServer) -> GitLabContext {
    GitLabContext {
        api_url: format!("{}/api/v4", server.uri()),
        project_id: "group/sub/proj".into(),
        mr_iid: 7,
        token: Secret::new(TOKEN),
        proxy: Default::default(),
    }
}

fn note(id: u64, author: &str, text: &str) -> Value {
    json!({ "id": id, "body": text, "author": { "id": 1, "username": author }, "system": false })
}

/// The exact query string, not just the parameters it contains.
fn query(expected: &'static str) -> impl Fn(&Request) -> bool + Send + Sync + 'static {
    move |r: &Request| r.url.query() == Some(expected)
}

/// Every request must carry the token in GitLab's header.
fn authed(http_method: &str, at: &str) -> wiremock::MockBuilder {
    Mock::given(method(http_method))
        .and(path(at))
        .and(header("PRIVATE-TOKEN", TOKEN))
}

async fn user(server: &MockServer) {
    authed("GET", "/api/v4/user")
        .and(query_absent)
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({ "id": 1, "username": ME })))
        .expect(1)
        .mount(server)
        .await;
}

fn query_absent(r: &Request) -> bool {
    r.url.query().is_none()
}

async fn notes_page(server: &MockServer, q: &'static str, notes: Value, next: Option<&str>) {
    let mut answer = ResponseTemplate::new(200).set_body_json(notes);
    if let Some(n) = next {
        answer = answer.insert_header("X-Next-Page", n);
    }
    authed("GET", NOTES)
        .and(query(q))
        .respond_with(answer)
        .expect(1)
        .mount(server)
        .await;
}

async fn no_post(server: &MockServer) {
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(500))
        .expect(0)
        .mount(server)
        .await;
}

async fn no_put(server: &MockServer) {
    Mock::given(method("PUT"))
        .respond_with(ResponseTemplate::new(500))
        .expect(0)
        .mount(server)
        .await;
}

#[tokio::test]
async fn first_run_creates_the_note() {
    let server = MockServer::start().await;
    user(&server).await;
    notes_page(&server, FIRST_PAGE, json!([note(3, "alice", "LGTM")]), None).await;
    authed("POST", NOTES)
        .and(query_absent)
        .and(header("content-type", "application/json"))
        .and(body_json(json!({ "body": body("v1") })))
        .respond_with(ResponseTemplate::new(201).set_body_json(note(101, ME, &body("v1"))))
        .expect(1)
        .mount(&server)
        .await;
    no_put(&server).await;

    let outcome = upsert_note(&ctx(&server), LAYER, &body("v1"))
        .await
        .unwrap();
    assert_eq!(outcome, NoteOutcome::Created(101));
}

#[tokio::test]
async fn second_run_updates_its_note_with_put() {
    let server = MockServer::start().await;
    user(&server).await;
    notes_page(
        &server,
        FIRST_PAGE,
        json!([note(3, "alice", "LGTM"), note(55, ME, &body("v1"))]),
        None,
    )
    .await;
    authed("PUT", &format!("{NOTES}/55"))
        .and(query_absent)
        .and(header("content-type", "application/json"))
        .and(body_json(json!({ "body": body("v2") })))
        .respond_with(ResponseTemplate::new(200).set_body_json(note(55, ME, &body("v2"))))
        .expect(1)
        .mount(&server)
        .await;
    no_post(&server).await;

    let outcome = upsert_note(&ctx(&server), LAYER, &body("v2"))
        .await
        .unwrap();
    assert_eq!(outcome, NoteOutcome::Updated(55));
}

#[tokio::test]
async fn an_unchanged_note_is_not_written() {
    let server = MockServer::start().await;
    user(&server).await;
    notes_page(
        &server,
        FIRST_PAGE,
        json!([note(55, ME, &body("v1"))]),
        None,
    )
    .await;
    no_post(&server).await;
    no_put(&server).await;

    let outcome = upsert_note(&ctx(&server), LAYER, &body("v1"))
        .await
        .unwrap();
    assert_eq!(outcome, NoteOutcome::Unchanged(55));
}

#[tokio::test]
async fn a_note_by_someone_else_with_the_marker_is_left_alone() {
    let server = MockServer::start().await;
    user(&server).await;
    // Alice quoted our note, marker and all; a system note mentions it too.
    let mut system = note(4, ME, &body("old"));
    system["system"] = json!(true);
    notes_page(
        &server,
        FIRST_PAGE,
        json!([note(3, "alice", &format!("> {}", body("v1"))), system]),
        None,
    )
    .await;
    authed("POST", NOTES)
        .and(body_json(json!({ "body": body("v2") })))
        .respond_with(ResponseTemplate::new(201).set_body_json(note(102, ME, &body("v2"))))
        .expect(1)
        .mount(&server)
        .await;
    no_put(&server).await;

    let outcome = upsert_note(&ctx(&server), LAYER, &body("v2"))
        .await
        .unwrap();
    assert_eq!(outcome, NoteOutcome::Created(102));
}

#[tokio::test]
async fn every_page_is_searched_following_x_next_page() {
    let server = MockServer::start().await;
    user(&server).await;
    let others: Vec<Value> = (1..=100).map(|i| note(i, "alice", "comment")).collect();
    notes_page(&server, FIRST_PAGE, Value::Array(others), Some("2")).await;
    notes_page(
        &server,
        "per_page=100&sort=asc&page=2",
        json!([note(250, ME, &body("v1"))]),
        Some(""),
    )
    .await;
    authed("PUT", &format!("{NOTES}/250"))
        .and(body_json(json!({ "body": body("v2") })))
        .respond_with(ResponseTemplate::new(200).set_body_json(note(250, ME, &body("v2"))))
        .expect(1)
        .mount(&server)
        .await;
    no_post(&server).await;

    let outcome = upsert_note(&ctx(&server), LAYER, &body("v2"))
        .await
        .unwrap();
    assert_eq!(outcome, NoteOutcome::Updated(250));
}

#[tokio::test]
async fn a_link_rel_next_header_is_followed() {
    let server = MockServer::start().await;
    user(&server).await;
    let next = format!(
        "<{}{NOTES}?cursor=eyJpZCI6MTB9&per_page=100&sort=asc>; rel=\"next\"",
        server.uri()
    );
    authed("GET", NOTES)
        .and(query(FIRST_PAGE))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!([note(1, "alice", "hi")]))
                .insert_header("Link", next.as_str()),
        )
        .expect(1)
        .mount(&server)
        .await;
    notes_page(
        &server,
        "cursor=eyJpZCI6MTB9&per_page=100&sort=asc",
        json!([note(12, ME, &body("v1"))]),
        None,
    )
    .await;
    no_post(&server).await;
    no_put(&server).await;

    let outcome = upsert_note(&ctx(&server), LAYER, &body("v1"))
        .await
        .unwrap();
    assert_eq!(outcome, NoteOutcome::Unchanged(12));
}

#[tokio::test]
async fn a_403_on_write_is_reported_as_forbidden() {
    let server = MockServer::start().await;
    user(&server).await;
    notes_page(&server, FIRST_PAGE, json!([]), None).await;
    authed("POST", NOTES)
        .respond_with(
            ResponseTemplate::new(403).set_body_json(json!({ "message": "403 Forbidden" })),
        )
        .expect(1)
        .mount(&server)
        .await;

    match upsert_note(&ctx(&server), LAYER, &body("v1"))
        .await
        .unwrap()
    {
        NoteOutcome::Forbidden(why) => {
            assert!(why.contains("403 Forbidden"), "{why}");
            assert!(why.contains("`api` scope"), "{why}");
            assert!(!why.contains(TOKEN), "{why}");
        }
        other => panic!("expected Forbidden, got {other:?}"),
    }
}

#[tokio::test]
async fn a_401_is_bad_input_about_the_token_without_showing_it() {
    let server = MockServer::start().await;
    authed("GET", "/api/v4/user")
        .respond_with(
            ResponseTemplate::new(401).set_body_json(json!({ "message": "401 Unauthorized" })),
        )
        .expect(1)
        .mount(&server)
        .await;
    no_post(&server).await;

    let err = upsert_note(&ctx(&server), LAYER, &body("v1"))
        .await
        .unwrap_err();
    assert_eq!(err.exit_code(), EXIT_BAD_INPUT);
    let shown = format!("{err} {err:?}");
    assert!(shown.contains("GITLAB_TOKEN"), "{shown}");
    assert!(shown.contains("401"), "{shown}");
    assert!(!shown.contains(TOKEN), "{shown}");
}

#[tokio::test]
async fn a_missing_merge_request_is_a_failure_naming_it() {
    let server = MockServer::start().await;
    user(&server).await;
    authed("GET", NOTES)
        .respond_with(
            ResponseTemplate::new(404).set_body_json(json!({ "message": "404 Not found" })),
        )
        .expect(1)
        .mount(&server)
        .await;

    let err = upsert_note(&ctx(&server), LAYER, &body("v1"))
        .await
        .unwrap_err();
    assert_eq!(err.exit_code(), EXIT_FAILURE);
    let shown = format!("{err} {err:?}");
    assert!(shown.contains("merge request !7"), "{shown}");
    assert!(!shown.contains(TOKEN), "{shown}");
}

#[tokio::test]
async fn a_gateway_error_on_a_read_is_retried() {
    let server = MockServer::start().await;
    authed("GET", "/api/v4/user")
        .respond_with(ResponseTemplate::new(502))
        .up_to_n_times(1)
        .expect(1)
        .mount(&server)
        .await;
    user(&server).await;
    notes_page(&server, FIRST_PAGE, json!([note(9, ME, &body("v1"))]), None).await;

    let outcome = upsert_note(&ctx(&server), LAYER, &body("v1"))
        .await
        .unwrap();
    assert_eq!(outcome, NoteOutcome::Unchanged(9));
}

#[tokio::test]
async fn a_body_without_its_marker_is_refused_before_any_request() {
    let server = MockServer::start().await;
    Mock::given(wiremock::matchers::any())
        .respond_with(ResponseTemplate::new(500))
        .expect(0)
        .mount(&server)
        .await;
    assert!(
        upsert_note(&ctx(&server), LAYER, "no marker")
            .await
            .is_err()
    );
    assert!(upsert_note(&ctx(&server), "", "anything").await.is_err());
}

fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

/// The context the job's variables give, as the run reads them (through [`Env`]).
fn context(
    vars: &[(String, String)],
) -> Result<Option<GitLabContext>, layerpub::domain::error::Error> {
    layerpub::ci::gitlab::context(&Env::from_pairs(
        vars.iter().map(|(k, v)| (k.as_str(), v.as_str())),
    ))
}

const MR_PIPELINE: &[(&str, &str)] = &[
    ("CI_API_V4_URL", "https://gitlab.example.com/api/v4/"),
    ("CI_PROJECT_ID", "42"),
    ("CI_MERGE_REQUEST_IID", "7"),
    ("CI_JOB_TOKEN", "job-token-that-cannot-post-notes"),
];

#[test]
fn context_reads_the_merge_request_pipeline_variables() {
    let mut vars = env(MR_PIPELINE);
    vars.push(("GITLAB_TOKEN".into(), format!("{TOKEN}\n")));
    let ctx = context(&vars).unwrap().expect("a merge-request pipeline");
    assert_eq!(ctx.api_url, "https://gitlab.example.com/api/v4");
    assert_eq!(ctx.project_id, "42");
    assert_eq!(ctx.mr_iid, 7);
    assert_eq!(ctx.token.expose(), TOKEN);
}

#[test]
fn context_is_none_outside_a_merge_request_pipeline() {
    let vars = env(&[
        ("CI_API_V4_URL", "https://gitlab.example.com/api/v4"),
        ("CI_PROJECT_ID", "42"),
        ("CI_MERGE_REQUEST_IID", ""),
    ]);
    assert_eq!(context(&vars).unwrap(), None);
    assert_eq!(context(&[]).unwrap(), None);
}

#[test]
fn context_without_a_token_explains_how_to_create_one() {
    // CI_JOB_TOKEN is set, as in every job, and must not be used instead.
    let err = context(&env(MR_PIPELINE)).unwrap_err();
    assert_eq!(err.exit_code(), EXIT_BAD_INPUT);
    let message = err.to_string();
    for needed in [
        "GITLAB_TOKEN",
        "project access token",
        "`api` scope",
        "masked CI/CD variable",
        "CI_JOB_TOKEN cannot post notes",
    ] {
        assert!(message.contains(needed), "`{needed}` missing: {message}");
    }
    assert!(!message.contains("job-token-that-cannot-post-notes"));
}

#[test]
fn context_refuses_a_bad_merge_request_number_or_api_url() {
    let mut vars = env(MR_PIPELINE);
    vars.push(("GITLAB_TOKEN".into(), TOKEN.into()));
    vars.push(("CI_MERGE_REQUEST_IID".into(), "seven".into()));
    assert_eq!(context(&vars).unwrap_err().exit_code(), EXIT_BAD_INPUT);
    let mut vars = env(MR_PIPELINE);
    vars.push(("GITLAB_TOKEN".into(), TOKEN.into()));
    vars.push(("CI_API_V4_URL".into(), "gitlab.example.com".into()));
    assert_eq!(context(&vars).unwrap_err().exit_code(), EXIT_BAD_INPUT);
}

#[test]
fn the_token_is_not_in_debug_output() {
    let mut vars = env(MR_PIPELINE);
    vars.push(("GITLAB_TOKEN".into(), TOKEN.into()));
    let ctx = context(&vars).unwrap().unwrap();
    let shown = format!("{ctx:?}");
    assert!(!shown.contains(TOKEN), "{shown}");
    assert!(shown.contains("***"), "{shown}");
}

#[tokio::test]
async fn the_token_is_not_in_connection_errors() {
    // A port nothing listens on: the error names the URL, never the token.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let ctx = GitLabContext {
        api_url: format!("http://127.0.0.1:{port}/api/v4"),
        project_id: "42".into(),
        mr_iid: 7,
        token: Secret::new(TOKEN),
        proxy: Default::default(),
    };
    let err = upsert_note(&ctx, LAYER, &body("v1")).await.unwrap_err();
    assert_eq!(err.exit_code(), EXIT_FAILURE);
    let shown = format!("{err} {err:?}");
    assert!(shown.contains("CI_API_V4_URL"), "{shown}");
    assert!(!shown.contains(TOKEN), "{shown}");
    // The HTTP client's own error is kept underneath the message, and shows no token either.
    let source = std::error::Error::source(&err).expect("the connection error is kept");
    let shown = format!("{source} {source:?}");
    assert!(!shown.contains(TOKEN), "{shown}");
}

#[test]
fn the_note_is_found_by_the_same_marker_as_the_github_comment() {
    assert_eq!(layerpub::ci::forge::marker(LAYER), MARKER);
    assert_eq!(layerpub::render::comment::marker(LAYER), MARKER);
}
