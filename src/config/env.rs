//! The environment, and the settings it gives. Pure: [`Env`] is built once, by `main`, from
//! the process environment; nothing in the library reads the process environment itself
//! (but `build::run`, which looks up the build tool on PATH and runs it in the process
//! environment as it is, as the user's own shell would).
//!
//! One rule for every variable layerpub reads (settings, the runners' `GITHUB_*` / `CI_*`
//! variables, tokens, `SOURCE_DATE_EPOCH`): **the value is trimmed of surrounding white space
//! (line breaks included), and a value that is empty once trimmed counts as unset**. The
//! GitHub runner passes every input the user did not give as an empty string, and a token or a
//! number pasted with a trailing line break means the same without it.
//!
//! Two spellings map onto the same setting:
//! - `LAYERPUB_LAYER_NAME`: the name in upper snake case (shell, GitLab CI);
//! - `INPUT_LAYER-NAME`: how the GitHub runner passes action inputs, hyphens kept
//!   (`INPUT_LAYER_NAME` is accepted too).
//!
//! A step input (`INPUT_*`) outranks the job's `LAYERPUB_*`. An unknown `LAYERPUB_*` name is
//! an error (a typo must not be ignored); an unknown `INPUT_*` name is ignored, since that
//! namespace belongs to the runner.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::fmt;

use serde::Deserialize;
use serde::de::value::MapDeserializer;
use serde::de::{self, IntoDeserializer, Visitor};

use crate::config::settings::{Settings, split_list};
use crate::domain::error::{ConfigError, Problem};
use crate::domain::report_names::is_report_variable;

/// `LAYERPUB_*` variables that are not settings: they steer the program itself
/// (`LAYERPUB_TEST_TIMEOUT_SECS` only in tests: see `aws::ClientOptions::from_env`).
pub(crate) const RESERVED: &[&str] = &[
    "LAYERPUB_CONFIG",
    "LAYERPUB_LOG",
    "LAYERPUB_TEST_TIMEOUT_SECS",
];

/// The variables layerpub reads besides `LAYERPUB_*` and `INPUT_*`: the runners' (GitHub,
/// GitLab) and `SOURCE_DATE_EPOCH`. `AWS_*` too, which the AWS SDK reads for layerpub (and
/// would take as unset when not UTF-8).
pub(crate) const READ: &[&str] = &[
    "GITHUB_ACTIONS",
    "GITHUB_API_URL",
    "GITHUB_EVENT_NAME",
    "GITHUB_EVENT_PATH",
    "GITHUB_OUTPUT",
    "GITHUB_REPOSITORY",
    "GITHUB_SHA",
    "GITHUB_STEP_SUMMARY",
    "GITHUB_WORKSPACE",
    "GITLAB_CI",
    "GITLAB_TOKEN",
    "CI_API_V4_URL",
    "CI_COMMIT_SHA",
    "CI_MERGE_REQUEST_IID",
    "CI_PROJECT_DIR",
    "CI_PIPELINE_SOURCE",
    "CI_PROJECT_ID",
    "SOURCE_DATE_EPOCH",
];

/// Whether layerpub (or the AWS SDK on its behalf) reads the variable `name`.
pub(crate) fn is_read(name: &str) -> bool {
    ["LAYERPUB_", "INPUT_", "AWS_"]
        .iter()
        .any(|p| name.starts_with(p))
        || READ.contains(&name)
}

/// The environment of a run: every variable with a UTF-8 name and value, each looked up by
/// the one rule of this module (trimmed; empty means unset). Built once, by `main`; tests
/// build their own with [`Env::from_pairs`].
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Env {
    /// Only the set ones, trimmed.
    vars: BTreeMap<String, String>,
}

/// The names only: the values hold tokens and AWS keys.
impl fmt::Debug for Env {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.vars.keys()).finish()
    }
}

