#!/bin/sh
# Builds the reproduction and checks the three facts valgrind/README.md states:
#   1. with undefined leftovers in xmm0-xmm2, memcheck reports the tag comparison in ring's
#      open_within, while the tag is right (the program exits 0 outside valgrind);
#   2. with defined leftovers memcheck reports nothing;
#   3. with the preload (valgrind/memcheck_preload.c) the first case reports nothing.
# Usage: check.sh CARGO TARGET_DIR VALGRIND PRELOAD_SO [cargo args such as --offline]
set -eu
cargo=$1 target=$2 valgrind=$3 preload=$4
shift 4
here=$(cd "$(dirname "$0")" && pwd)
CARGO_TARGET_DIR=$target "$cargo" build --release --locked --quiet "$@" --manifest-path "$here/Cargo.toml"
repro=$target/release/ring-ghash-repro
log=$target/memcheck.log

"$repro" leftover || { echo "FAIL: the tag is wrong outside valgrind"; exit 1; }

status=0
"$valgrind" --error-exitcode=99 "$repro" leftover >"$log" 2>&1 || status=$?
if [ "$status" -ne 99 ] || ! grep -q 'open_within' "$log"; then
    cat "$log"
    echo "FAIL: memcheck did not report the tag comparison (status $status): the reproduction no longer reproduces"
    exit 1
fi
grep -q 'tag right in every round: true' "$log" || { cat "$log"; echo "FAIL: wrong tag under valgrind"; exit 1; }

"$valgrind" --error-exitcode=99 "$repro" defined >"$log" 2>&1 || { cat "$log"; echo "FAIL: defined leftovers reported"; exit 1; }
LD_PRELOAD=$preload "$valgrind" --error-exitcode=99 "$repro" leftover >"$log" 2>&1 ||
    { cat "$log"; echo "FAIL: reported with the preload"; exit 1; }
echo "memcheck: undefined-looking tag without the preload, clean with it; the tag is right in every run"
