//! Turns a layer folder into its zip: walk, check Lambda's rules, compress every entry on all
//! cores while the walk goes on, write them in name order, hash the zip while it is written.
//!
//! Memory stays bounded whatever the tree: the pipeline (see [`pipeline`]) bounds how far
//! each stage runs ahead, and a file larger than [`SPOOL_BYTES`] is compressed into an
//! anonymous temporary file instead of memory. Output bytes depend only on the entries, never
//! on which worker finished first.

pub mod archive;
pub mod changes;
pub mod destinations;
pub mod fingerprint;
pub mod layout;
pub mod native;
mod pipeline;
pub mod walk;

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, BufWriter, Read, Seek, Write};
use std::ops::Range;
use std::os::fd::{AsFd, BorrowedFd};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use flate2::Compression;
use flate2::write::DeflateEncoder;
use libdeflater::{CompressionLvl, Compressor};
use sha2::{Digest, Sha256};

use crate::config::LayerConfig;
use crate::config::settings::NativeCheck;
use crate::domain::error::PackageError;
use crate::domain::interrupt::Interrupt;
use crate::domain::limits::UNZIPPED_MAX;
use crate::domain::text::human_bytes;
use crate::package::archive::{DosTime, EntryHeader, Method, ZipWriter};
use crate::package::fingerprint::{FingerprintDocument, Source, TreeFingerprint, read_manifests};
use crate::package::layout::layout_warnings;
use crate::package::pipeline::{Arena, in_order};
use crate::package::walk::{Entry, EntryKind, MODE_EXECUTABLE, MODE_SYMLINK, walk_sorted};

/// Files above this are compressed to a temporary file rather than to memory.
pub(crate) const SPOOL_BYTES: u64 = 16 << 20;
/// Deflate level 6 for files over [`SMALL_FILE_BYTES`]: what `zip` and Python's `zipfile`
/// use, so sizes compare fairly.
const LEVEL: u32 = 6;
/// Files of at most this many bytes are deflated at [`SMALL_LEVEL`] instead. On files this
/// small libdeflate's level 6 takes 1.3–2x the CPU of its level 1 (it clears 192 KiB of
/// match-finder tables per call, whatever the input's size, and searches deeper) and saves
/// −0.1% to 4% of their compressed bytes (docs/benchmarks.md, "Deflate level by file size").
/// On a tree of small files (a node_modules, pure-Python dependencies) that is about a fifth
/// of the run's CPU for a zip 0.6% larger, still smaller than Info-ZIP's; on trees of larger
/// files the zip grows by under 0.1%. The level depends only on the size: the zip stays
/// deterministic.
const SMALL_FILE_BYTES: usize = 4 << 10;
const SMALL_LEVEL: i32 = 1;
/// Bytes deflated first to tell an incompressible file (wheels, images, already-compressed
/// libraries) before spending a full deflate on it.
const PROBE_BYTES: usize = 64 << 10;

/// How to package, beyond the layer's own settings.
#[derive(Clone)]
pub struct PackageOptions {
    /// The one timestamp every entry carries.
    pub stamp: DosTime,
    /// Compression workers; 0 means one per core.
    pub threads: usize,
    /// SIGINT/SIGTERM: checked by every worker between chunks, so a signal ends packaging (and
    /// removes the temporary files) however large the tree.
    pub interrupt: Interrupt,
}

impl Default for PackageOptions {
    fn default() -> Self {
        PackageOptions {
            stamp: DosTime::EPOCH,
            threads: 0,
            interrupt: Interrupt::never(),
        }
    }
}

/// A written zip and what was learnt while writing it.
#[derive(Debug, Clone)]
pub struct Packaged {
    pub zip_path: PathBuf,
    /// The zip as written, held open: what is uploaded is read from this handle (and checked
    /// against `sha256`), never from `zip_path` again, which another process or another layer
    /// sharing the path through a link could have replaced since.
    pub file: Arc<File>,
    /// SHA-256 of the zip's bytes.
    pub sha256: [u8; 32],
    pub code_size: u64,
    pub unzipped_size: u64,
    pub file_count: u64,
    pub document: FingerprintDocument,
    /// The document's fingerprint ([`FingerprintDocument::fingerprint`]).
    pub fingerprint: String,
    pub warnings: Vec<String>,
}

/// Packages one layer into `layer.zip_path`. The zip appears whole or not at all: it is
/// written to a temporary file beside the target and renamed into place.
pub fn package(layer: &LayerConfig, options: &PackageOptions) -> Result<Packaged, PackageError> {
    // A missing or unreadable folder fails before anything is created.
    let root = walk::open_root(layer)?;
    let inspect_native = layer.native_check != NativeCheck::Off;
    let mut native_found = BTreeMap::new();
    // Read before compressing: a missing lock file should fail in milliseconds, not minutes.
    let manifests = if layer.manifest.is_empty() {
        None
    } else {
        Some(read_manifests(&layer.manifest)?)
    };
    let want_tree_hashes = manifests.is_none();

    // Before the walk starts: the walk recognises the temporary zip (see `walk::Own`) only in
    // a folder that exists.
    let dir = parent_dir(&layer.zip_path);
    std::fs::create_dir_all(dir).map_err(|e| {
        PackageError::io(
            format!(
                "cannot create the folder for zip-path `{}`",
                layer.zip_path.display()
            ),
            e,
        )
    })?;
    remove_stale_temps(dir);
    let temp = temp_zip(dir)?;
    let out = HashingWriter::new(BufWriter::with_capacity(1 << 20, temp.as_file()));
    let mut zip = ZipWriter::new(out, options.stamp);
    let mut tree = want_tree_hashes.then(|| TreeFingerprint::new(layer));
    // Only the names outlive the writing of their entry (for the layout warnings), kept once:
    // in the tree's list when the fingerprint needs it, else here.
    let mut names = Vec::new();
    let mut count = 0u64;

    let unzipped_size = in_order(
        options.threads,
        |push| sized_walk(layer, root.as_fd(), Some(temp.as_file()), push),
        |entry, arena| {
            let from = Some(root.as_fd());
            compress(
                entry,
                from,
                want_tree_hashes,
                inspect_native,
                &options.interrupt,
                arena,
            )
        },
        |entry, mut c, arena| {
            write_entry(&mut zip, &entry, &mut c, &layer.zip_path, arena)?;
            if !c.native.is_empty() {
                native_found.insert(entry.name.clone(), std::mem::take(&mut c.native));
            }
            count += 1;
            match (c.content_sha256.take(), &mut tree) {
                (Some(sha), Some(tree)) => tree.add(entry.name, mode_label(entry.mode), &sha),
                _ => names.push(entry.name),
            }
            Ok(())
        },
    )?;
    // Lambda refuses a zip without entries ("Uploaded file must be a non-empty zip"); it is
    // almost always a build step that did not run, or filters that leave nothing.
    if count == 0 {
        return Err(PackageError::input(format!(
            "path `{}` has no file to package (after include/exclude); run the build step that fills it first, or fix path, include and exclude",
            layer.path.display()
        )));
    }
    let name_refs: Vec<&str> = match &tree {
        Some(tree) => tree.files().iter().map(|f| f.path.as_str()).collect(),
        None => names.iter().map(String::as_str).collect(),
    };
    let mut warnings = layout_warnings(&layer.compatible_runtimes, &name_refs);

    let out = zip.finish().map_err(|e| write_error(&layer.zip_path, e))?;
    let (sha256, code_size) = out.finish().map_err(|e| write_error(&layer.zip_path, e))?;
    // Before the zip is put in place, so a refused layer leaves no zip to upload.
    if inspect_native {
        warnings.extend(native_verdict(layer, &native_found)?);
    }
    // Checked again at the last moment: a link or a device put at zip-path while packaging
    // would be replaced by the rename.
    crate::package::destinations::check_zip_path(&layer.zip_path)?;
    let file = temp
        .persist(&layer.zip_path)
        .map_err(|e| write_error(&layer.zip_path, e.error))?;

    // The tree is listed exactly when no manifest is named.
    let (document, fingerprint) = match tree {
        Some(tree) => {
            let (files, fingerprint) = tree.finish();
            let document = FingerprintDocument::new(layer, Source::Tree { files });
            (document, fingerprint)
        }
        None => {
            let files = manifests.unwrap_or_default();
            let document = FingerprintDocument::new(layer, Source::Manifests { files });
            let fingerprint = document.fingerprint();
            (document, fingerprint)
        }
    };
    Ok(Packaged {
        zip_path: layer.zip_path.clone(),
        file: Arc::new(file),
        sha256,
        code_size,
        unzipped_size,
        file_count: count,
        document,
        fingerprint,
        warnings,
    })
}

