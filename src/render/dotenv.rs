//! The GitLab dotenv report: the file a job declares under `artifacts: reports: dotenv`, whose
//! `KEY=value` lines GitLab turns into variables for later jobs. Pure: renders a string.
//!
//! GitLab's parser is stricter than the dotenv convention, and a file it rejects fails the
//! artifact upload after the layer was already published. So the file is checked here, where
//! the error can say what to change: one `KEY=value` per line, no empty lines or comments, keys
//! of `[A-Za-z0-9_]` only, values unquoted (some GitLab versions keep quotes as part of the
//! value), no line breaks or other control characters in a value (GitLab has no multi-line
//! values), no spaces at either end of a value (GitLab strips them), and at most
//! [`MAX_BYTES`] in all.
//!
//! GitLab also caps how many variables one report may hold (the `dotenv_variables` plan limit:
//! 150 by default on self-managed, lower on some GitLab.com plans, 20 at the least). That limit
//! depends on the instance, so it is not checked here; one layer gives ten keys.

use std::collections::BTreeMap;

use crate::domain::error::{Error, ForgeError};
use crate::domain::outcome::{PublishResult, Reason};

/// GitLab rejects a dotenv report larger than this (the `dotenv_size` limit, 5 KB on every
/// plan and by default on self-managed instances).
pub(crate) const MAX_BYTES: usize = 5 * 1024;

/// Every key starts with this.
const PREFIX: &str = "LAYERPUB_";

/// Renders the dotenv report of a run.
///
/// With one layer the keys are `LAYERPUB_LAYER_ARN`, `LAYERPUB_LAYER_VERSION_ARN`,
/// `LAYERPUB_LAYER_VERSION`, `LAYERPUB_PUBLISHED` (`true`/`false`), `LAYERPUB_PREVIOUS_VERSION`,
/// `LAYERPUB_FINGERPRINT`, `LAYERPUB_CODE_SHA256`, `LAYERPUB_CODE_SIZE`, `LAYERPUB_REASON` (the
/// JSON spelling, e.g. `manifest_changed`) and `LAYERPUB_REGION`; a value that is not known
/// (no version before a first publish, no zip when unchanged, no reason for a target that
/// failed before deciding) is empty.
///
/// With several layers each layer gets the same keys followed by `_` and its [`key_suffix`]:
/// `py-deps` gives `LAYERPUB_LAYER_VERSION_ARN_PY_DEPS`. A layer published in several regions
/// adds the region the same way: `LAYERPUB_LAYER_VERSION_ARN_PY_DEPS_EU_WEST_1`, or with one
/// layer `LAYERPUB_LAYER_VERSION_ARN_EU_WEST_1`. Two layers whose keys would coincide
/// (`py-deps` and `py_deps`) are refused rather than one silently overwriting the other.
pub fn dotenv(results: &[PublishResult]) -> Result<String, Error> {
    let mut owners: BTreeMap<String, &str> = BTreeMap::new();
    let mut out = String::new();
    let count = |name: &str| results.iter().filter(|r| r.layer_name == name).count();
    let several_layers = results
        .iter()
        .any(|r| r.layer_name != results[0].layer_name);
    for r in results {
        let mut suffix = String::new();
        if several_layers {
            suffix += &format!("_{}", key_suffix(&r.layer_name));
        }
        if count(&r.layer_name) > 1 {
            suffix += &format!("_{}", key_suffix(&r.region));
        }
        for (field, value) in fields(r) {
            let key = format!("{PREFIX}{field}{suffix}");
            if let Some(other) = owners.insert(key.clone(), &r.layer_name) {
                return Err(collision(&key, other, &r.layer_name));
            }
            check_value(&key, &value, &r.layer_name)?;
            out += &format!("{key}={value}\n");
        }
    }
    if out.len() > MAX_BYTES {
        return Err(Error::bad_input(format!(
            "dotenv-file: the report for {} layers is {} bytes, over GitLab's dotenv limit of {MAX_BYTES} bytes (5 KB), \
             and GitLab would reject it; publish fewer layers per job, or unset dotenv-file",
            results.len(),
            out.len()
        )));
    }
    Ok(out)
}

