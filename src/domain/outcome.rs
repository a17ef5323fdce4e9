//! The result of a run for one target (a layer in a region), and the values it is made of:
//! the newest remote version, the reason for the decision, what changed. Pure data shared by
//! the publisher, which fills it, and every renderer, which reads it.
//!
//! What happened to a target is one [`Status`], set by the publisher; every renderer (text,
//! JSON, summary, comment, dotenv, step outputs) matches on it rather than working it out
//! again from fields.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::{Serialize, Serializer};

/// The newest published version of a layer, as `ListLayerVersions` reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteVersion {
    pub version: i64,
    pub layer_version_arn: String,
    pub description: String,
}

/// Why a run publishes, or does not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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
    Unchanged,
    /// Another run published this fingerprint while this one waited for its claim.
    PublishedConcurrently,
}

impl Reason {
    /// Every reason, in the order the README and the JSON Schema list their codes.
    #[cfg(test)]
    pub(crate) const ALL: [Reason; 8] = [
        Reason::FirstVersion,
        Reason::ManifestChanged,
        Reason::SettingsChanged,
        Reason::FingerprintChanged,
        Reason::NoMarker,
        Reason::Forced,
        Reason::Unchanged,
        Reason::PublishedConcurrently,
    ];

    /// The reason as programs read it: the `reason` of the JSON result, the `reason` step
    /// output and `LAYERPUB_REASON` in the dotenv report. Part of the JSON contract
    /// (schema/result.schema.json): a code is never renamed within a schema version.
    pub fn code(self) -> &'static str {
        match self {
            Reason::FirstVersion => "first_version",
            Reason::ManifestChanged => "manifest_changed",
            Reason::SettingsChanged => "settings_changed",
            Reason::FingerprintChanged => "fingerprint_changed",
            Reason::NoMarker => "no_marker",
            Reason::Forced => "forced",
            Reason::Unchanged => "unchanged",
            Reason::PublishedConcurrently => "published_concurrently",
        }
    }

    /// The reason in words, for the text report, the job summary and the comment.
    pub(crate) fn describe(self) -> &'static str {
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

impl Serialize for Reason {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.code())
    }
}

/// What happened to one target: decided once by the publisher, read by every renderer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status {
    /// This run published a new version, for this reason.
    Published(Reason),
    /// Nothing published: the newest version stands. [`Reason::Unchanged`], or
    /// [`Reason::PublishedConcurrently`] when another run published this fingerprint while
    /// this one waited. In a plan too (`dry_run`), when there is nothing to publish.
    Unchanged(Reason),
    /// A plan (`dry_run`) that would publish a new version, for this reason. In a real run,
    /// also the decision taken before Lambda answers (it then becomes `Published`).
    WouldPublish(Reason),
    /// The target failed: `error` says what went wrong. `settled` is what stood when the
    /// failure came after the version was settled (sharing it, moving functions onto it or
    /// pruning failed): the version this run published, or the one it found unchanged;
    /// `None` when it failed before that.
    Failed {
        error: String,
        settled: Option<Settled>,
    },
}

/// The version of a target that failed after it was settled (see [`Status::Failed`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Settled {
    Published(Reason),
    Unchanged(Reason),
}

impl Default for Status {
    /// Nothing published, nothing failed: what a result says before the publisher decides.
    fn default() -> Self {
        Status::Unchanged(Reason::Unchanged)
    }
}

impl Status {
    /// Every status code, in the order of the JSON Schema's enum.
    #[cfg(test)]
    pub(crate) const CODES: [&'static str; 4] =
        ["published", "unchanged", "would_publish", "failed"];

    /// The status as programs read it: the `status` of the JSON result (part of the contract,
    /// see [`Reason::code`]).
    pub fn code(&self) -> &'static str {
        match self {
            Status::Published(_) => "published",
            Status::Unchanged(_) => "unchanged",
            Status::WouldPublish(_) => "would_publish",
            Status::Failed { .. } => "failed",
        }
    }

    /// A new version published by this run stands (also when a step after it failed).
    pub fn published(&self) -> bool {
        matches!(
            self,
            Status::Published(_)
                | Status::Failed {
                    settled: Some(Settled::Published(_)),
                    ..
                }
        )
    }

