//! Lists what goes into a layer: walks `path`, applies the include/exclude globs (compiled
//! once, with the config: see [`crate::config::globs`]) and the symlink policy, and yields
//! the entries sorted by their name in the zip, as it finds them. Reads file metadata only,
//! never contents.

use std::fs;
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Component, Path, PathBuf};

use walkdir::WalkDir;

use crate::config::LayerConfig;
use crate::config::settings::SymlinkPolicy;
use crate::domain::error::PackageError;

/// Unix mode of a regular file entry: 0755 when the source has any execute bit, else 0644.
pub(crate) const MODE_FILE: u32 = 0o100644;
pub(crate) const MODE_EXECUTABLE: u32 = 0o100755;
pub(crate) const MODE_SYMLINK: u32 = 0o120777;

/// One file or link of the layer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Name inside the zip: the prefix and the path below `path`, joined with `/`.
    pub name: String,
    /// Where in `name` the path below the layer's folder starts (after the prefix).
    pub below: usize,
    pub source: PathBuf,
    pub kind: EntryKind,
    /// Bytes once unzipped: the file's length, or the link target's.
    pub size: u64,
    /// Unix mode including the file type bits.
    pub mode: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EntryKind {
    File,
    /// A link stored as a link; the target as the zip stores it (relative, `/`-separated).
    Symlink(String),
}

impl Entry {
    /// The path below the layer's folder, `/`-separated: what [`open_root`]'s folder opens.
    pub fn below_root(&self) -> &str {
        &self.name[self.below..]
    }
}

/// Opens the layer's folder once, after [`check_root`]: the walk reads each entry's metadata
/// and packaging opens each file relative to it, so that the kernel resolves the names below
/// the folder only, not the whole path from `/` for every file (on a tree of small files
/// under a deep absolute path, a tenth of the run: docs/benchmarks.md, Packaging).
pub fn open_root(layer: &LayerConfig) -> Result<OwnedFd, PackageError> {
    use rustix::fs::{Mode, OFlags};
    check_root(layer)?;
    let flags = OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC;
    rustix::fs::open(&layer.path, flags, Mode::empty()).map_err(|e| {
        PackageError::io(
            format!("cannot open path `{}`", layer.path.display()),
            e.into(),
        )
    })
}

/// Checks that the layer's `path` is a folder that can be read; returns its canonical path.
pub fn check_root(layer: &LayerConfig) -> Result<PathBuf, PackageError> {
    let root = &layer.path;
    let meta = fs::metadata(root).map_err(|e| match e.kind() {
        io::ErrorKind::NotFound => PackageError::input(format!(
            "path `{}` does not exist; set path to the folder your build step fills (relative to the working directory, or to layerpub.yml when set there)",
            root.display()
        )),
        // Not a machine failure either: the setting names something that cannot be a folder
        // (a file on the way, a loop of links) or that this user may not read.
        io::ErrorKind::PermissionDenied | io::ErrorKind::NotADirectory => PackageError::input(format!(
            "path `{}` cannot be read ({e}); set path to a folder the user running layerpub can read",
            root.display()
        )),
        _ if e.raw_os_error() == Some(ELOOP) => PackageError::input(format!(
            "path `{}` is a loop of symbolic links; set path to the folder itself",
            root.display()
        )),
        _ => PackageError::io(format!("cannot read path `{}`", root.display()), e),
    })?;
    if !meta.is_dir() {
        return Err(PackageError::input(format!(
            "path `{}` is {}, not a folder; set path to the folder whose contents become the layer",
            root.display(),
            crate::config::inputs::kind(meta.file_type())
        )));
    }
    fs::canonicalize(root)
        .map_err(|e| PackageError::io(format!("cannot resolve path `{}`", root.display()), e))
}

