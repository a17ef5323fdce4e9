//! Property tests of the configuration: arbitrary YAML-ish text, arbitrary settings and arbitrary
//! environments never panic the parser or the checks; whatever is accepted is something Lambda
//! and S3 accept; whatever is refused names the input at fault.
//!
//! Bounded for CI; run longer with `PROPTEST_CASES=5000 cargo test --test prop_config`.

use crate::common;

use std::path::Path;
use std::sync::atomic::{AtomicU32, Ordering};

use layerpub::config::env::settings_from_env;
use layerpub::config::settings::{Settings, SymlinkPolicy};
use layerpub::config::{self, ConfigFile, LayerConfig, normalise_prefix};
use layerpub::domain::error::Problem;
use layerpub::domain::limits::RUNTIMES;
use proptest::collection::vec;
use proptest::option;
use proptest::prelude::*;

use common::prop::{check, config};

// ---------------------------------------------------------------------------------------------
// The invariants, written out again here from Lambda's and S3's documentation rather than
// calling the checks under test.

/// `[a-zA-Z0-9-_]+`, or `arn:[a-zA-Z0-9-]+:lambda:[a-zA-Z0-9-]+:\d{12}:layer:[a-zA-Z0-9-_]+`;
/// at most 140 characters either way.
fn lambda_accepts_layer_name(name: &str) -> bool {
    let word = |s: &str, extra: &[u8]| {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || extra.contains(&b))
    };
    if name.is_empty() || name.len() > 140 {
        return false;
    }
    let parts: Vec<&str> = name.split(':').collect();
    match parts.as_slice() {
        [plain] => word(plain, b"_"),
        ["arn", partition, "lambda", region, account, "layer", layer] => {
            word(partition, b"")
                && word(region, b"")
                && account.len() == 12
                && account.bytes().all(|b| b.is_ascii_digit())
                && word(layer, b"_")
        }
        _ => false,
    }
}

/// S3's rules for general purpose bucket names.
fn s3_accepts_bucket(b: &str) -> bool {
    let edge = |c: u8| c.is_ascii_lowercase() || c.is_ascii_digit();
    (3..=63).contains(&b.len())
        && b.bytes().all(|c| edge(c) || c == b'.' || c == b'-')
        && edge(b.as_bytes()[0])
        && edge(b.as_bytes()[b.len() - 1])
        && !b.contains("..")
}

/// A folder inside the zip (or a key prefix): `/`-separated, no empty, `.` or `..` part.
fn is_clean_folder(p: &str) -> bool {
    p.is_empty()
        || (!p.contains('\\')
            && p.split('/')
                .all(|part| !part.is_empty() && part != "." && part != ".."))
}

fn assert_layer_is_acceptable(l: &LayerConfig) -> Result<(), TestCaseError> {
    prop_assert!(
        lambda_accepts_layer_name(&l.layer_name),
        "layer name {:?}",
        l.layer_name
    );
    prop_assert!(!l.logical_name.is_empty());
    if let Some(d) = &l.description {
        prop_assert!(d.chars().count() <= 175, "description {} chars", d.len());
    }
    if let Some(li) = &l.license_info {
        prop_assert!(li.chars().count() <= 512, "license {} chars", li.len());
    }
    prop_assert!(l.compatible_runtimes.len() <= 15);
    for r in &l.compatible_runtimes {
        prop_assert!(RUNTIMES.contains(&r.as_str()), "runtime {r:?}");
    }
    prop_assert!(l.compatible_runtimes.windows(2).all(|w| w[0] < w[1]));
    prop_assert!(l.compatible_architectures.len() <= 2);
    for a in &l.compatible_architectures {
        prop_assert!(a == "x86_64" || a == "arm64", "architecture {a:?}");
    }
    if l.s3_bucket.is_some() {
        // With no region given, the SDK's region is used: any AWS region will do as a sample.
        let regions = if l.regions.is_empty() {
            vec!["us-east-1".to_owned()]
        } else {
            l.regions.clone()
        };
        for r in &regions {
            let bucket = l.bucket_in(r).unwrap();
            prop_assert!(s3_accepts_bucket(&bucket), "bucket {bucket:?} in {r}");
        }
    }
    prop_assert!(is_clean_folder(&l.prefix), "prefix {:?}", l.prefix);
    let s3 = l.s3_prefix.strip_suffix('/').unwrap_or(&l.s3_prefix);
    prop_assert!(
        l.s3_prefix.is_empty() || l.s3_prefix.ends_with('/'),
        "s3-prefix {:?}",
        l.s3_prefix
    );
    prop_assert!(
        is_clean_folder(s3) && !s3.starts_with('/'),
        "s3-prefix {:?}",
        l.s3_prefix
    );
    prop_assert!(!l.zip_path.as_os_str().is_empty());
    prop_assert!(!l.claim_timeout.is_zero());
    prop_assert!(l.keep_versions != Some(0));
    Ok(())
}

