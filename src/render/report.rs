//! Rendering of results: text for people (stderr), one JSON document for programs (stdout).
//! Pure: builds strings, writes nothing.

use serde::Serialize;

use crate::config::LayerConfig;
use crate::domain::follow_up::FunctionOutcome;
use crate::domain::outcome::{PublishResult, Status, code_sha256};
use crate::domain::text::human_bytes;
use crate::package::Packaged;
use crate::package::fingerprint::FingerprintDocument;

/// What `layerpub package` reports per layer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct PackageReport {
    pub layer_name: String,
    pub zip_path: String,
    /// Base64 of the zip's SHA-256: the form Lambda reports as `CodeSha256`.
    pub code_sha256: String,
    pub code_size: u64,
    pub unzipped_size: u64,
    pub file_count: u64,
    pub fingerprint: String,
    pub warnings: Vec<String>,
}

impl PackageReport {
    pub fn new(layer: &LayerConfig, p: &Packaged) -> Self {
        PackageReport {
            layer_name: layer.layer_name.clone(),
            zip_path: p.zip_path.display().to_string(),
            code_sha256: code_sha256(&p.sha256),
            code_size: p.code_size,
            unzipped_size: p.unzipped_size,
            file_count: p.file_count,
            fingerprint: p.fingerprint.clone(),
            warnings: p.warnings.clone(),
        }
    }
}

/// What `layerpub fingerprint` reports per layer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct FingerprintReport {
    pub layer_name: String,
    pub fingerprint: String,
    pub document: FingerprintDocument,
}

/// The text report of one publish (or plan).
pub fn publish_text(r: &PublishResult) -> String {
    let version = |v: Option<i64>| v.map_or_else(|| "none".to_owned(), |v| v.to_string());
    let mut s = match &r.status {
        Status::Failed { error, .. } => {
            format!("failed: {} in {}: {error}\n", r.layer_name, r.region)
        }
        Status::Unchanged(_) if r.dry_run => format!(
            "plan: {} is unchanged (version {}); nothing to publish\n",
            r.layer_name,
            version(r.layer_version)
        ),
        Status::WouldPublish(reason) => format!(
            "plan: {} would publish a new version ({}); newest now: {}\n",
            r.layer_name,
            reason.describe(),
            version(r.previous_version)
        ),
        Status::Published(reason) => format!(
            "published {} version {} ({})\n",
            r.layer_name,
            version(r.layer_version),
            reason.describe()
        ),
        Status::Unchanged(reason) => format!(
            "{} unchanged: version {} stands ({})\n",
            r.layer_name,
            version(r.layer_version),
            reason.describe()
        ),
    };
    let mut row = |k: &str, v: &str| s += &format!("  {k:<13}{v}\n");
    if let Some(arn) = &r.layer_version_arn {
        row("arn", arn);
    }
    row("region", &r.region);
    if let Some(b) = &r.build {
        row("build", &b.describe());
    }
    row("fingerprint", &r.fingerprint);
    if let Some(sha) = &r.code_sha256 {
        row("CodeSha256", sha);
    }
    if let (Some(size), Some(unzipped)) = (r.code_size, r.unzipped_size) {
        row(
            "size",
            &format!(
                "{} zipped, {} unzipped",
                human_bytes(size),
                human_bytes(unzipped)
            ),
        );
    }
    if let Some(uri) = &r.s3_uri {
        row("s3", uri);
    }
    // A plan's follow-up is what the run would do: said so on every row.
    let (shared, function, pruned) = if r.dry_run {
        ("would share", "would move", "would prune")
    } else {
        ("shared", "function", "pruned")
    };
    if !r.shared_with.is_empty() {
        s += &format!("  {shared:<13}{}\n", r.shared_with.join(", "));
    }
    for f in &r.functions {
        let mut what = match (&f.outcome, r.dry_run) {
            (FunctionOutcome::Updated, true) => format!(
                "from {}",
                f.previous_layer_version_arn
                    .as_deref()
                    .unwrap_or("no version of this layer")
            ),
            (outcome, _) => outcome.describe().to_owned(),
        };
        if let Some(v) = &f.function_version_arn {
            what += &format!(", version {v}");
        }
        s += &format!("  {function:<13}{}: {what}\n", f.function);
    }
    if let Some(p) = r.pruned.as_ref().filter(|p| !p.deleted.is_empty()) {
        let list: Vec<String> = p.deleted.iter().map(i64::to_string).collect();
        s += &format!("  {pruned:<13}{}\n", list.join(", "));
    }
    for w in &r.warnings {
        s += &format!("warning: {w}\n");
    }
    s
}

