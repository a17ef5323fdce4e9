//! The S3 side: content-addressed uploads, the fingerprint document beside each zip, and the
//! claim that keeps two concurrent runs from publishing the same fingerprint twice.
//!
//! Keys (all under the `s3-prefix`, default `layerpub/`):
//! - `<prefix><layer>/<sha256 hex of the zip>.zip`: the zip, addressed by content, so a re-run
//!   or a concurrent run writes the same key and an object already there is not sent again;
//! - `<prefix><layer>/<sha256 hex of the zip>.manifest.json`: the fingerprint document;
//! - `<prefix><layer>/claims/<fingerprint>.claim`: held while a run publishes that fingerprint.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use aws_sdk_s3::Client;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{ChecksumAlgorithm, ChecksumMode, CompletedMultipartUpload, CompletedPart};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use sha2::{Digest, Sha256};
use tokio::task::JoinSet;

use crate::aws::sdk_error;
use crate::domain::blocking::off_workers;
use crate::domain::error::Error;
use crate::domain::interrupt::Interrupt;

/// Zips above this go up as a multipart upload.
pub(crate) const MULTIPART_THRESHOLD: u64 = 16 << 20;
/// Part size of a multipart upload (S3's minimum is 5 MiB).
pub(crate) const PART_SIZE: u64 = 8 << 20;
/// Parts in flight at once.
const PARTS_IN_FLIGHT: usize = 4;

pub fn zip_key(prefix: &str, layer: &str, sha256_hex: &str) -> String {
    format!("{prefix}{layer}/{sha256_hex}.zip")
}

pub(crate) fn manifest_key(prefix: &str, layer: &str, sha256_hex: &str) -> String {
    format!("{prefix}{layer}/{sha256_hex}.manifest.json")
}

pub(crate) fn claim_key(prefix: &str, layer: &str, fingerprint: &str) -> String {
    format!("{prefix}{layer}/claims/{fingerprint}.claim")
}

/// S3 writes a composite checksum as `…=-N` (moto leaves the suffix out on HEAD).
fn without_part_count(checksum: &str) -> &str {
    match checksum.rsplit_once('-') {
        Some((head, n)) if !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) => head,
        _ => checksum,
    }
}

/// The object's SHA-256 checksum as S3 stored it, or `None` when there is no such object.
pub(crate) async fn stored_checksum(
    s3: &Client,
    bucket: &str,
    key: &str,
) -> Result<Option<Option<String>>, Error> {
    match s3
        .head_object()
        .bucket(bucket)
        .key(key)
        .checksum_mode(ChecksumMode::Enabled)
        .send()
        .await
    {
        Ok(out) => Ok(Some(
            out.checksum_sha256()
                .map(|c| without_part_count(c).to_owned()),
        )),
        Err(e) if e.as_service_error().is_some_and(|s| s.is_not_found()) => Ok(None),
        Err(e) if e.raw_response().is_some_and(|r| r.status().as_u16() == 404) => Ok(None),
        Err(e) => Err(sdk_error(&format!("HeadObject s3://{bucket}/{key}"), e)),
    }
}

/// What became of the zip.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Uploaded {
    /// False when an object with the same checksum was already there.
    pub sent: bool,
    pub multipart: bool,
}

/// The zip to upload: the handle it was written through (never its path again: another
/// process, or another layer writing the same file through a link, may have replaced it),
/// its size and SHA-256 as packaged, and its path for messages. Owned, the handle shared, so
/// that its reads and hashes can run on the blocking pool ([`off_workers`]) while the other
/// targets' requests go on.
#[derive(Debug, Clone)]
pub struct ZipFile {
    pub file: Arc<File>,
    pub size: u64,
    pub sha256: [u8; 32],
    pub path: PathBuf,
}

