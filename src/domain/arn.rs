//! The Amazon Resource Names layerpub reads: a layer, a layer version, a function. Each is
//! parsed once, where it enters (a setting when the config is resolved, an answer from Lambda
//! where it is used), and carried typed from there: no other module splits an ARN. Pure.
//!
//! The forms, as Lambda's API reference gives them:
//! - layer: `arn:PARTITION:lambda:REGION:ACCOUNT:layer:NAME`;
//! - layer version: a layer ARN, then `:VERSION` (Lambda numbers versions from 1);
//! - function: `NAME`, `ACCOUNT:function:NAME` (partial) or
//!   `arn:PARTITION:lambda:REGION:ACCOUNT:function:NAME`, never with a `:VERSION` or `:ALIAS`
//!   qualifier: layerpub moves the function's unpublished configuration (`$LATEST`), which is
//!   the only one whose layers can change.
//!
//! Every part is kept as written and [`Display`](fmt::Display) gives back the text parsed, so
//! two ARNs are equal exactly when Lambda would say they name the same thing.

use std::fmt;
use std::str::FromStr;

/// A layer's ARN, without a version.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LayerArn {
    partition: String,
    region: String,
    account: String,
    name: String,
}

/// One version of a layer: its layer and its number.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LayerVersionArn {
    layer: LayerArn,
    version: i64,
}

/// A function the `functions` setting names: a name, a partial ARN or a full ARN. Only a full
/// ARN says its region; the others mean the function of that name in each region the layer is
/// published in.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FunctionRef {
    /// As given (trimmed): what Lambda's `FunctionName` takes, and what messages show.
    given: String,
    region: Option<String>,
}

/// Why a text is not the ARN it should be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArnError(String);

impl fmt::Display for ArnError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ArnError {}

/// The parts of `arn:PARTITION:SERVICE:REGION:ACCOUNT:RESOURCE…`: `None` unless the text
/// starts with `arn:`. The resource keeps its own colons.
struct Parts<'a> {
    partition: &'a str,
    service: &'a str,
    region: &'a str,
    account: &'a str,
    resource: &'a str,
}

fn parts(s: &str) -> Option<Parts<'_>> {
    let mut it = s.strip_prefix("arn:")?.splitn(5, ':');
    Some(Parts {
        partition: it.next()?,
        service: it.next()?,
        region: it.next()?,
        account: it.next()?,
        resource: it.next()?,
    })
}

/// The layer's fields, borrowed from `s`, when `s` is a layer ARN without a version.
fn layer_fields(s: &str) -> Option<(Parts<'_>, &str)> {
    let p = parts(s)?;
    let name = p.resource.strip_prefix("layer:")?;
    let valid = p.service == "lambda"
        && is_arn_word(p.partition)
        && is_arn_word(p.region)
        && is_account_id(p.account)
        && is_layer_name(name);
    valid.then_some((p, name))
}

/// `s` split into a layer ARN and a version number, both still text.
fn split_version(s: &str) -> Option<(&str, i64)> {
    let colon = s.rfind(':')?;
    let (layer, digits) = (&s[..colon], &s[colon + 1..]);
    // Digits only (no sign, no space), no leading zero, from 1: the numbers Lambda gives.
    let canonical = !digits.is_empty()
        && digits.bytes().all(|b| b.is_ascii_digit())
        && !digits.starts_with('0');
    let version = digits.parse::<i64>().ok().filter(|_| canonical)?;
    Some((layer, version))
}

impl LayerArn {
    /// `arn:PARTITION:lambda:REGION:ACCOUNT:layer:NAME`, Lambda's pattern for a layer ARN:
    /// partition and region letters, digits and '-', a 12-digit account, a name of letters,
    /// digits, '-' and '_'. Anything else (a version on the end, a function's ARN, a missing
    /// or extra part) is `None`.
    pub fn parse(s: &str) -> Option<LayerArn> {
        let (p, name) = layer_fields(s)?;
        Some(LayerArn {
            partition: p.partition.to_owned(),
            region: p.region.to_owned(),
            account: p.account.to_owned(),
            name: name.to_owned(),
        })
    }

