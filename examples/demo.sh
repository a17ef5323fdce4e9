#!/usr/bin/env bash
# The demo: packages the sample Python layer in examples/python-layer and shows what layerpub
# promises. Needs only the Rust toolchain; runs in a temporary copy, so the repository stays
# clean. Usage: bash examples/demo.sh
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cargo build --quiet --manifest-path "$repo/Cargo.toml"
layerpub="$repo/target/debug/layerpub"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp -r "$repo/examples/python-layer/." "$work/"
cd "$work"
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "layerpub fingerprint: the manifest hash that decides whether to publish, without packaging"
"$layerpub" fingerprint

step "layerpub package --output json: the zip, its CodeSha256 and sizes (report on stderr, JSON on stdout)"
"$layerpub" package --output json | tee first.json

step "Package again after touching every file: same bytes (mtimes never reach the zip)"
find site-packages -exec touch -d '2001-02-03 04:05:06' {} +
"$layerpub" package --output json > second.json 2>/dev/null
sha() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["code_sha256"])' "$1"; }
echo "first:  $(sha first.json)"
echo "second: $(sha second.json)"
[ "$(sha first.json)" = "$(sha second.json)" ] && echo "identical"

step "What is inside (python/ prefix applied, __pycache__ left out, one fixed timestamp)"
python3 -c 'import zipfile; [print(f"{i.filename:40} {oct(i.external_attr >> 16)} {i.date_time}") for i in zipfile.ZipFile("demo-python-deps.zip").infolist()]'

step "A changed lock file gives a new fingerprint; a CRLF-only change does not"
before=$("$layerpub" fingerprint)
sed -i 's/$/\r/' requirements.txt
crlf=$("$layerpub" fingerprint)
sed -i 's/1.0.0/1.0.1/' requirements.txt
changed=$("$layerpub" fingerprint)
echo "original:   $before"
echo "CRLF only:  $crlf"
echo "new pin:    $changed"