/// Every problem names an input: a setting, or the config file.
fn assert_problems_name_inputs(problems: &[Problem], file: &str) -> Result<(), TestCaseError> {
    prop_assert!(!problems.is_empty());
    for p in problems {
        prop_assert!(!p.input.trim().is_empty(), "{p:?}");
        prop_assert!(
            Settings::names().contains(&p.input.as_str()) || p.input == file,
            "input {:?} is neither a setting nor the file",
            p.input
        );
        prop_assert!(!p.message.trim().is_empty(), "{p:?}");
    }
    Ok(())
}

/// Checks what `resolve` gives; counts the accepted configurations in `accepted`, so that a
/// test can make sure its strategy reaches the invariants at all.
fn assert_resolve_is_sound(
    file: Option<&ConfigFile>,
    env: Settings,
    flags: Settings,
    accepted: &AtomicU32,
) -> Result<(), TestCaseError> {
    match config::resolve(file, env, flags) {
        Ok(run) => {
            let layers = run.layers;
            prop_assert!(!layers.is_empty());
            for l in &layers {
                assert_layer_is_acceptable(l)?;
            }
            accepted.fetch_add(1, Ordering::Relaxed);
        }
        Err(e) => assert_problems_name_inputs(&e.0, FILE)?,
    }
    Ok(())
}

/// At least `percent` of the cases were accepted (the invariants were exercised).
fn assert_some_accepted(accepted: &AtomicU32, cases: u32, percent: u32) {
    let n = accepted.load(Ordering::Relaxed);
    assert!(
        n * 100 >= cases * percent,
        "only {n} of {cases} cases were accepted; the strategy hardly reaches the invariants"
    );
}

const FILE: &str = "conf/layerpub.yml";

// ---------------------------------------------------------------------------------------------
// Strategies: values near the limits, valid and not, more often than uniform noise would give.

fn text_of_length(around: usize) -> impl Strategy<Value = String> {
    (
        prop_oneof![Just("d"), Just("é"), Just("漢"), Just("🦀"), Just(" ")],
        (around - 3)..=(around + 3),
    )
        .prop_map(|(unit, n)| unit.repeat(n))
}

fn layer_name() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => "[a-zA-Z0-9_-]{1,12}",
        1 => Just(" deps ".to_owned()),
        1 => "[a-z]{135,145}",
        1 => "arn:aws:lambda:[a-z]{2}-[a-z]{4}-[1-9]:[0-9]{11,13}:layer:[a-z_-]{1,8}(:[0-9])?",
        1 => ".{0,10}",
    ]
}

fn runtime() -> impl Strategy<Value = String> {
    prop_oneof![
        8 => proptest::sample::select(RUNTIMES).prop_map(str::to_owned),
        1 => "(python|nodejs|java)[0-9.x ]{0,5}",
    ]
}

fn architecture() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => Just("x86_64".to_owned()),
        4 => Just("arm64".to_owned()),
        1 => Just(" arm64".to_owned()),
        1 => Just("amd64".to_owned()),
        1 => "[a-z0-9_]{0,6}",
    ]
}

fn region() -> impl Strategy<Value = String> {
    prop_oneof![
        2 => Just("us-east-1".to_owned()),
        1 => Just("eu-west-1".to_owned()),
        2 => Just("ap-southeast-2".to_owned()),
        1 => Just("us-gov-west-1".to_owned()),
        2 => "[a-z]{2,12}-[a-z]{2,12}-[0-9]{1,2}",
        1 => "[a-zA-Z -]{0,12}",
    ]
}

