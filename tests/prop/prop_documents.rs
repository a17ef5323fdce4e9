//! Property tests of what layerpub reads back from S3 and the Lambda API: the previous
//! version's fingerprint document (any JSON, or a well-formed document whose strings are
//! anything: short or non-hex hashes, huge strings, CR/LF, any Unicode) and the newest
//! version's description and ARN. Every reader and renderer downstream of them — the change
//! listing, the decision and its refinement, the text and JSON reports, the step outputs, the
//! job summary, the comment, the dotenv report — returns without panicking, and what they write
//! keeps untrusted text on its line.
//!
//! Bounded for CI; run longer with `PROPTEST_CASES=5000 cargo test --test prop_documents`.
//! (A `sha256` shorter than 12 characters panicked the change listing: issue 12, item 7.)

use crate::common;

use layerpub::ci::github_output;
use layerpub::config::settings::SymlinkPolicy;
use layerpub::domain::marker;
use layerpub::domain::outcome::PublishResult;
use layerpub::domain::outcome::{Reason, RemoteVersion, Status};
use layerpub::package::changes::changes;
use layerpub::package::fingerprint::{
    FingerprintDocument, ManifestFile, ShapingSettings, Source, TreeFile,
};
use layerpub::publish::plan::{Decision, decide, refine};
use layerpub::render::{comment, dotenv, report, summary};
use proptest::collection::vec;
use proptest::prelude::*;
use serde_json::Value;

use common::prop::{check, config};

/// Text as a stored document may hold it: anything, hashes of any length, line breaks of
/// every kind, look-alikes of markers and workflow commands, and now and then a huge one.
fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => any::<String>(),
        2 => "[0-9a-f]{0,70}",
        2 => "[ -~\r\n\u{85}\u{2028}\u{2029}é]{0,40}",
        1 => Just("layerpub:sha256:".to_owned()),
        1 => "(::error::x|##\\[error\\]x|<!-- layerpub:deps -->|`|\\|)".prop_map(String::from),
        1 => ("[a-z=\r\n]{1,8}", 1usize..20_000).prop_map(|(s, n)| s.repeat(n)),
    ]
}

fn strings() -> impl Strategy<Value = Vec<String>> {
    vec(text(), 0..4)
}

/// A lock file's text: lines that look like pins, and anything.
fn lock_text() -> impl Strategy<Value = String> {
    vec(
        prop_oneof![
            "[a-z]{1,3}(==|@| = )[0-9.]{1,4}".prop_map(String::from),
            text()
        ],
        0..30,
    )
    .prop_map(|lines| lines.join("\n"))
}

fn source() -> impl Strategy<Value = Source> {
    let manifest = (text(), text(), proptest::option::of(lock_text()))
        .prop_map(|(name, sha256, text)| ManifestFile { name, sha256, text });
    let file = (text(), text(), text()).prop_map(|(path, mode, sha256)| TreeFile {
        path,
        mode: mode.into(),
        sha256,
    });
    prop_oneof![
        vec(manifest, 0..4).prop_map(|files| Source::Manifests { files }),
        vec(file, 0..6).prop_map(|files| Source::Tree { files }),
    ]
}

fn document() -> impl Strategy<Value = FingerprintDocument> {
    let settings = (
        strings(),
        strings(),
        proptest::option::of(text()),
        text(),
        strings(),
        strings(),
    )
        .prop_map(
            |(
                compatible_runtimes,
                compatible_architectures,
                license_info,
                prefix,
                include,
                exclude,
            )| {
                ShapingSettings {
                    compatible_runtimes,
                    compatible_architectures,
                    license_info,
                    prefix,
                    include,
                    exclude,
                    symlinks: SymlinkPolicy::Preserve,
                    build: None,
                }
            },
        );
    (any::<u32>(), text(), settings, source()).prop_map(|(format, layer_name, settings, source)| {
        FingerprintDocument {
            format,
            layer_name,
            settings,
            source,
        }
    })
}

/// Any JSON value, a few levels deep.
fn json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::from)),
        text().prop_map(Value::from),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            vec(inner.clone(), 0..6).prop_map(Value::from),
            vec(
                (
                    prop_oneof![
                        Just("format".to_owned()),
                        Just("layer_name".to_owned()),
                        Just("settings".to_owned()),
                        Just("source".to_owned()),
                        Just("kind".to_owned()),
                        Just("files".to_owned()),
                        Just("sha256".to_owned()),
                        text(),
                    ],
                    inner
                ),
                0..6
            )
            .prop_map(|kv| Value::Object(kv.into_iter().collect())),
        ]
    })
}

/// A published result as the rest of the run would build it, from what AWS answered.
fn result(
    previous: &FingerprintDocument,
    current: &FingerprintDocument,
    answer: &(String, String, i64),
) -> PublishResult {
    let (arn, description, version) = answer;
    let newest = RemoteVersion {
        version: *version,
        layer_version_arn: arn.clone(),
        description: description.clone(),
    };
    let fingerprint = current.fingerprint();
    let mut r = PublishResult {
        layer_name: current.layer_name.clone(),
        region: "us-east-1".into(),
        fingerprint: fingerprint.clone(),
        ..PublishResult::default()
    };
    match decide(Some(newest.clone()), &fingerprint, false) {
        Decision::Unchanged(v) => r.unchanged(&v, Reason::Unchanged),
        Decision::Publish { reason, .. } => {
            r.status = Status::Published(refine(reason, Some(previous), current));
            r.changes = Some(changes(previous, current));
            r.layer_version = version.checked_add(1);
            r.layer_version_arn = Some(format!("{arn}:{}", version.wrapping_add(1)));
            // The text the version ARN above was made from: any text, as AWS could answer.
            r.layer_arn = Some(arn.clone());
            r.previous_version = Some(*version);
            r.warnings = vec![description.clone()];
            // Published, then a later step failed: the version and its reason stand.
            r.fail(format!("an answer: {description}"));
        }
    }
    r
}

