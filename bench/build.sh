#!/usr/bin/env bash
# `build: pip` against today's flow, end to end against a local moto, on a realistic dependency
# set from PyPI (requests, boto3, numpy) for python3.12 on arm64, built on this x86_64 runner:
#
# - the no-change run (the common CI run): today's flow installs on every run (`pip install -t`,
#   then layerpub), layerpub with `build: pip` decides first and starts no tool. Goal: ≥ 100×.
# - a change: the build's own time (the JSON result's `build.duration_ms`) against a bare
#   `pip install --target` with the same platform flags, in the same run. Goal: ≤ 5% overhead.
#
# pip's cache is warmed first and shared by both sides, so neither waits on the network more than
# the other. Rewrites the `## Build (pip, end to end against moto)` section of docs/benchmarks.md.
#   bash bench/build.sh            (from the repo root; BENCH_RUNS=N timed runs, default 3)
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${BENCH_RUNS:-3}
source bench/lib.sh

cargo build --release --quiet
LAYERPUB=$PWD/target/release/layerpub
mkdir -p "$WORK"
MOTO_LOG=$WORK/moto.log
export MOTO_LOG
eval "$(bash scripts/moto-up.sh)"
python=$MOTO_PYTHON
trap 'kill $MOTO_PID 2>/dev/null' EXIT
"$python" - <<'PY'
import os, boto3
boto3.client("s3", endpoint_url=os.environ["AWS_ENDPOINT_URL"]).create_bucket(Bucket="bench")
PY

proj=$WORK/build-project
rm -rf "$proj" && mkdir -p "$proj"
cd "$proj"
printf 'requests==2.32.3\nboto3==1.35.36\nnumpy==2.1.3\n' >requirements.txt
cat >layerpub.yml <<'YAML'
layer-name: bench-built
manifest: requirements.txt
build: pip
compatible-runtimes: [python3.12]
compatible-architectures: [arm64]
s3-bucket: bench
zip-path: built.zip
YAML
# Today's flow: the runner's pip fills a folder, which layerpub packages. Its extension modules
# are for the runner's Python and machine, which native-check refuses by default (exit 2):
# `warn` keeps today's flow publishing, as it does without layerpub's check.
cat >today.yml <<'YAML'
layer-name: bench-today
manifest: requirements.txt
path: site-packages
prefix: python
compatible-runtimes: [python3.12]
native-check: warn
s3-bucket: bench
zip-path: today.zip
YAML
pip=$(command -v pip)
platform_flags=(--platform manylinux_2_34_aarch64 --platform manylinux_2_28_aarch64
  --platform manylinux_2_17_aarch64 --platform manylinux2014_aarch64 --implementation cp
  --python-version 3.12 --only-binary=:all: --no-compile --disable-pip-version-check
  --progress-bar=off)
today() {
  rm -rf site-packages
  "$pip" install --quiet --disable-pip-version-check -r requirements.txt -t site-packages
  "$LAYERPUB" publish --config today.yml --output json
}
bare() {
  rm -rf "$WORK/bare"
  "$pip" install --quiet --target "$WORK/bare" "${platform_flags[@]}" -r requirements.txt
}
built() { "$LAYERPUB" publish --output json; }
forced() { "$LAYERPUB" publish --force --output json; }

# Warm pip's cache for both platforms, and publish both layers once: later runs are unchanged.
today >/dev/null 2>&1 || { echo "FAILED: today's flow" >&2; exit 1; }
built >/dev/null 2>"$WORK/built.err" || { cat "$WORK/built.err" >&2; exit 1; }
bare >/dev/null 2>&1

# run LABEL CMD: RUNS runs, median wall time (s); keeps the last output in $WORK/last.out.
labels=() walls=()
run() {
  local label=$1 times=() i t0 t1; shift
  for ((i = 0; i < RUNS; i++)); do
    t0=$(date +%s.%N)
    "$@" >"$WORK/last.out" 2>"$WORK/last.err" || { echo "FAILED: $label" >&2; cat "$WORK/last.err" >&2; exit 1; }
    t1=$(date +%s.%N)
    times+=("$(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.4f", b - a}')")
  done
  labels+=("$label") walls+=("$(printf '%s\n' "${times[@]}" | median)")
  echo "$label: runs ${times[*]} s" >&2
}
field() { "$python" -c "import json,sys; d=json.load(open('$WORK/last.out')); print($1)"; }

