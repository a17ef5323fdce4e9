#!/usr/bin/env bash
# Packaging benchmark: layerpub vs `zip -r -X -q` vs `tar cf - . | pigz -p 2` on four trees
# (generated 150 MB, the real numpy/pandas/boto3 tree, 50,000 and 100,000 small files), and
# the fingerprint-less hashing mode (`layerpub fingerprint`) vs `sha256sum` over the same
# files. Runs are interleaved (every tool on every tree, round after round) so that load from
# other work skews all of them alike. Rewrites the `## Packaging` section of docs/benchmarks.md.
#   bash bench/package.sh          (from the repo root; BENCH_RUNS=N for N timed rounds, default 3)
# The binary measured is the one users run: the static build of scripts/static-build.sh (musl,
# its allocator included), or LAYERPUB_BIN=path for another one.
set -euo pipefail
cd "$(dirname "$0")/.."

RUNS=${BENCH_RUNS:-3}
source bench/lib.sh

# --- tools -------------------------------------------------------------------------------
missing=()
for c in zip unzip zipinfo pigz /usr/bin/time; do command -v "$c" >/dev/null || missing+=("$c"); done
if ((${#missing[@]})); then
  echo "installing time zip unzip pigz (missing: ${missing[*]})" >&2
  sudo=""; [[ $(id -u) == 0 ]] || sudo=sudo
  $sudo apt-get install -y -q time zip unzip pigz >/dev/null ||
    { $sudo apt-get update -q >/dev/null && $sudo apt-get install -y -q time zip unzip pigz >/dev/null; }
fi

if ! given_layerpub; then
  LAYERPUB=$(bash scripts/static-build.sh "$WORK/bin" | cut -d' ' -f1)
fi

ensure_tree
ensure_real_tree
ensure_generated "$SMALL_50K" "${SMALL_50K_ARGS[@]}"
ensure_generated "$SMALL_100K" "${SMALL_100K_ARGS[@]}"
tree_names=("generated 150 MB" "numpy, pandas, boto3" "50,000 small files" "100,000 small files")
tree_dirs=("$TREE" "$REAL_TREE" "$SMALL_50K" "$SMALL_100K")
tree_args=("bench/gen_tree.py ${GEN_ARGS[*]}" "pip install $REAL_REQS" "bench/gen_tree.py ${SMALL_50K_ARGS[*]}" "bench/gen_tree.py ${SMALL_100K_ARGS[*]}")
tools=(layerpub "zip -r -X -q" "tar | pigz -p 2" "layerpub fingerprint" sha256sum)

# run TREE_INDEX TOOL_INDEX: one run in the tree's folder, its output file deleted first (zip
# would update it). /usr/bin/time gives user and system CPU and the peak RSS, children
# included (a pipeline's largest process); wall time is taken around it.
run() {
  local t=$1 k=$2 dir=${tree_dirs[$1]} out=$WORK/out-$1-$2 t0 t1
  rm -f "$out.zip" "$out.tgz"
  local cmd
  case $k in
    # --default-excludes false: every file, as zip and tar take them (the real tree has
    # pip's __pycache__ folders).
    0) cmd=("$LAYERPUB" package --layer-name bench --path "$dir" --default-excludes false --zip-path "$out.zip" --output json) ;;
    1) cmd=(zip -r -X -q "$out.zip" .) ;;
    2) cmd=(sh -c "tar cf - . | pigz -p 2 >'$out.tgz'") ;;
    3) cmd=("$LAYERPUB" fingerprint --layer-name bench --path "$dir" --default-excludes false) ;;
    4) cmd=(sh -c 'find . -type f -print0 | xargs -0 sha256sum') ;;
  esac
  # Each run starts with nothing left to write back: the previous tool's output (tens of MB)
  # is flushed now, not by the kernel's writeback threads on the cores of the run being timed.
  sync
  t0=$(date +%s.%N)
  if ! (cd "$dir" && /usr/bin/time -f '%U %S %M' -o "$WORK/time" "${cmd[@]}" >"$out.out" 2>"$out.err"); then
    echo "FAILED: ${tools[k]} on ${tree_names[t]}" >&2; cat "$out.err" >&2; exit 1
  fi
  t1=$(date +%s.%N)
  echo -e "$t\t$k\t$(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.3f", b - a}')\t$(tail -n1 "$WORK/time" | tr ' ' '\t')" >>"$WORK/runs.tsv"
  if ((k == 0)); then sha256sum "$out.zip" | cut -d' ' -f1 >>"$WORK/sha-$t"; fi
  return 0
}

