//! Rolling functions onto a layer's new version (`layerpub::aws::functions::roll_out`): the flow
//! against a real moto_server, checked back through boto3; what moto cannot show (a
//! `PreconditionFailedException`, that no write happened) against a wiremock Lambda API whose
//! every request is asserted.
//!
//! moto 5.2.5 gaps these tests must not mistake for correctness: functions have no RevisionId
//! and the RevisionId/CodeSha256 guards are not checked; LastUpdateStatus is absent after
//! CreateFunction and "Successful" at once after an update; an update leaves LastModified
//! alone; PublishVersion publishes a new version even when nothing changed (AWS does not); six
//! layers on a function are accepted; a duplicate CreateAlias answers `ConflictException`.

use crate::common;

use aws_sdk_lambda::config::{BehaviorVersion, Credentials, Region};
use common::moto::{Moto, moto};
use layerpub::domain::error::Error;
use layerpub::domain::follow_up::{FunctionOutcome, FunctionResult, RollOut};
use layerpub::domain::interrupt::Interrupt;
use serde_json::{Value, json};

/// A Lambda client for `endpoint` with fake credentials, built without the environment so
/// tests running in parallel cannot disturb each other.
fn lambda(endpoint: &str) -> aws_sdk_lambda::Client {
    let config = aws_sdk_lambda::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .endpoint_url(endpoint)
        .credentials_provider(Credentials::new("testing", "testing", None, None, "test"))
        .http_client(layerpub::aws::transport::http_client(Default::default()))
        .build();
    aws_sdk_lambda::Client::from_conf(config)
}

/// [`layerpub::aws::functions::roll_out`] with the layer and version ARNs parsed, as a run
/// parses them from Lambda's answer.
async fn roll_out(
    lambda: &aws_sdk_lambda::Client,
    function: &str,
    layer_arn: &str,
    version_arn: &str,
    opts: &RollOut,
    interrupt: &Interrupt,
) -> Result<FunctionResult, Error> {
    layerpub::aws::functions::roll_out(
        lambda,
        function,
        &layer_arn.parse().expect("a layer ARN"),
        &version_arn.parse().expect("a layer version ARN"),
        opts,
        interrupt,
    )
    .await
}

fn text(v: Value) -> String {
    v.as_str().expect("a string").to_owned()
}

/// The layers the tests roll functions onto, published in the emulator.
struct Layers {
    /// Our layer's ARN, without a version.
    deps: String,
    /// deps versions 1, 2 and 3.
    v: [String; 3],
    other: String,
    another: String,
}

impl Layers {
    fn publish(m: &Moto) -> Layers {
        let other = text(m.aws(&["publish-layer", "other"]));
        let v = [(); 3].map(|()| text(m.aws(&["publish-layer", "deps"])));
        let another = text(m.aws(&["publish-layer", "another"]));
        let deps = v[0].strip_suffix(":1").expect("deps:1").to_owned();
        Layers {
            deps,
            v,
            other,
            another,
        }
    }
}

fn layers_of(m: &Moto, function: &str) -> Vec<String> {
    serde_json::from_value(m.aws(&["function-layers", function])).unwrap()
}

fn published_versions(m: &Moto, function: &str) -> Vec<Value> {
    m.aws(&["function-versions", function])
        .as_array()
        .unwrap()
        .clone()
}

fn publish_to(alias: &str) -> RollOut {
    RollOut {
        publish_version: true,
        alias: Some(alias.to_owned()),
        ..RollOut::default()
    }
}