run "today, no change: pip install -t, then layerpub (unchanged)" today
[ "$(field 'd["layers"][0]["published"]')" = False ] || { echo "FAILED: today's no-change run published" >&2; exit 1; }
run "build: pip, no change (one ListLayerVersions call, no build)" built
[ "$(field 'd["layers"][0]["published"]')" = False ] || { echo "FAILED: the no-change run published" >&2; exit 1; }
grep -q '^build: ' "$WORK/last.err" && { echo "FAILED: the no-change run started the build" >&2; exit 1; }
# A change: the bare install and layerpub's forced publish, one after the other in each round,
# so both see the same machine; the build step's own time is the result's build.duration_ms.
bare_s=() build_ms=() forced_s=()
for ((i = 0; i < RUNS; i++)); do
  t0=$(date +%s.%N); bare >/dev/null 2>&1 || { echo "FAILED: bare pip install" >&2; exit 1; }; t1=$(date +%s.%N)
  bare_s+=("$(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.4f", b - a}')")
  t0=$(date +%s.%N)
  forced >"$WORK/last.out" 2>"$WORK/last.err" || { cat "$WORK/last.err" >&2; exit 1; }
  t1=$(date +%s.%N)
  forced_s+=("$(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.4f", b - a}')")
  build_ms+=("$(field 'd["layers"][0]["build"]["duration_ms"]')")
done
echo "bare pip install --target: ${bare_s[*]} s; forced publish: ${forced_s[*]} s; its build step: ${build_ms[*]} ms" >&2
labels+=("bare pip install --target, arm64 flags") walls+=("$(printf '%s\n' "${bare_s[@]}" | median)")
labels+=("build: pip, forced publish (build, package, upload, publish)") walls+=("$(printf '%s\n' "${forced_s[@]}" | median)")
build_s=$(printf '%s\n' "${build_ms[@]}" | awk '{print $1 / 1000}' | median)
zip_size=$(stat -c %s built.zip)

section=$(mktemp)
{
  echo "## Build (pip, end to end against moto)"
  echo
  echo "Generated by \`bash bench/build.sh\` (median of $RUNS runs, pip's cache warm for both sides): requests 2.32.3, boto3 1.35.36 and numpy 2.1.3 for python3.12 on arm64, built on this $(uname -m) runner with $("$pip" --version | cut -d' ' -f1-2) (Python $(python3 -c 'import platform; print(platform.python_version())')); the release binary against a local moto server. The zip is $zip_size bytes. Today's flow installs for the runner's platform (Python $(python3 -c 'import sys; print("%d.%d" % sys.version_info[:2])'), $(uname -m)): the layer it publishes would not even import on arm64 Lambda."
  echo
  echo "| run | median wall time (s) |"
  echo "|---|---:|"
  for i in "${!labels[@]}"; do
    awk -v n="${labels[i]}" -v t="${walls[i]}" 'BEGIN {printf "| %s | %.3f |\n", n, t}'
  done
  awk -v t="$build_s" 'BEGIN {printf "| build step alone inside that publish (`build.duration_ms`) | %.3f |\n", t}'
  echo
  awk -v today="${walls[0]}" -v built="${walls[1]}" 'BEGIN {printf "No change: today'"'"'s flow takes %.2f s, layerpub with `build` %.3f s: **%.0fx faster** (goal ≥ 100x: %s).\n", today, built, today / built, (today / built >= 100 ? "met" : "NOT met")}'
  echo
  awk -v bare="${walls[2]}" -v b="$build_s" 'BEGIN {printf "A change: the build step takes %.2f s against %.2f s for the bare `pip install --target`: **%+.1f%%** (goal ≤ 5%%: %s).\n", b, bare, (b / bare - 1) * 100, ((b / bare - 1) <= 0.05 ? "met" : "NOT met")}'
  echo
  echo "The bare install's time includes removing the previous tree and writing into bench/work; layerpub's build writes into a fresh folder under \$TMPDIR. The build step is pip itself plus the spawn, the output prefixing and the folder; what it adds is within the noise of pip's own time."
  echo
} >"$section"
cd - >/dev/null
write_section "Build (pip, end to end against moto)" "$section"
cat "$section" >&2
rm -f "$section"
echo "bench/build.sh: done in ${SECONDS}s" >&2
