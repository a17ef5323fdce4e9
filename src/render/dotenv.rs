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
//! GitLab also caps how many variables one report may hold (the `dotenv_variables` limit: 20
//! by default on self-managed instances, 50 to 150 on GitLab.com plans). That limit depends on
//! the instance, so it is the `dotenv-max-variables` setting; `dotenv-format: json` writes one
//! variable however many targets the run has.
//!
//! Both limits are checked twice: before anything is published ([`check_fits`], on a report
//! of the run's targets with every value at its longest), so a run that GitLab would refuse
//! fails before its first AWS write; and on the real report ([`dotenv`]).
//!
//! The names come from [`crate::domain::report_names`], which keeps them apart from the
//! settings' names: GitLab passes them on to every later job.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::config::settings::DotenvFormat;
use crate::config::{LayerConfig, RunConfig};
use crate::domain::error::{Error, ForgeError};
use crate::domain::outcome::{PublishResult, Reason, Status};
use crate::domain::report_names::{FIELDS, PREFIX, RESULTS_JSON};

/// GitLab rejects a dotenv report larger than this (the `dotenv_size` limit, 5 KB on every
/// plan and by default on self-managed instances).
pub(crate) const MAX_BYTES: usize = 5 * 1024;

/// The shape and the limits of a run's dotenv report (`dotenv-format`,
/// `dotenv-max-variables`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shape {
    pub format: DotenvFormat,
    pub max_variables: usize,
}

impl Shape {
    pub fn of(run: &RunConfig) -> Shape {
        Shape {
            format: run.dotenv_format,
            max_variables: run.dotenv_max_variables,
        }
    }
}

/// Renders the dotenv report of a run.
///
/// `variables` form, one layer: the keys are `LAYERPUB_LAYER_ARN`, `LAYERPUB_LAYER_VERSION_ARN`,
/// `LAYERPUB_LAYER_VERSION`, `LAYERPUB_PUBLISHED` (`true`/`false`), `LAYERPUB_PREVIOUS_VERSION`,
/// `LAYERPUB_FINGERPRINT`, `LAYERPUB_CODE_SHA256`, `LAYERPUB_CODE_SIZE`, `LAYERPUB_REASON` (the
/// JSON spelling, e.g. `manifest_changed`) and `LAYERPUB_LAYER_REGION`; a value that is not
/// known (no version before a first publish, no zip when unchanged, no reason for a target that
/// failed before deciding) is empty.
///
/// With several layers each layer gets the same keys followed by `_` and its [`key_suffix`]:
/// `py-deps` gives `LAYERPUB_LAYER_VERSION_ARN_PY_DEPS`. A layer published in several regions
/// adds the region the same way: `LAYERPUB_LAYER_VERSION_ARN_PY_DEPS_EU_WEST_1`, or with one
/// layer `LAYERPUB_LAYER_VERSION_ARN_EU_WEST_1`. Two layers whose keys would coincide
/// (`py-deps` and `py_deps`) are refused rather than one silently overwriting the other.
///
/// `json` form: one line, `LAYERPUB_RESULTS_JSON=[…]`, a compact JSON array with one object per
/// target (see [`JsonItem`]).
pub fn dotenv(results: &[PublishResult], shape: Shape) -> Result<String, Error> {
    let (out, variables) = match shape.format {
        DotenvFormat::Variables => variables(results)?,
        DotenvFormat::Json => (json(results), 1),
    };
    if variables > shape.max_variables {
        return Err(Error::bad_input(format!(
            "dotenv-file: the report for {} would hold {variables} variables, over              dotenv-max-variables ({}), and GitLab would reject it; set dotenv-format: json              (one variable), raise dotenv-max-variables to your GitLab instance's              `dotenv_variables` limit, or publish fewer layers per job",
            targets(results.len()),
            shape.max_variables
        )));
    }
    if out.len() > MAX_BYTES {
        let fix = match shape.format {
            DotenvFormat::Variables => "set dotenv-format: json (about a third of the size), ",
            DotenvFormat::Json => "",
        };
        return Err(Error::bad_input(format!(
            "dotenv-file: the report for {} can be {} bytes, over GitLab's dotenv limit of              {MAX_BYTES} bytes (5 KB), and GitLab would reject it; {fix}publish fewer layers              per job, or unset dotenv-file",
            targets(results.len()),
            out.len()
        )));
    }
    Ok(out)
}

