//! The fingerprint: what decides whether a new layer version is needed.
//!
//! It is the SHA-256 (hex) of a canonical JSON document holding the format version, the layer
//! name, every setting that shapes the published version, and either the dependency manifest
//! files (lock files, CRLF normalised to LF so a Windows checkout does not republish) or, with
//! no manifest, the per-file hashes of the packaged tree. The document itself is kept (it goes
//! beside the zip in S3) so that a later run can say *what* changed. Pure apart from
//! [`read_manifests`].

use std::borrow::Cow;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::config::LayerConfig;
use crate::config::build::{BuildKind, BuildSpec};
use crate::config::inputs::{READ_MAX, ReadError, read_regular};
use crate::config::settings::SymlinkPolicy;
use crate::domain::error::PackageError;

/// Bumped whenever the document's meaning changes, so old markers never match new ones.
pub const FORMAT_VERSION: u32 = 1;

/// The canonical document; its compact JSON serialisation is what is hashed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FingerprintDocument {
    pub format: u32,
    pub layer_name: String,
    pub settings: ShapingSettings,
    pub source: Source,
}

/// The settings that change what is published. The description is not among them: editing
/// it alone does not warrant a new version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShapingSettings {
    pub compatible_runtimes: Vec<String>,
    pub compatible_architectures: Vec<String>,
    pub license_info: Option<String>,
    pub prefix: String,
    pub include: Vec<String>,
    pub exclude: Vec<String>,
    pub symlinks: SymlinkPolicy,
    /// How the layer is built; absent for a layer that is not (so the fingerprints of layers
    /// published before builds existed stay the same).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub build: Option<BuildSettings>,
}

/// The build settings that shape what is published: changing any builds and publishes anew.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BuildSettings {
    /// `pip`, `uv`, `npm` or `command`.
    pub tool: String,
    /// The build command, for `command`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<String>,
    /// The platform the tool targets (see `config::build::BuildSpec::platform`).
    pub platform: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub python_version: Option<String>,
    pub architecture: String,
}

impl BuildSettings {
    fn of(spec: &BuildSpec) -> Self {
        BuildSettings {
            tool: spec.tool_name().to_owned(),
            command: match &spec.kind {
                BuildKind::Command(c) => Some(c.clone()),
                BuildKind::Tool(_) => None,
            },
            platform: spec.platform.clone(),
            python_version: spec.python_version.clone(),
            architecture: spec.architecture.clone(),
        }
    }
}

/// What the layer's content is judged by.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Source {
    /// The dependency lock files the user named.
    Manifests { files: Vec<ManifestFile> },
    /// No manifest named: every packaged file.
    Tree { files: Vec<TreeFile> },
}

/// One lock file: identified by its file name (not its folder, so the checkout's location
/// never matters), with its text when it is UTF-8 so that changes can be shown line by line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManifestFile {
    pub name: String,
    pub sha256: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
}

/// One packaged file or link.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TreeFile {
    pub path: String,
    /// `644`, `755`, or `link` (not a copy per file: a tree lists tens of thousands).
    pub mode: Cow<'static, str>,
    pub sha256: String,
}

impl FingerprintDocument {
    pub fn new(layer: &LayerConfig, source: Source) -> Self {
        let sorted = |v: &[String]| {
            let mut v = v.to_vec();
            v.sort();
            v.dedup();
            v
        };
        FingerprintDocument {
            format: FORMAT_VERSION,
            layer_name: layer.short_name().to_owned(),
            settings: ShapingSettings {
                compatible_runtimes: layer.compatible_runtimes.clone(),
                compatible_architectures: layer.compatible_architectures.clone(),
                license_info: layer.license_info.clone(),
                prefix: layer.prefix.clone(),
                include: sorted(layer.globs.include()),
                exclude: sorted(layer.globs.exclude()),
                symlinks: layer.symlinks,
                build: layer.build.as_ref().map(BuildSettings::of),
            },
            source,
        }
    }

    /// The canonical bytes: compact JSON, fields in declaration order, lists sorted. (What
    /// `fingerprint` hashes as it writes them; the tests read them whole.)
    #[cfg(test)]
    pub(crate) fn canonical_json(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("a fingerprint document always serialises")
    }

    /// SHA-256 of the canonical bytes, lowercase hex: hashed as they are written, never held
    /// whole (a tree's document lists every file: megabytes on a large tree).
    pub fn fingerprint(&self) -> String {
        let mut sha = Sha256::new();
        // Through a buffer: serde writes a document in pieces of a few bytes each (a quote, a
        // key), and each hasher update costs more than the copy.
        let mut out = std::io::BufWriter::with_capacity(HASH_BUFFER, &mut sha);
        serde_json::to_writer(&mut out, self).expect("a fingerprint document always serialises");
        std::io::Write::flush(&mut out).expect("hashing never fails");
        drop(out);
        hex(&sha.finalize())
    }
}

