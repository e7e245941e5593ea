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
. "$(dirname "$0")/lib/upstream-demo-common.sh"
demo_tmp 'aiot_shadow_init' shadow_basic_demo.c

write_ca_loader "$tmp/local_settings.c"
device_settings 1883 "$demo" > "$tmp/demo.c"
require_edits "$tmp/demo.c" 'a1TestPK001' 'getenv("AIOT_TLS_PORT")' '"localhost"'
build_demo "$tmp/demo.c" "$tmp/local_settings.c" "$tmp/demo"

# Inside `exec`: the demo in the background, the cloud's two changes once it is connected, each
# wait bounded; then the demo is stopped.
write_waiting_runner "$tmp/run.sh" <<'RUN'
ok=0
if wait_for AIOT_MQTTEVT_CONNECT; then
  "$AIOT_PLATFORM" shadow control --state-dir "$AIOT_STATE_DIR" '{"LightSwitch":1,"color":"red"}' >/dev/null &&
  wait_for "version = 1" &&
  "$AIOT_PLATFORM" shadow control --state-dir "$AIOT_STATE_DIR" '{"color":"null"}' >/dev/null &&
  wait_for "version = 2" && ok=1
fi
RUN
echo "== upstream shadow_basic_demo.c against libaiot, two cloud-side changes"
status=0
"$lib/aiot-platform" exec --timeout $((secs + 10)) -- "$tmp/run.sh" "$tmp/log" "$tmp/demo" "$secs" || status=$?
strip_cr "$tmp/log"; cat "$tmp/log"
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
