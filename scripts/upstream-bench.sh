#!/usr/bin/env bash
# Calibration column (not a test): builds upstream Link SDK C 4.x (core, OTA component, POSIX
# port and the system's mbedTLS) from a tree the user brings, into a temporary folder, links
# bench/mqtt_bench.c against it and runs it beside this library's build, interleaved
# (scripts/mqtt-bench.sh). Nothing of upstream is kept.
#
#   scripts/upstream-bench.sh /path/to/LinkSDK                  # both MQTT columns, default broker
#   scripts/upstream-bench.sh --build-only /path/to/LinkSDK DIR # just build, into DIR:
#       upstream_mqtt_bench, upstream_ota_bench (bench/ota_bench.c) and
#       upstream_fota_threads_demo (c_demos/ota/fota_threads_demo.c), the same sources as ours,
#       which use the public aiot_* API only
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
for f in core/aiot_mqtt_api.c core/sysdep/core_adapter.c portfiles/aiot_port/posix_port.c components/ota/aiot_ota_api.c external/ali_ca_cert.c; do
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
# -O2 as upstream's own Makefile-less builds usually are; its warnings are its own. libc stays
# dynamic, mbedTLS static: the same shape as a program linked against our libaiot.a.
build() { # OUT SOURCE...
  local out=$1; shift
  cc -O2 -w -I "$sdk/core" -I "$sdk/core/sysdep" -I "$sdk/core/utils" -I "$sdk/components/ota" -I c_demos \
    "$sdk"/core/*.c "$sdk"/core/sysdep/*.c "$sdk"/core/utils/*.c "$sdk"/components/ota/*.c \
    "$sdk/portfiles/aiot_port/posix_port.c" "$sdk/external/ali_ca_cert.c" "$tmp/mbedtls_stub.c" "$@" -o "$out" \
    -Wl,-Bstatic -lmbedtls -lmbedx509 -lmbedcrypto -Wl,-Bdynamic -lpthread
}
bin=$tmp/upstream_mqtt_bench
build "$bin" bench/mqtt_bench.c
if ((build_only)); then
  dir=${2:?DIR missing}
  mkdir -p "$dir"
  cp "$bin" "$dir/"
  build "$dir/upstream_ota_bench" c_demos/demo_common.c bench/ota_bench.c
  build "$dir/upstream_fota_threads_demo" c_demos/demo_common.c c_demos/ota/fota_threads_demo.c
  exit 0
fi
export PATH="/usr/sbin:$PATH"
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j2 --target mqtt_bench >/dev/null
scripts/mqtt-bench.sh upstream="$bin" aiot=build/mqtt_bench
