#!/usr/bin/env bash
# Makes sure the pinned moto emulator is installed in target/moto-venv and prints the path of
# that virtualenv's python. Used by the tests (tests/common/moto.rs), the demo and the
# benchmarks, so all three run the same emulator. The tests also validate every JSON document
# layerpub prints against schema/*.schema.json with the pinned jsonschema (tests/common/schema.rs;
# moto[server] already pulls it in, the pin keeps it from moving). Needs python3 and the PyPI
# registry.
set -euo pipefail
MOTO_PIN='moto[server]==5.2.5'
JSONSCHEMA_PIN='jsonschema==4.26.0'
repo=$(cd "$(dirname "$0")/.." && pwd)
venv="$repo/target/moto-venv"
if ! "$venv/bin/python" -c 'import moto.server, jsonschema' >/dev/null 2>&1; then
  # Built aside and renamed into place, so an interrupted or concurrent install never leaves
  # half a venv. (Its bin/ scripts then point at the scratch path: always use `python -m`.)
  scratch="$venv.tmp$$"
  rm -rf "$scratch"
  mkdir -p "$repo/target"
  python3 -m venv "$scratch"
  "$scratch/bin/pip" install --quiet --disable-pip-version-check "$MOTO_PIN" "$JSONSCHEMA_PIN" >&2
  rm -rf "$venv.old"; [ -d "$venv" ] && mv "$venv" "$venv.old"
  mv "$scratch" "$venv" 2>/dev/null || rm -rf "$scratch"
  rm -rf "$venv.old"
fi
echo "$venv/bin/python"
