//! AWS clients and what their errors mean to a user. The shell's edge: everything here talks
//! to the network through the SDK.
//!
//! One SDK config serves S3 and Lambda: the default credential chain (environment, profile,
//! web identity for OIDC from GitHub or GitLab, container, instance), the `region` setting or
//! the chain's region, the `endpoint-url` setting or `AWS_ENDPOINT_URL`. One HTTP stack:
//! hyper 1 with rustls on ring, handed to the SDK explicitly (its default client is off), with
//! TLS set up only for `https://` requests ([`transport`]).

pub mod functions;
pub mod lambda_api;
pub mod prune;
pub mod s3_store;
pub mod share;
pub mod transport;

use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region};
use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::error::{DisplayErrorContext, ProvideErrorMetadata};

use crate::config::env::Env;
use crate::domain::error::{AwsError, Error, Kind};

/// The clients a run uses, and the region they talk to.
#[derive(Clone, Debug)]
pub struct Clients {
    pub s3: aws_sdk_s3::Client,
    pub lambda: aws_sdk_lambda::Client,
    pub region: String,
    /// The settings they were built from.
    settings: (Option<String>, Option<String>),
}

impl Clients {
    /// Whether these clients were built for this region and endpoint setting.
    pub fn serves(&self, region: Option<&str>, endpoint_url: Option<&str>) -> bool {
        self.settings.0.as_deref() == region && self.settings.1.as_deref() == endpoint_url
    }
}

/// Attempts per call: throttling (`TooManyRequestsException`, S3 `SlowDown`), 5xx and
/// connection errors are retried with exponential backoff and jitter.
pub const MAX_ATTEMPTS: u32 = 6;

/// How long a call may wait on the server, sending the request included: for the answer's
/// headers, and (tests/faults.rs, `stall mid-answer`) in the middle of its body too.
pub(crate) const READ_TIMEOUT: Duration = Duration::from_secs(120);

/// How the clients are built, beyond the settings: what the environment says about them,
/// read once from [`Env`] by the command line and passed in (the library reads no process
/// environment).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientOptions {
    /// How long a call may wait on the server: [`READ_TIMEOUT`].
    pub read_timeout: Duration,
    /// `AWS_ENDPOINT_URL_S3` is set: S3 goes to an emulator or a private endpoint, which
    /// cannot take virtual-host bucket names. (The SDK reads the URL itself; the shared
    /// config does not show it.)
    pub s3_endpoint_from_env: bool,
    /// `HTTPS_PROXY` / `NO_PROXY`.
    pub proxy: transport::Proxy,
}

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions {
            read_timeout: READ_TIMEOUT,
            s3_endpoint_from_env: false,
            proxy: transport::Proxy::default(),
        }
    }
}

impl ClientOptions {
    /// From the environment. `LAYERPUB_TEST_TIMEOUT_SECS` shortens the read timeout, for tests
    /// only: tests/faults.rs stalls answers past the timeout and cannot wait two minutes per
    /// stall. Not a setting, not documented for users (env.rs reserves the name so that it is
    /// not taken for a typo), and never longer than [`READ_TIMEOUT`]: a huge value must not
    /// overflow the SDK's deadlines.
    pub(crate) fn from_env(env: &Env) -> ClientOptions {
        let read_timeout = env
            .get("LAYERPUB_TEST_TIMEOUT_SECS")
            .and_then(|s| s.parse::<u64>().ok())
            .map_or(READ_TIMEOUT, |s| Duration::from_secs(s).min(READ_TIMEOUT));
        ClientOptions {
            read_timeout,
            s3_endpoint_from_env: env.get("AWS_ENDPOINT_URL_S3").is_some(),
            proxy: transport::Proxy::from_env(env),
        }
    }
}

