//! Lists what goes into a layer: walks `path`, applies the include/exclude globs (compiled
//! once, with the config: see [`crate::config::globs`]) and the symlink policy, and yields
//! the entries sorted by their name in the zip, as it finds them. Reads file metadata only,
//! never contents.

use std::ffi::{CStr, CString, OsStr};
use std::fs;
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use rustix::fs::FileType;

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
    /// The layer's folder, as `path` names it (shared by every entry).
    pub root: Arc<Path>,
    /// The entry's folder, held open while it is packaged, when the walk could share it.
    pub folder: Option<Folder>,
    /// Where in `name` the entry's own name (in its folder) starts.
    pub name_at: usize,
    /// A file reached through a link (`symlinks: follow`): opened following it. Any other
    /// file is opened without following one, so that a file swapped for a link after the
    /// walk is refused, not read from wherever the link leads (outside the folder, maybe).
    pub through_link: bool,
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

    /// The entry's path on disk, for messages (made when asked: one allocation less per
    /// entry on a tree of tens of thousands).
    pub fn source(&self) -> PathBuf {
        self.root.join(self.below_root())
    }

    /// The entry's own name, in its folder.
    pub fn file_name(&self) -> &str {
        &self.name[self.name_at..]
    }
}

/// A folder of the layer, open, shared by the entries the walk found in it: packaging opens
/// each file by its own name in it, one name for the kernel to look up instead of the path
/// from the layer's folder (on a tree of small files, path lookups were the largest cost
/// after compression: docs/benchmarks.md, Packaging). Closed with the last entry holding it.
#[derive(Debug, Clone)]
pub struct Folder(Arc<OpenFolder>);

#[derive(Debug)]
struct OpenFolder {
    fd: OwnedFd,
    /// The walk's count of folders open, this one included.
    open: Arc<AtomicUsize>,
}

