//! What changed between two fingerprint documents, for people: lock-file lines added, removed
//! or changed (a package whose pin moved), files of the tree, and shaping settings. Pure.

use std::collections::{HashMap, HashSet};

use serde::Serialize;

use crate::fingerprint::{FingerprintDocument, Source};

/// The difference, each list sorted.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Changes {
    pub added: Vec<String>,
    pub removed: Vec<String>,
    /// `old → new`, for lines that keep their package name (`requests==2.32.3 → requests==2.32.4`).
    pub changed: Vec<String>,
    /// Shaping settings whose value changed, by name.
    pub settings: Vec<String>,
    /// Lines left out of `added`, `removed` and `changed` beyond [`MAX_LISTED`] each.
    #[serde(skip_serializing_if = "is_zero")]
    pub omitted: usize,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

impl Changes {
    pub fn is_empty(&self) -> bool {
        self.added.is_empty()
            && self.removed.is_empty()
            && self.changed.is_empty()
            && self.settings.is_empty()
            && self.omitted == 0
    }
}

/// At most this many lines in each list (added, removed, changed); the rest is counted in
/// [`Changes::omitted`]. The comment shows 50 and the summary 20, so a rewritten 100,000-line
/// lock file must not carry 100,000 lines into the JSON report and `result-json`.
pub const MAX_LISTED: usize = 1_000;

/// Compares the previous version's document with the current one.
///
/// Linear in the number of lines: lines are matched through hash sets, and a removed line is
/// paired with the first added line of the same package through a map keyed by package name.
/// A document read back from S3 is untrusted: nothing here slices or indexes its strings.
pub fn changes(previous: &FingerprintDocument, current: &FingerprintDocument) -> Changes {
    let mut out = Changes::default();
    let (old, new) = (entries(&previous.source), entries(&current.source));
    let (old_set, new_set): (HashSet<&str>, HashSet<&str>) = (
        old.iter().map(String::as_str).collect(),
        new.iter().map(String::as_str).collect(),
    );
    // In document order, duplicates kept: a line listed twice and gone is gone twice.
    let removed: Vec<&str> = missing_from(&old, &new_set);
    let added: Vec<&str> = missing_from(&new, &old_set);
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
    for list in [&mut out.added, &mut out.removed, &mut out.changed] {
        list.sort_unstable();
        out.omitted += list.len().saturating_sub(MAX_LISTED);
        list.truncate(MAX_LISTED);
    }
    out
}

/// The lines of `lines` that are not in `other`, in order.
fn missing_from<'a>(lines: &'a [String], other: &HashSet<&str>) -> Vec<&'a str> {
    lines
        .iter()
        .map(String::as_str)
        .filter(|l| !other.contains(l))
        .collect()
}

/// The comparable lines of a document: each lock file's meaningful lines (comments and blank
/// lines dropped), or each packaged file as `path (sha256 prefix)`.
fn entries(source: &Source) -> Vec<String> {
    match source {
        Source::Manifests { files } => files
            .iter()
            .flat_map(|f| match &f.text {
                Some(text) => text
                    .lines()
                    .map(str::trim)
                    .filter(|l| !l.is_empty() && !l.starts_with('#') && !l.starts_with("--hash"))
                    .map(|l| l.trim_end_matches('\\').trim().to_owned())
                    .collect::<Vec<_>>(),
                None => vec![format!("{} (sha256 {})", f.name, hash_prefix(&f.sha256))],
            })
            .collect(),
        Source::Tree { files } => files
            .iter()
            .map(|f| {
                format!(
                    "{} ({}, sha256 {})",
                    f.path,
                    f.mode,
                    hash_prefix(&f.sha256)
                )
            })
            .collect(),
    }
}

/// The first 12 characters of a hash, or all of a shorter one: the document may come from S3,
/// where its hashes can be anything (short, not hex, not ASCII).
fn hash_prefix(hash: &str) -> &str {
    hash.char_indices().nth(12).map_or(hash, |(end, _)| &hash[..end])
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
    use crate::fingerprint::{ManifestFile, TreeFile, manifest_file};
    use crate::settings::Settings;
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
            files: vec![manifest_file(Path::new("requirements.txt"), text.as_bytes())],
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
        let before = lock(
            "a==1\na==1\nb==1\nc==1\nd==2\nd==2\nx\ny==1\nname @ url1\n",
        );
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

        let before = tree(&[("a.py", "1111111111111111"), ("b.py", "22"), ("c.py", "33"), ("d/e.py", "4")]);
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
        let lines = |v: u32| (0..3000).map(|i| format!("p{i:04}=={v}\n")).collect::<String>();
        let c = changes(&lock(&lines(1)), &lock(&lines(2)));
        assert_eq!(c.changed.len(), MAX_LISTED);
        assert_eq!(c.changed[0], "p0000==1 → p0000==2");
        assert_eq!(c.omitted, 2000);
        assert!(!c.is_empty());
    }
}