/// The text report of `layerpub prune` for one layer in one region.
pub(crate) fn prune_text(r: &crate::publish::PruneReport) -> String {
    let list = |v: &[i64]| match v {
        [] => "none".to_owned(),
        v => v.iter().map(i64::to_string).collect::<Vec<_>>().join(", "),
    };
    if let Some(e) = &r.error {
        return format!("failed: pruning {} in {}: {e}\n", r.layer_name, r.region);
    }
    let verb = if r.dry_run { "would delete" } else { "deleted" };
    let mut s = format!(
        "{} in {}: {verb} {}\n",
        r.layer_name,
        r.region,
        list(&r.pruned.deleted)
    );
    s += &format!("  kept         {}\n", list(&r.pruned.kept));
    if !r.pruned.protected_in_use.is_empty() {
        s += &format!(
            "  in use       {} (kept: a function uses them)\n",
            list(&r.pruned.protected_in_use)
        );
    }
    s
}

/// The text report of one packaged layer.
pub(crate) fn package_text(r: &PackageReport) -> String {
    let mut s = format!("packaged {} into {}\n", r.layer_name, r.zip_path);
    s += &format!("  files        {}\n", r.file_count);
    s += &format!(
        "  unzipped     {} ({} bytes)\n",
        human_bytes(r.unzipped_size),
        r.unzipped_size
    );
    s += &format!(
        "  zip          {} ({} bytes)\n",
        human_bytes(r.code_size),
        r.code_size
    );
    s += &format!("  CodeSha256   {}\n", r.code_sha256);
    s += &format!("  fingerprint  {}\n", r.fingerprint);
    for w in &r.warnings {
        s += &format!("warning: {w}\n");
    }
    s
}

/// The version of every JSON document layerpub prints (`--output json` of every command, and
/// the `result-json` step output). It stays 1 while changes are additive (a new key, a new
/// code in an enum); removing or renaming a key or changing its type bumps it, announced in
/// the README. schema/*.schema.json describe the documents of this version.
pub(crate) const SCHEMA_VERSION: u32 = 1;