    pub fn partition(&self) -> &str {
        &self.partition
    }

    pub fn region(&self) -> &str {
        &self.region
    }

    pub fn account(&self) -> &str {
        &self.account
    }

    /// The layer's plain name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Version `version` of this layer (a plan names the version it would publish).
    pub fn version(&self, version: i64) -> LayerVersionArn {
        LayerVersionArn {
            layer: self.clone(),
            version,
        }
    }
}

impl LayerVersionArn {
    /// A layer ARN followed by `:VERSION`, a whole number from 1 written without a sign or
    /// leading zeros. `None` for anything else, a layer ARN without a version included.
    pub fn parse(s: &str) -> Option<LayerVersionArn> {
        let (layer, version) = split_version(s)?;
        Some(LayerVersionArn {
            layer: LayerArn::parse(layer)?,
            version,
        })
    }

    /// The layer this is a version of.
    pub fn layer(&self) -> &LayerArn {
        &self.layer
    }

    pub fn version(&self) -> i64 {
        self.version
    }

    /// Whether this is a version of `layer`: the whole layer ARN must match, so `deps` is
    /// never taken for `deps-extra`, nor for `deps` in another account or region.
    pub(crate) fn is_version_of(&self, layer: &LayerArn) -> bool {
        &self.layer == layer
    }
}

impl FunctionRef {
    /// A function's name (1 to 64 letters, digits, '-' or '_'), partial ARN
    /// (`ACCOUNT:function:NAME`) or ARN (`arn:PARTITION:lambda:REGION:ACCOUNT:function:NAME`),
    /// without a version or alias. `Err` is the message for the `functions` setting: what is
    /// wrong and what to write instead.
    pub fn parse(s: &str) -> Result<FunctionRef, String> {
        let given = s.trim();
        let ok = |region: Option<&str>| FunctionRef {
            given: given.to_owned(),
            region: region.map(str::to_owned),
        };
        if given.starts_with("arn:") {
            let region = parts(given)
                .filter(|p| {
                    p.service == "lambda"
                        && is_arn_word(p.partition)
                        && is_region(p.region)
                        && is_account_id(p.account)
                        && p.resource
                            .strip_prefix("function:")
                            .is_some_and(is_function_name)
                })
                .map(|p| p.region);
            return if let Some(region) = region {
                Ok(ok(Some(region)))
            } else {
                Err(format!(
                    "`{given}` is not a function ARN; use arn:aws:lambda:REGION:ACCOUNT:function:NAME without a version or alias, or the function's name"
                ))
            };
        }
        let partial = given
            .split_once(":function:")
            .is_some_and(|(account, name)| is_account_id(account) && is_function_name(name));
        if partial || is_function_name(given) {
            Ok(ok(None))
        } else {
            Err(format!(
                "`{given}` is not a function name; use 1 to 64 letters, digits, '-' or '_', or the function's ARN (arn:aws:lambda:REGION:ACCOUNT:function:NAME, or ACCOUNT:function:NAME), without a version or alias"
            ))
        }
    }

    /// The reference as given: what Lambda's `FunctionName` takes.
    pub fn as_str(&self) -> &str {
        &self.given
    }

    /// The region a full ARN names; `None` for a name or a partial ARN.
    pub fn region(&self) -> Option<&str> {
        self.region.as_deref()
    }

    /// Whether the function is one to move in `region`: a full ARN only in its own region, a
    /// name or partial ARN in every region.
    pub(crate) fn is_in(&self, region: &str) -> bool {
        self.region().is_none_or(|r| r == region)
    }
}

impl fmt::Display for LayerArn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "arn:{}:lambda:{}:{}:layer:{}",
            self.partition, self.region, self.account, self.name
        )
    }
}

impl fmt::Display for LayerVersionArn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.layer, self.version)
    }
}

impl fmt::Display for FunctionRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.given)
    }
}

