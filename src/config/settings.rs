//! The settings a user can give, as they arrive from one source (flags, environment or file),
//! before they are merged and checked. Pure: no I/O.
//!
//! One struct serves all three sources so that a setting's name can never differ between them:
//! clap derives the `--kebab-case` flags, serde reads the same `kebab-case` keys from YAML, and
//! `env` maps `LAYERPUB_SNAKE_CASE` / `INPUT_KEBAB-CASE` variables onto those keys.

use std::fmt;
use std::path::PathBuf;

use clap::{Args, ValueEnum};
use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde::{Deserialize, Serialize};

/// Every user-facing setting. `None` means "not given by this source".
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Args)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct Settings {
    /// Name of the Lambda layer (letters, digits, '-' and '_'; or the layer's ARN).
    #[arg(long, global = true, value_name = "NAME")]
    pub layer_name: Option<String>,

    /// Folder whose contents become the layer.
    #[arg(long, global = true, value_name = "DIR")]
    pub path: Option<PathBuf>,

    /// Folder inside the zip the contents go under, e.g. `python` for a site-packages folder.
    #[arg(long, global = true, value_name = "DIR")]
    pub prefix: Option<String>,

    /// Only package files matching these globs (repeat the flag for several).
    #[arg(long, global = true, value_name = "GLOB")]
    #[serde(default, deserialize_with = "string_list")]
    pub include: Option<Vec<String>>,

    /// Leave out files and folders matching these globs, in addition to the default excludes.
    #[arg(long, global = true, value_name = "GLOB")]
    #[serde(default, deserialize_with = "string_list")]
    pub exclude: Option<Vec<String>>,

    /// Apply the default excludes (`__pycache__/`, `*.pyc`, `.git/`, `.DS_Store`).
    #[arg(long, global = true, value_name = "BOOL")]
    #[serde(default, deserialize_with = "flexible_bool")]
    pub default_excludes: Option<bool>,

    /// Dependency lock files whose contents decide when a new version is needed.
    #[arg(long, global = true, value_name = "FILE")]
    #[serde(default, deserialize_with = "string_list")]
    pub manifest: Option<Vec<String>>,

    /// Lambda runtimes the layer supports (at most 15), comma-separated.
    #[arg(long, global = true, value_name = "RUNTIME", value_delimiter = ',')]
    #[serde(default, deserialize_with = "string_list")]
    pub compatible_runtimes: Option<Vec<String>>,

    /// Instruction set architectures: `x86_64`, `arm64`, or both.
    #[arg(long, global = true, value_name = "ARCH", value_delimiter = ',')]
    #[serde(default, deserialize_with = "string_list")]
    pub compatible_architectures: Option<Vec<String>>,

    /// The layer's software license (an SPDX identifier, a URL, or its full text; 512 at most).
    #[arg(long, global = true, value_name = "TEXT")]
    pub license_info: Option<String>,

    /// Description of the layer version.
    #[arg(long, global = true, value_name = "TEXT")]
    pub description: Option<String>,

    /// Build the layer from `manifest` for Lambda's platform: `pip` or `uv` (a requirements
    /// file), `npm` (a package-lock.json). Runs only when a new version is published.
    #[arg(long, global = true, value_name = "TOOL")]
    pub build: Option<BuildTool>,

    /// Build the layer with this shell command instead (run with `sh -c` in the working
    /// directory); it fills `$LAYERPUB_BUILD_DIR`, which becomes the layer's folder.
    #[arg(long, global = true, value_name = "COMMAND")]
    pub build_command: Option<String>,

    /// What to do with symbolic links inside `path`.
    #[arg(long, global = true, value_name = "POLICY")]
    pub symlinks: Option<SymlinkPolicy>,

    /// What to do with native files that cannot load on Lambda as the layer declares it
    /// (another architecture, a newer glibc, musl, macOS or Windows, another CPython):
    /// `error` (default) refuses the layer, `warn` reports them, `off` does not look.
    #[arg(long, global = true, value_name = "POLICY")]
    pub native_check: Option<NativeCheck>,

    /// Where the zip is written (default `<layer-name>.zip` in the working directory).
    #[arg(long, global = true, value_name = "FILE")]
    pub zip_path: Option<PathBuf>,

    /// AWS region to publish in (default: the SDK's, from AWS_REGION or the profile).
    #[arg(long, global = true, value_name = "REGION")]
    pub region: Option<String>,

    /// Several regions to publish the same layer in, comma-separated (instead of `region`).
    /// Packaged once; decided, uploaded and published per region.
    #[arg(long, global = true, value_name = "REGION", value_delimiter = ',')]
    #[serde(default, deserialize_with = "string_list")]
    pub regions: Option<Vec<String>>,

    /// Send AWS calls to this URL instead (an emulator such as moto); also AWS_ENDPOINT_URL.
    #[arg(long, global = true, value_name = "URL")]
    pub endpoint_url: Option<String>,

    /// S3 bucket the zip is uploaded to; without one, zips up to 50 MB are published inline.
    /// `{region}` in the name is replaced by each region (a bucket serves its own region only).
    #[arg(long, global = true, value_name = "BUCKET")]
    pub s3_bucket: Option<String>,

    /// Key prefix for uploads (default `layerpub/`).
    #[arg(long, global = true, value_name = "PREFIX")]
    pub s3_prefix: Option<String>,

    /// Publish even when the fingerprint is unchanged.
    #[arg(long, global = true, value_name = "BOOL", num_args = 0..=1, default_missing_value = "true")]
    #[serde(default, deserialize_with = "flexible_bool")]
    pub force: Option<bool>,

    /// Only say what would be done, calling only read APIs (same as `layerpub plan`).
    #[arg(long, global = true, value_name = "BOOL", num_args = 0..=1, default_missing_value = "true")]
    #[serde(default, deserialize_with = "flexible_bool")]
    pub dry_run: Option<bool>,

    /// Seconds after which another run's unfinished claim on a fingerprint counts as stale
    /// (default 900).
    #[arg(long, global = true, value_name = "SECONDS")]
    pub claim_timeout: Option<u64>,

    /// Share every version layerpub publishes: account IDs, an organization ID (`o-…`), or `*`
    /// for everyone (only with allow-public), comma-separated.
    #[arg(long, global = true, value_name = "PRINCIPAL", value_delimiter = ',')]
    #[serde(default, deserialize_with = "string_list")]
    pub share_with: Option<Vec<String>>,

    /// Allow `share-with: *`, which makes the layer usable by every AWS account.
    #[arg(long, global = true, value_name = "BOOL", num_args = 0..=1, default_missing_value = "true")]
    #[serde(default, deserialize_with = "flexible_bool")]
    pub allow_public: Option<bool>,

    /// After publishing, delete older versions beyond the newest N.
    #[arg(long, global = true, value_name = "N")]
    pub keep_versions: Option<u32>,

    /// Never prune a version a function in the region still uses (default true).
    #[arg(long, global = true, value_name = "BOOL", num_args = 0..=1, default_missing_value = "true")]
    #[serde(default, deserialize_with = "flexible_bool")]
    pub protect_in_use: Option<bool>,

    /// Functions (names or ARNs) to move onto the new version, comma-separated.
    #[arg(long, global = true, value_name = "FUNCTION", value_delimiter = ',')]
    #[serde(default, deserialize_with = "string_list")]
    pub functions: Option<Vec<String>>,

    /// Add the layer to a listed function that does not use it yet (default false).
    #[arg(long, global = true, value_name = "BOOL", num_args = 0..=1, default_missing_value = "true")]
    #[serde(default, deserialize_with = "flexible_bool")]
    pub add_to_functions: Option<bool>,

    /// Publish a function version after moving a function onto the new layer version.
    #[arg(long, global = true, value_name = "BOOL", num_args = 0..=1, default_missing_value = "true")]
    #[serde(default, deserialize_with = "flexible_bool")]
    pub publish_function_version: Option<bool>,

    /// Point this alias of each function at the function version just published.
    #[arg(long, global = true, value_name = "NAME")]
    pub alias: Option<String>,

    // Run-level from here to `allow-outside-workspace` (see `config::RUN_SETTINGS`): one value
    // for the whole run, from flags, environment or the file's top level; refused inside a
    // `layers:` entry.
    /// Token for the pull-request comment (the action passes `github.token`). Never logged.
    #[arg(long, global = true, value_name = "TOKEN")]
    pub github_token: Option<crate::domain::secret::Secret>,

    /// Post or update the sticky pull-request / merge-request comment (default true).
    #[arg(long, global = true, value_name = "BOOL", num_args = 0..=1, default_missing_value = "true")]
    #[serde(default, deserialize_with = "flexible_bool")]
    pub comment: Option<bool>,

    /// The pull request to comment on, when the event does not say (e.g. `workflow_dispatch`).
    #[arg(long, global = true, value_name = "NUMBER")]
    pub pr_number: Option<u64>,

    /// Write the results as a dotenv file (GitLab `artifacts: reports: dotenv`).
    #[arg(long, global = true, value_name = "FILE")]
    pub dotenv_file: Option<PathBuf>,

    /// The most variables the dotenv report may hold (default 20, GitLab's default per-report
    /// limit; GitLab.com plans allow more). Checked before anything is published.
    #[arg(long, global = true, value_name = "N")]
    pub dotenv_max_variables: Option<u32>,

    /// `variables` (ten per layer and region) or `json` (one variable, LAYERPUB_RESULTS_JSON,
    /// for many layers or regions).
    #[arg(long, global = true, value_name = "FORMAT")]
    pub dotenv_format: Option<DotenvFormat>,

    /// Let manifests and `path` lie outside the workspace (GITHUB_WORKSPACE, CI_PROJECT_DIR,
    /// else the working directory). Not accepted in the config file.
    #[arg(long, global = true, value_name = "BOOL", num_args = 0..=1, default_missing_value = "true")]
    #[serde(default, deserialize_with = "flexible_bool")]
    pub allow_outside_workspace: Option<bool>,

    /// Several layers in one file; the settings above them are their shared defaults.
    #[arg(skip)]
    #[serde(default)]
    pub layers: Option<Vec<Settings>>,
}