/// One JSON document: `{"schema_version": 1, "layers": [...]}`, one item per layer (and, for
/// `publish`, `plan` and `prune`, per region), whatever their number, so a consumer's path to
/// a value does not change when a layer or a region is added.
///
/// It goes to stdout, where the GitHub runner looks for workflow commands on every line: JSON
/// escapes line breaks, and `##[` (the legacy command form, run wherever it appears in a
/// line) is written `##\u005b`, the same string to every JSON reader. Credentials in a URL
/// are replaced by `***`.
pub fn json<T: Serialize>(items: &[T]) -> String {
    #[derive(Serialize)]
    struct Document<'a, T> {
        schema_version: u32,
        layers: &'a [T],
    }
    let text = serde_json::to_string_pretty(&Document {
        schema_version: SCHEMA_VERSION,
        layers: items,
    })
    .expect("reports always serialise");
    crate::domain::text::redact_url_credentials(&text).replace("##[", "##\\u005b") + "\n"
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::outcome::{Reason, example_result};

    fn report() -> PackageReport {
        PackageReport {
            layer_name: "deps".into(),
            zip_path: "deps.zip".into(),
            code_sha256: code_sha256(&[0; 32]),
            code_size: 2048,
            unzipped_size: 10,
            file_count: 1,
            fingerprint: "ab".repeat(32),
            warnings: vec!["careful".into()],
        }
    }

    fn publish_result() -> PublishResult {
        example_result()
    }

    #[test]
    fn publish_text_says_what_happened_and_why() {
        let mut r = publish_result();
        assert!(publish_text(&r).starts_with("published deps version 2 (manifest changed)\n  arn          arn:aws:lambda:us-east-1:123456789012:layer:deps:2\n"));
        r.status = Status::Unchanged(Reason::Unchanged);
        assert!(publish_text(&r).starts_with("deps unchanged: version 2 stands (unchanged)\n"));
        r.dry_run = true;
        assert!(
            publish_text(&r)
                .starts_with("plan: deps is unchanged (version 2); nothing to publish\n")
        );
        r.status = Status::WouldPublish(Reason::SettingsChanged);
        assert!(publish_text(&r).starts_with(
            "plan: deps would publish a new version (settings changed); newest now: 1\n"
        ));
        r.fail("no bucket".into());
        assert!(publish_text(&r).starts_with("failed: deps in us-east-1: no bucket\n"));
    }

    #[test]
    fn publish_json_has_the_documented_fields() {
        let doc: serde_json::Value = serde_json::from_str(&json(&[publish_result()])).unwrap();
        let v = &doc["layers"][0];
        for field in [
            "layer_name",
            "status",
            "layer_arn",
            "layer_version_arn",
            "layer_version",
            "published",
            "previous_version",
            "fingerprint",
            "code_sha256",
            "code_size",
            "unzipped_size",
            "s3_uri",
            "region",
            "reason",
        ] {
            assert!(v.get(field).is_some(), "{field} missing");
        }
        assert_eq!(v["reason"], "manifest_changed");
        assert_eq!(v["status"], "published");
    }

    /// `status`, `published`, `reason` and `error` all come from the one [`Status`].
    #[test]
    fn the_status_keys_are_derived_from_the_one_status() {
        let item = |r: &PublishResult| -> serde_json::Value {
            let doc: serde_json::Value =
                serde_json::from_str(&json(std::slice::from_ref(r))).unwrap();
            let i = &doc["layers"][0];
            serde_json::json!([i["status"], i["published"], i["reason"], i["error"]])
        };
        let mut r = publish_result();
        assert_eq!(
            item(&r),
            serde_json::json!(["published", true, "manifest_changed", null])
        );
        r.fail("function api not found".into());
        assert_eq!(
            item(&r),
            serde_json::json!(["failed", true, "manifest_changed", "function api not found"]),
            "a failure after the publish keeps the published version and its reason"
        );
        r.status = Status::Unchanged(Reason::PublishedConcurrently);
        assert_eq!(
            item(&r),
            serde_json::json!(["unchanged", false, "published_concurrently", null])
        );
        r.status = Status::WouldPublish(Reason::NoMarker);
        assert_eq!(
            item(&r),
            serde_json::json!(["would_publish", false, "no_marker", null])
        );
        let failed = PublishResult::failed("deps", true, "eu-west-1", "ab", "denied".into());
        assert_eq!(
            item(&failed),
            serde_json::json!(["failed", false, null, "denied"]),
            "a target that failed before deciding has no reason"
        );
    }

    #[test]
    fn layer_arn_drops_the_version() {
        let version: crate::domain::arn::LayerVersionArn =
            "arn:aws:lambda:us-east-1:123456789012:layer:deps:12"
                .parse()
                .unwrap();
        assert_eq!(
            version.layer().to_string(),
            "arn:aws:lambda:us-east-1:123456789012:layer:deps"
        );
    }

    #[test]
    fn code_sha256_is_padded_standard_base64() {
        assert_eq!(
            code_sha256(&[0; 32]),
            "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="
        );
    }

    #[test]
    fn text_report_lists_sizes_hashes_and_warnings() {
        let t = package_text(&report());
        assert!(t.starts_with("packaged deps into deps.zip\n"), "{t}");
        assert!(t.contains("  zip          2.0 KiB (2048 bytes)\n"), "{t}");
        assert!(t.ends_with("warning: careful\n"), "{t}");
    }

    #[test]
    fn json_is_one_versioned_envelope_whatever_the_number_of_layers() {
        let one: serde_json::Value = serde_json::from_str(&json(&[report()])).unwrap();
        assert_eq!(one["schema_version"], SCHEMA_VERSION);
        assert_eq!(one["layers"][0]["code_size"], 2048);
        let two: serde_json::Value = serde_json::from_str(&json(&[report(), report()])).unwrap();
        assert_eq!(two["layers"].as_array().unwrap().len(), 2);
        let keys =
            |v: &serde_json::Value| v.as_object().unwrap().keys().cloned().collect::<Vec<_>>();
        assert_eq!(keys(&one), ["layers", "schema_version"]);
        assert_eq!(keys(&two), keys(&one));
    }

    #[test]
    fn json_on_stdout_cannot_hold_a_legacy_workflow_command() {
        let mut r = example_result();
        r.warnings = vec!["x ##[set-output name=published;]hacked".into()];
        let text = json(&[r.clone()]);
        assert!(!text.contains("##["), "{text}");
        let back: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(back["layers"][0]["warnings"][0], r.warnings[0].as_str());
    }

    #[test]
    fn a_plan_says_what_its_follow_up_would_do() {
        let mut r = example_result();
        r.dry_run = true;
        r.shared_with = vec!["layerpub-111122223333".into()];
        r.functions = vec![crate::domain::follow_up::FunctionResult {
            function: "api".into(),
            outcome: FunctionOutcome::Updated,
            previous_layer_version_arn: Some(
                "arn:aws:lambda:us-east-1:123456789012:layer:deps:1".into(),
            ),
            function_version_arn: None,
            alias_arn: None,
            attempts: 1,
        }];
        r.pruned = Some(crate::domain::follow_up::Pruned {
            deleted: vec![1],
            protected_in_use: vec![],
            kept: vec![2],
        });
        let text = publish_text(&r);
        assert!(
            text.contains("  would share  layerpub-111122223333\n"),
            "{text}"
        );
        assert!(
            text.contains(
                "  would move   api: from arn:aws:lambda:us-east-1:123456789012:layer:deps:1\n"
            ),
            "{text}"
        );
        assert!(text.contains("  would prune  1\n"), "{text}");
        r.dry_run = false;
        let text = publish_text(&r);
        assert!(
            text.contains("  function     api: moved onto this version\n"),
            "{text}"
        );
        assert!(text.contains("  pruned       1\n"), "{text}");
    }
}