impl FromStr for LayerArn {
    type Err = ArnError;
    fn from_str(s: &str) -> Result<Self, ArnError> {
        LayerArn::parse(s).ok_or_else(|| {
            ArnError(format!(
                "`{s}` is not a layer ARN (arn:aws:lambda:REGION:ACCOUNT:layer:NAME, without a version)"
            ))
        })
    }
}

impl FromStr for LayerVersionArn {
    type Err = ArnError;
    fn from_str(s: &str) -> Result<Self, ArnError> {
        LayerVersionArn::parse(s).ok_or_else(|| {
            ArnError(format!(
                "`{s}` is not a layer version ARN (arn:aws:lambda:REGION:ACCOUNT:layer:NAME:VERSION)"
            ))
        })
    }
}

impl FromStr for FunctionRef {
    type Err = ArnError;
    fn from_str(s: &str) -> Result<Self, ArnError> {
        FunctionRef::parse(s).map_err(ArnError)
    }
}

/// The plain layer name in a `layer-name` value: `NAME` for a layer ARN (with or without a
/// version), else the text itself.
pub(crate) fn plain_layer_name(name_or_arn: &str) -> &str {
    let layer = split_version(name_or_arn)
        .filter(|(layer, _)| layer_fields(layer).is_some())
        .map_or(name_or_arn, |(layer, _)| layer);
    layer_fields(layer).map_or(name_or_arn, |(_, name)| name)
}

/// The account of an account's root ARN, `arn:PARTITION:iam::ACCOUNT:root` (IAM is global: no
/// region), for any `aws…` partition; the account itself is the caller's to check.
pub(crate) fn account_in_root_arn(s: &str) -> Option<&str> {
    let p = parts(s)?;
    let valid = p.partition.starts_with("aws")
        && p.service == "iam"
        && p.region.is_empty()
        && p.resource == "root";
    valid.then_some(p.account)
}

/// An AWS region's name: three or more parts of lowercase letters and digits joined by '-',
/// the last a number (`us-east-1`, `eu-central-2`, `us-gov-west-1`, `cn-north-1`).
pub(crate) fn is_region(r: &str) -> bool {
    let parts: Vec<&str> = r.split('-').collect();
    parts.len() >= 3
        && parts.iter().all(|p| {
            !p.is_empty()
                && p.bytes()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        })
        && parts
            .last()
            .is_some_and(|p| p.bytes().all(|c| c.is_ascii_digit()))
}

fn is_account_id(s: &str) -> bool {
    s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit())
}

