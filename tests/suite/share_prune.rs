//! Sharing (`share::ensure_grants`) and pruning (`prune::prune`) against a real moto_server,
//! read back through boto3; the answers moto cannot give (a conflict, an access denial) from a
//! local Lambda API (wiremock).
//!
//! moto 5.2 accepts a duplicate statement ID (AWS answers ResourceConflictException) and then
//! holds two statements with that ID: counting statements after a re-run really checks that
//! layerpub read the policy before adding.

use crate::common;

use aws_sdk_lambda::config::Credentials;
use common::moto::{MotoGuard, moto};
use layerpub::aws::prune;
use layerpub::aws::share::ensure_grants;
use layerpub::domain::follow_up::Pruned;
use layerpub::domain::grantee::Grantee;
use serde_json::{Value, json};
use wiremock::matchers::{method, path, path_regex};
use wiremock::{Mock, MockServer, ResponseTemplate};

const LAYER: &str = "deps";
const LAYER_ARN: &str = "arn:aws:lambda:us-east-1:123456789012:layer:deps";
const ACCOUNT: &str = "123456789012";
const ORG: &str = "o-abc123defg";

/// [`LAYER_ARN`], parsed as a run has it.
fn layer_arn() -> layerpub::domain::arn::LayerArn {
    LAYER_ARN.parse().unwrap()
}

/// A Lambda client for `endpoint`, built as a run builds it, with the emulator's fake
/// credentials given directly (the test process's environment stays untouched).
async fn lambda(endpoint: &str) -> aws_sdk_lambda::Client {
    let clients = layerpub::aws::clients(
        Some("us-east-1"),
        Some(endpoint),
        &layerpub::aws::ClientOptions::default(),
    )
    .await
    .unwrap();
    let config = clients
        .lambda
        .config()
        .to_builder()
        .credentials_provider(Credentials::new("testing", "testing", None, None, "tests"))
        .build();
    aws_sdk_lambda::Client::from_conf(config)
}

fn grantees() -> Vec<Grantee> {
    ["123456789012", ORG, "*"]
        .iter()
        .map(|s| Grantee::parse(s).unwrap())
        .collect()
}

fn statements(m: &MotoGuard, version: i64) -> Vec<Value> {
    let policy = m.aws(&["policy", LAYER, &version.to_string()]);
    policy["Statement"].as_array().cloned().unwrap_or_default()
}

fn sids(statements: &[Value]) -> Vec<&str> {
    statements
        .iter()
        .map(|s| s["Sid"].as_str().unwrap())
        .collect()
}

/// Publishes versions 1..=n of the layer.
fn publish(m: &MotoGuard, n: i64) {
    for v in 1..=n {
        assert_eq!(m.aws(&["publish-zip", LAYER]), json!(v));
    }
}

fn remaining(m: &MotoGuard) -> Vec<i64> {
    let mut v: Vec<i64> = m
        .versions(LAYER)
        .iter()
        .map(|v| v["version"].as_i64().unwrap())
        .collect();
    v.sort();
    v
}

fn version_arn(v: i64) -> String {
    format!("{LAYER_ARN}:{v}")
}

fn pruned(deleted: &[i64], protected_in_use: &[i64], kept: &[i64]) -> Pruned {
    Pruned {
        deleted: deleted.to_vec(),
        protected_in_use: protected_in_use.to_vec(),
        kept: kept.to_vec(),
    }
}

#[tokio::test]
async fn grants_to_an_account_an_organization_and_everyone_appear_in_the_policy() {
    let m = moto();
    publish(&m, 1);
    let lambda = lambda(&m.endpoint).await;

    let added = ensure_grants(&lambda, LAYER, 1, &grantees(), true)
        .await
        .unwrap();

    assert_eq!(
        added,
        [
            "layerpub-123456789012",
            "layerpub-o-abc123defg",
            "layerpub-public"
        ]
    );
    let policy = statements(&m, 1);
    assert_eq!(sids(&policy), added);
    for s in &policy {
        assert_eq!(s["Action"], "lambda:GetLayerVersion");
        assert_eq!(s["Effect"], "Allow");
        assert_eq!(s["Resource"], version_arn(1).as_str());
    }
    assert_eq!(policy[0]["Principal"], ACCOUNT);
    assert_eq!(policy[1]["Principal"], "*");
    assert_eq!(policy[1]["OrganizationId"], ORG);
    assert_eq!(policy[2]["Principal"], "*");
    assert!(policy[2].get("OrganizationId").is_none());
}