    /// Why the run published or not; `None` for a target that failed before deciding.
    pub fn reason(&self) -> Option<Reason> {
        match self {
            Status::Published(r) | Status::Unchanged(r) | Status::WouldPublish(r) => Some(*r),
            Status::Failed {
                settled: Some(Settled::Published(r) | Settled::Unchanged(r)),
                ..
            } => Some(*r),
            Status::Failed { settled: None, .. } => None,
        }
    }

    /// What went wrong, for a failed target.
    pub fn error(&self) -> Option<&str> {
        match self {
            Status::Failed { error, .. } => Some(error),
            _ => None,
        }
    }
}

/// What `layerpub publish` (and `plan`) reports per layer and region: the one result value of
/// a run. Serialised as one item of the JSON result's `layers` (schema/result.schema.json):
/// `status`, `published`, `reason` and `error` are derived from [`Status`] there.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PublishResult {
    pub layer_name: String,
    pub layer_arn: Option<String>,
    /// The version published, or for an unchanged layer the existing one.
    pub layer_version_arn: Option<String>,
    pub layer_version: Option<i64>,
    pub status: Status,
    /// A plan (`plan`, `--dry-run`): nothing is written.
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
    /// What changed since the previous version, when its fingerprint document was readable.
    pub changes: Option<crate::domain::outcome::Changes>,
    pub warnings: Vec<String>,
    /// Statement IDs of the `share-with` grants this run added (none when they all existed).
    pub shared_with: Vec<String>,
    /// The functions moved onto this version (or found on it already).
    pub functions: Vec<crate::domain::follow_up::FunctionResult>,
    /// What `keep-versions` deleted after this publish.
    pub pruned: Option<crate::domain::follow_up::Pruned>,
    /// The layer's build (`build` / `build-command`): what this run built, or in a plan what
    /// it would build. `None` for a layer without a build, and when nothing was built.
    pub build: Option<BuildRecord>,
}

/// A layer's build, as the JSON result's `build` reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BuildRecord {
    /// `pip`, `uv`, `npm` or `command`.
    pub tool: String,
    /// The tool's version as it reports it (`pip 24.0` → `24.0`); `None` in a plan, and for
    /// a command.
    pub tool_version: Option<String>,
    /// The runtime built for (`python3.12`).
    pub runtime: Option<String>,
    /// `x86_64` or `arm64`.
    pub architecture: String,
    /// The platform targeted: the newest manylinux tag (pip), uv's `--python-platform`,
    /// npm's `linux-<cpu>`; `None` for a command.
    pub platform: Option<String>,
    /// How long the build took; `None` in a plan.
    pub duration_ms: Option<u64>,
}

impl PublishResult {
    /// A result before the decision: [`Status::default`] until the publisher sets it.
    pub fn new(layer_name: &str, dry_run: bool, region: &str, fingerprint: &str) -> Self {
        PublishResult {
            layer_name: layer_name.to_owned(),
            dry_run,
            fingerprint: fingerprint.to_owned(),
            region: region.to_owned(),
            ..PublishResult::default()
        }
    }

    /// A target that failed before its version was settled: only its identity is known.
    pub fn failed(
        layer_name: &str,
        dry_run: bool,
        region: &str,
        fingerprint: &str,
        error: String,
    ) -> Self {
        PublishResult {
            status: Status::Failed {
                error,
                settled: None,
            },
            ..PublishResult::new(layer_name, dry_run, region, fingerprint)
        }
    }

    /// Nothing published: the existing version `v` stands.
    pub fn unchanged(&mut self, v: &RemoteVersion, reason: Reason) {
        self.status = Status::Unchanged(reason);
        self.layer_version = Some(v.version);
        self.previous_version = Some(v.version);
        self.layer_version_arn = Some(v.layer_version_arn.clone());
        self.layer_arn = crate::domain::arn::LayerVersionArn::parse(&v.layer_version_arn)
            .map(|arn| arn.layer().to_string());
    }