/// How the dotenv report carries the results.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize, ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum DotenvFormat {
    /// Ten variables per layer and region (`LAYERPUB_LAYER_VERSION_ARN`, …).
    #[default]
    Variables,
    /// One variable, `LAYERPUB_RESULTS_JSON`: a compact JSON array, one item per target.
    Json,
}

/// The package tool that builds a layer from its lock file for Lambda's platform.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize, Serialize, ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum BuildTool {
    /// `pip install --target` with pip's platform targeting, from a requirements file.
    Pip,
    /// `uv pip install --target` with uv's platform targeting, from a requirements file.
    Uv,
    /// `npm ci --omit=dev --os=linux --cpu=…`, from a package-lock.json.
    Npm,
}

impl BuildTool {
    pub fn as_str(self) -> &'static str {
        match self {
            BuildTool::Pip => "pip",
            BuildTool::Uv => "uv",
            BuildTool::Npm => "npm",
        }
    }
}

/// How symbolic links inside the layer folder are packaged. A link whose target lies outside
/// the folder is always an error: it would dangle once the layer is unpacked in `/opt`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize, ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum SymlinkPolicy {
    /// Store the link itself (Lambda unpacks it as a link).
    #[default]
    Preserve,
    /// Store the file or folder the link points to.
    Follow,
    /// Refuse any link.
    Error,
}

