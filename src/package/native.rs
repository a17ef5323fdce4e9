//! Native files that cannot load on Lambda: an ELF object for another architecture, one that
//! needs a newer glibc than the runtime's OS has or is linked against musl, a macOS or Windows
//! binary, wheel metadata for another platform, a CPython extension for another Python.
//!
//! Pure: [`inspect`] classifies one file from its stored name and the bytes packaging already
//! read (headers and version sections only, parsed with the `object` crate); [`check`] turns
//! what was found into findings against what the layer declares.

use std::collections::BTreeMap;
use std::fmt;

use object::elf::{DT_NEEDED, EM_AARCH64, EM_X86_64};
use object::read::elf::{FileHeader, ProgramHeader};
use object::{Endianness, FileKind, ReadRef};

use crate::domain::limits::runtime_os;

/// What one file is, as far as loading it on Lambda goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fact {
    /// An ELF object (shared library, extension module, Node addon, executable).
    Elf(ElfInfo),
    /// A Mach-O (macOS) binary.
    MachO,
    /// A PE (Windows) binary.
    Pe,
    /// A wheel's `*.dist-info/WHEEL` names a platform other than Linux (its `Tag:` line's
    /// platform part).
    WheelPlatform(String),
    /// An extension module built for CPython 3.`minor` (`*.cpython-3XY-*.so`).
    CPython(u32),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ElfInfo {
    /// `x86_64` or `arm64` (Lambda's names), else `machine N`.
    pub arch: String,
    /// Linked against musl (its interpreter or a needed `libc.musl-*`).
    pub musl: bool,
    /// The newest `GLIBC_2.x` its version needs name, when its sections were within reach.
    pub glibc: Option<(u32, u32)>,
}

/// Classifies one file from its stored name and its first bytes (all of them for most files;
/// the head only for a large one, which then tells its architecture but maybe not its glibc).
/// Empty for anything that is not native code or wheel metadata.
pub fn inspect(name: &str, bytes: &[u8]) -> Vec<Fact> {
    inspect_in(name, bytes, bytes)
}

/// [`inspect`] for a large file, from the parts of it [`Kept`] while it streamed by.
pub fn inspect_kept(name: &str, kept: &Kept) -> Vec<Fact> {
    inspect_in(name, &kept.head, kept)
}

/// `head`: the file's first bytes; `data`: the file as far as it is at hand, for ELF's tables.
fn inspect_in<'a>(name: &str, head: &[u8], data: impl ReadRef<'a>) -> Vec<Fact> {
    if is_prebuild(name) {
        return Vec::new();
    }
    let bytes = head;
    let mut facts = Vec::new();
    match bytes.get(..4) {
        Some([0x7f, b'E', b'L', b'F']) => facts.extend(elf(bytes, data).map(Fact::Elf)),
        Some([0xfe, 0xed, 0xfa, 0xce | 0xcf] | [0xce | 0xcf, 0xfa, 0xed, 0xfe]) => {
            facts.push(Fact::MachO)
        }
        // A universal (fat) Mach-O shares its magic with Java class files, which follow it
        // with a class-file version (45 and up) where a fat binary has its count of
        // architectures.
        Some([0xca, 0xfe, 0xba, 0xbe | 0xbf]) if is_fat_macho(bytes) => facts.push(Fact::MachO),
        // `.exe` launchers (setuptools' and distlib's, shipped in every Linux wheel) are never
        // loaded on Linux: only libraries are reported.
        Some([b'M', b'Z', ..]) if !name.ends_with(".exe") => {
            if matches!(FileKind::parse(bytes), Ok(FileKind::Pe32 | FileKind::Pe64)) {
                facts.push(Fact::Pe)
            }
        }
        _ => {}
    }
    if let Some(minor) = cpython_minor(name) {
        facts.push(Fact::CPython(minor));
    }
    if name.ends_with(".dist-info/WHEEL") {
        facts.extend(wheel_platforms(bytes).into_iter().map(Fact::WheelPlatform));
    }
    facts
}