/// Walks the layer's folder and hands its entries to `each` in name order as it finds them,
/// so that packaging starts with the first folder, not after the last; stops early (with
/// `Ok`) when `each` returns false.
///
/// Sorted without collecting: each folder's children are visited in the order of their name
/// with a `/` after a folder's, which is the byte order of the full `/`-joined names (all
/// the names below a folder sit together, between its siblings' as `name/` sorts). Checked
/// as entries go out, since the zip's order and hash depend on it.
///
/// `writing` is the file the zip is being written to, if any: it exists while the walk runs,
/// and is never packaged, whatever name a link gives it. `root_dir` is the layer's folder
/// from [`open_root`].
pub fn walk_sorted(
    layer: &LayerConfig,
    root_dir: BorrowedFd<'_>,
    writing: Option<&fs::File>,
    mut each: impl FnMut(Entry) -> bool,
) -> Result<(), PackageError> {
    let root = &layer.path;
    let canonical_root = check_root(layer)?;
    let filter = &layer.globs;
    let follow = layer.symlinks == SymlinkPolicy::Follow;
    let mut own = Own::new(&layer.zip_path, &canonical_root);
    if let Some(f) = writing {
        use std::os::unix::fs::MetadataExt;
        let meta = f.metadata().map_err(|e| {
            PackageError::io(format!("cannot read `{}`", layer.zip_path.display()), e)
        })?;
        own.ids.push((meta.dev(), meta.ino()));
    }

    let mut previous = String::new();
    let mut emit = |entry: Entry| -> Result<bool, PackageError> {
        if !previous.is_empty() && entry.name <= previous {
            return Err(PackageError::io(
                format!(
                    "the walk of `{}` gave `{}` after `{previous}`",
                    root.display(),
                    entry.name
                ),
                io::Error::other("entries out of order; please report this bug"),
            ));
        }
        previous.clone_from(&entry.name);
        Ok(each(entry))
    };
    let walker = WalkDir::new(root)
        .min_depth(1)
        .follow_links(follow)
        .sort_by(name_order)
        .into_iter()
        .filter_entry(|e| !e.file_type().is_dir() || !filter.excludes_dir(below(root, e.path())));
    for item in walker {
        let item = item.map_err(|e| walk_error(root, e))?;
        let path = item.path();
        let rel_path = below(root, path);
        let file_type = item.file_type();
        if file_type.is_dir() {
            // Only a link to a folder, followed, needs a look of its own: where it leads.
            if item.path_is_symlink() {
                let rel = rel_path.to_string_lossy();
                check_link(layer.symlinks, &canonical_root, path, &rel)?;
            }
            continue;
        }
        // Filters first: what is excluded is never looked at, whatever its name or kind.
        if !filter.keeps_file(rel_path) {
            continue;
        }
        // A file's metadata, read once: its identity, size and mode (the target's, when
        // links are followed, as the walk sees them).
        let meta = if file_type.is_file() {
            Some(stat_below(root_dir, rel_path, follow).map_err(|e| meta_error(path, e))?)
        } else {
            None
        };
        if own.is_own(rel_path, meta.as_ref()) {
            tracing::debug!("not packaging {}: layerpub's own zip", path.display());
            continue;
        }
        let rel = utf8_name(rel_path).ok_or_else(|| {
            PackageError::input(format!(
                "`{}` has a name that is not UTF-8; rename it (zip names and Lambda need UTF-8) or exclude it",
                path.display()
            ))
        })?;
        if item.path_is_symlink() {
            check_link(layer.symlinks, &canonical_root, path, &rel)?;
        }
        let (name, below) = entry_name(&layer.prefix, rel)?;
        if file_type.is_symlink() {
            // Only reached with `preserve`: `follow` reports the target's type.
            let target = link_text(path)?;
            let more = emit(Entry {
                name,
                below,
                source: path.to_path_buf(),
                size: target.len() as u64,
                kind: EntryKind::Symlink(target),
                mode: MODE_SYMLINK,
            })?;
            if !more {
                return Ok(());
            }
        } else if let Some(meta) = meta {
            let executable = meta.st_mode & 0o111 != 0;
            let more = emit(Entry {
                name,
                below,
                source: path.to_path_buf(),
                kind: EntryKind::File,
                // A file system's sizes are never negative.
                size: u64::try_from(meta.st_size).unwrap_or(0),
                mode: if executable {
                    MODE_EXECUTABLE
                } else {
                    MODE_FILE
                },
            })?;
            if !more {
                return Ok(());
            }
        } else {
            return Err(PackageError::input(format!(
                "`{}` is not a regular file, folder or link (a socket, pipe or device); remove it or add it to exclude",
                path.display()
            )));
        }
    }
    Ok(())
}

/// The order the walk visits a folder's children in: by name, a folder's name followed by
/// `/`, so that the entries come out in the byte order of their `/`-joined names (the same
/// on every machine and file system). With `follow`, a link to a folder counts as a folder.
fn name_order(a: &walkdir::DirEntry, b: &walkdir::DirEntry) -> std::cmp::Ordering {
    fn key(e: &walkdir::DirEntry) -> impl Iterator<Item = u8> + '_ {
        use std::os::unix::ffi::OsStrExt;
        let slash = e.file_type().is_dir().then_some(&b'/');
        e.file_name().as_bytes().iter().chain(slash).copied()
    }
    key(a).cmp(key(b))
}