impl Drop for OpenFolder {
    fn drop(&mut self) {
        self.open.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Folder {
    fn new(fd: OwnedFd, open: &Arc<AtomicUsize>) -> Folder {
        open.fetch_add(1, Ordering::Relaxed);
        Folder(Arc::new(OpenFolder {
            fd,
            open: Arc::clone(open),
        }))
    }

    pub fn fd(&self) -> BorrowedFd<'_> {
        self.0.fd.as_fd()
    }
}

/// The same folder, as the walk opened it.
impl PartialEq for Folder {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl Eq for Folder {}

/// How many folders the walk holds open: a quarter of the process's open-file limit for
/// the folders of the walk's path (at most [`OPEN_LEVELS`]), a quarter for the folders
/// entries hold while they are packaged (at most 256; past it, entries are opened by their
/// path). The other half stays for packaging itself (its files, the zip, the spool), and a
/// tree of any depth, or of a folder per file, cannot exhaust it.
fn folder_limits() -> (usize, usize) {
    let soft = rustix::process::getrlimit(rustix::process::Resource::Nofile).current;
    let quarter = soft.map_or(usize::MAX, |n| usize::try_from(n / 4).unwrap_or(usize::MAX));
    (quarter.clamp(2, OPEN_LEVELS), quarter.min(256))
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
/// Each folder is opened relative to its parent, and its children's metadata read relative
/// to it: the kernel looks up one name per call, not the whole path from the layer's folder
/// (on a tree of small files the walk runs beside the compression, on the same cores).
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
    let full = |rel: &[u8]| root.join(OsStr::from_bytes(rel));
    let shared_root: Arc<Path> = Arc::from(root.as_path());
    let open = Arc::new(AtomicUsize::new(0));
    let (open_levels, shared_max) = folder_limits();

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

    let top = open_dir(root_dir, c".", false).map_err(|e| dir_error(root, e))?;
    let id = follow.then(|| dir_id(&top)).transpose();
    let top = id
        .and_then(|id| Level::read(top, Vec::new(), id, &open))
        .map_err(|e| dir_error(root, e))?;
    let mut stack = vec![top];
    while let Some(level) = stack.last_mut() {
        let Some(child) = level.children.get(level.next).cloned() else {
            stack.pop();
            continue;
        };
        level.next += 1;
        let parent = match level.open(root_dir, &open).and_then(|()| level.fd()) {
            Ok(fd) => fd,
            Err(e) => return Err(dir_error(&full(&level.rel), e)),
        };
        let child_name = child.name(&level.names);
        let mut rel = Vec::with_capacity(level.rel.len() + child.len);
        rel.extend_from_slice(&level.rel);
        rel.extend_from_slice(child_name.to_bytes());
        let rel_path = Path::new(OsStr::from_bytes(&rel));

        if child.kind == Kind::Dir {
            if filter.excludes_dir(rel_path) {
                continue;
            }
            let path = full(&rel);
            // Only a link to a folder, followed, needs a look of its own: where it leads.
            if child.link {
                check_link(
                    layer.symlinks,
                    &canonical_root,
                    &path,
                    &rel_path.to_string_lossy(),
                )?;
            }
            let dir = open_dir(parent, child_name, child.link).map_err(|e| dir_error(&path, e))?;
            // With `follow`, a folder already on the path is a loop of links.
            let id = follow.then(|| dir_id(&dir)).transpose();
            let id = id.map_err(|e| dir_error(&path, e))?;
            if id.is_some() && stack.iter().any(|l| l.id == id) {
                return Err(loop_error(&path));
            }
            rel.push(b'/');
            let next = Level::read(dir, rel, id, &open).map_err(|e| dir_error(&path, e))?;
            stack.push(next);
            // The folders further up are closed, to be opened again on the way back: a tree
            // of any depth is walked with a bounded number of open files.
            if let Some(far) = stack.len().checked_sub(open_levels + 1) {
                let far = &mut stack[far];
                far.close().map_err(|e| dir_error(&full(&far.rel), e))?;
            }
            continue;
        }
        // Filters first: what is excluded is never looked at, whatever its name or kind.
        if !filter.keeps_file(rel_path) {
            continue;
        }
        // A file's metadata, read once: its identity, size and mode (the target's, when
        // links are followed, as the walk sees them).
        let meta = match (child.kind, child.meta) {
            (Kind::File, Some(meta)) => Some(meta),
            (Kind::File, None) => {
                Some(stat_at(parent, child_name, follow).map_err(|e| meta_error(&full(&rel), e))?)
            }
            _ => None,
        };
        if own.is_own(&level.rel, child_name.to_bytes(), meta.as_ref()) {
            tracing::debug!("not packaging {}: layerpub's own zip", full(&rel).display());
            continue;
        }
        let rel = String::from_utf8(rel).map_err(|e| {
            PackageError::input(format!(
                "`{}` has a name that is not UTF-8; rename it (zip names and Lambda need UTF-8) or exclude it",
                full(e.as_bytes()).display()
            ))
        })?;
        if child.link {
            check_link(layer.symlinks, &canonical_root, &full(rel.as_bytes()), &rel)?;
        }
        let (name, below) = entry_name(&layer.prefix, rel)?;
        let name_at = name.len() - child.len;
        // Shared while few folders are held open; past that, the entry is opened by its path.
        let folder = match &level.handle {
            Some(f) if level.share || open.load(Ordering::Relaxed) <= shared_max => {
                level.share = true;
                Some(f.clone())
            }
            _ => None,
        };
        let entry = match (child.kind, meta) {
            // Only reached with `preserve`: `follow` reports the target's type.
            (Kind::Link, _) => {
                let target = link_text(&full(&name.as_bytes()[below..]))?;
                Entry {
                    name,
                    below,
                    root: Arc::clone(&shared_root),
                    folder,
                    name_at,
                    through_link: false,
                    size: target.len() as u64,
                    kind: EntryKind::Symlink(target),
                    mode: MODE_SYMLINK,
                }
            }
            (Kind::File, Some(meta)) => Entry {
                name,
                below,
                root: Arc::clone(&shared_root),
                folder,
                name_at,
                through_link: child.link,
                kind: EntryKind::File,
                // A file system's sizes are never negative.
                size: u64::try_from(meta.st_size).unwrap_or(0),
                mode: if meta.st_mode & 0o111 != 0 {
                    MODE_EXECUTABLE
                } else {
                    MODE_FILE
                },
            },
            _ => {
                return Err(PackageError::input(format!(
                    "`{}` is not a regular file, folder or link (a socket, pipe or device); remove it or add it to exclude",
                    full(&name.as_bytes()[below..]).display()
                )));
            }
        };
        if !emit(entry)? {
            return Ok(());
        }
    }
    Ok(())
}

/// What a folder's child is, as the walk treats it: with `follow`, a link counts as what it
/// leads to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Dir,
    File,
    /// A link, stored as a link (`preserve`) or refused (`error`).
    Link,
    /// A FIFO, socket or device; or, with `follow`, a link that leads nowhere.
    Other,
}

#[derive(Debug, Clone)]
struct Child {
    /// Where its name is in its folder's [`Level::names`], and its length (without the NUL).
    at: usize,
    len: usize,
    kind: Kind,
    /// The child is a symbolic link (followed or not).
    link: bool,
    /// Its metadata, when listing the folder had to read it (a followed link, a file
    /// system that does not say what a child is).
    meta: Option<rustix::fs::Stat>,
}

/// Folders of the walk's path kept open at most (the deepest ones; fewer under a low
/// open-file limit: [`folder_limits`]). A folder further up is closed, and opened again by
/// its path once the walk comes back to it.
const OPEN_LEVELS: usize = 32;

/// One folder on the walk's path: its children, sorted, and how many were visited.
struct Level {
    /// The folder, open; `None` once closed on the way down (see [`OPEN_LEVELS`]).
    handle: Option<Folder>,
    /// Its entries were handed the folder: once one was, all are, so that the folder's
    /// count stays one whatever the number of entries.
    share: bool,
    /// The folder's path below the layer's folder, with a `/` after it (empty for the top).
    rel: Vec<u8>,
    children: Vec<Child>,
    /// The children's names, each ending with a NUL: one allocation per folder.
    names: Vec<u8>,
    next: usize,
    /// Device and inode: with `follow`, a link back to a folder on the path is a loop; and a
    /// folder opened again must be the one that was listed.
    id: Option<(u64, u64)>,
}

impl Level {
    /// Lists `dir`'s children, in the walk's order. `id` is the folder's device and inode
    /// when links are followed (read by the caller for the loop check), else `None`.
    fn read(
        dir: OwnedFd,
        rel: Vec<u8>,
        id: Option<(u64, u64)>,
        open: &Arc<AtomicUsize>,
    ) -> io::Result<Level> {
        let follow = id.is_some();
        // Listed through a copy of the descriptor, which the listing closes; the folder's own
        // stays open for its entries.
        let mut listing = rustix::fs::Dir::new(dir.try_clone()?)?;
        let mut children = Vec::new();
        let mut names = Vec::new();
        while let Some(item) = listing.read() {
            let item = item?;
            let name = item.file_name();
            if matches!(name.to_bytes(), b"." | b"..") {
                continue;
            }
            let mut c = child(dir.as_fd(), name, item.file_type(), follow);
            c.at = names.len();
            names.extend_from_slice(name.to_bytes_with_nul());
            children.push(c);
        }
        children.sort_unstable_by(|a, b| order_key(a, &names).cmp(order_key(b, &names)));
        Ok(Level {
            handle: Some(Folder::new(dir, open)),
            share: false,
            rel,
            children,
            names,
            next: 0,
            id,
        })
    }

