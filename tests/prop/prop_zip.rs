//! Property tests of packaging: arbitrary trees (odd names, any bytes, modes, links) give a zip
//! that Python's zipfile reads back entry for entry, with names in order, and the same bytes
//! whatever the file system, umask, creation order or number of threads. Also the zip container
//! alone, over arbitrary entries, checked by a reader written here.
//!
//! Bounded for CI (each round-trip case runs Python once); run longer with
//! `PROPTEST_CASES=5000 cargo test --test prop_zip`.

use crate::common;

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::os::unix::fs::symlink;
use std::path::Path;

use layerpub::config::settings::{Settings, SymlinkPolicy};
use layerpub::config::{self, normalise_prefix};
use layerpub::package::archive::{DosTime, EntryHeader, Method, ZipWriter};
use layerpub::package::fingerprint::hex;
use layerpub::package::{PackageOptions, package};
use proptest::collection::vec;
use proptest::prelude::*;
use sha2::{Digest, Sha256};

use common::prop::{check, config};
use common::{noise, python_entries, temp, write_file};

/// One path segment: spaces, unicode (composed and combining), dots, leading dashes, glob and
/// shell characters, a backslash; never `.`, `..` or `/`.
fn segment() -> impl Strategy<Value = String> {
    prop_oneof![
        6 => "[a-zA-Z0-9 ._~#!'\\[\\]*?:\\\\éü中🦀-]{1,10}",
        1 => prop_oneof![
            Just("-rf".to_owned()),
            Just("--".to_owned()),
            Just(" lead".to_owned()),
            Just("trail ".to_owned()),
            Just("...".to_owned()),
            Just(".hidden".to_owned()),
            Just("e\u{301}".to_owned()),
            Just("\u{e9}".to_owned()),
            Just("a".repeat(200)),
        ],
    ]
    .prop_filter("not . or ..", |s| s != "." && s != "..")
}

#[derive(Debug, Clone)]
enum Content {
    Bytes(Vec<u8>),
    /// Compressible: a short text repeated.
    Repeated(String, usize),
    /// Incompressible, past the 64 KiB probe sometimes.
    Noise(u32, usize),
}

impl Content {
    fn bytes(&self) -> Vec<u8> {
        match self {
            Content::Bytes(b) => b.clone(),
            Content::Repeated(t, n) => t.repeat(*n).into_bytes(),
            Content::Noise(seed, len) => noise(*len, *seed | 1),
        }
    }
}

fn content() -> impl Strategy<Value = Content> {
    prop_oneof![
        1 => Just(Content::Bytes(Vec::new())),
        3 => vec(any::<u8>(), 0..300).prop_map(Content::Bytes),
        2 => (".{1,12}", 1usize..3000).prop_map(|(t, n)| Content::Repeated(t, n)),
        1 => (any::<u32>(), 1usize..70_000).prop_map(|(s, n)| Content::Noise(s, n)),
    ]
}

#[derive(Debug, Clone)]
struct TreeSpec {
    /// Path segments, content, permission bits.
    files: Vec<(Vec<String>, Content, u32)>,
    /// Link path segments, and which file it points at.
    links: Vec<(Vec<String>, prop::sample::Index)>,
    prefix: String,
    policy: SymlinkPolicy,
}

fn tree_spec() -> impl Strategy<Value = TreeSpec> {
    let perm = prop::sample::select(vec![0o644, 0o600, 0o664, 0o444, 0o755, 0o700, 0o775, 0o744]);
    (
        vec((vec(segment(), 1..4), content(), perm), 1..20),
        vec((vec(segment(), 1..3), any::<prop::sample::Index>()), 0..4),
        prop_oneof![
            Just(String::new()),
            Just("python".to_owned()),
            Just("nodejs/node_modules".to_owned()),
            Just("/a b//ü/./".to_owned()),
            Just("-lead/.dot".to_owned()),
        ],
        prop_oneof![Just(SymlinkPolicy::Preserve), Just(SymlinkPolicy::Follow)],
    )
        .prop_map(|(files, links, prefix, policy)| TreeSpec {
            files,
            links,
            prefix,
            policy,
        })
}

