//! What changed between two fingerprint documents, for people: lock-file lines added, removed
//! or changed (a package whose pin moved), files of the tree, and shaping settings. Pure.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};

use crate::domain::outcome::Changes;
use crate::package::fingerprint::{FingerprintDocument, Source};

/// At most this many lines in each list (added, removed, changed); the rest is counted in
/// [`Changes::omitted`]. The comment shows 50 and the summary 20, so a rewritten 100,000-line
/// lock file must not carry 100,000 lines into the JSON report and `result-json`.
pub(crate) const MAX_LISTED: usize = 1_000;

/// Up to this many middle lines, each is looked for in the shared parts as they are (text or
/// lines); above it, the shared lines are hashed once into a set, so that the work stays
/// linear however many lines changed.
const FEW: usize = 16;

/// Compares the previous version's document with the current one.
///
/// Linear in the number of lines: lines are matched through hash sets, and a removed line is
/// paired with the first added line of the same package through a map keyed by package name.
/// A line is added when the other document has it nowhere, so the lines both documents share
/// at their start and end need no hashing: only the middles are. When both documents hold the
/// text of the same lock files, those shared parts are found on the text itself and never cut
/// into lines (a 100,000-line lock file with one pin moved costs one pass of `memcmp`).
/// A document read back from S3 is untrusted: nothing here slices or indexes its strings.
pub fn changes(previous: &FingerprintDocument, current: &FingerprintDocument) -> Changes {
    let mut out = Changes::default();
    if previous.source != current.source {
        match (lock_texts(&previous.source), lock_texts(&current.source)) {
            (Some(old), Some(new)) => texts(&mut out, &old, &new),
            _ => {
                let (old, new) = (entries(&previous.source), entries(&current.source));
                list(&mut out, &old, &new);
            }
        }
    }
    settings(&mut out, previous, current);
    out
}

/// Two whole lists of lines: their shared start and end are found line by line.
fn list(out: &mut Changes, old: &[Cow<'_, str>], new: &[Cow<'_, str>]) {
    let start = old.iter().zip(new).take_while(|(a, b)| a == b).count();
    let (old_rest, new_rest) = (&old[start..], &new[start..]);
    let end = old_rest
        .iter()
        .rev()
        .zip(new_rest.iter().rev())
        .take_while(|(a, b)| a == b)
        .count();
    let old_mid: Vec<&str> = old_rest[..old_rest.len() - end]
        .iter()
        .map(|l| l.as_ref())
        .collect();
    let new_mid: Vec<&str> = new_rest[..new_rest.len() - end]
        .iter()
        .map(|l| l.as_ref())
        .collect();
    let shared = old[..start]
        .iter()
        .chain(&old[old.len() - end..])
        .map(|l| l.as_ref());
    let shared = if old_mid.len() + new_mid.len() <= FEW {
        Shared::Lines(shared.collect())
    } else {
        Shared::Set(shared.collect())
    };
    lines(out, &old_mid, &new_mid, &shared);
}

/// The lock files' texts of both documents, paired in their order (by name): each pair's
/// shared start and end are found on the text, and only the middles are cut into lines. Any
/// pairing is right: what is outside the middles is the same bytes in both documents.
fn texts(out: &mut Changes, old: &[&str], new: &[&str]) {
    let (mut old_mid, mut new_mid, mut shared) = (Vec::new(), Vec::new(), Vec::new());
    for (o, n) in old.iter().zip(new) {
        let (start, o_end, n_end) = middle(o, n);
        old_mid.extend(meaningful_lines(&o[start..o_end]));
        new_mid.extend(meaningful_lines(&n[start..n_end]));
        shared.extend([&o[..start], &o[o_end..]]);
    }
    // A file only one document has is all middle.
    old_mid.extend(old.iter().skip(new.len()).flat_map(|t| meaningful_lines(t)));
    new_mid.extend(new.iter().skip(old.len()).flat_map(|t| meaningful_lines(t)));
    let shared = if old_mid.len() + new_mid.len() <= FEW {
        Shared::Texts(shared)
    } else {
        Shared::Set(shared.into_iter().flat_map(meaningful_lines).collect())
    };
    lines(out, &old_mid, &new_mid, &shared);
}