impl ZipFile {
    /// [`ZipFile::bytes`], read and hashed off the async thread.
    pub(crate) async fn read_checked(&self) -> Result<Vec<u8>, Error> {
        let zip = self.clone();
        off_workers(move || zip.bytes()).await
    }

    /// Every byte of the zip, checked against the packaged SHA-256 (a single PUT, or inline).
    /// Blocking: on an async path, use [`ZipFile::read_checked`].
    pub fn bytes(&self) -> Result<Vec<u8>, Error> {
        let bytes = read_part(&self.file, 0, self.size).map_err(|e| self.read_error(e))?;
        if self.grew() || <[u8; 32]>::from(Sha256::digest(&bytes)) != self.sha256 {
            return Err(self.changed());
        }
        Ok(bytes)
    }

    /// The SHA-256 of each multipart part, from one read of the zip checked against the
    /// packaged SHA-256: each part read again to be sent must match its digest.
    fn part_digests(&self) -> Result<Vec<[u8; 32]>, Error> {
        let mut whole = Sha256::new();
        let mut parts = Vec::new();
        let mut offset = 0;
        while offset < self.size {
            let len = PART_SIZE.min(self.size - offset);
            let chunk = read_part(&self.file, offset, len).map_err(|e| self.read_error(e))?;
            whole.update(&chunk);
            parts.push(Sha256::digest(&chunk).into());
            offset += len;
        }
        if self.grew() || <[u8; 32]>::from(whole.finalize()) != self.sha256 {
            return Err(self.changed());
        }
        Ok(parts)
    }

    /// Part `index` of a multipart upload, read again to be sent: its bytes must have the
    /// digest [`ZipFile::part_digests`] found, or the zip changed in between.
    fn part(&self, index: usize, digest: &[u8; 32]) -> Result<Vec<u8>, Error> {
        let offset = index as u64 * PART_SIZE;
        let len = PART_SIZE.min(self.size - offset);
        let chunk = read_part(&self.file, offset, len).map_err(|e| self.read_error(e))?;
        if <[u8; 32]>::from(Sha256::digest(&chunk)) != *digest {
            return Err(self.changed());
        }
        Ok(chunk)
    }

    /// Whether the file holds a byte past the packaged size.
    fn grew(&self) -> bool {
        read_part(&self.file, self.size, 1).is_ok()
    }

    fn read_error(&self, source: io::Error) -> Error {
        if source.kind() == io::ErrorKind::UnexpectedEof {
            return self.changed();
        }
        Error::Io {
            context: format!("cannot read `{}` again to upload it", self.path.display()),
            source,
        }
    }

    fn changed(&self) -> Error {
        Error::bad_input(format!(
            "`{}` changed after layerpub packaged it (its bytes are not the ones hashed); nothing was published. Another process, or another layer with the same zip-path, wrote it: give each layer and each concurrent job its own zip-path",
            self.path.display()
        ))
    }
}

/// S3's composite checksum of a multipart object: base64 SHA-256 of the parts' raw digests.
fn composite(parts: &[[u8; 32]]) -> String {
    let mut outer = Sha256::new();
    for p in parts {
        outer.update(p);
    }
    STANDARD.encode(outer.finalize())
}

