//! One glob, compiled and matched against a path's bytes: the syntax `include` and `exclude`
//! take (globset's, which this replaces: the regex engine it compiles to weighed ~0.5 MB of the
//! binary for a handful of patterns such as `*.pyc` and `__pycache__/`). Pure.
//!
//! `*` and `?` stay within one folder name; `**` as a whole component crosses folders
//! (`**/x`, `a/**/b`, `a/**`), elsewhere it is `*`; `[abc]`, `[a-z]`, `[!a]` (or `[^a]`) are
//! classes; `{a,b}` are alternatives (not nested); `\` escapes the next character. Names that
//! are not UTF-8 match byte for byte.

use std::fmt;

/// Why a pattern is not a glob; `Display` is the reason alone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum GlobError {
    UnclosedClass,
    InvalidRange(char, char),
    UnclosedAlternates,
    UnopenedAlternates,
    NestedAlternates,
    DanglingEscape,
    TooManyAlternatives,
}

impl fmt::Display for GlobError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GlobError::UnclosedClass => f.write_str("unclosed character class; missing ']'"),
            GlobError::InvalidRange(a, b) => write!(f, "invalid range; '{a}' > '{b}'"),
            GlobError::UnclosedAlternates => {
                f.write_str("unclosed alternate group; missing '}' (maybe escape '{' with '[{]'?)")
            }
            GlobError::UnopenedAlternates => {
                f.write_str("unopened alternate group; missing '{' (maybe escape '}' with '[}]'?)")
            }
            GlobError::NestedAlternates => f.write_str("nested alternate groups are not allowed"),
            GlobError::DanglingEscape => f.write_str("dangling '\\'"),
            GlobError::TooManyAlternatives => {
                f.write_str("more than 1024 alternatives once the `{…}` groups are combined")
            }
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Tok {
    /// This byte.
    Lit(u8),
    /// `?`: one character, not `/`.
    One,
    /// `*`: any run of characters within one folder name.
    Star,
    /// `**/` (at the start, or after `/`): zero or more whole folders, each with its `/`.
    Dirs,
    /// `/**` at the end (or a lone `**`): everything that is left.
    Rest,
    /// `[…]`: one character in (or, negated, not in) the ranges; never `/`.
    Class {
        negated: bool,
        ranges: Vec<(char, char)>,
    },
    /// `{a,b}`: expanded away by [`Glob::new`] before matching.
    Alt(Vec<Vec<Tok>>),
}

/// A compiled glob: its alternatives once `{…}` groups are expanded.
#[derive(Debug, Clone)]
pub(crate) struct Glob {
    alternatives: Vec<Alternative>,
}

#[derive(Debug, Clone)]
struct Alternative {
    toks: Vec<Tok>,
    /// `**/` then tokens that never match `/`: only the last name can match, and is the only
    /// part looked at (the common `*.pyc`, `.DS_Store` made unanchored).
    last_name_only: bool,
}

impl Glob {
    pub(crate) fn new(pattern: &str) -> Result<Glob, GlobError> {
        let toks = parse(pattern)?;
        let mut expanded = vec![Vec::new()];
        for tok in toks {
            match tok {
                Tok::Alt(alts) => {
                    let mut next = Vec::with_capacity(expanded.len() * alts.len());
                    for head in &expanded {
                        for alt in &alts {
                            let mut v: Vec<Tok> = head.clone();
                            v.extend(alt.iter().cloned());
                            next.push(v);
                        }
                    }
                    if next.len() > 1024 {
                        return Err(GlobError::TooManyAlternatives);
                    }
                    expanded = next;
                }
                other => expanded.iter_mut().for_each(|v| v.push(other.clone())),
            }
        }
        let alternatives = expanded
            .into_iter()
            .map(|toks| {
                let last_name_only = toks.first() == Some(&Tok::Dirs)
                    && toks[1..]
                        .iter()
                        .all(|t| !matches!(t, Tok::Lit(b'/') | Tok::Dirs | Tok::Rest));
                let toks = if last_name_only {
                    toks[1..].to_vec()
                } else {
                    toks
                };
                Alternative {
                    toks,
                    last_name_only,
                }
            })
            .collect();
        Ok(Glob { alternatives })
    }

