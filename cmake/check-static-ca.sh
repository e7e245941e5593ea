#!/bin/sh
# CTest "static_ca_cert": users replace the CA bundle by defining `ali_ca_cert` themselves, as
# with upstream. Checks that
#   1. a program defining its own ali_ca_cert links statically (no multiple definition) and
#      sees its own value, and one that only declares it sees the library's PEM bundle;
#   2. the same two programs linked against libaiot.so behave the same;
#   3. libaiot.a defines ali_ca_cert once, in an archive member that defines nothing else (so
#      the linker leaves it out when the program has its own).
#
# usage: check-static-ca.sh LIBAIOT_A LIBAIOT_SO INCLUDE_DIR SOURCE_DIR [C_COMPILER]
set -eu

static_lib=$1
shared_lib=$2
include_dir=$3
src_dir=$4
cc=${5:-cc}

tmp=$(mktemp -d "${TMPDIR:-/tmp}/aiot-static-ca.XXXXXX")
trap 'rm -rf "$tmp"' EXIT INT TERM

flags="-std=c99 -Wall -Wextra -Werror -I$include_dir"
for prog in ca_user_defined ca_default; do
    echo "== $prog, static"
    # shellcheck disable=SC2086
    "$cc" $flags -o "$tmp/${prog}_static" "$src_dir/$prog.c" "$static_lib" -lpthread -ldl -lm
    "$tmp/${prog}_static"
    echo "== $prog, shared"
    # shellcheck disable=SC2086
    "$cc" $flags -o "$tmp/${prog}_shared" "$src_dir/$prog.c" -L"$(dirname "$shared_lib")" -laiot \
        -Wl,-rpath,"$(dirname "$shared_lib")"
    "$tmp/${prog}_shared"
done
echo "== the archive member of ali_ca_cert"
# readelf, not nm: binutils' nm hands members with embedded LLVM bitcode to its LTO plugin.
readelf -sW "$static_lib" | awk '
    /^File: / { member = $2 }
    ($5 == "GLOBAL" || $5 == "WEAK") && $7 != "UND" && NF >= 8 { print member, $8 }' >"$tmp/defs"
members=$(awk '$2 == "ali_ca_cert" {print $1}' "$tmp/defs")
count=$(printf '%s\n' "$members" | grep -c . || true)
[ "$count" -eq 1 ] || { echo "ali_ca_cert defined $count times in $static_lib"; exit 1; }
others=$(awk -v m="$members" '$1 == m && $2 != "ali_ca_cert"' "$tmp/defs")
[ -z "$others" ] || { echo "the member of ali_ca_cert defines more, such as:"; echo "$others" | head -3; exit 1; }
echo "$members defines ali_ca_cert alone"

echo "check-static-ca: OK"
