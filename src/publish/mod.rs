//! Publishing layers: fingerprint, read the newest version (the one API call of an unchanged
//! run), decide, and only when publishing: package, claim, upload, publish, verify, release.
//!
//! Several layers and regions: every (layer, region) pair is a [`Target`]. A run fingerprints
//! each layer once, reads every target's newest version at once (the only calls of an
//! unchanged run, so it costs one round trip however many targets there are), packages each
//! layer that publishes somewhere once, and only then writes: every packaging mistake is found
//! before anything is published. Targets are then published concurrently, [`MAX_IN_FLIGHT`] at
//! a time; one failing does not stop the others, and its result says why.
//!
//! Concurrency: with a bucket, a run publishes only while it holds the claim object for its
//! fingerprint (created with `If-None-Match: *`, so S3 lets one run in), and re-reads the
//! newest version after taking it. Two runs of the same change therefore publish one version:
//! the other waits, sees the version appear, and reports it unchanged. A claim older than
//! `claim-timeout` (a run killed mid-publish) is taken over. Inline mode (no bucket) has no
//! shared place to claim in: two inline runs at the same moment can both publish; use a bucket
//! or serialise the jobs (a CI concurrency group) when that matters.

pub mod plan;

use std::future::Future;
use std::time::{Duration, Instant};

use futures_util::StreamExt;

use crate::aws::lambda_api::{self, Content, PublishRequest};
use crate::aws::s3_store::{self, Claim, ZipFile};
use crate::aws::{self, ClientOptions, Clients};
use crate::aws::{functions, prune, share};
use crate::config::LayerConfig;
use crate::domain::arn::LayerVersionArn;
use crate::domain::blocking::off_workers;
use crate::domain::error::Error;
use crate::domain::follow_up::Pruned;
use crate::domain::interrupt::Interrupt;
use crate::domain::limits::INLINE_ZIP_MAX;
use crate::domain::marker::{description, fingerprint_in};
use crate::domain::outcome::{BuildRecord, PublishResult, code_sha256};
use crate::domain::outcome::{Reason, RemoteVersion, Status};
use crate::package::changes::changes;
use crate::package::fingerprint::{FingerprintDocument, hex};
use crate::package::{PackageOptions, Packaged, fingerprint_document, package};
use crate::publish::plan::{Decision, decide, refine};

/// How often a run waiting on another run's claim looks again.
const CLAIM_POLL: Duration = Duration::from_secs(1);
/// How often a waiting run says so.
const CLAIM_SAY_EVERY: Duration = Duration::from_secs(5);

/// Targets worked on at once. Lambda's control plane throttles bursts of writes per account
/// and region; the SDK's retry (see `aws`) absorbs the odd `TooManyRequestsException`.
pub(crate) const MAX_IN_FLIGHT: usize = 4;

/// Where builds run and show their output.
pub struct Builds<'a, 'w> {
    /// The working directory the settings' paths are relative to.
    pub cwd: &'a std::path::Path,
    pub log: &'a mut crate::build::run::BuildLog<'w>,
}

/// One layer in one region: what is decided, published and reported.
pub struct Target<'a> {
    pub layer: &'a LayerConfig,
    /// Index of `layer` in the run's list.
    pub index: usize,
    pub clients: Clients,
    /// The bucket in this region (`{region}` replaced), or `None` for inline uploads.
    pub bucket: Option<String>,
}

/// What became of one target.
#[derive(Debug)]
pub struct Outcome {
    pub result: PublishResult,
    pub error: Option<Error>,
}

/// What reading a target decided.
enum Planned {
    /// Nothing to write: unchanged, or a dry run.
    Done(PublishResult),
    Publish {
        result: PublishResult,
        previous: Option<RemoteVersion>,
    },
}