/// The path below the root (the walk only yields paths under it).
fn below<'a>(root: &Path, path: &'a Path) -> &'a Path {
    path.strip_prefix(root).unwrap_or(path)
}

/// A relative path `/`-separated; `None` when a component is not UTF-8, or is not a plain
/// name (a `.`, `..` or root would take an entry out of the layer's folder).
fn utf8_name(rel: &Path) -> Option<String> {
    // The walk joins names with one `/`: the path's text is already the name, and one
    // allocation per entry is all it costs.
    let plain = rel.components().all(|c| matches!(c, Component::Normal(_)));
    plain.then(|| rel.to_str().map(str::to_owned)).flatten()
}

/// The longest name a zip entry can have (its length is a 16-bit field).
const MAX_ENTRY_NAME: usize = u16::MAX as usize;

/// The entry's name in the zip: the prefix, then the path below `path`; and where that path
/// starts in it.
fn entry_name(prefix: &str, rel: String) -> Result<(String, usize), PackageError> {
    let (name, below) = if prefix.is_empty() {
        (rel, 0)
    } else {
        (format!("{prefix}/{rel}"), prefix.len() + 1)
    };
    if name.len() <= MAX_ENTRY_NAME {
        return Ok((name, below));
    }
    let head: String = name.chars().take(60).collect();
    Err(PackageError::input(if prefix.len() > MAX_ENTRY_NAME / 2 {
        format!(
            "prefix is {} bytes long, which makes the zip entry `{head}…` {} bytes, over the zip format's {MAX_ENTRY_NAME}; set prefix to the folder the runtime reads (e.g. `python`)",
            prefix.len(),
            name.len()
        )
    } else {
        format!(
            "`{head}…` is {} bytes long, over the {MAX_ENTRY_NAME} a zip entry name can hold; rename it or add it to exclude",
            name.len()
        )
    }))
}

/// What layerpub itself writes and must never package, so that a run on an unchanged tree
/// stays unchanged even when zip-path lies inside path (`--path .` with the default
/// zip-path): the zip at zip-path, and the temporary zips written beside it.
struct Own {
    /// The zip's folder below the root, when it lies inside it.
    dir: Option<PathBuf>,
    zip_name: Option<std::ffi::OsString>,
    /// Device and inode of the zip when it exists, and of the temporary zip being written:
    /// found again through any link.
    ids: Vec<(u64, u64)>,
}

impl Own {
    fn new(zip_path: &Path, canonical_root: &Path) -> Own {
        use std::os::unix::fs::MetadataExt;
        let parent = match zip_path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        let dir = fs::canonicalize(parent)
            .ok()
            .and_then(|p| p.strip_prefix(canonical_root).ok().map(Path::to_path_buf));
        Own {
            dir,
            zip_name: zip_path.file_name().map(ToOwned::to_owned),
            ids: fs::metadata(zip_path)
                .ok()
                .map(|m| (m.dev(), m.ino()))
                .into_iter()
                .collect(),
        }
    }

    /// Whether the walk's entry at `rel` (below the root; `meta` when it is a file) is the
    /// zip or one of its temporary files.
    fn is_own(&self, rel: &Path, meta: Option<&rustix::fs::Stat>) -> bool {
        let name = rel.file_name();
        let parent = rel.parent().unwrap_or(Path::new(""));
        if self.dir.as_deref() == Some(parent) {
            if name.is_some() && name == self.zip_name.as_deref() {
                return true;
            }
            if name
                .and_then(|n| n.to_str())
                .is_some_and(crate::package::is_temp_name)
            {
                return true;
            }
        }
        meta.is_some_and(|m| self.ids.contains(&(m.st_dev, m.st_ino)))
    }
}

