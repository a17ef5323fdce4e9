#!/usr/bin/env bash
# The demo: the whole job on this machine, with no AWS account. Starts a local moto emulator
# (installed into target/moto-venv on first use), creates a bucket, publishes the sample Python
# layer in examples/python-layer, re-runs to show the skip, and publishes version 2 after a lock
# file change. Needs the Rust toolchain and python3. Usage: bash examples/demo.sh
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

cp -r "$repo/examples/python-layer/." "$work/"
cd "$work"
export LAYERPUB_S3_BUCKET=demo-layers

step "layerpub plan: what would happen, calling only read APIs"
"$layerpub" plan

step "layerpub (publish): version 1 — report on stderr, the result as JSON on stdout"
"$layerpub" --output json

step "Run again: nothing changed, nothing published (one ListLayerVersions call)"
"$layerpub" --output json

step "The lock file checked out with CRLF line endings: still nothing to publish"
sed -i 's/$/\r/' requirements.txt
"$layerpub"

step "A new pin in the lock file (a real pipeline would also pip-install it): version 2, and the reason"
sed -i 's/1.0.0/1.0.1/' requirements.txt
"$layerpub" --output json

step "What Lambda now holds"
"$python" - <<'PY'
import os, boto3
lam = boto3.client("lambda", endpoint_url=os.environ["AWS_ENDPOINT_URL"])
for v in lam.list_layer_versions(LayerName="demo-python-deps")["LayerVersions"]:
    print(f'version {v["Version"]}: {v["Description"]}')
PY
