//! Where a run writes — `zip-path`, `dotenv-file`, the runner's `$GITHUB_OUTPUT` and
//! `$GITHUB_STEP_SUMMARY` — checked before anything is written, to AWS or to disk. A
//! destination that cannot take its output is bad input (exit 2) found before the first
//! publish, not a failure after it (which a re-run would only repeat).
//!
//! The checks read metadata only; they create and replace nothing.

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::path::{Component, Path, PathBuf};

use crate::config::LayerConfig;
use crate::config::inputs::kind;
use crate::domain::error::PackageError;
use crate::domain::error::{ConfigError, Problem};

/// `zip-path` can take the zip: it is a regular file (replaced by the new zip) or does not
/// exist yet, and the nearest existing folder on its way is a folder (the missing ones are
/// created). A link, a folder or a special file is refused: the zip is renamed into place,
/// which would replace a link or a device (as root, `/dev/null`) with a regular file.
/// Packaging calls it again just before the rename.
pub(crate) fn check_zip_path(path: &Path) -> Result<(), PackageError> {
    zip_path_problem(path).map_or(Ok(()), |m| {
        Err(PackageError::input(format!("zip-path: {m}")))
    })
}

/// [`check_zip_path`]'s refusal, without the setting's name.
fn zip_path_problem(path: &Path) -> Option<String> {
    if path.as_os_str().is_empty() {
        return Some("is empty; set zip-path to the zip file to write, e.g. `layer.zip`".into());
    }
    let shown = path.display();
    match fs::symlink_metadata(path) {
        Ok(m) if m.is_file() => None,
        Ok(m) if m.file_type().is_symlink() => Some(format!(
            "`{shown}` is a symbolic link; the zip is renamed into place, which would replace the link, not write where it points: set zip-path to the file itself or to a new name"
        )),
        Ok(m) if m.is_dir() => Some(format!(
            "`{shown}` is a folder; name the zip file: set zip-path to e.g. `{}`",
            path.join("layer.zip").display()
        )),
        Ok(m) => Some(format!(
            "`{shown}` is {}, which the zip would replace; set zip-path to a regular file or a new name",
            kind(m.file_type())
        )),
        Err(e)
            if matches!(
                e.kind(),
                io::ErrorKind::NotFound | io::ErrorKind::NotADirectory
            ) =>
        {
            folders_on_the_way(path).map(|why| {
                format!("`{shown}` cannot be created: {why}; set zip-path to a path in a folder")
            })
        }
        Err(e) => Some(format!(
            "`{shown}` cannot be checked ({e}); set zip-path to a path the user running layerpub can write"
        )),
    }
}

/// Why the missing folders before `path` could not be created: the nearest existing one is
/// not a folder, or is a dangling link. `None` when it is a folder.
fn folders_on_the_way(path: &Path) -> Option<String> {
    let mut dir = path.parent();
    while let Some(d) = dir {
        let d = if d.as_os_str().is_empty() {
            Path::new(".")
        } else {
            d
        };
        match fs::metadata(d) {
            Ok(m) if m.is_dir() => return None,
            Ok(m) => {
                return Some(format!(
                    "`{}` is {}, not a folder",
                    d.display(),
                    kind(m.file_type())
                ));
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                if let Ok(target) = fs::read_link(d) {
                    return Some(format!(
                        "`{}` is a symbolic link to `{}`, which does not exist",
                        d.display(),
                        target.display()
                    ));
                }
            }
            // A file further up: found as the loop goes on.
            Err(e) if e.kind() == io::ErrorKind::NotADirectory => {}
            Err(e) => return Some(format!("`{}` cannot be checked ({e})", d.display())),
        }
        dir = d.parent();
    }
    None
}

