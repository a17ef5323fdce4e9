#!/usr/bin/env bash
# The action's launcher: picks the static layerpub binary for the runner, checks its SHA-256
# against dist/checksums.txt, and runs it with the subcommand the `command` input picks. Any
# mismatch or missing entry refuses to run (fails closed): a binary that is not the one released
# is never executed.
#
# Release tags carry the binaries in dist/bin/ (committed by the release workflow on the tag
# only, never on main); a workflow running the action from a checkout (`uses: ./`) builds the
# binary first and writes dist/bin/ and dist/checksums.txt itself, as ci.yml does.
set -euo pipefail
dist=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

# The subcommand, from the `command` input (INPUT_COMMAND; its value reaches this script only
# through the environment, never pasted into it). `auto` plans on a pull request, whose code and
# requirements are not reviewed yet, and in a merge queue (`merge_group`: checks that run before
# the merge), and publishes on every other event (a push to the default branch); the value is
# trimmed as layerpub trims every input.
command=${INPUT_COMMAND:-}
command=${command#"${command%%[![:space:]]*}"}
command=${command%"${command##*[![:space:]]}"}
case "${command:-auto}" in
  auto)
    case "${GITHUB_EVENT_NAME:-}" in
      pull_request | pull_request_target | merge_group) command=plan ;;
      *) command=publish ;;
    esac
    ;;
  publish | plan) ;;
  *)
    # printf %q: the value is the user's, and an annotation must not be cut or steered by it.
    echo "::error title=layerpub::the command input is $(printf %q "$command"): set it to auto (the default: plan on pull_request, pull_request_target and merge_group, else publish), publish or plan"
    exit 1
    ;;
esac

case "${RUNNER_OS:-}/${RUNNER_ARCH:-}" in
  Linux/X64) target=x86_64-unknown-linux-musl ;;
  Linux/ARM64) target=aarch64-unknown-linux-musl ;;
  *)
    echo "::error title=layerpub::no layerpub binary for ${RUNNER_OS:-unknown OS}/${RUNNER_ARCH:-unknown arch}: the action runs on Linux x64 and arm64 runners"
    exit 1
    ;;
esac
name="layerpub-$target"
bin="$dist/bin/$name"
if [[ ! -f $bin ]]; then
  echo "::error title=layerpub::$name is not in this copy of the action ($dist/bin): use a release tag (uses: OWNER/layerpub@vX.Y.Z), or build the binary into dist/bin first when running from a checkout"
  exit 1
fi
expected=$(awk -v f="$name" '$2 == f || $2 == "*" f { print $1 }' "$dist/checksums.txt" 2>/dev/null || true)
actual=$(sha256sum "$bin" | cut -d' ' -f1)
if [[ -z $expected || $actual != "$expected" ]]; then
  echo "::error title=layerpub::refusing to run $name: its SHA-256 is $actual, dist/checksums.txt says ${expected:-nothing}"
  exit 1
fi
[[ -x $bin ]] || chmod +x "$bin"

exec "$bin" "$command"
