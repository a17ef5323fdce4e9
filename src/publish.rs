//! One layer's publish, top to bottom: fingerprint, read the newest version (the one API call
//! of an unchanged run), decide, and only when publishing: claim, package, upload, publish,
//! verify, release.
//!
//! Concurrency: with a bucket, a run publishes only while it holds the claim object for its
//! fingerprint (created with `If-None-Match: *`, so S3 lets one run in), and re-reads the
//! newest version after taking it. Two runs of the same change therefore publish one version:
//! the other waits, sees the version appear, and reports it unchanged. A claim older than
//! `claim-timeout` (a run killed mid-publish) is taken over. Inline mode (no bucket) has no
//! shared place to claim in: two inline runs at the same moment can both publish; use a bucket
//! or serialise the jobs (a CI concurrency group) when that matters.

use std::time::{Duration, Instant};

use tokio::runtime::Runtime;

use crate::aws::Clients;
use crate::changes::changes;
use crate::config::LayerConfig;
use crate::error::Error;
use crate::fingerprint::{FingerprintDocument, hex};
use crate::interrupt::Interrupt;
use crate::lambda_api::{self, Content, PublishRequest};
use crate::lambda_limits::INLINE_ZIP_MAX;
use crate::marker::{description, fingerprint_in};
use crate::package::{PackageOptions, Packaged, fingerprint_document, package};
use crate::plan::{Decision, Reason, RemoteVersion, decide, refine};
use crate::report::{PublishResult, code_sha256};
use crate::s3_store::{self, Claim};

/// How often a run waiting on another run's claim looks again.
const CLAIM_POLL: Duration = Duration::from_secs(1);

/// Publishes one layer if its fingerprint changed (or says what it would do, with dry-run).
pub fn publish_layer(
    rt: &Runtime,
    clients: &Clients,
    layer: &LayerConfig,
    options: &PackageOptions,
    interrupt: &Interrupt,
) -> Result<PublishResult, Error> {
    let document = fingerprint_document(layer, options.threads)?;
    interrupt.check()?;
    let fingerprint = document.fingerprint();
    let latest = rt.block_on(lambda_api::latest_version(
        &clients.lambda,
        &layer.layer_name,
    ))?;
    let mut result = PublishResult::new(layer, &clients.region, &fingerprint);

    let (reason, previous) = match decide(latest, &fingerprint, layer.force) {
        Decision::Unchanged(v) => {
            result.unchanged(&v, Reason::Unchanged);
            return Ok(result);
        }
        Decision::Publish { reason, previous } => (reason, previous),
    };
    if reason == Reason::NoMarker {
        let v = previous.as_ref().map_or(0, |p| p.version);
        result.warnings.push(format!(
            "version {v} of {} has no layerpub marker in its description (published by another tool?): publishing a new version",
            layer.layer_name
        ));
    }
    let reason = match (&layer.s3_bucket, &previous) {
        (Some(bucket), Some(prev)) => {
            let prev_doc = rt.block_on(previous_document(clients, layer, bucket, prev))?;
            result.changes = prev_doc.as_ref().map(|p| changes(p, &document));
            refine(reason, prev_doc.as_ref(), &document)
        }
        _ => reason,
    };
    result.reason = reason;
    result.previous_version = previous.as_ref().map(|p| p.version);
    if layer.dry_run {
        result.dry_run = true;
        if let Some(p) = &previous {
            result.layer_version = Some(p.version);
            result.layer_version_arn = Some(p.layer_version_arn.clone());
        }
        return Ok(result);
    }

    let Some(bucket) = layer.s3_bucket.as_deref() else {
        return publish_now(rt, clients, layer, options, &fingerprint, result, interrupt);
    };
    let claim_key = s3_store::claim_key(&layer.s3_prefix, layer.short_name(), &fingerprint);
    let seen = previous.as_ref().map(|p| p.version);
    let claim = acquire_claim(
        clients,
        layer,
        bucket,
        &claim_key,
        &fingerprint,
        seen,
        interrupt,
    );
    match rt.block_on(claim)? {
        Claimed::No(v) => {
            result.unchanged(&v, Reason::PublishedConcurrently);
            Ok(result)
        }
        Claimed::Yes => {
            let outcome = publish_now(rt, clients, layer, options, &fingerprint, result, interrupt);
            if let Err(e) = rt.block_on(s3_store::delete(&clients.s3, bucket, &claim_key)) {
                tracing::warn!(
                    "could not release the claim s3://{bucket}/{claim_key}: {e}; later runs take it over after claim-timeout"
                );
            }
            outcome
        }
    }
}