/// Uploads the zip to `bucket/key` unless it is already there with the same checksum, then
/// checks that S3 holds exactly these bytes: the object must exist and its checksum must equal
/// the packaged one. Hash what you ship: the bytes sent are checked against the packaged
/// SHA-256 before they leave (the whole zip for a single PUT, each part for multipart), and S3
/// checks each request's checksum on arrival, so a publish that follows is of the packaged
/// bytes.
pub async fn upload_zip(
    s3: &Client,
    bucket: &str,
    key: &str,
    zip: ZipFile,
    interrupt: &Interrupt,
) -> Result<Uploaded, Error> {
    let multipart = zip.size > MULTIPART_THRESHOLD;
    let (expected, parts) = if multipart {
        let whole = zip.clone();
        let parts = off_workers(move || whole.part_digests()).await?;
        (composite(&parts), parts)
    } else {
        (STANDARD.encode(zip.sha256), Vec::new())
    };
    if stored_checksum(s3, bucket, key).await?.flatten().as_deref() == Some(expected.as_str()) {
        tracing::info!("s3://{bucket}/{key} already holds this zip; not sent again");
        return Ok(Uploaded {
            sent: false,
            multipart,
        });
    }
    if multipart {
        upload_multipart(s3, bucket, key, zip, &parts, interrupt).await?;
    } else {
        let bytes = zip.read_checked().await?;
        let put = s3
            .put_object()
            .bucket(bucket)
            .key(key)
            .checksum_algorithm(ChecksumAlgorithm::Sha256)
            .checksum_sha256(expected.clone())
            .content_type("application/zip")
            .body(ByteStream::from(bytes))
            .send();
        tokio::select! {
            r = put => { r.map_err(|e| sdk_error(&format!("PutObject s3://{bucket}/{key}"), e))?; }
            s = interrupt.wait() => return Err(Error::Interrupted(s)),
        }
    }
    match stored_checksum(s3, bucket, key).await? {
        Some(Some(c)) if c == expected => Ok(Uploaded {
            sent: true,
            multipart,
        }),
        Some(other) => Err(Error::aws(format!(
            "s3://{bucket}/{key} does not hold the zip just uploaded (S3 reports checksum {}, the zip's is {expected}); run again",
            other.as_deref().unwrap_or("none")
        ))),
        None => Err(Error::aws(format!(
            "s3://{bucket}/{key} is missing right after its upload; check the bucket's lifecycle rules and run again"
        ))),
    }
}

/// Parallel multipart upload with a SHA-256 checksum per part; aborted on any failure so no
/// incomplete upload is left behind. Each part is read from the file when its turn comes, so
/// memory holds only the parts in flight.
async fn upload_multipart(
    s3: &Client,
    bucket: &str,
    key: &str,
    zip: ZipFile,
    parts: &[[u8; 32]],
    interrupt: &Interrupt,
) -> Result<(), Error> {
    let size = zip.size;
    let created = s3
        .create_multipart_upload()
        .bucket(bucket)
        .key(key)
        .checksum_algorithm(ChecksumAlgorithm::Sha256)
        .content_type("application/zip")
        .send()
        .await
        .map_err(|e| sdk_error(&format!("CreateMultipartUpload s3://{bucket}/{key}"), e))?;
    let upload_id = created.upload_id().unwrap_or_default().to_owned();
    tracing::info!(
        "uploading s3://{bucket}/{key} in {} parts",
        size.div_ceil(PART_SIZE)
    );
    // Dropping send_parts on a signal drops its JoinSet, which cancels the parts in flight;
    // the upload itself is then aborted below, like any failed one.
    let sent = tokio::select! {
        r = send_parts(s3, bucket, key, &upload_id, zip, parts) => r,
        s = interrupt.wait() => Err(Error::Interrupted(s)),
    };
    let parts = match sent {
        Ok(parts) => parts,
        Err(e) => {
            abort(s3, bucket, key, &upload_id).await;
            return Err(e);
        }
    };
    let done = s3
        .complete_multipart_upload()
        .bucket(bucket)
        .key(key)
        .upload_id(&upload_id)
        .multipart_upload(
            CompletedMultipartUpload::builder()
                .set_parts(Some(parts))
                .build(),
        )
        .send()
        .await;
    if let Err(e) = done {
        abort(s3, bucket, key, &upload_id).await;
        return Err(sdk_error(
            &format!("CompleteMultipartUpload s3://{bucket}/{key}"),
            e,
        ));
    }
    Ok(())
}