/// Of a large ELF file (streamed, never whole in memory): its first [`Kept::HEAD`] bytes, where
/// the headers, the dynamic symbols' strings and the version needs sit, and its last
/// [`Kept::TAIL`], where the section headers and their names sit. Enough for [`inspect_kept`]
/// in the usual layout; a table elsewhere is simply not checked.
#[derive(Debug, Default)]
pub struct Kept {
    len: u64,
    head: Vec<u8>,
    tail_start: u64,
    tail: Vec<u8>,
}

impl Kept {
    pub const HEAD: u64 = 4 << 20;
    pub const TAIL: u64 = 256 << 10;

    /// For a file of `len` bytes that starts with `first`; `None` when it is no ELF file, whose
    /// head alone tells all.
    pub fn for_elf(len: u64, first: &[u8]) -> Option<Kept> {
        first.starts_with(b"\x7fELF").then(|| Kept {
            len,
            head: Vec::new(),
            tail_start: len.saturating_sub(Self::TAIL).max(Self::HEAD),
            tail: Vec::new(),
        })
    }

    /// Takes note of the file's bytes at `offset`, given in order.
    pub fn update(&mut self, offset: u64, bytes: &[u8]) {
        let end = offset + bytes.len() as u64;
        if offset < Self::HEAD {
            let take = (Self::HEAD.min(end) - offset) as usize;
            self.head.extend_from_slice(&bytes[..take]);
        }
        if end > self.tail_start {
            let skip = self.tail_start.saturating_sub(offset) as usize;
            self.tail.extend_from_slice(&bytes[skip..]);
        }
    }
}

impl<'a> ReadRef<'a> for &'a Kept {
    fn len(self) -> Result<u64, ()> {
        Ok(self.len)
    }

    fn read_bytes_at(self, offset: u64, size: u64) -> Result<&'a [u8], ()> {
        let end = offset.checked_add(size).ok_or(())?;
        let (piece, start) = if end <= self.head.len() as u64 {
            (&self.head[..], 0)
        } else if offset >= self.tail_start {
            (&self.tail[..], self.tail_start)
        } else {
            return Err(());
        };
        let from = usize::try_from(offset - start).map_err(|_| ())?;
        let size = usize::try_from(size).map_err(|_| ())?;
        piece.get(from..).and_then(|p| p.get(..size)).ok_or(())
    }

    fn read_bytes_at_until(
        self,
        range: std::ops::Range<u64>,
        delimiter: u8,
    ) -> Result<&'a [u8], ()> {
        // A string may run past the piece it starts in only when it is cut: then it is not at
        // hand.
        let len = range.end.checked_sub(range.start).ok_or(())?;
        let (piece, start) = if range.start < self.head.len() as u64 {
            (&self.head[..], 0)
        } else if range.start >= self.tail_start {
            (&self.tail[..], self.tail_start)
        } else {
            return Err(());
        };
        let from = usize::try_from(range.start - start).map_err(|_| ())?;
        let avail = piece.get(from..).ok_or(())?;
        let window = &avail[..avail.len().min(usize::try_from(len).unwrap_or(usize::MAX))];
        let at = window.iter().position(|b| *b == delimiter).ok_or(())?;
        Ok(&window[..at])
    }
}

/// Whether `name` lies in a `prebuilds/` folder: Node packages (prebuildify, node-gyp-build)
/// ship an addon for every platform there (`prebuilds/darwin-arm64/`, `prebuilds/win32-x64/`,
/// `prebuilds/linux-x64/…musl.node`, …) and pick the one that matches at run time, so the
/// others are not the layer's to refuse.
fn is_prebuild(name: &str) -> bool {
    name.starts_with("prebuilds/") || name.contains("/prebuilds/")
}

fn is_fat_macho(bytes: &[u8]) -> bool {
    bytes
        .get(4..8)
        .is_some_and(|n| u32::from_be_bytes([n[0], n[1], n[2], n[3]]) < 40)
}