load_before=$(cut -d' ' -f1-3 /proc/loadavg)
: >"$WORK/runs.tsv"
rm -f "$WORK"/sha-*
for ((round = 0; round <= RUNS; round++)); do
  echo "round $round of $RUNS (0 is the warm-up: fills the page cache, not recorded)" >&2
  for t in "${!tree_dirs[@]}"; do
    for k in "${!tools[@]}"; do
      [[ $round == 0 ]] && mark=warmup || mark=$round
      run "$t" "$k"
      sed -i "\$s/\$/\t$mark/" "$WORK/runs.tsv"
    done
  done
done
load_after=$(cut -d' ' -f1-3 /proc/loadavg)

# --- checks: every zip tests clean and holds every file; layerpub is reproducible -------
checks=()
for t in "${!tree_dirs[@]}"; do
  files=$(find "${tree_dirs[t]}" -type f | wc -l)
  for z in "$WORK/out-$t-0.zip" "$WORK/out-$t-1.zip"; do
    unzip -tq "$z" >/dev/null || { echo "FAILED: unzip -tq $z" >&2; exit 1; }
    n=$(zipinfo -1 "$z" | grep -vc '/$')
    [[ $n == "$files" ]] || { echo "FAILED: $z has $n files, ${tree_names[t]} has $files" >&2; exit 1; }
  done
  distinct=$(sort -u "$WORK/sha-$t" | wc -l)
  ((distinct == 1)) || { echo "FAILED: layerpub zips of ${tree_names[t]} differ across runs" >&2; exit 1; }
  # The JSON report must describe the zip actually written, in Lambda's CodeSha256 format.
  python3 - "$WORK/out-$t-0.out" "$WORK/out-$t-0.zip" <<'EOF'
import base64, hashlib, json, os, sys
r, z = json.load(open(sys.argv[1]))["layers"][0], sys.argv[2]
assert r["code_size"] == os.path.getsize(z), r
assert r["code_sha256"] == base64.b64encode(hashlib.sha256(open(z, "rb").read()).digest()).decode(), r
EOF
  checks+=("$files")
done
echo "checks: all zips pass unzip -tq and hold every file; layerpub's zips are byte-identical across runs" >&2