/// What a tree holds once clashes are dropped (a file where another needs a folder, two
/// entries with one path): files by relative path, and links by relative path with their text.
struct Tree {
    files: BTreeMap<String, (Vec<u8>, u32)>,
    links: BTreeMap<String, (String, String)>,
}

fn plan(spec: &TreeSpec) -> Tree {
    let mut files = BTreeMap::new();
    let mut links = BTreeMap::new();
    let mut dirs = BTreeSet::new();
    let mut taken = BTreeSet::new();
    let mut claim = |parts: &[String], dirs: &mut BTreeSet<String>| {
        let path = parts.join("/");
        let ancestors: Vec<String> = (1..parts.len()).map(|i| parts[..i].join("/")).collect();
        if taken.contains(&path)
            || dirs.contains(&path)
            || ancestors.iter().any(|a| taken.contains(a))
        {
            return None;
        }
        taken.insert(path.clone());
        dirs.extend(ancestors);
        Some(path)
    };
    for (parts, content, perm) in &spec.files {
        if let Some(path) = claim(parts, &mut dirs) {
            files.insert(path, (content.bytes(), *perm));
        }
    }
    let targets: Vec<String> = files.keys().cloned().collect();
    for (parts, index) in &spec.links {
        let target = index.get(&targets).clone();
        if let Some(path) = claim(parts, &mut dirs) {
            // Relative from the link's folder: up to the root, then down to the target.
            let text = format!("{}{target}", "../".repeat(parts.len() - 1));
            links.insert(path, (text, target));
        }
    }
    Tree { files, links }
}

/// Writes the tree in `root`, in name order or reversed, with the permission bits given or
/// others of the same kind (executable or not), as another checkout or umask would.
fn write_tree(root: &Path, tree: &Tree, reverse: bool, other_perms: bool) {
    fs::create_dir_all(root).unwrap();
    let mut files: Vec<_> = tree.files.iter().collect();
    let mut links: Vec<_> = tree.links.iter().collect();
    if reverse {
        files.reverse();
        links.reverse();
    }
    for (rel, (bytes, perm)) in files {
        let perm = match (other_perms, perm & 0o111 != 0) {
            (false, _) => *perm,
            (true, true) => 0o711,
            (true, false) => 0o640,
        };
        write_file(root, rel, bytes, perm);
    }
    for (rel, (text, _)) in links {
        let path = root.join(rel);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        symlink(text, path).unwrap();
    }
}