/// Before anything is published: whether the report of `layers` fits the limits with every
/// value at its longest (version numbers of ten digits, the longest partition and reason, …),
/// so that a run GitLab would refuse stops before its first AWS write, with the same message.
pub fn check_fits(layers: &[LayerConfig], shape: Shape) -> Result<(), Error> {
    let mut longest = Vec::new();
    for layer in layers {
        // Without regions the SDK's region applies, and keys carry no region: any name does.
        let regions = match layer.regions.as_slice() {
            [] => vec!["xx-xxxxxxxxx-1".to_owned()],
            some => some.to_vec(),
        };
        for region in regions {
            longest.push(longest_result(&layer.layer_name, &region));
        }
    }
    dotenv(&longest, shape).map(drop)
}

/// A result for `layer` in `region` whose every value is as long as it can be.
fn longest_result(layer: &str, region: &str) -> PublishResult {
    let name = crate::domain::arn::plain_layer_name(layer);
    let arn = format!("arn:aws-us-gov:lambda:{region}:123456789012:layer:{name}");
    let version = 9_999_999_999;
    PublishResult {
        layer_version_arn: Some(format!("{arn}:{version}")),
        layer_arn: Some(arn),
        layer_version: Some(version),
        previous_version: Some(version),
        status: Status::Unchanged(Reason::PublishedConcurrently),
        code_sha256: Some("x".repeat(44)),
        code_size: Some(9_999_999_999),
        ..PublishResult::new(layer, false, region, &"f".repeat(64))
    }
}

fn targets(n: usize) -> String {
    match n {
        1 => "1 layer and region".to_owned(),
        n => format!("{n} layers and regions"),
    }
}

/// The `variables` form and its number of variables.
fn variables(results: &[PublishResult]) -> Result<(String, usize), Error> {
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
        for (field, value) in FIELDS.iter().zip(values(r)) {
            let key = format!("{PREFIX}{field}{suffix}");
            if let Some(other) = owners.insert(key.clone(), &r.layer_name) {
                return Err(collision(&key, other, &r.layer_name));
            }
            check_value(&key, &value, &r.layer_name)?;
            out += &format!("{key}={value}\n");
        }
    }
    Ok((out, owners.len()))
}

/// One target in the `json` form: what a later job needs to use or compare the version. The
/// rest (hashes, sizes, changes) is in `--output json`.
#[derive(Debug, Serialize)]
struct JsonItem<'a> {
    layer_name: &'a str,
    region: &'a str,
    layer_version_arn: Option<&'a str>,
    layer_version: Option<i64>,
    published: bool,
    previous_version: Option<i64>,
    reason: Option<&'static str>,
}