/// Lambda's `[a-zA-Z0-9-_]+` for a layer name.
fn is_layer_name(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// A function name: 1 to 64 letters, digits, '-' or '_'.
fn is_function_name(s: &str) -> bool {
    (1..=64).contains(&s.len()) && is_layer_name(s)
}

/// `[a-zA-Z0-9-]+`: a partition, or a region as a layer ARN's pattern allows it.
fn is_arn_word(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

#[cfg(test)]
mod tests {
    use super::*;

    const LAYER: &str = "arn:aws:lambda:us-east-1:123456789012:layer:my_deps-1";

    #[test]
    fn a_layer_arn_is_read_into_its_parts_and_written_back_as_given() {
        let arn = LayerArn::parse(LAYER).unwrap();
        assert_eq!(
            (arn.partition(), arn.region(), arn.account(), arn.name()),
            ("aws", "us-east-1", "123456789012", "my_deps-1")
        );
        assert_eq!(arn.to_string(), LAYER);
    }

    #[test]
    fn other_partitions_are_layer_arns_too() {
        for arn in [
            "arn:aws-cn:lambda:cn-north-1:123456789012:layer:deps",
            "arn:aws-us-gov:lambda:us-gov-west-1:123456789012:layer:deps",
            "arn:aws-iso-b:lambda:us-isob-east-1:123456789012:layer:deps",
        ] {
            let parsed = LayerArn::parse(arn).unwrap_or_else(|| panic!("{arn}"));
            assert_eq!(parsed.to_string(), arn);
        }
        let gov = LayerArn::parse("arn:aws-us-gov:lambda:us-gov-west-1:123456789012:layer:d");
        assert_eq!(gov.unwrap().partition(), "aws-us-gov");
    }

    #[test]
    fn what_is_not_a_layer_arn() {
        for text in [
            "",
            "deps",
            "arn:",
            "arn:aws:lambda:us-east-1:123456789012:layer:",
            "arn:aws:lambda:us-east-1:123456789012:layer",
            "arn:aws:lambda:us-east-1:123456789012:deps",
            "arn:aws:lambda:us-east-1:12345:layer:deps",
            "arn:aws:lambda:us-east-1:1234567890123:layer:deps",
            "arn:aws:lambda:us-east-1:12345678901x:layer:deps",
            "arn:aws:s3:us-east-1:123456789012:layer:deps",
            "arn::lambda:us-east-1:123456789012:layer:deps",
            "arn:aws:lambda::123456789012:layer:deps",
            "arn:aws:lambda:us-east-1:123456789012:function:deps",
            "arn:aws:lambda:us-east-1:123456789012:layer:deps:3",
            "arn:aws:lambda:us-east-1:123456789012:layer:de.ps",
            "arn:aws:lambda:us-east-1:123456789012:layer:deps:",
            "arn:aws:lambda:us-east-1:123456789012:layer::deps",
            "arn:aws:lambda:us-east-1:123456789012:layer:deps::",
            " arn:aws:lambda:us-east-1:123456789012:layer:deps",
            "ARN:aws:lambda:us-east-1:123456789012:layer:deps",
        ] {
            assert_eq!(LayerArn::parse(text), None, "{text:?}");
        }
    }

    #[test]
    fn a_layer_version_arn_is_its_layer_and_a_number_from_one() {
        let v = LayerVersionArn::parse(&format!("{LAYER}:7")).unwrap();
        assert_eq!(v.layer(), &LayerArn::parse(LAYER).unwrap());
        assert_eq!(v.version(), 7);
        assert_eq!(v.to_string(), format!("{LAYER}:7"));
        let big = LayerVersionArn::parse(&format!("{LAYER}:{}", i64::MAX)).unwrap();
        assert_eq!(big.version(), i64::MAX);
        for bad in [
            "0",
            "00",
            "07",
            "-1",
            "+7",
            "x",
            "",
            "7 ",
            "1.5",
            "9223372036854775808",
        ] {
            assert_eq!(
                LayerVersionArn::parse(&format!("{LAYER}:{bad}")),
                None,
                "version {bad:?}"
            );
        }
        assert_eq!(LayerVersionArn::parse(LAYER), None, "no version");
        assert_eq!(LayerVersionArn::parse(&format!("{LAYER}:1:2")), None);
        assert_eq!(LayerVersionArn::parse("deps:1"), None);
        assert_eq!(LayerVersionArn::parse(""), None);
    }

    #[test]
    fn a_version_belongs_to_exactly_one_layer() {
        let layer: LayerArn = LAYER.parse().unwrap();
        let v = |arn: &str| LayerVersionArn::parse(arn).unwrap();
        assert!(v(&format!("{LAYER}:3")).is_version_of(&layer));
        for other in [
            "arn:aws:lambda:us-east-1:123456789012:layer:my_deps-1-extra:3",
            "arn:aws:lambda:us-east-1:123456789012:layer:my_deps:3",
            "arn:aws:lambda:us-east-1:999999999999:layer:my_deps-1:3",
            "arn:aws:lambda:eu-west-1:123456789012:layer:my_deps-1:3",
            "arn:aws-cn:lambda:us-east-1:123456789012:layer:my_deps-1:3",
        ] {
            assert!(!v(other).is_version_of(&layer), "{other}");
        }
    }

    #[test]
    fn a_function_is_a_name_a_partial_arn_or_an_arn_with_its_region() {
        let f = |s: &str| FunctionRef::parse(s).unwrap();
        assert_eq!(f("my-api_2").region(), None);
        assert_eq!(f("  api ").as_str(), "api", "trimmed");
        assert_eq!(f("123456789012:function:api").region(), None);
        let full = f("arn:aws:lambda:eu-west-1:123456789012:function:api");
        assert_eq!(full.region(), Some("eu-west-1"));
        assert_eq!(
            full.to_string(),
            "arn:aws:lambda:eu-west-1:123456789012:function:api"
        );
        assert!(full.is_in("eu-west-1") && !full.is_in("us-east-1"));
        assert!(f("api").is_in("us-east-1"));
        let cn = f("arn:aws-cn:lambda:cn-north-1:123456789012:function:api");
        assert_eq!(cn.region(), Some("cn-north-1"));
        let gov = f("arn:aws-us-gov:lambda:us-gov-west-1:123456789012:function:api");
        assert_eq!(gov.region(), Some("us-gov-west-1"));
        assert!(FunctionRef::parse(&"a".repeat(64)).is_ok());
    }

    #[test]
    fn a_function_with_a_qualifier_or_a_missing_part_is_refused_with_the_form_to_use() {
        for arn in [
            "arn:aws:lambda:eu-west-1:123456789012:function:api:live",
            "arn:aws:lambda:eu-west-1:123456789012:function:api:3",
            "arn:aws:lambda:eu-west-1:123456789012:function:",
            "arn:aws:lambda:eu-west-1:123456789012:function",
            "arn:aws:lambda:Ireland:123456789012:function:api",
            "arn:aws:lambda:eu-west-1:12345:function:api",
            "arn:aws:lambda:eu-west-1:123456789012:layer:api",
            "arn:aws:iam::123456789012:function:api",
            "arn:",
        ] {
            let e = FunctionRef::parse(arn).unwrap_err();
            assert!(
                e.starts_with(&format!(
                    "`{arn}` is not a function ARN; use arn:aws:lambda:"
                )),
                "{e}"
            );
        }
        for name in [
            "",
            "my api",
            "api:live",
            "api:3",
            "123456789012:function:api:live",
            "12345:function:api",
            "123456789012:layer:api",
            ":function:api",
        ] {
            let e = FunctionRef::parse(name).unwrap_err();
            assert!(
                e.starts_with(&format!("`{name}` is not a function name")),
                "{e}"
            );
        }
        assert!(FunctionRef::parse(&"a".repeat(65)).is_err());
    }

    #[test]
    fn the_plain_layer_name_is_the_name_in_an_arn_or_the_text_itself() {
        assert_eq!(plain_layer_name(LAYER), "my_deps-1");
        assert_eq!(plain_layer_name(&format!("{LAYER}:4")), "my_deps-1");
        assert_eq!(plain_layer_name("deps"), "deps");
        assert_eq!(plain_layer_name("deps:4"), "deps:4");
        assert_eq!(plain_layer_name("arn:aws:lambda:x"), "arn:aws:lambda:x");
    }

    #[test]
    fn an_account_root_arn_gives_its_account_in_any_aws_partition() {
        assert_eq!(
            account_in_root_arn("arn:aws:iam::123456789012:root"),
            Some("123456789012")
        );
        assert_eq!(
            account_in_root_arn("arn:aws-cn:iam::123456789012:root"),
            Some("123456789012")
        );
        for not_root in [
            "arn:aws:iam::123456789012:role/deploy",
            "arn:aws:iam:us-east-1:123456789012:root",
            "arn:aws:sts::123456789012:root",
            "arn:other:iam::123456789012:root",
            "arn:aws:iam::123456789012:root:x",
            "123456789012",
        ] {
            assert_eq!(account_in_root_arn(not_root), None, "{not_root}");
        }
    }

    #[test]
    fn region_names_have_three_parts_or_more_ending_in_a_number() {
        for r in [
            "us-east-1",
            "eu-central-2",
            "us-gov-west-1",
            "cn-north-1",
            "us-isob-east-1",
        ] {
            assert!(is_region(r), "{r}");
        }
        for r in [
            "",
            "Frankfurt",
            "us-east",
            "us-east-x",
            "US-EAST-1",
            "us--1",
            "us-east-1-",
        ] {
            assert!(!is_region(r), "{r}");
        }
    }
}