/// Name in the zip → (content, mode), as the layer should hold it.
fn expected(tree: &Tree, prefix: &str, policy: SymlinkPolicy) -> BTreeMap<String, (Vec<u8>, u32)> {
    let mode = |perm: u32| {
        if perm & 0o111 != 0 {
            0o100755
        } else {
            0o100644
        }
    };
    let name = |rel: &str| {
        if prefix.is_empty() {
            rel.to_owned()
        } else {
            format!("{prefix}/{rel}")
        }
    };
    let mut out = BTreeMap::new();
    for (rel, (bytes, perm)) in &tree.files {
        out.insert(name(rel), (bytes.clone(), mode(*perm)));
    }
    for (rel, (text, target)) in &tree.links {
        let entry = match policy {
            SymlinkPolicy::Follow => {
                let (bytes, perm) = &tree.files[target];
                (bytes.clone(), mode(*perm))
            }
            _ => (text.clone().into_bytes(), 0o120777),
        };
        out.insert(name(rel), entry);
    }
    out
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

fn package_tree(
    root: &Path,
    zip: &Path,
    spec: &TreeSpec,
    threads: usize,
) -> layerpub::package::Packaged {
    let flags = Settings {
        layer_name: Some("deps".into()),
        path: Some(root.to_path_buf()),
        zip_path: Some(zip.to_path_buf()),
        prefix: Some(spec.prefix.clone()),
        default_excludes: Some(false),
        symlinks: Some(spec.policy),
        ..Settings::default()
    };
    let layer = config::resolve(None, Settings::default(), flags)
        .unwrap()
        .layers
        .remove(0);
    let options = PackageOptions {
        stamp: DosTime::EPOCH,
        threads,
        ..PackageOptions::default()
    };
    package(&layer, &options).unwrap_or_else(|e| panic!("package failed: {e}"))
}

#[test]
fn any_tree_round_trips_through_python_zipfile_and_packages_deterministically() {
    check(
        "zip: package -> Python zipfile round trip, deterministic",
        config(16, 64),
        tree_spec(),
        |spec| {
            let tree = plan(&spec);
            let prefix = normalise_prefix(&spec.prefix).unwrap();
            let want = expected(&tree, &prefix, spec.policy);
            let dir = temp();
            let (root, zip) = (dir.path().join("tree"), dir.path().join("out/deps.zip"));
            write_tree(&root, &tree, false, false);
            let packaged = package_tree(&root, &zip, &spec, 1);
            let bytes = fs::read(&zip).unwrap();

            prop_assert_eq!(packaged.file_count, want.len() as u64);
            let unzipped: u64 = want.values().map(|(b, _)| b.len() as u64).sum();
            prop_assert_eq!(packaged.unzipped_size, unzipped);
            prop_assert_eq!(packaged.code_size, bytes.len() as u64);
            prop_assert_eq!(hex(&packaged.sha256), sha256_hex(&bytes));
            // Hashed as the entries were written: the whole document's fingerprint.
            prop_assert_eq!(&packaged.fingerprint, &packaged.document.fingerprint());

            // One Python run reads every entry (checking each CRC) and hashes its bytes.
            let read = python_entries(&zip);
            let names: Vec<&str> = read.iter().map(|e| e["name"].as_str().unwrap()).collect();
            let want_names: Vec<&str> = want.keys().map(String::as_str).collect();
            prop_assert_eq!(&names, &want_names, "names, in byte order");
            for e in &read {
                let name = e["name"].as_str().unwrap();
                let (content, mode) = &want[name];
                prop_assert_eq!(
                    e["sha256"].as_str().unwrap(),
                    sha256_hex(content),
                    "{}",
                    name
                );
                prop_assert_eq!(e["mode"].as_u64().unwrap(), u64::from(*mode), "{}", name);
                prop_assert_eq!(&e["date_time"], &serde_json::json!([1980, 1, 1, 0, 0, 0]));
                prop_assert_eq!(e["extra_len"].as_u64(), Some(0));
                prop_assert_eq!(e["create_system"].as_u64(), Some(3));
                let utf8_flag = if name.is_ascii() { 0 } else { 0x800 };
                prop_assert_eq!(e["flag_bits"].as_u64(), Some(utf8_flag), "{}", name);
                let method = e["compress_type"].as_u64().unwrap();
                prop_assert!(method == 0 || method == 8, "{}: method {}", name, method);
                if content.is_empty() {
                    prop_assert_eq!(method, 0, "{}: an empty file is stored", name);
                }
            }

            // Again, with other threads: the same bytes.
            let again = package_tree(&root, &zip, &spec, 0);
            prop_assert_eq!(fs::read(&zip).unwrap(), bytes.clone(), "second run differs");
            prop_assert_eq!(again.sha256, packaged.sha256);
            prop_assert_eq!(again.fingerprint, packaged.fingerprint);
            // Another checkout: elsewhere, created in reverse order, other permission bits.
            let other = temp();
            let root2 = other.path().join("deeper/checkout");
            let zip2 = other.path().join("b.zip");
            write_tree(&root2, &tree, true, true);
            package_tree(&root2, &zip2, &spec, 3);
            prop_assert_eq!(fs::read(&zip2).unwrap(), bytes, "another checkout differs");
            Ok(())
        },
    );
}

// ---------------------------------------------------------------------------------------------
// The container alone: arbitrary names and bytes, read back by a minimal reader written here
// from APPNOTE, independent of the writer.

fn u16_at(b: &[u8], at: usize) -> usize {
    usize::from(u16::from_le_bytes([b[at], b[at + 1]]))
}
fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().unwrap())
}

/// Name, mode, method, CRC and the data as stored, of one entry.
type ReadEntry = (String, u32, u16, u32, Vec<u8>);