    /// Whether `path` (`/`-separated, relative) matches.
    pub(crate) fn is_match(&self, path: &[u8]) -> bool {
        self.alternatives.iter().any(|a| {
            if a.last_name_only {
                let name = match path.iter().rposition(|&b| b == b'/') {
                    Some(i) => &path[i + 1..],
                    None => path,
                };
                matches(&a.toks, name)
            } else {
                matches(&a.toks, path)
            }
        })
    }
}

/// Several globs; a path matches when any of them does.
#[derive(Debug, Clone, Default)]
pub(crate) struct GlobSet {
    globs: Vec<Glob>,
}

impl GlobSet {
    pub(crate) fn add(&mut self, glob: Glob) {
        self.globs.push(glob);
    }

    pub(crate) fn is_match(&self, path: &[u8]) -> bool {
        self.globs.iter().any(|g| g.is_match(path))
    }
}

fn parse(pattern: &str) -> Result<Vec<Tok>, GlobError> {
    let chars: Vec<char> = pattern.chars().collect();
    let mut out: Vec<Tok> = Vec::new();
    // Inside `{…}`: the alternatives so far, and the one being read.
    let mut group: Option<(Vec<Vec<Tok>>, Vec<Tok>)> = None;
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let in_group = group.is_some();
        match c {
            '\\' => {
                let next = *chars.get(i + 1).ok_or(GlobError::DanglingEscape)?;
                push_char(sink(&mut group, &mut out), next);
                i += 2;
                continue;
            }
            '?' => sink(&mut group, &mut out).push(Tok::One),
            '*' => {
                if chars.get(i + 1) == Some(&'*') {
                    let starts = i == 0 || chars[i - 1] == '/';
                    // `**/` at the very end is `**`, as in globset.
                    let ends =
                        i + 2 == chars.len() || (i + 3 == chars.len() && chars[i + 2] == '/');
                    let slash_after = chars.get(i + 2) == Some(&'/');
                    if starts && slash_after && !ends && !in_group {
                        out.push(Tok::Dirs);
                        i += 3;
                        continue;
                    }
                    if starts && ends && !in_group {
                        out.push(Tok::Rest);
                        break;
                    }
                    sink(&mut group, &mut out).push(Tok::Star);
                    i += 2;
                    continue;
                }
                sink(&mut group, &mut out).push(Tok::Star);
            }
            '[' => {
                let (tok, next) = class(&chars, i)?;
                sink(&mut group, &mut out).push(tok);
                i = next;
                continue;
            }
            '{' => {
                if in_group {
                    return Err(GlobError::NestedAlternates);
                }
                group = Some((Vec::new(), Vec::new()));
            }
            ',' if in_group => {
                let (alts, current) = group.as_mut().expect("in a group");
                alts.push(std::mem::take(current));
            }
            '}' => {
                let (mut alts, current) = group.take().ok_or(GlobError::UnopenedAlternates)?;
                alts.push(current);
                // As globset (what this replaced) read it: an empty alternative is dropped
                // (`a{,.py}` is `a.py` only), and a group of empty ones is no group.
                alts.retain(|a| !a.is_empty());
                if !alts.is_empty() {
                    out.push(Tok::Alt(alts));
                }
            }
            _ => push_char(sink(&mut group, &mut out), c),
        }
        i += 1;
    }
    if group.is_some() {
        return Err(GlobError::UnclosedAlternates);
    }
    Ok(out)
}

/// Where the next token goes: the alternative being read, or the pattern.
fn sink<'a>(
    group: &'a mut Option<(Vec<Vec<Tok>>, Vec<Tok>)>,
    out: &'a mut Vec<Tok>,
) -> &'a mut Vec<Tok> {
    match group {
        Some((_, current)) => current,
        None => out,
    }
}

fn push_char(out: &mut Vec<Tok>, c: char) {
    let mut buf = [0; 4];
    out.extend(c.encode_utf8(&mut buf).bytes().map(Tok::Lit));
}