/// Packages, uploads (or inlines) and publishes; checks Lambda's `CodeSha256` against ours.
fn publish_now(
    rt: &Runtime,
    clients: &Clients,
    layer: &LayerConfig,
    options: &PackageOptions,
    fingerprint: &str,
    mut result: PublishResult,
    interrupt: &Interrupt,
) -> Result<PublishResult, Error> {
    let packaged = package(layer, options)?;
    interrupt.check()?;
    let packaged_fp = packaged.document.fingerprint();
    if packaged_fp != fingerprint {
        return Err(Error::bad_input(format!(
            "the files of {} changed while layerpub was reading them (fingerprint {fingerprint}, then {packaged_fp}); run layerpub after the build step has finished",
            layer.layer_name
        )));
    }
    result.packaged(&packaged);
    result.warnings.extend(packaged.warnings.iter().cloned());
    let local_sha = code_sha256(&packaged.sha256);

    let content = match layer.s3_bucket.as_deref() {
        Some(bucket) => {
            let (key, _) = rt.block_on(upload(clients, layer, bucket, &packaged, interrupt))?;
            result.s3_uri = Some(format!("s3://{bucket}/{key}"));
            Content::S3 {
                bucket: bucket.to_owned(),
                key,
            }
        }
        None if packaged.code_size > INLINE_ZIP_MAX => {
            return Err(Error::bad_input(format!(
                "the zip of {} is {} bytes, over the {} bytes Lambda takes inline; set s3-bucket (a bucket in {}) so layerpub uploads it to S3",
                layer.layer_name, packaged.code_size, INLINE_ZIP_MAX, clients.region
            )));
        }
        None => Content::Inline(std::fs::read(&packaged.zip_path).map_err(|e| Error::Io {
            context: format!("cannot read `{}`", packaged.zip_path.display()),
            source: e,
        })?),
    };

    let request = PublishRequest {
        layer_name: &layer.layer_name,
        description: description(layer.description.as_deref(), fingerprint),
        compatible_runtimes: &layer.compatible_runtimes,
        compatible_architectures: &layer.compatible_architectures,
        license_info: layer.license_info.as_deref(),
        content,
    };
    // The last moment to stop: once PublishLayerVersion is sent, it is let to finish.
    interrupt.check()?;
    let published = rt.block_on(lambda_api::publish(&clients.lambda, request))?;
    if published.code_sha256 != local_sha {
        return Err(Error::Aws(format!(
            "Lambda published {} with CodeSha256 {}, but the zip's is {local_sha}: the content Lambda read is not this zip; delete that version and run again",
            published.layer_version_arn, published.code_sha256
        )));
    }
    result.published = true;
    result.layer_arn = Some(published.layer_arn);
    result.layer_version = Some(published.version);
    result.layer_version_arn = Some(published.layer_version_arn);
    Ok(result)
}

/// Uploads the zip and its fingerprint document beside it; returns the zip's key.
async fn upload(
    clients: &Clients,
    layer: &LayerConfig,
    bucket: &str,
    packaged: &Packaged,
    interrupt: &Interrupt,
) -> Result<(String, bool), Error> {
    let sha_hex = hex(&packaged.sha256);
    let key = s3_store::zip_key(&layer.s3_prefix, layer.short_name(), &sha_hex);
    let uploaded =
        s3_store::upload_zip(&clients.s3, bucket, &key, &packaged.zip_path, interrupt).await?;
    let doc_key = s3_store::manifest_key(&layer.s3_prefix, layer.short_name(), &sha_hex);
    let doc = serde_json::to_vec_pretty(&packaged.document).expect("a document serialises");
    s3_store::put_document(&clients.s3, bucket, &doc_key, doc).await?;
    Ok((key, uploaded.sent))
}

