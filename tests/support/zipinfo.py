"""Reads a zip with Python's zipfile (an independent reader) and prints what tests check, as JSON.

Each entry: name, unix mode, DOS date_time, extra-field length, compression method, flag bits,
create_system, and the SHA-256 of the content (after zipfile has verified the CRC).
"""
import hashlib
import json
import sys
import zipfile

with zipfile.ZipFile(sys.argv[1]) as z:
    entries = []
    for info in z.infolist():
        data = z.read(info)  # raises on a CRC mismatch
        entries.append({
            "name": info.filename,
            "mode": info.external_attr >> 16,
            "date_time": list(info.date_time),
            "extra_len": len(info.extra),
            "compress_type": info.compress_type,
            "flag_bits": info.flag_bits,
            "create_system": info.create_system,
            "sha256": hashlib.sha256(data).hexdigest(),
            "text": data.decode("utf-8", "replace") if len(data) < 200 else None,
        })
print(json.dumps(entries))
