//! `native-check` end to end: a layer whose native files cannot load on Lambda as it declares
//! itself is refused before anything is uploaded; the matching layer is accepted; `warn`
//! publishes with the findings in the warnings. Real shared objects come from the machine's C
//! compiler when there is one.

use crate::common;

use std::fs;
use std::path::Path;
use std::process::Command;

use common::moto::{Moto, MotoGuard, moto};
use common::*;

const BUCKET: &str = "layers";

fn bucket() -> MotoGuard {
    let m = moto();
    m.aws(&["create-bucket", BUCKET]);
    m
}

/// A 64-bit little-endian ELF header for `machine` (183 AArch64, 62 x86-64).
fn elf(machine: u16) -> Vec<u8> {
    let mut h = b"\x7fELF\x02\x01\x01".to_vec();
    h.extend([0u8; 9]);
    h.extend(3u16.to_le_bytes());
    h.extend(machine.to_le_bytes());
    h.resize(64, 0);
    h
}

/// A project with `layer/` holding `files`, declared for python3.12 on `arch`.
fn project(arch: &str, files: &[(&str, Vec<u8>)], extra_yaml: &str) -> tempfile::TempDir {
    let dir = temp();
    for (name, bytes) in files {
        write_file(&dir.path().join("layer"), name, bytes, 0o644);
    }
    write_file(
        &dir.path().join("layer"),
        "python/app.py",
        b"x = 1\n",
        0o644,
    );
    fs::write(
        dir.path().join("layerpub.yml"),
        format!(
            "layer-name: deps\npath: layer\ncompatible-runtimes: [python3.12]\ncompatible-architectures: [{arch}]\ns3-bucket: {BUCKET}\n{extra_yaml}"
        ),
    )
    .unwrap();
    dir
}

fn publish(m: &Moto, dir: &Path) -> Run {
    common::moto::run(m, dir, &[])
}

#[test]
fn an_arm64_layer_with_an_x86_64_library_is_refused_before_anything_is_uploaded() {
    let m = bucket();
    let dir = project(
        "arm64",
        &[("python/_speedups.cpython-312-x86_64-linux-gnu.so", elf(62))],
        "",
    );
    let r = publish(&m, dir.path());
    assert_eq!(r.code, 2, "stderr: {}", r.stderr);
    assert!(
        r.stderr.contains(
            "layer deps has 1 native file(s) that cannot load on Lambda, so nothing was uploaded"
        ),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr.contains("`python/_speedups.cpython-312-x86_64-linux-gnu.so` is an ELF object for x86_64, but the layer declares compatible-architectures: [arm64]"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("native-check: warn"), "{}", r.stderr);
    assert!(m.versions("deps").is_empty(), "no version published");
    assert!(m.keys(BUCKET).is_empty(), "nothing uploaded");
    assert!(
        !dir.path().join("deps.zip").exists(),
        "no zip left to upload"
    );
}

#[test]
fn the_matching_layer_is_accepted_and_warn_publishes_with_the_findings() {
    let m = bucket();
    let ok = project(
        "arm64",
        &[(
            "python/_speedups.cpython-312-aarch64-linux-gnu.so",
            elf(183),
        )],
        "",
    );
    let r = publish(&m, ok.path());
    let layer = r.assert_ok().layer();
    assert_eq!(layer["published"], true, "{}", r.stderr);
    assert!(
        !layer["warnings"].to_string().contains("ELF"),
        "{}",
        layer["warnings"]
    );

    let m = bucket();
    let warn = project(
        "arm64",
        &[
            (
                "python/_speedups.cpython-311-aarch64-linux-gnu.so",
                elf(183),
            ),
            ("python/_other.so", elf(62)),
        ],
        "native-check: warn\n",
    );
    let r = publish(&m, warn.path());
    let layer = r.assert_ok().layer();
    assert_eq!(layer["published"], true, "{}", r.stderr);
    let warnings = layer["warnings"].to_string();
    assert!(
        warnings.contains("`python/_other.so` is an ELF object for x86_64"),
        "{warnings}"
    );
    assert!(
        warnings.contains("is a CPython 3.11 extension module, but the layer declares compatible-runtimes: [python3.12]"),
        "{warnings}"
    );

    // `off` does not look at all.
    let off = project(
        "arm64",
        &[("python/_other.so", elf(62))],
        "native-check: off\n",
    );
    let layer = layerpub(off.path(), &["package", "--output", "json"], &[])
        .assert_ok()
        .layer();
    assert!(!layer["warnings"].to_string().contains("ELF"));
}

/// Compiles `source` into a shared object with the machine's C compiler, or `None` (with a
/// message) when there is no compiler or the C library lacks what the source calls.
fn compile(dir: &Path, name: &str, source: &str) -> Option<Vec<u8>> {
    let c = dir.join(format!("{name}.c"));
    let so = dir.join(format!("{name}.so"));
    fs::write(&c, source).unwrap();
    let status = Command::new("cc")
        .args(["-shared", "-fPIC", "-o"])
        .arg(&so)
        .arg(&c)
        .status();
    match status {
        Ok(s) if s.success() => Some(fs::read(&so).unwrap()),
        Ok(_) => {
            eprintln!("skipped: cc could not build {name}.c on this machine");
            None
        }
        Err(e) => {
            eprintln!("skipped: no C compiler (cc: {e})");
            None
        }
    }
}

#[test]
fn a_compiled_library_is_checked_for_its_machine_and_glibc() {
    let arch = match std::env::consts::ARCH {
        "x86_64" => "x86_64",
        "aarch64" => "arm64",
        other => {
            eprintln!("skipped: {other} is no Lambda architecture");
            return;
        }
    };
    let work = temp();
    let Some(plain) = compile(
        work.path(),
        "plain",
        "#include <string.h>\nsize_t n(const char *s) { return strlen(s); }\n",
    ) else {
        return;
    };
    let dir = project(arch, &[("python/plain.so", plain.clone())], "");
    let packaged = layerpub(dir.path(), &["package", "--output", "json"], &[]);
    packaged.assert_ok();

    let other = if arch == "x86_64" { "arm64" } else { "x86_64" };
    let wrong = project(other, &[("python/plain.so", plain)], "");
    let r = layerpub(wrong.path(), &["package", "--output", "json"], &[]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr
            .contains(&format!("`python/plain.so` is an ELF object for {arch}")),
        "{}",
        r.stderr
    );

    // arc4random came with glibc 2.36: newer than Amazon Linux 2023's 2.34.
    let Some(new) = compile(
        work.path(),
        "new",
        "#include <stdlib.h>\nunsigned r(void) { return arc4random(); }\n",
    ) else {
        return;
    };
    let dir = project(arch, &[("python/new.so", new)], "");
    let r = layerpub(dir.path(), &["package", "--output", "json"], &[]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr.contains("`python/new.so` is an ELF object needing GLIBC_2.36, but the layer declares python3.12, on Amazon Linux 2023 with glibc 2.34"),
        "{}",
        r.stderr
    );

    // Over 16 MiB, a file is streamed, never whole in memory: its version needs are read
    // from the head and tail kept on the way.
    let Some(large) = compile(
        work.path(),
        "large",
        "#include <stdlib.h>
char pad[20 << 20] = {1};
unsigned r(void) { return arc4random() + pad[7]; }
",
    ) else {
        return;
    };
    assert!(large.len() > 20 << 20);
    let dir = project(arch, &[("python/large.so", large)], "");
    let r = layerpub(dir.path(), &["package", "--output", "json"], &[]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr
            .contains("`python/large.so` is an ELF object needing GLIBC_2.36"),
        "{}",
        r.stderr
    );
}
