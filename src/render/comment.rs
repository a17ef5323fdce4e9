//! The sticky pull-request comment for one layer: a hidden marker that finds it again, then
//! what this run did, in Markdown. Pure: builds a string, sends nothing (see `github`).
//!
//! Everything that comes from the user's files (lock-file lines, file names, settings,
//! warnings) is untrusted: it goes into inline code spans or through [`escape_markdown`], with
//! line breaks made visible, so no value can close a tag, open an HTML block, start a table or
//! mention someone. The body is deterministic (no clock, lists in their sorted order), so an
//! unchanged result gives the identical body and the comment is not rewritten.

use std::fmt::Write as _;

use crate::domain::outcome::Changes;
use crate::domain::outcome::PublishResult;
use crate::domain::outcome::Status;
use crate::domain::text::human_bytes;

/// GitHub refuses comment bodies over 65,536 characters; we stay well under it, in bytes (which
/// are never fewer than characters), leaving room for the truncation note.
pub(crate) const MAX_BODY_BYTES: usize = 60_000;

/// Lines of "what changed" shown before "and N more": a lock-file rewrite must not fill the
/// comment.
pub(crate) const MAX_CHANGE_LINES: usize = 50;

/// Warnings shown before "and N more".
pub(crate) const MAX_WARNINGS: usize = 20;

/// Characters of one value (a lock-file line, a warning) shown before it is cut with `…`.
pub(crate) const MAX_VALUE_CHARS: usize = 300;

/// The hidden first line that identifies this layer's comment: `<!-- layerpub:NAME -->`.
///
/// A layer name is `[A-Za-z0-9_-]` or an ARN, but the marker must hold for any text: characters
/// outside `[A-Za-z0-9_.:/-]` and `%` are percent-encoded, and a `-` that follows a `-` is too,
/// so the marker never contains `--` or `>` and cannot end the HTML comment early. The encoding
/// is one-to-one, so two layers never share a marker.
pub fn marker(layer_name: &str) -> String {
    let mut encoded = String::with_capacity(layer_name.len());
    for c in layer_name.chars() {
        let plain = c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | ':' | '/' | '-');
        if plain && !(c == '-' && encoded.ends_with('-')) {
            encoded.push(c);
        } else {
            let mut buf = [0u8; 4];
            for b in c.encode_utf8(&mut buf).bytes() {
                let _ = write!(encoded, "%{b:02X}");
            }
        }
    }
    format!("<!-- layerpub:{encoded} -->")
}

/// The comment of one layer: its results in every region it was published in (one or more,
/// all with this layer name). The first line is [`marker`]; with several regions each gets its
/// own section under one heading.
pub fn layer_comment_body(results: &[&PublishResult]) -> String {
    match results {
        [one] => comment_body(one),
        many => {
            let name = many.first().map_or("", |r| r.layer_name.as_str());
            let failed = many
                .iter()
                .filter(|r| matches!(r.status, Status::Failed { .. }))
                .count();
            let published = many.iter().filter(|r| r.status.published()).count();
            let mut lines = vec![
                marker(name),
                format!(
                    "### layerpub: {} in {} regions ({published} published{})",
                    code_span(name),
                    many.len(),
                    if failed > 0 {
                        format!(", {failed} failed")
                    } else {
                        String::new()
                    }
                ),
            ];
            for r in many {
                lines.push(String::new());
                lines.extend(
                    result_lines(r)
                        .into_iter()
                        .map(|l| match l.strip_prefix("### ") {
                            Some(h) => format!("#### {h} in {}", code_span(&r.region)),
                            None => l,
                        }),
                );
            }
            redacted(join_capped(&lines, MAX_BODY_BYTES))
        }
    }
}

/// The whole comment for one layer's result. The first line is [`marker`].
pub(crate) fn comment_body(result: &PublishResult) -> String {
    let mut lines = vec![marker(&result.layer_name)];
    lines.extend(result_lines(result));
    redacted(join_capped(&lines, MAX_BODY_BYTES))
}

/// The body with the credentials of every URL in it replaced by `***` (an error naming
/// endpoint-url, a lock file's `git+https://token@…`): the comment may be public.
fn redacted(body: String) -> String {
    match crate::domain::text::redact_url_credentials(&body) {
        std::borrow::Cow::Borrowed(_) => body,
        std::borrow::Cow::Owned(b) => b,
    }
}