impl SymlinkPolicy {
    pub fn as_str(self) -> &'static str {
        match self {
            SymlinkPolicy::Preserve => "preserve",
            SymlinkPolicy::Follow => "follow",
            SymlinkPolicy::Error => "error",
        }
    }
}

/// What packaging does with native files that cannot load on Lambda (`package::native`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize, ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum NativeCheck {
    /// Refuse the layer (exit 2, before anything is uploaded), listing every finding.
    #[default]
    Error,
    /// Publish, with every finding in the result's warnings.
    Warn,
    /// Do not inspect the files.
    Off,
}

impl NativeCheck {
    pub fn as_str(self) -> &'static str {
        match self {
            NativeCheck::Error => "error",
            NativeCheck::Warn => "warn",
            NativeCheck::Off => "off",
        }
    }
}

macro_rules! overlay_fields {
    ($low:ident, $high:ident, $($field:ident),+ $(,)?) => {
        Settings { $($field: $high.$field.or($low.$field),)+ }
    };
}

impl Settings {
    /// `self` with every setting that `higher` gives replaced by its value.
    pub(crate) fn overlay(self, higher: Settings) -> Settings {
        let low = self;
        overlay_fields!(
            low,
            higher,
            layer_name,
            path,
            prefix,
            include,
            exclude,
            default_excludes,
            manifest,
            compatible_runtimes,
            compatible_architectures,
            license_info,
            description,
            build,
            build_command,
            symlinks,
            native_check,
            zip_path,
            region,
            regions,
            endpoint_url,
            s3_bucket,
            s3_prefix,
            force,
            dry_run,
            claim_timeout,
            share_with,
            allow_public,
            keep_versions,
            protect_in_use,
            functions,
            add_to_functions,
            publish_function_version,
            alias,
            github_token,
            comment,
            pr_number,
            dotenv_file,
            dotenv_max_variables,
            dotenv_format,
            allow_outside_workspace,
            layers,
        )
    }