/// Applies the symlink policy and the rule that no link may leave the layer's folder.
fn check_link(
    policy: SymlinkPolicy,
    canonical_root: &Path,
    path: &Path,
    rel: &str,
) -> Result<(), PackageError> {
    if policy == SymlinkPolicy::Error {
        return Err(PackageError::input(format!(
            "`{rel}` is a symbolic link and symlinks is `error`; replace it with what it points to, or set symlinks to `preserve` or `follow`"
        )));
    }
    let target = fs::read_link(path)
        .map_err(|e| PackageError::io(format!("cannot read link `{}`", path.display()), e))?;
    let resolved = fs::canonicalize(path).map_err(|e| {
        PackageError::input(if e.raw_os_error() == Some(ELOOP) {
            format!(
                "`{rel}` is a symbolic link to `{}` that leads back to itself (a loop of links); fix or remove the link",
                target.display()
            )
        } else {
            format!(
                "`{rel}` is a symbolic link to `{}`, which does not exist; fix or remove the link",
                target.display()
            )
        })
    })?;
    if !resolved.starts_with(canonical_root) {
        return Err(PackageError::input(format!(
            "`{rel}` is a symbolic link to `{}`, outside path; once unpacked in /opt it would point nowhere: copy the target into path instead",
            target.display()
        )));
    }
    if policy == SymlinkPolicy::Preserve && target.is_absolute() {
        return Err(PackageError::input(format!(
            "`{rel}` is a symbolic link with an absolute target (`{}`), which would point nowhere once unpacked in /opt; make it relative or set symlinks to `follow`",
            target.display()
        )));
    }
    Ok(())
}

fn link_text(path: &Path) -> Result<String, PackageError> {
    let target = fs::read_link(path)
        .map_err(|e| PackageError::io(format!("cannot read link `{}`", path.display()), e))?;
    target.to_str().map(str::to_owned).ok_or_else(|| {
        PackageError::input(format!(
            "link `{}` has a target that is not UTF-8; make it UTF-8 or set symlinks to `follow`",
            path.display()
        ))
    })
}

/// `ELOOP` (too many levels of symbolic links), which `io::ErrorKind` has no stable name for.
#[cfg(target_os = "linux")]
const ELOOP: i32 = 40;
#[cfg(not(target_os = "linux"))]
const ELOOP: i32 = 62;

/// An entry's metadata, by its path below the layer's folder: the link's own with
/// `follow` false, else what it leads to.
fn stat_below(root_dir: BorrowedFd<'_>, rel: &Path, follow: bool) -> io::Result<rustix::fs::Stat> {
    use rustix::fs::AtFlags;
    let flags = if follow {
        AtFlags::empty()
    } else {
        AtFlags::SYMLINK_NOFOLLOW
    };
    Ok(rustix::fs::statat(root_dir.as_fd(), rel, flags)?)
}

/// An entry the walk listed whose metadata cannot be read: said as a file that cannot be
/// read is (`super::read_error`), or as a loop when links lead in a circle.
fn meta_error(path: &Path, e: io::Error) -> PackageError {
    if e.raw_os_error() == Some(ELOOP) {
        return PackageError::input(format!(
            "symbolic link loop at `{}`; with symlinks: follow, links must not point at a folder that contains them",
            path.display()
        ));
    }
    super::read_error(path, e)
}

fn walk_error(root: &Path, e: walkdir::Error) -> PackageError {
    let where_ = e
        .path()
        .map_or_else(|| root.display().to_string(), |p| p.display().to_string());
    if e.loop_ancestor().is_some() {
        return PackageError::input(format!(
            "symbolic link loop at `{where_}`; with symlinks: follow, links must not point at a folder that contains them"
        ));
    }
    match e.io_error().map(io::Error::kind) {
        Some(io::ErrorKind::NotFound) => PackageError::input(format!(
            "`{where_}` vanished while layerpub was reading path; run layerpub after the step that builds the folder has finished"
        )),
        // A folder inside path that this user may not read: the user's to fix, not a failure.
        Some(io::ErrorKind::PermissionDenied) => PackageError::input(format!(
            "`{where_}` cannot be read (permission denied); make it readable for the user running layerpub, or add it to exclude"
        )),
        _ => {
            let source = e
                .into_io_error()
                .unwrap_or_else(|| io::Error::other("walk failed"));
            PackageError::io(format!("cannot read `{where_}`"), source)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_entry_name_is_the_relative_path_of_plain_utf8_names() {
        use std::ffi::OsStr;
        use std::os::unix::ffi::OsStrExt;
        assert_eq!(
            utf8_name(Path::new("python/pkg/mod.py")).as_deref(),
            Some("python/pkg/mod.py")
        );
        for escaping in ["../x.py", "/abs.py", "./x.py", "a/../b.py"] {
            assert_eq!(utf8_name(Path::new(escaping)), None, "{escaping}");
        }
        let not_utf8 = Path::new(OsStr::from_bytes(b"pkg/caf\xe9.py"));
        assert_eq!(utf8_name(not_utf8), None);
    }
}