/// The fingerprint document and its fingerprint, without writing a zip: from the manifests
/// when the layer names them (no walk at all), else from the hashes of the files that would
/// be packaged.
pub(crate) fn fingerprint_document(
    layer: &LayerConfig,
    options: &PackageOptions,
) -> Result<(FingerprintDocument, String), PackageError> {
    if !layer.manifest.is_empty() {
        let files = read_manifests(&layer.manifest)?;
        let document = FingerprintDocument::new(layer, Source::Manifests { files });
        let fingerprint = document.fingerprint();
        return Ok((document, fingerprint));
    }
    let root = walk::open_root(layer)?;
    let mut tree = TreeFingerprint::new(layer);
    in_order(
        options.threads,
        |push| sized_walk(layer, root.as_fd(), None, push),
        |e, _| hash_entry(e, Some(root.as_fd()), &options.interrupt),
        |e, sha, _| {
            tree.add(e.name, mode_label(e.mode), &sha);
            Ok(())
        },
    )?;
    let (files, fingerprint) = tree.finish();
    Ok((
        FingerprintDocument::new(layer, Source::Tree { files }),
        fingerprint,
    ))
}

/// The walk as the pipeline's feed, with Lambda's size limit checked on a running total: from
/// the sizes on disk, so a layer Lambda would refuse is refused before more than the limit is
/// read, not after reading gigabytes. Past the limit the walk goes on without handing entries
/// over (metadata only) to name the largest entries in the error. Returns the unzipped size.
fn sized_walk(
    layer: &LayerConfig,
    root: BorrowedFd<'_>,
    writing: Option<&File>,
    push: &mut dyn FnMut(Entry) -> bool,
) -> Result<u64, PackageError> {
    let mut size = SizeCheck::default();
    walk_sorted(layer, root, writing, |e| {
        size.add(&e);
        !size.within() || push(e)
    })?;
    size.finish()
}

fn mode_label(mode: u32) -> &'static str {
    match mode {
        MODE_SYMLINK => "link",
        MODE_EXECUTABLE => "755",
        _ => "644",
    }
}

fn parent_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

fn write_error(zip: &Path, e: io::Error) -> PackageError {
    PackageError::io(format!("cannot write `{}`", zip.display()), e)
}

/// Start of the name of the temporary file a zip is written to, beside its zip-path. The walk
/// never packages a file so named in the zip's folder (see `walk::Own`), and a later run
/// removes those left by a run that was killed (SIGKILL gives no chance to clean up).
pub(crate) const TEMP_PREFIX: &str = ".layerpub-";
/// End of a temporary zip's name.
pub(crate) const TEMP_SUFFIX: &str = ".zip.tmp";

/// Whether `name` (a file name, no folder) is one of our temporary zips.
pub(crate) fn is_temp_name(name: &str) -> bool {
    name.starts_with(TEMP_PREFIX) && name.ends_with(TEMP_SUFFIX)
}

/// The temporary file the zip is written to: `.layerpub-<pid>-<random>.zip.tmp` in `dir`.
fn temp_zip(dir: &Path) -> Result<tempfile::NamedTempFile, PackageError> {
    tempfile::Builder::new()
        .prefix(&format!("{TEMP_PREFIX}{}-", std::process::id()))
        .suffix(TEMP_SUFFIX)
        .tempfile_in(dir)
        .map_err(|e| {
            PackageError::io(
                format!(
                    "cannot write in `{}` (zip-path's folder); make it writable and free some space, or set zip-path to another folder",
                    dir.display()
                ),
                e,
            )
        })
}

/// Removes the temporary zips in `dir` whose run is gone (its process id no longer exists):
/// what a SIGKILLed run left behind. Best effort: a file that cannot be removed stays.
fn remove_stale_temps(dir: &Path) {
    let Ok(list) = std::fs::read_dir(dir) else {
        return;
    };
    for item in list.flatten() {
        let name = item.file_name();
        let Some(pid) = name.to_str().and_then(temp_owner) else {
            continue;
        };
        let is_file = item.file_type().is_ok_and(|t| t.is_file());
        if is_file && pid != std::process::id() && !process_exists(pid) {
            tracing::info!(
                "removing {}, left by a run that was killed",
                item.path().display()
            );
            let _ = std::fs::remove_file(item.path());
        }
    }
}

/// The process id in a temporary zip's name.
fn temp_owner(name: &str) -> Option<u32> {
    if !is_temp_name(name) {
        return None;
    }
    name[TEMP_PREFIX.len()..].split('-').next()?.parse().ok()
}

/// Whether a process with this id runs on this machine. Without /proc (not Linux) every
/// process is assumed alive, so nothing is removed.
fn process_exists(pid: u32) -> bool {
    let proc = Path::new("/proc");
    !proc.join("self").exists() || proc.join(pid.to_string()).exists()
}