#[tokio::test]
async fn a_second_run_adds_no_statement_and_a_new_grantee_only_its_own() {
    let m = moto();
    publish(&m, 1);
    let lambda = lambda(&m.endpoint).await;
    ensure_grants(&lambda, LAYER, 1, &grantees(), true)
        .await
        .unwrap();

    let again = ensure_grants(&lambda, LAYER, 1, &grantees(), false)
        .await
        .unwrap();
    assert!(again.is_empty(), "{again:?}");
    assert_eq!(statements(&m, 1).len(), 3);

    let mut more = grantees();
    more.push(Grantee::parse("arn:aws:iam::210987654321:root").unwrap());
    let added = ensure_grants(&lambda, LAYER, 1, &more, false)
        .await
        .unwrap();
    assert_eq!(added, ["layerpub-210987654321"]);
    assert_eq!(statements(&m, 1).len(), 4);
}

#[tokio::test]
async fn a_grant_on_an_older_version_reads_its_policy_first() {
    // The version already holds our account statement (an earlier run) and one made by hand.
    let m = moto();
    publish(&m, 2);
    m.aws(&[
        "add-permission",
        LAYER,
        "1",
        "layerpub-123456789012",
        ACCOUNT,
    ]);
    m.aws(&["add-permission", LAYER, "1", "by-hand", "210987654321"]);
    let lambda = lambda(&m.endpoint).await;

    let added = ensure_grants(&lambda, LAYER, 1, &grantees(), false)
        .await
        .unwrap();

    assert_eq!(added, ["layerpub-o-abc123defg", "layerpub-public"]);
    assert_eq!(
        sids(&statements(&m, 1)),
        [
            "layerpub-123456789012",
            "by-hand",
            "layerpub-o-abc123defg",
            "layerpub-public"
        ]
    );
    assert!(statements(&m, 2).is_empty(), "version 2 was not shared");
}

#[tokio::test]
async fn prune_keeps_two_and_protects_the_version_a_function_uses() {
    let m = moto();
    publish(&m, 5);
    m.aws(&["create-published-function", "api", &version_arn(2)]);
    let lambda = lambda(&m.endpoint).await;

    let result = prune::prune(&lambda, LAYER, &layer_arn(), 2, Some(5), true, false)
        .await
        .unwrap();

    assert_eq!(result, pruned(&[1, 3], &[2], &[4, 5]));
    assert_eq!(remaining(&m), [2, 4, 5]);
}

#[tokio::test]
async fn a_dry_run_deletes_nothing_but_reports_what_it_would() {
    let m = moto();
    publish(&m, 5);
    m.aws(&["create-published-function", "api", &version_arn(2)]);
    let lambda = lambda(&m.endpoint).await;

    let result = prune::prune(&lambda, LAYER, &layer_arn(), 2, Some(5), true, true)
        .await
        .unwrap();

    assert_eq!(result, pruned(&[1, 3], &[2], &[4, 5]));
    assert_eq!(remaining(&m), [1, 2, 3, 4, 5]);
}

#[tokio::test]
async fn without_protect_in_use_the_used_version_is_deleted_too() {
    let m = moto();
    publish(&m, 5);
    m.aws(&["create-published-function", "api", &version_arn(2)]);
    let lambda = lambda(&m.endpoint).await;

    let result = prune::prune(&lambda, LAYER, &layer_arn(), 2, Some(5), false, false)
        .await
        .unwrap();

    assert_eq!(result, pruned(&[1, 2, 3], &[], &[4, 5]));
    assert_eq!(remaining(&m), [4, 5]);
}