    /// Lambda published the version this result decided on ([`Status::WouldPublish`]): it is
    /// now [`Status::Published`], for the same reason.
    pub(crate) fn record_published(
        &mut self,
        layer_arn: String,
        version: i64,
        version_arn: String,
    ) {
        let Status::WouldPublish(reason) = self.status else {
            unreachable!("a version is published only after the decision to publish it")
        };
        self.status = Status::Published(reason);
        self.layer_arn = Some(layer_arn);
        self.layer_version = Some(version);
        self.layer_version_arn = Some(version_arn);
    }

    /// A step after the version was settled failed (sharing, functions, pruning): the target
    /// fails, and what stood before (published or unchanged) is kept.
    pub fn fail(&mut self, error: String) {
        let settled = match &self.status {
            Status::Published(r) => Some(Settled::Published(*r)),
            Status::Unchanged(r) => Some(Settled::Unchanged(*r)),
            Status::WouldPublish(_) => None,
            Status::Failed { settled, .. } => *settled,
        };
        self.status = Status::Failed { error, settled };
    }
}

impl Serialize for PublishResult {
    /// The JSON result's keys, in the order the README lists them: `status` and its three
    /// derived keys (`published`, `reason`, `error`) come from the one [`Status`].
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct Item<'a> {
            layer_name: &'a str,
            status: &'static str,
            layer_arn: &'a Option<String>,
            layer_version_arn: &'a Option<String>,
            layer_version: Option<i64>,
            published: bool,
            dry_run: bool,
            previous_version: Option<i64>,
            fingerprint: &'a str,
            code_sha256: &'a Option<String>,
            code_size: Option<u64>,
            unzipped_size: Option<u64>,
            zip_path: &'a Option<String>,
            s3_uri: &'a Option<String>,
            region: &'a str,
            reason: Option<Reason>,
            changes: &'a Option<Changes>,
            warnings: &'a [String],
            shared_with: &'a [String],
            functions: &'a [crate::domain::follow_up::FunctionResult],
            pruned: &'a Option<crate::domain::follow_up::Pruned>,
            build: &'a Option<BuildRecord>,
            error: Option<&'a str>,
        }
        Item {
            layer_name: &self.layer_name,
            status: self.status.code(),
            layer_arn: &self.layer_arn,
            layer_version_arn: &self.layer_version_arn,
            layer_version: self.layer_version,
            published: self.status.published(),
            dry_run: self.dry_run,
            previous_version: self.previous_version,
            fingerprint: &self.fingerprint,
            code_sha256: &self.code_sha256,
            code_size: self.code_size,
            unzipped_size: self.unzipped_size,
            zip_path: &self.zip_path,
            s3_uri: &self.s3_uri,
            region: &self.region,
            reason: self.status.reason(),
            changes: &self.changes,
            warnings: &self.warnings,
            shared_with: &self.shared_with,
            functions: &self.functions,
            pruned: &self.pruned,
            build: &self.build,
            error: self.status.error(),
        }
        .serialize(s)
    }
}

