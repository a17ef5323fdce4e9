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

/// Compares the previous version's document with the current one.
///
/// Linear in the number of lines: lines are matched through hash sets, and a removed line is
/// paired with the first added line of the same package through a map keyed by package name.
/// A document read back from S3 is untrusted: nothing here slices or indexes its strings.
pub fn changes(previous: &FingerprintDocument, current: &FingerprintDocument) -> Changes {
    let mut out = Changes::default();
    if previous.source != current.source {
        lines(
            &mut out,
            &entries(&previous.source),
            &entries(&current.source),
        );
    }
    settings(&mut out, previous, current);
    out
}

/// The lines added, removed and changed between two lists of lines, each list sorted and cut
/// to [`MAX_LISTED`].
fn lines(out: &mut Changes, old: &[Cow<'_, str>], new: &[Cow<'_, str>]) {
    // The lines both lists share at their start and at their end are in both, so neither
    // added nor removed; a lock file with one pin moved leaves a middle of one line each,
    // and hashing only the middles keeps the common run free of large sets.
    let start = old.iter().zip(new).take_while(|(a, b)| a == b).count();
    let (old_rest, new_rest) = (&old[start..], &new[start..]);
    let end = old_rest
        .iter()
        .rev()
        .zip(new_rest.iter().rev())
        .take_while(|(a, b)| a == b)
        .count();
    let old_mid = &old_rest[..old_rest.len() - end];
    let new_mid = &new_rest[..new_rest.len() - end];
    let in_old: HashSet<&str> = old_mid.iter().map(|l| l.as_ref()).collect();
    let in_new: HashSet<&str> = new_mid.iter().map(|l| l.as_ref()).collect();
    // The middle lines that also appear in the shared part (in both lists, then).
    let shared: HashSet<&str> = old[..start]
        .iter()
        .chain(&old[old.len() - end..])
        .map(|l| l.as_ref())
        .filter(|l| in_old.contains(l) || in_new.contains(l))
        .collect();
    // In document order, duplicates kept: a line listed twice and gone is gone twice.
    let removed: Vec<&str> = missing_from(old_mid, &in_new, &shared);
    let added: Vec<&str> = missing_from(new_mid, &in_old, &shared);
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

/// The lines of `lines` in neither `other` nor `shared`, in order.
fn missing_from<'a>(
    lines: &'a [Cow<'_, str>],
    other: &HashSet<&str>,
    shared: &HashSet<&str>,
) -> Vec<&'a str> {
    lines
        .iter()
        .map(|l| l.as_ref())
        .filter(|l| !other.contains(l) && !shared.contains(l))
        .collect()
}

/// The comparable lines of a document: each lock file's meaningful lines (comments and blank
/// lines dropped), or each packaged file as `path (sha256 prefix)`.
/// Lock-file lines are borrowed from the document: a 100,000-line lock file costs no copies.
fn entries(source: &Source) -> Vec<Cow<'_, str>> {
    match source {
        Source::Manifests { files } => files
            .iter()
            .flat_map(|f| match &f.text {
                Some(text) => text
                    .lines()
                    .map(str::trim)
                    .filter(|l| !l.is_empty() && !l.starts_with('#') && !l.starts_with("--hash"))
                    .map(|l| Cow::Borrowed(l.trim_end_matches('\\').trim()))
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