/// The parts both documents share (their start and end), where a middle line is looked up.
enum Shared<'a> {
    /// Lock-file texts, searched for the line (few lines are looked up).
    Texts(Vec<&'a str>),
    /// Lines, compared one by one (few lines are looked up).
    Lines(Vec<&'a str>),
    /// Lines hashed once (many lines are looked up).
    Set(HashSet<&'a str>),
}

impl Shared<'_> {
    fn contains(&self, line: &str) -> bool {
        match self {
            Self::Texts(texts) => texts.iter().any(|t| has_line(t, line)),
            Self::Lines(lines) => lines.contains(&line),
            Self::Set(set) => set.contains(line),
        }
    }
}

/// Where two texts differ, cut to whole lines: the middle of `old` is `old[start..old_end]`,
/// that of `new` is `new[start..new_end]`; before and after them the bytes are the same.
fn middle(old: &str, new: &str) -> (usize, usize, usize) {
    let (o, n) = (old.as_bytes(), new.as_bytes());
    let same = common_len(o.chunks(CHUNK), n.chunks(CHUNK), |x, y| {
        x.iter().zip(y).take_while(|(a, b)| a == b).count()
    });
    // Back to the start of the line the first difference is in (both texts agree up to it).
    let start = o[..same]
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(0, |i| i + 1);
    let (o_rest, n_rest) = (&o[start..], &n[start..]);
    let tail = common_len(o_rest.rchunks(CHUNK), n_rest.rchunks(CHUNK), |x, y| {
        x.iter()
            .rev()
            .zip(y.iter().rev())
            .take_while(|(a, b)| a == b)
            .count()
    });
    // Forward to the start of a line, at a line break inside the shared tail: then the tail
    // starts a line in both texts.
    let tail = o_rest[o_rest.len() - tail..]
        .iter()
        .position(|&b| b == b'\n')
        .map_or(0, |i| tail - i - 1);
    (start, old.len() - tail, new.len() - tail)
}

/// Texts are compared this many bytes at a time (`memcmp`), then byte by byte in the first
/// piece that differs.
const CHUNK: usize = 4096;

/// How many bytes two texts share, from the pieces of each in the same order (from the start
/// or from the end), `within` counting the shared bytes of the first pair that differs.
fn common_len<'a>(
    a: impl Iterator<Item = &'a [u8]>,
    b: impl Iterator<Item = &'a [u8]>,
    within: impl Fn(&[u8], &[u8]) -> usize,
) -> usize {
    let mut same = 0;
    for (x, y) in a.zip(b) {
        if x != y {
            return same + within(x, y);
        }
        same += x.len();
    }
    same
}

/// Whether `text` has `line` as one of its meaningful lines (as [`meaningful_lines`] gives
/// them). The text is searched for `line`, and only the lines it occurs in are cut out.
fn has_line(text: &str, line: &str) -> bool {
    if line.is_empty() {
        return false;
    }
    let mut from = 0;
    while let Some(at) = text[from..].find(line) {
        let at = from + at;
        let begin = text[..at].rfind('\n').map_or(0, |i| i + 1);
        let end = text[at..].find('\n').map_or(text.len(), |i| at + i + 1);
        if meaningful_lines(&text[begin..end]).any(|l| l == line) {
            return true;
        }
        from = end;
    }
    false
}