/// Writes one entry into the zip. Stored data is the content itself, read a second time when
/// it was copied from its source file: its CRC-32 must be the one the header announces,
/// computed on the read that hashed it, or the file changed in between and the zip would hold
/// bytes nobody hashed.
fn write_entry<W: Write>(
    zip: &mut ZipWriter<W>,
    entry: &Entry,
    c: &mut Compressed,
    zip_path: &Path,
    arena: &[u8],
) -> Result<(), PackageError> {
    let header = EntryHeader {
        name: &entry.name,
        mode: entry.mode,
        method: c.method,
        crc32: c.crc32,
        compressed_size: c.data.len(),
        uncompressed_size: entry.size,
    };
    let mut reader = CrcReader {
        inner: c.data.reader(arena)?,
        crc: crc32fast::Hasher::new(),
    };
    zip.add(&header, &mut reader)
        .map_err(|e| write_error(zip_path, e))?;
    if c.method == Method::Stored && reader.crc.finalize() != c.crc32 {
        return Err(changed_error(&entry.source()));
    }
    Ok(())
}

/// Passes bytes through while computing their CRC-32.
struct CrcReader<R> {
    inner: R,
    crc: crc32fast::Hasher,
}

impl<R: Read> Read for CrcReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.crc.update(&buf[..n]);
        Ok(n)
    }
}

/// The unzipped size summed entry by entry, with the largest entries kept to name them when
/// the layer is over Lambda's limit.
#[derive(Default)]
struct SizeCheck {
    /// `None` once the sum passed 2^64: sparse files can claim such sizes, and wrapped they
    /// would sum to a few bytes and pass.
    total: Option<u64>,
    entries: usize,
    /// The five largest so far, largest first, then by name.
    largest: Vec<(u64, String)>,
}

impl SizeCheck {
    fn add(&mut self, e: &Entry) {
        self.total = if self.entries == 0 {
            Some(e.size)
        } else {
            self.total.and_then(|t| t.checked_add(e.size))
        };
        self.entries += 1;
        // Entries come in name order, so an equal size already kept has the smaller name.
        if self.largest.len() < 5 || self.largest[4].0 < e.size {
            let at = self.largest.partition_point(|(s, _)| *s >= e.size);
            self.largest.insert(at, (e.size, e.name.clone()));
            self.largest.truncate(5);
        }
    }

    fn within(&self) -> bool {
        self.total.is_some_and(|t| t <= UNZIPPED_MAX)
    }

    /// The unzipped size, or the error that refuses the layer, naming its largest entries.
    fn finish(self) -> Result<u64, PackageError> {
        let size = match self.total {
            None if self.entries == 0 => return Ok(0),
            Some(t) if t <= UNZIPPED_MAX => return Ok(t),
            Some(t) => format!("{t} bytes ({})", human_bytes(t)),
            None => "more than 2^64 bytes".to_owned(),
        };
        let list: Vec<String> = self
            .largest
            .iter()
            .map(|(size, name)| format!("{name} ({})", human_bytes(*size)))
            .collect();
        Err(PackageError::input(format!(
            "the layer unzips to {size}, over Lambda's limit of {UNZIPPED_MAX} bytes (250 MiB); the largest entries: {}. Exclude what the functions do not need (tests, docs, caches) with exclude, or split the layer",
            list.join(", ")
        )))
    }
}

/// The native files' findings against the layer's declaration: an error listing them all with
/// `native-check: error`, warnings with `warn`.
fn native_verdict(
    layer: &LayerConfig,
    found: &BTreeMap<String, Vec<native::Fact>>,
) -> Result<Vec<String>, PackageError> {
    let checked = native::check(
        native::Declared {
            architectures: &layer.compatible_architectures,
            runtimes: &layer.compatible_runtimes,
        },
        found,
    );
    if layer.native_check == NativeCheck::Error && !checked.findings.is_empty() {
        let list: Vec<String> = checked
            .findings
            .iter()
            .map(|f| format!("  - {f}"))
            .collect();
        return Err(PackageError::input(format!(
            "layer {} has {} native file(s) that cannot load on Lambda, so nothing was uploaded:\n{}\n(set native-check: warn to publish it anyway)",
            layer.layer_name,
            checked.findings.len(),
            list.join("\n")
        )));
    }
    let mut warnings = checked.warnings;
    warnings.extend(checked.findings.iter().map(|f| f.to_string()));
    Ok(warnings)
}

/// One entry's data, ready to be copied into the zip.
struct Compressed {
    method: Method,
    crc32: u32,
    data: Data,
    /// SHA-256 of the entry's content, when the tree fingerprint needs it.
    content_sha256: Option<[u8; 32]>,
    /// What the entry is, when it is native code or wheel metadata (`package::native`).
    native: Vec<native::Fact>,
}

enum Data {
    /// In the batch's arena (`pipeline::Arena`), at this range: every file read whole.
    Arena(Range<usize>),
    /// Compressed into an anonymous temporary file (large files).
    Spooled(File, u64),
    /// Stored as it is: copied from the source file, still open from the read that hashed
    /// it, at write time (large, incompressible); `write_entry` checks the copy's CRC-32.
    Source(File, u64),
}

impl Data {
    fn len(&self) -> u64 {
        match self {
            Data::Arena(at) => at.len() as u64,
            Data::Spooled(_, n) | Data::Source(_, n) => *n,
        }
    }

    fn reader<'a>(&'a mut self, arena: &'a [u8]) -> Result<Box<dyn Read + 'a>, PackageError> {
        Ok(match self {
            Data::Arena(at) => Box::new(&arena[at.clone()]),
            Data::Spooled(f, _) => {
                f.rewind()
                    .map_err(|e| PackageError::io("cannot read a temporary file", e))?;
                Box::new(f)
            }
            Data::Source(f, n) => {
                f.rewind()
                    .map_err(|e| PackageError::io("cannot read a file again", e))?;
                Box::new(f.take(*n))
            }
        })
    }
}

/// A file of the layer that cannot be read. Gone or forbidden is the user's to fix (exit 2,
/// like a folder that cannot be read); anything else is the machine's.
fn read_error(path: &Path, e: io::Error) -> PackageError {
    match e.kind() {
        io::ErrorKind::NotFound => PackageError::input(format!(
            "`{}` vanished while layerpub was packaging it; run layerpub after the step that builds the folder has finished",
            path.display()
        )),
        io::ErrorKind::PermissionDenied => PackageError::input(format!(
            "`{}` cannot be read (permission denied); make it readable for the user running layerpub, or add it to exclude",
            path.display()
        )),
        // Opened without following a link (see `Entry::through_link`).
        _ if e.raw_os_error() == Some(walk::ELOOP) => PackageError::input(format!(
            "`{}` was replaced by a symbolic link while layerpub was packaging it; run layerpub after the step that builds the folder has finished",
            path.display()
        )),
        _ => PackageError::io(format!("cannot read `{}`", path.display()), e),
    }
}

