#!/usr/bin/env bash
# Calibration column (not a test): builds upstream Link SDK C 4.x (core, POSIX port and the
# system's mbedTLS) from a tree the user brings, into a temporary folder, links bench/mqtt_bench.c
# against it and runs it beside this library's build, interleaved (scripts/mqtt-bench.sh).
# Nothing of upstream is kept.
#
#   scripts/upstream-bench.sh /path/to/LinkSDK              # both columns, default broker
#   scripts/upstream-bench.sh --build-only /path/to/LinkSDK OUT   # just build upstream's bench as OUT
#
# Upstream's bundled mbedTLS 2.13 has RSA key exchange only and the platform's PKI is ECDSA, so
# the build uses the system's mbedTLS 2.x (Debian: libmbedtls-dev, installed when missing),
# linked statically. Upstream's adapter routes mbedTLS allocations through its sysdep
# (mbedtls_platform_set_calloc_free), which Debian's build leaves out: a stub that keeps libc's
# allocator stands in for it.
set -euo pipefail
cd "$(dirname "$0")/.."
build_only=0
if [[ ${1:-} == --build-only ]]; then build_only=1; shift; fi
sdk=${1:?usage: $0 [--build-only] /path/to/LinkSDK [OUT]}
for f in core/aiot_mqtt_api.c core/sysdep/core_adapter.c portfiles/aiot_port/posix_port.c; do
  [[ -f "$sdk/$f" ]] || { echo "$0: $sdk/$f missing: not a Link SDK C 4.x tree" >&2; exit 2; }
done
if [[ ! -f /usr/include/mbedtls/ssl.h ]]; then
  apt-get install -y libmbedtls-dev >/dev/null
fi
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
cat >"$tmp/mbedtls_stub.c" <<'C'
#include <stddef.h>
int mbedtls_platform_set_calloc_free(void *(*alloc)(size_t, size_t), void (*release)(void *));
int mbedtls_platform_set_calloc_free(void *(*alloc)(size_t, size_t), void (*release)(void *))
{
    (void)alloc;
    (void)release;
    return 0;
}
C
bin=$tmp/upstream_mqtt_bench
# -O2 as upstream's own Makefile-less builds usually are; its warnings are its own.
cc -O2 -w -I "$sdk/core" -I "$sdk/core/sysdep" -I "$sdk/core/utils" \
  "$sdk"/core/*.c "$sdk"/core/sysdep/*.c "$sdk"/core/utils/*.c "$sdk/portfiles/aiot_port/posix_port.c" \
  "$tmp/mbedtls_stub.c" bench/mqtt_bench.c -o "$bin" \
  -Wl,-Bstatic -lmbedtls -lmbedx509 -lmbedcrypto -Wl,-Bdynamic -lpthread
if ((build_only)); then
  cp "$bin" "${2:?OUT missing}"
  exit 0
fi
export PATH="/usr/sbin:$PATH"
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j2 --target mqtt_bench >/dev/null
scripts/mqtt-bench.sh upstream="$bin" aiot=build/mqtt_bench
