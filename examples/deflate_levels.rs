//! libdeflate's level 1 against its level 6 by file size, over the regular files of trees:
//! what each level's output weighs and what it costs in CPU. The measurement behind
//! packaging's choice of level by size (`SMALL_FILE_BYTES` in src/package/mod.rs), run by
//! bench/levels.sh:
//!   cargo run --release --example deflate_levels -- NAME=DIR [NAME=DIR ...]
//! Prints one Markdown table per tree. Times are the best of three passes, the two levels
//! alternating pass by pass so that other work on the machine skews both alike.

use std::path::Path;
use std::time::Instant;

use libdeflater::{CompressionLvl, Compressor};

/// Upper bounds of the size classes, in bytes; the last class takes the rest.
const CLASSES: [usize; 6] = [512, 1 << 10, 2 << 10, 4 << 10, 8 << 10, 16 << 10];
const LEVELS: [i32; 2] = [1, 6];
const PASSES: usize = 3;

fn main() {
    let trees: Vec<String> = std::env::args().skip(1).collect();
    if trees.is_empty() {
        eprintln!("usage: deflate_levels NAME=DIR [NAME=DIR ...]");
        std::process::exit(2);
    }
    for tree in trees {
        let (name, dir) = tree.split_once('=').unwrap_or((&tree, &tree));
        let mut files = Vec::new();
        read_tree(Path::new(dir), &mut files);
        report(name, &files);
    }
}

/// Every regular file below `dir`, read whole; links are not followed.
fn read_tree(dir: &Path, files: &mut Vec<Vec<u8>>) {
    let entries = std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    for entry in entries {
        let entry = entry.expect("a readable folder");
        let kind = entry.file_type().expect("a file type");
        if kind.is_dir() {
            read_tree(&entry.path(), files);
        } else if kind.is_file() {
            files.push(std::fs::read(entry.path()).expect("a readable file"));
        }
    }
}

fn class(len: usize) -> usize {
    CLASSES
        .iter()
        .position(|&c| len <= c)
        .unwrap_or(CLASSES.len())
}

/// Per class: files, input bytes, then per level the output bytes (stored when deflate does
/// not shrink the file, as packaging does) and the best pass's seconds.
#[derive(Default, Clone)]
struct Class {
    files: usize,
    bytes: usize,
    out: [usize; 2],
    secs: [f64; 2],
}

fn report(name: &str, files: &[Vec<u8>]) {
    let mut classes = vec![Class::default(); CLASSES.len() + 1];
    for f in files {
        let c = &mut classes[class(f.len())];
        c.files += 1;
        c.bytes += f.len();
    }
    let mut out = Vec::new();
    let mut best = vec![[f64::MAX; 2]; classes.len()];
    for pass in 0..PASSES {
        for (l, level) in LEVELS.into_iter().enumerate() {
            let mut deflate = Compressor::new(CompressionLvl::new(level).expect("a level"));
            let mut secs = vec![0.0; classes.len()];
            for f in files {
                out.resize(deflate.deflate_compress_bound(f.len()), 0);
                let start = Instant::now();
                let n = deflate
                    .deflate_compress(f, &mut out)
                    .expect("room for the bound");
                let k = class(f.len());
                secs[k] += start.elapsed().as_secs_f64();
                // The output's size does not depend on the pass: counted on the first.
                if pass == 0 {
                    classes[k].out[l] += n.min(f.len());
                }
            }
            for (k, s) in secs.into_iter().enumerate() {
                best[k][l] = best[k][l].min(s);
            }
        }
    }
    for (c, b) in classes.iter_mut().zip(best) {
        c.secs = b;
    }
    print_table(name, &classes);
}

fn print_table(name: &str, classes: &[Class]) {
    println!(
        "{name} ({} files):",
        classes.iter().map(|c| c.files).sum::<usize>()
    );
    println!();
    println!(
        "| file size | files | bytes | level 1 (bytes) | level 6 (bytes) | level 6 saves | level 1 (ms) | level 6 (ms) | level 6 costs |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|");
    let mut total = Class::default();
    for (k, c) in classes.iter().enumerate() {
        let label = match k {
            0 => format!("≤ {}", size(CLASSES[0])),
            k if k < CLASSES.len() => format!("{}–{}", size(CLASSES[k - 1] + 1), size(CLASSES[k])),
            _ => format!("> {}", size(CLASSES[CLASSES.len() - 1])),
        };
        row(&label, c);
        total.files += c.files;
        total.bytes += c.bytes;
        for l in 0..2 {
            total.out[l] += c.out[l];
            total.secs[l] += c.secs[l];
        }
    }
    row("all", &total);
    println!();
}

fn row(label: &str, c: &Class) {
    if c.files == 0 {
        return;
    }
    println!(
        "| {label} | {} | {} | {} | {} | {:.2}% | {:.0} | {:.0} | {:.2}x |",
        c.files,
        c.bytes,
        c.out[0],
        c.out[1],
        (1.0 - c.out[1] as f64 / c.out[0] as f64) * 100.0,
        c.secs[0] * 1e3,
        c.secs[1] * 1e3,
        c.secs[1] / c.secs[0],
    );
}

fn size(bytes: usize) -> String {
    if bytes >= 1024 && bytes.is_multiple_of(1024) {
        format!("{} KiB", bytes / 1024)
    } else {
        format!("{bytes} B")
    }
}