/// Bytes of JSON gathered before the hasher sees them.
const HASH_BUFFER: usize = 64 << 10;

/// A tree's file list, and the fingerprint of its document hashed as the files arrive in the
/// walk's order (the document's order), so that a run does not end with hashing the whole
/// list on one core while the others wait (about a twentieth of packaging 50,000 small
/// files: docs/benchmarks.md). The bytes hashed are [`FingerprintDocument::fingerprint`]'s:
/// the document's JSON up to its file list, then the files, then the closing brackets.
pub(crate) struct TreeFingerprint {
    sha: Sha256,
    buf: Vec<u8>,
    files: Vec<TreeFile>,
}

/// How the document of a tree without files ends: its list, then `source` and the document
/// closed. The file list is the document's last field.
const EMPTY_TREE_END: &[u8] = b"[]}}";

impl TreeFingerprint {
    pub(crate) fn new(layer: &LayerConfig) -> TreeFingerprint {
        let empty = FingerprintDocument::new(layer, Source::Tree { files: Vec::new() });
        let mut buf = Vec::with_capacity(HASH_BUFFER + 1024);
        serde_json::to_writer(&mut buf, &empty).expect("a fingerprint document always serialises");
        assert!(
            buf.ends_with(EMPTY_TREE_END),
            "the file list must end the fingerprint document"
        );
        buf.truncate(buf.len() - EMPTY_TREE_END.len() + 1);
        TreeFingerprint {
            sha: Sha256::new(),
            buf,
            files: Vec::new(),
        }
    }

    /// The next file, in the document's order: its name in the zip, Unix mode and SHA-256.
    pub(crate) fn add(&mut self, path: String, mode: &'static str, sha256: &[u8]) {
        let file = TreeFile {
            path,
            mode: mode.into(),
            sha256: hex(sha256),
        };
        if !self.files.is_empty() {
            self.buf.push(b',');
        }
        serde_json::to_writer(&mut self.buf, &file).expect("a tree file always serialises");
        if self.buf.len() >= HASH_BUFFER {
            self.sha.update(&self.buf);
            self.buf.clear();
        }
        self.files.push(file);
    }

    /// The files so far, in order.
    pub(crate) fn files(&self) -> &[TreeFile] {
        &self.files
    }

    /// The file list and the fingerprint of the document that lists it.
    pub(crate) fn finish(mut self) -> (Vec<TreeFile>, String) {
        self.buf.extend_from_slice(&EMPTY_TREE_END[1..]);
        self.sha.update(&self.buf);
        (self.files, hex(&self.sha.finalize()))
    }
}

/// A manifest read and normalised, before it is placed in the document.
pub(crate) fn manifest_file(path: &Path, bytes: &[u8]) -> ManifestFile {
    let normalised = normalise_line_endings(bytes);
    ManifestFile {
        name: path.file_name().map_or_else(
            || path.display().to_string(),
            |n| n.to_string_lossy().into_owned(),
        ),
        sha256: hex(&Sha256::digest(&normalised)),
        text: String::from_utf8(normalised).ok(),
    }
}

/// Reads the layer's manifest files, sorted so that their order in the settings is irrelevant.
/// Only regular files are read (a FIFO would block the run forever), never more than
/// [`READ_MAX`] bytes each.
pub(crate) fn read_manifests(paths: &[PathBuf]) -> Result<Vec<ManifestFile>, PackageError> {
    let mut files = Vec::with_capacity(paths.len());
    for path in paths {
        let bytes = read_regular(path, READ_MAX).map_err(|e| manifest_error(path, e))?;
        files.push(manifest_file(path, &bytes));
    }
    files.sort_by(|a, b| (&a.name, &a.sha256).cmp(&(&b.name, &b.sha256)));
    Ok(files)
}

fn manifest_error(path: &Path, e: ReadError) -> PackageError {
    let shown = path.display();
    let fix = "list the lock files themselves (e.g. requirements.txt, package-lock.json)";
    match e {
        ReadError::Missing => PackageError::input(format!(
            "manifest `{shown}` does not exist; list your lock files (e.g. requirements.txt, package-lock.json) relative to the working directory, or to layerpub.yml when set there"
        )),
        ReadError::DanglingLink(target) => PackageError::input(format!(
            "manifest `{shown}` is a symbolic link to `{}`, which does not exist; fix the link, or {fix}",
            target.display()
        )),
        ReadError::NotRegular("a folder") => {
            PackageError::input(format!("manifest `{shown}` is a folder; {fix}"))
        }
        ReadError::NotRegular(kind) => PackageError::input(format!(
            "manifest `{shown}` is {kind}, not a regular file; {fix}"
        )),
        ReadError::TooLarge(n) => PackageError::input(format!(
            "manifest `{shown}` is {n} bytes; layerpub reads at most {READ_MAX} (16 MiB) of a manifest, and a lock file is far smaller: {fix}, not an archive or a build output"
        )),
        ReadError::Io(e) if e.kind() == std::io::ErrorKind::PermissionDenied => {
            PackageError::input(format!(
                "manifest `{shown}` cannot be read (permission denied); make it readable for the user running layerpub"
            ))
        }
        ReadError::Io(e) => PackageError::io(format!("cannot read manifest `{shown}`"), e),
    }
}