    /// Closes the folder (entries holding it keep it open), remembering what it was.
    fn close(&mut self) -> io::Result<()> {
        let Some(folder) = self.handle.take() else {
            return Ok(());
        };
        if self.id.is_none() {
            self.id = Some(dir_id(folder.fd())?);
        }
        Ok(())
    }

    /// Opens the folder again if it was closed: by its path from the layer's folder, and
    /// refused as changed unless it is the folder that was listed.
    fn open(&mut self, root_dir: BorrowedFd<'_>, open: &Arc<AtomicUsize>) -> io::Result<()> {
        if self.handle.is_some() {
            return Ok(());
        }
        let rel = self.rel.strip_suffix(b"/").unwrap_or(b".");
        let fd = open_dir(root_dir, CString::new(rel)?.as_c_str(), true)?;
        if Some(dir_id(&fd)?) != self.id {
            return Err(io::ErrorKind::NotADirectory.into());
        }
        self.handle = Some(Folder::new(fd, open));
        self.share = false;
        Ok(())
    }

    /// The folder, to open and stat its children by name: [`Level::open`] first.
    fn fd(&self) -> io::Result<BorrowedFd<'_>> {
        self.handle
            .as_ref()
            .map(Folder::fd)
            .ok_or_else(|| io::Error::other("the walk lost its place; please report this bug"))
    }
}