    /// The kebab-case names of every setting, as the YAML file, `--flags` and `INPUT_*` spell
    /// them. Read off serde's own field list so it can never fall behind the struct.
    pub fn names() -> &'static [&'static str] {
        struct FieldNames(Option<&'static [&'static str]>);
        impl<'de> Deserializer<'de> for &mut FieldNames {
            type Error = de::value::Error;
            fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Self::Error> {
                Err(de::Error::custom("field names only"))
            }
            fn deserialize_struct<V: Visitor<'de>>(
                self,
                _: &'static str,
                fields: &'static [&'static str],
                _: V,
            ) -> Result<V::Value, Self::Error> {
                self.0 = Some(fields);
                Err(de::Error::custom("field names only"))
            }
            serde::forward_to_deserialize_any! {
                bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes
                byte_buf option unit unit_struct newtype_struct seq tuple tuple_struct map enum
                identifier ignored_any
            }
        }
        let mut names = FieldNames(None);
        let _ = Settings::deserialize(&mut names);
        names.0.unwrap_or(&[])
    }
}

/// Splits a one-string list: by new lines when there are any (the form of a multi-line GitHub
/// input), else by commas outside `{…}` so that a glob such as `*.{pyc,pyo}` stays whole.
pub(crate) fn split_list(value: &str) -> Vec<String> {
    let parts: Vec<&str> = if value.contains('\n') {
        value.lines().collect()
    } else {
        let mut parts = Vec::new();
        let (mut depth, mut start) = (0usize, 0usize);
        for (i, c) in value.char_indices() {
            match c {
                '{' => depth += 1,
                '}' => depth = depth.saturating_sub(1),
                ',' if depth == 0 => {
                    parts.push(&value[start..i]);
                    start = i + 1;
                }
                _ => {}
            }
        }
        parts.push(&value[start..]);
        parts
    };
    parts
        .into_iter()
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(str::to_owned)
        .collect()
}

/// A list given either as a YAML sequence or as one string (see [`split_list`]).
fn string_list<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<String>>, D::Error> {
    struct ListVisitor;
    impl<'de> Visitor<'de> for ListVisitor {
        type Value = Option<Vec<String>>;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str(
                "a list of strings, or one string with items separated by commas or new lines",
            )
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
            Ok(Some(split_list(v)))
        }
        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
            d.deserialize_any(self)
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
            let mut items = Vec::new();
            while let Some(item) = seq.next_element::<String>()? {
                items.push(item);
            }
            Ok(Some(items))
        }
    }
    d.deserialize_any(ListVisitor)
}

/// A boolean given as YAML `true`/`false` or as the strings a CI variable holds.
fn flexible_bool<'de, D: Deserializer<'de>>(d: D) -> Result<Option<bool>, D::Error> {
    struct BoolVisitor;
    impl<'de> Visitor<'de> for BoolVisitor {
        type Value = Option<bool>;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("true or false")
        }
        fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
            Ok(Some(v))
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
            parse_bool(v)
                .map(Some)
                .ok_or_else(|| E::invalid_value(de::Unexpected::Str(v), &self))
        }
        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
            d.deserialize_any(self)
        }
    }
    d.deserialize_any(BoolVisitor)
}

/// The spellings of true and false that CI systems and people use.
pub(crate) fn parse_bool(v: &str) -> Option<bool> {
    match v.trim().to_ascii_lowercase().as_str() {
        "true" | "yes" | "on" | "1" => Some(true),
        "false" | "no" | "off" | "0" => Some(false),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_lists_every_setting_in_kebab_case() {
        let names = Settings::names();
        assert!(names.contains(&"layer-name"));
        assert!(names.contains(&"compatible-runtimes"));
        assert!(names.contains(&"zip-path"));
        assert!(names.contains(&"layers"));
        assert!(names.iter().all(|n| !n.contains('_')));
    }

    #[test]
    fn split_list_uses_new_lines_first_then_commas_outside_braces() {
        assert_eq!(split_list("a, b ,,c"), ["a", "b", "c"]);
        assert_eq!(split_list("*.{pyc,pyo},tests/"), ["*.{pyc,pyo}", "tests/"]);
        assert_eq!(split_list("a,b\nc\n\n"), ["a,b", "c"]);
        assert!(split_list("  ").is_empty());
    }

    #[test]
    fn overlay_prefers_the_higher_source_and_keeps_the_rest() {
        let low = Settings {
            layer_name: Some("low".into()),
            prefix: Some("python".into()),
            ..Settings::default()
        };
        let high = Settings {
            layer_name: Some("high".into()),
            ..Settings::default()
        };
        let merged = low.overlay(high);
        assert_eq!(merged.layer_name.as_deref(), Some("high"));
        assert_eq!(merged.prefix.as_deref(), Some("python"));
    }

    #[test]
    fn parse_bool_accepts_ci_spellings() {
        assert_eq!(parse_bool("TRUE"), Some(true));
        assert_eq!(parse_bool("0"), Some(false));
        assert_eq!(parse_bool("maybe"), None);
    }
}