/// Builds the clients. `region`/`endpoint_url` are the settings; `None` defers to the chain.
pub async fn clients(
    region: Option<&str>,
    endpoint_url: Option<&str>,
    options: &ClientOptions,
) -> Result<Clients, Error> {
    options.proxy.check().map_err(Error::bad_input)?;
    let mut loader = aws_config::defaults(BehaviorVersion::latest())
        .http_client(transport::http_client(options.proxy.clone()))
        .retry_config(
            RetryConfig::standard()
                .with_max_attempts(MAX_ATTEMPTS)
                .with_initial_backoff(Duration::from_millis(250)),
        )
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(Duration::from_secs(10))
                .read_timeout(options.read_timeout)
                .build(),
        );
    if let Some(r) = region {
        loader = loader.region(Region::new(r.to_owned()));
    }
    if let Some(url) = endpoint_url {
        loader = loader.endpoint_url(url);
    }
    let config = loader.load().await;
    let region_setting = region.map(str::to_owned);
    let region = config
        .region()
        .map(|r| r.to_string())
        .ok_or_else(|| Error::bad_input(
            "region: not set; set `region: us-east-1` in layerpub.yml, LAYERPUB_REGION, --region, or AWS_REGION",
        ))?;
    // An emulator or a private endpoint cannot take virtual-host bucket names.
    let custom_endpoint = config.endpoint_url().is_some() || options.s3_endpoint_from_env;
    let s3_config = aws_sdk_s3::config::Builder::from(&config)
        .force_path_style(custom_endpoint)
        .build();
    Ok(Clients {
        s3: aws_sdk_s3::Client::from_conf(s3_config),
        lambda: aws_sdk_lambda::Client::new(&config),
        region,
        settings: (region_setting, endpoint_url.map(str::to_owned)),
    })
}

/// Turns an SDK error into an [`AwsError::Call`]: a message that names the step, the service's
/// own words, and what to do, with the SDK's error kept as its source; errors the user can fix
/// (credentials, permissions, a missing bucket) are of [`Kind::BadInput`].
pub(crate) fn sdk_error<E>(step: &str, err: aws_sdk_s3::error::SdkError<E, HttpResponse>) -> Error
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let code = err.code().map(str::to_owned);
    let status = err.raw_response().map(|r| r.status().as_u16());
    let mut detail = match (err.message(), &code, status) {
        (Some(m), _, _) => format!("{}: {m}", code.as_deref().unwrap_or("error")),
        // S3 answers HEAD requests without a body: the status is all there is to say.
        (None, None, Some(status)) => format!("HTTP {status} with no error details"),
        (None, _, _) => DisplayErrorContext(&err).to_string(),
    };
    let unreachable = matches!(
        err,
        aws_sdk_s3::error::SdkError::DispatchFailure(_)
            | aws_sdk_s3::error::SdkError::TimeoutError(_)
    );
    if detail.contains("CredentialsNotLoaded") || detail.contains("provided credentials") {
        // The SDK's own text is a debug dump; the hint below says it all.
        detail = "no AWS credentials".into();
    } else if unreachable {
        // The SDK's text carries a debug dump of the connector's error; its innermost cause
        // ("connection closed before message completed", "operation timed out") says it.
        detail = format!("no answer ({})", innermost_cause(&err));
    }
    let (hint, bad_input) = match code.as_deref() {
        Some(
            "AccessDenied"
            | "AccessDeniedException"
            | "UnrecognizedClientException"
            | "InvalidAccessKeyId"
            | "SignatureDoesNotMatch"
            | "ExpiredToken"
            | "ExpiredTokenException",
        ) => (
            " — check the AWS credentials and that their role allows lambda:ListLayerVersions, lambda:GetLayerVersion, lambda:PublishLayerVersion and, with a bucket, s3:GetObject, s3:PutObject, s3:DeleteObject",
            true,
        ),
        Some("NoSuchBucket") => (
            " — create the bucket (in the layer's region) or fix s3-bucket",
            true,
        ),
        _ if detail == "no AWS credentials" => (
            " — no AWS credentials found: set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_PROFILE, or use OIDC (aws-actions/configure-aws-credentials on GitHub, id_tokens with AWS_WEB_IDENTITY_TOKEN_FILE and AWS_ROLE_ARN on GitLab)",
            true,
        ),
        _ if unreachable => (
            " — could not reach AWS; check the network, endpoint-url and region",
            false,
        ),
        _ => ("", false),
    };
    Error::Aws(AwsError::Call {
        step: step.to_owned(),
        detail,
        fix: hint.to_owned(),
        kind: if bad_input {
            Kind::BadInput
        } else {
            Kind::Failure
        },
        source: Box::new(err),
    })
}