/// Everything a result is rendered into; none may panic, and the log and annotations keep
/// every value on its line.
fn render_everything(r: &PublishResult) -> Result<(), TestCaseError> {
    let results = std::slice::from_ref(r);
    let log = github_output::defuse_commands(&report::publish_text(r));
    for line in log.split(['\n', '\r']) {
        prop_assert!(!line.trim_start().starts_with("::"), "{line:?}");
        prop_assert!(!line.contains("##["), "{line:?}");
    }
    let annotation = github_output::annotation("error", &r.layer_name, &log);
    prop_assert_eq!(annotation.matches(['\n', '\r']).count(), 1);
    // Whatever AWS or S3 answered, the JSON keeps its contract.
    let doc: Value = serde_json::from_str(&report::json(results)).expect("the JSON parses");
    let errors = common::schema::schema_errors(common::schema::Schema::Result, &doc);
    prop_assert!(errors.is_empty(), "{errors:?}");
    let outputs = github_output::outputs(results);
    let _ = github_output::render_outputs(&outputs, &github_output::random_delimiter());
    let _ = summary::summary_markdown(results);
    let body = comment::layer_comment_body(&[r]);
    prop_assert!(body.len() <= 65_536, "{}", body.len());
    let wide = |format| dotenv::Shape {
        format,
        max_variables: usize::MAX,
    };
    use layerpub::config::settings::DotenvFormat;
    let _ = dotenv::dotenv(results, wide(DotenvFormat::Variables));
    // The compact form escapes whatever the values hold: always one line.
    if let Ok(text) = dotenv::dotenv(results, wide(DotenvFormat::Json)) {
        prop_assert_eq!(text.matches(['\n', '\r']).count(), 1, "{}", text);
    }
    Ok(())
}

/// Every JSON pointer into `v`, the root included.
fn pointers(v: &Value, at: String, out: &mut Vec<String>) {
    match v {
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                pointers(item, format!("{at}/{i}"), out);
            }
        }
        Value::Object(map) => {
            for (k, item) in map {
                let k = k.replace('~', "~0").replace('/', "~1");
                pointers(item, format!("{at}/{k}"), out);
            }
        }
        _ => {}
    }
    out.push(at);
}

#[test]
fn any_stored_json_is_read_or_refused_without_panicking() {
    let read = std::sync::atomic::AtomicU32::new(0);
    check(
        "documents: a stored document with one part replaced by arbitrary JSON",
        config(256, 512),
        (document(), any::<prop::sample::Index>(), json(), document()),
        |(stored, at, replacement, current)| {
            let mut stored = serde_json::to_value(&stored).unwrap();
            let mut all = Vec::new();
            pointers(&stored, String::new(), &mut all);
            let pointer = &all[at.index(all.len())];
            if let Some(node) = stored.pointer_mut(pointer) {
                *node = replacement;
            }
            let bytes = serde_json::to_vec(&stored).unwrap();
            if let Ok(previous) = serde_json::from_slice::<FingerprintDocument>(&bytes) {
                read.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let c = changes(&previous, &current);
                let _ = refine(Reason::FingerprintChanged, Some(&previous), &current);
                let r = result(&previous, &current, &("arn".into(), String::new(), 1));
                prop_assert_eq!(r.changes.as_ref(), Some(&c));
                render_everything(&r)?;
            }
            Ok(())
        },
    );
    assert!(
        read.load(std::sync::atomic::Ordering::Relaxed) > 0,
        "some altered documents must still be readable"
    );
}

#[test]
fn malformed_documents_and_answers_render_without_panicking() {
    check(
        "documents: well-formed documents with arbitrary strings, arbitrary API answers",
        config(256, 512),
        (document(), document(), (text(), text(), any::<i64>())),
        |(previous, current, answer)| {
            // The document went to S3 and came back: the same reader as a real run.
            let stored = serde_json::to_vec_pretty(&previous).unwrap();
            let previous: FingerprintDocument = serde_json::from_slice(&stored).unwrap();
            let _ = marker::fingerprint_in(&answer.1);
            let r = result(&previous, &current, &answer);
            render_everything(&r)
        },
    );
}

/// The documents of issue 12's report, each a fixed case besides the random ones.
#[test]
fn a_sha256_shorter_than_twelve_characters_is_listed_not_sliced() {
    for sha256 in ["", "abc", "ééééééééééé", "0123456789a"] {
        let stored = FingerprintDocument {
            format: 1,
            layer_name: "deps".into(),
            settings: ShapingSettings {
                compatible_runtimes: vec![],
                compatible_architectures: vec![],
                license_info: None,
                prefix: String::new(),
                include: vec![],
                exclude: vec![],
                symlinks: SymlinkPolicy::Preserve,
                build: None,
            },
            source: Source::Manifests {
                files: vec![ManifestFile {
                    name: "requirements.txt".into(),
                    sha256: sha256.into(),
                    text: None,
                }],
            },
        };
        let mut current = stored.clone();
        current.source = Source::Tree {
            files: vec![TreeFile {
                path: "a.py".into(),
                mode: "644".into(),
                sha256: sha256.into(),
            }],
        };
        let c = changes(&stored, &current);
        assert_eq!(
            c.removed,
            [format!("requirements.txt (sha256 {sha256})")],
            "{c:?}"
        );
    }
}