fn elf<'a>(head: &[u8], data: impl ReadRef<'a>) -> Option<ElfInfo> {
    match head.get(4) {
        Some(1) => elf_of::<object::elf::FileHeader32<Endianness>, _>(data),
        Some(2) => elf_of::<object::elf::FileHeader64<Endianness>, _>(data),
        _ => None,
    }
}

fn elf_of<'a, Elf: FileHeader<Endian = Endianness>, R: ReadRef<'a>>(data: R) -> Option<ElfInfo> {
    let header = Elf::parse(data).ok()?;
    let endian = header.endian().ok()?;
    let arch = match header.e_machine(endian) {
        EM_X86_64 => "x86_64".to_owned(),
        EM_AARCH64 => "arm64".to_owned(),
        other => format!("machine {}", other.0),
    };
    let mut musl = false;
    if let Ok(segments) = header.program_headers(endian, data) {
        for segment in segments {
            if let Ok(Some(interp)) = segment.interpreter(endian, data) {
                musl |= contains(interp, b"ld-musl");
            }
        }
    }
    let mut glibc = None;
    // The version needs and the dynamic section, found through the section headers: beyond
    // the bytes at hand (the head of a large file), only the header's facts are known.
    if let Ok(sections) = header.sections(endian, data) {
        if let Ok(table) = sections.dynamic_table(endian, data) {
            for d in &table {
                if d.tag == DT_NEEDED {
                    musl |= table.string(d).is_ok_and(|n| n.starts_with(b"libc.musl-"));
                }
            }
        }
        if let Ok(Some((mut needs, link))) = sections.gnu_verneed(endian, data)
            && let Ok(strings) = sections.strings(endian, data, link)
        {
            while let Ok(Some((_, mut aux))) = needs.next() {
                while let Ok(Some(a)) = aux.next() {
                    if let Some(v) = a.name(endian, strings).ok().and_then(glibc_version) {
                        glibc = glibc.max(Some(v));
                    }
                }
            }
        }
    }
    Some(ElfInfo { arch, musl, glibc })
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// `GLIBC_2.17` → (2, 17); `GLIBC_2.2.5` → (2, 2); `GLIBC_PRIVATE` → none.
fn glibc_version(name: &[u8]) -> Option<(u32, u32)> {
    let v = std::str::from_utf8(name).ok()?.strip_prefix("GLIBC_")?;
    let mut parts = v.split('.');
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next()?.parse().ok()?;
    Some((major, minor))
}

/// The CPython minor version in an extension module's name: `x.cpython-311-x86_64-linux-gnu.so`
/// → 11. `abi3` modules (`x.abi3.so`) carry none: they load on every later Python 3.
fn cpython_minor(name: &str) -> Option<u32> {
    let file = name.rsplit('/').next()?;
    if !file.ends_with(".so") {
        return None;
    }
    let tag = file.split(".cpython-3").nth(1)?;
    let digits: String = tag.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

/// The platforms of a WHEEL file's `Tag:` lines that are not Linux (`macosx_…`, `win…`).
fn wheel_platforms(bytes: &[u8]) -> Vec<String> {
    let text = String::from_utf8_lossy(bytes);
    let mut out: Vec<String> = text
        .lines()
        .filter_map(|l| l.strip_prefix("Tag:"))
        .filter_map(|tag| tag.trim().rsplit('-').next().map(str::to_owned))
        .filter(|p| p.starts_with("macosx") || p.starts_with("win"))
        .collect();
    out.dedup();
    out
}

/// What the layer declares, against which the files are checked.
#[derive(Debug, Clone, Copy)]
pub struct Declared<'a> {
    pub architectures: &'a [String],
    pub runtimes: &'a [String],
}

/// One file that cannot load on Lambda as the layer declares it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// The file as stored in the zip.
    pub file: String,
    /// What it is.
    pub what: String,
    /// What the layer declares that it contradicts.
    pub declared: String,
    /// How to fix it.
    pub fix: String,
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "`{}` is {}, but the layer declares {}; {}",
            self.file, self.what, self.declared, self.fix
        )
    }
}