/// The lines added, removed and changed, from the middles of the two documents (what is
/// between their shared start and end) and a test for the lines of the shared parts. Each
/// list is sorted and cut to [`MAX_LISTED`].
fn lines(out: &mut Changes, old_mid: &[&str], new_mid: &[&str], shared: &Shared<'_>) {
    let in_old: HashSet<&str> = old_mid.iter().copied().collect();
    let in_new: HashSet<&str> = new_mid.iter().copied().collect();
    // In document order, duplicates kept: a line listed twice and gone is gone twice. A line
    // of the shared parts is in both documents, so neither added nor removed.
    let removed: Vec<&str> = missing_from(old_mid, &in_new, shared);
    let added: Vec<&str> = missing_from(new_mid, &in_old, shared);
    // The first added line of each package; a package's removed lines all pair with it.
    let mut first_added: HashMap<&str, &str> = HashMap::new();
    for a in &added {
        let k = key(a);
        if !k.is_empty() {
            first_added.entry(k).or_insert(a);
        }
    }
    let removed_keys: HashSet<&str> = removed.iter().map(|r| key(r)).collect();
    for r in &removed {
        match first_added.get(key(r)) {
            Some(a) => out.changed.push(format!("{r} → {a}")),
            None => out.removed.push((*r).to_owned()),
        }
    }
    for a in &added {
        let k = key(a);
        if k.is_empty() || !removed_keys.contains(k) {
            out.added.push((*a).to_owned());
        }
    }
    for list in [&mut out.added, &mut out.removed, &mut out.changed] {
        list.sort_unstable();
        out.omitted += list.len().saturating_sub(MAX_LISTED);
        list.truncate(MAX_LISTED);
    }
}

/// The shaping settings whose values differ, by name.
fn settings(out: &mut Changes, previous: &FingerprintDocument, current: &FingerprintDocument) {
    let (p, c) = (&previous.settings, &current.settings);
    let mut differs = |name: &str, same: bool| {
        if !same {
            out.settings.push(name.to_owned());
        }
    };
    differs("layer-name", previous.layer_name == current.layer_name);
    differs(
        "compatible-runtimes",
        p.compatible_runtimes == c.compatible_runtimes,
    );
    differs(
        "compatible-architectures",
        p.compatible_architectures == c.compatible_architectures,
    );
    differs("license-info", p.license_info == c.license_info);
    differs("prefix", p.prefix == c.prefix);
    differs("include", p.include == c.include);
    differs("exclude", p.exclude == c.exclude);
    differs("symlinks", p.symlinks == c.symlinks);
    // The tool, the command, the platform, the Python version or the architecture.
    differs("build", p.build == c.build);
}

/// The lines of `lines` in neither `other` nor the shared parts, in order.
fn missing_from<'a>(lines: &[&'a str], other: &HashSet<&str>, shared: &Shared<'_>) -> Vec<&'a str> {
    lines
        .iter()
        .copied()
        .filter(|l| !other.contains(l) && !shared.contains(l))
        .collect()
}

/// The text of every lock file, when the document holds the text of each.
fn lock_texts(source: &Source) -> Option<Vec<&str>> {
    match source {
        Source::Manifests { files } => files.iter().map(|f| f.text.as_deref()).collect(),
        Source::Tree { .. } => None,
    }
}

/// The meaningful lines of a lock file's text: comments, blank lines and `--hash` lines
/// dropped, each trimmed, with a continuation's `\\` removed.
fn meaningful_lines(text: &str) -> impl Iterator<Item = &str> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#') && !l.starts_with("--hash"))
        .map(|l| l.trim_end_matches('\\').trim())
}