/// The fingerprint document stored beside the previous version's zip, when it can be found.
async fn previous_document(
    clients: &Clients,
    layer: &LayerConfig,
    bucket: &str,
    previous: &RemoteVersion,
) -> Result<Option<FingerprintDocument>, Error> {
    if fingerprint_in(&previous.description).is_none() {
        return Ok(None);
    }
    let Some(sha_b64) =
        lambda_api::code_sha256(&clients.lambda, &layer.layer_name, previous.version).await?
    else {
        return Ok(None);
    };
    let Ok(raw) = base64::Engine::decode(&base64::engine::general_purpose::STANDARD, &sha_b64)
    else {
        return Ok(None);
    };
    let key = s3_store::manifest_key(&layer.s3_prefix, layer.short_name(), &hex(&raw));
    let Some(bytes) = s3_store::get_document(&clients.s3, bucket, &key).await? else {
        return Ok(None);
    };
    Ok(serde_json::from_slice(&bytes).ok())
}

enum Claimed {
    Yes,
    /// Another run published this fingerprint meanwhile: this version.
    No(RemoteVersion),
}

/// Takes the claim on the fingerprint, waiting while another run holds it.
async fn acquire_claim(
    clients: &Clients,
    layer: &LayerConfig,
    bucket: &str,
    key: &str,
    fingerprint: &str,
    seen: Option<i64>,
    interrupt: &Interrupt,
) -> Result<Claimed, Error> {
    let started = Instant::now();
    let body = serde_json::to_vec(&serde_json::json!({
        "layer": layer.layer_name,
        "fingerprint": fingerprint,
        "pid": std::process::id(),
    }))
    .expect("a claim serialises");
    loop {
        match s3_store::try_claim(&clients.s3, bucket, key, body.clone()).await? {
            Claim::Acquired => {
                // Another run may have published and released between our first read and now.
                return Ok(
                    match published_with(clients, layer, fingerprint, seen).await? {
                        Some(v) => {
                            s3_store::delete(&clients.s3, bucket, key).await?;
                            Claimed::No(v)
                        }
                        None => Claimed::Yes,
                    },
                );
            }
            Claim::Vanished => continue,
            Claim::Held { age } if age >= layer.claim_timeout => {
                tracing::warn!(
                    "taking over s3://{bucket}/{key}: held for {}s, longer than claim-timeout ({}s); the run that took it probably died",
                    age.as_secs(),
                    layer.claim_timeout.as_secs()
                );
                s3_store::delete(&clients.s3, bucket, key).await?;
            }
            Claim::Held { .. } => {
                if let Some(v) = published_with(clients, layer, fingerprint, seen).await? {
                    return Ok(Claimed::No(v));
                }
                if started.elapsed() > layer.claim_timeout + CLAIM_POLL * 30 {
                    return Err(Error::Aws(format!(
                        "waited {}s on another run's claim s3://{bucket}/{key}; if no other run is publishing {}, delete that object",
                        started.elapsed().as_secs(),
                        layer.layer_name
                    )));
                }
                tracing::info!("another run is publishing this fingerprint; waiting");
                tokio::select! {
                    _ = tokio::time::sleep(CLAIM_POLL) => {}
                    s = interrupt.wait() => return Err(Error::Interrupted(s)),
                }
            }
        }
    }
}

/// The newest version, when another run published it with this fingerprint since this run
/// read `seen` (newer than `seen`, so that `--force` over an unchanged layer still publishes).
async fn published_with(
    clients: &Clients,
    layer: &LayerConfig,
    fingerprint: &str,
    seen: Option<i64>,
) -> Result<Option<RemoteVersion>, Error> {
    let latest = lambda_api::latest_version(&clients.lambda, &layer.layer_name).await?;
    Ok(latest.filter(|v| {
        v.version > seen.unwrap_or(0) && fingerprint_in(&v.description) == Some(fingerprint)
    }))
}