/// A file layerpub writes whole or appends to (`dotenv-file`, `$GITHUB_OUTPUT`,
/// `$GITHUB_STEP_SUMMARY`): a regular file, or a new one in an existing folder (nothing
/// creates folders for these). A character device (`/dev/null`, a terminal) is written to
/// in place, not replaced, so it is fine; a folder, a FIFO (which would block the write until
/// read) or a socket is not. `None` when it can be written; else why not.
fn output_file_problem(path: &Path) -> Option<String> {
    use std::os::unix::fs::FileTypeExt;
    let shown = path.display();
    match fs::metadata(path) {
        Ok(m) if m.is_file() || m.file_type().is_char_device() => None,
        Ok(m) => Some(format!("`{shown}` is {}", kind(m.file_type()))),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            if let Ok(target) = fs::read_link(path) {
                return Some(format!(
                    "`{shown}` is a symbolic link to `{}`, which does not exist",
                    target.display()
                ));
            }
            let parent = match path.parent() {
                Some(p) if !p.as_os_str().is_empty() => p,
                _ => Path::new("."),
            };
            match fs::metadata(parent) {
                Ok(m) if m.is_dir() => None,
                Ok(m) => Some(format!(
                    "`{shown}` cannot be created: `{}` is {}, not a folder",
                    parent.display(),
                    kind(m.file_type())
                )),
                Err(_) => Some(format!(
                    "`{shown}` cannot be created: the folder `{}` does not exist",
                    parent.display()
                )),
            }
        }
        Err(e) if e.kind() == io::ErrorKind::NotADirectory => Some(format!(
            "`{shown}` cannot be created: a folder on its way is a file"
        )),
        Err(e) => Some(format!("`{shown}` cannot be checked ({e})")),
    }
}

/// Checks every layer's zip-path, and that no two layers write one file through links
/// (`same.zip` and `lnk/same.zip` with `lnk -> .`): the second zip would replace the first,
/// and one layer would be published with the other's content.
pub(crate) fn check_zip_paths(layers: &[LayerConfig]) -> Vec<Problem> {
    let several = layers.len() > 1;
    let label = |l: &LayerConfig| several.then(|| format!("`{}`", l.layer_name));
    let mut problems: Vec<Problem> = layers
        .iter()
        .filter_map(|l| {
            zip_path_problem(&l.zip_path).map(|message| Problem {
                input: "zip-path".into(),
                layer: label(l),
                message,
            })
        })
        .collect();
    let mut by_file: BTreeMap<PathBuf, Vec<&LayerConfig>> = BTreeMap::new();
    for l in layers {
        by_file.entry(identity(&l.zip_path)).or_default().push(l);
    }
    for group in by_file.into_values().filter(|g| g.len() > 1) {
        let names = and_list(group.iter().map(|l| format!("`{}`", l.layer_name)));
        let paths = and_list(group.iter().map(|l| format!("`{}`", l.zip_path.display())));
        problems.push(Problem {
            input: "zip-path".into(),
            layer: None,
            message: format!(
                "layers {names} write the same file: {paths} name one file (through links or `..`); give each layer its own zip-path"
            ),
        });
    }
    problems
}

/// The file a path names, whether or not it exists yet: the nearest existing folder on its
/// way resolved (links, `..`), then the rest as written.
fn identity(path: &Path) -> PathBuf {
    let mut rest: Vec<Component> = Vec::new();
    let mut current = path;
    loop {
        let dir = if current.as_os_str().is_empty() {
            Path::new(".")
        } else {
            current
        };
        if let Ok(resolved) = fs::canonicalize(dir) {
            return rest.iter().rev().fold(resolved, |p, c| p.join(c));
        }
        match (current.parent(), current.components().next_back()) {
            (Some(parent), Some(last)) => {
                rest.push(last);
                current = parent;
            }
            _ => return path.to_path_buf(),
        }
    }
}

/// `a`, `a and b`, `a, b and c`.
fn and_list(items: impl Iterator<Item = String>) -> String {
    let items: Vec<String> = items.collect();
    match items.split_last() {
        Some((last, [])) => last.clone(),
        Some((last, rest)) => format!("{} and {last}", rest.join(", ")),
        None => String::new(),
    }
}