/// Publishes every layer in every region that needs it. `Err` only when the run as a whole
/// cannot go on (a layer that cannot be packaged, no region); a target's own failure is in its
/// [`Outcome`]. Awaited in the caller's runtime (the command line's one `block_on`); the file
/// work (fingerprinting, packaging, reading the zip to send) runs on the blocking pool.
pub(crate) async fn publish_all(
    layers: &[LayerConfig],
    options: &PackageOptions,
    client_options: &ClientOptions,
    builds: Builds<'_, '_>,
) -> Result<Vec<Outcome>, Error> {
    let interrupt = &options.interrupt;
    let (documents, fingerprints): (Vec<_>, Vec<String>) = {
        let (layers, options) = (layers.to_vec(), options.clone());
        off_workers(move || {
            layers
                .iter()
                .map(|l| fingerprint_document(l, &options).map_err(Error::from))
                .collect::<Result<Vec<_>, _>>()
        })
        .await?
        .into_iter()
        .unzip()
    };
    interrupt.check()?;
    let targets = targets(layers, client_options).await?;
    let documents = &documents;
    let planned = in_flight(targets.iter().map(|t| {
        let fingerprint = &fingerprints[t.index];
        async move {
            plan(t, &documents[t.index], fingerprint)
                .await
                .map_err(|e| failed(t, fingerprint, e))
        }
    }))
    .await;

    // Build and package every layer that publishes somewhere, before the first write; nothing
    // else of this run is in flight meanwhile. A missing build tool is said before any build
    // starts; an unchanged layer starts no tool at all.
    let publishing = |t: &Target<'_>, p: &Result<Planned, Outcome>| {
        matches!(p, Ok(Planned::Publish { .. })) && t.layer.build.is_some()
    };
    for (t, p) in targets.iter().zip(&planned) {
        if publishing(t, p) {
            crate::build::run::check_tool(t.layer)?;
        }
    }
    // Every layer to build, once, in the layers' order: built at once (per-architecture layers
    // build side by side). Blocking, on this thread: the builds are the only work of the run
    // meanwhile, and the signal listener runs on the runtime's workers.
    let mut to_build: Vec<usize> = targets
        .iter()
        .zip(&planned)
        .filter(|(t, p)| publishing(t, p))
        .map(|(t, _)| t.index)
        .collect();
    to_build.sort_unstable();
    to_build.dedup();
    let Builds { cwd, log } = builds;
    let chosen: Vec<&LayerConfig> = to_build.iter().map(|&i| &layers[i]).collect();
    let mut folders: Vec<Option<crate::build::run::Built>> = layers.iter().map(|_| None).collect();
    for (i, b) in to_build
        .iter()
        .zip(crate::build::run::build_all(&chosen, cwd, log, interrupt)?)
    {
        folders[*i] = Some(b);
    }
    interrupt.check()?;
    let mut packaged: Vec<Option<Packaged>> = layers.iter().map(|_| None).collect();
    let mut built: Vec<Option<BuildRecord>> = layers.iter().map(|_| None).collect();
    for (t, p) in targets.iter().zip(&planned) {
        if matches!(p, Ok(Planned::Publish { .. })) && packaged[t.index].is_none() {
            let (mut layer, options) = (t.layer.clone(), options.clone());
            // Held until packaged: the build's folder is removed when it is dropped.
            let folder = folders[t.index].take();
            if let Some(b) = &folder {
                layer.path = b.output.clone();
                built[t.index] = Some(b.record.clone());
            }
            let fingerprint = fingerprints[t.index].clone();
            packaged[t.index] =
                Some(off_workers(move || package_checked(&layer, &options, &fingerprint)).await?);
            drop(folder);
            interrupt.check()?;
        }
    }
    let built = &built;

    let packaged = &packaged;
    let outcomes = in_flight(targets.iter().zip(planned).map(|(t, p)| {
        let fingerprint = &fingerprints[t.index];
        let zip = packaged[t.index].as_ref();
        async move {
            let mut result = match p {
                Err(outcome) => return outcome,
                Ok(Planned::Done(result)) => result,
                Ok(Planned::Publish {
                    mut result,
                    previous,
                }) => {
                    let zip = zip.expect("packaged before publishing");
                    result.build = built[t.index].clone();
                    match publish_target(t, zip, fingerprint, result, previous, interrupt).await {
                        Ok(result) => result,
                        Err(e) => return failed(t, fingerprint, e),
                    }
                }
            };
            // The version stands (new or not): share it, roll functions onto it, prune.
            let error = follow_up(t, &mut result, interrupt).await.err();
            if let Some(e) = &error {
                result.fail(e.to_string());
            }
            Outcome { result, error }
        }
    }))
    .await;
    Ok(outcomes)
}