fn changed_error(path: &Path) -> PackageError {
    PackageError::input(format!(
        "`{}` changed while layerpub was packaging it (its size or bytes differ between the read that hashed it and the read that wrote it); run layerpub after the step that builds the folder has finished",
        path.display()
    ))
}

/// A temporary file in the system's temporary folder failed (often a full disk): name the
/// folder, since the user did not choose it.
fn spool_error(e: io::Error) -> PackageError {
    PackageError::io(
        format!(
            "cannot write a temporary file in `{}` (large files are compressed there); free some space there or set TMPDIR to a folder with room",
            std::env::temp_dir().display()
        ),
        e,
    )
}

/// Compresses one entry, storing it when deflate would not make it smaller. `from` is the
/// layer's folder (`walk::open_root`) to open the entry below; `None` opens its source path.
fn compress(
    entry: &Entry,
    from: Option<BorrowedFd<'_>>,
    want_sha: bool,
    inspect_native: bool,
    interrupt: &Interrupt,
    arena: &mut Arena,
) -> Result<Compressed, PackageError> {
    stop_if_interrupted(interrupt)?;
    match &entry.kind {
        EntryKind::Symlink(target) => Ok(stored_in_arena(target.as_bytes(), want_sha, arena)),
        EntryKind::File if entry.size > SPOOL_BYTES => {
            compress_spooled(entry, from, want_sha, inspect_native, interrupt)
        }
        EntryKind::File => SCRATCH.with_borrow_mut(|d| {
            let Scratch {
                deflaters,
                input,
                output,
            } = d;
            let c = compress_in_memory(
                entry,
                from,
                want_sha,
                inspect_native,
                (deflaters, input, output),
                arena,
            );
            trim(input);
            trim(output);
            c
        }),
    }
}

/// Compresses a file that fits in memory, with a worker's reused state and buffers, into the
/// batch's arena.
fn compress_in_memory(
    entry: &Entry,
    from: Option<BorrowedFd<'_>>,
    want_sha: bool,
    inspect_native: bool,
    (deflaters, input, probe): (&mut Deflaters, &mut Vec<u8>, &mut Vec<u8>),
    arena: &mut Arena,
) -> Result<Compressed, PackageError> {
    let len = read_exact_size(entry, from, input)?;
    let input = &input[..len];
    // From the bytes read for the zip: no second read.
    let native = if inspect_native {
        native::inspect(&entry.name, input)
    } else {
        Vec::new()
    };
    let crc32 = crc32fast::hash(input);
    let content_sha256 = want_sha.then(|| Sha256::digest(input).into());
    // Deflated straight into the arena, and only when smaller: deflate gives up as soon as
    // the room (a byte less than the file) is used up.
    let deflated = (!input.is_empty() && worth_deflating_with(&mut deflaters.level6, probe, input))
        .then(|| deflate(deflaters.for_len(len), input, arena.room(len - 1)))
        .flatten();
    let (method, at) = match deflated {
        Some(n) => (Method::Deflated, arena.commit(n)),
        None => (Method::Stored, arena.push(input)),
    };
    Ok(Compressed {
        method,
        crc32,
        data: Data::Arena(at),
        content_sha256,
        native,
    })
}

/// A worker's deflate states and buffers, reused from file to file: a fresh deflate state is
/// a few hundred KB to allocate, more than compressing a small file costs.
///
/// Files held in memory (all but the few over [`SPOOL_BYTES`]) are deflated whole by
/// libdeflate: on this work (whole buffers, level 6) it is 1.0–1.6x as fast as zlib-rs and
/// 0.1–1.5% smaller (docs/benchmarks.md), which puts the zip below Info-ZIP's on every tree.
/// Larger files stream through zlib-rs (libdeflate has no streaming interface).
///
/// The buffers only grow (up to [`KEEP_BUFFER`]): a file is read into the first bytes of
/// `input`, and the bytes after them are stale, never cleared.
struct Scratch {
    deflaters: Deflaters,
    input: Vec<u8>,
    /// For the sample that decides whether a file is worth deflating.
    output: Vec<u8>,
}

thread_local! {
    static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch {
        deflaters: Deflaters {
            level6: Compressor::new(CompressionLvl::new(LEVEL as i32).unwrap_or_default()),
            small: Compressor::new(CompressionLvl::new(SMALL_LEVEL).unwrap_or_default()),
        },
        input: Vec::new(),
        output: Vec::new(),
    });
}

/// A worker's two libdeflate states: one per level.
struct Deflaters {
    level6: Compressor,
    small: Compressor,
}

impl Deflaters {
    /// The state for a file of `len` bytes: [`SMALL_LEVEL`] up to [`SMALL_FILE_BYTES`].
    fn for_len(&mut self, len: usize) -> &mut Compressor {
        if len <= SMALL_FILE_BYTES {
            &mut self.small
        } else {
            &mut self.level6
        }
    }
}

/// Deflates `input` whole into `room` (raw deflate, ended by a final block and nothing after
/// it: no sync-flush marker); the length written, or `None` when it would not fit (libdeflate
/// stops as soon as the room is used up).
fn deflate(compress: &mut Compressor, input: &[u8], room: &mut [u8]) -> Option<usize> {
    // Its only error is `CompressionError::InsufficientSpace`.
    compress.deflate_compress(input, room).ok()
}

/// Whether deflate is likely to shrink the data, judged on its first [`PROBE_BYTES`]: a sample
/// that does not shrink by 2% means the file is stored without a full deflate. Depends only on
/// the content, so the archive stays deterministic.
fn worth_deflating(data: &[u8]) -> bool {
    SCRATCH.with_borrow_mut(|d| worth_deflating_with(&mut d.deflaters.level6, &mut d.output, data))
}

fn worth_deflating_with(compress: &mut Compressor, scratch: &mut Vec<u8>, data: &[u8]) -> bool {
    if data.len() <= PROBE_BYTES {
        return true;
    }
    let sample = &data[..PROBE_BYTES];
    // Smaller than 98% of the sample.
    let room = sample.len() * 98 / 100 - 1;
    if scratch.len() < room {
        scratch.resize(room, 0);
    }
    deflate(compress, sample, &mut scratch[..room]).is_some()
}