fn bucket() -> impl Strategy<Value = String> {
    prop_oneof![
        2 => "[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]",
        2 => "[a-z0-9][a-z0-9-]{0,60}\\{region\\}",
        1 => "[a-z0-9]\\{region\\}[a-z0-9-]{0,60}[a-z0-9]",
        1 => "[A-Za-z0-9_.:/{}-]{0,70}",
    ]
}

fn folder() -> impl Strategy<Value = String> {
    vec(
        prop_oneof![
            1 => Just("".to_owned()),
            1 => Just(".".to_owned()),
            1 => Just("..".to_owned()),
            1 => Just("...".to_owned()),
            1 => Just("a\\b".to_owned()),
            6 => "[a-z ._é-]{1,6}",
        ],
        0..5,
    )
    .prop_map(|parts| parts.join("/"))
}

fn list<S: Strategy<Value = String>>(item: S, max: usize) -> impl Strategy<Value = Vec<String>> {
    vec(item, 0..=max)
}

/// Some(value) a quarter of the time: a layer's settings come from several sources, each
/// giving a few.
fn some<S: Strategy>(s: S) -> impl Strategy<Value = Option<S::Value>> {
    option::weighted(0.25, s)
}

prop_compose! {
    fn layer_settings()(
        names in (some(layer_name()), some(folder()), some(folder())),
        lists in (
            some(list(runtime(), 16)),
            some(list(architecture(), 3)),
            some(list(prop_oneof![9 => "[*a-z./]{1,6}", 1 => "[*a-z./{},\\[]{0,6}"], 3)),
        ),
        texts in (
            some(prop_oneof![text_of_length(175), ".{0,20}"]),
            some(prop_oneof![text_of_length(512), ".{0,20}"]),
        ),
        aws in (
            some(region()),
            some(list(region(), 3)),
            some(bucket()),
            some(prop_oneof![9 => "https?://[a-z0-9.:]{1,12}", 1 => ".{0,10}"]),
        ),
        numbers in (some(0u64..3), some(0u32..3)),
        policy in some(prop_oneof![
            Just(SymlinkPolicy::Preserve),
            Just(SymlinkPolicy::Follow),
            Just(SymlinkPolicy::Error),
        ]),
    ) -> Settings {
        let (layer_name, prefix, s3_prefix) = names;
        let (compatible_runtimes, compatible_architectures, exclude) = lists;
        let (description, license_info) = texts;
        let (region, regions, s3_bucket, endpoint_url) = aws;
        let (claim_timeout, keep_versions) = numbers;
        Settings {
            layer_name,
            path: Some("build".into()),
            prefix,
            s3_prefix,
            compatible_runtimes,
            compatible_architectures,
            exclude,
            description,
            license_info,
            region,
            regions,
            s3_bucket,
            endpoint_url,
            claim_timeout,
            keep_versions,
            symlinks: policy,
            ..Settings::default()
        }
    }
}

// ---------------------------------------------------------------------------------------------
// YAML-ish text: real keys with odd values, indentation, flow and block forms, and noise.

fn yaml_value() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("".to_owned()),
        Just("~".to_owned()),
        Just("''".to_owned()),
        Just("[]".to_owned()),
        Just("{}".to_owned()),
        Just("yes".to_owned()),
        Just("0x1F".to_owned()),
        Just("-1".to_owned()),
        Just("1e400".to_owned()),
        Just("99999999999999999999999".to_owned()),
        Just("&a deps".to_owned()),
        Just("*a".to_owned()),
        Just("!!binary aGk=".to_owned()),
        Just("|\n  multi\n  line".to_owned()),
        Just("[python3.12, nodejs20.x]".to_owned()),
        Just("[arm64, [x86_64]]".to_owned()),
        Just("{layer-name: x}".to_owned()),
        layer_name(),
        runtime(),
        bucket(),
        region(),
        folder().prop_map(|f| format!("'{f}'")),
        "[\\[\\]{}:,&*!|>'\"#% a-z0-9-]{0,16}",
        (1usize..200).prop_map(|n| "[".repeat(n)),
        (1usize..200).prop_map(|n| format!("{}x{}", "[".repeat(n), "]".repeat(n))),
    ]
}

