#!/usr/bin/env bash
# Makes sure the pinned uv is installed in target/uv-venv and prints the path of its `uv`.
# Used by the `build: uv` tests (tests/suite/build.rs). Needs python3 and the PyPI registry.
set -euo pipefail
UV_PIN='uv==0.13.9'
repo=$(cd "$(dirname "$0")/.." && pwd)
venv="$repo/target/uv-venv"
if ! "$venv/bin/uv" --version 2>/dev/null | grep -q "^uv ${UV_PIN#uv==}"; then
  # Built aside and renamed into place, as scripts/moto-venv.sh does.
  scratch="$venv.tmp$$"
  rm -rf "$scratch"
  mkdir -p "$repo/target"
  python3 -m venv "$scratch"
  "$scratch/bin/python" -m pip install --quiet --disable-pip-version-check "$UV_PIN" >&2
  rm -rf "$venv.old"; [ -d "$venv" ] && mv "$venv" "$venv.old"
  mv "$scratch" "$venv" 2>/dev/null || rm -rf "$scratch"
  rm -rf "$venv.old"
fi
echo "$venv/bin/uv"
