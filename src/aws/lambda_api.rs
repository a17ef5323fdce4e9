//! The Lambda calls layerpub makes: plain functions over a real client.

use aws_sdk_lambda::Client;
use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::{Architecture, LayerVersionContentInput, Runtime};

use std::time::Duration;

use aws_sdk_lambda::config::retry::RetryConfig;
use aws_sdk_lambda::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_lambda::operation::publish_layer_version::{
    PublishLayerVersionError, PublishLayerVersionOutput,
};

use crate::aws::{MAX_ATTEMPTS, sdk_error};
use crate::domain::error::Error;
use crate::domain::outcome::RemoteVersion;

/// The newest version of the layer, or `None` when it has none (or does not exist yet).
/// One call: `ListLayerVersions` lists newest first.
pub(crate) async fn latest_version(
    client: &Client,
    layer_name: &str,
) -> Result<Option<RemoteVersion>, Error> {
    let out = client
        .list_layer_versions()
        .layer_name(layer_name)
        .max_items(1)
        .send()
        .await;
    let out = match out {
        Ok(o) => o,
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_resource_not_found_exception()) =>
        {
            return Ok(None);
        }
        Err(e) => return Err(sdk_error("ListLayerVersions", e)),
    };
    // Newest first on AWS; taking the highest number also holds where a page is unordered.
    Ok(out
        .layer_versions()
        .iter()
        .max_by_key(|v| v.version())
        .map(|v| RemoteVersion {
            version: v.version(),
            layer_version_arn: v.layer_version_arn().unwrap_or_default().to_owned(),
            description: v.description().unwrap_or_default().to_owned(),
        }))
}

/// `Content.CodeSha256` (base64) of a published version.
pub async fn code_sha256(
    client: &Client,
    layer_name: &str,
    version: i64,
) -> Result<Option<String>, Error> {
    let out = client
        .get_layer_version()
        .layer_name(layer_name)
        .version_number(version)
        .send()
        .await
        .map_err(|e| sdk_error("GetLayerVersion", e))?;
    Ok(out
        .content()
        .and_then(|c| c.code_sha256())
        .map(str::to_owned))
}

/// Where the layer's content comes from.
#[derive(Debug, Clone)]
pub enum Content {
    S3 { bucket: String, key: String },
    Inline(Vec<u8>),
}

/// One `PublishLayerVersion` call.
#[derive(Debug, Clone)]
pub struct PublishRequest<'a> {
    pub layer_name: &'a str,
    pub description: String,
    pub compatible_runtimes: &'a [String],
    pub compatible_architectures: &'a [String],
    pub license_info: Option<&'a str>,
    pub content: Content,
    /// The newest version this run saw before publishing (`None`: none): a version newer
    /// than it with our description is what a lost attempt published.
    pub newer_than: Option<i64>,
}

/// `DeleteLayerVersion`: withdraws a version that must not stand (its content is not what
/// was packaged). Deleting a version that is already gone succeeds.
pub(crate) async fn delete_version(
    client: &Client,
    layer_name: &str,
    version: i64,
) -> Result<(), Error> {
    client
        .delete_layer_version()
        .layer_name(layer_name)
        .version_number(version)
        .send()
        .await
        .map_err(|e| sdk_error(&format!("DeleteLayerVersion {layer_name}:{version}"), e))?;
    Ok(())
}

/// What `PublishLayerVersion` answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Published {
    pub version: i64,
    pub layer_arn: String,
    pub layer_version_arn: String,
    pub code_sha256: String,
    pub code_size: i64,
}

/// `PublishLayerVersion`, retried here rather than by the SDK, because the call is not
/// idempotent: when an attempt's answer is lost after Lambda stored the version (a reset or
/// cut response, a read timeout, a 5xx), a blind retry publishes the same content twice. So
/// before each retry this looks whether the lost attempt published: a version newer than
/// `newer_than` carrying exactly our description (which holds the fingerprint marker) is ours,
/// and is returned instead of publishing again.
pub async fn publish(client: &Client, req: PublishRequest<'_>) -> Result<Published, Error> {
    let mut attempt = 1;
    loop {
        match publish_once(client, &req).await {
            Ok(out) => return Ok(published(&out)),
            Err(e) if attempt < MAX_ATTEMPTS && retryable(&e) => {
                // The SDK's standard backoff: exponential from 250 ms, full jitter (the
                // clock's nanoseconds are random enough to spread runs apart).
                let base = Duration::from_millis(250 << (attempt - 1)).min(Duration::from_secs(20));
                let jitter = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(500, |d| d.subsec_nanos() % 1000);
                let wait = base * jitter / 1000;
                tracing::info!("PublishLayerVersion attempt {attempt} failed; retrying");
                tokio::time::sleep(wait).await;
                attempt += 1;
                if let Some(p) = published_by_lost_attempt(client, &req).await? {
                    tracing::info!(
                        "an earlier attempt published {}: not publishing again",
                        p.layer_version_arn
                    );
                    return Ok(p);
                }
            }
            Err(e) => return Err(sdk_error("PublishLayerVersion", e)),
        }
    }
}