fn yaml_key() -> impl Strategy<Value = String> {
    prop_oneof![
        8 => proptest::sample::select(Settings::names()).prop_map(str::to_owned),
        1 => "[a-z_-]{1,12}",
        1 => Just("<<".to_owned()),
    ]
}

fn yaml_line() -> impl Strategy<Value = String> {
    (
        prop_oneof![
            12 => Just(""),
            1 => Just("  "),
            1 => Just("  - "),
            1 => Just("- "),
            1 => Just("\t"),
        ],
        yaml_key(),
        yaml_value(),
        prop_oneof![6 => Just(""), 1 => Just(" # c"), 1 => Just("\r")],
    )
        .prop_map(|(indent, key, value, tail)| format!("{indent}{key}: {value}{tail}"))
}

/// A YAML double-quoted scalar: `"` and `\\` escaped, and every character YAML does not allow
/// raw in a stream (controls, DEL, C1, BOM, U+FFFE/FFFF) or reads as a line break, as `\\u`.
fn quoted(v: &str) -> String {
    let mut out = String::from('"');
    for c in v.chars() {
        match c {
            '"' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            '\u{20}'..='\u{7e}' => out.push(c),
            '\u{0}'..='\u{1f}'
            | '\u{7f}'..='\u{a0}'
            | '\u{2028}'
            | '\u{2029}'
            | '\u{feff}'
            | '\u{fffe}'
            | '\u{ffff}' => out.push_str(&format!("\\u{:04x}", c as u32)),
            _ => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Settings written as a config file, every string double-quoted.
fn to_yaml(s: &Settings) -> String {
    let q = |v: &str| quoted(v);
    let list = |v: &[String]| {
        format!(
            "[{}]",
            v.iter().map(|i| quoted(i)).collect::<Vec<_>>().join(", ")
        )
    };
    let mut out = String::new();
    let mut line = |key: &str, value: String| out.push_str(&format!("{key}: {value}\n"));
    let strings = [
        ("layer-name", &s.layer_name),
        ("prefix", &s.prefix),
        ("s3-prefix", &s.s3_prefix),
        ("description", &s.description),
        ("license-info", &s.license_info),
        ("region", &s.region),
        ("s3-bucket", &s.s3_bucket),
        ("endpoint-url", &s.endpoint_url),
    ];
    for (key, value) in strings {
        if let Some(v) = value {
            line(key, q(v));
        }
    }
    if let Some(p) = &s.path {
        line("path", q(p.to_str().unwrap()));
    }
    let lists = [
        ("compatible-runtimes", &s.compatible_runtimes),
        ("compatible-architectures", &s.compatible_architectures),
        ("exclude", &s.exclude),
        ("regions", &s.regions),
    ];
    for (key, value) in lists {
        if let Some(v) = value {
            line(key, list(v));
        }
    }
    if let Some(n) = s.claim_timeout {
        line("claim-timeout", n.to_string());
    }
    if let Some(n) = s.keep_versions {
        line("keep-versions", n.to_string());
    }
    if let Some(p) = s.symlinks {
        line("symlinks", p.as_str().to_owned());
    }
    out
}

fn yaml_text() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => (layer_settings(), "[a-z][a-z0-9_-]{0,10}").prop_map(|(s, name)| to_yaml(&Settings {
            layer_name: s.layer_name.clone().or(Some(name)),
            ..s
        })),
        6 => vec(yaml_line(), 0..12).prop_map(|lines| lines.join("\n")),
        2 => (vec(yaml_line(), 1..5), vec(vec(yaml_line(), 1..5), 1..4)).prop_map(|(top, layers)| {
            let mut text = top.join("\n");
            text.push_str("\nlayers:\n");
            for entry in layers {
                for (i, line) in entry.iter().enumerate() {
                    let lead = if i == 0 { "  - " } else { "    " };
                    text.push_str(&format!("{lead}{}\n", line.trim_start_matches([' ', '-', '\t'])));
                }
            }
            text
        }),
        1 => ".{0,200}",
        1 => proptest::collection::vec(any::<u8>(), 0..200)
            .prop_map(|b| String::from_utf8_lossy(&b).into_owned()),
    ]
}

// ---------------------------------------------------------------------------------------------

#[test]
fn any_text_parses_or_is_refused_naming_the_file_and_accepted_files_resolve_soundly() {
    let config = config(512, 2048);
    let cases = config.cases;
    let (parsed, accepted) = (AtomicU32::new(0), AtomicU32::new(0));
    check(
        "config: arbitrary YAML-ish text",
        config,
        (yaml_text(), option::of(layer_settings())),
        |(text, flags)| {
            match config::parse_config_file(&text, Path::new(FILE)) {
                Ok(file) => {
                    parsed.fetch_add(1, Ordering::Relaxed);
                    assert_resolve_is_sound(
                        Some(&file),
                        Settings::default(),
                        flags.unwrap_or_default(),
                        &accepted,
                    )?;
                }
                Err(e) => {
                    prop_assert_eq!(e.0.len(), 1);
                    // A setting the file may not hold is refused under its own name (the
                    // message names the file); anything else under the file's name.
                    let input = e.0[0].input.as_str();
                    prop_assert!(
                        input == FILE || input == "allow-outside-workspace",
                        "{}",
                        input
                    );
                    prop_assert!(!e.0[0].message.trim().is_empty());
                }
            }
            Ok(())
        },
    );
    assert_some_accepted(&parsed, cases, 10);
    assert_some_accepted(&accepted, cases, 1);
}

#[test]
fn settings_written_as_yaml_read_back_the_same() {
    check(
        "config: settings -> YAML -> parse_config_file round trip",
        config(512, 2048),
        layer_settings(),
        |settings| {
            let yaml = to_yaml(&settings);
            let file = config::parse_config_file(&yaml, Path::new(FILE))
                .map_err(|e| TestCaseError::fail(format!("{e}\n{yaml}")))?;
            // Relative paths in a file are relative to its folder.
            let expected = Settings {
                path: settings.path.as_ref().map(|p| Path::new("conf").join(p)),
                ..settings.clone()
            };
            prop_assert_eq!(file.settings, expected, "{}", yaml);
            Ok(())
        },
    );
}

#[test]
fn any_settings_resolve_to_layers_lambda_accepts_or_to_problems_naming_inputs() {
    let config = config(1024, 4096);
    let cases = config.cases;
    let accepted = AtomicU32::new(0);
    check(
        "config: arbitrary settings from flags, env and file",
        config,
        (
            layer_settings(),
            layer_settings(),
            option::of(vec(layer_settings(), 0..4)),
            any::<bool>(),
        ),
        |(env, flags, layers, sparse_flags)| {
            // Flags usually give little; the file's layers the rest.
            let flags = if sparse_flags {
                Settings {
                    layer_name: flags.layer_name,
                    ..Settings::default()
                }
            } else {
                flags
            };
            let file = layers.map(|layers| ConfigFile {
                path: FILE.into(),
                settings: Settings {
                    layers: Some(layers),
                    ..Settings::default()
                },
            });
            assert_resolve_is_sound(file.as_ref(), env, flags, &accepted)
        },
    );
    assert_some_accepted(&accepted, cases, 2);
}

#[test]
fn explicit_regions_each_get_a_valid_bucket_name() {
    // The regression the property above found: a bucket name checked with `us-east-1` in
    // place of `{region}` could exceed 63 characters in a region with a longer name.
    let accepted = AtomicU32::new(0);
    check(
        "config: {region} bucket valid in every region",
        config(256, 1024),
        ("[a-z0-9][a-z0-9-]{40,55}", vec(region(), 1..3)),
        |(stem, regions)| {
            let flags = Settings {
                layer_name: Some("deps".into()),
                path: Some("build".into()),
                regions: Some(regions),
                s3_bucket: Some(format!("{stem}{{region}}")),
                ..Settings::default()
            };
            assert_resolve_is_sound(None, Settings::default(), flags, &accepted)
        },
    );
    assert!(accepted.load(Ordering::Relaxed) > 0);
}

// ---------------------------------------------------------------------------------------------
// The environment.

fn env_name() -> impl Strategy<Value = String> {
    let snake = proptest::sample::select(Settings::names())
        .prop_map(|n| n.to_ascii_uppercase().replace('-', "_"));
    let kebab = proptest::sample::select(Settings::names()).prop_map(|n| n.to_ascii_uppercase());
    prop_oneof![
        4 => snake.clone().prop_map(|n| format!("LAYERPUB_{n}")),
        2 => kebab.clone().prop_map(|n| format!("INPUT_{n}")),
        1 => snake.prop_map(|n| format!("INPUT_{n}")),
        1 => kebab.prop_map(|n| format!("LAYERPUB_{n}")),
        1 => "LAYERPUB_[A-Za-z_é-]{0,12}",
        1 => "INPUT_[A-Za-z_-]{0,12}",
        1 => prop_oneof![
            Just("LAYERPUB_CONFIG".to_owned()),
            Just("LAYERPUB_LOG".to_owned()),
            Just("layerpub_path".to_owned()),
            Just("PATH".to_owned()),
        ],
        1 => ".{0,12}",
    ]
}

fn env_value() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("".to_owned()),
        Just("  \t".to_owned()),
        Just("true".to_owned()),
        Just("perhaps".to_owned()),
        Just("18446744073709551616".to_owned()),
        Just("-1".to_owned()),
        Just("follow".to_owned()),
        Just("a,b\n c\n".to_owned()),
        Just("*.{pyc,pyo},tests/".to_owned()),
        "[0-9]{1,5}",
        ".{0,20}",
    ]
}

