//! Turns a layer folder into its zip: walk, check Lambda's rules, compress every entry on all
//! cores, write them in name order, hash the zip while it is written.
//!
//! Memory stays bounded whatever the tree: workers may run at most [`WINDOW_ENTRIES`] entries
//! and [`WINDOW_BYTES`] of input ahead of the writer, and a file larger than [`SPOOL_BYTES`]
//! is compressed into an anonymous temporary file instead of memory. Output bytes depend only
//! on the entries, never on which worker finished first.

pub mod archive;
pub mod changes;
pub mod destinations;
pub mod fingerprint;
pub mod layout;
pub mod native;
pub mod walk;

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, BufWriter, Read, Seek, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, mpsc};

use flate2::Compression;
use flate2::write::DeflateEncoder;
use sha2::{Digest, Sha256};

use crate::config::LayerConfig;
use crate::config::settings::NativeCheck;
use crate::domain::error::PackageError;
use crate::domain::interrupt::Interrupt;
use crate::domain::limits::UNZIPPED_MAX;
use crate::domain::text::human_bytes;
use crate::package::archive::{DosTime, EntryHeader, Method, ZipWriter};
use crate::package::fingerprint::{FingerprintDocument, Source, TreeFile, hex, read_manifests};
use crate::package::layout::layout_warnings;
use crate::package::walk::{Entry, EntryKind, MODE_EXECUTABLE, MODE_SYMLINK, walk};

/// Entries the workers may be ahead of the writer.
pub(crate) const WINDOW_ENTRIES: usize = 256;
/// Input bytes the workers may hold ahead of the writer.
pub(crate) const WINDOW_BYTES: u64 = 64 << 20;
/// Files above this are compressed to a temporary file rather than to memory.
pub(crate) const SPOOL_BYTES: u64 = 16 << 20;
/// Deflate level 6: what `zip` and Python's `zipfile` use, so sizes compare fairly.
const LEVEL: u32 = 6;
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
    pub warnings: Vec<String>,
}

/// Packages one layer into `layer.zip_path`. The zip appears whole or not at all: it is
/// written to a temporary file beside the target and renamed into place.
pub fn package(layer: &LayerConfig, options: &PackageOptions) -> Result<Packaged, PackageError> {
    let entries = walk(layer)?;
    // Lambda refuses a zip without entries ("Uploaded file must be a non-empty zip"); it is
    // almost always a build step that did not run, or filters that leave nothing.
    if entries.is_empty() {
        return Err(PackageError::input(format!(
            "path `{}` has no file to package (after include/exclude); run the build step that fills it first, or fix path, include and exclude",
            layer.path.display()
        )));
    }
    let unzipped_size = check_size(&entries)?;
    let names: Vec<&str> = entries.iter().map(|e| e.name.as_str()).collect();
    let mut warnings = layout_warnings(&layer.compatible_runtimes, &names);
    let inspect_native = layer.native_check != NativeCheck::Off;
    let mut native_found = BTreeMap::new();
    // Read before compressing: a missing lock file should fail in milliseconds, not minutes.
    let manifests = if layer.manifest.is_empty() {
        None
    } else {
        Some(read_manifests(&layer.manifest)?)
    };
    let want_tree_hashes = manifests.is_none();

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
    let mut tree = Vec::new();

    in_order(
        &entries,
        options.threads,
        |entry| compress(entry, want_tree_hashes, inspect_native, &options.interrupt),
        |i, mut c| {
            let entry = &entries[i];
            write_entry(&mut zip, entry, &mut c, &layer.zip_path)?;
            if !c.native.is_empty() {
                native_found.insert(entry.name.clone(), std::mem::take(&mut c.native));
            }
            if let Some(sha) = c.content_sha256.take() {
                tree.push(TreeFile {
                    path: entry.name.clone(),
                    mode: mode_label(entry.mode).to_owned(),
                    sha256: hex(&sha),
                });
            }
            Ok(())
        },
    )?;

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

    let source = match manifests {
        Some(files) => Source::Manifests { files },
        None => Source::Tree { files: tree },
    };
    Ok(Packaged {
        zip_path: layer.zip_path.clone(),
        file: Arc::new(file),
        sha256,
        code_size,
        unzipped_size,
        file_count: entries.len() as u64,
        document: FingerprintDocument::new(layer, source),
        warnings,
    })
}