#[tokio::test]
async fn rolls_onto_the_new_version_in_place_keeping_other_layers_in_order() {
    let m = moto();
    let l = Layers::publish(&m);
    m.aws(&["create-function", "api", &l.other, &l.v[0], &l.another]);

    let got = roll_out(
        &lambda(&m.endpoint),
        "api",
        &l.deps,
        &l.v[1],
        &RollOut::default(),
        &Interrupt::never(),
    )
    .await
    .unwrap();

    assert_eq!(got.outcome, FunctionOutcome::Updated);
    assert_eq!(got.function, "api");
    assert_eq!(
        got.previous_layer_version_arn.as_deref(),
        Some(l.v[0].as_str())
    );
    assert_eq!(got.attempts, 1);
    assert_eq!(got.function_version_arn, None);
    assert_eq!(got.alias_arn, None);
    assert_eq!(
        layers_of(&m, "api"),
        [l.other.as_str(), l.v[1].as_str(), l.another.as_str()]
    );
    assert!(published_versions(&m, "api").is_empty());
}

#[tokio::test]
async fn a_second_roll_out_finds_the_function_current_and_changes_nothing() {
    let m = moto();
    let l = Layers::publish(&m);
    m.aws(&["create-function", "api", &l.other, &l.v[0]]);
    let client = lambda(&m.endpoint);
    let never = Interrupt::never();
    let opts = RollOut::default();
    roll_out(&client, "api", &l.deps, &l.v[1], &opts, &never)
        .await
        .unwrap();

    let again = roll_out(&client, "api", &l.deps, &l.v[1], &opts, &never)
        .await
        .unwrap();

    assert_eq!(again.outcome, FunctionOutcome::AlreadyCurrent);
    assert_eq!(
        again.previous_layer_version_arn.as_deref(),
        Some(l.v[1].as_str())
    );
    assert_eq!(layers_of(&m, "api"), [l.other.as_str(), l.v[1].as_str()]);
    // That no UpdateFunctionConfiguration was sent is asserted against wiremock below: moto
    // changes nothing observable on an update to the same list.
}

#[tokio::test]
async fn publish_version_gives_a_version_with_the_new_layer_and_the_alias_follows_later_roll_outs()
{
    let m = moto();
    let l = Layers::publish(&m);
    m.aws(&["create-function", "api", &l.v[0]]);
    let client = lambda(&m.endpoint);
    let never = Interrupt::never();
    let opts = publish_to("live");

    let first = roll_out(&client, "api", &l.deps, &l.v[1], &opts, &never)
        .await
        .unwrap();
    let versions = published_versions(&m, "api");
    assert_eq!(versions.len(), 1);
    assert_eq!(versions[0]["layers"], json!([l.v[1]]));
    assert_eq!(first.outcome, FunctionOutcome::Updated);
    assert_eq!(
        first.function_version_arn.as_ref(),
        versions[0]["arn"].as_str().map(String::from).as_ref()
    );
    let alias = m.aws(&["alias", "api", "live"]);
    assert_eq!(
        alias["version"], versions[0]["version"],
        "alias created on the new version"
    );
    assert_eq!(first.alias_arn.as_deref(), alias["arn"].as_str());

    let second = roll_out(&client, "api", &l.deps, &l.v[2], &opts, &never)
        .await
        .unwrap();
    let versions = published_versions(&m, "api");
    assert_eq!(versions.len(), 2);
    assert_eq!(versions[1]["layers"], json!([l.v[2]]));
    assert_eq!(
        second.previous_layer_version_arn.as_deref(),
        Some(l.v[1].as_str())
    );
    assert_eq!(
        second.function_version_arn.as_deref(),
        versions[1]["arn"].as_str()
    );
    let alias = m.aws(&["alias", "api", "live"]);
    assert_eq!(alias["version"], versions[1]["version"], "alias moved");
    assert_eq!(second.alias_arn.as_deref(), alias["arn"].as_str());

    // A re-run finds the alias on a version that has v3: nothing is published again.
    let third = roll_out(&client, "api", &l.deps, &l.v[2], &opts, &never)
        .await
        .unwrap();
    assert_eq!(third.outcome, FunctionOutcome::AlreadyCurrent);
    assert_eq!(third.function_version_arn, second.function_version_arn);
    assert_eq!(third.alias_arn, second.alias_arn);
    assert_eq!(published_versions(&m, "api").len(), 2);
}