/// One result's heading, facts, changes and warnings.
fn result_lines(result: &PublishResult) -> Vec<String> {
    let mut lines = vec![heading(result), String::new()];
    if let Some(e) = result.status.error() {
        lines.push(format!("- **error**: {}", escape_markdown(&shorten(e))));
    }
    lines.extend(facts(result));
    if let Some(changes) = result.changes.as_ref().filter(|c| !c.is_empty()) {
        lines.push(String::new());
        lines.push("**What changed**".to_owned());
        lines.push(String::new());
        lines.extend(change_lines(changes));
    }
    if !result.warnings.is_empty() {
        lines.push(String::new());
        lines.push("**Warnings**".to_owned());
        lines.push(String::new());
        lines.extend(capped(
            result
                .warnings
                .iter()
                .map(|w| format!("- {}", escape_markdown(&shorten(w)))),
            0,
            MAX_WARNINGS,
            "warnings",
        ));
    }
    lines
}

/// One heading line: what this run did (or would do) to the layer.
fn heading(r: &PublishResult) -> String {
    let name = code_span(&r.layer_name);
    let version = |v: Option<i64>| v.map_or_else(|| "none".to_owned(), |v| v.to_string());
    match &r.status {
        Status::Failed { .. } => format!("### Failed to publish {name}"),
        Status::Unchanged(_) if r.dry_run => format!(
            "### Plan: {name} is unchanged, version {} stands",
            version(r.layer_version)
        ),
        Status::WouldPublish(reason) => format!(
            "### Plan: {name} would publish a new version ({}; newest now: {})",
            reason.describe(),
            version(r.previous_version)
        ),
        Status::Published(_) => format!(
            "### Published {name}: new version {}",
            version(r.layer_version)
        ),
        Status::Unchanged(_) => format!(
            "### {name} unchanged: version {} stands",
            version(r.layer_version)
        ),
    }
}

/// The result's fields, one list item each, only those this run knows.
fn facts(r: &PublishResult) -> Vec<String> {
    let mut out = Vec::new();
    let mut fact = |label: &str, value: String| out.push(format!("- **{label}**: {value}"));
    if let Some(arn) = &r.layer_version_arn {
        fact("version ARN", code_span(arn));
    }
    // A target that failed before deciding has no reason to give.
    if let Some(reason) = r.status.reason() {
        fact("reason", escape_markdown(reason.describe()));
    }
    if let (Some(previous), true) = (r.previous_version, r.status.published()) {
        fact("previous version", previous.to_string());
    }
    fact("region", code_span(&r.region));
    if let (Some(zipped), Some(unzipped)) = (r.code_size, r.unzipped_size) {
        fact(
            "size",
            format!(
                "{} zipped, {} unzipped",
                human_bytes(zipped),
                human_bytes(unzipped)
            ),
        );
    }
    if let Some(sha) = &r.code_sha256 {
        fact("CodeSha256", code_span(sha));
    }
    if let Some(uri) = &r.s3_uri {
        fact("S3", code_span(uri));
    }
    if let Some(b) = &r.build {
        fact("build", code_span(&b.describe()));
    }
    fact("fingerprint", code_span(&r.fingerprint));
    if !r.shared_with.is_empty() {
        let ids: Vec<String> = r.shared_with.iter().map(|s| code_span(s)).collect();
        fact("shared (new grants)", ids.join(" "));
    }
    for f in &r.functions {
        fact("function", function_line(f));
    }
    if let Some(p) = r.pruned.as_ref().filter(|p| !p.deleted.is_empty()) {
        let v: Vec<String> = p.deleted.iter().map(i64::to_string).collect();
        fact("pruned versions", v.join(", "));
    }
    out
}

/// One function's roll-out, for the comment and the summary: its name and what happened, the
/// names in code spans (they come from the settings).
pub(crate) fn function_line(f: &crate::domain::follow_up::FunctionResult) -> String {
    let mut line = format!(
        "{} {}",
        code_span(&f.function),
        escape_markdown(f.outcome.describe())
    );
    if let Some(v) = &f.function_version_arn {
        line += &format!(", published as {}", code_span(v));
    }
    if let Some(a) = &f.alias_arn {
        line += &format!(", alias {}", code_span(a));
    }
    line
}

