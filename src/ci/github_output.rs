//! What the GitHub runner reads back from a step: `$GITHUB_OUTPUT` (step outputs) and workflow
//! commands (annotations). Rendering is pure; [`append`] is the one write.
//!
//! Outputs always use the multi-line form `name<<DELIMITER` with a fresh random delimiter, and
//! a value that contains the delimiter is refused: that is how the runner's own toolkit stops a
//! value (a file name, a description) from injecting another output.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::io::Write;
use std::path::Path;

use crate::domain::error::Error;
use crate::domain::outcome::PublishResult;
use crate::domain::text;
use crate::render::report::json;

/// The step outputs of a run, in the order action.yml declares them. With one layer in one
/// region, every single-layer output; with several layers or regions, `published` (any of
/// them); always `layer-version-arns` and `result-json` (all of them, the `--output json`
/// document: `{"schema_version": 1, "layers": [...]}` whatever their number).
pub fn outputs(results: &[PublishResult]) -> Vec<(&'static str, String)> {
    let mut out = Vec::new();
    if !matches!(results, [_]) {
        out.push((
            "published",
            results.iter().any(|r| r.status.published()).to_string(),
        ));
    }
    if let [r] = results {
        let opt = |v: Option<String>| v.unwrap_or_default();
        out.push(("layer-arn", opt(r.layer_arn.clone())));
        out.push(("layer-version-arn", opt(r.layer_version_arn.clone())));
        out.push(("layer-version", opt(r.layer_version.map(|v| v.to_string()))));
        out.push(("published", r.status.published().to_string()));
        out.push((
            "previous-version",
            opt(r.previous_version.map(|v| v.to_string())),
        ));
        out.push(("fingerprint", r.fingerprint.clone()));
        out.push(("code-sha256", opt(r.code_sha256.clone())));
        out.push(("code-size", opt(r.code_size.map(|v| v.to_string()))));
        out.push((
            "reason",
            opt(r.status.reason().map(|r| r.code().to_owned())),
        ));
    }
    out.push(("layer-version-arns", version_arns(results)));
    out.push(("result-json", json(results).trim_end().to_owned()));
    out
}

/// `{"LAYER": {"REGION": "ARN"}}` for every result that has a version (a failed first publish
/// has none); one shape whatever the number of layers and regions, so a workflow's expression
/// does not change when a region is added.
pub(crate) fn version_arns(results: &[PublishResult]) -> String {
    let mut map: std::collections::BTreeMap<&str, std::collections::BTreeMap<&str, &str>> =
        std::collections::BTreeMap::new();
    for r in results {
        if let Some(arn) = &r.layer_version_arn {
            map.entry(&r.layer_name).or_default().insert(&r.region, arn);
        }
    }
    serde_json::to_string(&map).expect("a map of strings serialises")
}

/// A delimiter no value can guess: 128 random bits from the standard library's per-process
/// random hasher keys (no extra crate for a non-cryptographic need; values are also checked).
pub fn random_delimiter() -> String {
    let word = || RandomState::new().build_hasher().finish();
    format!("ghadelimiter_{:016x}{:016x}", word(), word())
}

/// `name<<DELIM\nvalue\nDELIM\n` for each output, credentials in URLs replaced by `***`;
/// refuses a value holding the delimiter.
pub fn render_outputs(outputs: &[(&str, String)], delimiter: &str) -> Result<String, Error> {
    let mut text = String::new();
    for (name, value) in outputs {
        let value = text::redact_url_credentials(value);
        if value.contains(delimiter) || name.contains(delimiter) {
            return Err(Error::bad_input(format!(
                "the output {name} contains the delimiter {delimiter}; refusing to write it to GITHUB_OUTPUT"
            )));
        }
        text.push_str(&format!("{name}<<{delimiter}\n{value}\n{delimiter}\n"));
    }
    Ok(text)
}

/// Appends to a runner file (`$GITHUB_OUTPUT`, `$GITHUB_STEP_SUMMARY`).
pub fn append(path: &Path, text: &str) -> Result<(), Error> {
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .and_then(|mut f| f.write_all(text.as_bytes()))
        .map_err(|source| Error::Io {
            context: format!("cannot write `{}`", path.display()),
            source,
        })
}

/// A workflow command for an annotation: `::error title=…::message`, escaped as the runner's
/// toolkit escapes, so a message cannot end the command early or start another.
pub fn annotation(kind: &str, title: &str, message: &str) -> String {
    format!(
        "::{kind} title={}::{}\n",
        escape_property(&text::redact_url_credentials(title)),
        escape_data(&text::redact_url_credentials(message))
    )
}

/// Text for the log that cannot start a workflow command. The runner ends a line at LF, CR
/// and CRLF, trims white space, and reads a line that then begins with `::` as a command; it
/// also runs the legacy form `##[command]data` found anywhere in a line (actions/runner
/// `ActionCommand.TryParse`, still tried after `TryParseV2`). layerpub's own lines never do
/// either, and end only at LF, so:
/// - every other line break or control character (CR first) is shown as an escape
///   ([`text::visible`]): it can only come from a value (a file name, a setting, a lock-file
///   line, an API's answer);
/// - a line that would start with `::` can only follow a value's LF: that LF is shown as `\n`
///   instead, which keeps the value on its line;
/// - `##[` is shown as `##\[`.
///
/// Credentials in a URL are replaced by `***` ([`text::redact_url_credentials`]).
pub fn defuse_commands(text: &str) -> String {
    let text = text::redact_url_credentials(text);
    let mut out = String::with_capacity(text.len());
    for (i, line) in text.split('\n').enumerate() {
        let line = text::visible(line).replace("##[", "##\\[");
        let command = line.trim_start().starts_with("::");
        match (i, command) {
            (0, true) => out.push('\\'),
            (0, false) => {}
            (_, true) => out.push_str("\\n"),
            (_, false) => out.push('\n'),
        }
        out.push_str(&line);
    }
    out
}