fn stored_in_arena(bytes: &[u8], want_sha: bool, arena: &mut Arena) -> Compressed {
    Compressed {
        method: Method::Stored,
        crc32: crc32fast::hash(bytes),
        content_sha256: want_sha.then(|| Sha256::digest(bytes).into()),
        data: Data::Arena(arena.push(bytes)),
        native: Vec::new(),
    }
}

/// Opens an entry's file to read, in one system call (see Cargo.toml on rustix): below the
/// layer's folder when it is open, else by its path. Without blocking: a file swapped for a
/// FIFO after the walk would otherwise hang the run on open; a FIFO read this way gives too
/// few bytes, and the read refuses it as changed.
fn open_file(entry: &Entry, from: Option<BorrowedFd<'_>>) -> io::Result<File> {
    use rustix::fs::{Mode, OFlags};
    let mut flags = OFlags::RDONLY | OFlags::CLOEXEC | OFlags::NONBLOCK;
    if !entry.through_link {
        flags |= OFlags::NOFOLLOW;
    }
    let fd = match (&entry.folder, from) {
        (Some(folder), _) => {
            rustix::fs::openat(folder.fd(), entry.file_name(), flags, Mode::empty())?
        }
        (None, Some(dir)) => rustix::fs::openat(dir, entry.below_root(), flags, Mode::empty())?,
        (None, None) => rustix::fs::open(entry.source(), flags, Mode::empty())?,
    };
    Ok(File::from(fd))
}

