# Shared by the bench scripts (sourced, from the repo root): the generated tree and the
# rewriting of one section of docs/benchmarks.md.

WORK=$PWD/bench/work
TREE=$WORK/tree
GEN_ARGS=(--files 7000 --mb 150 --seed 1)
DOC=docs/benchmarks.md

# ensure_tree: generates bench/work/tree unless the generator and its arguments are unchanged;
# sets tree_files and tree_bytes.
ensure_tree() {
  mkdir -p "$WORK"
  local stamp
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
