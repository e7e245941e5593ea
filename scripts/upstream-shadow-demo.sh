#!/usr/bin/env bash
# Runs upstream Link SDK C's own shadow_basic_demo.c (bring your copy; nothing of it is in this
# repository) against libaiot and the local platform:
#
#   scripts/upstream-shadow-demo.sh /path/to/LinkSDK/demos/shadow_basic_demo.c [SECONDS]
#
# Only what a user edits anyway is changed in a temporary copy: the device triple, the host
# ("localhost") and the port (the platform's TLS port); ali_ca_cert is replaced by the
# platform's test CA from a separate file. Upstream's demo sends nothing (its send examples are
# commented out) and loops forever: it only receives what the cloud pushes. So, once it is
# connected, the cloud changes the shadow twice (`aiot-platform shadow control`: a desired value
# set, then removed), and the demo must print both control messages (type 1) with versions 1
# and 2, for its own device, having never subscribed. The run is bounded by SECONDS (default
# 30) and the demo is stopped when both have arrived.
set -euo pipefail
demo=${1:?usage: scripts/upstream-shadow-demo.sh SHADOW_BASIC_DEMO.c [SECONDS]}
secs=${2:-30}
root="$(cd "$(dirname "$0")/.." && pwd)"
export PATH="/usr/sbin:$PATH"
lib="$root/build/cargo/release"
[ -f "$lib/libaiot.so" ] || { echo "build first: cmake -S . -B build && cmake --build build"; exit 2; }
grep -q 'aiot_shadow_init' "$demo" || { echo "$demo is not upstream's shadow_basic_demo.c"; exit 2; }
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
pk=a1TestPK001 dn=device1

cat > "$tmp/local_settings.c" <<'CSRC'
/* The platform's test CA, read before main(). */
#include <stdio.h>
#include <stdlib.h>
const char *ali_ca_cert;
static char pem[65536];
__attribute__((constructor)) static void local_settings(void)
{
    FILE *f = fopen(getenv("AIOT_CA_FILE"), "rb");
    if (f == NULL) {
        perror("AIOT_CA_FILE");
        exit(2);
    }
    pem[fread(pem, 1, sizeof(pem) - 1, f)] = '\0';
    fclose(f);
    ali_ca_cert = pem;
}
CSRC
sed -e "s/\"\${YourProductKey}\"/\"$pk\"/" \
    -e "s/\"\${YourDeviceName}\"/\"$dn\"/" \
    -e 's/"${YourDeviceSecret}"/"s3cr3tDeviceSecretForTests0001"/' \
    -e 's/"${YourInstanceId}.mqtt.iothub.aliyuncs.com"/"localhost"/' \
    -e 's/uint16_t    port = 1883;/uint16_t    port = (uint16_t)atoi(getenv("AIOT_TLS_PORT"));/' \
    "$demo" > "$tmp/demo.c"
for edit in 'a1TestPK001' 'getenv("AIOT_TLS_PORT")' '"localhost"'; do
  grep -q -F "$edit" "$tmp/demo.c" || { echo "could not apply the user setting $edit"; exit 2; }
done
cc -std=gnu99 -include stdlib.h -I"$root/include" "$tmp/demo.c" "$tmp/local_settings.c" \
  -o "$tmp/demo" -L"$lib" -laiot -lpthread -Wl,-rpath,"$lib"

# Inside `exec`: the demo in the background, the cloud's two changes once it is connected, each
# wait bounded; then the demo is stopped.
cat > "$tmp/run.sh" <<'RUN'
#!/usr/bin/env bash
set -u
log=$1 demo=$2 secs=$3
stdbuf -oL "$demo" > "$log" 2>&1 &
pid=$!
wait_for() { # TEXT: up to $secs seconds
  for _ in $(seq $((secs * 10))); do
    grep -a -q -F "$1" "$log" && return 0
    kill -0 "$pid" 2>/dev/null || return 1
    sleep 0.1
  done
  return 1
}
ok=0
if wait_for AIOT_MQTTEVT_CONNECT; then
  "$AIOT_PLATFORM" shadow control --state-dir "$AIOT_STATE_DIR" '{"LightSwitch":1,"color":"red"}' >/dev/null &&
  wait_for "version = 1" &&
  "$AIOT_PLATFORM" shadow control --state-dir "$AIOT_STATE_DIR" '{"color":"null"}' >/dev/null &&
  wait_for "version = 2" && ok=1
fi
kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null
[ "$ok" = 1 ]
RUN
chmod +x "$tmp/run.sh"
echo "== upstream shadow_basic_demo.c against libaiot, two cloud-side changes"
status=0
"$lib/aiot-platform" exec --timeout $((secs + 10)) -- "$tmp/run.sh" "$tmp/log" "$tmp/demo" "$secs" || status=$?
tr -d "\r" < "$tmp/log" > "$tmp/clean"; mv "$tmp/clean" "$tmp/log"; cat "$tmp/log"
ok=1
[ "$status" = 0 ] || { echo "the run failed (status $status)"; ok=0; }
n=$(grep -a -c -F "demo_shadow_recv_handler, type = 1, productKey = $pk, deviceName = $dn" "$tmp/log" || true)
[ "$n" = 2 ] || { echo "MISSING: two control messages for $pk/$dn (got $n)"; ok=0; }
grep -a -q -E '^payload = ".*"desired":\{"LightSwitch":1,"color":"red"\}.*", version = 1$' "$tmp/log" \
  || { echo "MISSING: the first control with the desired values, version 1"; ok=0; }
grep -a -q -E '^payload = ".*"desired":\{"LightSwitch":1\}.*", version = 2$' "$tmp/log" \
  || { echo "MISSING: the second control without color, version 2"; ok=0; }
n=$(grep -a -c -F 'SHADOW recv control message' "$tmp/log" || true)
[ "$n" = 2 ] || { echo "MISSING: two LK-1304 lines (got $n)"; ok=0; }
if grep -a -q 'sub: ' "$tmp/log"; then echo "UNEXPECTED: the demo subscribed"; ok=0; fi
if grep -a -q 'LK-1305' "$tmp/log"; then echo "UNEXPECTED: a refused message"; ok=0; fi
[ "$ok" = 1 ] && echo "upstream shadow demo: both control pushes arrived without a SUBSCRIBE" \
  || { echo "upstream shadow demo: FAILED"; exit 1; }