/// The Display of the last error in the `source` chain, the one that says what happened.
fn innermost_cause(err: &(dyn std::error::Error + 'static)) -> String {
    let mut e = err;
    while let Some(next) = e.source() {
        e = next;
    }
    e.to_string()
}

/// Like [`sdk_error`], but an access denial says what this step needs (`denied_fix`: the
/// permission to grant, or the setting that avoids the call) instead of the publish permissions,
/// which would send the user to fix the wrong policy.
pub(crate) fn sdk_error_with_fix<E>(
    step: &str,
    err: aws_sdk_s3::error::SdkError<E, HttpResponse>,
    denied_fix: &str,
) -> Error
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    match err.code() {
        Some(code @ ("AccessDenied" | "AccessDeniedException")) => {
            let detail = format!("{code}: {}", err.message().unwrap_or("access denied"));
            Error::Aws(AwsError::Call {
                step: step.to_owned(),
                detail,
                fix: format!(" — {denied_fix}"),
                kind: Kind::BadInput,
                source: Box::new(err),
            })
        }
        _ => sdk_error(step, err),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_s3::error::SdkError;
    use aws_sdk_s3::operation::get_object::GetObjectError;

    #[test]
    fn an_sdk_error_keeps_its_message_and_is_kept_as_the_source() {
        let err: SdkError<GetObjectError, HttpResponse> =
            SdkError::timeout_error("operation timed out");
        let e = sdk_error("GetObject s3://b/k", err);
        assert_eq!(
            e.to_string(),
            "GetObject s3://b/k failed: no answer (operation timed out) — could not reach AWS; check the network, endpoint-url and region"
        );
        assert_eq!(e.kind(), Kind::Failure);
        let source = std::error::Error::source(&e).expect("the SDK's error is kept");
        assert!(
            source
                .downcast_ref::<SdkError<GetObjectError, HttpResponse>>()
                .is_some(),
            "{source:?}"
        );
    }

    #[test]
    fn the_test_timeout_comes_from_the_env_given_and_never_exceeds_the_real_one() {
        let opts = |pairs: &[(&str, &str)]| {
            ClientOptions::from_env(&Env::from_pairs(pairs.iter().copied()))
        };
        assert_eq!(opts(&[]), ClientOptions::default());
        assert_eq!(
            opts(&[("LAYERPUB_TEST_TIMEOUT_SECS", "3")]).read_timeout,
            Duration::from_secs(3)
        );
        for ignored in ["x", "-1", "99999999999999999999"] {
            assert_eq!(
                opts(&[("LAYERPUB_TEST_TIMEOUT_SECS", ignored)]).read_timeout,
                READ_TIMEOUT,
                "{ignored}"
            );
        }
        assert_eq!(
            opts(&[("LAYERPUB_TEST_TIMEOUT_SECS", &u64::MAX.to_string())]).read_timeout,
            READ_TIMEOUT
        );
        assert!(opts(&[("AWS_ENDPOINT_URL_S3", "http://127.0.0.1:5000")]).s3_endpoint_from_env);
        assert!(!opts(&[("AWS_ENDPOINT_URL_S3", "")]).s3_endpoint_from_env);
    }
}