/// The class starting at `chars[start]` (`[`), and the index after its `]`.
fn class(chars: &[char], start: usize) -> Result<(Tok, usize), GlobError> {
    let mut i = start + 1;
    let negated = matches!(chars.get(i), Some('!' | '^'));
    if negated {
        i += 1;
    }
    let mut ranges = Vec::new();
    let first = i;
    loop {
        let c = *chars.get(i).ok_or(GlobError::UnclosedClass)?;
        if c == ']' && i > first {
            return Ok((Tok::Class { negated, ranges }, i + 1));
        }
        match (chars.get(i + 1), chars.get(i + 2)) {
            (Some('-'), Some(&hi)) if hi != ']' => {
                if c > hi {
                    return Err(GlobError::InvalidRange(c, hi));
                }
                ranges.push((c, hi));
                i += 3;
            }
            _ => {
                ranges.push((c, c));
                i += 1;
            }
        }
    }
}

/// The character at the start of `s` and its length in bytes; a byte that does not start
/// valid UTF-8 counts as one character of its own.
fn first_char(s: &[u8]) -> (Option<char>, usize) {
    let len = match s[0] {
        0x00..=0x7f => 1,
        0xc0..=0xdf => 2,
        0xe0..=0xef => 3,
        0xf0..=0xf7 => 4,
        _ => return (None, 1),
    };
    match s.get(..len).and_then(|b| std::str::from_utf8(b).ok()) {
        Some(text) => (text.chars().next(), len),
        None => (None, 1),
    }
}