async fn send_parts(
    s3: &Client,
    bucket: &str,
    key: &str,
    upload_id: &str,
    zip: ZipFile,
    digests: &[[u8; 32]],
) -> Result<Vec<CompletedPart>, Error> {
    let count = digests.len();
    let mut parts = Vec::with_capacity(count);
    let mut in_flight = JoinSet::new();
    for (index, digest) in digests.iter().enumerate() {
        if in_flight.len() >= PARTS_IN_FLIGHT {
            parts.push(joined(in_flight.join_next().await)?);
        }
        // Read (and checked) before the task is spawned, on the blocking pool: the part is
        // then what the task owns and sends, and no part is sent unchecked.
        let (part, digest) = (zip.clone(), *digest);
        let chunk = off_workers(move || part.part(index, &digest)).await?;
        let checksum = STANDARD.encode(digest);
        let (s3, bucket, key, upload_id) = (
            s3.clone(),
            bucket.to_owned(),
            key.to_owned(),
            upload_id.to_owned(),
        );
        in_flight.spawn(async move {
            let number = index as i32 + 1;
            let out = s3
                .upload_part()
                .bucket(&bucket)
                .key(&key)
                .upload_id(&upload_id)
                .part_number(number)
                .checksum_algorithm(ChecksumAlgorithm::Sha256)
                .checksum_sha256(&checksum)
                .body(ByteStream::from(chunk))
                .send()
                .await
                .map_err(|e| {
                    sdk_error(&format!("UploadPart {number} of s3://{bucket}/{key}"), e)
                })?;
            Ok(CompletedPart::builder()
                .part_number(number)
                .set_e_tag(out.e_tag().map(str::to_owned))
                .checksum_sha256(checksum)
                .build())
        });
    }
    while let Some(r) = in_flight.join_next().await {
        parts.push(joined(Some(r))?);
    }
    parts.sort_by_key(|p| p.part_number());
    Ok(parts)
}

/// `len` bytes of `file` from `offset`, read at that position (the handle is shared).
fn read_part(file: &File, offset: u64, len: u64) -> io::Result<Vec<u8>> {
    let mut buf = vec![0; len as usize];
    file.read_exact_at(&mut buf, offset)?;
    Ok(buf)
}

fn joined(
    r: Option<Result<Result<CompletedPart, Error>, tokio::task::JoinError>>,
) -> Result<CompletedPart, Error> {
    match r {
        Some(Ok(part)) => part,
        Some(Err(e)) => Err(Error::aws_caused(format!("an upload task failed: {e}"), e)),
        None => Err(Error::aws("an upload task vanished")),
    }
}

async fn abort(s3: &Client, bucket: &str, key: &str, upload_id: &str) {
    if let Err(e) = s3
        .abort_multipart_upload()
        .bucket(bucket)
        .key(key)
        .upload_id(upload_id)
        .send()
        .await
    {
        tracing::warn!(
            "could not abort the multipart upload {upload_id} of s3://{bucket}/{key}: {}; a bucket lifecycle rule for incomplete uploads will clean it",
            aws_sdk_s3::error::DisplayErrorContext(&e)
        );
    }
}

/// Writes a small JSON document.
pub(crate) async fn put_document(
    s3: &Client,
    bucket: &str,
    key: &str,
    body: Vec<u8>,
) -> Result<(), Error> {
    let checksum = STANDARD.encode(Sha256::digest(&body));
    s3.put_object()
        .bucket(bucket)
        .key(key)
        .checksum_algorithm(ChecksumAlgorithm::Sha256)
        .checksum_sha256(checksum)
        .content_type("application/json")
        .body(ByteStream::from(body))
        .send()
        .await
        .map_err(|e| sdk_error(&format!("PutObject s3://{bucket}/{key}"), e))?;
    Ok(())
}

