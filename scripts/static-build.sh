#!/usr/bin/env bash
# Builds the fully static x86_64 Linux binary the action ships, and checks that it is static:
# `file` says statically linked, `ldd` says it is not a dynamic executable, it runs in an
# empty environment, it packages a small tree into a whole zip, and it is within the size budget (scripts/check-binary-size.sh: 6 MB,
# LAYERPUB_MAX_BINARY_BYTES overrides). Prints the binary's path and size.
#   bash scripts/static-build.sh [OUT_DIR]     (default dist/bin)
#
# musl is the target (no glibc NSS modules loaded at run time); when the musl target cannot be
# installed (rustup needs the Rust distribution server), the glibc target with +crt-static is
# the fallback, and the script says so.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-$repo/dist/bin}
cd "$repo"

target=x86_64-unknown-linux-musl
if ! rustup target list --installed 2>/dev/null | grep -qx "$target"; then
  rustup target add "$target" >&2 || target=""
fi
if [[ -n $target ]] && ! command -v musl-gcc >/dev/null; then
  # ring compiles C and assembly: it needs musl's C toolchain.
  (apt-get install -y -qq musl-tools >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq musl-tools; }) >&2 || target=""
fi
if [[ -n $target ]]; then
  cargo build --locked --release --target "$target" >&2
else
  echo "static-build: musl unavailable here; falling back to glibc with +crt-static" >&2
  target=x86_64-unknown-linux-gnu
  RUSTFLAGS="-C target-feature=+crt-static" cargo build --locked --release --target "$target" >&2
fi
bin="target/$target/release/layerpub"

file "$bin" | grep -Eq 'statically linked|static-pie linked' || { echo "static-build: $bin is not static: $(file "$bin")" >&2; exit 1; }
# glibc's ldd says "not a dynamic executable" for a static binary, "statically linked" for a
# static-pie one; anything else lists shared libraries.
ldd_says=$(ldd "$bin" 2>&1 || true)
grep -Eq 'not a dynamic executable|statically linked' <<<"$ldd_says" ||
  { echo "static-build: ldd finds dynamic dependencies in $bin: $ldd_says" >&2; exit 1; }
env -i "$bin" --version >/dev/null || { echo "static-build: $bin does not run in an empty environment" >&2; exit 1; }
# The tests run the debug build, on the C library's allocator; the shipped binary has its own
# (dlmalloc, see Cargo.toml). Package a small tree with it, on every core, and check the zip.
smoke=$(mktemp -d)
trap 'rm -rf "$smoke"' EXIT
for i in $(seq 1 300); do
  mkdir -p "$smoke/tree/python/pkg$((i % 7))"
  seq "$i" $((i * 40)) >"$smoke/tree/python/pkg$((i % 7))/m$i.py"
done
(cd "$smoke" && env -i "$repo/$bin" package --layer-name smoke --path tree --zip-path smoke.zip) >/dev/null 2>"$smoke/err" ||
  { cat "$smoke/err" >&2; echo "static-build: $bin failed to package a small tree" >&2; exit 1; }
[[ $(unzip -Z1 "$smoke/smoke.zip" | wc -l) == 300 ]] && unzip -tq "$smoke/smoke.zip" >/dev/null ||
  { echo "static-build: the zip $bin made of a small tree is not whole" >&2; exit 1; }
# And a build step: a child process started from the running binary.
echo "requests==2.32.3" >"$smoke/requirements.txt"
(cd "$smoke" && env -i PATH=/usr/bin:/bin "$repo/$bin" package --layer-name smoke --manifest requirements.txt \
  --build-command 'mkdir -p "$LAYERPUB_BUILD_DIR/python" && seq 1 5000 >"$LAYERPUB_BUILD_DIR/python/built.py"' \
  --zip-path built.zip) >/dev/null 2>"$smoke/err" && [[ $(unzip -Z1 "$smoke/built.zip") == python/built.py ]] ||
  { cat "$smoke/err" >&2; echo "static-build: $bin failed to package what a build command made" >&2; exit 1; }

mkdir -p "$out"
cp "$bin" "$out/layerpub-$target"
echo "$out/layerpub-$target $(stat -c %s "$bin") bytes ($target)"
bash "$repo/scripts/check-binary-size.sh" "$out/layerpub-$target" >&2