/// Escaping of a command's message: `%`, CR, LF.
pub(crate) fn escape_data(s: &str) -> String {
    s.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// Escaping of a command's property: the message's, plus `:` and `,`.
pub(crate) fn escape_property(s: &str) -> String {
    escape_data(s).replace(':', "%3A").replace(',', "%2C")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::outcome::{Reason, Status};

    fn result() -> PublishResult {
        crate::domain::outcome::example_result()
    }

    #[test]
    fn one_target_gets_every_output_and_several_the_run_level_ones() {
        let one = outputs(&[result()]);
        let names: Vec<&str> = one.iter().map(|(n, _)| *n).collect();
        assert_eq!(
            names,
            [
                "layer-arn",
                "layer-version-arn",
                "layer-version",
                "published",
                "previous-version",
                "fingerprint",
                "code-sha256",
                "code-size",
                "reason",
                "layer-version-arns",
                "result-json"
            ]
        );
        assert_eq!(one[2].1, "2");
        assert_eq!(one[8].1, "manifest_changed");
        let mut unchanged = result();
        unchanged.status = Status::Unchanged(Reason::Unchanged);
        unchanged.region = "eu-west-1".into();
        unchanged.layer_version_arn = Some("arn:eu:deps:1".into());
        let two = outputs(&[unchanged.clone(), result()]);
        let names: Vec<&str> = two.iter().map(|(n, _)| *n).collect();
        assert_eq!(names, ["published", "layer-version-arns", "result-json"]);
        assert_eq!(
            two[0].1, "true",
            "published: true when any target published"
        );
        assert_eq!(outputs(&[unchanged.clone(), unchanged])[0].1, "false");
        let arns: serde_json::Value = serde_json::from_str(&two[1].1).unwrap();
        assert_eq!(arns["deps"]["eu-west-1"], "arn:eu:deps:1");
        assert_eq!(
            arns["deps"][&result().region].as_str(),
            result().layer_version_arn.as_deref()
        );
        let doc: serde_json::Value = serde_json::from_str(&two[2].1).unwrap();
        assert_eq!(doc["schema_version"], 1);
        assert_eq!(doc["layers"].as_array().unwrap().len(), 2);
        let doc: serde_json::Value = serde_json::from_str(&one[10].1).unwrap();
        assert_eq!(
            doc["layers"][0]["layer_version"], 2,
            "result-json has one shape for one target too"
        );
    }

    #[test]
    fn published_and_reason_come_from_the_status() {
        let value = |r: PublishResult, name: &str| {
            outputs(&[r])
                .into_iter()
                .find(|(n, _)| *n == name)
                .unwrap()
                .1
        };
        let mut r = result();
        r.fail("function api not found".into());
        assert_eq!(value(r.clone(), "published"), "true", "the version stands");
        assert_eq!(value(r, "reason"), "manifest_changed");
        let early = PublishResult::failed("deps", false, "us-east-1", "ab", "denied".into());
        assert_eq!(value(early.clone(), "published"), "false");
        assert_eq!(value(early, "reason"), "", "no decision, no reason");
    }

    #[test]
    fn outputs_use_the_heredoc_form_and_refuse_the_delimiter() {
        let text = render_outputs(&[("a", "x\ny".into())], "D").unwrap();
        assert_eq!(text, "a<<D\nx\ny\nD\n");
        let injected = "x\nD\nevil<<D\n1".to_owned();
        assert!(render_outputs(&[("a", injected)], "D").is_err());
    }

    #[test]
    fn delimiters_differ_between_calls() {
        assert_ne!(random_delimiter(), random_delimiter());
        assert!(random_delimiter().starts_with("ghadelimiter_"));
    }

    #[test]
    fn a_value_cannot_start_a_command_line() {
        assert_eq!(
            defuse_commands("error: `a\n::error::owned` is bad\n  - next\n"),
            "error: `a\\n::error::owned` is bad\n  - next\n"
        );
        assert_eq!(defuse_commands(" ::add-mask::x"), "\\ ::add-mask::x");
        assert_eq!(defuse_commands("plain\ntext"), "plain\ntext");
    }

    #[test]
    fn a_carriage_return_or_a_legacy_command_cannot_start_a_command() {
        assert_eq!(
            defuse_commands("warning: `a\r::error title=x::x.py`\n"),
            "warning: `a\\r::error title=x::x.py`\n"
        );
        assert_eq!(
            defuse_commands("a\r\n::error::x \u{2028}::y\u{85}::z"),
            "a\\r\\n::error::x \\u{2028}::y\\u{85}::z"
        );
        assert_eq!(
            defuse_commands("file `x ##[error]y` and ##[set-output name=a;]b"),
            "file `x ##\\[error]y` and ##\\[set-output name=a;]b"
        );
        for line in defuse_commands("\r::a::b\n\u{b}::c::d\n\u{c}::e::f\n##[g]").split(['\n', '\r'])
        {
            assert!(
                !line.trim_start().starts_with("::") && !line.contains("##["),
                "{line:?}"
            );
        }
    }

    #[test]
    fn annotations_cannot_be_broken_out_of() {
        assert_eq!(
            annotation("warning", "layer: a,b", "50%\r\n::error::owned"),
            "::warning title=layer%3A a%2Cb::50%25%0D%0A::error::owned\n"
        );
    }
}