#[tokio::test]
async fn a_rerun_after_a_failure_before_publish_version_publishes_and_points_the_alias() {
    let m = moto();
    let l = Layers::publish(&m);
    m.aws(&["create-function", "api", &l.v[0]]);
    let client = lambda(&m.endpoint);
    let never = Interrupt::never();
    // A run that stopped after updating the function, before PublishVersion.
    roll_out(
        &client,
        "api",
        &l.deps,
        &l.v[1],
        &RollOut::default(),
        &never,
    )
    .await
    .unwrap();

    let rerun = roll_out(
        &client,
        "api",
        &l.deps,
        &l.v[1],
        &publish_to("live"),
        &never,
    )
    .await
    .unwrap();

    assert_eq!(rerun.outcome, FunctionOutcome::AlreadyCurrent);
    let versions = published_versions(&m, "api");
    assert_eq!(versions.len(), 1);
    assert_eq!(versions[0]["layers"], json!([l.v[1]]));
    assert_eq!(
        rerun.function_version_arn.as_deref(),
        versions[0]["arn"].as_str()
    );
    assert_eq!(
        m.aws(&["alias", "api", "live"])["version"],
        versions[0]["version"]
    );
}

#[tokio::test]
async fn a_function_without_the_layer_is_left_alone_unless_adding_is_asked() {
    let m = moto();
    let l = Layers::publish(&m);
    m.aws(&["create-function", "worker", &l.other]);
    let client = lambda(&m.endpoint);
    let never = Interrupt::never();

    let left = roll_out(
        &client,
        "worker",
        &l.deps,
        &l.v[1],
        &RollOut::default(),
        &never,
    )
    .await
    .unwrap();
    assert_eq!(left.outcome, FunctionOutcome::NotUsingLayer);
    assert_eq!(left.previous_layer_version_arn, None);
    assert_eq!(layers_of(&m, "worker"), [l.other.as_str()]);

    let add = RollOut {
        add_if_missing: true,
        ..RollOut::default()
    };
    let added = roll_out(&client, "worker", &l.deps, &l.v[1], &add, &never)
        .await
        .unwrap();
    assert_eq!(added.outcome, FunctionOutcome::Updated);
    assert_eq!(added.previous_layer_version_arn, None);
    assert_eq!(layers_of(&m, "worker"), [l.other.as_str(), l.v[1].as_str()]);
}

#[tokio::test]
async fn a_missing_function_is_an_error_naming_it_and_the_region() {
    let m = moto();
    let l = Layers::publish(&m);

    let err = roll_out(
        &lambda(&m.endpoint),
        "nope",
        &l.deps,
        &l.v[1],
        &RollOut::default(),
        &Interrupt::never(),
    )
    .await
    .unwrap_err();

    let message = err.to_string();
    assert!(
        message.contains("function nope not found in region us-east-1"),
        "{message}"
    );
    assert!(message.contains("check `functions`"), "{message}");
    assert_eq!(err.exit_code(), layerpub::domain::error::EXIT_BAD_INPUT);
}

/// The stand-in Lambda API for what moto cannot do.
mod stand_in {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use serde_json::json;
    use wiremock::matchers::{body_json, method, path};
    use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

    pub const FUNCTION: &str = "api";
    pub const DEPS: &str = "arn:aws:lambda:us-east-1:123456789012:layer:deps";
    pub const CONFIG: &str = "/2015-03-31/functions/api/configuration";
    pub const VERSIONS: &str = "/2015-03-31/functions/api/versions";

    pub fn v(n: u32) -> String {
        format!("{DEPS}:{n}")
    }

    /// GetFunctionConfiguration answers: the n-th read (from 1) has RevisionId `rN`, and shows
    /// deps v2 from read `current_from` on (v1 before).
    pub struct Reads {
        count: AtomicUsize,
        current_from: usize,
    }

