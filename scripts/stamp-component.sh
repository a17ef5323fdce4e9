#!/bin/sh
# Writes a release's version and binary checksums into the GitLab component, so that the
# component's job downloads exactly that release's binaries and refuses any other bytes.
#
#   sh scripts/stamp-component.sh VERSION CHECKSUMS [TEMPLATE]
#
#   VERSION    the release version without the `v`: 1.2.3 (the tag is v1.2.3, and the
#              component's default download-url is …/releases/download/v{version}/)
#   CHECKSUMS  sha256sum output for the release binaries (dist/checksums.txt): lines
#              `<64 hex>  <file>`, with lines for layerpub-x86_64-unknown-linux-musl and
#              layerpub-aarch64-unknown-linux-musl; `#` comment lines are ignored
#   TEMPLATE   the component file to stamp in place (default templates/layerpub.yml)
#
# Run on the release commit (release.yml), before the tag that the CI/CD catalog publishes.
# It replaces the three lines `lp_version='…'`, `lp_sha256_x86_64='…'`,
# `lp_sha256_aarch64='…'` of the job's script, whatever they held (so stamping twice is
# harmless). Exit 0 when stamped; 1 with a message on stderr when an argument is wrong, a
# checksum is missing or malformed, or the template does not have each line exactly once (the
# template is then left as it was).
set -eu

fail() { echo "stamp-component: $*" >&2; exit 1; }

[ $# -ge 2 ] && [ $# -le 3 ] || fail "usage: stamp-component.sh VERSION CHECKSUMS [TEMPLATE]"
version=$1
checksums=$2
template=${3:-$(dirname "$0")/../templates/layerpub.yml}

printf '%s' "$version" | grep -Eq '^[0-9]+\.[0-9]+\.[0-9]+([-+][0-9A-Za-z.+-]+)?$' \
  || fail "VERSION '$version' is not a version like 1.2.3 (give it without the leading v)"
[ -f "$checksums" ] || fail "CHECKSUMS '$checksums' is not a file"
[ -f "$template" ] || fail "TEMPLATE '$template' is not a file"

sum_of() {
  sums=$(grep -v '^#' "$checksums" | awk -v f="$1" '$2 == f || $2 == "*" f { print $1 }')
  [ -n "$sums" ] || fail "$checksums has no line for $1"
  [ "$(printf '%s\n' "$sums" | wc -l)" -eq 1 ] || fail "$checksums has several lines for $1"
  printf '%s' "$sums" | grep -Eq '^[0-9a-f]{64}$' \
    || fail "$checksums: the checksum of $1 is not 64 lowercase hex digits: $sums"
  printf '%s' "$sums"
}
x86_64=$(sum_of layerpub-x86_64-unknown-linux-musl)
aarch64=$(sum_of layerpub-aarch64-unknown-linux-musl)

for name in lp_version lp_sha256_x86_64 lp_sha256_aarch64; do
  n=$(grep -c "^[[:space:]]*$name='[^']*'[[:space:]]*\$" "$template" || true)
  [ "$n" -eq 1 ] || fail "$template has $n lines \`$name='…'\`, not one: is it the layerpub component?"
done

tmp=$(mktemp "$template.XXXXXX")
trap 'rm -f "$tmp"' EXIT
sed -e "s/^\([[:space:]]*\)lp_version='[^']*'/\1lp_version='$version'/" \
    -e "s/^\([[:space:]]*\)lp_sha256_x86_64='[^']*'/\1lp_sha256_x86_64='$x86_64'/" \
    -e "s/^\([[:space:]]*\)lp_sha256_aarch64='[^']*'/\1lp_sha256_aarch64='$aarch64'/" \
    "$template" > "$tmp"
cat "$tmp" > "$template"
echo "stamp-component: $template is layerpub $version (x86_64 $x86_64, aarch64 $aarch64)" >&2