fn blank() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        Just(" ".to_owned()),
        Just("\n\t ".to_owned())
    ]
}

#[test]
fn any_environment_reads_without_panicking_and_blank_values_are_unset() {
    check(
        "env: arbitrary LAYERPUB_*/INPUT_* variables; blank is unset",
        config(1024, 4096),
        (
            vec((env_name(), env_value()), 0..12),
            vec((env_name(), blank()), 1..4),
        ),
        |(vars, blanks)| {
            let plain = settings_from_env(vars.clone());
            if let Err(problems) = &plain {
                for p in problems {
                    prop_assert!(
                        vars.iter().any(|(k, _)| *k == p.variable),
                        "{} names no given variable",
                        p.variable
                    );
                    // An unknown INPUT_* name is the runner's, not an error; a bad value is.
                    prop_assert!(
                        p.variable.starts_with("LAYERPUB_") || p.variable.starts_with("INPUT_"),
                        "{p}"
                    );
                }
            }
            // Blank variables, wherever they sort, change nothing: not even an unknown name
            // is an error when its value is empty.
            let mut with_blanks = vars.clone();
            with_blanks.extend(blanks.iter().cloned());
            let with_blanks_result = settings_from_env(with_blanks);
            prop_assert_eq!(&with_blanks_result, &plain);
            // On their own, blank variables give the default settings.
            prop_assert_eq!(settings_from_env(blanks), Ok(Settings::default()));
            // And whatever the environment gave resolves soundly.
            if let Ok(env) = plain {
                let flags = Settings {
                    path: Some("build".into()),
                    ..Settings::default()
                };
                assert_resolve_is_sound(None, env, flags, &AtomicU32::new(0))?;
            }
            Ok(())
        },
    );
}