/// Reads a small document; `None` when it is not there.
pub(crate) async fn get_document(
    s3: &Client,
    bucket: &str,
    key: &str,
) -> Result<Option<Vec<u8>>, Error> {
    match s3.get_object().bucket(bucket).key(key).send().await {
        Ok(out) => {
            let body = out.body.collect().await.map_err(|e| {
                Error::aws_caused(
                    format!("GetObject s3://{bucket}/{key} failed while reading: {e}"),
                    e,
                )
            })?;
            Ok(Some(body.into_bytes().to_vec()))
        }
        Err(e) if e.as_service_error().is_some_and(|s| s.is_no_such_key()) => Ok(None),
        Err(e) => Err(sdk_error(&format!("GetObject s3://{bucket}/{key}"), e)),
    }
}

/// Checks, before the first write, that `bucket` exists and is in `region`: Lambda reads a
/// layer's zip only from a bucket in the region it publishes in, and S3 in another region
/// answers a write with a redirect that says little. One `HeadBucket` (on the publish path
/// only); its `x-amz-bucket-region` header names the bucket's region, on success and on most
/// refusals alike. A refusal without that header (a role without s3:ListBucket) proves
/// nothing: the run goes on and a later call reports what is wrong.
pub(crate) async fn check_bucket(s3: &Client, bucket: &str, region: &str) -> Result<(), Error> {
    let (status, found) = match s3.head_bucket().bucket(bucket).send().await {
        Ok(out) => (200, out.bucket_region().map(str::to_owned)),
        Err(e) => match e.raw_response() {
            Some(r) => (
                r.status().as_u16(),
                r.headers().get("x-amz-bucket-region").map(str::to_owned),
            ),
            None => return Err(sdk_error(&format!("HeadBucket s3://{bucket}"), e)),
        },
    };
    if status == 404 {
        return Err(Error::bad_input(format!(
            "s3-bucket: HeadBucket s3://{bucket} failed: NoSuchBucket: the bucket does not exist — create the bucket (in the layer's region) or fix s3-bucket; this run publishes in {region}"
        )));
    }
    match found {
        Some(r) if r != region => Err(Error::bad_input(format!(
            "s3-bucket: `{bucket}` is in {r}, but the layer is published in {region} and Lambda reads a layer's zip only from a bucket in the same region; use a bucket in {region} (with several regions, one per region: `my-layers-{{region}}`), or publish in {r}"
        ))),
        _ => Ok(()),
    }
}

/// The outcome of one attempt to claim a fingerprint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Claim {
    /// This run holds the claim and must release it.
    Acquired,
    /// Another run holds it, since this long.
    Held { age: Duration },
    /// It was there, and gone when we looked: try again.
    Vanished,
}

/// Tries to create the claim object with `If-None-Match: *`: S3 lets exactly one writer in.
/// `body` must be unique to the run: it is how the run recognises its own claim.
pub(crate) async fn try_claim(
    s3: &Client,
    bucket: &str,
    key: &str,
    body: Vec<u8>,
) -> Result<Claim, Error> {
    let put = s3
        .put_object()
        .bucket(bucket)
        .key(key)
        .if_none_match("*")
        .content_type("application/json")
        .body(ByteStream::from(body.clone()))
        .send()
        .await;
    match put {
        Ok(_) => Ok(Claim::Acquired),
        Err(e) if is_precondition_failed(&e) => {
            // Read, not HEAD: when the answer to our own PUT was lost (a reset or cut
            // response after S3 stored it), the SDK's retry meets our own claim. Without
            // comparing bodies the run would wait on itself until claim-timeout.
            match s3.get_object().bucket(bucket).key(key).send().await {
                Ok(out) => {
                    let since = out
                        .last_modified()
                        .and_then(|t| SystemTime::try_from(*t).ok())
                        .and_then(|t| SystemTime::now().duration_since(t).ok())
                        .unwrap_or_default();
                    let held = out.body.collect().await.map(|b| b.into_bytes());
                    if held.is_ok_and(|b| b[..] == body[..]) {
                        return Ok(Claim::Acquired);
                    }
                    Ok(Claim::Held { age: since })
                }
                Err(e) if e.raw_response().is_some_and(|r| r.status().as_u16() == 404) => {
                    Ok(Claim::Vanished)
                }
                Err(e) => Err(sdk_error(&format!("GetObject s3://{bucket}/{key}"), e)),
            }
        }
        Err(e) => Err(sdk_error(
            &format!("PutObject (claim) s3://{bucket}/{key}"),
            e,
        )),
    }
}

