//! The result of a run for one target (a layer in a region), and the values it is made of:
//! the newest remote version, the reason for the decision, what changed. Pure data shared by
//! the publisher, which fills it, and every renderer, which reads it.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::Serialize;

/// The newest published version of a layer, as `ListLayerVersions` reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteVersion {
    pub version: i64,
    pub layer_version_arn: String,
    pub description: String,
}

/// Why a run publishes, or does not.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    /// The layer has no version yet.
    FirstVersion,
    /// The lock files (or, without a manifest, the packaged files) changed.
    ManifestChanged,
    /// A setting that shapes the layer changed (runtimes, architectures, licence, layout…).
    SettingsChanged,
    /// The fingerprint changed, and the previous fingerprint document was not available to say
    /// how (no bucket, or its copy is gone).
    FingerprintChanged,
    /// The newest version carries no layerpub marker (published by another tool or by hand).
    NoMarker,
    /// `--force`.
    Forced,
    /// The newest version carries this fingerprint: nothing to do.
    #[default]
    Unchanged,
    /// Another run published this fingerprint while this one waited for its claim.
    PublishedConcurrently,
}

impl Reason {
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::FirstVersion => "first version",
            Reason::ManifestChanged => "manifest changed",
            Reason::SettingsChanged => "settings changed",
            Reason::FingerprintChanged => "fingerprint changed",
            Reason::NoMarker => "newest version has no layerpub marker",
            Reason::Forced => "forced",
            Reason::Unchanged => "unchanged",
            Reason::PublishedConcurrently => "published by a concurrent run",
        }
    }
}

/// What `layerpub publish` (and `plan`) reports per layer and region: the one result value of
/// a run.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct PublishResult {
    pub layer_name: String,
    pub layer_arn: Option<String>,
    /// The version published, or for an unchanged layer the existing one.
    pub layer_version_arn: Option<String>,
    pub layer_version: Option<i64>,
    pub published: bool,
    /// A plan: `published` is false and `reason` says why it would publish.
    pub dry_run: bool,
    /// The newest version before this run.
    pub previous_version: Option<i64>,
    pub fingerprint: String,
    /// Set when this run packaged the layer.
    pub code_sha256: Option<String>,
    pub code_size: Option<u64>,
    pub unzipped_size: Option<u64>,
    pub zip_path: Option<String>,
    pub s3_uri: Option<String>,
    pub region: String,
    pub reason: Reason,
    /// What changed since the previous version, when its fingerprint document was readable.
    pub changes: Option<crate::domain::outcome::Changes>,
    pub warnings: Vec<String>,
    /// Statement IDs of the `share-with` grants this run added (none when they all existed).
    pub shared_with: Vec<String>,
    /// The functions moved onto this version (or found on it already).
    pub functions: Vec<crate::domain::follow_up::FunctionResult>,
    /// What `keep-versions` deleted after this publish.
    pub pruned: Option<crate::domain::follow_up::Pruned>,
    /// Set when this target failed: what went wrong. The other fields say what is known.
    pub error: Option<String>,
}

impl PublishResult {
    pub fn new(layer_name: &str, dry_run: bool, region: &str, fingerprint: &str) -> Self {
        PublishResult {
            layer_name: layer_name.to_owned(),
            layer_arn: None,
            layer_version_arn: None,
            layer_version: None,
            published: false,
            dry_run,
            previous_version: None,
            fingerprint: fingerprint.to_owned(),
            code_sha256: None,
            code_size: None,
            unzipped_size: None,
            zip_path: None,
            s3_uri: None,
            region: region.to_owned(),
            reason: Reason::Unchanged,
            changes: None,
            warnings: Vec::new(),
            shared_with: Vec::new(),
            functions: Vec::new(),
            pruned: None,
            error: None,
        }
    }

    /// Nothing published: the existing version `v` stands.
    pub fn unchanged(&mut self, v: &RemoteVersion, reason: Reason) {
        self.published = false;
        self.reason = reason;
        self.layer_version = Some(v.version);
        self.previous_version = Some(v.version);
        self.layer_version_arn = Some(v.layer_version_arn.clone());
        self.layer_arn = crate::domain::arn::LayerVersionArn::parse(&v.layer_version_arn)
            .map(|arn| arn.layer().to_string());
    }
}

/// Lambda's `CodeSha256`: base64 (standard alphabet, padded) of the raw digest.
pub fn code_sha256(digest: &[u8; 32]) -> String {
    STANDARD.encode(digest)
}

/// The difference, each list sorted.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Changes {
    pub added: Vec<String>,
    pub removed: Vec<String>,
    /// `old → new`, for lines that keep their package name (`requests==2.32.3 → requests==2.32.4`).
    pub changed: Vec<String>,
    /// Shaping settings whose value changed, by name.
    pub settings: Vec<String>,
    /// Lines left out of `added`, `removed` and `changed` beyond [`MAX_LISTED`] each.
    #[serde(skip_serializing_if = "is_zero")]
    pub omitted: usize,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

impl Changes {
    pub fn is_empty(&self) -> bool {
        self.added.is_empty()
            && self.removed.is_empty()
            && self.changed.is_empty()
            && self.settings.is_empty()
            && self.omitted == 0
    }
}

#[cfg(test)]
/// A published layer with every field set, for the tests of the modules that render results.
#[cfg(test)]
pub(crate) fn example_result() -> PublishResult {
    PublishResult {
        layer_name: "deps".into(),
        layer_arn: Some("arn:aws:lambda:us-east-1:123456789012:layer:deps".into()),
        layer_version_arn: Some("arn:aws:lambda:us-east-1:123456789012:layer:deps:2".into()),
        layer_version: Some(2),
        published: true,
        dry_run: false,
        previous_version: Some(1),
        fingerprint: "ab".repeat(32),
        code_sha256: Some("WLZSxnGTsHhPKSv8j9f1UBbWn628NfWBHtS+k15RpCs=".into()),
        code_size: Some(2048),
        unzipped_size: Some(4096),
        zip_path: Some("deps.zip".into()),
        s3_uri: Some("s3://bucket/layerpub/deps/abc.zip".into()),
        region: "us-east-1".into(),
        reason: Reason::ManifestChanged,
        changes: Some(crate::domain::outcome::Changes {
            added: vec!["idna==3.7".into()],
            removed: vec!["urllib3==2.2.2".into()],
            changed: vec!["requests==2.32.3 → requests==2.32.4".into()],
            settings: vec!["compatible-runtimes".into()],
            omitted: 0,
        }),
        warnings: vec![],
        ..Default::default()
    }
}