// ---------------------------------------------------------------------------------------------
// The prefix normaliser.

#[test]
fn normalise_prefix_is_idempotent_and_never_escapes() {
    check(
        "config: normalise_prefix idempotent, no `..`, no edge `/`",
        config(2048, 4096),
        prop_oneof![folder(), "[/.a\\\\é ]{0,12}", ".{0,16}"],
        |given| {
            let has_dotdot = given.split('/').any(|p| p == "..");
            match normalise_prefix(&given) {
                Ok(p) => {
                    prop_assert!(!given.contains('\\') && !has_dotdot, "{given:?} accepted");
                    prop_assert!(is_clean_folder(&p), "{given:?} gave {p:?}");
                    prop_assert!(!p.starts_with('/') && !p.ends_with('/'));
                    prop_assert_eq!(normalise_prefix(&p), Ok(p.clone()), "not idempotent");
                    // Only empty and `.` parts are dropped; the others keep their order.
                    let kept: Vec<&str> = given
                        .split('/')
                        .filter(|s| !s.is_empty() && *s != ".")
                        .collect();
                    prop_assert_eq!(p, kept.join("/"));
                }
                Err(msg) => {
                    prop_assert!(given.contains('\\') || has_dotdot, "{given:?}: {msg}");
                    prop_assert!(msg.contains(&format!("`{given}`")), "{msg}");
                }
            }
            Ok(())
        },
    );
}
