//! Untrusted text (file names, settings, lock-file lines, documents read back from S3, API
//! answers) kept on its line wherever layerpub writes it: the log, annotations, the job
//! summary, the comment, the dotenv report. Pure.
//!
//! Which characters end a line depends on the reader:
//! - the GitHub runner reads a step's stdout and stderr with .NET's `StreamReader.ReadLine`,
//!   which ends a line at LF, at CR and at CRLF (actions/runner `ProcessInvoker.StartReadStream`),
//!   and then looks for a workflow command on every such line;
//! - CommonMark (the summary, the comment) ends a line at LF, CR and CRLF too;
//! - Unicode-aware viewers also break at NEL (U+0085), LINE SEPARATOR (U+2028) and PARAGRAPH
//!   SEPARATOR (U+2029), and a terminal obeys every control character.
//!
//! So every control character and both separators are shown as escapes by one function,
//! [`visible`], used by every renderer.

use std::borrow::Cow;
use std::fmt::Write as _;

/// Whether a reader of layerpub's output may end a line at `c` (see the module's notes).
pub(crate) fn is_line_break(c: char) -> bool {
    matches!(
        c,
        '\n' | '\r' | '\u{0B}' | '\u{0C}' | '\u{85}' | '\u{2028}' | '\u{2029}'
    )
}

/// Whether `c` must not reach output raw: a line break, or any other control character.
pub(crate) fn needs_escape(c: char) -> bool {
    c.is_control() || is_line_break(c)
}

/// `text` with every character of [`needs_escape`] shown as an escape (`\n`, `\r`, `\t`,
/// `\u{1b}`, `\u{2028}`), so it stays on one line and prints nothing but itself.
pub(crate) fn visible(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if needs_escape(c) => {
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            }
            c => out.push(c),
        }
    }
    out
}

/// `text` with the credentials of every URL in it replaced by `***`:
/// `http://user:secret@host/…` → `http://***@host/…`. A URL layerpub prints (endpoint-url,
/// GITHUB_API_URL, CI_API_V4_URL, a lock file's `git+https://token@…`) may carry a password;
/// every output goes through this before it is written.
pub(crate) fn redact_url_credentials(text: &str) -> Cow<'_, str> {
    if !text.contains("://") {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find("://") {
        let (head, tail) = rest.split_at(i + 3);
        out.push_str(head);
        // The authority ends at the path, query, fragment, or where the URL is quoted or ends.
        let end = tail
            .find(|c: char| {
                matches!(c, '/' | '?' | '#' | '`' | '\'' | '"' | '<' | '>' | '\\')
                    || c.is_whitespace()
                    || needs_escape(c)
            })
            .unwrap_or(tail.len());
        let authority = &tail[..end];
        match authority.rfind('@') {
            Some(at) if has_scheme(head) => {
                out.push_str("***");
                out.push_str(&authority[at..]);
            }
            _ => out.push_str(authority),
        }
        rest = &tail[end..];
    }
    out.push_str(rest);
    Cow::Owned(out)
}

/// Whether `head` (text up to and including `://`) ends with a URL scheme.
fn has_scheme(head: &str) -> bool {
    let before = &head[..head.len() - 3];
    let scheme_start = before
        .rfind(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.')))
        .map_or(0, |i| i + 1);
    before[scheme_start..]
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic())
}

/// `12.3 MiB`-style sizes for messages.
pub(crate) fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if n < 1024 {
        return format!("{n} B");
    }
    let mut v = n as f64 / 1024.0;
    let mut unit = 0;
    while v >= 1024.0 && unit < UNITS.len() - 1 {
        v /= 1024.0;
        unit += 1;
    }
    format!("{v:.1} {}", UNITS[unit])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_line_break_and_control_character_is_shown_not_obeyed() {
        assert_eq!(
            visible("a\nb\rc\r\nd\te\u{1b}[31mf\u{85}g\u{2028}h\u{2029}i\u{0B}j\u{0C}k"),
            "a\\nb\\rc\\r\\nd\\te\\u{1b}[31mf\\u{85}g\\u{2028}h\\u{2029}i\\u{b}j\\u{c}k"
        );
        assert_eq!(visible("café ünïcode, `ticks`"), "café ünïcode, `ticks`");
        assert!(!visible("\u{7f}\u{0}").chars().any(needs_escape));
    }

    #[test]
    fn url_credentials_are_replaced_and_nothing_else_is() {
        let r = |t: &str| redact_url_credentials(t).into_owned();
        assert_eq!(
            r("endpoint-url: `http://user:s3cr3t@127.0.0.1:9/x?y` failed"),
            "endpoint-url: `http://***@127.0.0.1:9/x?y` failed"
        );
        assert_eq!(
            r("git+https://ghp_tok@github.com/a/b.git"),
            "git+https://***@github.com/a/b.git"
        );
        assert_eq!(
            r("a https://u:p@w@h b http://h/@x"),
            "a https://***@h b http://h/@x"
        );
        assert_eq!(
            r("no url, mail@example.com, ://x@y"),
            "no url, mail@example.com, ://x@y"
        );
        assert_eq!(r("tail http://u:p@"), "tail http://***@");
        assert_eq!(r("ünï http://ü:é@h ü"), "ünï http://***@h ü");
    }
}