/// The fingerprint document without writing a zip: from the manifests when the layer names
/// them (no walk at all), else from the hashes of the files that would be packaged.
pub(crate) fn fingerprint_document(
    layer: &LayerConfig,
    options: &PackageOptions,
) -> Result<FingerprintDocument, PackageError> {
    if !layer.manifest.is_empty() {
        let files = read_manifests(&layer.manifest)?;
        return Ok(FingerprintDocument::new(layer, Source::Manifests { files }));
    }
    let entries = walk(layer)?;
    // From the sizes on disk, before a byte is read: a layer Lambda would refuse is refused
    // in milliseconds, not after hashing gigabytes.
    check_size(&entries)?;
    let mut files = Vec::with_capacity(entries.len());
    in_order(
        &entries,
        options.threads,
        |e| hash_entry(e, &options.interrupt),
        |i, sha| {
            files.push(TreeFile {
                path: entries[i].name.clone(),
                mode: mode_label(entries[i].mode).to_owned(),
                sha256: hex(&sha),
            });
            Ok(())
        },
    )?;
    Ok(FingerprintDocument::new(layer, Source::Tree { files }))
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
        inner: c.data.reader()?,
        crc: crc32fast::Hasher::new(),
    };
    zip.add(&header, &mut reader)
        .map_err(|e| write_error(zip_path, e))?;
    if c.method == Method::Stored && reader.crc.finalize() != c.crc32 {
        return Err(changed_error(&entry.source));
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

/// Sums the unzipped size and refuses a layer Lambda would refuse, naming the largest entries.
fn check_size(entries: &[Entry]) -> Result<u64, PackageError> {
    // Checked: sparse files can claim sizes whose sum passes 2^64 and would wrap to a few bytes.
    let total = entries
        .iter()
        .try_fold(0u64, |sum, e| sum.checked_add(e.size));
    let size = match total {
        Some(t) if t <= UNZIPPED_MAX => return Ok(t),
        Some(t) => format!("{t} bytes ({})", human_bytes(t)),
        None => "more than 2^64 bytes".to_owned(),
    };
    let mut largest: Vec<&Entry> = entries.iter().collect();
    largest.sort_by(|a, b| b.size.cmp(&a.size).then_with(|| a.name.cmp(&b.name)));
    let list: Vec<String> = largest
        .iter()
        .take(5)
        .map(|e| format!("{} ({})", e.name, human_bytes(e.size)))
        .collect();
    Err(PackageError::input(format!(
        "the layer unzips to {size}, over Lambda's limit of {UNZIPPED_MAX} bytes (250 MiB); the largest entries: {}. Exclude what the functions do not need (tests, docs, caches) with exclude, or split the layer",
        list.join(", ")
    )))
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
    Memory(Vec<u8>),
    /// Compressed into an anonymous temporary file (large files).
    Spooled(File, u64),
    /// Stored as it is: copied from the source file, still open from the read that hashed
    /// it, at write time (large, incompressible); `write_entry` checks the copy's CRC-32.
    Source(File, u64),
}

impl Data {
    fn len(&self) -> u64 {
        match self {
            Data::Memory(v) => v.len() as u64,
            Data::Spooled(_, n) | Data::Source(_, n) => *n,
        }
    }

    fn reader(&mut self) -> Result<Box<dyn Read + '_>, PackageError> {
        Ok(match self {
            Data::Memory(v) => Box::new(&v[..]),
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

/// Compresses one entry, storing it when deflate would not make it smaller.
fn compress(
    entry: &Entry,
    want_sha: bool,
    inspect_native: bool,
    interrupt: &Interrupt,
) -> Result<Compressed, PackageError> {
    stop_if_interrupted(interrupt)?;
    match &entry.kind {
        EntryKind::Symlink(target) => Ok(stored_in_memory(target.as_bytes().to_vec(), want_sha)),
        EntryKind::File if entry.size > SPOOL_BYTES => {
            compress_spooled(entry, want_sha, inspect_native, interrupt)
        }
        EntryKind::File => {
            let bytes = read_exact_size(entry)?;
            // From the bytes read for the zip: no second read.
            let native = if inspect_native {
                native::inspect(&entry.name, &bytes)
            } else {
                Vec::new()
            };
            if bytes.is_empty() || !worth_deflating(&bytes) {
                let mut c = stored_in_memory(bytes, want_sha);
                c.native = native;
                return Ok(c);
            }
            let mut enc = DeflateEncoder::new(
                Vec::with_capacity(bytes.len() / 2 + 64),
                Compression::new(LEVEL),
            );
            enc.write_all(&bytes)
                .and_then(|_| enc.flush())
                .map_err(|e| PackageError::io("deflate failed", e))?;
            let deflated = enc
                .finish()
                .map_err(|e| PackageError::io("deflate failed", e))?;
            let crc32 = crc32fast::hash(&bytes);
            let content_sha256 = want_sha.then(|| Sha256::digest(&bytes).into());
            let (method, data) = if deflated.len() < bytes.len() {
                (Method::Deflated, deflated)
            } else {
                (Method::Stored, bytes)
            };
            Ok(Compressed {
                method,
                crc32,
                data: Data::Memory(data),
                content_sha256,
                native,
            })
        }
    }
}

/// Whether deflate is likely to shrink the data, judged on its first [`PROBE_BYTES`]: a sample
/// that does not shrink by 2% means the file is stored without a full deflate. Depends only on
/// the content, so the archive stays deterministic.
fn worth_deflating(data: &[u8]) -> bool {
    if data.len() <= PROBE_BYTES {
        return true;
    }
    let sample = &data[..PROBE_BYTES];
    let mut enc = DeflateEncoder::new(Vec::with_capacity(PROBE_BYTES), Compression::new(LEVEL));
    match enc.write_all(sample).and_then(|_| enc.finish()) {
        Ok(out) => out.len() < sample.len() * 98 / 100,
        Err(_) => true,
    }
}

fn stored_in_memory(bytes: Vec<u8>, want_sha: bool) -> Compressed {
    Compressed {
        method: Method::Stored,
        crc32: crc32fast::hash(&bytes),
        content_sha256: want_sha.then(|| Sha256::digest(&bytes).into()),
        data: Data::Memory(bytes),
        native: Vec::new(),
    }
}

fn read_exact_size(entry: &Entry) -> Result<Vec<u8>, PackageError> {
    let mut bytes = Vec::with_capacity(entry.size as usize);
    File::open(&entry.source)
        .and_then(|f| f.take(entry.size + 1).read_to_end(&mut bytes))
        .map_err(|e| read_error(&entry.source, e))?;
    if bytes.len() as u64 != entry.size {
        return Err(changed_error(&entry.source));
    }
    Ok(bytes)
}

/// Streams a large file through deflate into a temporary file.
fn compress_spooled(
    entry: &Entry,
    want_sha: bool,
    inspect_native: bool,
    interrupt: &Interrupt,
) -> Result<Compressed, PackageError> {
    let mut src = File::open(&entry.source).map_err(|e| read_error(&entry.source, e))?;
    let mut head = vec![0u8; PROBE_BYTES + 1];
    let n = read_full(&mut src, &mut head).map_err(|e| read_error(&entry.source, e))?;
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
    src.rewind().map_err(|e| read_error(&entry.source, e))?;
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
            return Err(changed_error(&entry.source));
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
            .map_err(|e| read_error(&entry.source, e))?;
        if n == 0 {
            return Ok(());
        }
        digests.update(&buf[..n]);
        sink(&buf[..n])?;
    }
}

/// SHA-256 of an entry's content (a link's target text for a link).
fn hash_entry(entry: &Entry, interrupt: &Interrupt) -> Result<[u8; 32], PackageError> {
    stop_if_interrupted(interrupt)?;
    match &entry.kind {
        EntryKind::Symlink(target) => Ok(Sha256::digest(target.as_bytes()).into()),
        EntryKind::File => {
            let f = File::open(&entry.source).map_err(|e| read_error(&entry.source, e))?;
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

/// Runs `work` on every entry on `threads` workers (0: one per core) and hands the results to
/// `sink` in entry order, on the calling thread. Stops at the first error, from either side.
fn in_order<T, W, S>(
    entries: &[Entry],
    threads: usize,
    work: W,
    mut sink: S,
) -> Result<(), PackageError>
where
    T: Send,
    W: Fn(&Entry) -> Result<T, PackageError> + Sync,
    S: FnMut(usize, T) -> Result<(), PackageError>,
{
    let threads = if threads == 0 {
        std::thread::available_parallelism().map_or(1, |n| n.get())
    } else {
        threads
    }
    .min(entries.len().max(1));
    let next = AtomicUsize::new(0);
    let window = Window::default();

    std::thread::scope(|scope| {
        let (tx, rx) = mpsc::channel::<(usize, Result<T, PackageError>)>();
        for _ in 0..threads {
            let tx = tx.clone();
            let (next, window, work) = (&next, &window, &work);
            scope.spawn(move || {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= entries.len() {
                        break;
                    }
                    let cost = entries[i].size.min(SPOOL_BYTES);
                    if !window.enter(i, cost) {
                        break;
                    }
                    if tx.send((i, work(&entries[i]))).is_err() {
                        break;
                    }
                }
            });
        }
        drop(tx);

        let mut pending = BTreeMap::new();
        let mut want = 0;
        let result = (|| {
            for (i, r) in rx.iter() {
                pending.insert(i, r);
                while let Some(r) = pending.remove(&want) {
                    sink(want, r?)?;
                    window.leave(want + 1, entries[want].size.min(SPOOL_BYTES));
                    want += 1;
                }
            }
            Ok(())
        })();
        // Wake any worker waiting for room so that the scope can end.
        window.cancel();
        result
    })
}

/// How far ahead of the writer the workers may run.
#[derive(Default)]
struct Window {
    state: Mutex<WindowState>,
    room: Condvar,
    cancelled: AtomicBool,
}

#[derive(Default)]
struct WindowState {
    written: usize,
    bytes: u64,
}

impl Window {
    /// Waits until entry `i` may start; false when the run was cancelled. The entry the writer
    /// waits for always may, so the pipeline cannot stall.
    fn enter(&self, i: usize, cost: u64) -> bool {
        let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        loop {
            if self.cancelled.load(Ordering::Relaxed) {
                return false;
            }
            let within = i < s.written + WINDOW_ENTRIES && s.bytes + cost <= WINDOW_BYTES;
            if i == s.written || within {
                s.bytes += cost;
                return true;
            }
            s = self.room.wait(s).unwrap_or_else(|p| p.into_inner());
        }
    }

    fn leave(&self, written: usize, cost: u64) {
        let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        s.written = written;
        s.bytes = s.bytes.saturating_sub(cost);
        self.room.notify_all();
    }

    fn cancel(&self) {
        let _guard = self.state.lock().unwrap_or_else(|p| p.into_inner());
        self.cancelled.store(true, Ordering::Relaxed);
        self.room.notify_all();
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
mod tests {
    use super::*;

    fn entries(sizes: &[u64]) -> Vec<Entry> {
        sizes
            .iter()
            .enumerate()
            .map(|(i, s)| Entry {
                name: format!("f{i:05}"),
                source: PathBuf::new(),
                kind: EntryKind::File,
                size: *s,
                mode: 0o100644,
            })
            .collect()
    }

    #[test]
    fn results_arrive_in_entry_order_whatever_finishes_first() {
        let es = entries(&[1; 2000]);
        let mut seen = Vec::new();
        in_order(
            &es,
            4,
            |e| {
                // Uneven work so that workers overtake each other.
                if e.name.ends_with('7') {
                    std::thread::yield_now();
                }
                Ok(e.name.clone())
            },
            |i, name| {
                assert_eq!(name, es[i].name);
                seen.push(i);
                Ok(())
            },
        )
        .unwrap();
        assert_eq!(seen, (0..2000).collect::<Vec<_>>());
    }

    #[test]
    fn a_worker_error_stops_the_run_and_is_returned() {
        let es = entries(&[1; 5000]);
        let err = in_order(
            &es,
            3,
            |e| {
                if e.name == "f00100" {
                    Err(PackageError::input("boom"))
                } else {
                    Ok(())
                }
            },
            |_, _| Ok(()),
        )
        .unwrap_err();
        assert_eq!(err.to_string(), "boom");
    }

    #[test]
    fn a_sink_error_stops_the_workers_too() {
        // Large entries fill the byte window at once: workers must be woken to end.
        let es = entries(&[SPOOL_BYTES; 64]);
        let err = in_order(
            &es,
            2,
            |_| Ok(()),
            |i, _| {
                if i == 1 {
                    Err(PackageError::input("disk full"))
                } else {
                    Ok(())
                }
            },
        )
        .unwrap_err();
        assert_eq!(err.to_string(), "disk full");
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
        let entry = Entry {
            name: "blob.bin".into(),
            source: source.clone(),
            kind: EntryKind::File,
            size: bytes.len() as u64,
            mode: 0o100644,
        };
        let mut c = compress(&entry, false, true, &Interrupt::never())?;
        assert!(matches!(c.data, Data::Source(..)), "stored from its source");
        change(&source);
        let mut zip = ZipWriter::new(Vec::new(), DosTime::EPOCH);
        write_entry(&mut zip, &entry, &mut c, Path::new("deps.zip"))?;
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
    fn human_bytes_reads_well() {
        assert_eq!(human_bytes(10), "10 B");
        assert_eq!(human_bytes(1536), "1.5 KiB");
        assert_eq!(human_bytes(150 << 20), "150.0 MiB");
    }
}