fn is_precondition_failed<E, R>(e: &aws_sdk_s3::error::SdkError<E, R>) -> bool
where
    E: aws_sdk_s3::error::ProvideErrorMetadata,
    R: std::fmt::Debug,
{
    use aws_sdk_s3::error::ProvideErrorMetadata;
    e.code() == Some("PreconditionFailed") || e.code() == Some("ConditionalRequestConflict")
}

/// Deletes an object; used to release (or take over a stale) claim.
pub async fn delete(s3: &Client, bucket: &str, key: &str) -> Result<(), Error> {
    s3.delete_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .map_err(|e| sdk_error(&format!("DeleteObject s3://{bucket}/{key}"), e))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_addressed_by_content() {
        assert_eq!(
            zip_key("layerpub/", "deps", "ab12"),
            "layerpub/deps/ab12.zip"
        );
        assert_eq!(manifest_key("", "deps", "ab12"), "deps/ab12.manifest.json");
        assert_eq!(claim_key("ci/", "deps", "ff"), "ci/deps/claims/ff.claim");
    }

    fn zip_file(bytes: &[u8]) -> (File, [u8; 32]) {
        use std::io::Write;
        let mut f = tempfile::tempfile().unwrap();
        f.write_all(bytes).unwrap();
        (f, Sha256::digest(bytes).into())
    }

    #[test]
    fn large_zips_have_the_composite_checksum_of_their_parts() {
        for len in [PART_SIZE * 2 + 10, PART_SIZE * 3] {
            let bytes: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
            let parts: Vec<u8> = bytes
                .chunks(PART_SIZE as usize)
                .flat_map(|p| Sha256::digest(p).to_vec())
                .collect();
            let (file, sha256) = zip_file(&bytes);
            let zip = ZipFile {
                file: Arc::new(file),
                size: len,
                sha256,
                path: PathBuf::from("deps.zip"),
            };
            let digests = zip.part_digests().unwrap();
            assert_eq!(
                composite(&digests),
                STANDARD.encode(Sha256::digest(&parts)),
                "{len} bytes"
            );
        }
    }

    #[test]
    fn a_zip_that_differs_from_what_was_packaged_is_never_read_for_sending() {
        let (file, sha256) = zip_file(b"the packaged zip");
        let file = Arc::new(file);
        let zip = |size| ZipFile {
            file: Arc::clone(&file),
            size,
            sha256,
            path: PathBuf::from("deps.zip"),
        };
        assert_eq!(zip(16).bytes().unwrap(), b"the packaged zip");
        // Rewritten in place at the same size, grown, or shrunk since packaging.
        file.write_all_at(b"THE", 0).unwrap();
        let msg = zip(16).bytes().unwrap_err().to_string();
        assert!(msg.contains("changed after layerpub packaged it"), "{msg}");
        file.write_all_at(b"the", 0).unwrap();
        assert!(zip(15).bytes().is_err(), "a byte past the packaged size");
        assert!(zip(17).bytes().is_err(), "shorter than packaged");
        assert!(zip(16).part_digests().is_ok());
        file.write_all_at(b"X", 10).unwrap();
        assert!(zip(16).part_digests().is_err());
    }

    #[test]
    fn composite_suffix_is_dropped() {
        assert_eq!(without_part_count("abc=-3"), "abc=");
        assert_eq!(without_part_count("abc="), "abc=");
        assert_eq!(without_part_count("a-b="), "a-b=");
    }
}
