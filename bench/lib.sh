# Shared by the bench scripts (sourced, from the repo root): the generated tree and the
# rewriting of one section of docs/benchmarks.md.

WORK=$PWD/bench/work
TREE=$WORK/tree
GEN_ARGS=(--files 7000 --mb 150 --seed 1)
DOC=docs/benchmarks.md

# The small-file trees issue 17 measures (node_modules-like: about 1 KB text files).
SMALL_50K=$WORK/small-50k
SMALL_50K_ARGS=(--small --files 50000 --mb 90 --seed 1)
SMALL_100K=$WORK/small-100k
SMALL_100K_ARGS=(--small --files 100000 --mb 180 --seed 2)

# ensure_generated DIR ARGS...: generates DIR with bench/gen_tree.py ARGS unless the generator
# and its arguments are unchanged since DIR was made.
ensure_generated() {
  local dir=$1 stamp; shift
  mkdir -p "$WORK"
  stamp="$(sha256sum bench/gen_tree.py | cut -d' ' -f1) $*"
  if [[ -d $dir && "$(cat "$dir.stamp" 2>/dev/null)" == "$stamp" ]]; then
    echo "tree: reusing $dir" >&2
  else
    echo "tree: generating $dir" >&2
    rm -rf "$dir" "$dir.stamp"
    python3 bench/gen_tree.py "$dir" "$@"
    echo "$stamp" >"$dir.stamp"
  fi
}

# ensure_tree: generates bench/work/tree unless the generator and its arguments are unchanged;
# sets tree_files and tree_bytes.
ensure_tree() {
  ensure_generated "$TREE" "${GEN_ARGS[@]}"
  tree_files=$(find "$TREE" -type f | wc -l)
  tree_bytes=$(find "$TREE" -type f -printf '%s\n' | awk '{s += $1} END {print s}')
}

# median: the median of the numbers on stdin, two decimals.
median() {
  sort -g | awk '{a[NR] = $1} END {printf "%.3f", NR % 2 ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2}'
}

# write_section TITLE FILE: replaces the `## TITLE` section of docs/benchmarks.md (up to the
# next `## ` header) with FILE, or appends it; the other sections stay as they are.
write_section() {
  local title=$1 section=$2
  [[ -f $DOC ]] || printf '# layerpub benchmarks\n\n' >"$DOC"
  awk -v sec="$section" -v title="## $title" '
    /^## / { skip = 0 }
    $0 == title { while ((getline l < sec) > 0) print l; skip = 1; done = 1; next }
    !skip { print; last = $0 }
    END { if (!done) { if (last != "") print ""; while ((getline l < sec) > 0) print l } }
  ' "$DOC" >"$DOC.tmp" && mv "$DOC.tmp" "$DOC"
}

# The real tree: what `pip install --target` puts in a layer for numpy, pandas and boto3
# (manylinux x86_64 wheels for CPython 3.12, pinned), so that the benchmarks and the native
# check run on real shared objects, not on random bytes. pip's default byte-compiling is kept
# (the __pycache__ files most layers carry): about 173 MB in about 7,600 files, the shape of the
# 181 MB / 7,097-file tree issue 17 was measured on.
REAL_TREE=$WORK/real-tree
REAL_REQS='numpy==2.1.3 pandas==2.2.3 boto3==1.35.36'

# ensure_real_tree: installs bench/work/real-tree/python unless the pins are unchanged; sets
# real_files and real_bytes.
ensure_real_tree() {
  mkdir -p "$WORK"
  if [[ -d $REAL_TREE/python && "$(cat "$WORK/real-tree.stamp" 2>/dev/null)" == "$REAL_REQS" ]]; then
    echo "real tree: reusing $REAL_TREE" >&2
  else
    echo "real tree: installing $REAL_REQS into $REAL_TREE/python" >&2
    rm -rf "$REAL_TREE" "$WORK/real-tree.stamp"
    # shellcheck disable=SC2086 # REAL_REQS is a list of pins
    python3 -m pip install --quiet --disable-pip-version-check \
      --target "$REAL_TREE/python" --implementation cp --python-version 3.12 \
      --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 --only-binary=:all: \
      $REAL_REQS
    echo "$REAL_REQS" >"$WORK/real-tree.stamp"
  fi
  real_files=$(find "$REAL_TREE" -type f | wc -l)
  real_bytes=$(find "$REAL_TREE" -type f -printf '%s\n' | awk '{s += $1} END {print s}')
}

# given_layerpub: sets LAYERPUB to LAYERPUB_BIN's binary when that is set (e.g. the static
# binary users run) and returns 0; else returns 1, for the caller to build one. LAYERPUB_BIN is
# not passed on: layerpub refuses a LAYERPUB_* variable that is not one of its settings.
given_layerpub() {
  [[ -n ${LAYERPUB_BIN:-} ]] || return 1
  LAYERPUB=$(realpath "$LAYERPUB_BIN")
  unset LAYERPUB_BIN
}
