#!/bin/sh
# Fails when link/hot-symbols.txt has gone stale: fewer than 95 % of its names are functions of
# the built libaiot.so. The list orders the executed code at the start of .text (build.rs,
# cmake/hot-order-static.sh); names that vanish with a refactor silently cost peak RSS (a stale
# list cost ~0.4 MB in the threaded FOTA demo). Regenerate with scripts/hot-symbols.sh.
# Usage: check-hot-symbols.sh LIBAIOT_SO HOT_SYMBOLS_TXT
set -eu
lib=$1 list=$2
export LC_ALL=C
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
grep -v '^#' "$list" | sort -u >"$tmp/listed"
nm --defined-only "$lib" | awk '{print $3}' | sort -u >"$tmp/defined"
listed=$(wc -l <"$tmp/listed")
present=$(comm -12 "$tmp/listed" "$tmp/defined" | wc -l)
echo "hot symbols present: $present of $listed"
[ "$listed" -gt 0 ] || { echo "FAIL: $list is empty"; exit 1; }
if [ $((present * 100)) -lt $((listed * 95)) ]; then
  echo "FAIL: link/hot-symbols.txt is stale; run scripts/hot-symbols.sh and commit the list"
  exit 1
fi
