//! The job summary (`$GITHUB_STEP_SUMMARY`): a short Markdown table per layer. Pure.
//!
//! Every value that comes from a file, a lock file or a setting is put in a code span (the
//! comment's, see `comment::code_span`) with `|` escaped, so it cannot end the table cell,
//! start markup, or inject HTML (code spans render `<` literally).

use crate::domain::outcome::{PublishResult, Status};
use crate::domain::text::human_bytes;

/// At most this many changed lines per layer; the rest are counted.
const MAX_CHANGE_LINES: usize = 20;

/// Inert inline text for a table cell: the comment's code span (fence longer than any backtick
/// run inside, control characters made visible), with `|` escaped so it cannot end the cell.
pub(crate) fn code_span(text: &str) -> String {
    crate::render::comment::code_span(text).replace('|', "\\|")
}

/// The summary section of every layer, credentials in URLs replaced by `***`.
pub fn summary_markdown(results: &[PublishResult]) -> String {
    let md = results
        .iter()
        .map(layer_section)
        .collect::<Vec<_>>()
        .join("\n");
    crate::domain::text::redact_url_credentials(&md).into_owned()
}

fn layer_section(r: &PublishResult) -> String {
    let version = r
        .layer_version
        .map_or_else(|| "none".to_owned(), |v| v.to_string());
    let (outcome, reason) = match &r.status {
        Status::Failed { error, .. } => (format!("failed: {}", code_span(error)), None),
        Status::Unchanged(reason) if r.dry_run => (
            format!("plan: nothing to publish (newest version {version})"),
            Some(reason),
        ),
        Status::WouldPublish(reason) => (
            format!("plan: would publish (newest version {version})"),
            Some(reason),
        ),
        Status::Published(reason) => (format!("published version {version}"), Some(reason)),
        Status::Unchanged(reason) => (format!("unchanged: version {version} stands"), Some(reason)),
    };
    let mut rows = vec![(
        "Result",
        match reason {
            Some(reason) => format!("{outcome} — {}", reason.describe()),
            None => outcome,
        },
    )];
    if let Some(arn) = &r.layer_version_arn {
        rows.push(("Version ARN", code_span(arn)));
    }
    if let Some(p) = r.previous_version {
        rows.push(("Previous version", p.to_string()));
    }
    if let (Some(size), Some(unzipped)) = (r.code_size, r.unzipped_size) {
        rows.push((
            "Size",
            format!(
                "{} zipped, {} unzipped",
                human_bytes(size),
                human_bytes(unzipped)
            ),
        ));
    }
    if let Some(sha) = &r.code_sha256 {
        rows.push(("CodeSha256", code_span(sha)));
    }
    if let Some(b) = &r.build {
        rows.push(("Build", code_span(&b.describe())));
    }
    rows.push(("Fingerprint", code_span(&r.fingerprint)));
    rows.push(("Region", code_span(&r.region)));
    if let Some(c) = r.changes.as_ref().filter(|c| !c.is_empty()) {
        let mut lines: Vec<String> = Vec::new();
        lines.extend(
            c.changed
                .iter()
                .map(|l| format!("changed {}", code_span(l))),
        );
        lines.extend(c.added.iter().map(|l| format!("added {}", code_span(l))));
        lines.extend(
            c.removed
                .iter()
                .map(|l| format!("removed {}", code_span(l))),
        );
        lines.extend(
            c.settings
                .iter()
                .map(|s| format!("setting {}", code_span(s))),
        );
        let more = lines
            .len()
            .saturating_sub(MAX_CHANGE_LINES)
            .saturating_add(c.omitted);
        lines.truncate(MAX_CHANGE_LINES);
        if more > 0 {
            lines.push(format!("and {more} more"));
        }
        rows.push(("What changed", lines.join("<br>")));
    }
    if !r.shared_with.is_empty() {
        let ids: Vec<String> = r.shared_with.iter().map(|s| code_span(s)).collect();
        rows.push(("Shared (new grants)", ids.join(" ")));
    }
    for f in &r.functions {
        rows.push((
            "Function",
            crate::render::comment::function_line(f).replace('|', "\\|"),
        ));
    }
    if let Some(p) = r.pruned.as_ref().filter(|p| !p.deleted.is_empty()) {
        let v: Vec<String> = p.deleted.iter().map(i64::to_string).collect();
        rows.push(("Pruned versions", v.join(", ")));
    }
    for w in &r.warnings {
        rows.push(("Warning", code_span(w)));
    }
    let mut s = format!(
        "### layerpub: {}\n\n| | |\n|---|---|\n",
        code_span(&r.layer_name)
    );
    for (k, v) in rows {
        s += &format!("| {k} | {v} |\n");
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::outcome::{Changes, Reason};

    fn result() -> PublishResult {
        PublishResult {
            changes: Some(Changes {
                changed: vec!["requests==2.32.3 → requests==2.32.4".into()],
                ..Changes::default()
            }),
            ..crate::domain::outcome::example_result()
        }
    }

    #[test]
    fn a_built_layer_says_how_it_was_built() {
        let mut r = result();
        r.build = Some(crate::domain::outcome::BuildRecord {
            tool: "pip".into(),
            tool_version: Some("24.0".into()),
            runtime: Some("python3.12".into()),
            architecture: "arm64".into(),
            platform: Some("manylinux_2_34_aarch64".into()),
            duration_ms: Some(3_210),
        });
        let md = summary_markdown(&[r]);
        assert!(
            md.contains("| Build | `built with pip 24.0 for python3.12 on arm64 in 3.2 s` |"),
            "{md}"
        );
        assert!(!summary_markdown(&[result()]).contains("Build"));
    }

    #[test]
    fn a_published_layer_gets_its_table() {
        let md = summary_markdown(&[result()]);
        assert!(md.starts_with("### layerpub: `deps`\n\n| | |\n|---|---|\n| Result | published version 2 — manifest changed |\n"), "{md}");
        assert!(
            md.contains("| Size | 2.0 KiB zipped, 4.0 KiB unzipped |"),
            "{md}"
        );
        assert!(
            md.contains("| What changed | changed `requests==2.32.3 → requests==2.32.4` |"),
            "{md}"
        );
    }

    #[test]
    fn the_result_row_says_what_the_status_says() {
        let row = |r: &PublishResult| {
            let md = summary_markdown(std::slice::from_ref(r));
            md.lines()
                .find(|l| l.starts_with("| Result |"))
                .unwrap()
                .to_owned()
        };
        let mut r = result();
        r.status = Status::Unchanged(Reason::Unchanged);
        assert_eq!(
            row(&r),
            "| Result | unchanged: version 2 stands — unchanged |"
        );
        r.dry_run = true;
        assert_eq!(
            row(&r),
            "| Result | plan: nothing to publish (newest version 2) — unchanged |"
        );
        r.status = Status::WouldPublish(Reason::FirstVersion);
        assert_eq!(
            row(&r),
            "| Result | plan: would publish (newest version 2) — first version |"
        );
        r.fail("denied | by policy".into());
        assert_eq!(row(&r), "| Result | failed: `denied \\| by policy` |");
    }

    #[test]
    fn hostile_text_stays_inside_its_cell() {
        let span = code_span("a|b`c``d\n</td><script>");
        assert_eq!(span, "```a\\|b`c``d\\n</td><script>```");
        let mut r = result();
        r.warnings = vec!["x | y\n## injected".into()];
        let md = summary_markdown(&[r]);
        assert!(md.contains("| Warning | `x \\| y\\n## injected` |"), "{md}");
        assert_eq!(
            md.lines().filter(|l| l.starts_with("##")).count(),
            1,
            "only our own heading: {md}"
        );
    }

    #[test]
    fn long_change_lists_are_cut() {
        let mut r = result();
        r.changes = Some(Changes {
            added: (0..30).map(|i| format!("pkg{i:02}==1")).collect(),
            ..Changes::default()
        });
        let md = summary_markdown(std::slice::from_ref(&r));
        assert!(md.contains("<br>and 10 more |"), "{md}");
        r.changes.as_mut().unwrap().omitted = 5;
        let md = summary_markdown(&[r]);
        assert!(md.contains("<br>and 15 more |"), "{md}");
    }
}