/// A child as the folder's listing gives it; its metadata is read only when the listing
/// does not say what it is, or it is a link to follow.
fn child(dir: BorrowedFd<'_>, name: &CStr, listed: FileType, follow: bool) -> Child {
    let mut c = Child {
        at: 0,
        len: name.to_bytes().len(),
        kind: Kind::File,
        link: false,
        meta: None,
    };
    let mut kind = listed;
    if kind == FileType::Unknown {
        match stat_at(dir, name, false) {
            Ok(meta) => kind = FileType::from_raw_mode(meta.st_mode),
            // Said when the entry is visited, after the filters (stat_at again).
            Err(_) => return c,
        }
    }
    c.link = kind == FileType::Symlink;
    if c.link && follow {
        match stat_at(dir, name, true) {
            Ok(meta) => {
                kind = FileType::from_raw_mode(meta.st_mode);
                c.meta = (kind == FileType::RegularFile).then_some(meta);
            }
            // Dangling or a loop: check_link says which, once the filters keep it.
            Err(_) => {
                c.kind = Kind::Other;
                return c;
            }
        }
    }
    c.kind = match kind {
        FileType::Directory => Kind::Dir,
        FileType::RegularFile => Kind::File,
        FileType::Symlink => Kind::Link,
        _ => Kind::Other,
    };
    c
}

/// The order the walk visits a folder's children in: by name, a folder's name followed by
/// `/`, so that the entries come out in the byte order of their `/`-joined names (the same
/// on every machine and file system). With `follow`, a link to a folder counts as a folder.
fn order_key<'a>(c: &Child, names: &'a [u8]) -> impl Iterator<Item = u8> + 'a {
    let slash = (c.kind == Kind::Dir).then_some(&b'/');
    names[c.at..c.at + c.len].iter().chain(slash).copied()
}

impl Child {
    fn name<'a>(&self, names: &'a [u8]) -> &'a CStr {
        // Each name was copied in with its NUL, and a file name holds no other.
        CStr::from_bytes_with_nul(&names[self.at..=self.at + self.len]).unwrap_or(c"")
    }
}

/// Opens a folder to list, relative to its parent. A folder that was not a link when
/// listed is opened without following one: swapped for a link since, it is refused
/// (ELOOP), not walked wherever the link leads.
fn open_dir(parent: BorrowedFd<'_>, name: &CStr, through_link: bool) -> io::Result<OwnedFd> {
    use rustix::fs::{Mode, OFlags};
    let mut flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC;
    if !through_link {
        flags |= OFlags::NOFOLLOW;
    }
    Ok(rustix::fs::openat(parent, name, flags, Mode::empty())?)
}