    impl Reads {
        pub fn new(current_from: usize) -> Reads {
            Reads {
                count: AtomicUsize::new(0),
                current_from,
            }
        }
    }

    impl Respond for Reads {
        fn respond(&self, _: &Request) -> ResponseTemplate {
            let n = self.count.fetch_add(1, Ordering::SeqCst) + 1;
            let layer = if n >= self.current_from { v(2) } else { v(1) };
            ResponseTemplate::new(200).set_body_json(json!({
                "FunctionName": FUNCTION,
                "FunctionArn": format!("arn:aws:lambda:us-east-1:123456789012:function:{FUNCTION}"),
                "Version": "$LATEST",
                "RevisionId": format!("r{n}"),
                "CodeSha256": "c2hhMjU2",
                "Layers": [{"Arn": layer, "CodeSize": 10}],
                "State": "Active",
                "LastUpdateStatus": "Successful",
            }))
        }
    }

    /// What Lambda answers when the RevisionId guard fails.
    pub fn precondition_failed() -> ResponseTemplate {
        ResponseTemplate::new(412)
            .insert_header("x-amzn-errortype", "PreconditionFailedException")
            .set_body_json(json!({
                "Type": "User",
                "message": "The Revision Id provided does not match the latest Revision Id. Call the GetFunction/GetAlias API to retrieve the latest Revision Id",
            }))
    }

    /// Mounts the reads, expected `reads` times.
    pub async fn reads(server: &MockServer, current_from: usize, reads: u64) {
        Mock::given(method("GET"))
            .and(path(CONFIG))
            .respond_with(Reads::new(current_from))
            .expect(reads)
            .mount(server)
            .await;
    }

    /// Mounts the update guarded by revision `revision`, answered with `reply`, expected
    /// `times` times.
    pub async fn update(server: &MockServer, revision: &str, reply: ResponseTemplate, times: u64) {
        Mock::given(method("PUT"))
            .and(path(CONFIG))
            .and(body_json(json!({"Layers": [v(2)], "RevisionId": revision})))
            .respond_with(reply)
            .expect(times)
            .named(format!("UpdateFunctionConfiguration guarded by {revision}"))
            .mount(server)
            .await;
    }

    pub fn updated() -> ResponseTemplate {
        ResponseTemplate::new(200).set_body_json(json!({
            "FunctionName": FUNCTION,
            "LastUpdateStatus": "InProgress",
        }))
    }
}

#[tokio::test]
async fn precondition_failed_rereads_the_function_and_succeeds_on_the_second_attempt() {
    use stand_in::*;
    use wiremock::matchers::{body_json, method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};

    let server = MockServer::start().await;
    // Read 1 (r1) → update refused; read 2 (r2) → update accepted; read 3 (r3) after it.
    reads(&server, 3, 3).await;
    update(&server, "r1", precondition_failed(), 1).await;
    update(&server, "r2", updated(), 1).await;
    // Published from the configuration read after the update, with both guards.
    Mock::given(method("POST"))
        .and(path(VERSIONS))
        .and(body_json(
            json!({"RevisionId": "r3", "CodeSha256": "c2hhMjU2"}),
        ))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({
            "FunctionArn": "arn:aws:lambda:us-east-1:123456789012:function:api:7",
            "Version": "7",
        })))
        .expect(1)
        .mount(&server)
        .await;

    let opts = RollOut {
        publish_version: true,
        ..RollOut::default()
    };
    let got = roll_out(
        &lambda(&server.uri()),
        FUNCTION,
        DEPS,
        &v(2),
        &opts,
        &Interrupt::never(),
    )
    .await
    .unwrap();

    assert_eq!(got.outcome, FunctionOutcome::Updated);
    assert_eq!(got.attempts, 2);
    assert_eq!(got.previous_layer_version_arn, Some(v(1)));
    assert_eq!(
        got.function_version_arn.as_deref(),
        Some("arn:aws:lambda:us-east-1:123456789012:function:api:7")
    );
    server.verify().await;
}

