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

use std::fmt::Write as _;

/// Whether a reader of layerpub's output may end a line at `c` (see the module's notes).
pub fn is_line_break(c: char) -> bool {
    matches!(
        c,
        '\n' | '\r' | '\u{0B}' | '\u{0C}' | '\u{85}' | '\u{2028}' | '\u{2029}'
    )
}

/// Whether `c` must not reach output raw: a line break, or any other control character.
pub fn needs_escape(c: char) -> bool {
    c.is_control() || is_line_break(c)
}

/// `text` with every character of [`needs_escape`] shown as an escape (`\n`, `\r`, `\t`,
/// `\u{1b}`, `\u{2028}`), so it stays on one line and prints nothing but itself.
pub fn visible(text: &str) -> String {
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
}