/// What is done to the version that stands once a target is decided: grants from `share-with`
/// made sure of, the `functions` moved onto it, and after a publish the versions beyond
/// `keep-versions` pruned. Sharing and functions are made sure of on an unchanged run too (one
/// read each when they already hold), so a re-run after a failure, or after a function is added
/// to the list, converges without a new version.
///
/// A plan (dry run) goes through the same steps and the same decisions, reading but never
/// writing: the grants it would add, the functions it would move (from which version), the
/// versions it would prune. When the plan would publish, the version that would stand does not
/// exist yet: it has no policy, every listed function on another version would move, and it
/// takes one of the `keep-versions` places.
async fn follow_up(
    t: &Target<'_>,
    result: &mut PublishResult,
    interrupt: &Interrupt,
) -> Result<(), Error> {
    let (layer, lambda) = (t.layer, &t.clients.lambda);
    let plan = result.dry_run;
    let would_publish = matches!(result.status, Status::WouldPublish(_));
    let Some(stands) = standing_version(layer, result, would_publish)? else {
        return Ok(());
    };
    // A version this run published (or would publish) has no policy yet: no need to read one.
    let fresh = result.status.published() || would_publish;
    if !layer.share_with.is_empty() {
        result.shared_with = if plan {
            share::missing_grants(
                lambda,
                &layer.layer_name,
                stands.version,
                &layer.share_with,
                fresh,
            )
            .await?
            .into_iter()
            .map(|g| g.statement_id())
            .collect()
        } else {
            share::ensure_grants(
                lambda,
                &layer.layer_name,
                stands.version,
                &layer.share_with,
                fresh,
            )
            .await?
        };
    }
    let mut failures = Vec::new();
    for f in layer.functions_in(&t.clients.region) {
        interrupt.check()?;
        let moved = match (&stands.arn, plan) {
            (Some(arn), false) => {
                functions::roll_out(
                    lambda,
                    f.as_str(),
                    arn.layer(),
                    arn,
                    &layer.roll_out,
                    interrupt,
                )
                .await
            }
            (arn, true) => {
                functions::plan_move(lambda, f.as_str(), arn.as_ref(), &layer.roll_out).await
            }
            (None, false) => continue, // a run always has the version it published or kept
        };
        match moved {
            Ok(r) => result.functions.push(r),
            Err(e @ Error::Interrupted(_)) => return Err(e),
            Err(e) => failures.push(e),
        }
    }
    if !failures.is_empty() {
        return Err(Error::Functions {
            version_arn: stands.shown(),
            failures,
        });
    }
    if fresh && let Some(keep) = layer.keep_versions {
        result.pruned = Some(match &stands.arn {
            Some(arn) => {
                prune::prune(
                    lambda,
                    &layer.layer_name,
                    arn.layer(),
                    keep,
                    Some(stands.version),
                    layer.protect_in_use,
                    plan,
                )
                .await?
            }
            // A plan of a first version: nothing to prune but the version it would publish.
            None => prune::select(&[], keep, Some(stands.version), &Default::default()),
        });
    }
    Ok(())
}

/// The version the follow-up works on.
struct Standing {
    version: i64,
    /// `None` only for a plan of a layer's first version: its ARN holds the account, which
    /// no answer has given yet.
    arn: Option<LayerVersionArn>,
}

impl Standing {
    /// The version for messages.
    fn shown(&self) -> String {
        self.arn
            .as_ref()
            .map_or_else(|| format!("version {}", self.version), ToString::to_string)
    }
}