/// The part of a key that names a layer when a run has several: the layer's name (for a layer
/// ARN, the name after `:layer:`), upper-cased, with every character other than `A`–`Z` and
/// `0`–`9` replaced by `_`. `py-deps` → `PY_DEPS`; `arn:aws:lambda:…:layer:node-deps` →
/// `NODE_DEPS`.
pub(crate) fn key_suffix(layer_name: &str) -> String {
    crate::domain::arn::plain_layer_name(layer_name)
        .chars()
        .map(|c| match c.to_ascii_uppercase() {
            u @ ('A'..='Z' | '0'..='9') => u,
            _ => '_',
        })
        .collect()
}

/// The key (without prefix or suffix) and value of every line, in the order written.
fn fields(r: &PublishResult) -> [(&'static str, String); 10] {
    let text = |v: &Option<String>| v.clone().unwrap_or_default();
    let number = |v: Option<i64>| v.map(|n| n.to_string()).unwrap_or_default();
    [
        ("LAYER_ARN", text(&r.layer_arn)),
        ("LAYER_VERSION_ARN", text(&r.layer_version_arn)),
        ("LAYER_VERSION", number(r.layer_version)),
        ("PUBLISHED", r.status.published().to_string()),
        ("PREVIOUS_VERSION", number(r.previous_version)),
        ("FINGERPRINT", r.fingerprint.clone()),
        ("CODE_SHA256", text(&r.code_sha256)),
        (
            "CODE_SIZE",
            r.code_size.map(|n| n.to_string()).unwrap_or_default(),
        ),
        // The JSON's spelling (`manifest_changed`), so a job reading these variables and one
        // reading `--output json` compare against the same words; empty for a target that
        // failed before deciding.
        (
            "REASON",
            r.status
                .reason()
                .map(Reason::code)
                .unwrap_or_default()
                .to_owned(),
        ),
        ("REGION", r.region.clone()),
    ]
}

/// Refuses a value GitLab would cut, strip or reject instead of passing it on.
fn check_value(key: &str, value: &str, layer: &str) -> Result<(), Error> {
    let problem = if value.contains(crate::domain::text::is_line_break) {
        "a line break"
    } else if value.chars().any(crate::domain::text::needs_escape) {
        "a control character"
    } else if value.trim() != value {
        "spaces at its start or end"
    } else {
        return Ok(());
    };
    Err(Error::GitLab(ForgeError::failure(format!(
        "dotenv-file: the value of {key} for layer `{layer}` contains {problem}, which a GitLab \
         dotenv report cannot carry; it was not written: `{}`",
        crate::domain::text::visible(value)
    ))))
}

fn collision(key: &str, first: &str, second: &str) -> Error {
    Error::bad_input(format!(
        "dotenv-file: layers `{first}` and `{second}` both give the key {key} (a key names its \
         layer in upper case with `_` for every other character); rename one of them, or unset \
         dotenv-file"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::error::EXIT_BAD_INPUT;
    use crate::domain::outcome::Status;

    fn result(name: &str) -> PublishResult {
        let arn = format!("arn:aws:lambda:eu-west-1:123456789012:layer:{name}");
        PublishResult {
            layer_name: name.into(),
            layer_arn: Some(arn.clone()),
            layer_version_arn: Some(format!("{arn}:3")),
            layer_version: Some(3),
            status: Status::Published(Reason::ManifestChanged),
            dry_run: false,
            previous_version: Some(2),
            fingerprint: "ab".repeat(32),
            code_sha256: Some("WLZSxnGTsHhPKSv8j9f1UBbWn628NfWBHtS+k15RpCs=".into()),
            code_size: Some(288),
            unzipped_size: Some(174),
            zip_path: Some(format!("{name}.zip")),
            s3_uri: None,
            region: "eu-west-1".into(),
            changes: None,
            warnings: vec![],
            ..Default::default()
        }
    }

    #[test]
    fn one_layer_gives_unsuffixed_keys_in_a_fixed_order() {
        let fp = "ab".repeat(32);
        assert_eq!(
            dotenv(&[result("deps")]).unwrap(),
            format!(
                "LAYERPUB_LAYER_ARN=arn:aws:lambda:eu-west-1:123456789012:layer:deps\n\
                 LAYERPUB_LAYER_VERSION_ARN=arn:aws:lambda:eu-west-1:123456789012:layer:deps:3\n\
                 LAYERPUB_LAYER_VERSION=3\n\
                 LAYERPUB_PUBLISHED=true\n\
                 LAYERPUB_PREVIOUS_VERSION=2\n\
                 LAYERPUB_FINGERPRINT={fp}\n\
                 LAYERPUB_CODE_SHA256=WLZSxnGTsHhPKSv8j9f1UBbWn628NfWBHtS+k15RpCs=\n\
                 LAYERPUB_CODE_SIZE=288\n\
                 LAYERPUB_REASON=manifest_changed\n\
                 LAYERPUB_REGION=eu-west-1\n"
            )
        );
    }

    #[test]
    fn a_layer_in_several_regions_suffixes_keys_with_the_region() {
        let mut us = result("deps");
        us.region = "us-east-1".into();
        let text = dotenv(&[result("deps"), us.clone()]).unwrap();
        assert!(
            text.contains("LAYERPUB_LAYER_VERSION_EU_WEST_1=3\n"),
            "{text}"
        );
        assert!(
            text.contains("LAYERPUB_REGION_US_EAST_1=us-east-1\n"),
            "{text}"
        );
        let text = dotenv(&[result("deps"), us, result("tools")]).unwrap();
        assert!(
            text.contains("LAYERPUB_PUBLISHED_DEPS_US_EAST_1=true\n"),
            "{text}"
        );
        assert!(text.contains("LAYERPUB_PUBLISHED_TOOLS=true\n"), "{text}");
    }

    #[test]
    fn unknown_values_are_empty_and_nothing_is_quoted() {
        let mut r = result("deps");
        (r.layer_arn, r.layer_version_arn, r.layer_version) = (None, None, None);
        (r.previous_version, r.code_sha256, r.code_size) = (None, None, None);
        (r.status, r.dry_run) = (Status::WouldPublish(Reason::FirstVersion), true);
        r.region = String::new();
        let text = dotenv(&[r]).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        for empty in [
            "LAYER_ARN",
            "LAYER_VERSION_ARN",
            "LAYER_VERSION",
            "PREVIOUS_VERSION",
            "CODE_SHA256",
            "CODE_SIZE",
            "REGION",
        ] {
            let line = format!("LAYERPUB_{empty}=");
            assert!(lines.contains(&line.as_str()), "{line} missing: {text}");
        }
        assert!(text.contains("LAYERPUB_PUBLISHED=false\n"), "{text}");
        assert!(text.contains("LAYERPUB_REASON=first_version\n"), "{text}");
        assert!(!text.contains(['"', '\'']), "{text}");
    }

    #[test]
    fn published_and_reason_come_from_the_status() {
        let mut r = result("deps");
        r.fail("function api not found".into());
        let text = dotenv(std::slice::from_ref(&r)).unwrap();
        assert!(text.contains("LAYERPUB_PUBLISHED=true\n"), "{text}");
        assert!(
            text.contains("LAYERPUB_REASON=manifest_changed\n"),
            "{text}"
        );
        r.status = Status::Unchanged(Reason::PublishedConcurrently);
        let text = dotenv(&[r]).unwrap();
        assert!(text.contains("LAYERPUB_PUBLISHED=false\n"), "{text}");
        assert!(
            text.contains("LAYERPUB_REASON=published_concurrently\n"),
            "{text}"
        );
        let early = PublishResult::failed("deps", false, "eu-west-1", "ab", "denied".into());
        let text = dotenv(&[early]).unwrap();
        assert!(text.contains("LAYERPUB_REASON=\n"), "{text}");
        assert!(text.contains("LAYERPUB_PUBLISHED=false\n"), "{text}");
    }

    #[test]
    fn several_layers_suffix_every_key_with_the_layer_name() {
        let text = dotenv(&[result("py-deps"), result("node_deps")]).unwrap();
        let keys: Vec<&str> = text.lines().map(|l| l.split_once('=').unwrap().0).collect();
        assert_eq!(keys.len(), 20);
        assert_eq!(keys[0], "LAYERPUB_LAYER_ARN_PY_DEPS");
        assert_eq!(keys[19], "LAYERPUB_REGION_NODE_DEPS");
        assert!(text.contains(
            "LAYERPUB_LAYER_VERSION_ARN_PY_DEPS=arn:aws:lambda:eu-west-1:123456789012:layer:py-deps:3\n"
        ));
        assert!(!keys.contains(&"LAYERPUB_LAYER_ARN"), "{text}");
    }

    #[test]
    fn keys_are_sanitised_to_letters_digits_and_underscores() {
        assert_eq!(key_suffix("py-deps"), "PY_DEPS");
        assert_eq!(key_suffix("Deps2.x"), "DEPS2_X");
        assert_eq!(key_suffix("naïve"), "NA_VE");
        assert_eq!(
            key_suffix("arn:aws:lambda:eu-west-1:123456789012:layer:node-deps"),
            "NODE_DEPS"
        );
        assert_eq!(
            key_suffix("arn:aws:lambda:eu-west-1:123456789012:layer:node-deps:4"),
            "NODE_DEPS"
        );
        let text = dotenv(&[result("a.b"), result("c-d")]).unwrap();
        for line in text.lines() {
            let key = line.split_once('=').unwrap().0;
            assert!(
                key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'),
                "{key}"
            );
        }
    }

    #[test]
    fn layers_whose_keys_coincide_are_refused() {
        let err = dotenv(&[result("py-deps"), result("py_deps")]).unwrap_err();
        assert_eq!(err.exit_code(), EXIT_BAD_INPUT);
        let message = err.to_string();
        assert!(message.contains("`py-deps` and `py_deps`"), "{message}");
        assert!(message.contains("LAYERPUB_LAYER_ARN_PY_DEPS"), "{message}");
        // `x` and `arn-x` collide across fields: LAYER_VERSION + _ARN_X = LAYER_VERSION_ARN + _X.
        let err = dotenv(&[result("x"), result("arn-x")]).unwrap_err();
        assert!(
            err.to_string().contains("LAYERPUB_LAYER_VERSION_ARN_X"),
            "{err}"
        );
    }

    #[test]
    fn a_value_with_a_newline_is_refused_not_written() {
        for bad in [
            "eu-west-1\nINJECTED=1",
            "eu-west-1\r",
            "eu\u{7}west",
            " eu-west-1",
        ] {
            let mut r = result("deps");
            r.region = bad.into();
            let err = dotenv(&[r]).unwrap_err();
            let message = err.to_string();
            assert!(message.contains("LAYERPUB_REGION"), "{message}");
            assert!(message.contains("`deps`"), "{message}");
        }
    }

    #[test]
    fn a_report_over_five_kilobytes_is_refused_naming_the_limit() {
        let layers = |n: usize| -> Vec<PublishResult> {
            (0..n).map(|i| result(&format!("layer-{i}"))).collect()
        };
        let (mut n, mut fits) = (2, String::new());
        while let Ok(text) = dotenv(&layers(n)) {
            (fits, n) = (text, n + 1);
        }
        // n - 1 layers fit, and one more would cross the limit: the size stopped it.
        assert!(n > 2 && fits.len() <= MAX_BYTES, "{n} layers");
        assert!(fits.len() + fits.len() / (n - 1) > MAX_BYTES, "{n} layers");
        let err = dotenv(&layers(n)).unwrap_err();
        assert_eq!(err.exit_code(), EXIT_BAD_INPUT);
        assert!(err.to_string().contains("5120 bytes"), "{err}");
        assert!(err.to_string().contains("GitLab's dotenv limit"), "{err}");
    }

    #[test]
    fn no_results_give_an_empty_file() {
        assert_eq!(dotenv(&[]).unwrap(), "");
    }
}