/// Reads a file whole into the first bytes of `bytes` (grown when too short, never cleared),
/// refusing it when its size is no longer the walk's; returns its length.
///
/// One `read` call for most files: it asks for a byte more than the walk saw, so a file that
/// grew is caught, and a read of a regular file that returns less than asked has reached the
/// end, so no second call is needed to see 0 (a small file costs open, read, close).
fn read_exact_size(
    entry: &Entry,
    from: Option<BorrowedFd<'_>>,
    bytes: &mut Vec<u8>,
) -> Result<usize, PackageError> {
    let want = usize::try_from(entry.size).map_err(|_| changed_error(&entry.source()))?;
    if bytes.len() < want + 1 {
        bytes.resize(want + 1, 0);
    }
    let bytes = &mut bytes[..want + 1];
    let mut f = open_file(entry, from).map_err(|e| read_error(&entry.source(), e))?;
    let mut n = 0;
    while n < want + 1 {
        match f.read(&mut bytes[n..]) {
            Ok(0) => break,
            Ok(k) => {
                n += k;
                if n == want {
                    break;
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(read_error(&entry.source(), e)),
        }
    }
    if n != want {
        return Err(changed_error(&entry.source()));
    }
    Ok(n)
}

/// Buffers above this are given back after use rather than kept for the next file: a few
/// large files must not keep every worker's memory high for the rest of the run.
const KEEP_BUFFER: usize = 1 << 20;

fn trim(buffer: &mut Vec<u8>) {
    if buffer.capacity() > KEEP_BUFFER {
        *buffer = Vec::new();
    }
}

/// Streams a large file through deflate into a temporary file.
fn compress_spooled(
    entry: &Entry,
    from: Option<BorrowedFd<'_>>,
    want_sha: bool,
    inspect_native: bool,
    interrupt: &Interrupt,
) -> Result<Compressed, PackageError> {
    let mut src = open_file(entry, from).map_err(|e| read_error(&entry.source(), e))?;
    let mut head = vec![0u8; PROBE_BYTES + 1];
    let n = read_full(&mut src, &mut head).map_err(|e| read_error(&entry.source(), e))?;
    // A large ELF file keeps its head and tail as it streams by, for its tables (see
    // native::Kept); any other is judged from its head.
    let keep = inspect_native
        .then(|| native::Kept::for_elf(entry.size, &head[..n]))
        .flatten();
    let mut native = if inspect_native && keep.is_none() {
        native::inspect(&entry.name, &head[..n])
    } else {
        Vec::new()
    };
    if !worth_deflating(&head[..n]) {
        let mut c = stored_from_source(entry, src, head[..n].to_vec(), want_sha, keep, interrupt)?;
        c.native.extend(native);
        return Ok(c);
    }
    src.rewind().map_err(|e| read_error(&entry.source(), e))?;
    let spool = tempfile::tempfile().map_err(spool_error)?;
    let mut enc = DeflateEncoder::new(BufWriter::new(spool), Compression::new(LEVEL));
    let mut digests = Digests::new(want_sha);
    digests.keep = keep;
    stream(
        entry,
        (&src).take(entry.size + 1),
        &mut digests,
        interrupt,
        |bytes| enc.write_all(bytes).map_err(spool_error),
    )?;
    if let Some(kept) = digests.keep.take() {
        native = native::inspect_kept(&entry.name, &kept);
    }
    let (crc32, content_sha256) = digests.finish(entry)?;
    let spool = enc
        .finish()
        .and_then(|w| w.into_inner().map_err(|e| e.into_error()))
        .map_err(spool_error)?;
    let compressed = spool
        .metadata()
        .map_err(|e| PackageError::io("cannot read a temporary file", e))?
        .len();
    let (method, data) = if compressed < entry.size {
        (Method::Deflated, Data::Spooled(spool, compressed))
    } else {
        (Method::Stored, Data::Source(src, entry.size))
    };
    Ok(Compressed {
        method,
        crc32,
        data,
        content_sha256,
        native,
    })
}

/// Reads until `buf` is full or the file ends.
fn read_full(src: &mut File, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match src.read(&mut buf[n..])? {
            0 => break,
            k => n += k,
        }
    }
    Ok(n)
}

/// A large incompressible file: CRC and hash it in one pass; its bytes are copied from the
/// source when the writer reaches it.
fn stored_from_source(
    entry: &Entry,
    src: File,
    head: Vec<u8>,
    want_sha: bool,
    keep: Option<native::Kept>,
    interrupt: &Interrupt,
) -> Result<Compressed, PackageError> {
    let mut digests = Digests::new(want_sha);
    digests.keep = keep;
    digests.update(&head);
    let rest = (entry.size + 1).saturating_sub(head.len() as u64);
    stream(
        entry,
        (&src).take(rest),
        &mut digests,
        interrupt,
        |_| Ok(()),
    )?;
    let native = match digests.keep.take() {
        Some(kept) => native::inspect_kept(&entry.name, &kept),
        None => Vec::new(),
    };
    let (crc32, content_sha256) = digests.finish(entry)?;
    Ok(Compressed {
        method: Method::Stored,
        crc32,
        data: Data::Source(src, entry.size),
        content_sha256,
        native,
    })
}

/// CRC-32 (and SHA-256 when the tree fingerprint needs it) of an entry's bytes as they stream
/// by, with their count, so a file that grew or shrank since the walk is caught.
struct Digests {
    crc: crc32fast::Hasher,
    sha: Option<Sha256>,
    total: u64,
    /// The parts of a large ELF file its native check reads (`native::Kept`).
    keep: Option<native::Kept>,
}

impl Digests {
    fn new(want_sha: bool) -> Self {
        Digests {
            crc: crc32fast::Hasher::new(),
            sha: want_sha.then(Sha256::new),
            total: 0,
            keep: None,
        }
    }

    fn update(&mut self, bytes: &[u8]) {
        if let Some(k) = self.keep.as_mut() {
            k.update(self.total, bytes);
        }
        self.total += bytes.len() as u64;
        self.crc.update(bytes);
        if let Some(s) = self.sha.as_mut() {
            s.update(bytes);
        }
    }

    fn finish(self, entry: &Entry) -> Result<(u32, Option<[u8; 32]>), PackageError> {
        if self.total != entry.size {
            return Err(changed_error(&entry.source()));
        }
        Ok((self.crc.finalize(), self.sha.map(|s| s.finalize().into())))
    }
}

/// Reads `src` to its end through `digests`, handing each chunk to `sink`.
fn stream(
    entry: &Entry,
    mut src: impl Read,
    digests: &mut Digests,
    interrupt: &Interrupt,
    mut sink: impl FnMut(&[u8]) -> Result<(), PackageError>,
) -> Result<(), PackageError> {
    let mut buf = vec![0u8; 1 << 18];
    loop {
        stop_if_interrupted(interrupt)?;
        let n = src
            .read(&mut buf)
            .map_err(|e| read_error(&entry.source(), e))?;
        if n == 0 {
            return Ok(());
        }
        digests.update(&buf[..n]);
        sink(&buf[..n])?;
    }
}

/// SHA-256 of an entry's content (a link's target text for a link).
fn hash_entry(
    entry: &Entry,
    from: Option<BorrowedFd<'_>>,
    interrupt: &Interrupt,
) -> Result<[u8; 32], PackageError> {
    stop_if_interrupted(interrupt)?;
    match &entry.kind {
        EntryKind::Symlink(target) => Ok(Sha256::digest(target.as_bytes()).into()),
        // Read whole into the worker's buffer: one read call, no buffer to allocate per file.
        EntryKind::File if entry.size <= SPOOL_BYTES => SCRATCH.with_borrow_mut(|d| {
            let read = read_exact_size(entry, from, &mut d.input);
            let sha = read.map(|n| Sha256::digest(&d.input[..n]).into());
            trim(&mut d.input);
            sha
        }),
        EntryKind::File => {
            let f = open_file(entry, from).map_err(|e| read_error(&entry.source(), e))?;
            let mut digests = Digests::new(true);
            stream(
                entry,
                f.take(entry.size + 1),
                &mut digests,
                interrupt,
                |_| Ok(()),
            )?;
            let (_, sha) = digests.finish(entry)?;
            Ok(sha.expect("asked for the SHA-256"))
        }
    }
}

/// Ends packaging once SIGINT or SIGTERM has arrived.
fn stop_if_interrupted(interrupt: &Interrupt) -> Result<(), PackageError> {
    match interrupt.signal() {
        Some(s) => Err(PackageError::Interrupted(s)),
        None => Ok(()),
    }
}

/// Passes bytes through while hashing and counting them.
struct HashingWriter<W: Write> {
    inner: W,
    sha: Sha256,
    count: u64,
}

impl<W: Write> HashingWriter<W> {
    fn new(inner: W) -> Self {
        HashingWriter {
            inner,
            sha: Sha256::new(),
            count: 0,
        }
    }

    fn finish(mut self) -> io::Result<([u8; 32], u64)> {
        self.inner.flush()?;
        Ok((self.sha.finalize().into(), self.count))
    }
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.sha.update(&buf[..n]);
        self.count += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// The size check over `entries`, as the walk runs it.
    fn check_size(entries: &[Entry]) -> Result<u64, PackageError> {
        let mut size = SizeCheck::default();
        for e in entries {
            size.add(e);
        }
        size.finish()
    }

    /// A regular file `name` (0644) of `size` bytes in the layer's folder `root`, opened by
    /// its path (no folder held).
    pub(crate) fn file_entry(root: &Path, name: impl Into<String>, size: u64) -> Entry {
        Entry {
            name: name.into(),
            below: 0,
            folder: None,
            name_at: 0,
            through_link: false,
            root: Arc::from(root),
            kind: EntryKind::File,
            size,
            mode: 0o100644,
        }
    }

    pub(crate) fn entries(sizes: &[u64]) -> Vec<Entry> {
        sizes
            .iter()
            .enumerate()
            .map(|(i, s)| file_entry(Path::new(""), format!("f{i:05}"), *s))
            .collect()
    }

    #[test]
    fn oversize_layer_names_its_largest_entries() {
        let mut es = entries(&[100; 3]);
        es[1].size = UNZIPPED_MAX;
        let msg = check_size(&es).unwrap_err().to_string();
        assert!(msg.starts_with("the layer unzips to 262144200 bytes (250.0 MiB), over Lambda's limit of 262144000 bytes"), "{msg}");
        assert!(
            msg.contains("the largest entries: f00001 (250.0 MiB), f00000 (100 B)"),
            "{msg}"
        );
    }

    #[test]
    fn sizes_that_sum_past_2_64_are_refused_not_wrapped() {
        // Sparse files can claim such sizes; wrapped, they summed to a few bytes and passed.
        let es = entries(&[u64::MAX / 2 + 1, u64::MAX / 2 + 1, 5]);
        let msg = check_size(&es).unwrap_err().to_string();
        assert!(
            msg.starts_with("the layer unzips to more than 2^64 bytes, over Lambda's limit"),
            "{msg}"
        );
    }

    fn noise(len: usize) -> Vec<u8> {
        let mut state = 1u32;
        (0..len)
            .map(|_| {
                state = state.wrapping_mul(1_103_515_245).wrapping_add(12_345);
                (state >> 16) as u8
            })
            .collect()
    }

    /// A large incompressible file, compressed (stored: copied from the source at write
    /// time), then `change` applied to the source, then written into a zip.
    fn write_after(change: impl FnOnce(&Path)) -> Result<Vec<u8>, PackageError> {
        let dir = tempfile::tempdir().unwrap();
        let source = dir.path().join("blob.bin");
        let bytes = noise(SPOOL_BYTES as usize + 4096);
        std::fs::write(&source, &bytes).unwrap();
        let entry = file_entry(dir.path(), "blob.bin", bytes.len() as u64);
        let mut arena = Arena::default();
        let mut c = compress(&entry, None, false, true, &Interrupt::never(), &mut arena)?;
        assert!(matches!(c.data, Data::Source(..)), "stored from its source");
        change(&source);
        let mut zip = ZipWriter::new(Vec::new(), DosTime::EPOCH);
        write_entry(
            &mut zip,
            &entry,
            &mut c,
            Path::new("deps.zip"),
            arena.bytes(),
        )?;
        Ok(zip.finish().unwrap())
    }

    #[test]
    fn a_large_file_rewritten_in_place_between_hash_and_write_is_refused() {
        assert!(write_after(|_| {}).is_ok());
        // The same size, other bytes: the zip would carry a CRC that does not match its data.
        let err = write_after(|p| {
            use std::os::unix::fs::FileExt;
            let f = std::fs::OpenOptions::new().write(true).open(p).unwrap();
            f.write_all_at(b"rewritten", SPOOL_BYTES / 2).unwrap();
        })
        .unwrap_err();
        assert!(matches!(err, PackageError::Input(_)), "exit 2");
        assert!(
            err.to_string()
                .contains("changed while layerpub was packaging it"),
            "{err}"
        );
        // Truncated: fewer bytes than announced.
        assert!(write_after(|p| std::fs::write(p, b"small").unwrap()).is_err());
        // Replaced by another file under the same name: the open handle still reads the
        // bytes that were hashed.
        let replaced = write_after(|p| {
            std::fs::write(p.with_extension("new"), b"small").unwrap();
            std::fs::rename(p.with_extension("new"), p).unwrap();
        });
        assert!(replaced.is_ok());
    }

    #[test]
    fn an_unreadable_file_is_the_users_to_fix() {
        let e = read_error(
            Path::new("layer/secret.py"),
            io::Error::from(io::ErrorKind::PermissionDenied),
        );
        assert!(
            matches!(e, PackageError::Input(_)),
            "exit 2 like an unreadable folder"
        );
        assert!(e.to_string().contains("make it readable"), "{e}");
    }

    #[test]
    fn incompressible_data_is_spotted_from_a_sample() {
        let mut state = 1u32;
        let noise: Vec<u8> = (0..PROBE_BYTES * 2)
            .map(|_| {
                state = state.wrapping_mul(1_103_515_245).wrapping_add(12_345);
                (state >> 16) as u8
            })
            .collect();
        assert!(!worth_deflating(&noise));
        assert!(worth_deflating(&b"def f(): pass\n".repeat(10_000)));
        assert!(
            worth_deflating(&noise[..100]),
            "small files are always tried"
        );
    }

    #[test]
    fn a_deflated_entry_ends_with_its_final_block_not_a_sync_flush_marker() {
        // A flush before finishing wrote `00 00 ff ff` (and an empty final block) after every
        // entry's data: about 6 bytes per file for nothing.
        let dir = tempfile::tempdir().unwrap();
        let text = source_text(SMALL_FILE_BYTES + 1);
        let mut deflated = Vec::new();
        let mut arena = Arena::default();
        for (i, len) in [text.len(), 300, 120].into_iter().enumerate() {
            let source = dir.path().join(format!("m{i}.py"));
            std::fs::write(&source, &text[..len]).unwrap();
            let entry = file_entry(dir.path(), format!("m{i}.py"), len as u64);
            // One arena for all three, as in a batch: each entry's bytes at its own place.
            let c = compress(&entry, None, false, false, &Interrupt::never(), &mut arena).unwrap();
            assert_eq!(c.method, Method::Deflated, "{len} bytes");
            let Data::Arena(at) = &c.data else {
                panic!("in memory")
            };
            let data = &arena.bytes()[at.clone()];
            // The marker, then the empty final block `03 00` that finishing added.
            let tail = &data[data.len().saturating_sub(6)..];
            assert!(
                !tail.windows(4).any(|w| w == [0, 0, 0xff, 0xff]),
                "{tail:02x?}"
            );
            let mut back = Vec::new();
            flate2::read::DeflateDecoder::new(data)
                .read_to_end(&mut back)
                .unwrap();
            assert_eq!(back, &text[..len], "the worker's reused state starts clean");
            assert_eq!(c.crc32, crc32fast::hash(&text[..len]));
            deflated.push(data.to_vec());
        }
        // What a fresh compressor gives, byte for byte: reusing the state changes nothing.
        assert_eq!(deflated[0], fresh_deflate(LEVEL as i32, &text));
        assert_eq!(deflated[1], fresh_deflate(SMALL_LEVEL, &text[..300]));
        assert_eq!(deflated[2], fresh_deflate(SMALL_LEVEL, &text[..120]));
    }

    /// Python-like text of `len` bytes, varied enough that libdeflate's levels differ on it.
    fn source_text(len: usize) -> Vec<u8> {
        let mut text = Vec::new();
        for i in 0.. {
            if text.len() >= len {
                break;
            }
            let line = format!(
                "def handler_{}(event, context):\n    return event[{}]\n",
                i * 7919 % 613,
                i % 7
            );
            text.extend_from_slice(line.as_bytes());
        }
        text.truncate(len);
        text
    }

    fn fresh_deflate(level: i32, input: &[u8]) -> Vec<u8> {
        let mut fresh = Compressor::new(CompressionLvl::new(level).unwrap());
        let mut out = vec![0; fresh.deflate_compress_bound(input.len())];
        let n = fresh.deflate_compress(input, &mut out).unwrap();
        out.truncate(n);
        out
    }

    #[test]
    fn a_file_up_to_the_small_size_is_deflated_at_the_small_level_and_a_larger_one_at_6() {
        let dir = tempfile::tempdir().unwrap();
        let text = source_text(SMALL_FILE_BYTES + 1);
        let mut arena = Arena::default();
        // The boundary on both sides: the last small size, the first that is not.
        for (len, level, other) in [
            (SMALL_FILE_BYTES, SMALL_LEVEL, LEVEL as i32),
            (SMALL_FILE_BYTES + 1, LEVEL as i32, SMALL_LEVEL),
        ] {
            let input = &text[..len];
            assert_ne!(
                fresh_deflate(level, input),
                fresh_deflate(other, input),
                "the two levels must differ on the test's text"
            );
            std::fs::write(dir.path().join("m.py"), input).unwrap();
            let entry = file_entry(dir.path(), "m.py", len as u64);
            let c = compress(&entry, None, false, false, &Interrupt::never(), &mut arena).unwrap();
            let Data::Arena(at) = &c.data else {
                panic!("in memory")
            };
            assert_eq!(
                arena.bytes()[at.clone()],
                fresh_deflate(level, input),
                "{len} bytes"
            );
        }
    }

    #[test]
    fn the_size_check_keeps_the_largest_entries_as_they_stream_by() {
        let mut es = entries(&[7, 9, 9, 1, 30, 9, 2, 9]);
        es[3].size = UNZIPPED_MAX;
        let msg = check_size(&es).unwrap_err().to_string();
        assert!(
            msg.contains("the largest entries: f00003 (250.0 MiB), f00004 (30 B), f00001 (9 B), f00002 (9 B), f00005 (9 B)."),
            "{msg}"
        );
        assert_eq!(check_size(&entries(&[1, 2])).unwrap(), 3);
        assert_eq!(check_size(&[]).unwrap(), 0);
    }

    #[test]
    fn a_file_whose_size_changed_since_the_walk_is_refused_from_one_read() {
        let dir = tempfile::tempdir().unwrap();
        let source = dir.path().join("m.py");
        std::fs::write(&source, b"0123456789").unwrap();
        let entry = |size| file_entry(dir.path(), "m.py", size);
        let mut buf = vec![7u8; 100];
        let n = read_exact_size(&entry(10), None, &mut buf).unwrap();
        assert_eq!(&buf[..n], b"0123456789");
        assert_eq!(
            buf.len(),
            100,
            "the reused buffer is not cleared, only read into"
        );
        for size in [9, 11, 0] {
            let err = read_exact_size(&entry(size), None, &mut buf).unwrap_err();
            assert!(
                err.to_string()
                    .contains("changed while layerpub was packaging it"),
                "{err}"
            );
        }
    }

    #[test]
    fn a_small_file_after_a_larger_one_is_hashed_and_stored_without_the_larger_ones_bytes() {
        // The workers' buffers keep stale bytes past the current file: only the file's own
        // may reach the hash, the CRC and the zip.
        let dir = tempfile::tempdir().unwrap();
        let mut arena = Arena::default();
        for (name, content) in [("big.bin", noise(5000)), ("small.bin", b"xyz".to_vec())] {
            let source = dir.path().join(name);
            std::fs::write(&source, &content).unwrap();
            let entry = file_entry(dir.path(), name, content.len() as u64);
            let want: [u8; 32] = Sha256::digest(&content).into();
            assert_eq!(hash_entry(&entry, None, &Interrupt::never()).unwrap(), want);
            let c = compress(&entry, None, true, false, &Interrupt::never(), &mut arena).unwrap();
            assert_eq!(c.content_sha256, Some(want), "{name}");
            assert_eq!(c.crc32, crc32fast::hash(&content), "{name}");
            let Data::Arena(at) = &c.data else {
                panic!("in memory")
            };
            assert_eq!(
                (c.method, &arena.bytes()[at.clone()]),
                (Method::Stored, &content[..])
            );
        }
    }

    #[test]
    fn a_file_swapped_for_a_fifo_after_the_walk_is_refused_without_hanging() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("m.py");
        let made = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap();
        assert!(made.success());
        // The size the walk saw of the file that was there before.
        let entry = file_entry(dir.path(), "m.py", 10);
        let root = rustix::fs::open(
            dir.path(),
            rustix::fs::OFlags::PATH | rustix::fs::OFlags::DIRECTORY,
            rustix::fs::Mode::empty(),
        )
        .unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let below = read_exact_size(&entry, Some(root.as_fd()), &mut Vec::new());
            let by_path = read_exact_size(&entry, None, &mut Vec::new());
            let _ = tx.send((
                below.map_err(|e| e.to_string()),
                by_path.map_err(|e| e.to_string()),
            ));
        });
        let (below, by_path) = rx
            .recv_timeout(std::time::Duration::from_secs(10))
            .expect("opening a FIFO must not block");
        for r in [below, by_path] {
            let err = r.unwrap_err();
            assert!(
                err.contains("changed while layerpub was packaging it"),
                "{err}"
            );
        }
    }

    /// A layer of the folder `dir`, with every default.
    fn layer_in(dir: &Path) -> LayerConfig {
        let settings = crate::config::settings::Settings {
            layer_name: Some("deps".into()),
            path: Some(dir.to_str().unwrap().into()),
            ..Default::default()
        };
        crate::config::resolve(None, Default::default(), settings)
            .unwrap()
            .layers
            .remove(0)
    }

    #[test]
    fn a_file_swapped_for_a_link_after_the_walk_is_refused_not_read_through_it() {
        let dir = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("pkg")).unwrap();
        std::fs::write(dir.path().join("pkg/a.py"), b"a = 1\n").unwrap();
        std::fs::write(outside.path().join("secret"), b"TOKEN\n").unwrap();
        let layer = layer_in(dir.path());
        let root = walk::open_root(&layer).unwrap();
        let mut entries = Vec::new();
        walk_sorted(&layer, root.as_fd(), None, |e| {
            entries.push(e);
            true
        })
        .unwrap();
        let a = dir.path().join("pkg/a.py");
        std::fs::remove_file(&a).unwrap();
        std::os::unix::fs::symlink(outside.path().join("secret"), &a).unwrap();
        let mut entry = entries.remove(0);
        // In the folder the walk listed; below the layer's folder; by its path.
        for from in [true, true, false] {
            let err = read_exact_size(&entry, from.then(|| root.as_fd()), &mut Vec::new())
                .unwrap_err()
                .to_string();
            assert!(err.contains("was replaced by a symbolic link"), "{err}");
            entry.folder = None;
        }
    }

    #[test]
    fn past_lambdas_limit_the_walk_hands_nothing_more_over_and_names_the_largest() {
        let dir = tempfile::tempdir().unwrap();
        let sparse = |name: &str, len: u64| {
            let f = File::create(dir.path().join(name)).unwrap();
            f.set_len(len).unwrap();
        };
        std::fs::write(dir.path().join("a.py"), b"x = 1\n").unwrap();
        sparse("b.bin", UNZIPPED_MAX);
        std::fs::write(dir.path().join("c.py"), b"y = 2\n").unwrap();
        sparse("d.bin", 1 << 40);
        let layer = layer_in(dir.path());
        let mut handed = Vec::new();
        let root = walk::open_root(&layer).unwrap();
        let err = sized_walk(&layer, root.as_fd(), None, &mut |e| {
            handed.push(e.name);
            true
        })
        .unwrap_err();
        assert_eq!(handed, ["a.py"], "nothing past the limit is read");
        let msg = err.to_string();
        assert!(
            msg.contains(
                "the largest entries: d.bin (1.0 TiB), b.bin (250.0 MiB), a.py (6 B), c.py (6 B)."
            ),
            "{msg}"
        );
    }

    #[test]
    fn human_bytes_reads_well() {
        assert_eq!(human_bytes(10), "10 B");
        assert_eq!(human_bytes(1536), "1.5 KiB");
        assert_eq!(human_bytes(150 << 20), "150.0 MiB");
    }
}