/// CRLF to LF; a lone CR is left as it is (it is content, not a line ending).
pub(crate) fn normalise_line_endings(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\r' && bytes.get(i + 1) == Some(&b'\n') {
            i += 1;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    out
}

/// Lowercase hex of a byte string.
pub fn hex(bytes: &[u8]) -> String {
    // A digit at a time from a table, not `format!` per byte: packaging a tree without a
    // manifest writes one hash per file, on the writer's thread.
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        s.push(char::from(DIGITS[usize::from(b >> 4)]));
        s.push(char::from(DIGITS[usize::from(b & 0xf)]));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::settings::Settings;

    #[test]
    fn hex_is_two_lowercase_digits_per_byte_high_nibble_first() {
        assert_eq!(hex(&[0x00, 0x0f, 0xa5, 0xff, 0x10]), "000fa5ff10");
        assert_eq!(hex(&[]), "");
    }

    fn layer(f: impl FnOnce(&mut Settings)) -> LayerConfig {
        let mut s = Settings {
            layer_name: Some("deps".into()),
            path: Some("build".into()),
            compatible_runtimes: Some(vec!["python3.12".into()]),
            ..Settings::default()
        };
        f(&mut s);
        crate::config::resolve(None, Settings::default(), s)
            .unwrap()
            .layers
            .remove(0)
    }

    /// A layer built with pip from requirements.txt.
    fn built(f: impl FnOnce(&mut Settings)) -> LayerConfig {
        layer(|s| {
            s.path = None;
            s.build = Some(crate::config::settings::BuildTool::Pip);
            s.manifest = Some(vec!["requirements.txt".into()]);
            f(s);
        })
    }

    #[test]
    fn a_layer_without_a_build_keeps_its_document_as_before() {
        let doc = FingerprintDocument::new(&layer(|_| {}), Source::Tree { files: vec![] });
        let json = String::from_utf8(doc.canonical_json()).unwrap();
        assert!(!json.contains("build"), "{json}");
        let doc = FingerprintDocument::new(&built(|_| {}), Source::Tree { files: vec![] });
        let json = String::from_utf8(doc.canonical_json()).unwrap();
        assert!(
            json.contains(r#""build":{"tool":"pip","platform":["manylinux_2_34_x86_64","#),
            "{json}"
        );
    }

    fn manifests(files: &[(&str, &[u8])]) -> Source {
        let mut files: Vec<ManifestFile> = files
            .iter()
            .map(|(p, b)| manifest_file(Path::new(p), b))
            .collect();
        files.sort_by(|a, b| (&a.name, &a.sha256).cmp(&(&b.name, &b.sha256)));
        Source::Manifests { files }
    }

    fn fp(layer: &LayerConfig, source: Source) -> String {
        FingerprintDocument::new(layer, source).fingerprint()
    }

    #[test]
    fn crlf_checkout_gives_the_same_fingerprint() {
        let l = layer(|_| {});
        assert_eq!(
            fp(&l, manifests(&[("requirements.txt", b"a==1\r\nb==2\r\n")])),
            fp(&l, manifests(&[("requirements.txt", b"a==1\nb==2\n")]))
        );
    }

    #[test]
    fn a_changed_lock_file_changes_it() {
        let l = layer(|_| {});
        assert_ne!(
            fp(&l, manifests(&[("requirements.txt", b"a==1\n")])),
            fp(&l, manifests(&[("requirements.txt", b"a==2\n")]))
        );
    }

    #[test]
    fn folder_of_the_checkout_does_not_matter() {
        let l = layer(|_| {});
        assert_eq!(
            fp(
                &l,
                manifests(&[("/home/runner/work/x/requirements.txt", b"a==1\n")])
            ),
            fp(&l, manifests(&[("/builds/x/requirements.txt", b"a==1\n")]))
        );
    }

    #[test]
    fn shaping_settings_change_it_and_the_description_does_not() {
        let src = || manifests(&[("requirements.txt", b"a==1\n")]);
        let base = fp(&layer(|_| {}), src());
        let changed = [
            layer(|s| s.compatible_runtimes = Some(vec!["python3.13".into()])),
            layer(|s| s.compatible_architectures = Some(vec!["arm64".into()])),
            layer(|s| s.license_info = Some("MIT".into())),
            layer(|s| s.prefix = Some("python".into())),
            layer(|s| s.include = Some(vec!["*.py".into()])),
            layer(|s| s.exclude = Some(vec!["tests/".into()])),
            layer(|s| s.symlinks = Some(SymlinkPolicy::Follow)),
            layer(|s| s.layer_name = Some("other".into())),
            built(|_| {}),
            built(|s| s.compatible_architectures = Some(vec!["arm64".into()])),
            built(|s| s.build = Some(crate::config::settings::BuildTool::Uv)),
        ];
        for l in &changed {
            assert_ne!(fp(l, src()), base, "{l:?}");
        }
        // Each build setting on its own changes it too.
        let pip = fp(&built(|_| {}), src());
        for l in &changed[changed.len() - 2..] {
            assert_ne!(fp(l, src()), pip, "{l:?}");
        }
        let py313 = built(|s| s.compatible_runtimes = Some(vec!["python3.13".into()]));
        assert_ne!(fp(&py313, src()), pip);
        assert_eq!(
            fp(&layer(|s| s.description = Some("new words".into())), src()),
            base
        );
    }

    #[test]
    fn order_of_runtimes_and_manifests_does_not_matter() {
        let a =
            layer(|s| s.compatible_runtimes = Some(vec!["python3.12".into(), "python3.13".into()]));
        let b =
            layer(|s| s.compatible_runtimes = Some(vec!["python3.13".into(), "python3.12".into()]));
        let m1 = manifests(&[("a.lock", b"1"), ("b.lock", b"2")]);
        let m2 = manifests(&[("b.lock", b"2"), ("a.lock", b"1")]);
        assert_eq!(fp(&a, m1), fp(&b, m2));
    }

    #[test]
    fn fingerprint_is_hex_sha256_of_the_canonical_json() {
        let doc = FingerprintDocument::new(&layer(|_| {}), Source::Tree { files: vec![] });
        let json = String::from_utf8(doc.canonical_json()).unwrap();
        assert!(
            json.starts_with(r#"{"format":1,"layer_name":"deps","settings":{"#),
            "{json}"
        );
        assert_eq!(doc.fingerprint(), hex(&Sha256::digest(json.as_bytes())));
        assert_eq!(doc.fingerprint().len(), 64);
    }

    #[test]
    fn a_tree_hashed_as_its_files_arrive_has_the_whole_documents_fingerprint() {
        use proptest::prelude::*;
        let file = (
            "\\PC{0,12}",
            prop::sample::select(vec!["644", "755", "link"]),
            prop::array::uniform32(any::<u8>()),
        );
        let layers = [layer(|_| {}), built(|s| s.prefix = Some("py\"thon".into()))];
        proptest!(|(files in prop::collection::vec(file, 0..40), which in 0..2usize)| {
            let layer = &layers[which];
            let mut streamed = TreeFingerprint::new(layer);
            for (path, mode, sha) in &files {
                streamed.add(path.clone(), mode, sha);
            }
            let want: Vec<TreeFile> = files
                .into_iter()
                .map(|(path, mode, sha)| TreeFile { path, mode: mode.into(), sha256: hex(&sha) })
                .collect();
            let (listed, fingerprint) = streamed.finish();
            prop_assert_eq!(&listed, &want);
            prop_assert_eq!(fingerprint, fp(layer, Source::Tree { files: want }));
        });
    }

    #[test]
    fn names_that_json_escapes_hash_as_the_document_writes_them() {
        // Enough files to fill the hasher's buffer many times over, at every offset.
        let names = [
            "a\"b",
            "c\\d",
            "line\nfeed",
            "cr\rname",
            "tab\t",
            "\u{7f}\u{1}",
            "é/ü",
        ];
        let sha = |i: usize| Sha256::digest(i.to_le_bytes());
        let files: Vec<TreeFile> = (0..5000)
            .map(|i| TreeFile {
                path: format!("{i:05}/{}", names[i % names.len()]),
                mode: "644".into(),
                sha256: hex(&sha(i)),
            })
            .collect();
        let l = layer(|_| {});
        let mut streamed = TreeFingerprint::new(&l);
        for (i, f) in files.iter().enumerate() {
            streamed.add(f.path.clone(), "644", &sha(i));
        }
        let (listed, fingerprint) = streamed.finish();
        assert_eq!(listed, files);
        assert_eq!(fingerprint, fp(&l, Source::Tree { files }));
    }

    #[test]
    fn lone_carriage_returns_are_content() {
        assert_eq!(normalise_line_endings(b"a\r\nb\rc\r\n"), b"a\nb\rc\n");
    }
}
