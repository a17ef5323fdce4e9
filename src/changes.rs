//! What changed between two fingerprint documents, for people: lock-file lines added, removed
//! or changed (a package whose pin moved), files of the tree, and shaping settings. Pure.

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
}

impl Changes {
    pub fn is_empty(&self) -> bool {
        self.added.is_empty()
            && self.removed.is_empty()
            && self.changed.is_empty()
            && self.settings.is_empty()
    }
}

/// Compares the previous version's document with the current one.
pub fn changes(previous: &FingerprintDocument, current: &FingerprintDocument) -> Changes {
    let mut out = Changes::default();
    let (old, new) = (entries(&previous.source), entries(&current.source));
    let removed: Vec<&String> = old.iter().filter(|l| !new.contains(l)).collect();
    let added: Vec<&String> = new.iter().filter(|l| !old.contains(l)).collect();
    for r in &removed {
        match added
            .iter()
            .find(|a| key(a) == key(r) && !key(r).is_empty())
        {
            Some(a) => out.changed.push(format!("{r} → {a}")),
            None => out.removed.push((*r).clone()),
        }
    }
    for a in &added {
        if !removed
            .iter()
            .any(|r| key(r) == key(a) && !key(a).is_empty())
        {
            out.added.push((*a).clone());
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
    out.added.sort();
    out.removed.sort();
    out.changed.sort();
    out
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
                None => vec![format!("{} (sha256 {})", f.name, &f.sha256[..12])],
            })
            .collect(),
        Source::Tree { files } => files
            .iter()
            .map(|f| {
                format!(
                    "{} ({}, sha256 {})",
                    f.path,
                    f.mode,
                    &f.sha256[..12.min(f.sha256.len())]
                )
            })
            .collect(),
    }
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
    use crate::fingerprint::manifest_file;
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
}