/// The comparable lines of a document: each lock file's meaningful lines (comments and blank
/// lines dropped), or each packaged file as `path (sha256 prefix)`.
/// Lock-file lines are borrowed from the document: a 100,000-line lock file costs no copies.
fn entries(source: &Source) -> Vec<Cow<'_, str>> {
    match source {
        Source::Manifests { files } => files
            .iter()
            .flat_map(|f| match &f.text {
                Some(text) => meaningful_lines(text)
                    .map(Cow::Borrowed)
                    .collect::<Vec<_>>(),
                None => vec![Cow::Owned(format!(
                    "{} (sha256 {})",
                    f.name,
                    hash_prefix(&f.sha256)
                ))],
            })
            .collect(),
        Source::Tree { files } => files
            .iter()
            .map(|f| {
                Cow::Owned(format!(
                    "{} ({}, sha256 {})",
                    f.path,
                    f.mode,
                    hash_prefix(&f.sha256)
                ))
            })
            .collect(),
    }
}

/// The first 12 characters of a hash, or all of a shorter one: the document may come from S3,
/// where its hashes can be anything (short, not hex, not ASCII).
fn hash_prefix(hash: &str) -> &str {
    hash.char_indices()
        .nth(12)
        .map_or(hash, |(end, _)| &hash[..end])
}