/// "What changed" as list items, settings first (few and telling), then lock-file lines.
fn change_lines(c: &Changes) -> Vec<String> {
    let items = c
        .settings
        .iter()
        .map(|s| format!("- setting {}", code_span(s)))
        .chain(
            c.changed
                .iter()
                .map(|l| format!("- changed {}", code_span(l))),
        )
        .chain(c.added.iter().map(|l| format!("- added {}", code_span(l))))
        .chain(
            c.removed
                .iter()
                .map(|l| format!("- removed {}", code_span(l))),
        );
    capped(items, c.omitted, MAX_CHANGE_LINES, "changes")
}

/// At most `max` items, then one line saying how many were left out (`uncounted` of them
/// were already left out before, see [`Changes::omitted`]).
fn capped(
    items: impl Iterator<Item = String>,
    uncounted: usize,
    max: usize,
    what: &str,
) -> Vec<String> {
    let all: Vec<String> = items.collect();
    let more = all.len().saturating_sub(max).saturating_add(uncounted);
    let mut shown: Vec<String> = all.into_iter().take(max).collect();
    if more > 0 {
        shown.push(format!("- … and {more} more {what}"));
    }
    shown
}

/// Joins whole lines while they fit in `max` bytes, then says the rest was cut. Cutting between
/// lines keeps every code span closed.
fn join_capped(lines: &[String], max: usize) -> String {
    const NOTE: &str = "\n_… comment truncated: it would exceed GitHub's size limit._\n";
    let mut body = String::new();
    for line in lines {
        if body.len() + line.len() + 1 > max - NOTE.len() {
            body.push_str(NOTE);
            return body;
        }
        body.push_str(line);
        body.push('\n');
    }
    body
}

/// Untrusted text cut to [`MAX_VALUE_CHARS`] characters, so one huge line cannot fill the body.
fn shorten(text: &str) -> String {
    match text.char_indices().nth(MAX_VALUE_CHARS) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text.to_owned(),
    }
}

/// Untrusted text as one inline code span: shown literally, so `<script>`, `|`, `*`, `[x](y)`
/// and `@someone` are inert. The backtick fence is one longer than the longest run of
/// backticks inside, and a space pads content that starts or ends with a backtick (CommonMark
/// strips exactly one such space on each side).
pub(crate) fn code_span(text: &str) -> String {
    let text = crate::domain::text::visible(&shorten(text));
    let longest_run = text.split(|c| c != '`').map(str::len).max().unwrap_or(0);
    let fence = "`".repeat(longest_run + 1);
    let pad = text.starts_with('`')
        || text.ends_with('`')
        || (text.starts_with(' ') && text.ends_with(' ') && !text.trim().is_empty());
    if text.is_empty() {
        "` `".to_owned()
    } else if pad {
        format!("{fence} {text} {fence}")
    } else {
        format!("{fence}{text}{fence}")
    }
}