fn matches(toks: &[Tok], s: &[u8]) -> bool {
    let Some((tok, rest)) = toks.split_first() else {
        return s.is_empty();
    };
    match tok {
        Tok::Lit(b) => s.first() == Some(b) && matches(rest, &s[1..]),
        Tok::One => {
            if s.first().is_none_or(|&b| b == b'/') {
                return false;
            }
            matches(rest, &s[first_char(s).1..])
        }
        Tok::Class { negated, ranges } => {
            if s.first().is_none_or(|&b| b == b'/') {
                return false;
            }
            let (c, len) = first_char(s);
            let inside = c.is_some_and(|c| ranges.iter().any(|&(lo, hi)| lo <= c && c <= hi));
            inside != *negated && matches(rest, &s[len..])
        }
        Tok::Star => {
            let mut i = 0;
            loop {
                if matches(rest, &s[i..]) {
                    return true;
                }
                if i == s.len() || s[i] == b'/' {
                    return false;
                }
                i += 1;
            }
        }
        Tok::Dirs => {
            matches(rest, s)
                || s.iter()
                    .enumerate()
                    .any(|(i, &b)| b == b'/' && matches(rest, &s[i + 1..]))
        }
        Tok::Rest => true,
        Tok::Alt(_) => unreachable!("expanded by Glob::new"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn is(pattern: &str, path: &str) -> bool {
        Glob::new(pattern).unwrap().is_match(path.as_bytes())
    }

    #[test]
    fn star_and_question_mark_stay_in_one_name() {
        assert!(is("*.pyc", "a.pyc"));
        assert!(is("*.pyc", ".pyc"));
        assert!(!is("*.pyc", "d/a.pyc"));
        assert!(is("docs/*.md", "docs/a.md"));
        assert!(!is("docs/*.md", "docs/sub/a.md"));
        assert!(is("a?c", "abc"));
        assert!(is("a?c", "aéc"));
        assert!(!is("a?c", "a/c"));
        assert!(!is("a?c", "ac"));
        assert!(is("*a*b", "xaxxb"));
        assert!(!is("*a*b", "xaxxbc"));
    }

    #[test]
    fn double_star_crosses_folders_only_as_a_whole_component() {
        assert!(is("**/x.py", "x.py"));
        assert!(is("**/x.py", "a/b/x.py"));
        assert!(!is("**/x.py", "a/bx.py"));
        assert!(is("a/**/b", "a/b"));
        assert!(is("a/**/b", "a/x/y/b"));
        assert!(!is("a/**/b", "ab"));
        assert!(is("a/**", "a/x"));
        assert!(is("a/**", "a/x/y"));
        assert!(!is("a/**", "b/x"));
        assert!(is("**", "a/b/c"));
        assert!(is("**/*.pyc", "p/q/r.pyc"));
        assert!(is("**/t/*.py", "a/t/b.py"));
        assert!(!is("**/t/*.py", "a/t/c/b.py"));
        // Not a whole component: one star.
        assert!(is("a**b", "axxb"));
        assert!(!is("a**b", "ax/xb"));
    }

    #[test]
    fn classes_ranges_and_negation() {
        assert!(is("[abc].py", "b.py"));
        assert!(!is("[abc].py", "d.py"));
        assert!(is("[a-c]x", "bx"));
        assert!(is("[!a-c]x", "dx"));
        assert!(!is("[^a-c]x", "ax"));
        assert!(is("[]]", "]"));
        assert!(is("[a-]", "-"));
        assert!(!is("a[/]b", "a/b"), "a class never matches the separator");
        assert!(is("[é]", "é"));
    }

    #[test]
    fn alternatives_and_escapes() {
        assert!(is("*.{pyc,pyo}", "a.pyo"));
        assert!(is("*.{pyc,pyo}", "a.pyc"));
        assert!(!is("*.{pyc,pyo}", "a.py"));
        assert!(is("{a,b/c}/x", "b/c/x"));
        // globset's reading, kept: an empty alternative is dropped.
        assert!(is("{,x}y", "xy"));
        assert!(!is("{,x}y", "y"));
        assert!(is("{,}y", "y"));
        assert!(is(r"\*.py", "*.py"));
        assert!(!is(r"\*.py", "a.py"));
        assert!(is("a,b", "a,b"));
    }

    #[test]
    fn names_that_are_not_utf8_match_byte_for_byte() {
        let g = Glob::new("**/*.so").unwrap();
        assert!(g.is_match(b"lib/\xff\xfe.so"));
        assert!(Glob::new("?.so").unwrap().is_match(b"\xff.so"));
        assert!(!Glob::new("*.so").unwrap().is_match(b"\xff.py"));
    }

    #[test]
    fn bad_patterns_say_why() {
        let err = |p: &str| Glob::new(p).unwrap_err();
        assert_eq!(err("[a"), GlobError::UnclosedClass);
        assert_eq!(err("a[b"), GlobError::UnclosedClass);
        assert_eq!(err("[z-a]"), GlobError::InvalidRange('z', 'a'));
        assert_eq!(err("{b"), GlobError::UnclosedAlternates);
        assert_eq!(err("b}"), GlobError::UnopenedAlternates);
        assert_eq!(err("{a,{b}}"), GlobError::NestedAlternates);
        assert_eq!(err("a\\"), GlobError::DanglingEscape);
        assert_eq!(err(&"{a,b,c,d}".repeat(6)), GlobError::TooManyAlternatives);
        assert_eq!(
            err("[a").to_string(),
            "unclosed character class; missing ']'"
        );
    }

    /// The matcher against globset (what it replaced, with `literal_separator` as config used
    /// it), on generated patterns and paths: every pattern both accept must match the same
    /// paths. Outside the comparison, on purpose: `?` over a multi-byte character (one
    /// character here, one byte in globset; the paths are ASCII), `[!…]` against `/` (never
    /// here), a pattern ending in `/` (config strips it first).
    mod against_globset {
        use super::*;
        use proptest::prelude::*;

        const TOKENS: &[&str] = &[
            "a", "b", ".", "-", "*", "?", "**", "/", "**/", "/**", "[ab]", "[a-c]", "[.]", "{a,b}",
            "{a*,.b}", "{,a}", "\\*",
        ];

        fn pattern() -> impl Strategy<Value = String> {
            prop::collection::vec(prop::sample::select(TOKENS), 1..7)
                .prop_map(|t| t.concat())
                .prop_filter("config strips a trailing /", |p| !p.ends_with('/'))
        }

        fn path() -> impl Strategy<Value = String> {
            prop::collection::vec("[ab.-]{1,3}", 1..5).prop_map(|names| names.join("/"))
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(4000))]
            #[test]
            fn matches_what_globset_matches(p in pattern(), paths in prop::collection::vec(path(), 1..8)) {
                let reference = globset::GlobBuilder::new(&p).literal_separator(true).build();
                let ours = Glob::new(&p);
                prop_assert_eq!(ours.is_ok(), reference.is_ok(), "pattern {:?}: {:?}", p, ours.err());
                if let (Ok(ours), Ok(reference)) = (ours, reference) {
                    let reference = reference.compile_matcher();
                    for path in paths {
                        prop_assert_eq!(
                            ours.is_match(path.as_bytes()),
                            reference.is_match(&path),
                            "pattern {:?} path {:?}", p, path
                        );
                    }
                }
            }
        }
    }
}
