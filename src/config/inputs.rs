//! Files and folders layerpub reads because a setting names them: the config file, the
//! manifests and `path`. Everything from outside is untrusted, so:
//!
//! - a named file must be a regular file, and is opened without blocking (`O_NONBLOCK`) and
//!   then checked on the opened handle (`fstat`), so a FIFO or a device can neither hang the
//!   run nor be swapped in between a check and the open;
//! - it is read up to a cap, decided from its size before a byte is read;
//! - manifests and `path` must lie inside the workspace, resolved through links, unless
//!   `allow-outside-workspace` is set: a manifest's lines are published (the fingerprint
//!   document in S3, the job summary, the pull-request comment), so `/proc/self/environ` or
//!   a link to `~/.aws/credentials` would publish the job's secrets.

use std::fs::{self, FileType, OpenOptions};
use std::io::{self, Read};
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use crate::config::LayerConfig;
use crate::domain::error::{ConfigError, Problem};

/// The most layerpub reads of a manifest or a config file: a lock file of tens of megabytes
/// is already unusual, and a bigger one is a mistake (an archive, a build output).
pub(crate) const READ_MAX: u64 = 16 << 20;

/// Why a named file could not be read.
#[derive(Debug)]
pub(crate) enum ReadError {
    /// Nothing at that path.
    Missing,
    /// A symbolic link whose target does not exist.
    DanglingLink(PathBuf),
    /// Something other than a regular file; the words for what it is (see [`kind`]).
    NotRegular(&'static str),
    /// Over [`READ_MAX`]: its size in bytes.
    TooLarge(u64),
    Io(io::Error),
}

/// Reads a regular file of at most `max` bytes, without ever blocking on a FIFO or a device.
pub(crate) fn read_regular(path: &Path, max: u64) -> Result<Vec<u8>, ReadError> {
    let file = OpenOptions::new()
        .read(true)
        // Opening a FIFO for reading waits for a writer unless non-blocking; a terminal must
        // not become the controlling one. Neither flag changes reads from a regular file.
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)
        .map_err(|e| open_error(path, e))?;
    // Checked on the handle itself: what was opened is what is judged.
    let meta = file.metadata().map_err(ReadError::Io)?;
    if !meta.file_type().is_file() {
        return Err(ReadError::NotRegular(kind(meta.file_type())));
    }
    if meta.len() > max {
        return Err(ReadError::TooLarge(meta.len()));
    }
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    // One byte more than allowed: a file that grows while it is read is caught too.
    file.take(max + 1)
        .read_to_end(&mut bytes)
        .map_err(ReadError::Io)?;
    if bytes.len() as u64 > max {
        return Err(ReadError::TooLarge(bytes.len() as u64));
    }
    Ok(bytes)
}

/// Tells a missing file from a dangling link, and a socket (which `open` refuses with ENXIO)
/// from a machine failure.
fn open_error(path: &Path, e: io::Error) -> ReadError {
    if e.kind() == io::ErrorKind::NotFound {
        return match fs::read_link(path) {
            Ok(target) => ReadError::DanglingLink(target),
            Err(_) => ReadError::Missing,
        };
    }
    match fs::metadata(path) {
        Ok(m) if !m.is_file() => ReadError::NotRegular(kind(m.file_type())),
        _ => ReadError::Io(e),
    }
}

/// A [`ReadError`] in words, for a message that names the file itself.
pub(crate) fn describe(e: &ReadError) -> String {
    match e {
        ReadError::Missing => "it does not exist".into(),
        ReadError::DanglingLink(t) => format!("a link to `{}`, which does not exist", t.display()),
        ReadError::NotRegular(kind) => format!("it is {kind}, not a regular file"),
        ReadError::TooLarge(n) => format!("{n} bytes, over the {READ_MAX} layerpub reads"),
        ReadError::Io(e) => e.to_string(),
    }
}

/// What a file that is not a regular file is, in words for a message.
pub fn kind(t: FileType) -> &'static str {
    if t.is_dir() {
        "a folder"
    } else if t.is_symlink() {
        "a symbolic link"
    } else if t.is_fifo() {
        "a FIFO (named pipe)"
    } else if t.is_char_device() {
        "a character device"
    } else if t.is_block_device() {
        "a block device"
    } else if t.is_socket() {
        "a socket"
    } else if t.is_file() {
        "a file"
    } else {
        "not a regular file"
    }
}

/// The folder a run may read from, and what named it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Workspace {
    /// Canonical: no links, no `..`.
    pub root: PathBuf,
    /// `GITHUB_WORKSPACE`, `CI_PROJECT_DIR` or `the working directory`.
    pub named_by: &'static str,
}