/// Untrusted text as plain Markdown prose: every ASCII punctuation character is
/// backslash-escaped (CommonMark allows it for all of them), so nothing can open a tag, an
/// entity, a link, emphasis, a table cell or a code span; control characters become visible
/// escapes so the text stays on one line; and `@` is followed by a zero-width space so a name
/// in a file cannot notify a GitHub user.
pub(crate) fn escape_markdown(text: &str) -> String {
    let text = crate::domain::text::visible(text);
    let mut out = String::with_capacity(text.len() * 2);
    for c in text.chars() {
        if c == '@' {
            out.push_str("@\u{200B}");
        } else {
            if c.is_ascii_punctuation() {
                out.push('\\');
            }
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::outcome::Reason;

    fn result() -> PublishResult {
        crate::domain::outcome::example_result()
    }

    #[test]
    fn a_plan_says_what_it_would_build() {
        let mut r = result();
        r.dry_run = true;
        r.status = Status::WouldPublish(Reason::ManifestChanged);
        r.build = Some(crate::domain::outcome::BuildRecord {
            tool: "uv".into(),
            tool_version: None,
            runtime: Some("python3.12".into()),
            architecture: "arm64".into(),
            platform: Some("aarch64-manylinux_2_34".into()),
            duration_ms: None,
        });
        let body = comment_body(&r);
        assert!(
            body.contains("- **build**: `would build with uv for python3.12 on arm64`\n"),
            "{body}"
        );
    }

    #[test]
    fn a_layer_in_several_regions_gets_one_comment_with_a_section_per_region() {
        let mut eu = result();
        eu.region = "eu-west-1".into();
        eu.status = Status::Failed {
            error: "PutObject failed: NoSuchBucket <b>".into(),
            settled: None,
        };
        let us = result();
        let body = layer_comment_body(&[&us, &eu]);
        let lines: Vec<&str> = body.lines().collect();
        assert_eq!(
            lines[0],
            marker(&us.layer_name),
            "one marker: one comment per layer"
        );
        assert_eq!(body.matches("<!-- layerpub:").count(), 1);
        assert!(
            lines[1].contains("in 2 regions (1 published, 1 failed)"),
            "{}",
            lines[1]
        );
        assert!(
            body.contains(&format!(
                "#### Published `deps`: new version 2 in `{}`",
                us.region
            )),
            "{body}"
        );
        assert!(
            body.contains("#### Failed to publish `deps` in `eu-west-1`"),
            "{body}"
        );
        assert!(
            body.contains("- **error**: PutObject failed\\: NoSuchBucket \\<b\\>"),
            "{body}"
        );
        assert_eq!(layer_comment_body(&[&us]), comment_body(&us));
    }

    #[test]
    fn a_function_line_says_what_happened_with_its_names_inert() {
        let f = crate::domain::follow_up::FunctionResult {
            function: "api`<b>".into(),
            outcome: crate::domain::follow_up::FunctionOutcome::Updated,
            previous_layer_version_arn: None,
            function_version_arn: Some("arn:aws:lambda:us-east-1:1:function:api:3".into()),
            alias_arn: Some("arn:aws:lambda:us-east-1:1:function:api:live".into()),
            attempts: 1,
        };
        assert_eq!(
            function_line(&f),
            "``api`<b>`` moved onto this version, published as `arn:aws:lambda:us-east-1:1:function:api:3`, alias `arn:aws:lambda:us-east-1:1:function:api:live`"
        );
        let mut r = result();
        r.functions = vec![f];
        assert!(comment_body(&r).contains("- **function**: ``api`<b>`` moved onto"));
    }

    fn heading_of(r: &PublishResult) -> String {
        comment_body(r).lines().nth(1).unwrap().to_owned()
    }

    #[test]
    fn marker_is_a_hidden_comment_naming_the_layer() {
        assert_eq!(marker("deps"), "<!-- layerpub:deps -->");
        assert_eq!(
            marker("arn:aws:lambda:us-east-1:123456789012:layer:my_deps-1"),
            "<!-- layerpub:arn:aws:lambda:us-east-1:123456789012:layer:my_deps-1 -->"
        );
    }

    #[test]
    fn marker_cannot_be_closed_early_by_the_name() {
        for hostile in [
            "a-->b", "a--!>b", "x>y", "a -- b", "-", "--", "<!--", "a%2D",
        ] {
            let m = marker(hostile);
            let inner = m
                .strip_prefix("<!-- ")
                .and_then(|m| m.strip_suffix(" -->"))
                .unwrap();
            assert!(!inner.contains("--") && !inner.contains('>'), "{m}");
            assert!(!inner.contains(' ') && !inner.contains('<'), "{m}");
        }
        // One-to-one: an encoded name never equals another name's marker.
        assert_ne!(marker("a--b"), marker("a-%2Db"));
    }

    #[test]
    fn body_starts_with_the_marker() {
        assert!(comment_body(&result()).starts_with("<!-- layerpub:deps -->\n### "));
    }

    #[test]
    fn published_heading_names_the_new_version() {
        assert_eq!(heading_of(&result()), "### Published `deps`: new version 2");
    }

    #[test]
    fn unchanged_heading_says_the_version_stands() {
        let mut r = result();
        r.status = Status::Unchanged(Reason::Unchanged);
        assert_eq!(heading_of(&r), "### `deps` unchanged: version 2 stands");
    }

    #[test]
    fn plan_heading_says_it_would_publish_or_that_nothing_changed() {
        let mut r = result();
        r.status = Status::WouldPublish(Reason::ManifestChanged);
        r.dry_run = true;
        r.layer_version = None;
        assert_eq!(
            heading_of(&r),
            "### Plan: `deps` would publish a new version (manifest changed; newest now: 1)"
        );
        r.previous_version = None;
        r.status = Status::WouldPublish(Reason::FirstVersion);
        assert!(heading_of(&r).contains("(first version; newest now: none)"));
        r.status = Status::Unchanged(Reason::Unchanged);
        r.layer_version = Some(1);
        assert_eq!(
            heading_of(&r),
            "### Plan: `deps` is unchanged, version 1 stands"
        );
    }

    #[test]
    fn a_failed_target_shows_its_error_and_only_the_reason_it_reached() {
        let mut r = result();
        r.fail("function api: not found".into());
        let body = comment_body(&r);
        assert_eq!(heading_of(&r), "### Failed to publish `deps`");
        for line in [
            "- **error**: function api\\: not found",
            "- **reason**: manifest changed",
            "- **previous version**: 1",
        ] {
            assert!(body.lines().any(|l| l == line), "{line} missing in\n{body}");
        }
        let early = PublishResult::failed("deps", false, "us-east-1", "ab", "denied".into());
        let body = comment_body(&early);
        assert!(
            !body.contains("**reason**"),
            "no decision, no reason: {body}"
        );
    }

    #[test]
    fn facts_list_arn_reason_region_sizes_hash_and_s3() {
        let body = comment_body(&result());
        for line in [
            "- **version ARN**: `arn:aws:lambda:us-east-1:123456789012:layer:deps:2`",
            "- **reason**: manifest changed",
            "- **previous version**: 1",
            "- **region**: `us-east-1`",
            "- **size**: 2.0 KiB zipped, 4.0 KiB unzipped",
            "- **CodeSha256**: `WLZSxnGTsHhPKSv8j9f1UBbWn628NfWBHtS+k15RpCs=`",
            "- **S3**: `s3://bucket/layerpub/deps/abc.zip`",
        ] {
            assert!(body.lines().any(|l| l == line), "{line} missing in\n{body}");
        }
    }

    #[test]
    fn unknown_fields_are_left_out() {
        let mut r = result();
        r.status = Status::Unchanged(Reason::Unchanged);
        (r.code_sha256, r.code_size, r.s3_uri, r.changes) = (None, None, None, None);
        let body = comment_body(&r);
        for absent in [
            "CodeSha256",
            "**size**",
            "**S3**",
            "What changed",
            "previous",
        ] {
            assert!(!body.contains(absent), "{absent} in\n{body}");
        }
    }

    #[test]
    fn changes_are_listed_settings_first() {
        let body = comment_body(&result());
        let section: Vec<&str> = body
            .lines()
            .skip_while(|l| *l != "**What changed**")
            .skip(2)
            .collect();
        assert_eq!(
            section,
            [
                "- setting `compatible-runtimes`",
                "- changed `requests==2.32.3 → requests==2.32.4`",
                "- added `idna==3.7`",
                "- removed `urllib3==2.2.2`",
            ]
        );
    }

    #[test]
    fn a_long_change_list_is_capped_with_a_count() {
        let mut r = result();
        r.changes = Some(Changes {
            added: (0..500).map(|i| format!("pkg{i:03}==1.0")).collect(),
            ..Changes::default()
        });
        let body = comment_body(&r);
        let items = body.lines().filter(|l| l.starts_with("- added ")).count();
        assert_eq!(items, MAX_CHANGE_LINES);
        assert!(body.contains("- … and 450 more changes\n"), "{body}");
        r.changes.as_mut().unwrap().omitted = 9_000;
        let body = comment_body(&r);
        assert!(
            body.contains("- … and 9450 more changes\n"),
            "lines the listing left out are counted: {body}"
        );
    }

    #[test]
    fn the_whole_body_stays_under_githubs_limit() {
        let mut r = result();
        let huge = "x".repeat(100_000);
        r.changes = Some(Changes {
            added: vec![huge.clone(); 60],
            ..Changes::default()
        });
        r.warnings = vec![huge; 100];
        let body = comment_body(&r);
        assert!(body.len() <= MAX_BODY_BYTES, "{}", body.len());
        assert!(body.chars().count() < 65_536);
        // A single huge value is cut, not the body.
        assert!(body.contains("…`"), "values are shortened");
    }

    #[test]
    fn join_capped_cuts_between_lines_and_says_so() {
        let lines: Vec<String> = (0..100).map(|i| format!("- `line {i}`")).collect();
        let body = join_capped(&lines, 200);
        assert!(body.len() <= 200, "{}", body.len());
        assert!(body.ends_with("size limit._\n"), "{body}");
        assert!(
            body.lines()
                .filter(|l| l.starts_with("- "))
                .all(|l| l.ends_with('`'))
        );
    }

    #[test]
    fn warnings_are_listed_escaped_and_capped() {
        let mut r = result();
        r.warnings = (0..25).map(|i| format!("warning *{i}*")).collect();
        let body = comment_body(&r);
        assert!(
            body.contains("\n**Warnings**\n\n- warning \\*0\\*\n"),
            "{body}"
        );
        assert!(body.ends_with("- … and 5 more warnings\n"), "{body}");
    }

    #[test]
    fn the_body_is_deterministic() {
        let r = result();
        assert_eq!(comment_body(&r), comment_body(&r.clone()));
        let mut same = r.clone();
        same.zip_path = Some("/elsewhere/deps.zip".into());
        assert_eq!(
            comment_body(&r),
            comment_body(&same),
            "the local zip path is not shown"
        );
    }

    #[test]
    fn code_span_fence_outgrows_backticks_inside() {
        assert_eq!(code_span("a==1"), "`a==1`");
        assert_eq!(code_span("a`b"), "``a`b``");
        assert_eq!(code_span("x``y`"), "``` x``y` ```");
        assert_eq!(code_span("`"), "`` ` ``");
        assert_eq!(code_span(""), "` `");
    }

    #[test]
    fn hostile_lock_file_lines_come_out_inert() {
        let hostile = "evil==1 </details><script>alert(1)</script> | a | `x` [l](http://e) @octocat\n</details>\n# Heading";
        let mut r = result();
        r.changes = Some(Changes {
            added: vec![hostile.into()],
            ..Changes::default()
        });
        let body = comment_body(&r);
        let line = body.lines().find(|l| l.starts_with("- added ")).unwrap();
        // One line: the newlines are shown as `\n`, so no HTML block or heading can start.
        assert!(line.contains("\\n</details>\\n# Heading"), "{line}");
        assert!(
            !body
                .lines()
                .any(|l| l.starts_with("</details>") || l.starts_with("# "))
        );
        // The whole value sits in one code span whose fence is longer than the backticks inside.
        let inner = line
            .strip_prefix("- added ``")
            .unwrap()
            .strip_suffix("``")
            .unwrap();
        assert!(!inner.contains("``"), "{line}");
    }

    #[test]
    fn escape_markdown_neutralises_html_tables_emphasis_links_and_mentions() {
        assert_eq!(
            escape_markdown("</details><script>"),
            "\\<\\/details\\>\\<script\\>"
        );
        assert_eq!(escape_markdown("a|b*c_d"), "a\\|b\\*c\\_d");
        assert_eq!(escape_markdown("[x](y) `z`"), "\\[x\\]\\(y\\) \\`z\\`");
        assert_eq!(escape_markdown("&amp;"), "\\&amp\\;");
        assert_eq!(escape_markdown("two\nlines\r"), "two\\\\nlines\\\\r");
        assert_eq!(escape_markdown("hi @octocat"), "hi @\u{200B}octocat");
        assert_eq!(escape_markdown("plain words 12"), "plain words 12");
    }

    #[test]
    fn every_untrusted_character_is_escaped_or_in_code() {
        let bad = "<>&|*_[]`!#\n";
        let mut r = result();
        r.warnings = vec![bad.into()];
        r.changes = Some(Changes {
            settings: vec![bad.into()],
            ..Changes::default()
        });
        let body = comment_body(&r);
        assert!(!body.contains("\n<"), "{body}");
        assert!(body.contains("\n- setting ``<>&|*_[]`!#\\n``\n"), "{body}");
        assert!(
            body.contains("\n- \\<\\>\\&\\|\\*\\_\\[\\]\\`\\!\\#\\\\n\n"),
            "{body}"
        );
    }
}
