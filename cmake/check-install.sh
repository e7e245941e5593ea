#!/bin/sh
# CTest "install_pkgconfig": installs the build tree to a temporary prefix, then checks that
# an out-of-tree consumer
#   1. compiles and links with `pkg-config --cflags --libs aiot` and connects to the local
#      broker (run under `aiot-platform exec`), and
#   2. configures and builds with find_package(aiot) + aiot::aiot (and aiot::aiot_static),
#      and connects as well.
#
# A component's header is installed exactly when the component is built (AIOT_WITH_<NAME> in
# the build's CMakeCache.txt), and the consumer then compiles with it: NTP is called, the data
# model's aiot_dm_init is linked.
#
# usage: check-install.sh BUILD_DIR AIOT_PLATFORM [CMAKE [C_COMPILER [LIBDIR]]]
set -eu

build_dir=$1
platform=$2
cmake=${3:-cmake}
cc=${4:-cc}
libdir=${5:-lib}
with_dm=OFF
grep -q '^AIOT_WITH_DM:BOOL=\(ON\|TRUE\|1\)$' "$build_dir/CMakeCache.txt" && with_dm=ON

for f in "$platform" "$build_dir/CMakeCache.txt"; do
    [ -e "$f" ] || { echo "check-install: missing $f" >&2; exit 1; }
done
command -v pkg-config >/dev/null 2>&1 || { echo "check-install: pkg-config not found" >&2; exit 1; }

tmp=$(mktemp -d "${TMPDIR:-/tmp}/aiot-install-check.XXXXXX")
trap 'rm -rf "$tmp"' EXIT INT TERM
prefix="$tmp/prefix"

echo "== cmake --install $build_dir --prefix $prefix"
"$cmake" --install "$build_dir" --prefix "$prefix" >"$tmp/install.log" 2>&1 || { cat "$tmp/install.log"; exit 1; }

for f in include/aiot_state_api.h include/aiot_sysdep_api.h include/aiot_mqtt_api.h \
         "$libdir/libaiot.so" "$libdir/libaiot.a" "$libdir/pkgconfig/aiot.pc" \
         "$libdir/cmake/aiot/aiotConfig.cmake" "$libdir/cmake/aiot/aiotConfigVersion.cmake"; do
    [ -e "$prefix/$f" ] || { echo "check-install: $f was not installed" >&2; exit 1; }
done

# A component's header is installed exactly when the component is built; the consumer then
# uses it too (compiled with -DAIOT_CHECK_NTP).
ntp_flags=""
if grep -q '^AIOT_WITH_NTP:BOOL=\(ON\|TRUE\|1\)$' "$build_dir/CMakeCache.txt"; then
    [ -e "$prefix/include/aiot_ntp_api.h" ] || { echo "check-install: aiot_ntp_api.h was not installed" >&2; exit 1; }
    ntp_flags="-DAIOT_CHECK_NTP"
elif [ -e "$prefix/include/aiot_ntp_api.h" ]; then
    echo "check-install: aiot_ntp_api.h installed without the NTP component" >&2; exit 1
fi

# A component's header is installed exactly when the component is built.
if grep -q '^AIOT_WITH_DYNREGMQ:BOOL=ON$' "$build_dir/CMakeCache.txt"; then
    [ -e "$prefix/include/aiot_dynregmq_api.h" ] || { echo "check-install: aiot_dynregmq_api.h was not installed" >&2; exit 1; }
elif [ -e "$prefix/include/aiot_dynregmq_api.h" ]; then
    echo "check-install: aiot_dynregmq_api.h installed without the component" >&2; exit 1
fi

if grep -q '^AIOT_WITH_DYNREG:BOOL=ON$' "$build_dir/CMakeCache.txt"; then
    [ -e "$prefix/include/aiot_dynreg_api.h" ] || { echo "check-install: aiot_dynreg_api.h was not installed" >&2; exit 1; }