impl Env {
    /// The process environment as text. A variable layerpub reads must be UTF-8: its value is
    /// a problem, naming the variable (not showing the value, which may be a secret), rather
    /// than read with U+FFFD in place of its bytes. Variables layerpub does not read, whatever
    /// their bytes, are left out. The environment is returned with the problems, so that they
    /// can be reported the way this environment asks (an annotation on GitHub).
    pub fn from_os<I>(vars: I) -> (Env, Vec<EnvProblem>)
    where
        I: IntoIterator<Item = (OsString, OsString)>,
    {
        let (env, problems) = utf8_pairs(vars);
        (Env::from_pairs(env), problems)
    }

    /// An environment from name–value pairs; a name given twice takes its last value, as
    /// setting a variable again does.
    pub fn from_pairs<I, K, V>(vars: I) -> Env
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: AsRef<str>,
    {
        let mut map = BTreeMap::new();
        for (name, value) in vars {
            let (name, value) = (name.into(), value.as_ref().trim());
            if value.is_empty() {
                map.remove(&name);
            } else {
                map.insert(name, value.to_owned());
            }
        }
        Env { vars: map }
    }

    /// The variable's value, trimmed; `None` when it is unset, empty or only white space.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.vars.get(name).map(String::as_str)
    }

    /// Whether the variable says `true`, as the runners set `GITHUB_ACTIONS` and `GITLAB_CI`.
    pub(crate) fn is_true(&self, name: &str) -> bool {
        self.get(name) == Some("true")
    }

    /// Whether this is a GitHub Actions job (`GITHUB_ACTIONS=true`).
    pub fn on_github(&self) -> bool {
        self.is_true("GITHUB_ACTIONS")
    }

    /// Every set variable, by name, trimmed.
    pub fn vars(&self) -> impl Iterator<Item = (&str, &str)> {
        self.vars.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// The settings the variables give (see [`settings_from_env`]).
    pub fn settings(&self) -> Result<Settings, Vec<EnvProblem>> {
        settings_from_env(self.vars())
    }
}

/// The variables with UTF-8 names and values, and a problem for each one layerpub reads whose
/// value is not UTF-8.
fn utf8_pairs<I>(vars: I) -> (Vec<(String, String)>, Vec<EnvProblem>)
where
    I: IntoIterator<Item = (OsString, OsString)>,
{
    let mut env = Vec::new();
    let mut problems = Vec::new();
    for (name, value) in vars {
        let Ok(name) = name.into_string() else {
            continue;
        };
        match value.into_string() {
            Ok(value) => env.push((name, value)),
            Err(value) if is_read(&name) => {
                // Where the first invalid byte is (counted from 1), so the user can find it;
                // never the value.
                let at = std::str::from_utf8(value.as_encoded_bytes())
                    .err()
                    .map_or(0, |e| e.valid_up_to())
                    + 1;
                problems.push(EnvProblem {
                    message: format!(
                        "is not valid UTF-8 (byte {at}); layerpub reads its variables as UTF-8 text: set it in UTF-8 (e.g. convert with `iconv -f latin1 -t utf-8`)"
                    ),
                    variable: name,
                });
            }
            Err(_) => {}
        }
    }
    problems.sort_by(|a, b| a.variable.cmp(&b.variable));
    (env, problems)
}

/// The `LAYERPUB_*` variable of a setting: `dotenv-file` → `LAYERPUB_DOTENV_FILE`.
pub(crate) fn variable_name(setting: &str) -> String {
    format!(
        "LAYERPUB_{}",
        setting.to_ascii_uppercase().replace('-', "_")
    )
}

/// One environment variable that could not be read as a setting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvProblem {
    pub variable: String,
    pub message: String,
}

impl fmt::Display for EnvProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.variable, self.message)
    }
}