/// The version that stands after this target: the one published or kept, or for a plan that
/// would publish, the next one (`previous + 1`: the number Lambda gives it unless versions
/// above the newest were deleted, which only changes the number shown). `None` when nothing
/// stands and nothing would (a failure before a version was known).
fn standing_version(
    layer: &LayerConfig,
    result: &PublishResult,
    would_publish: bool,
) -> Result<Option<Standing>, Error> {
    // The version that stands, as Lambda named it: parsed once, for the functions and pruning.
    let known = match &result.layer_version_arn {
        Some(arn) => Some(parsed_version_arn(layer, arn)?),
        None => None,
    };
    if !would_publish {
        return Ok(known.map(|arn| Standing {
            version: arn.version(),
            arn: Some(arn),
        }));
    }
    let version = result.previous_version.unwrap_or(0) + 1;
    Ok(Some(Standing {
        version,
        arn: known.map(|previous| previous.layer().version(version)),
    }))
}

/// A version ARN Lambda answered for `layer`, parsed where it is acted on. Lambda's own ARNs
/// always parse; anything else is an answer layerpub cannot act on.
fn parsed_version_arn(layer: &LayerConfig, arn: &str) -> Result<LayerVersionArn, Error> {
    LayerVersionArn::parse(arn).ok_or_else(|| {
        Error::aws(format!(
            "Lambda answered `{arn}` as the ARN of a version of {}, which is not a layer version ARN (arn:aws:lambda:REGION:ACCOUNT:layer:NAME:VERSION)",
            layer.layer_name
        ))
    })
}

/// What `layerpub prune` did (or, with dry-run, would do) to one layer in one region.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub(crate) struct PruneReport {
    pub layer_name: String,
    pub region: String,
    pub dry_run: bool,
    #[serde(flatten)]
    pub pruned: Pruned,
    pub error: Option<String>,
}

/// `layerpub prune`: for every target, deletes the versions beyond `keep-versions` (never the
/// newest N; with protect-in-use never one a function uses), or only lists them with dry-run.
/// Returns the reports and the first error, after every target had its turn.
pub(crate) async fn prune_all(
    layers: &[LayerConfig],
    client_options: &ClientOptions,
) -> Result<(Vec<PruneReport>, Option<Error>), Error> {
    let missing: Vec<crate::domain::error::Problem> = layers
        .iter()
        .filter(|l| l.keep_versions.is_none())
        .map(|l| crate::domain::error::Problem {
            input: "keep-versions".into(),
            layer: Some(l.layer_name.clone()),
            message: "not set; `layerpub prune` keeps the newest N versions: set `keep-versions: N`, LAYERPUB_KEEP_VERSIONS or --keep-versions".into(),
        })
        .collect();
    if !missing.is_empty() {
        return Err(crate::domain::error::ConfigError(missing).into());
    }
    let targets = targets(layers, client_options).await?;
    let outcomes = in_flight(targets.iter().map(|t| async move {
        let (layer, lambda) = (t.layer, &t.clients.lambda);
        let keep = layer.keep_versions.unwrap_or(usize::MAX);
        let pruned = match lambda_api::latest_version(lambda, &layer.layer_name).await {
            Ok(None) => Ok(Pruned::default()),
            Ok(Some(v)) => match parsed_version_arn(layer, &v.layer_version_arn) {
                Ok(newest) => {
                    prune::prune(
                        lambda,
                        &layer.layer_name,
                        newest.layer(),
                        keep,
                        None,
                        layer.protect_in_use,
                        layer.dry_run,
                    )
                    .await
                }
                Err(e) => Err(e),
            },
            Err(e) => Err(e),
        };
        let report = |pruned, error| PruneReport {
            layer_name: layer.layer_name.clone(),
            region: t.clients.region.clone(),
            dry_run: layer.dry_run,
            pruned,
            error,
        };
        match pruned {
            Ok(p) => (report(p, None), None),
            Err(e) => (report(Pruned::default(), Some(e.to_string())), Some(e)),
        }
    }))
    .await;
    let mut first = None;
    let mut reports = Vec::new();
    for (r, e) in outcomes {
        reports.push(r);
        if first.is_none() {
            first = e;
        }
    }
    Ok((reports, first))
}

