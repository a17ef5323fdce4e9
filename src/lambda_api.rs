//! The Lambda calls layerpub makes: plain functions over a real client.

use aws_sdk_lambda::Client;
use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::{Architecture, LayerVersionContentInput, Runtime};

use crate::aws::sdk_error;
use crate::error::Error;
use crate::plan::RemoteVersion;

/// The newest version of the layer, or `None` when it has none (or does not exist yet).
/// One call: `ListLayerVersions` lists newest first.
pub async fn latest_version(
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

pub async fn publish(client: &Client, req: PublishRequest<'_>) -> Result<Published, Error> {
    let content = match req.content {
        Content::S3 { bucket, key } => LayerVersionContentInput::builder()
            .s3_bucket(bucket)
            .s3_key(key),
        Content::Inline(bytes) => LayerVersionContentInput::builder().zip_file(Blob::new(bytes)),
    }
    .build();
    let mut call = client
        .publish_layer_version()
        .layer_name(req.layer_name)
        .description(req.description)
        .content(content)
        .set_license_info(req.license_info.map(str::to_owned));
    for r in req.compatible_runtimes {
        call = call.compatible_runtimes(Runtime::from(r.as_str()));
    }
    for a in req.compatible_architectures {
        call = call.compatible_architectures(Architecture::from(a.as_str()));
    }
    let out = call
        .send()
        .await
        .map_err(|e| sdk_error("PublishLayerVersion", e))?;
    let content = out.content();
    Ok(Published {
        version: out.version(),
        layer_arn: out.layer_arn().unwrap_or_default().to_owned(),
        layer_version_arn: out.layer_version_arn().unwrap_or_default().to_owned(),
        code_sha256: content
            .and_then(|c| c.code_sha256())
            .unwrap_or_default()
            .to_owned(),
        code_size: content.map(|c| c.code_size()).unwrap_or_default(),
    })
}