/// Every entry, through the central directory.
fn read_zip(zip: &[u8]) -> Result<Vec<ReadEntry>, TestCaseError> {
    let end = zip.len() - 22;
    prop_assert_eq!(u32_at(zip, end), 0x0605_4b50, "end record last, no comment");
    let count = u16_at(zip, end + 10);
    let cd_size = u32_at(zip, end + 12) as usize;
    let cd_offset = u32_at(zip, end + 16) as usize;
    prop_assert_eq!(
        cd_offset + cd_size,
        end,
        "central directory right before the end"
    );
    let mut out = Vec::new();
    let mut at = cd_offset;
    for _ in 0..count {
        prop_assert_eq!(u32_at(zip, at), 0x0201_4b50);
        let (method, crc) = (u16_at(zip, at + 10) as u16, u32_at(zip, at + 16));
        let (csize, name_len) = (u32_at(zip, at + 20) as usize, u16_at(zip, at + 28));
        prop_assert_eq!(u16_at(zip, at + 30), 0, "no extra field");
        let mode = u32_at(zip, at + 38) >> 16;
        let local = u32_at(zip, at + 42) as usize;
        let name = &zip[at + 46..at + 46 + name_len];
        // The local header repeats what the central one says.
        prop_assert_eq!(u32_at(zip, local), 0x0403_4b50);
        prop_assert_eq!(&zip[local + 8..local + 26], &zip[at + 10..at + 28]);
        prop_assert_eq!(u16_at(zip, local + 28), 0);
        prop_assert_eq!(&zip[local + 30..local + 30 + name_len], name);
        let data_at = local + 30 + name_len;
        out.push((
            String::from_utf8(name.to_vec()).unwrap(),
            mode,
            method,
            crc,
            zip[data_at..data_at + csize].to_vec(),
        ));
        at += 46 + name_len;
    }
    prop_assert_eq!(at, end, "nothing after the last central header");
    Ok(out)
}

#[test]
fn any_entries_make_a_zip_a_reader_walks_back() {
    check(
        "zip: archive writer, arbitrary entries, read back by central directory",
        config(512, 1024),
        (
            vec(
                (
                    ".{1,40}",
                    vec(any::<u8>(), 0..200),
                    prop::sample::select(vec![0o100644u32, 0o100755, 0o120777]),
                    any::<bool>(),
                ),
                0..30,
            ),
            any::<i64>(),
        ),
        |(entries, when)| {
            let stamp = DosTime::from_unix(when);
            let write = || {
                let mut w = ZipWriter::new(Vec::new(), stamp);
                for (name, data, mode, deflate) in &entries {
                    let (method, stored) = if *deflate {
                        let mut enc = flate2::write::DeflateEncoder::new(
                            Vec::new(),
                            flate2::Compression::new(6),
                        );
                        std::io::Write::write_all(&mut enc, data).unwrap();
                        (Method::Deflated, enc.finish().unwrap())
                    } else {
                        (Method::Stored, data.clone())
                    };
                    let header = EntryHeader {
                        name,
                        mode: *mode,
                        method,
                        crc32: crc32fast::hash(data),
                        compressed_size: stored.len() as u64,
                        uncompressed_size: data.len() as u64,
                    };
                    w.add(&header, &mut &stored[..]).unwrap();
                }
                w.finish().unwrap()
            };
            let zip = write();
            prop_assert_eq!(&write(), &zip, "same entries, same bytes");
            let read = read_zip(&zip)?;
            prop_assert_eq!(read.len(), entries.len());
            for ((name, data, mode, deflate), (rname, rmode, method, crc, stored)) in
                entries.iter().zip(read)
            {
                prop_assert_eq!(name, &rname);
                prop_assert_eq!(*mode, rmode);
                prop_assert_eq!(crc, crc32fast::hash(data));
                let content = if *deflate {
                    prop_assert_eq!(method, 8);
                    let mut out = Vec::new();
                    std::io::Read::read_to_end(
                        &mut flate2::read::DeflateDecoder::new(&stored[..]),
                        &mut out,
                    )
                    .unwrap();
                    out
                } else {
                    prop_assert_eq!(method, 0);
                    stored
                };
                prop_assert_eq!(&content, data);
            }
            Ok(())
        },
    );
}