/// Runs the futures [`MAX_IN_FLIGHT`] at a time; the outputs keep the input's order.
async fn in_flight<F: Future>(futures: impl IntoIterator<Item = F>) -> Vec<F::Output> {
    futures_util::stream::iter(futures)
        .buffered(MAX_IN_FLIGHT)
        .collect()
        .await
}

/// Every (layer, region) pair, with clients shared by the targets of one region and endpoint.
async fn targets<'a>(
    layers: &'a [LayerConfig],
    options: &ClientOptions,
) -> Result<Vec<Target<'a>>, Error> {
    let mut clients: Vec<Clients> = Vec::new();
    let mut targets = Vec::new();
    for (index, layer) in layers.iter().enumerate() {
        let regions: Vec<Option<&str>> = match layer.regions.as_slice() {
            [] => vec![None],
            many => many.iter().map(|r| Some(r.as_str())).collect(),
        };
        for region in regions {
            let endpoint = layer.endpoint_url.as_deref();
            let c = match clients.iter().find(|c| c.serves(region, endpoint)) {
                Some(c) => c.clone(),
                None => {
                    let c = aws::clients(region, endpoint, options).await?;
                    clients.push(c.clone());
                    c
                }
            };
            // A layer ARN names its region; Lambda in another region would refuse it (an
            // emulator would publish a layer named after the whole ARN).
            if let Some(arn_region) = layer.arn.as_ref().map(|a| a.region())
                && arn_region != c.region
            {
                return Err(Error::bad_input(format!(
                    "layer-name: `{}` is a layer in {arn_region}, but the run publishes in {}; set region (or regions) to {arn_region}, or give the layer's plain name",
                    layer.layer_name, c.region
                )));
            }
            targets.push(Target {
                layer,
                index,
                bucket: layer.bucket_in(&c.region),
                clients: c,
            });
        }
    }
    Ok(targets)
}

/// A target's result when it failed: what is known, and the error's message.
fn failed(t: &Target<'_>, fingerprint: &str, e: Error) -> Outcome {
    let result = PublishResult::failed(
        &t.layer.layer_name,
        t.layer.dry_run,
        &t.clients.region,
        fingerprint,
        e.to_string(),
    );
    Outcome {
        result,
        error: Some(e),
    }
}

/// Reads the target's newest version and decides; read-only.
async fn plan(
    t: &Target<'_>,
    document: &FingerprintDocument,
    fingerprint: &str,
) -> Result<Planned, Error> {
    let (layer, clients) = (t.layer, &t.clients);
    let latest = lambda_api::latest_version(&clients.lambda, &layer.layer_name).await?;
    let mut result = PublishResult::new(
        &layer.layer_name,
        layer.dry_run,
        &clients.region,
        fingerprint,
    );
    let (reason, previous) = match decide(latest, fingerprint, layer.force) {
        Decision::Unchanged(v) => {
            result.unchanged(&v, Reason::Unchanged);
            return Ok(Planned::Done(result));
        }
        Decision::Publish { reason, previous } => (reason, previous),
    };
    if reason == Reason::NoMarker {
        let v = previous.as_ref().map_or(0, |p| p.version);
        result.warnings.push(format!(
            "version {v} of {} in {} has no layerpub marker in its description (published by another tool?): publishing a new version",
            layer.layer_name, clients.region
        ));
    }
    if let Some(bucket) = &t.bucket {
        // Before anything is packaged or written: a missing bucket, or one in another
        // region, is the user's to fix (exit 2), and must not leave a claim behind.
        s3_store::check_bucket(&clients.s3, bucket, &clients.region).await?;
    }
    let reason = match (&t.bucket, &previous) {
        (Some(bucket), Some(prev)) => {
            let prev_doc = previous_document(clients, layer, bucket, prev).await?;
            result.changes = prev_doc.as_ref().map(|p| changes(p, document));
            refine(reason, prev_doc.as_ref(), document)
        }
        _ => reason,
    };
    result.status = Status::WouldPublish(reason);
    result.previous_version = previous.as_ref().map(|p| p.version);
    // A misspelt function fails before anything is published (and a plan says so too).
    for f in layer.functions_in(&clients.region) {
        functions::preflight(&clients.lambda, f.as_str()).await?;
    }
    if layer.dry_run {
        result.dry_run = true;
        result.build = layer.build.as_ref().map(crate::build::run::planned);
        if let Some(p) = &previous {
            result.layer_version = Some(p.version);
            result.layer_version_arn = Some(p.layer_version_arn.clone());
        }
        return Ok(Planned::Done(result));
    }
    Ok(Planned::Publish { result, previous })
}