elif [ -e "$prefix/include/aiot_dynreg_api.h" ]; then
    echo "check-install: aiot_dynreg_api.h installed without the component" >&2; exit 1
fi

if grep -q '^AIOT_WITH_BOOTSTRAP:BOOL=ON$' "$build_dir/CMakeCache.txt"; then
    [ -e "$prefix/include/aiot_bootstrap_api.h" ] || { echo "check-install: aiot_bootstrap_api.h was not installed" >&2; exit 1; }
elif [ -e "$prefix/include/aiot_bootstrap_api.h" ]; then
    echo "check-install: aiot_bootstrap_api.h installed without the component" >&2; exit 1
fi

if grep -q '^AIOT_WITH_HTTP:BOOL=ON$' "$build_dir/CMakeCache.txt"; then
    [ -e "$prefix/include/aiot_http_api.h" ] || { echo "check-install: aiot_http_api.h was not installed" >&2; exit 1; }
elif [ -e "$prefix/include/aiot_http_api.h" ]; then
    echo "check-install: aiot_http_api.h installed without the component" >&2; exit 1
fi

if grep -q '^AIOT_WITH_TASK:BOOL=ON$' "$build_dir/CMakeCache.txt"; then
    [ -e "$prefix/include/aiot_task_api.h" ] || { echo "check-install: aiot_task_api.h was not installed" >&2; exit 1; }
elif [ -e "$prefix/include/aiot_task_api.h" ]; then
    echo "check-install: aiot_task_api.h installed without the component" >&2; exit 1
fi

# The consumer: connects over plain TCP with the device from the environment, exits 0 on
# success.
mkdir -p "$tmp/app"
cat >"$tmp/app/main.c" <<'CSRC'
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "aiot_state_api.h"
#include "aiot_sysdep_api.h"
#include "aiot_mqtt_api.h"
#ifdef AIOT_CHECK_NTP
#include "aiot_ntp_api.h"
#endif
/* COMPONENT INCLUDES */

extern aiot_sysdep_portfile_t g_aiot_sysdep_portfile;

static int connected;

static void on_event(void *handle, const aiot_mqtt_event_t *event, void *userdata)
{
    (void)handle;
    (void)userdata;
    if (event->type == AIOT_MQTTEVT_CONNECT) {
        connected = 1;
    }
}

static const char *need(const char *name)
{
    const char *v = getenv(name);
    if (v == NULL || *v == '\0') {
        fprintf(stderr, "missing %s\n", name);
        exit(2);
    }
    return v;
}

int main(void)
{
    uint16_t port = (uint16_t)atoi(need("AIOT_PORT"));
    void *mqtt;
    int32_t rc;

    /* COMPONENT USES */
    aiot_sysdep_set_portfile(&g_aiot_sysdep_portfile);
    mqtt = aiot_mqtt_init();
    if (mqtt == NULL) {
        fprintf(stderr, "aiot_mqtt_init failed\n");
        return 1;
    }
    aiot_mqtt_setopt(mqtt, AIOT_MQTTOPT_HOST, (void *)need("AIOT_HOST"));
    aiot_mqtt_setopt(mqtt, AIOT_MQTTOPT_PORT, &port);
    aiot_mqtt_setopt(mqtt, AIOT_MQTTOPT_PRODUCT_KEY, (void *)need("AIOT_PRODUCT_KEY"));
    aiot_mqtt_setopt(mqtt, AIOT_MQTTOPT_DEVICE_NAME, (void *)need("AIOT_DEVICE_NAME"));
    aiot_mqtt_setopt(mqtt, AIOT_MQTTOPT_DEVICE_SECRET, (void *)need("AIOT_DEVICE_SECRET"));
    aiot_mqtt_setopt(mqtt, AIOT_MQTTOPT_EVENT_HANDLER, (void *)on_event);
    rc = aiot_mqtt_connect(mqtt);
    printf("aiot_mqtt_connect: %d, CONNECT event: %d\n", (int)rc, connected);
    if (rc != 0 || !connected) {
        return 1;
    }
#ifdef AIOT_CHECK_NTP
    {
        void *ntp = aiot_ntp_init();
        int8_t zone = 8;
        if (ntp == NULL || aiot_ntp_setopt(ntp, AIOT_NTPOPT_MQTT_HANDLE, mqtt) != 0
            || aiot_ntp_setopt(ntp, AIOT_NTPOPT_TIME_ZONE, &zone) != 0
            || aiot_ntp_send_request(ntp) != 0 || aiot_ntp_deinit(&ntp) != 0 || ntp != NULL) {
            printf("NTP calls failed\n");
            return 1;
        }
        printf("NTP handle: init, setopt, send_request, deinit OK\n");
    }
#endif
    if (aiot_mqtt_disconnect(mqtt) != 0 || aiot_mqtt_deinit(&mqtt) != 0) {
        return 1;
    }
    return 0;
}
CSRC

