//! `native-check` end to end: a layer whose native files cannot load on Lambda as it declares
//! itself is refused before anything is uploaded; the matching layer is accepted; `warn`
//! publishes with the findings in the warnings. Real shared objects come from the machine's C
//! compiler when there is one.

use crate::common;

use std::fs;
use std::path::Path;
use std::process::Command;

use common::moto::{Moto, MotoGuard, moto_with_bucket};
use common::*;

const BUCKET: &str = "layers";

fn bucket() -> MotoGuard {
    moto_with_bucket(BUCKET)
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
        &[(
            "python/_speedups.cpython-312-x86_64-linux-gnu.so",
            elf_header(62),
        )],
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
            elf_header(183),
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
                elf_header(183),
            ),
            ("python/_other.so", elf_header(62)),
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
        &[("python/_other.so", elf_header(62))],
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

/// Downloads charset-normalizer 3.4.0's wheel for `platform` and CPython `python` from the
/// package index (the one registry the CI machine reaches) into `dest`, and returns its path.
fn wheel(python_bin: &Path, dest: &Path, platform: &str, python: &str) -> std::path::PathBuf {
    let out = Command::new(python_bin)
        .args([
            "-m",
            "pip",
            "download",
            "--quiet",
            "--disable-pip-version-check",
        ])
        .args(["--no-deps", "--only-binary=:all:", "--implementation", "cp"])
        .args(["--platform", platform, "--python-version", python, "--dest"])
        .arg(dest)
        .arg("charset-normalizer==3.4.0")
        .output()
        .expect("run pip download");
    assert!(
        out.status.success(),
        "pip download {platform} {python}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let tag = platform.split('_').next().unwrap();
    fs::read_dir(dest)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| {
            let name = p.file_name().unwrap().to_string_lossy();
            name.ends_with(".whl")
                && name.contains(&format!("cp{}", python.replace('.', "")))
                && name.contains(tag)
        })
        .unwrap_or_else(|| panic!("no {platform} cp{python} wheel in {}", dest.display()))
}

/// A project whose layer is the unpacked `wheel` under python/, declared for `runtime` on
/// `arch`, and the names of its extension modules.
fn wheel_project(
    python_bin: &Path,
    wheel: &Path,
    runtime: &str,
    arch: &str,
) -> (tempfile::TempDir, Vec<String>) {
    let dir = temp();
    let site = dir.path().join("layer/python");
    let status = Command::new(python_bin)
        .args(["-m", "zipfile", "-e"])
        .arg(wheel)
        .arg(&site)
        .status()
        .unwrap();
    assert!(status.success(), "unpack {}", wheel.display());
    fs::write(
        dir.path().join("layerpub.yml"),
        format!(
            "layer-name: charset\npath: layer\ncompatible-runtimes: [{runtime}]\ncompatible-architectures: [{arch}]\ns3-bucket: {BUCKET}\n"
        ),
    )
    .unwrap();
    let modules = fs::read_dir(site.join("charset_normalizer"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".so"))
        .collect();
    (dir, modules)
}

/// The end-to-end case with real wheels from the package index: charset-normalizer's
/// manylinux aarch64 wheel loads in an arm64 python3.12 layer (published) and not in an x86_64
/// one; its cp311 wheel not in a python3.12 layer; its macOS wheel not at all. Every refusal is
/// exit 2 with nothing uploaded and names the file as stored in the zip.
#[test]
fn real_wheels_from_the_package_index_are_checked_as_lambda_would_load_them() {
    let python = common::moto::ensure_installed();
    let downloads = temp();
    let m = bucket();

    let aarch64 = wheel(&python, downloads.path(), "manylinux2014_aarch64", "3.12");
    let (ok, modules) = wheel_project(&python, &aarch64, "python3.12", "arm64");
    assert!(
        modules
            .iter()
            .any(|n| n.contains("cpython-312-aarch64-linux-gnu")),
        "{modules:?}"
    );
    let r = publish(&m, ok.path());
    let layer = r.assert_ok().layer();
    assert_eq!(layer["published"], true, "{}", r.stderr);
    assert_eq!(layer["warnings"], serde_json::json!([]), "{}", r.stderr);

    let refused = |dir: &Path, says: &[String]| {
        let before = m.keys(BUCKET).len();
        let r = publish(&m, dir);
        assert_eq!(r.code, 2, "stderr: {}", r.stderr);
        for s in says {
            assert!(
                r.stderr.contains(s.as_str()),
                "wanted {s:?} in: {}",
                r.stderr
            );
        }
        assert_eq!(m.keys(BUCKET).len(), before, "nothing uploaded");
    };

    let (x86, modules) = wheel_project(&python, &aarch64, "python3.12", "x86_64");
    refused(
        x86.path(),
        &[format!(
            "`python/charset_normalizer/{}` is an ELF object for arm64, but the layer declares compatible-architectures: [x86_64]",
            modules[0]
        )],
    );

    let cp311 = wheel(&python, downloads.path(), "manylinux2014_x86_64", "3.11");
    let (old, modules) = wheel_project(&python, &cp311, "python3.12", "x86_64");
    refused(
        old.path(),
        &[format!(
            "`python/charset_normalizer/{}` is a CPython 3.11 extension module, but the layer declares compatible-runtimes: [python3.12]",
            modules[0]
        )],
    );

    let mac = wheel(&python, downloads.path(), "macosx_11_0_arm64", "3.12");
    let (mac, modules) = wheel_project(&python, &mac, "python3.12", "arm64");
    refused(
        mac.path(),
        &[
            format!("`python/charset_normalizer/{}` is a Mach-O (macOS) binary", modules[0]),
            "charset_normalizer-3.4.0.dist-info/WHEEL` is the metadata of a wheel for macosx_11_0_arm64".to_owned(),
        ],
    );
    assert_eq!(
        m.versions("charset").len(),
        1,
        "only the loadable layer published"
    );
}