/// Packages the layer and checks its files did not change since they were fingerprinted.
fn package_checked(
    layer: &LayerConfig,
    options: &PackageOptions,
    fingerprint: &str,
) -> Result<Packaged, Error> {
    let packaged = package(layer, options)?;
    let packaged_fp = &packaged.fingerprint;
    if packaged_fp != fingerprint {
        return Err(Error::bad_input(format!(
            "the files of {} changed while layerpub was reading them (fingerprint {fingerprint}, then {packaged_fp}); run layerpub after the build step has finished",
            layer.layer_name
        )));
    }
    Ok(packaged)
}

/// Publishes one target: with a bucket, only while holding the claim on its fingerprint.
async fn publish_target(
    t: &Target<'_>,
    packaged: &Packaged,
    fingerprint: &str,
    result: PublishResult,
    previous: Option<RemoteVersion>,
    interrupt: &Interrupt,
) -> Result<PublishResult, Error> {
    let (layer, clients) = (t.layer, &t.clients);
    let Some(bucket) = t.bucket.as_deref() else {
        let seen = previous.as_ref().map(|p| p.version);
        return publish_now(t, packaged, fingerprint, result, seen, interrupt).await;
    };
    let claim_key = s3_store::claim_key(&layer.s3_prefix, layer.short_name(), fingerprint);
    let seen = previous.as_ref().map(|p| p.version);
    let claim = acquire_claim(
        clients,
        layer,
        bucket,
        &claim_key,
        fingerprint,
        seen,
        interrupt,
    );
    match claim.await? {
        Claimed::No(v) => {
            let mut result = result;
            result.unchanged(&v, Reason::PublishedConcurrently);
            Ok(result)
        }
        Claimed::Yes => {
            let outcome = publish_now(t, packaged, fingerprint, result, seen, interrupt).await;
            if let Err(e) = s3_store::delete(&clients.s3, bucket, &claim_key).await {
                tracing::warn!(
                    "could not release the claim s3://{bucket}/{claim_key}: {e}; later runs take it over after claim-timeout"
                );
            }
            outcome
        }
    }
}