/// The workspace: `GITHUB_WORKSPACE` when set, else `CI_PROJECT_DIR` (GitLab), else the
/// working directory; relative to `cwd` when relative. Values are the variables' (set and
/// not empty).
pub fn workspace(
    github_workspace: Option<&str>,
    ci_project_dir: Option<&str>,
    cwd: &Path,
) -> Result<Workspace, Problem> {
    let (named_by, dir) = match (github_workspace, ci_project_dir) {
        (Some(v), _) => ("GITHUB_WORKSPACE", cwd.join(v)),
        (None, Some(v)) => ("CI_PROJECT_DIR", cwd.join(v)),
        (None, None) => ("the working directory", cwd.to_path_buf()),
    };
    let root = fs::canonicalize(&dir).map_err(|e| Problem {
        input: named_by.into(),
        layer: None,
        message: format!(
            "the workspace `{}` cannot be resolved ({e}); it must be the folder of the checkout",
            dir.display()
        ),
    })?;
    Ok(Workspace { root, named_by })
}

/// Every layer's manifests and `path` inside the workspace, unless the run allows outside
/// paths (`allow-outside-workspace`). Paths that do not exist are left for the reader to
/// report as missing. `workspace` is only a problem when the layers are confined to it.
pub(crate) fn confine(
    layers: &[LayerConfig],
    allow_outside_workspace: bool,
    workspace: Result<Workspace, Problem>,
    cwd: &Path,
) -> Result<(), ConfigError> {
    if allow_outside_workspace {
        return Ok(());
    }
    let ws = workspace.map_err(|p| ConfigError(vec![p]))?;
    let several = layers.len() > 1;
    let mut problems = Vec::new();
    for layer in layers {
        // A built layer's path is the build's own fresh folder, made later.
        let path = layer.build.is_none().then_some(("path", &layer.path));
        let named = path
            .into_iter()
            .chain(layer.manifest.iter().map(|m| ("manifest", m)));
        for (input, path) in named {
            if let Some(message) = outside(&ws, &cwd.join(path), path) {
                problems.push(Problem {
                    input: input.into(),
                    layer: several.then(|| format!("`{}`", layer.layer_name)),
                    message,
                });
            }
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(ConfigError(problems))
    }
}

/// The refusal for a path that resolves outside the workspace; `None` when inside or when it
/// does not resolve (missing: the reader says so, with its own fix).
fn outside(ws: &Workspace, full: &Path, shown: &Path) -> Option<String> {
    let resolved = fs::canonicalize(full).ok()?;
    if resolved.starts_with(&ws.root) {
        return None;
    }
    let through = if resolved.as_path() == full {
        String::new()
    } else {
        format!(": it resolves through links to `{}`", resolved.display())
    };
    Some(format!(
        "`{}` is outside the workspace `{}` ({}){through}. layerpub publishes what it reads (lock-file lines go into the fingerprint document, the job summary and the pull-request comment), so it reads only inside the checkout: move it into the workspace, or, if reading it is intended, set allow-outside-workspace: true (as a flag, LAYERPUB_ALLOW_OUTSIDE_WORKSPACE or the action input)",
        shown.display(),
        ws.root.display(),
        ws.named_by,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_regular_file_is_read_and_anything_else_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("a.lock");
        fs::write(&file, b"a==1\n").unwrap();
        assert_eq!(read_regular(&file, READ_MAX).unwrap(), b"a==1\n");
        assert!(matches!(
            read_regular(dir.path(), READ_MAX),
            Err(ReadError::NotRegular("a folder"))
        ));
        assert!(matches!(
            read_regular(Path::new("/dev/null"), READ_MAX),
            Err(ReadError::NotRegular("a character device"))
        ));
        assert!(matches!(
            read_regular(&dir.path().join("nope"), READ_MAX),
            Err(ReadError::Missing)
        ));
        std::os::unix::fs::symlink("gone", dir.path().join("link")).unwrap();
        assert!(matches!(
            read_regular(&dir.path().join("link"), READ_MAX),
            Err(ReadError::DanglingLink(t)) if t == Path::new("gone")
        ));
        assert!(matches!(
            read_regular(&file, 4),
            Err(ReadError::TooLarge(5))
        ));
    }

    #[test]
    fn the_workspace_is_the_runners_variable_else_the_working_directory() {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir(dir.path().join("ws")).unwrap();
        let root = fs::canonicalize(dir.path()).unwrap();
        let ws = workspace(None, None, dir.path()).unwrap();
        assert_eq!(
            (ws.root, ws.named_by),
            (root.clone(), "the working directory")
        );
        let ws = workspace(None, Some("ws"), dir.path()).unwrap();
        assert_eq!((ws.root, ws.named_by), (root.join("ws"), "CI_PROJECT_DIR"));
        let ws = workspace(Some("ws"), Some("."), dir.path()).unwrap();
        assert_eq!(ws.named_by, "GITHUB_WORKSPACE");
        let missing = workspace(Some("gone"), None, dir.path());
        assert_eq!(missing.unwrap_err().input, "GITHUB_WORKSPACE");
    }
}