/// Reads every setting the variables give. All problems are reported, not just the first.
pub fn settings_from_env<I, K, V>(vars: I) -> Result<Settings, Vec<EnvProblem>>
where
    I: IntoIterator<Item = (K, V)>,
    K: AsRef<str>,
    V: AsRef<str>,
{
    let names = Settings::names();
    let mut from_layerpub = Settings::default();
    let mut from_inputs = Settings::default();
    let mut problems = Vec::new();
    let mut vars: Vec<(String, String)> = vars
        .into_iter()
        .map(|(k, v)| (k.as_ref().to_owned(), v.as_ref().to_owned()))
        .collect();
    // Sorted so that problems come out in the same order on every machine.
    vars.sort();

    for (variable, value) in vars {
        let (key, is_input) = if let Some(rest) = variable.strip_prefix("LAYERPUB_") {
            // An earlier job's dotenv report, inherited on GitLab: results, never settings.
            if RESERVED.contains(&variable.as_str()) || is_report_variable(&variable) {
                continue;
            }
            (rest.to_ascii_lowercase().replace('_', "-"), false)
        } else if let Some(rest) = variable.strip_prefix("INPUT_") {
            (rest.to_ascii_lowercase().replace('_', "-"), true)
        } else {
            continue;
        };
        if value.trim().is_empty() {
            continue;
        }
        let known = names.contains(&key.as_str()) && key != "layers";
        if !known {
            if !is_input {
                problems.push(EnvProblem {
                    message: unknown_message(&key),
                    variable,
                });
            }
            continue;
        }
        match one_setting(&key, &value) {
            Ok(s) if is_input => from_inputs = from_inputs.overlay(s),
            Ok(s) => from_layerpub = from_layerpub.overlay(s),
            Err(message) => problems.push(EnvProblem { variable, message }),
        }
    }
    if problems.is_empty() {
        Ok(from_layerpub.overlay(from_inputs))
    } else {
        Err(problems)
    }
}

fn unknown_message(key: &str) -> String {
    let snake = |n: &str| variable_name(n);
    let close = Settings::names()
        .iter()
        .filter(|n| **n != "layers")
        .find(|n| n.replace('-', "") == key.replace('-', ""));
    match close {
        Some(n) => format!("not a layerpub setting; did you mean {}?", snake(n)),
        None => format!(
            "not a layerpub setting; the settings are {}",
            Settings::names()
                .iter()
                .filter(|n| **n != "layers")
                .map(|n| snake(n))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// Deserializes a single variable so that an error names exactly that variable.
fn one_setting(key: &str, value: &str) -> Result<Settings, String> {
    let map = MapDeserializer::<_, de::value::Error>::new(std::iter::once((key, EnvValue(value))));
    Settings::deserialize(map).map_err(|e| e.to_string())
}

/// A variable's text, read as whatever type the setting has: a string, a list
/// (see [`split_list`]), a boolean, a number or a choice.
struct EnvValue<'a>(&'a str);

impl<'de> IntoDeserializer<'de, de::value::Error> for EnvValue<'de> {
    type Deserializer = Self;
    fn into_deserializer(self) -> Self {
        self
    }
}

impl<'de> de::Deserializer<'de> for EnvValue<'de> {
    type Error = de::value::Error;

    fn deserialize_any<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Self::Error> {
        v.visit_borrowed_str(self.0.trim())
    }
    fn deserialize_option<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Self::Error> {
        v.visit_some(self)
    }
    fn deserialize_seq<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Self::Error> {
        let items = split_list(self.0);
        v.visit_seq(de::value::SeqDeserializer::new(items.into_iter()))
    }
    fn deserialize_u64<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Self::Error> {
        let text = self.0.trim();
        let n = text
            .parse::<u64>()
            .map_err(|_| de::Error::invalid_value(de::Unexpected::Str(text), &"a whole number"))?;
        v.visit_u64(n)
    }
    fn deserialize_u32<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Self::Error> {
        self.deserialize_u64(v)
    }
    fn deserialize_enum<V: Visitor<'de>>(
        self,
        name: &'static str,
        variants: &'static [&'static str],
        v: V,
    ) -> Result<V::Value, Self::Error> {
        self.0
            .trim()
            .into_deserializer()
            .deserialize_enum(name, variants, v)
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u128 f32 f64 char str string bytes byte_buf unit
        unit_struct newtype_struct tuple tuple_struct map struct identifier ignored_any
    }
}