# --- docs/benchmarks.md ------------------------------------------------------------------
dirty=""; [[ -z $(git status --porcelain -- src Cargo.toml Cargo.lock) ]] || dirty=" plus uncommitted changes"
section=$(mktemp)
{
  echo "## Packaging"
  echo
  echo "Generated by \`bash bench/package.sh\`: $RUNS rounds after one warm-up round (warm page cache), every tool on every tree in each round (interleaved), medians."
  echo
  echo "- Machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'), $(awk '/^MemTotal/ {printf "%.0f", $2 / 1048576}' /proc/meminfo) GiB RAM; load average (1, 5, 15 min) $load_before before the runs, $load_after after (other work on the machine skews the times)"
  echo "- Tools: layerpub at $(git rev-parse --short HEAD)$dirty (\`$(basename "$LAYERPUB")\`, $(file -b "$LAYERPUB" | grep -o "statically linked\|static-pie linked\|dynamically linked" | head -n1)), $(rustc --version | cut -d' ' -f1-2), $(zip -v | sed -n 2p | grep -o 'Zip [0-9.]*') (Info-ZIP), pigz $(pigz --version 2>&1 | awk '{print $2}'), $(sha256sum --version | head -n1)"
  echo "- Checks: every zip passes \`unzip -tq\` and holds every file of its tree; layerpub's zip of each tree was byte-identical across all $((RUNS + 1)) runs."
  echo "- cores used: (user + system CPU) / wall time of each run, median over the runs. Peak memory: the largest RSS of the run (/usr/bin/time %M)."
  echo
  python3 - "$WORK/runs.tsv" "$WORK" "$(nproc)" "${tree_names[@]}" "--" "${tree_args[@]}" "--" "${checks[@]}" "--" "${tools[@]}" <<'EOF'
import os, statistics, sys
runs, work, cores = sys.argv[1], sys.argv[2], int(sys.argv[3])
rest = sys.argv[4:]
def take():
    global rest
    i = rest.index("--") if "--" in rest else len(rest)
    part, rest = rest[:i], rest[i + 1:]
    return part
names, args, files, tools = take(), take(), take(), take()
data = {}
for line in open(runs):
    t, k, wall, user, sys_, rss, mark = line.split("\t")
    if mark.strip() == "warmup":
        continue
    data.setdefault((int(t), int(k)), []).append((float(wall), float(user) + float(sys_), int(rss)))
# Cores used is each run's own CPU / wall, then the median: the median CPU over the median
# wall would divide numbers from two different runs.
def med(t, k):
    rows = data[(t, k)]
    wall = statistics.median(r[0] for r in rows)
    used = statistics.median(r[1] / r[0] for r in rows)
    return wall, used, max(r[2] for r in rows) / 1024
def size(t, k):
    return os.path.getsize(f"{work}/out-{t}-{k}.{'tgz' if k == 2 else 'zip'}")
goals = []
print("| tree | tool | median wall time (s) | vs zip -r -X | cores used | peak memory (MiB) | output (bytes) | size vs zip -r -X |")
print("|---|---|---:|---:|---:|---:|---:|---:|")
for t, name in enumerate(names):
    wz = med(t, 1)[0]
    for k in (0, 1, 2):
        wall, used, rss = med(t, k)
        tool = tools[k].replace("|", "\\|")  # a pipe would end the table cell
        print(f"| {name} ({files[t]} files) | {tool} | {wall:.2f} | {wz / wall:.2f}x faster | {used:.2f} | {rss:.0f} | {size(t, k)} | {(size(t, k) / size(t, 1) - 1) * 100:+.2f}% |")
    lw, lused, lrss = med(t, 0)
    goals.append((f"{name}: {wz / lw:.2f}x faster than zip -r -X (goal >= 3x)", wz / lw >= 3))
    goals.append((f"{name}: {med(t, 2)[0] / lw:.2f}x the speed of tar | pigz -p 2 (goal > 1x)", med(t, 2)[0] > lw))
    goals.append((f"{name}: zip {(size(t, 0) / size(t, 1) - 1) * 100:+.2f}% vs zip -r -X (goal <= 0)", size(t, 0) <= size(t, 1)))
    if "small" in name:
        goals.append((f"{name}: {lused:.2f} cores used (goal >= 1.85)", lused >= 1.85))
    if name.startswith("100,000"):
        goals.append((f"{name}: peak {lrss:.0f} MiB (goal <= 64)", lrss <= 64))
print()
print("The fingerprint-less mode (`layerpub fingerprint` without a manifest: hashes every file) against `find . -type f -print0 | xargs -0 sha256sum` over the same tree:")
print()
print("| tree | layerpub fingerprint (s) | cores used | sha256sum (s) | cores used | layerpub vs sha256sum |")
print("|---|---:|---:|---:|---:|---:|")
for t, name in enumerate(names):
    (lw, lu, _), (sw, su, _) = med(t, 3), med(t, 4)
    print(f"| {name} | {lw:.3f} | {lu:.2f} | {sw:.3f} | {su:.2f} | {sw / lw:.2f}x faster |")
    if "small" in name:
        goals.append((f"{name}: hashing {sw / lw:.2f}x the speed of sha256sum (goal >= 1x)", lw <= sw))
print()
met = sum(ok for _, ok in goals)
print(f"Goals of issue 17 ({met} of {len(goals)} met on this run):")
print()
for text, ok in goals:
    print(f"- {text}: {'met' if ok else 'NOT met'}")
print()
print("Trees: " + "; ".join(f"{n} from `{a}`" for n, a in zip(names, args)) + ".")
print()
EOF
} >"$section"

write_section Packaging "$section"
cat "$section" >&2
rm -f "$section"
echo "bench/package.sh: done in ${SECONDS}s" >&2