#[tokio::test]
async fn a_published_function_version_protects_its_layer_version_after_latest_moved_on() {
    // Function version 1 was published with layer version 2; $LATEST now uses version 5.
    let m = moto();
    publish(&m, 5);
    m.aws(&["create-published-function", "api", &version_arn(2)]);
    m.aws(&["set-function-layers", "api", &version_arn(5)]);
    let lambda = lambda(&m.endpoint).await;

    let in_use = prune::versions_in_use(&lambda, &layer_arn()).await.unwrap();
    assert_eq!(in_use.into_iter().collect::<Vec<_>>(), [2, 5]);

    let result = prune::prune(&lambda, LAYER, &layer_arn(), 1, None, true, false)
        .await
        .unwrap();
    assert_eq!(result, pruned(&[1, 3, 4], &[2], &[5]));
    assert_eq!(remaining(&m), [2, 5]);
}

#[tokio::test]
async fn pruning_a_layer_that_does_not_exist_does_nothing() {
    let m = moto();
    let lambda = lambda(&m.endpoint).await;
    let result = prune::prune(&lambda, LAYER, &layer_arn(), 2, None, true, false)
        .await
        .unwrap();
    assert_eq!(result, Pruned::default());
}

/// A Lambda API error as the service sends it (REST-JSON: the code in `x-amzn-ErrorType`).
fn lambda_error(status: u16, code: &str, message: &str) -> ResponseTemplate {
    ResponseTemplate::new(status)
        .insert_header("x-amzn-ErrorType", code)
        .set_body_json(json!({ "Type": "User", "message": message }))
}

#[tokio::test]
async fn access_denied_on_list_functions_says_to_grant_it_or_turn_protection_off() {
    let server = MockServer::start().await;
    let versions: Vec<Value> = (1..=3)
        .rev()
        .map(|v| json!({ "Version": v, "LayerVersionArn": version_arn(v) }))
        .collect();
    Mock::given(method("GET"))
        .and(path("/2018-10-31/layers/deps/versions"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({ "LayerVersions": versions })),
        )
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path_regex(r"^/2015-03-31/functions/?$"))
        .respond_with(lambda_error(
            403,
            "AccessDeniedException",
            "not authorized to perform: lambda:ListFunctions",
        ))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("DELETE"))
        .respond_with(ResponseTemplate::new(204))
        .expect(0)
        .mount(&server)
        .await;
    let lambda = lambda(&server.uri()).await;

    let err = prune::prune(&lambda, LAYER, &layer_arn(), 1, None, true, false)
        .await
        .unwrap_err();

    let message = err.to_string();
    assert!(message.starts_with("ListFunctions"), "{message}");
    assert!(
        message.contains("grant the role lambda:ListFunctions"),
        "{message}"
    );
    assert!(message.contains("`protect-in-use: false`"), "{message}");
    assert_eq!(err.exit_code(), layerpub::domain::error::EXIT_BAD_INPUT);
}

#[tokio::test]
async fn a_conflict_on_add_counts_as_present_once_the_policy_holds_the_statement() {
    // A concurrent run added the same statement between our read and our add.
    let server = MockServer::start().await;
    let policy_path = "/2018-10-31/layers/deps/versions/3/policy";
    Mock::given(method("POST"))
        .and(path(policy_path))
        .respond_with(lambda_error(
            409,
            "ResourceConflictException",
            "The statement id (layerpub-public) provided already exists",
        ))
        .expect(1)
        .mount(&server)
        .await;
    let policy = json!({ "Statement": [{ "Sid": "layerpub-public", "Principal": "*" }] });
    Mock::given(method("GET"))
        .and(path(policy_path))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "Policy": policy.to_string(),
            "RevisionId": "r1"
        })))
        .expect(1)
        .mount(&server)
        .await;
    let lambda = lambda(&server.uri()).await;

    let added = ensure_grants(&lambda, LAYER, 3, &[Grantee::Public], true)
        .await
        .unwrap();

    assert!(added.is_empty(), "{added:?}");
}