/// The run's report files: `dotenv-file` (a setting) and the runner's `$GITHUB_OUTPUT` and
/// `$GITHUB_STEP_SUMMARY` (given as their values, when set).
pub(crate) fn check_report_files(
    dotenv_file: Option<&Path>,
    github_output: Option<&str>,
    step_summary: Option<&str>,
) -> Vec<Problem> {
    let mut problems = Vec::new();
    if let Some(path) = dotenv_file
        && let Some(why) = output_file_problem(path)
    {
        problems.push(Problem {
            input: "dotenv-file".into(),
            layer: None,
            message: format!(
                "{why}; set dotenv-file to a file in an existing folder (e.g. `layerpub.env`), or create the folder first"
            ),
        });
    }
    let runner = [
        ("GITHUB_OUTPUT", github_output),
        ("GITHUB_STEP_SUMMARY", step_summary),
    ];
    for (variable, value) in runner {
        if let Some(why) = value.and_then(|v| output_file_problem(Path::new(v))) {
            problems.push(Problem {
                input: variable.into(),
                layer: None,
                message: format!(
                    "{why}; the runner sets {variable} to a file it created: do not set it yourself, or point it at a file in an existing folder"
                ),
            });
        }
    }
    problems
}

/// Both checks' problems as one error, or `Ok`.
pub(crate) fn into_result(problems: Vec<Problem>) -> Result<(), ConfigError> {
    if problems.is_empty() {
        Ok(())
    } else {
        Err(ConfigError(problems))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    #[test]
    fn a_zip_path_is_a_regular_file_or_new_in_a_folder() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        fs::write(d.join("file"), "x").unwrap();
        symlink("file", d.join("link.zip")).unwrap();
        assert!(check_zip_path(&d.join("file")).is_ok(), "replaced");
        assert!(
            check_zip_path(&d.join("new/deeper/x.zip")).is_ok(),
            "created"
        );
        let refused = |p: &Path| check_zip_path(p).unwrap_err().to_string();
        assert!(refused(&d.join("link.zip")).contains("is a symbolic link"));
        assert!(refused(d).contains("is a folder; name the zip file"));
        assert!(refused(Path::new("/dev/null")).contains("is a character device"));
        let under_file = refused(&d.join("file/deeper/x.zip"));
        assert!(
            under_file.contains(&format!(
                "`{}` is a file, not a folder",
                d.join("file").display()
            )),
            "{under_file}"
        );
        assert!(refused(Path::new("")).starts_with("zip-path: is empty"));
    }

    #[test]
    fn one_file_through_a_link_is_the_same_zip() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        symlink(".", d.join("lnk")).unwrap();
        assert_eq!(
            identity(&d.join("same.zip")),
            identity(&d.join("lnk/same.zip"))
        );
        assert_eq!(
            identity(&d.join("new/x.zip")),
            identity(&d.join("lnk/new/x.zip")),
            "folders that do not exist yet"
        );
        assert_ne!(identity(&d.join("a.zip")), identity(&d.join("b.zip")));
        assert_eq!(
            and_list(["a", "b", "c"].map(String::from).into_iter()),
            "a, b and c"
        );
    }

    #[test]
    fn a_report_file_is_a_file_or_new_in_an_existing_folder() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let missing = d.join("missing/out");
        let folder = path_str(d);
        let problems = check_report_files(
            Some(&missing),
            Some(&folder),
            Some(&path_str(&d.join("summary.md"))),
        );
        assert!(check_report_files(Some(Path::new("/dev/null")), None, None).is_empty());
        let inputs: Vec<&str> = problems.iter().map(|p| p.input.as_str()).collect();
        assert_eq!(inputs, ["dotenv-file", "GITHUB_OUTPUT"]);
        assert!(
            problems[0].message.contains("the folder"),
            "{}",
            problems[0]
        );
        assert!(
            problems[1].message.contains("is a folder"),
            "{}",
            problems[1]
        );
    }

    fn path_str(p: &Path) -> String {
        p.to_str().unwrap().to_owned()
    }
}
