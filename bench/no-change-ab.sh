#!/usr/bin/env bash
# Two builds of layerpub side by side on the no-change run (manifest set: one
# ListLayerVersions call) against a local moto: BIN_A and BIN_B alternately, ROUNDS rounds
# (default 40) after two untimed ones, medians of wall time and of CPU time (`perf stat`
# task-clock, less skewed by other load than wall time), and the certificate files each opens
# (strace). Prints; writes no document. For comparing a change on a busy machine.
#   bash bench/no-change-ab.sh BIN_A BIN_B [ROUNDS]
set -euo pipefail
cd "$(dirname "$0")/.."
A=$(realpath "$1") B=$(realpath "$2") ROUNDS=${3:-40}
W=$(mktemp -d)
eval "$(bash scripts/moto-up.sh bench)"
trap 'kill $MOTO_PID 2>/dev/null; rm -rf "$W"' EXIT
mkdir -p "$W/tree/python"
echo "x = 1" >"$W/tree/python/m.py"
printf 'requests==2.32.3\n' >"$W/requirements.txt"
args=(publish --allow-outside-workspace --layer-name bench --path "$W/tree" --manifest "$W/requirements.txt"
  --zip-path "$W/out.zip" --s3-bucket bench --output json)
"$A" "${args[@]}" >"$W/first.json"
grep -q '"published": true' "$W/first.json" || { echo "the first run did not publish" >&2; exit 1; }

# one BIN: wall ms and CPU ms of one no-change run, space-separated.
one() {
  local t0 t1
  t0=$(date +%s%N)
  perf stat -x, -e task-clock -o "$W/perf" "$1" "${args[@]}" >"$W/out.json" 2>/dev/null
  t1=$(date +%s%N)
  grep -q '"published": false' "$W/out.json" || { echo "$1: the no-change run published" >&2; exit 1; }
  echo "$(( (t1 - t0) / 1000 )) $(awk -F, '/task-clock/ {printf "%d", $1 * 1000}' "$W/perf")"
}
: >"$W/a" && : >"$W/b"
for ((i = 0; i < ROUNDS + 2; i++)); do
  a=$(one "$A") b=$(one "$B")
  ((i < 2)) && continue
  echo "$a" >>"$W/a"
  echo "$b" >>"$W/b"
done
med() { cut -d' ' -f"$2" "$1" | sort -n | awk '{v[NR] = $1} END {printf "%.1f", (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2) / 1000}'; }
certs() {
  strace -f -qq -e trace=openat,open -o "$W/trace" "$1" "${args[@]}" >/dev/null 2>&1
  grep -Ec '/etc/ssl|/usr/lib/ssl|/etc/pki|certs' "$W/trace" || true
}
echo "no-change run, medians of $ROUNDS interleaved rounds (load $(cut -d' ' -f1-3 /proc/loadavg)):"
echo "  A $A: wall $(med "$W/a" 1) ms, CPU $(med "$W/a" 2) ms, certificate files opened: $(certs "$A")"
echo "  B $B: wall $(med "$W/b" 1) ms, CPU $(med "$W/b" 2) ms, certificate files opened: $(certs "$B")"
