//! The `include` and `exclude` globs, checked and compiled once when the config is resolved,
//! then carried in the layer's config for the walk to match with. Pure.
//!
//! Globs follow `.gitignore` habits: a pattern without `/` matches at any depth (`*.pyc`,
//! `.DS_Store`), one with `/` is anchored at `path` (`python/tests`), a trailing `/` matches
//! folders only (`__pycache__/`), and `*` does not cross `/` (use `**`). Excludes prune whole
//! folders; includes select files.

use std::fmt;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use crate::config::glob::{Glob, GlobError, GlobSet};

use crate::domain::error::Problem;

/// A layer's include and exclude patterns, as given and compiled.
#[derive(Clone)]
pub struct Globs {
    include: Vec<String>,
    exclude: Vec<String>,
    /// `None`: no include given, every file is kept.
    include_set: Option<GlobSet>,
    exclude_set: GlobSet,
    /// Excludes with a trailing `/`: folders only.
    exclude_dirs: GlobSet,
}

impl Globs {
    /// Compiles the patterns; every pattern that is not a glob is a problem of its setting
    /// (`include` or `exclude`), all reported at once.
    pub fn new(include: Vec<String>, exclude: Vec<String>) -> Result<Globs, Vec<Problem>> {
        let mut problems = Vec::new();
        let mut compile = |input: &str, pattern: &str| match glob(pattern) {
            Ok(g) => Some(g),
            Err(e) => {
                problems.push(Problem {
                    input: input.into(),
                    layer: None,
                    message: format!(
                        "`{pattern}` is not a valid glob ({e}); patterns look like `*.pyc`, `tests/` or `**/*.md`"
                    ),
                });
                None
            }
        };
        let mut includes = GlobSet::default();
        for p in &include {
            if let Some((g, _)) = compile("include", p) {
                includes.add(g);
            }
        }
        let (mut any, mut dirs) = (GlobSet::default(), GlobSet::default());
        for p in &exclude {
            match compile("exclude", p) {
                Some((g, true)) => dirs.add(g),
                Some((g, false)) => any.add(g),
                None => continue,
            };
        }
        if !problems.is_empty() {
            return Err(problems);
        }
        Ok(Globs {
            include_set: if include.is_empty() {
                None
            } else {
                Some(includes)
            },
            exclude_set: any,
            exclude_dirs: dirs,
            include,
            exclude,
        })
    }

    /// The include patterns, as given.
    pub fn include(&self) -> &[String] {
        &self.include
    }

    /// The exclude patterns: the default excludes (unless turned off), then the user's.
    pub fn exclude(&self) -> &[String] {
        &self.exclude
    }

    /// Whether a folder (path relative to the root) is left out with all it holds. Matched
    /// on the path's bytes, so a name that is not UTF-8 can be excluded.
    pub(crate) fn excludes_dir(&self, rel: impl AsRef<Path>) -> bool {
        let rel = rel.as_ref().as_os_str().as_bytes();
        self.exclude_set.is_match(rel) || self.exclude_dirs.is_match(rel)
    }

    /// Whether a file or link is packaged.
    pub(crate) fn keeps_file(&self, rel: impl AsRef<Path>) -> bool {
        let rel = rel.as_ref().as_os_str().as_bytes();
        !self.exclude_set.is_match(rel) && self.include_set.as_ref().is_none_or(|i| i.is_match(rel))
    }
}

/// Two sets are the same when their patterns are: the compiled form follows from them.
impl PartialEq for Globs {
    fn eq(&self, other: &Self) -> bool {
        self.include == other.include && self.exclude == other.exclude
    }
}

impl Eq for Globs {}

impl fmt::Debug for Globs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Globs")
            .field("include", &self.include)
            .field("exclude", &self.exclude)
            .finish_non_exhaustive()
    }
}

/// Translates one user pattern into a glob; returns whether it matches folders only.
fn glob(pattern: &str) -> Result<(Glob, bool), GlobError> {
    let dir_only = pattern.ends_with('/');
    let core = pattern.trim_end_matches('/');
    let anchored = core.starts_with('/') || core.contains('/');
    let core = core.trim_start_matches('/');
    let full = if anchored {
        core.to_owned()
    } else {
        format!("**/{core}")
    };
    let g = Glob::new(&full)?;
    Ok((g, dir_only))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filter(include: &[&str], exclude: &[&str]) -> Globs {
        let s = |v: &[&str]| v.iter().map(|p| p.to_string()).collect::<Vec<_>>();
        Globs::new(s(include), s(exclude)).unwrap()
    }

    #[test]
    fn slashless_patterns_match_at_any_depth() {
        let f = filter(&[], &["*.pyc", ".DS_Store"]);
        assert!(!f.keeps_file("a.pyc"));
        assert!(!f.keeps_file("pkg/sub/a.pyc"));
        assert!(!f.keeps_file("pkg/.DS_Store"));
        assert!(f.keeps_file("pkg/a.py"));
    }

    #[test]
    fn trailing_slash_matches_folders_only() {
        let f = filter(&[], &["__pycache__/", "tests/"]);
        assert!(f.excludes_dir("pkg/__pycache__"));
        assert!(f.excludes_dir("tests"));
        assert!(f.keeps_file("tests"), "a file named tests is not a folder");
    }

    #[test]
    fn patterns_with_a_slash_are_anchored_and_star_stays_in_one_folder() {
        let f = filter(&[], &["python/tests", "docs/*.md"]);
        assert!(f.excludes_dir("python/tests"));
        assert!(!f.excludes_dir("other/python/tests"));
        assert!(!f.keeps_file("docs/a.md"));
        assert!(f.keeps_file("docs/sub/a.md"));
    }

    #[test]
    fn include_selects_files_and_exclude_still_wins() {
        let f = filter(&["*.py"], &["test_*.py"]);
        assert!(f.keeps_file("pkg/mod.py"));
        assert!(!f.keeps_file("pkg/data.json"));
        assert!(!f.keeps_file("pkg/test_mod.py"));
    }

    #[test]
    fn brace_alternatives_work() {
        let f = filter(&[], &["*.{pyc,pyo}"]);
        assert!(!f.keeps_file("a/b.pyo"));
        assert!(f.keeps_file("a/b.py"));
    }

    #[test]
    fn every_bad_pattern_is_named_with_its_setting() {
        let s = |v: &[&str]| v.iter().map(|p| p.to_string()).collect::<Vec<_>>();
        let problems = Globs::new(s(&["[a", "*.py"]), s(&["ok/", "{b"])).unwrap_err();
        let named: Vec<(&str, bool)> = problems
            .iter()
            .map(|p| (p.input.as_str(), p.message.contains("is not a valid glob")))
            .collect();
        assert_eq!(named, [("include", true), ("exclude", true)]);
        assert!(problems[0].message.starts_with("`[a` is not a valid glob"));
    }

    #[test]
    fn the_patterns_are_kept_as_given_and_decide_equality() {
        let f = filter(&["*.py"], &["tests/"]);
        assert_eq!(f.include(), ["*.py"]);
        assert_eq!(f.exclude(), ["tests/"]);
        assert_eq!(f, filter(&["*.py"], &["tests/"]));
        assert_ne!(f, filter(&["*.py"], &[]));
    }
}