case "$with_dm" in
  ON|on|1|TRUE|true)
    [ -e "$prefix/include/aiot_dm_api.h" ] || { echo "check-install: aiot_dm_api.h was not installed" >&2; exit 1; }
    dm_include='#include "aiot_dm_api.h"'
    dm_use='void *(*volatile dm_init)(void) = aiot_dm_init; if (dm_init == NULL) { return 1; }' ;;
  *)
    [ ! -e "$prefix/include/aiot_dm_api.h" ] || { echo "check-install: aiot_dm_api.h installed without the data model" >&2; exit 1; }
    dm_include=''
    dm_use='' ;;
esac
sed -i -e "s|^/\* COMPONENT INCLUDES \*/\$|$dm_include|" -e "s|^    /\* COMPONENT USES \*/\$|    $dm_use|" "$tmp/app/main.c"

echo "== pkg-config consumer"
export PKG_CONFIG_PATH="$prefix/$libdir/pkgconfig"
flags=$(pkg-config --cflags --libs aiot)
echo "pkg-config --cflags --libs aiot: $flags"
pkg-config --modversion aiot
# shellcheck disable=SC2086
"$cc" -std=c99 -Wall -Wextra -Werror $ntp_flags -o "$tmp/app/app_pkgconfig" "$tmp/app/main.c" $flags \
    -Wl,-rpath,"$prefix/$libdir"
"$platform" exec --timeout 60 -- "$tmp/app/app_pkgconfig"

echo "== find_package(aiot) consumer"
mkdir -p "$tmp/cmake_app"
cp "$tmp/app/main.c" "$tmp/cmake_app/main.c"
cat >"$tmp/cmake_app/CMakeLists.txt" <<'CMAKESRC'
cmake_minimum_required(VERSION 3.16)
project(aiot_consumer LANGUAGES C)
find_package(aiot 4.2 REQUIRED)
add_executable(x main.c)
target_link_libraries(x aiot::aiot)
add_executable(x_static main.c)
target_link_libraries(x_static aiot::aiot_static)
CMAKESRC
"$cmake" -S "$tmp/cmake_app" -B "$tmp/cmake_app/build" -DCMAKE_PREFIX_PATH="$prefix" \
    -DCMAKE_C_COMPILER="$cc" -DCMAKE_BUILD_TYPE=Release -DCMAKE_C_FLAGS="$ntp_flags" \
    >"$tmp/configure.log" 2>&1 \
    || { cat "$tmp/configure.log"; exit 1; }
"$cmake" --build "$tmp/cmake_app/build" >"$tmp/build.log" 2>&1 || { cat "$tmp/build.log"; exit 1; }
"$platform" exec --timeout 60 -- "$tmp/cmake_app/build/x"
"$platform" exec --timeout 60 -- "$tmp/cmake_app/build/x_static"

echo "check-install: OK"