/// What [`check`] found: files to refuse, and advice.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Checked {
    pub findings: Vec<Finding>,
    pub warnings: Vec<String>,
}

const BUILD_FIX: &str = "build the layer for its platform (the `build` setting, or pip's `--platform manylinux…` and `--only-binary=:all:`)";

/// Checks the native files found (zip name → facts, in name order) against the declaration.
pub fn check(declared: Declared<'_>, files: &BTreeMap<String, Vec<Fact>>) -> Checked {
    let mut out = Checked::default();
    let archs = declared.architectures;
    let archs_text = format!("compatible-architectures: [{}]", archs.join(", "));
    // The newest glibc every declared runtime's OS has.
    let os = declared
        .runtimes
        .iter()
        .filter_map(|r| runtime_os(r).map(|os| (os.glibc(), os, r.as_str())))
        .min_by_key(|(g, _, _)| *g);
    let pythons: Vec<u32> = declared
        .runtimes
        .iter()
        .filter_map(|r| r.strip_prefix("python3.")?.parse().ok())
        .collect();
    let runtimes_text = format!("compatible-runtimes: [{}]", declared.runtimes.join(", "));

    // Without declared architectures, the files' own architectures: one is advice, two a
    // layer that cannot load anywhere whole.
    let mut by_arch: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (file, facts) in files {
        for fact in facts {
            if let Fact::Elf(e) = fact {
                by_arch.entry(e.arch.as_str()).or_default().push(file);
            }
        }
    }
    let majority = by_arch
        .iter()
        .max_by_key(|(a, fs)| (fs.len(), std::cmp::Reverse(**a)))
        .map(|(a, _)| *a);

    let mut push = |file: &str, what: String, declared: &str, fix: &str| {
        out.findings.push(Finding {
            file: file.to_owned(),
            what,
            declared: declared.to_owned(),
            fix: fix.to_owned(),
        })
    };
    for (file, facts) in files {
        for fact in facts {
            match fact {
                Fact::Elf(e) => {
                    let lambda_arch = e.arch == "x86_64" || e.arch == "arm64";
                    if !lambda_arch {
                        push(
                            file,
                            format!("an ELF object for {}, which Lambda does not run", e.arch),
                            &archs_text,
                            "remove it or replace it with its x86_64 or arm64 build",
                        );
                    } else if !archs.is_empty() && !archs.contains(&e.arch) {
                        push(
                            file,
                            format!("an ELF object for {}", e.arch),
                            &archs_text,
                            &format!("{BUILD_FIX}, or correct compatible-architectures"),
                        );
                    } else if archs.is_empty() && Some(e.arch.as_str()) != majority {
                        push(
                            file,
                            format!(
                                "an ELF object for {} in a layer whose other native files are for {}",
                                e.arch,
                                majority.unwrap_or("?")
                            ),
                            "no compatible-architectures",
                            &format!(
                                "{BUILD_FIX}, and set compatible-architectures: [{}]",
                                majority.unwrap_or("?")
                            ),
                        );
                    }
                    if e.musl {
                        push(
                            file,
                            "linked against musl libc (a musllinux or Alpine build)".to_owned(),
                            &runtimes_text,
                            &format!(
                                "Lambda's runtimes use glibc: install the manylinux build instead; {BUILD_FIX}"
                            ),
                        );
                    }
                    if let (Some(need), Some((have, os, runtime))) = (e.glibc, os)
                        && need > have
                    {
                        push(
                            file,
                            format!("an ELF object needing GLIBC_{}.{}", need.0, need.1),
                            &format!(
                                "{runtime}, on {} with glibc {}.{}",
                                os.name(),
                                have.0,
                                have.1
                            ),
                            &format!(
                                "use a build for manylinux_{}_{} or older; {BUILD_FIX}",
                                have.0, have.1
                            ),
                        );
                    }
                }
                Fact::MachO => push(
                    file,
                    "a Mach-O (macOS) binary".to_owned(),
                    "a Lambda layer (Linux)",
                    &format!("replace it with its Linux build: {BUILD_FIX}"),
                ),
                Fact::Pe => push(
                    file,
                    "a PE (Windows) binary".to_owned(),
                    "a Lambda layer (Linux)",
                    &format!("replace it with its Linux build: {BUILD_FIX}"),
                ),
                Fact::WheelPlatform(p) => push(
                    file,
                    format!("the metadata of a wheel for {p}"),
                    "a Lambda layer (Linux)",
                    &format!("install the package's manylinux wheel: {BUILD_FIX}"),
                ),
                Fact::CPython(minor) if !pythons.is_empty() && !pythons.contains(minor) => push(
                    file,
                    format!("a CPython 3.{minor} extension module"),
                    &runtimes_text,
                    "install the packages with the Python of the declared runtime (the `build` setting does), or correct compatible-runtimes",
                ),
                Fact::CPython(_) => {}
            }
        }
    }
    if archs.is_empty() && by_arch.len() == 1 {
        let arch = majority.unwrap_or("?");
        if arch == "x86_64" || arch == "arm64" {
            out.warnings.push(format!(
                "the layer's native files are all for {arch} but it sets no compatible-architectures; set `compatible-architectures: [{arch}]` so that Lambda refuses a function of the other architecture"
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A minimal 64-bit little-endian ELF header for `machine`, no program or section headers.
    pub(crate) fn elf_header(machine: u16) -> Vec<u8> {
        let mut h = vec![0u8; 64];
        h[..4].copy_from_slice(b"\x7fELF");
        h[4] = 2; // 64-bit
        h[5] = 1; // little-endian
        h[6] = 1; // EV_CURRENT
        h[16..18].copy_from_slice(&3u16.to_le_bytes()); // ET_DYN
        h[18..20].copy_from_slice(&machine.to_le_bytes());
        h[20..24].copy_from_slice(&1u32.to_le_bytes());
        h[52..54].copy_from_slice(&64u16.to_le_bytes()); // e_ehsize
        h[54..56].copy_from_slice(&56u16.to_le_bytes()); // e_phentsize
        h[58..60].copy_from_slice(&64u16.to_le_bytes()); // e_shentsize
        h
    }

    /// An ELF header with one PT_INTERP program header naming `interp`.
    fn elf_with_interp(machine: u16, interp: &[u8]) -> Vec<u8> {
        let mut h = elf_header(machine);
        h[32..40].copy_from_slice(&64u64.to_le_bytes()); // e_phoff
        h[56..58].copy_from_slice(&1u16.to_le_bytes()); // e_phnum
        let mut ph = vec![0u8; 56];
        ph[0..4].copy_from_slice(&3u32.to_le_bytes()); // PT_INTERP
        ph[8..16].copy_from_slice(&120u64.to_le_bytes()); // p_offset
        let len = interp.len() as u64 + 1;
        ph[32..40].copy_from_slice(&len.to_le_bytes()); // p_filesz
        ph[40..48].copy_from_slice(&len.to_le_bytes()); // p_memsz
        h.extend(ph);
        h.extend(interp);
        h.push(0);
        h
    }

    fn mach_o() -> Vec<u8> {
        let mut m = vec![0xcf, 0xfa, 0xed, 0xfe];
        m.extend(0x0100_000cu32.to_le_bytes()); // CPU_TYPE_ARM64
        m.resize(32, 0);
        m
    }

    /// A DOS stub pointing at a PE header with a PE32+ optional header.
    fn pe() -> Vec<u8> {
        let mut p = vec![0u8; 0x40];
        p[..2].copy_from_slice(b"MZ");
        p[0x3c..0x40].copy_from_slice(&0x40u32.to_le_bytes());
        p.extend(b"PE\0\0");
        let mut coff = vec![0u8; 20];
        coff[0..2].copy_from_slice(&0x8664u16.to_le_bytes());
        coff[16..18].copy_from_slice(&240u16.to_le_bytes());
        p.extend(coff);
        let mut opt = vec![0u8; 240];
        opt[0..2].copy_from_slice(&0x20bu16.to_le_bytes());
        p.extend(opt);
        p
    }

    fn layer(archs: &[&str], runtimes: &[&str], files: &[(&str, Vec<u8>)]) -> Checked {
        let archs: Vec<String> = archs.iter().map(|s| s.to_string()).collect();
        let runtimes: Vec<String> = runtimes.iter().map(|s| s.to_string()).collect();
        let found: BTreeMap<String, Vec<Fact>> = files
            .iter()
            .map(|(n, b)| (n.to_string(), inspect(n, b)))
            .filter(|(_, f)| !f.is_empty())
            .collect();
        check(
            Declared {
                architectures: &archs,
                runtimes: &runtimes,
            },
            &found,
        )
    }

    #[test]
    fn elf_machine_is_read_from_the_header() {
        let facts = inspect("python/_x.so", &elf_header(183));
        assert_eq!(
            facts,
            vec![Fact::Elf(ElfInfo {
                arch: "arm64".into(),
                musl: false,
                glibc: None
            })]
        );
        assert!(matches!(&inspect("x", &elf_header(62))[0], Fact::Elf(e) if e.arch == "x86_64"));
    }

    #[test]
    fn an_aarch64_library_in_an_x86_64_layer_is_refused_with_the_fix() {
        let c = layer(
            &["x86_64"],
            &["python3.12"],
            &[("python/lib/_speedups.so", elf_header(183))],
        );
        assert_eq!(c.findings.len(), 1);
        let msg = c.findings[0].to_string();
        assert!(
            msg.starts_with("`python/lib/_speedups.so` is an ELF object for arm64, but the layer declares compatible-architectures: [x86_64]"),
            "{msg}"
        );
        assert!(msg.contains("correct compatible-architectures"), "{msg}");
        assert!(
            layer(&["arm64"], &[], &[("a.so", elf_header(183))])
                .findings
                .is_empty()
        );
        assert!(
            layer(&["x86_64", "arm64"], &[], &[("a.so", elf_header(183))])
                .findings
                .is_empty()
        );
    }

    #[test]
    fn without_architectures_one_is_advice_and_two_are_refused() {
        let one = layer(
            &[],
            &[],
            &[("a.so", elf_header(62)), ("b.so", elf_header(62))],
        );
        assert!(one.findings.is_empty());
        assert!(one.warnings[0].contains("set `compatible-architectures: [x86_64]`"));
        let mixed = layer(
            &[],
            &[],
            &[
                ("a.so", elf_header(62)),
                ("b.so", elf_header(62)),
                ("c.so", elf_header(183)),
            ],
        );
        assert_eq!(mixed.findings.len(), 1);
        assert_eq!(mixed.findings[0].file, "c.so");
    }

    #[test]
    fn musl_interpreter_is_refused() {
        let facts = inspect(
            "bin/tool",
            &elf_with_interp(62, b"/lib/ld-musl-x86_64.so.1"),
        );
        assert!(matches!(&facts[0], Fact::Elf(e) if e.musl), "{facts:?}");
        let glibc = inspect(
            "bin/tool",
            &elf_with_interp(62, b"/lib64/ld-linux-x86-64.so.2"),
        );
        assert!(matches!(&glibc[0], Fact::Elf(e) if !e.musl));
        let c = layer(
            &["x86_64"],
            &[],
            &[("bin/tool", elf_with_interp(62, b"/lib/ld-musl-x86_64.so.1"))],
        );
        assert!(c.findings[0].what.contains("musl"), "{c:?}");
    }

    #[test]
    fn glibc_needs_are_compared_with_the_oldest_declared_os() {
        let needs = |v| {
            let mut m = BTreeMap::new();
            m.insert(
                "lib/libx.so".to_owned(),
                vec![Fact::Elf(ElfInfo {
                    arch: "x86_64".into(),
                    musl: false,
                    glibc: Some(v),
                })],
            );
            m
        };
        let runs = |runtimes: &[&str], v| {
            let r: Vec<String> = runtimes.iter().map(|s| s.to_string()).collect();
            check(
                Declared {
                    architectures: &["x86_64".to_owned()],
                    runtimes: &r,
                },
                &needs(v),
            )
            .findings
        };
        assert!(runs(&["python3.12"], (2, 34)).is_empty());
        let f = runs(&["python3.12"], (2, 35));
        assert_eq!(f[0].what, "an ELF object needing GLIBC_2.35");
        assert!(f[0].declared.contains("Amazon Linux 2023 with glibc 2.34"));
        // python3.11 runs on Amazon Linux 2: 2.26 is the limit for the pair.
        let f = runs(&["python3.11", "python3.12"], (2, 28));
        assert!(
            f[0].declared.starts_with("python3.11, on Amazon Linux 2 "),
            "{f:?}"
        );
        assert!(
            runs(&["provided"], (2, 99)).is_empty(),
            "unknown OS: no check"
        );
    }

    #[test]
    fn glibc_version_names_parse() {
        assert_eq!(glibc_version(b"GLIBC_2.17"), Some((2, 17)));
        assert_eq!(glibc_version(b"GLIBC_2.2.5"), Some((2, 2)));
        assert_eq!(glibc_version(b"GLIBC_PRIVATE"), None);
        assert_eq!(glibc_version(b"GCC_3.0"), None);
    }

    #[test]
    fn mach_o_and_pe_are_refused_but_exe_launchers_and_java_classes_pass() {
        assert_eq!(inspect("python/x.so", &mach_o()), vec![Fact::MachO]);
        assert_eq!(inspect("python/x.pyd", &pe()), vec![Fact::Pe]);
        assert!(inspect("python/setuptools/cli-64.exe", &pe()).is_empty());
        let mut class = vec![0xca, 0xfe, 0xba, 0xbe, 0, 0, 0, 61];
        class.resize(64, 0);
        assert!(inspect("java/lib/A.class", &class).is_empty());
        let mut fat = vec![0xca, 0xfe, 0xba, 0xbe, 0, 0, 0, 2];
        fat.resize(64, 0);
        assert_eq!(inspect("python/x.dylib", &fat), vec![Fact::MachO]);
        let c = layer(&["x86_64"], &[], &[("python/x.so", mach_o())]);
        assert!(
            c.findings[0]
                .to_string()
                .contains("a Mach-O (macOS) binary")
        );
        assert!(inspect("notes.txt", b"MZ is a text that starts so").is_empty());
    }

    #[test]
    fn cpython_tag_must_match_a_declared_python() {
        assert_eq!(
            cpython_minor("python/a/_x.cpython-311-x86_64-linux-gnu.so"),
            Some(11)
        );
        assert_eq!(cpython_minor("python/a/_x.abi3.so"), None);
        assert_eq!(cpython_minor("python/a/x.cpython-311.pyc"), None);
        let c = layer(
            &[],
            &["python3.12"],
            &[("python/_x.cpython-311-x86_64-linux-gnu.so", vec![])],
        );
        assert_eq!(c.findings[0].what, "a CPython 3.11 extension module");
        assert!(
            layer(
                &[],
                &["python3.11", "python3.12"],
                &[("_x.cpython-311-x.so", vec![])]
            )
            .findings
            .is_empty()
        );
        assert!(
            layer(&[], &[], &[("_x.cpython-311-x.so", vec![])])
                .findings
                .is_empty()
        );
    }

    #[test]
    fn wheel_tags_for_macos_or_windows_are_refused() {
        let wheel =
            b"Wheel-Version: 1.0\nRoot-Is-Purelib: false\nTag: cp312-cp312-macosx_11_0_arm64\n";
        assert_eq!(
            inspect("python/x-1.0.dist-info/WHEEL", wheel),
            vec![Fact::WheelPlatform("macosx_11_0_arm64".into())]
        );
        let linux =
            b"Tag: cp312-cp312-manylinux_2_17_aarch64\nTag: cp312-cp312-manylinux2014_aarch64\n";
        assert!(inspect("python/x-1.0.dist-info/WHEEL", linux).is_empty());
        let pure = b"Tag: py3-none-any\n";
        assert!(inspect("python/x-1.0.dist-info/WHEEL", pure).is_empty());
        assert!(
            inspect(
                "python/x-1.0.dist-info/WHEEL",
                b"Tag: cp312-cp312-win_amd64\n"
            )
            .len()
                == 1
        );
    }

    #[test]
    fn kept_holds_the_head_and_the_tail_whatever_the_chunks() {
        let len = Kept::HEAD + Kept::TAIL + 1000;
        let data: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
        let mut first = elf_header(62);
        first.resize(16, 0);
        let mut kept = Kept::for_elf(len, &first).unwrap();
        assert!(Kept::for_elf(len, b"MZ..").is_none());
        let mut at = 0u64;
        for size in [1usize, 65_537, 3 << 20, 777].iter().cycle() {
            if at == len {
                break;
            }
            let end = (at + *size as u64).min(len);
            kept.update(at, &data[at as usize..end as usize]);
            at = end;
        }
        let r = &kept;
        assert_eq!(r.read_bytes_at(0, 10).unwrap(), &data[..10]);
        assert_eq!(
            r.read_bytes_at(Kept::HEAD - 4, 4).unwrap(),
            &data[Kept::HEAD as usize - 4..Kept::HEAD as usize]
        );
        let tail = len - 100;
        assert_eq!(r.read_bytes_at(tail, 100).unwrap(), &data[tail as usize..]);
        assert!(r.read_bytes_at(Kept::HEAD - 4, 8).is_err(), "past the head");
        assert!(
            r.read_bytes_at(Kept::HEAD + 10, 4).is_err(),
            "between the pieces"
        );
        assert!(r.read_bytes_at(len - 4, 8).is_err(), "past the end");
        // Strings end at the delimiter, within the piece.
        let zero = 1 + data[1..].iter().position(|b| *b == 0).unwrap() as u64;
        assert_eq!(
            r.read_bytes_at_until(1..len, 0).unwrap(),
            &data[1..zero as usize]
        );
    }

    #[test]
    fn node_prebuilds_for_every_platform_are_left_to_node_gyp_build() {
        let base = "nodejs/node_modules/bufferutil/prebuilds";
        assert!(
            inspect(
                &format!("{base}/darwin-x64+arm64/bufferutil.node"),
                &mach_o()
            )
            .is_empty()
        );
        assert!(inspect(&format!("{base}/win32-x64/bufferutil.node"), &pe()).is_empty());
        assert!(
            inspect(
                &format!("{base}/linux-x64/bufferutil.node"),
                &elf_header(62)
            )
            .is_empty()
        );
        // An addon outside prebuilds/ is the layer's own.
        let own = inspect(
            "nodejs/node_modules/x/build/Release/x.node",
            &elf_header(62),
        );
        assert_eq!(own.len(), 1);
    }

    #[test]
    fn a_truncated_elf_still_tells_its_machine() {
        // The head of a large file: section headers out of reach.
        let mut h = elf_header(183);
        h[40..48].copy_from_slice(&(1u64 << 30).to_le_bytes()); // e_shoff far away
        h[60..62].copy_from_slice(&30u16.to_le_bytes());
        assert!(
            matches!(&inspect("x.so", &h)[0], Fact::Elf(e) if e.arch == "arm64" && e.glibc.is_none())
        );
    }
}