/// Uploads (or inlines) and publishes; checks Lambda's `CodeSha256` against ours.
async fn publish_now(
    t: &Target<'_>,
    packaged: &Packaged,
    fingerprint: &str,
    mut result: PublishResult,
    seen: Option<i64>,
    interrupt: &Interrupt,
) -> Result<PublishResult, Error> {
    let (layer, clients) = (t.layer, &t.clients);
    note_packaged(&mut result, packaged);
    result.warnings.extend(packaged.warnings.iter().cloned());
    let local_sha = code_sha256(&packaged.sha256);

    let content = match t.bucket.as_deref() {
        Some(bucket) => {
            let (key, _) = upload(clients, layer, bucket, packaged, interrupt).await?;
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
        // Read from the handle the zip was written through, and checked against its hash.
        None => Content::Inline(ZipFile::from(packaged).read_checked().await?),
    };

    let request = PublishRequest {
        layer_name: &layer.layer_name,
        description: description(layer.description.as_deref(), fingerprint),
        compatible_runtimes: &layer.compatible_runtimes,
        compatible_architectures: &layer.compatible_architectures,
        license_info: layer.license_info.as_deref(),
        content,
        newer_than: seen,
    };
    // The last moment to stop: once PublishLayerVersion is sent, it is let to finish.
    interrupt.check()?;
    let published = lambda_api::publish(&clients.lambda, request).await?;
    if published.code_sha256 != local_sha {
        return Err(withdraw(&clients.lambda, layer, &published, &local_sha).await);
    }
    result.record_published(
        published.layer_arn,
        published.version,
        published.layer_version_arn,
    );
    Ok(result)
}

/// A version whose content is not the zip that was packaged must not stand: its marker says
/// "this fingerprint is published", and every later run would report it unchanged. It is
/// deleted at once; if that fails, the error says which version to delete.
async fn withdraw(
    lambda: &aws_sdk_lambda::Client,
    layer: &LayerConfig,
    published: &lambda_api::Published,
    local_sha: &str,
) -> Error {
    let what = format!(
        "Lambda published {} with CodeSha256 {}, but the packaged zip's is {local_sha}: the content Lambda read is not this zip",
        published.layer_version_arn, published.code_sha256
    );
    match lambda_api::delete_version(lambda, &layer.layer_name, published.version).await {
        Ok(()) => Error::aws(format!(
            "{what}; that version was deleted, so the next run publishes again. Check that nothing else writes the bucket's layerpub keys, and run again"
        )),
        Err(e) => Error::aws_caused(
            format!(
                "{what}, and deleting it failed ({e}): delete version {} of {} yourself before the next run, which would otherwise take it as published",
                published.version, layer.layer_name
            ),
            e,
        ),
    }
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
        s3_store::upload_zip(&clients.s3, bucket, &key, packaged.into(), interrupt).await?;
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
    let mut said = None;
    let body = serde_json::to_vec(&serde_json::json!({
        "layer": layer.layer_name,
        "fingerprint": fingerprint,
        "pid": std::process::id(),
        // With the pid, makes the body unique to this run: try_claim recognises its own
        // claim by it when the answer to its PUT was lost.
        "started": std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
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
            Claim::Held { age } => {
                if let Some(v) = published_with(clients, layer, fingerprint, seen).await? {
                    return Ok(Claimed::No(v));
                }
                if started.elapsed() > layer.claim_timeout.saturating_add(CLAIM_POLL * 30) {
                    return Err(Error::aws(format!(
                        "waited {}s on another run's claim s3://{bucket}/{key}; if no other run is publishing {}, delete that object",
                        started.elapsed().as_secs(),
                        layer.layer_name
                    )));
                }
                // Said at once and every few seconds: a silent wait of up to claim-timeout
                // looks like a hang in a CI log.
                if said.is_none_or(|t: Instant| t.elapsed() >= CLAIM_SAY_EVERY) {
                    said = Some(Instant::now());
                    tracing::warn!(
                        "waiting for another run publishing {} with this fingerprint (it holds s3://{bucket}/{key} since {}s; taken over once held {}s, the claim-timeout)",
                        layer.layer_name,
                        age.as_secs(),
                        layer.claim_timeout.as_secs()
                    );
                }
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

/// What the result says about the zip this run packaged.
fn note_packaged(result: &mut PublishResult, p: &Packaged) {
    result.code_sha256 = Some(code_sha256(&p.sha256));
    result.code_size = Some(p.code_size);
    result.unzipped_size = Some(p.unzipped_size);
    result.zip_path = Some(p.zip_path.display().to_string());
}

impl From<&Packaged> for ZipFile {
    /// The packaged zip as the upload reads it: through its handle (shared, not reopened),
    /// checked against its hash.
    fn from(p: &Packaged) -> Self {
        ZipFile {
            file: std::sync::Arc::clone(&p.file),
            size: p.code_size,
            sha256: p.sha256,
            path: p.zip_path.clone(),
        }
    }
}
