#!/bin/sh
# Groups the functions a normal run executes (link/hot-symbols.txt, the list build.rs hands to
# rust-lld for libaiot.so) in the static library too: each listed function's section
# .text.<name> becomes .text.hot.<name>, which GNU ld (and gold, lld) place together at the
# start of the program's .text. The kernel maps code in 64 KB fault-around windows, so a program
# linked against libaiot.a then maps a few windows of our code instead of all of it (peak RSS,
# BENCHMARKS.md). cargo puts its own archive back on every build (a hard link to its deps/
# copy), so the result is kept as LIBAIOT_A.hot and copied back, mtime kept, while cargo's
# archive and the list are unchanged: programs linked against it are not relinked for nothing.
# Usage: hot-order-static.sh OBJCOPY READELF LIBAIOT_A HOT_SYMBOLS_TXT
set -eu
objcopy=$1 readelf=$2 lib=$3 list=$4
[ -f "$lib" ] && [ -f "$list" ] || exit 0
command -v "$objcopy" >/dev/null 2>&1 && command -v "$readelf" >/dev/null 2>&1 || exit 0
[ -f "$lib.hot" ] && cmp -s "$lib" "$lib.hot" && exit 0
stamp="$(stat -c '%s %Y' "$lib") $(cksum <"$list")"
if [ -f "$lib.hot" ] && [ "$(cat "$lib.hot-stamp" 2>/dev/null)" = "$stamp" ]; then
  rm -f "$lib" && cp -p "$lib.hot" "$lib"
  exit 0
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export LC_ALL=C
"$readelf" -SW "$lib" 2>/dev/null | sed -n 's/^ *\[ *[0-9]*\] \(\.text\.[^ ]*\) .*/\1/p' | sort -u >"$tmp/sections"
grep -v '^#' "$list" | sed 's/^/.text./' | sort -u | comm -12 - "$tmp/sections" \
  | sed 's/^\.text\.\(.*\)$/--rename-section .text.\1=.text.hot.\1/' >"$tmp/args"
[ -s "$tmp/args" ] || exit 0
"$objcopy" "@$tmp/args" "$lib" "$tmp/libaiot.a"
cp "$tmp/libaiot.a" "$lib.hot"
rm -f "$lib" && cp -p "$lib.hot" "$lib"
echo "$stamp" >"$lib.hot-stamp"
echo "hot-order-static: $(wc -l <"$tmp/args") functions of $lib moved to .text.hot"
