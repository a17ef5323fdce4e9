"""Makes a wheelhouse for the build tests, with no network: `wheelhouse.py DIR`.

- purepkg-1.0-py3-none-any.whl: pure Python, installs anywhere;
- nativepkg-1.0-cp312-cp312-manylinux2014_aarch64.whl and the same for x86_64: each holds a
  tiny ELF file of its architecture (e_machine 183 = AArch64, 62 = x86-64), so a test can tell
  which one was installed;
- sdistonly-1.0.tar.gz: a source distribution only, which a wheels-only install cannot use.

Wheels are zips with the .dist-info files pip reads (WHEEL, METADATA, RECORD).
"""
import base64
import hashlib
import io
import os
import sys
import tarfile
import zipfile


def elf(machine):
    # A 64-bit little-endian ELF header (e_ident, e_type = ET_DYN, e_machine), zero-padded.
    header = b"\x7fELF\x02\x01\x01" + b"\x00" * 9 + (3).to_bytes(2, "little") + machine.to_bytes(2, "little")
    return header + b"\x00" * (64 - len(header))


def record_line(name, data):
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{name},sha256={digest},{len(data)}"


def wheel(out, name, version, tag, files):
    dist = f"{name}-{version}.dist-info"
    python, abi, platform = tag.split("-")
    files = dict(files)
    files[f"{dist}/METADATA"] = f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n".encode()
    pure = "true" if platform == "any" else "false"
    files[f"{dist}/WHEEL"] = (
        f"Wheel-Version: 1.0\nGenerator: layerpub-tests\nRoot-Is-Purelib: {pure}\nTag: {tag}\n"
    ).encode()
    record = [record_line(n, d) for n, d in sorted(files.items())]
    record.append(f"{dist}/RECORD,,")
    files[f"{dist}/RECORD"] = ("\n".join(record) + "\n").encode()
    path = os.path.join(out, f"{name}-{version}-{tag}.whl")
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for n, d in sorted(files.items()):
            z.writestr(n, d)


def sdist(out, name, version):
    path = os.path.join(out, f"{name}-{version}.tar.gz")
    with tarfile.open(path, "w:gz") as t:
        data = f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n".encode()
        info = tarfile.TarInfo(f"{name}-{version}/PKG-INFO")
        info.size = len(data)
        t.addfile(info, io.BytesIO(data))


def main(out):
    os.makedirs(out, exist_ok=True)
    wheel(out, "purepkg", "1.0", "py3-none-any", {"purepkg/__init__.py": b"VALUE = 1\n"})
    for arch, machine in (("aarch64", 183), ("x86_64", 62)):
        wheel(
            out,
            "nativepkg",
            "1.0",
            f"cp312-cp312-manylinux2014_{arch}",
            {
                "nativepkg/__init__.py": b"from . import _native\n",
                f"nativepkg/_native.cpython-312-{arch}-linux-gnu.so": elf(machine),
            },
        )
    sdist(out, "sdistonly", "1.0")


if __name__ == "__main__":
    main(sys.argv[1])