impl BuildRecord {
    /// `would build with pip for python3.12 on arm64` (a plan), or `built with pip 24.0 for
    /// python3.12 on arm64 in 3.2 s`.
    pub fn describe(&self) -> String {
        let tool = match (self.tool.as_str(), &self.tool_version) {
            ("command", _) => "build-command".to_owned(),
            (t, Some(v)) => format!("{t} {v}"),
            (t, None) => t.to_owned(),
        };
        let runtime = self
            .runtime
            .as_deref()
            .map_or_else(String::new, |r| format!(" for {r}"));
        let on = format!("{tool}{runtime} on {}", self.architecture);
        match self.duration_ms {
            None => format!("would build with {on}"),
            Some(ms) => format!("built with {on} in {:.1} s", ms as f64 / 1000.0),
        }
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

/// A published layer with every field set, for the tests of the modules that render results.
#[cfg(test)]
pub(crate) fn example_result() -> PublishResult {
    PublishResult {
        layer_name: "deps".into(),
        layer_arn: Some("arn:aws:lambda:us-east-1:123456789012:layer:deps".into()),
        layer_version_arn: Some("arn:aws:lambda:us-east-1:123456789012:layer:deps:2".into()),
        layer_version: Some(2),
        status: Status::Published(Reason::ManifestChanged),
        dry_run: false,
        previous_version: Some(1),
        fingerprint: "ab".repeat(32),
        code_sha256: Some("WLZSxnGTsHhPKSv8j9f1UBbWn628NfWBHtS+k15RpCs=".into()),
        code_size: Some(2048),
        unzipped_size: Some(4096),
        zip_path: Some("deps.zip".into()),
        s3_uri: Some("s3://bucket/layerpub/deps/abc.zip".into()),
        region: "us-east-1".into(),
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

#[cfg(test)]
mod tests {

    #[test]
    fn a_build_is_described_as_planned_or_done() {
        let mut b = BuildRecord {
            tool: "command".into(),
            tool_version: None,
            runtime: None,
            architecture: "x86_64".into(),
            platform: None,
            duration_ms: None,
        };
        assert_eq!(b.describe(), "would build with build-command on x86_64");
        b.duration_ms = Some(1_050);
        assert_eq!(b.describe(), "built with build-command on x86_64 in 1.1 s");
    }

    use super::*;

    #[test]
    fn a_reason_serialises_as_its_code_and_codes_are_distinct_snake_case() {
        let mut seen = std::collections::BTreeSet::new();
        for r in Reason::ALL {
            assert_eq!(serde_json::to_value(r).unwrap(), r.code());
            assert!(
                r.code()
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b == b'_'),
                "{}",
                r.code()
            );
            assert!(seen.insert(r.code()), "{} twice", r.code());
        }
    }

    /// The committed JSON Schema is the contract: a new reason or status must be added there
    /// too (an additive change, schema_version stays 1).
    #[test]
    fn the_schema_lists_every_status_and_reason_code() {
        let schema: serde_json::Value =
            serde_json::from_str(include_str!("../../schema/result.schema.json")).unwrap();
        let codes = |v: &serde_json::Value| -> Vec<String> {
            v.as_array()
                .unwrap()
                .iter()
                .map(|c| c.as_str().unwrap().to_owned())
                .collect()
        };
        let defs = &schema["$defs"];
        assert_eq!(
            codes(&defs["reason"]["enum"]),
            Reason::ALL.map(Reason::code)
        );
        assert_eq!(
            codes(&defs["result"]["properties"]["status"]["enum"]),
            Status::CODES
        );
        let failed = Status::Failed {
            error: String::new(),
            settled: None,
        };
        let every = [
            Status::Published(Reason::Forced),
            Status::Unchanged(Reason::Unchanged),
            Status::WouldPublish(Reason::Forced),
            failed,
        ];
        assert_eq!(every.map(|s| s.code()), Status::CODES);
    }

    #[test]
    fn a_failure_keeps_what_stood_before_it() {
        let mut r = PublishResult::new("deps", false, "us-east-1", "ab");
        r.status = Status::WouldPublish(Reason::FirstVersion);
        r.record_published("arn:l".into(), 1, "arn:l:1".into());
        assert_eq!(r.status, Status::Published(Reason::FirstVersion));
        assert_eq!(r.layer_version, Some(1));
        r.fail("sharing failed".into());
        assert!(
            r.status.published(),
            "the version it published still stands"
        );
        assert_eq!(r.status.reason(), Some(Reason::FirstVersion));
        r.fail("and again".into());
        assert_eq!(r.status.error(), Some("and again"));
        assert!(r.status.published());

        let mut unchanged = PublishResult::new("deps", false, "us-east-1", "ab");
        unchanged.status = Status::Unchanged(Reason::Unchanged);
        unchanged.fail("function api not found".into());
        assert!(!unchanged.status.published());
        assert_eq!(unchanged.status.code(), "failed");
        assert_eq!(unchanged.status.reason(), Some(Reason::Unchanged));

        let early = PublishResult::failed("deps", true, "us-east-1", "ab", "denied".into());
        assert_eq!(
            (early.status.reason(), early.status.published()),
            (None, false)
        );
    }
}