/// What the SDK would retry: throttling, 5xx, a timeout, a lost connection or answer.
fn retryable(e: &SdkError<PublishLayerVersionError>) -> bool {
    match e {
        SdkError::TimeoutError(_) | SdkError::ResponseError(_) => true,
        // A connection closed before the answer is `Other(TransientError)`; only a request
        // the client could not build (`is_user`) is final.
        SdkError::DispatchFailure(d) => !d.is_user(),
        SdkError::ServiceError(s) => {
            let status = s.raw().status().as_u16();
            status == 429
                || status >= 500
                || matches!(
                    e.code(),
                    Some("TooManyRequestsException" | "ThrottlingException")
                )
        }
        _ => false,
    }
}

/// The version a lost attempt published, if any (see [`publish`]).
async fn published_by_lost_attempt(
    client: &Client,
    req: &PublishRequest<'_>,
) -> Result<Option<Published>, Error> {
    let Some(v) = latest_version(client, req.layer_name).await? else {
        return Ok(None);
    };
    if v.version <= req.newer_than.unwrap_or(0) || v.description != req.description {
        return Ok(None);
    }
    let out = client
        .get_layer_version()
        .layer_name(req.layer_name)
        .version_number(v.version)
        .send()
        .await
        .map_err(|e| sdk_error("GetLayerVersion", e))?;
    Ok(Some(Published::new(
        out.version(),
        out.layer_arn(),
        out.layer_version_arn(),
        out.content(),
    )))
}

/// One attempt, the SDK's own retry off (see [`publish`]).
async fn publish_once(
    client: &Client,
    req: &PublishRequest<'_>,
) -> Result<PublishLayerVersionOutput, SdkError<PublishLayerVersionError>> {
    let content = match &req.content {
        Content::S3 { bucket, key } => LayerVersionContentInput::builder()
            .s3_bucket(bucket)
            .s3_key(key),
        Content::Inline(bytes) => {
            LayerVersionContentInput::builder().zip_file(Blob::new(bytes.clone()))
        }
    }
    .build();
    let mut call = client
        .publish_layer_version()
        .layer_name(req.layer_name)
        .description(&req.description)
        .content(content)
        .set_license_info(req.license_info.map(str::to_owned));
    for r in req.compatible_runtimes {
        call = call.compatible_runtimes(Runtime::from(r.as_str()));
    }
    for a in req.compatible_architectures {
        call = call.compatible_architectures(Architecture::from(a.as_str()));
    }
    call.customize()
        .config_override(
            aws_sdk_lambda::config::Config::builder().retry_config(RetryConfig::disabled()),
        )
        .send()
        .await
}

fn published(out: &PublishLayerVersionOutput) -> Published {
    Published::new(
        out.version(),
        out.layer_arn(),
        out.layer_version_arn(),
        out.content(),
    )
}

impl Published {
    /// From the fields `PublishLayerVersion` and `GetLayerVersion` both answer with.
    fn new(
        version: i64,
        layer_arn: Option<&str>,
        layer_version_arn: Option<&str>,
        content: Option<&aws_sdk_lambda::types::LayerVersionContentOutput>,
    ) -> Self {
        Published {
            version,
            layer_arn: layer_arn.unwrap_or_default().to_owned(),
            layer_version_arn: layer_version_arn.unwrap_or_default().to_owned(),
            code_sha256: content
                .and_then(|c| c.code_sha256())
                .unwrap_or_default()
                .to_owned(),
            code_size: content.map(|c| c.code_size()).unwrap_or_default(),
        }
    }
}