#[tokio::test]
async fn three_precondition_failures_give_an_error_naming_the_function() {
    use stand_in::*;
    use wiremock::MockServer;

    let server = MockServer::start().await;
    // Every read shows v1 and every guarded update is refused: three attempts, no fourth.
    reads(&server, usize::MAX, 3).await;
    for revision in ["r1", "r2", "r3"] {
        update(&server, revision, precondition_failed(), 1).await;
    }

    let err = roll_out(
        &lambda(&server.uri()),
        FUNCTION,
        DEPS,
        &v(2),
        &RollOut::default(),
        &Interrupt::never(),
    )
    .await
    .unwrap_err();

    let message = err.to_string();
    assert!(message.starts_with("function api: "), "{message}");
    assert!(
        message.contains("another deployment kept changing it"),
        "{message}"
    );
    assert!(message.contains("3 attempts"), "{message}");
    assert!(message.contains("PreconditionFailedException"), "{message}");
    assert!(message.contains("its layers were not changed"), "{message}");
    assert_eq!(err.exit_code(), layerpub::domain::error::EXIT_FAILURE);
    server.verify().await;
}

#[tokio::test]
async fn an_already_current_function_gets_one_read_and_no_write() {
    use stand_in::*;
    use wiremock::matchers::method;
    use wiremock::{Mock, MockServer, ResponseTemplate};

    let server = MockServer::start().await;
    reads(&server, 1, 1).await;
    for verb in ["PUT", "POST"] {
        Mock::given(method(verb))
            .respond_with(ResponseTemplate::new(500))
            .expect(0)
            .named(format!("no {verb}"))
            .mount(&server)
            .await;
    }
    // publish_version without an alias: nothing says which version is "the" one, so a current
    // function is left as it is.
    let opts = RollOut {
        publish_version: true,
        ..RollOut::default()
    };

    let got = roll_out(
        &lambda(&server.uri()),
        FUNCTION,
        DEPS,
        &v(2),
        &opts,
        &Interrupt::never(),
    )
    .await
    .unwrap();

    assert_eq!(got.outcome, FunctionOutcome::AlreadyCurrent);
    assert_eq!(got.attempts, 1);
    server.verify().await;
}

#[tokio::test]
async fn a_failed_update_reports_lambdas_reason() {
    use stand_in::*;
    use wiremock::matchers::{method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};

    let server = MockServer::start().await;
    // Before the update: v1, settled. After it: in progress once, then failed.
    let config = |status: &str, layer: String| {
        ResponseTemplate::new(200).set_body_json(json!({
            "FunctionName": FUNCTION,
            "RevisionId": "r1",
            "Layers": [{"Arn": layer}],
            "State": "Active",
            "LastUpdateStatus": status,
            "LastUpdateStatusReason": "Layer version is incompatible with the runtime",
            "LastUpdateStatusReasonCode": "InvalidConfiguration",
        }))
    };
    Mock::given(method("GET"))
        .and(path(CONFIG))
        .respond_with(config("Successful", v(1)))
        .up_to_n_times(1)
        .expect(1)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(CONFIG))
        .respond_with(config("InProgress", v(2)))
        .up_to_n_times(1)
        .expect(1)
        .with_priority(2)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(CONFIG))
        .respond_with(config("Failed", v(2)))
        .expect(1)
        .with_priority(3)
        .mount(&server)
        .await;
    update(&server, "r1", updated(), 1).await;

    let err = roll_out(
        &lambda(&server.uri()),
        FUNCTION,
        DEPS,
        &v(2),
        &RollOut::default(),
        &Interrupt::never(),
    )
    .await
    .unwrap_err();

    let message = err.to_string();
    assert!(
        message.starts_with("function api: Lambda could not apply"),
        "{message}"
    );
    assert!(
        message.contains("Layer version is incompatible with the runtime (InvalidConfiguration)"),
        "{message}"
    );
    server.verify().await;
}