fn dir_id(dir: impl AsFd) -> io::Result<(u64, u64)> {
    let meta = rustix::fs::fstat(dir)?;
    Ok((meta.st_dev, meta.st_ino))
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
    /// The zip's folder below the root, when it lies inside it, as the walk's [`Level::rel`]
    /// says it (a `/` after it; empty for the layer's folder itself).
    dir: Option<Vec<u8>>,
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
        let dir = fs::canonicalize(parent).ok().and_then(|p| {
            let below = p.strip_prefix(canonical_root).ok()?.as_os_str().as_bytes();
            let mut rel = below.to_vec();
            if !rel.is_empty() {
                rel.push(b'/');
            }
            Some(rel)
        });
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

    /// Whether the walk's entry `name` in the folder `dir` (below the root, as
    /// [`Level::rel`]; `meta` when it is a file) is the zip or one of its temporary files.
    fn is_own(&self, dir: &[u8], name: &[u8], meta: Option<&rustix::fs::Stat>) -> bool {
        if self.dir.as_deref() == Some(dir) {
            if self.zip_name.as_deref().map(OsStrExt::as_bytes) == Some(name) {
                return true;
            }
            if std::str::from_utf8(name).is_ok_and(crate::package::is_temp_name) {
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
pub(crate) const ELOOP: i32 = 40;
#[cfg(not(target_os = "linux"))]
pub(crate) const ELOOP: i32 = 62;

/// A child's metadata, by its name in its folder: the link's own with `follow` false, else
/// what it leads to.
fn stat_at(dir: BorrowedFd<'_>, name: &CStr, follow: bool) -> io::Result<rustix::fs::Stat> {
    use rustix::fs::AtFlags;
    let flags = if follow {
        AtFlags::empty()
    } else {
        AtFlags::SYMLINK_NOFOLLOW
    };
    Ok(rustix::fs::statat(dir, name, flags)?)
}

/// An entry the walk listed whose metadata cannot be read: said as a file that cannot be
/// read is (`super::read_error`), or as a loop when links lead in a circle.
fn meta_error(path: &Path, e: io::Error) -> PackageError {
    if e.raw_os_error() == Some(ELOOP) {
        return loop_error(path);
    }
    super::read_error(path, e)
}

fn loop_error(path: &Path) -> PackageError {
    PackageError::input(format!(
        "symbolic link loop at `{}`; with symlinks: follow, links must not point at a folder that contains them",
        path.display()
    ))
}

/// A folder of the layer that cannot be opened or listed.
fn dir_error(path: &Path, e: io::Error) -> PackageError {
    match e.kind() {
        io::ErrorKind::NotFound => PackageError::input(format!(
            "`{}` vanished while layerpub was reading path; run layerpub after the step that builds the folder has finished",
            path.display()
        )),
        // A folder inside path that this user may not read: the user's to fix, not a failure.
        io::ErrorKind::PermissionDenied => PackageError::input(format!(
            "`{}` cannot be read (permission denied); make it readable for the user running layerpub, or add it to exclude",
            path.display()
        )),
        // Listed as a folder, then no longer one (or a link now) when opened.
        io::ErrorKind::NotADirectory => changed_while_walking(path),
        _ if e.raw_os_error() == Some(ELOOP) => changed_while_walking(path),
        // EMFILE: the limit is the machine's, set far below what a walk needs.
        _ if e.raw_os_error() == Some(24) => PackageError::io(
            format!(
                "cannot open `{}`: this process may open too few files; raise the limit (e.g. `ulimit -n 1024`)",
                path.display()
            ),
            e,
        ),
        _ => PackageError::io(format!("cannot read `{}`", path.display()), e),
    }
}

fn changed_while_walking(path: &Path) -> PackageError {
    PackageError::input(format!(
        "`{}` changed from a folder to something else while layerpub was reading path; run layerpub after the step that builds the folder has finished",
        path.display()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layer_at(
        path: &Path,
        f: impl FnOnce(&mut crate::config::settings::Settings),
    ) -> LayerConfig {
        let mut s = crate::config::settings::Settings {
            layer_name: Some("deps".into()),
            path: Some(path.to_str().unwrap().into()),
            zip_path: Some(path.join("out/layer.zip").to_str().unwrap().into()),
            ..Default::default()
        };
        f(&mut s);
        crate::config::resolve(None, Default::default(), s)
            .unwrap()
            .layers
            .remove(0)
    }

    fn walk_all(layer: &LayerConfig) -> Result<Vec<Entry>, PackageError> {
        let root = open_root(layer)?;
        let mut out = Vec::new();
        walk_sorted(layer, root.as_fd(), None, |e| {
            out.push(e);
            true
        })?;
        Ok(out)
    }

    #[test]
    fn the_walk_gives_every_file_in_the_byte_order_of_its_full_name_with_its_size_and_mode() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        for (rel, body) in [
            ("a/b.py", "1"),
            ("a-b.py", "22"),
            ("a.py", "333"),
            ("ab/c/d.py", "4444"),
            ("a/z/deep/e.py", "55555"),
            ("a/z.py", ""),
        ] {
            fs::create_dir_all(d.join(rel).parent().unwrap()).unwrap();
            fs::write(d.join(rel), body).unwrap();
        }
        fs::set_permissions(d.join("a/z.py"), fs::Permissions::from_mode(0o750)).unwrap();
        let layer = layer_at(d, |s| s.prefix = Some("python".into()));
        let got: Vec<(String, u64, u32)> = walk_all(&layer)
            .unwrap()
            .into_iter()
            .map(|e| (e.name, e.size, e.mode))
            .collect();
        let want = [
            ("python/a-b.py", 2, MODE_FILE),
            ("python/a.py", 3, MODE_FILE),
            ("python/a/b.py", 1, MODE_FILE),
            ("python/a/z.py", 0, MODE_EXECUTABLE),
            ("python/a/z/deep/e.py", 5, MODE_FILE),
            ("python/ab/c/d.py", 4, MODE_FILE),
        ];
        let want: Vec<(String, u64, u32)> = want
            .iter()
            .map(|(n, s, m)| (n.to_string(), *s, *m))
            .collect();
        assert_eq!(got, want);
        for e in walk_all(&layer).unwrap() {
            assert_eq!(e.source(), d.join(e.below_root()), "{}", e.name);
            assert_eq!(&e.name[..e.below], "python/");
        }
    }

    #[test]
    fn entries_are_opened_by_their_own_name_in_the_folder_the_walk_listed() {
        use std::io::Read;
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        fs::create_dir_all(d.join("pkg/sub")).unwrap();
        fs::write(d.join("pkg/sub/a.py"), "a = 1").unwrap();
        fs::write(d.join("pkg/sub/b.py"), "b = 2").unwrap();
        let layer = layer_at(d, |s| s.prefix = Some("python".into()));
        let entries = walk_all(&layer).unwrap();
        assert_eq!(entries[0].file_name(), "a.py");
        assert_eq!(entries[0].below_root(), "pkg/sub/a.py");
        assert!(entries[0].folder.is_some());
        assert_eq!(entries[0].folder, entries[1].folder, "one folder, shared");
        // Moved away: the path below the layer's folder leads nowhere, the folder still holds
        // the files the walk listed.
        fs::rename(d.join("pkg"), d.join("moved")).unwrap();
        let root = open_root(&layer).unwrap();
        let mut text = String::new();
        super::super::open_file(&entries[1], Some(root.as_fd()))
            .unwrap()
            .read_to_string(&mut text)
            .unwrap();
        assert_eq!(text, "b = 2");
    }

    #[test]
    fn the_walk_skips_its_own_zip_and_excluded_folders() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        fs::create_dir_all(d.join("out")).unwrap();
        fs::write(d.join("out/layer.zip"), "old zip").unwrap();
        fs::write(d.join("out/notes.txt"), "kept").unwrap();
        fs::create_dir_all(d.join("secret")).unwrap();
        fs::write(d.join("secret/x"), "x").unwrap();
        let layer = layer_at(d, |s| s.exclude = Some(vec!["secret/**".into()]));
        let names: Vec<String> = walk_all(&layer)
            .unwrap()
            .into_iter()
            .map(|e| e.name)
            .collect();
        assert_eq!(names, ["out/notes.txt"]);
    }

    #[test]
    fn a_folder_closed_on_the_way_down_is_opened_again_only_if_it_is_the_same_folder() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        fs::create_dir_all(d.join("pkg")).unwrap();
        fs::write(d.join("pkg/a.py"), "a").unwrap();
        let root = rustix::fs::open(
            d,
            rustix::fs::OFlags::PATH | rustix::fs::OFlags::DIRECTORY,
            rustix::fs::Mode::empty(),
        )
        .unwrap();
        let open = Arc::new(AtomicUsize::new(0));
        let list = || {
            let fd = open_dir(root.as_fd(), c"pkg", false).unwrap();
            Level::read(fd, b"pkg/".to_vec(), None, &open).unwrap()
        };
        let mut same = list();
        assert_eq!(open.load(Ordering::Relaxed), 1);
        let held = same.handle.clone().unwrap();
        same.close().unwrap();
        assert!(same.fd().is_err(), "closed");
        assert_eq!(open.load(Ordering::Relaxed), 1, "held open by an entry");
        drop(held);
        assert_eq!(open.load(Ordering::Relaxed), 0);
        same.open(root.as_fd(), &open).unwrap();
        assert_eq!(open.load(Ordering::Relaxed), 1);
        assert!(stat_at(same.fd().unwrap(), c"a.py", false).is_ok());

        let mut swapped = list();
        swapped.close().unwrap();
        fs::rename(d.join("pkg"), d.join("old")).unwrap();
        fs::create_dir_all(d.join("pkg")).unwrap();
        let e = swapped.open(root.as_fd(), &open).unwrap_err();
        let msg = dir_error(&d.join("pkg"), e).to_string();
        assert!(
            msg.contains("changed from a folder to something else"),
            "{msg}"
        );
    }

    #[test]
    fn a_folder_swapped_for_a_link_after_its_listing_is_refused_not_followed() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        fs::create_dir_all(d.join("elsewhere")).unwrap();
        std::os::unix::fs::symlink("elsewhere", d.join("pkg")).unwrap();
        let parent = rustix::fs::open(
            d,
            rustix::fs::OFlags::RDONLY | rustix::fs::OFlags::DIRECTORY,
            rustix::fs::Mode::empty(),
        )
        .unwrap();
        // Listed as a folder (not through a link): opened without following one.
        let e = open_dir(parent.as_fd(), c"pkg", false).unwrap_err();
        let msg = dir_error(&d.join("pkg"), e).to_string();
        assert!(
            msg.contains("changed from a folder to something else"),
            "{msg}"
        );
        // A link to a folder, followed: opened through it.
        assert!(open_dir(parent.as_fd(), c"pkg", true).is_ok());
    }
}
