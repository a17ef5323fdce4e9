#!/usr/bin/env bash
# The demo: the whole job on this machine, with no AWS account. Starts a local moto emulator
# (installed into target/moto-venv on first use), creates a bucket, builds and publishes the
# sample Python layer in examples/python-build (pip, for python3.12 on arm64, from a local
# wheelhouse: no network), re-runs to show the skip (no build at all), and builds and publishes
# version 2 after a lock file change. Needs the Rust toolchain and python3.
# Usage: bash examples/demo.sh
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "Building layerpub and installing the moto emulator (first run only)"
cargo build --quiet --manifest-path "$repo/Cargo.toml"
layerpub="$repo/target/debug/layerpub"
eval "$(bash "$repo/scripts/moto-up.sh" demo-layers)"
python=$MOTO_PYTHON
work=$(mktemp -d)
trap 'kill $MOTO_PID 2>/dev/null; rm -rf "$work"' EXIT
echo "moto at $AWS_ENDPOINT_URL with bucket demo-layers"

cp -r "$repo/examples/python-build/." "$work/"
cd "$work"
export LAYERPUB_S3_BUCKET=demo-layers
# pip from the moto venv, installing from a local wheelhouse (pip reads these variables): the
# same build against PyPI needs only a pip on PATH.
"$python" make_wheels.py "$work/wheelhouse"
mkdir -p "$work/bin"
printf '#!/bin/sh\nexec "%s" -m pip "$@"\n' "$python" > "$work/bin/pip"
chmod +x "$work/bin/pip"
export PATH="$work/bin:$PATH" PIP_NO_INDEX=1 PIP_FIND_LINKS="$work/wheelhouse"

step "layerpub plan: what would happen, calling only read APIs"
"$layerpub" plan

step "layerpub (publish): builds with pip for python3.12 on arm64, publishes version 1 — report on stderr, the result as JSON on stdout"
"$layerpub" --output json

step "Run again: nothing changed, nothing built, nothing published (one ListLayerVersions call)"
"$layerpub" --output json

step "The lock file checked out with CRLF line endings: still nothing to publish"
sed -i 's/$/\r/' requirements.txt
"$layerpub"

step "A new pin in the lock file: built again, version 2, and the reason"
sed -i 's/1.0.0/1.0.1/' requirements.txt
"$layerpub" --output json

step "Version 2 holds the new pin"
"$python" -c 'import sys, zipfile; print(zipfile.ZipFile(sys.argv[1]).read("python/hello/__init__.py").decode().strip())' demo-built-deps.zip

step "What Lambda now holds"
"$python" - <<'PY'
import os, boto3
lam = boto3.client("lambda", endpoint_url=os.environ["AWS_ENDPOINT_URL"])
for v in lam.list_layer_versions(LayerName="demo-built-deps")["LayerVersions"]:
    print(f'version {v["Version"]}: {v["Description"]}')
PY
