#!/usr/bin/env bash
# Packaging benchmark: layerpub vs `zip -r -X -q` vs Python zipfile (deflate level 6) on one
# generated tree, in the same run. Rewrites the `## Packaging` section of docs/benchmarks.md.
#   bash bench/package.sh          (from the repo root; BENCH_RUNS=N for N timed runs, default 3)
set -euo pipefail
cd "$(dirname "$0")/.."

RUNS=${BENCH_RUNS:-3}
WORK=$PWD/bench/work
TREE=$WORK/tree
GEN_ARGS=(--files 7000 --mb 150 --seed 1)
DOC=docs/benchmarks.md

# --- tools -------------------------------------------------------------------------------
missing=()
for c in zip unzip zipinfo /usr/bin/time; do command -v "$c" >/dev/null || missing+=("$c"); done
if ((${#missing[@]})); then
  echo "installing time zip unzip (missing: ${missing[*]})" >&2
  sudo=""; [[ $(id -u) == 0 ]] || sudo=sudo
  $sudo apt-get install -y -q time zip unzip >/dev/null ||
    { $sudo apt-get update -q >/dev/null && $sudo apt-get install -y -q time zip unzip >/dev/null; }
fi

cargo build --release --quiet
LAYERPUB=$PWD/target/release/layerpub

# --- tree: regenerate only when the generator or its arguments changed -----------------
mkdir -p "$WORK"
stamp="$(sha256sum bench/gen_tree.py | cut -d' ' -f1) ${GEN_ARGS[*]}"
if [[ -d $TREE && "$(cat "$WORK/tree.stamp" 2>/dev/null)" == "$stamp" ]]; then
  echo "tree: reusing $TREE" >&2
else
  echo "tree: generating $TREE" >&2
  rm -rf "$TREE" "$WORK/tree.stamp"
  python3 bench/gen_tree.py "$TREE" "${GEN_ARGS[@]}"
  echo "$stamp" >"$WORK/tree.stamp"
fi
tree_files=$(find "$TREE" -type f | wc -l)
tree_bytes=$(find "$TREE" -type f -printf '%s\n' | awk '{s += $1} END {print s}')

# Python's zipfile, files only, in sorted order.
PYZIP='
import os, sys, zipfile
root, out = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=6) as z:
    for d, dirs, files in os.walk(root):
        dirs.sort()
        for f in sorted(files):
            p = os.path.join(d, f)
            z.write(p, os.path.relpath(p, root))
'

# --- measure ---------------------------------------------------------------------------
# measure NAME ZIP DIR CMD...: one warm-up, then RUNS timed runs of CMD in DIR (ZIP deleted
# first, since zip would update it). Wall time is taken around /usr/bin/time, whose %M gives
# the peak RSS of the command, children included (the waited-for descendants' maximum).
names=() walls=() rss=() sizes=() zips=()
measure() {
  local name=$1 zip=$2 dir=$3; shift 3
  local times=() peak=0 i t0 t1 m log=$WORK/${name%% *}
  for ((i = 0; i <= RUNS; i++)); do
    rm -f "$zip"
    t0=$(date +%s.%N)
    if ! (cd "$dir" && /usr/bin/time -f %M -o "$WORK/rss" "$@" >"$log.out" 2>"$log.err"); then
      echo "FAILED: $name: $*" >&2; cat "$log.err" >&2; exit 1
    fi
    t1=$(date +%s.%N)
    [[ $name == layerpub ]] && sha256sum "$zip" | cut -d' ' -f1 >>"$WORK/layerpub.sha"
    ((i == 0)) && continue # warm-up: fills the page cache, not recorded
    times+=("$(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.3f", b - a}')")
    m=$(tail -n1 "$WORK/rss"); ((m > peak)) && peak=$m
  done
  names+=("$name") zips+=("$zip") rss+=("$peak") sizes+=("$(stat -c %s "$zip")")
  walls+=("$(printf '%s\n' "${times[@]}" | sort -g |
    awk '{a[NR] = $1} END {printf "%.2f", NR % 2 ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2}')")
  echo "$name: runs ${times[*]} s, peak ${peak} KiB, $(stat -c %s "$zip") bytes" >&2
}

rm -f "$WORK/layerpub.sha"
load=$(cut -d' ' -f1 /proc/loadavg)
measure layerpub "$WORK/layerpub.zip" . \
  "$LAYERPUB" package --layer-name bench --path "$TREE" --zip-path "$WORK/layerpub.zip" --output json
measure "zip -r -X -q" "$WORK/infozip.zip" "$TREE" zip -r -X -q "$WORK/infozip.zip" .
measure "python zipfile" "$WORK/pyzip.zip" . python3 -c "$PYZIP" "$TREE" "$WORK/pyzip.zip"

# --- checks: every zip tests clean and holds every file; layerpub is reproducible -------
for z in "${zips[@]}"; do
  unzip -tq "$z" >/dev/null || { echo "FAILED: unzip -tq $z" >&2; exit 1; }
  n=$(zipinfo -1 "$z" | grep -vc '/$')
  [[ $n == "$tree_files" ]] || { echo "FAILED: $z has $n files, tree has $tree_files" >&2; exit 1; }
done
distinct=$(sort -u "$WORK/layerpub.sha" | wc -l)
((distinct == 1)) || { echo "FAILED: layerpub zips differ across runs" >&2; exit 1; }
repro="layerpub's zip was byte-identical across all $((RUNS + 1)) runs (sha256 $(head -c 16 "$WORK/layerpub.sha")…)"
# The JSON report must describe the zip actually written.
python3 - "$WORK/layerpub.out" "$WORK/layerpub.zip" <<'EOF'
import base64, hashlib, json, os, sys
r, z = json.load(open(sys.argv[1])), sys.argv[2]
assert r["code_size"] == os.path.getsize(z), r
# Lambda's CodeSha256 format: base64 of the digest.
assert r["code_sha256"] == base64.b64encode(hashlib.sha256(open(z, "rb").read()).digest()).decode(), r
EOF
echo "checks: all zips pass unzip -tq with $tree_files files; $repro" >&2

# --- docs/benchmarks.md ------------------------------------------------------------------
dirty=""; [[ -z $(git status --porcelain -- src Cargo.toml Cargo.lock) ]] || dirty=" plus uncommitted changes"
section=$(mktemp)
{
  echo "## Packaging"
  echo
  echo "Generated by \`bash bench/package.sh\` (median of $RUNS runs after one warm-up, warm page cache)."
  echo
  echo "- Machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'), $(awk '/^MemTotal/ {printf "%.0f", $2 / 1048576}' /proc/meminfo) GiB RAM, 1-min load average $load before the runs (other work on the machine skews the times)"
  echo "- Tools: layerpub at $(git rev-parse --short HEAD)$dirty, $(rustc --version | cut -d' ' -f1-2), $(zip -v | sed -n 2p | grep -o 'Zip [0-9.]*') (Info-ZIP), Python $(python3 -c 'import platform; print(platform.python_version())') zipfile"
  echo "- Tree: $tree_files files, $tree_bytes bytes (~60% code-like text, ~40% random bytes), from \`python3 bench/gen_tree.py bench/work/tree ${GEN_ARGS[*]}\`"
  echo "- Checks: every zip passes \`unzip -tq\` and holds all $tree_files files; $repro."
  echo
  echo "| tool | median wall time (s) | peak memory (MiB) | zip size (bytes) | time vs zip -r -X | size vs zip -r -X |"
  echo "|---|---:|---:|---:|---:|---:|"
  for i in "${!names[@]}"; do
    awk -v n="${names[i]}" -v t="${walls[i]}" -v m="${rss[i]}" -v s="${sizes[i]}" -v t0="${walls[1]}" -v s0="${sizes[1]}" \
      'BEGIN {printf "| %s | %.2f | %.0f | %d | %.2fx | %+.1f%% |\n", n, t, m / 1024, s, t / t0, (s / s0 - 1) * 100}'
  done
  echo
  awk -v t="${walls[0]}" -v t0="${walls[1]}" -v s="${sizes[0]}" -v s0="${sizes[1]}" -v cores="$(nproc)" 'BEGIN {
    speed = t0 / t; fast = speed >= 2; small = s <= s0 * 1.03
    printf "Goals (layerpub >= 2x faster than `zip -r -X -q` on 2 cores, zip <= 3%% larger): "
    printf "%.2fx faster (%s), %+.1f%% size (%s) on %d cores: %s.\n", speed, fast ? "met" : "NOT met",
      (s / s0 - 1) * 100, small ? "met" : "NOT met", cores, fast && small ? "both met" : "NOT both met"
  }'
  echo
} >"$section"

# Replace the `## Packaging` section (up to the next `## ` header) or append it; keep the rest.
[[ -f $DOC ]] || printf '# layerpub benchmarks\n\n' >"$DOC"
awk -v sec="$section" '
  /^## / { skip = 0 }
  /^## Packaging[[:space:]]*$/ { while ((getline l < sec) > 0) print l; skip = 1; done = 1; next }
  !skip { print; last = $0 }
  END { if (!done) { if (last != "") print ""; while ((getline l < sec) > 0) print l } }
' "$DOC" >"$DOC.tmp" && mv "$DOC.tmp" "$DOC"
cat "$section" >&2
rm -f "$section"
echo "bench/package.sh: done in ${SECONDS}s" >&2