/// Environment problems are configuration problems, reported with the rest.
impl From<Vec<EnvProblem>> for ConfigError {
    fn from(problems: Vec<EnvProblem>) -> Self {
        ConfigError(
            problems
                .into_iter()
                .map(|p| Problem {
                    input: p.variable,
                    layer: None,
                    message: p.message,
                })
                .collect(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::settings::{NativeCheck, SymlinkPolicy};

    #[test]
    fn reads_both_spellings_and_inputs_win() {
        let s = settings_from_env([
            ("LAYERPUB_LAYER_NAME", "from-env"),
            ("INPUT_LAYER-NAME", "from-input"),
            ("LAYERPUB_PREFIX", "python"),
            ("INPUT_COMPATIBLE_RUNTIMES", "python3.12, python3.13"),
            ("PATH", "/usr/bin"),
        ])
        .unwrap();
        assert_eq!(s.layer_name.as_deref(), Some("from-input"));
        assert_eq!(s.prefix.as_deref(), Some("python"));
        assert_eq!(
            s.compatible_runtimes,
            Some(vec!["python3.12".to_owned(), "python3.13".to_owned()])
        );
    }

    #[test]
    fn empty_values_are_unset_as_the_github_runner_sends_them() {
        let s = settings_from_env([("INPUT_PATH", ""), ("INPUT_PREFIX", "  ")]).unwrap();
        assert_eq!(s, Settings::default());
    }

    #[test]
    fn lists_split_on_new_lines_and_choices_and_booleans_parse() {
        let s = settings_from_env([
            ("INPUT_EXCLUDE", "tests/\n*.{md,txt}\n"),
            ("LAYERPUB_SYMLINKS", "follow"),
            ("INPUT_NATIVE-CHECK", "warn"),
            ("LAYERPUB_DEFAULT_EXCLUDES", "false"),
        ])
        .unwrap();
        assert_eq!(s.native_check, Some(NativeCheck::Warn));
        assert_eq!(s.exclude, Some(vec!["tests/".into(), "*.{md,txt}".into()]));
        assert_eq!(s.symlinks, Some(SymlinkPolicy::Follow));
        assert_eq!(s.default_excludes, Some(false));
    }

    #[test]
    fn unknown_layerpub_variable_is_an_error_with_a_suggestion() {
        let err = settings_from_env([("LAYERPUB_LAYERNAME", "x")]).unwrap_err();
        assert_eq!(err.len(), 1);
        assert_eq!(err[0].variable, "LAYERPUB_LAYERNAME");
        assert!(
            err[0].message.contains("did you mean LAYERPUB_LAYER_NAME?"),
            "{}",
            err[0].message
        );
    }

    #[test]
    fn unknown_input_and_reserved_variables_are_ignored() {
        let s = settings_from_env([
            ("INPUT_GITHUB-TOKEN-OF-ANOTHER-ACTION", "x"),
            ("LAYERPUB_CONFIG", "layerpub.yml"),
            ("LAYERPUB_LOG", "debug"),
        ])
        .unwrap();
        assert_eq!(s, Settings::default());
    }

    #[test]
    fn an_inherited_dotenv_report_is_neither_refused_nor_read_as_settings() {
        // What an earlier layerpub job in the pipeline exported, as GitLab passes it on.
        let s = settings_from_env([
            (
                "LAYERPUB_LAYER_VERSION_ARN",
                "arn:aws:lambda:us-east-1:1:layer:a:3",
            ),
            ("LAYERPUB_CODE_SHA256", "abc="),
            ("LAYERPUB_LAYER_REGION", "us-east-1"),
            ("LAYERPUB_PUBLISHED_A_US_EAST_1", "true"),
            ("LAYERPUB_RESULTS_JSON", "[]"),
            ("LAYERPUB_REGION", "eu-west-1"),
        ])
        .unwrap();
        assert_eq!(s.region.as_deref(), Some("eu-west-1"));
        assert_eq!(
            s,
            Settings {
                region: s.region.clone(),
                ..Settings::default()
            }
        );
    }

    #[test]
    fn no_setting_s_variable_is_named_like_a_report_variable() {
        for name in Settings::names() {
            let variable = variable_name(name);
            assert!(
                !is_report_variable(&variable),
                "{variable} would be skipped as a dotenv report variable"
            );
        }
    }

    #[test]
    fn every_bad_value_is_reported_with_its_variable() {
        let err = settings_from_env([
            ("LAYERPUB_SYMLINKS", "sometimes"),
            ("INPUT_DEFAULT-EXCLUDES", "perhaps"),
        ])
        .unwrap_err();
        let vars: Vec<_> = err.iter().map(|p| p.variable.as_str()).collect();
        assert_eq!(vars, ["INPUT_DEFAULT-EXCLUDES", "LAYERPUB_SYMLINKS"]);
        assert!(err[1].message.contains("preserve"), "{}", err[1].message);
        assert!(
            err[0].message.contains("true or false"),
            "{}",
            err[0].message
        );
    }

    #[test]
    fn a_non_utf8_value_is_refused_only_for_a_variable_layerpub_reads() {
        use std::os::unix::ffi::OsStringExt;
        let bad = || OsString::from_vec(b"caf\xe9".to_vec());
        let (env, problems) = Env::from_os([
            (OsString::from("FOO"), bad()),
            (OsString::from("PATH"), OsString::from("/bin")),
        ]);
        assert!(problems.is_empty());
        assert_eq!(env.vars().collect::<Vec<_>>(), [("PATH", "/bin")]);
        let (env, err) = Env::from_os([
            (OsString::from("LAYERPUB_DESCRIPTION"), bad()),
            (OsString::from("GITHUB_OUTPUT"), bad()),
            (OsString::from("GITHUB_ACTIONS"), OsString::from("true")),
        ]);
        assert!(
            env.on_github(),
            "the rest is kept, to report the problems by"
        );
        let vars: Vec<_> = err.iter().map(|p| p.variable.as_str()).collect();
        assert_eq!(vars, ["GITHUB_OUTPUT", "LAYERPUB_DESCRIPTION"]);
        assert!(err[0].message.starts_with("is not valid UTF-8 (byte 4)"));
    }

    #[test]
    fn one_lookup_rule_trimmed_and_empty_means_unset() {
        let env = Env::from_pairs([
            ("GITLAB_TOKEN", "glpat-x\n"),
            ("CI_MERGE_REQUEST_IID", " 7 "),
            ("GITHUB_EVENT_NAME", ""),
            ("GITHUB_OUTPUT", " \t\n"),
            ("GITHUB_ACTIONS", "true"),
            ("GITLAB_CI", "TRUE"),
        ]);
        assert_eq!(env.get("GITLAB_TOKEN"), Some("glpat-x"));
        assert_eq!(env.get("CI_MERGE_REQUEST_IID"), Some("7"));
        assert_eq!(env.get("GITHUB_EVENT_NAME"), None);
        assert_eq!(env.get("GITHUB_OUTPUT"), None);
        assert_eq!(env.get("NOT_SET"), None);
        assert!(env.on_github() && env.is_true("GITHUB_ACTIONS"));
        assert!(
            !env.is_true("GITLAB_CI"),
            "the runners say `true`, in lower case"
        );
        assert_eq!(env.vars().count(), 4, "only the set ones");
    }

    #[test]
    fn debug_shows_the_names_never_the_values() {
        let env = Env::from_pairs([("GITLAB_TOKEN", "glpat-secret")]);
        let shown = format!("{env:?} {env:#?}");
        assert!(
            shown.contains("GITLAB_TOKEN") && !shown.contains("glpat-secret"),
            "{shown}"
        );
    }

    #[test]
    fn a_variable_given_twice_has_its_last_value() {
        let env = Env::from_pairs([("A", "1"), ("B", "x"), ("A", "2"), ("B", "")]);
        assert_eq!(env.get("A"), Some("2"));
        assert_eq!(env.get("B"), None, "set again to empty: unset");
    }

    #[test]
    fn the_settings_come_from_the_same_trimmed_values() {
        let env = Env::from_pairs([
            ("INPUT_LAYER-NAME", " deps\n"),
            ("LAYERPUB_PREFIX", "   "),
            ("LAYERPUB_CLAIM_TIMEOUT", "60\n"),
        ]);
        let s = env.settings().unwrap();
        assert_eq!(s.layer_name.as_deref(), Some("deps"));
        assert_eq!(s.prefix, None);
        assert_eq!(s.claim_timeout, Some(60));
        assert_eq!(variable_name("dotenv-file"), "LAYERPUB_DOTENV_FILE");
    }
}