/// The `json` form: one line, JSON escapes every control character, so no value can break it.
fn json(results: &[PublishResult]) -> String {
    let items: Vec<JsonItem<'_>> = results
        .iter()
        .map(|r| JsonItem {
            layer_name: &r.layer_name,
            region: &r.region,
            layer_version_arn: r.layer_version_arn.as_deref(),
            layer_version: r.layer_version,
            published: r.status.published(),
            previous_version: r.previous_version,
            reason: r.status.reason().map(Reason::code),
        })
        .collect();
    let text = serde_json::to_string(&items).unwrap_or_else(|_| "[]".to_owned());
    format!("{RESULTS_JSON}={text}\n")
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

/// The value of every field of [`FIELDS`], in its order.
fn values(r: &PublishResult) -> [String; 10] {
    let text = |v: &Option<String>| v.clone().unwrap_or_default();
    let number = |v: Option<i64>| v.map(|n| n.to_string()).unwrap_or_default();
    [
        text(&r.layer_arn),
        text(&r.layer_version_arn),
        number(r.layer_version),
        r.status.published().to_string(),
        number(r.previous_version),
        r.fingerprint.clone(),
        text(&r.code_sha256),
        r.code_size.map(|n| n.to_string()).unwrap_or_default(),
        // The JSON's spelling (`manifest_changed`), so a job reading these variables and one
        // reading `--output json` compare against the same words; empty for a target that
        // failed before deciding.
        r.status
            .reason()
            .map(Reason::code)
            .unwrap_or_default()
            .to_owned(),
        r.region.clone(),
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

    /// No count limit: the tests of the variables' names and values.
    const WIDE: Shape = Shape {
        format: DotenvFormat::Variables,
        max_variables: usize::MAX,
    };

    fn render(results: &[PublishResult]) -> Result<String, Error> {
        dotenv(results, WIDE)
    }

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
            render(&[result("deps")]).unwrap(),
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
                 LAYERPUB_LAYER_REGION=eu-west-1\n"
            )
        );
    }

    #[test]
    fn a_layer_in_several_regions_suffixes_keys_with_the_region() {
        let mut us = result("deps");
        us.region = "us-east-1".into();
        let text = render(&[result("deps"), us.clone()]).unwrap();
        assert!(
            text.contains("LAYERPUB_LAYER_VERSION_EU_WEST_1=3\n"),
            "{text}"
        );
        assert!(
            text.contains("LAYERPUB_LAYER_REGION_US_EAST_1=us-east-1\n"),
            "{text}"
        );
        let text = render(&[result("deps"), us, result("tools")]).unwrap();
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
        let text = render(&[r]).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        for empty in [
            "LAYER_ARN",
            "LAYER_VERSION_ARN",
            "LAYER_VERSION",
            "PREVIOUS_VERSION",
            "CODE_SHA256",
            "CODE_SIZE",
            "LAYER_REGION",
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
        let text = render(std::slice::from_ref(&r)).unwrap();
        assert!(text.contains("LAYERPUB_PUBLISHED=true\n"), "{text}");
        assert!(
            text.contains("LAYERPUB_REASON=manifest_changed\n"),
            "{text}"
        );
        r.status = Status::Unchanged(Reason::PublishedConcurrently);
        let text = render(&[r]).unwrap();
        assert!(text.contains("LAYERPUB_PUBLISHED=false\n"), "{text}");
        assert!(
            text.contains("LAYERPUB_REASON=published_concurrently\n"),
            "{text}"
        );
        let early = PublishResult::failed("deps", false, "eu-west-1", "ab", "denied".into());
        let text = render(&[early]).unwrap();
        assert!(text.contains("LAYERPUB_REASON=\n"), "{text}");
        assert!(text.contains("LAYERPUB_PUBLISHED=false\n"), "{text}");
    }

    #[test]
    fn several_layers_suffix_every_key_with_the_layer_name() {
        let text = render(&[result("py-deps"), result("node_deps")]).unwrap();
        let keys: Vec<&str> = text.lines().map(|l| l.split_once('=').unwrap().0).collect();
        assert_eq!(keys.len(), 20);
        assert_eq!(keys[0], "LAYERPUB_LAYER_ARN_PY_DEPS");
        assert_eq!(keys[19], "LAYERPUB_LAYER_REGION_NODE_DEPS");
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
        let text = render(&[result("a.b"), result("c-d")]).unwrap();
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
        let err = render(&[result("py-deps"), result("py_deps")]).unwrap_err();
        assert_eq!(err.exit_code(), EXIT_BAD_INPUT);
        let message = err.to_string();
        assert!(message.contains("`py-deps` and `py_deps`"), "{message}");
        assert!(message.contains("LAYERPUB_LAYER_ARN_PY_DEPS"), "{message}");
        // `x` and `arn-x` collide across fields: LAYER_VERSION + _ARN_X = LAYER_VERSION_ARN + _X.
        let err = render(&[result("x"), result("arn-x")]).unwrap_err();
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
            let err = render(&[r]).unwrap_err();
            let message = err.to_string();
            assert!(message.contains("LAYERPUB_LAYER_REGION"), "{message}");
            assert!(message.contains("`deps`"), "{message}");
        }
    }

    #[test]
    fn a_report_over_five_kilobytes_is_refused_naming_the_limit() {
        let layers = |n: usize| -> Vec<PublishResult> {
            (0..n).map(|i| result(&format!("layer-{i}"))).collect()
        };
        let (mut n, mut fits) = (2, String::new());
        while let Ok(text) = render(&layers(n)) {
            (fits, n) = (text, n + 1);
        }
        // n - 1 layers fit, and one more would cross the limit: the size stopped it.
        assert!(n > 2 && fits.len() <= MAX_BYTES, "{n} layers");
        assert!(fits.len() + fits.len() / (n - 1) > MAX_BYTES, "{n} layers");
        let err = render(&layers(n)).unwrap_err();
        assert_eq!(err.exit_code(), EXIT_BAD_INPUT);
        assert!(err.to_string().contains("5120 bytes"), "{err}");
        assert!(err.to_string().contains("GitLab's dotenv limit"), "{err}");
    }

    fn shape(format: DotenvFormat, max_variables: usize) -> Shape {
        Shape {
            format,
            max_variables,
        }
    }

    #[test]
    fn a_report_with_more_variables_than_allowed_is_refused_naming_the_fixes() {
        let two = [result("a"), result("b")];
        assert!(dotenv(&two, shape(DotenvFormat::Variables, 20)).is_ok());
        let three = [result("a"), result("b"), result("c")];
        let err = dotenv(&three, shape(DotenvFormat::Variables, 20)).unwrap_err();
        assert_eq!(err.exit_code(), EXIT_BAD_INPUT);
        let message = err.to_string();
        for part in [
            "3 layers and regions would hold 30 variables",
            "dotenv-max-variables (20)",
            "dotenv-format: json",
        ] {
            assert!(message.contains(part), "{part}: {message}");
        }
        assert!(dotenv(&three, shape(DotenvFormat::Variables, 30)).is_ok());
        assert!(dotenv(&three, shape(DotenvFormat::Json, 1)).is_ok());
    }

    #[test]
    fn the_json_form_is_one_line_that_parses_back_to_every_target() {
        let mut us = result("deps");
        us.region = "us-east-1\nLAYERPUB_INJECTED=1".into();
        let text = dotenv(
            &[result("deps"), us, result("tools")],
            shape(DotenvFormat::Json, 1),
        )
        .unwrap();
        assert_eq!(text.lines().count(), 1, "{text}");
        let value = text.strip_prefix("LAYERPUB_RESULTS_JSON=").expect(&text);
        let items: serde_json::Value = serde_json::from_str(value.trim_end()).unwrap();
        let items = items.as_array().unwrap();
        assert_eq!(items.len(), 3);
        assert_eq!(items[1]["region"], "us-east-1\nLAYERPUB_INJECTED=1");
        assert_eq!(items[2]["layer_name"], "tools");
        assert_eq!(
            items[0]["layer_version_arn"],
            "arn:aws:lambda:eu-west-1:123456789012:layer:deps:3"
        );
        assert_eq!(items[0]["published"], true);
        assert_eq!(items[0]["reason"], "manifest_changed");
        assert_eq!(items[0]["previous_version"], 2);
    }

    fn layers(names: &[&str], regions: &[&str]) -> Vec<LayerConfig> {
        let flags = crate::config::settings::Settings {
            layer_name: Some("x".into()),
            path: Some("layer".into()),
            ..Default::default()
        };
        let one = crate::config::resolve(None, Default::default(), flags)
            .unwrap()
            .layers
            .remove(0);
        names
            .iter()
            .map(|n| LayerConfig {
                layer_name: (*n).into(),
                regions: regions.iter().map(|r| (*r).to_owned()).collect(),
                ..one.clone()
            })
            .collect()
    }

    #[test]
    fn before_publishing_a_report_that_could_exceed_a_limit_is_refused() {
        let regions = ["us-east-1", "eu-west-1"];
        // 3 layers × 2 regions: 60 variables, over GitLab's default 20.
        let err = check_fits(
            &layers(&["a", "b", "c"], &regions),
            shape(DotenvFormat::Variables, 20),
        )
        .unwrap_err();
        assert!(err.to_string().contains("60 variables"), "{err}");
        // 5 layers × 2 regions: over 5 KB even when the count is allowed.
        let five = layers(&["a1", "b2", "c3", "d4", "e5"], &regions);
        let err = check_fits(&five, shape(DotenvFormat::Variables, 1000)).unwrap_err();
        assert!(err.to_string().contains("5120 bytes"), "{err}");
        assert!(err.to_string().contains("dotenv-format: json"), "{err}");
        // The compact form carries them.
        check_fits(&five, shape(DotenvFormat::Json, 20)).unwrap();
        check_fits(&layers(&["a"], &[]), shape(DotenvFormat::Variables, 20)).unwrap();
    }

    #[test]
    fn the_check_before_publishing_measures_values_at_their_longest() {
        // Whatever a real run reports, the report checked before publishing was no shorter.
        for format in [DotenvFormat::Variables, DotenvFormat::Json] {
            let real = dotenv(&[result("deps")], shape(format, 100)).unwrap();
            let longest =
                dotenv(&[longest_result("deps", "eu-west-1")], shape(format, 100)).unwrap();
            assert!(real.len() < longest.len(), "{real}\n{longest}");
        }
    }

    #[test]
    fn no_results_give_an_empty_file() {
        assert_eq!(render(&[]).unwrap(), "");
    }
}