/// What identifies a line across versions: the package name in `name==1.2`, `name = "1.2"`,
/// `name@1.2`, `name: 1.2`; the path of a tree entry.
fn key(line: &str) -> &str {
    let end = line
        .find(['=', '<', '>', '~', '!', '@', ':', ' ', '('])
        .unwrap_or(line.len());
    line[..end].trim()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::resolve;
    use crate::config::settings::Settings;
    use crate::package::fingerprint::{ManifestFile, TreeFile, manifest_file};
    use std::path::Path;

    fn doc(lock: &str, runtimes: &[&str]) -> FingerprintDocument {
        let layer = resolve(
            None,
            Settings::default(),
            Settings {
                layer_name: Some("deps".into()),
                path: Some("p".into()),
                compatible_runtimes: Some(runtimes.iter().map(|r| r.to_string()).collect()),
                ..Settings::default()
            },
        )
        .unwrap()
        .layers
        .remove(0);
        FingerprintDocument::new(
            &layer,
            Source::Manifests {
                files: vec![manifest_file(
                    Path::new("requirements.txt"),
                    lock.as_bytes(),
                )],
            },
        )
    }

    #[test]
    fn a_moved_pin_is_a_change_and_new_or_gone_packages_are_listed() {
        let before = doc(
            "requests==2.32.3\nurllib3==2.2.2\n# comment\n",
            &["python3.12"],
        );
        let after = doc("requests==2.32.4\nidna==3.7\n", &["python3.12"]);
        let c = changes(&before, &after);
        assert_eq!(c.changed, ["requests==2.32.3 → requests==2.32.4"]);
        assert_eq!(c.added, ["idna==3.7"]);
        assert_eq!(c.removed, ["urllib3==2.2.2"]);
        assert!(c.settings.is_empty());
    }

    #[test]
    fn a_changed_setting_is_named() {
        let c = changes(
            &doc("a==1\n", &["python3.12"]),
            &doc("a==1\n", &["python3.13"]),
        );
        assert!(c.added.is_empty() && c.removed.is_empty() && c.changed.is_empty());
        assert_eq!(c.settings, ["compatible-runtimes"]);
    }

    #[test]
    fn hashes_continuation_lines_and_comments_are_not_noise() {
        let before = doc("a==1 \\\n    --hash=sha256:aaa\n", &[]);
        let after = doc("a==1 \\\n    --hash=sha256:aaa\n# new comment\n", &[]);
        assert!(changes(&before, &after).is_empty());
    }

    fn with_source(source: Source) -> FingerprintDocument {
        let mut d = doc("", &[]);
        d.source = source;
        d
    }

    fn lock(text: &str) -> FingerprintDocument {
        with_source(Source::Manifests {
            files: vec![manifest_file(
                Path::new("requirements.txt"),
                text.as_bytes(),
            )],
        })
    }

    fn tree(files: &[(&str, &str)]) -> FingerprintDocument {
        with_source(Source::Tree {
            files: files
                .iter()
                .map(|(path, sha256)| TreeFile {
                    path: (*path).into(),
                    mode: "644".into(),
                    sha256: (*sha256).into(),
                })
                .collect(),
        })
    }

    /// The listing as it was before it was made linear, duplicates and all: a line listed
    /// twice and changed is changed twice, every removed line of a package pairs with its
    /// first added line, a later added line of a package that had a removal is not listed, and
    /// lines that only moved are not changes.
    #[test]
    fn duplicates_and_moves_list_as_before() {
        let before = lock("a==1\na==1\nb==1\nc==1\nd==2\nd==2\nx\ny==1\nname @ url1\n");
        let after = lock(
            "b==1\na==2\nc==1\nc==1\ne==1\nd==3\nd==4\nx\nx\nz==1\ny==1\ny==1\nname @ url2\nb==1\n",
        );
        let c = changes(&before, &after);
        assert_eq!(c.added, ["e==1", "z==1"]);
        assert!(c.removed.is_empty());
        assert_eq!(
            c.changed,
            [
                "a==1 → a==2",
                "a==1 → a==2",
                "d==2 → d==3",
                "d==2 → d==3",
                "name @ url1 → name @ url2"
            ]
        );
        assert_eq!(c.omitted, 0);

        let before = tree(&[
            ("a.py", "1111111111111111"),
            ("b.py", "22"),
            ("c.py", "33"),
            ("d/e.py", "4"),
        ]);
        let after = tree(&[
            ("a.py", "1111111111111112"),
            ("b.py", "22"),
            ("f.py", "33"),
            ("d/e.py", "5"),
            ("d/e.py", "6"),
        ]);
        let c = changes(&before, &after);
        assert_eq!(c.added, ["f.py (644, sha256 33)"]);
        assert_eq!(c.removed, ["c.py (644, sha256 33)"]);
        assert_eq!(
            c.changed,
            ["d/e.py (644, sha256 4) → d/e.py (644, sha256 5)"],
            "a.py's hashes agree on their first 12 characters, so its line did not change"
        );
    }

    #[test]
    fn short_or_non_ascii_hashes_from_a_stored_document_do_not_panic() {
        let stored = with_source(Source::Manifests {
            files: vec![ManifestFile {
                name: "requirements.txt".into(),
                sha256: "abc".into(),
                text: None,
            }],
        });
        let c = changes(&stored, &lock("a==1\n"));
        assert_eq!(c.removed, ["requirements.txt (sha256 abc)"]);
        let odd = tree(&[("a.py", "ééééééééééééééé")]);
        let c = changes(&odd, &tree(&[]));
        assert_eq!(c.removed, ["a.py (644, sha256 éééééééééééé)"]);
    }

    #[test]
    fn a_rewritten_huge_lock_file_lists_at_most_max_listed_lines_and_counts_the_rest() {
        let lines = |v: u32| {
            (0..3000)
                .map(|i| format!("p{i:04}=={v}\n"))
                .collect::<String>()
        };
        let c = changes(&lock(&lines(1)), &lock(&lines(2)));
        assert_eq!(c.changed.len(), MAX_LISTED);
        assert_eq!(c.changed[0], "p0000==1 → p0000==2");
        assert_eq!(c.omitted, 2000);
        assert!(!c.is_empty());
    }

    /// The listing as it was written first (quadratic): the reference the linear one must
    /// agree with, line for line.
    fn quadratic(old: &[String], new: &[String]) -> (Vec<String>, Vec<String>, Vec<String>) {
        let removed: Vec<&String> = old.iter().filter(|l| !new.contains(l)).collect();
        let added: Vec<&String> = new.iter().filter(|l| !old.contains(l)).collect();
        let (mut a_out, mut r_out, mut c_out) = (Vec::new(), Vec::new(), Vec::new());
        for r in &removed {
            match added
                .iter()
                .find(|a| key(a) == key(r) && !key(r).is_empty())
            {
                Some(a) => c_out.push(format!("{r} → {a}")),
                None => r_out.push((*r).clone()),
            }
        }
        for a in &added {
            if !removed
                .iter()
                .any(|r| key(r) == key(a) && !key(a).is_empty())
            {
                a_out.push((*a).clone());
            }
        }
        a_out.sort();
        r_out.sort();
        c_out.sort();
        (a_out, r_out, c_out)
    }

    /// Lock files as people write them (indented, continued, commented, CRLF, one file or
    /// two), long enough to cross [`FEW`]: the listing from their texts and the one from their
    /// lines both agree with the quadratic listing of their meaningful lines.
    #[test]
    fn the_listing_from_texts_and_from_lines_agrees_with_the_quadratic_one() {
        use proptest::prelude::*;
        use proptest::test_runner::{Config, TestRunner};
        // "aa==1" holds "a==1": a search of the text finds it, the line must not match.
        let line = prop::sample::select(vec![
            "a==1",
            "a==2",
            "aa==1",
            "  a==1",
            "a==1 \\",
            "b==1\r",
            "b==2",
            "# a==1",
            "",
            "x",
            "--hash=sha256:0",
            "d @ u1",
        ]);
        let file = prop::collection::vec(line, 0..24).prop_map(|l| l.join("\n"));
        let files = prop::collection::vec(file, 1..3);
        let mut runner = TestRunner::new(Config {
            cases: 2000,
            failure_persistence: None,
            ..Config::default()
        });
        let doc = |texts: &[String]| {
            with_source(Source::Manifests {
                files: texts
                    .iter()
                    .enumerate()
                    .map(|(i, t)| manifest_file(Path::new(&format!("{i}.txt")), t.as_bytes()))
                    .collect(),
            })
        };
        runner
            .run(&(files.clone(), files), |(old, new)| {
                let (old, new) = (doc(&old), doc(&new));
                let norm = |d: &FingerprintDocument| -> Vec<String> {
                    entries(&d.source).iter().map(|l| l.to_string()).collect()
                };
                let (added, removed, changed) = quadratic(&norm(&old), &norm(&new));
                let from_texts = changes(&old, &new);
                prop_assert_eq!(&from_texts.added, &added);
                prop_assert_eq!(&from_texts.removed, &removed);
                prop_assert_eq!(&from_texts.changed, &changed);
                let mut from_lines = Changes::default();
                list(
                    &mut from_lines,
                    &entries(&old.source),
                    &entries(&new.source),
                );
                prop_assert_eq!(from_lines.added, added);
                prop_assert_eq!(from_lines.removed, removed);
                prop_assert_eq!(from_lines.changed, changed);
                Ok(())
            })
            .unwrap();
    }

    #[test]
    fn the_linear_listing_agrees_with_the_quadratic_one() {
        use proptest::prelude::*;
        use proptest::test_runner::{Config, TestRunner};
        // Few distinct lines, so that duplicates, moves and shared package names are common.
        let line = prop::sample::select(vec![
            "a==1", "a==2", "b==1", "b==2", "c==1", "x", "=1", "d @ u1", "d @ u2",
        ]);
        let list = prop::collection::vec(line, 0..12);
        let mut runner = TestRunner::new(Config {
            cases: 2000,
            failure_persistence: None,
            ..Config::default()
        });
        runner
            .run(&(list.clone(), list), |(old, new)| {
                let (old, new): (Vec<String>, Vec<String>) = (
                    old.iter().map(|l| l.to_string()).collect(),
                    new.iter().map(|l| l.to_string()).collect(),
                );
                let c = changes(&lock(&old.join("\n")), &lock(&new.join("\n")));
                let (added, removed, changed) = quadratic(&old, &new);
                prop_assert_eq!(c.added, added);
                prop_assert_eq!(c.removed, removed);
                prop_assert_eq!(c.changed, changed);
                Ok(())
            })
            .unwrap();
    }
}
