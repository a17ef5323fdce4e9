"""Writes the demo's wheelhouse: pure wheels of hello-layer 1.0.0 and 1.0.1 (each knows its
version), so the demo builds with pip and no network: `make_wheels.py DIR`."""
import base64
import hashlib
import os
import sys
import zipfile


def wheel(out, version):
    dist = f"hello_layer-{version}.dist-info"
    files = {
        "hello/__init__.py": f'VERSION = "{version}"\n'.encode(),
        f"{dist}/METADATA": f"Metadata-Version: 2.1\nName: hello-layer\nVersion: {version}\n".encode(),
        f"{dist}/WHEEL": b"Wheel-Version: 1.0\nGenerator: layerpub-demo\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    record = []
    for name, data in sorted(files.items()):
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        record.append(f"{name},sha256={digest},{len(data)}")
    files[f"{dist}/RECORD"] = ("\n".join(record + [f"{dist}/RECORD,,"]) + "\n").encode()
    with zipfile.ZipFile(os.path.join(out, f"hello_layer-{version}-py3-none-any.whl"), "w") as z:
        for name, data in sorted(files.items()):
            z.writestr(name, data)


os.makedirs(sys.argv[1], exist_ok=True)
for v in ("1.0.0", "1.0.1"):
    wheel(sys.argv[1], v)
