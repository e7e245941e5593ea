#!/usr/bin/env bash
# Runs upstream Link SDK C's own devinfo_posix_demo.c (bring your copy; nothing of it is in this
# repository) against libaiot and the local platform:
#
#   scripts/upstream-devinfo-demo.sh /path/to/LinkSDK/demos/devinfo_posix_demo.c [SECONDS]
#
# Only what a user edits anyway is changed in a temporary copy: the device triple, the host
# ("localhost") and the port (the platform's TLS port); ali_ca_cert is replaced by the
# platform's test CA from a separate file. Upstream's demo connects, sets the MQTT handle on
# its devinfo handle (which subscribes to get_reply: the demo's default handler prints the
# SUBACK) and then sleeps forever; its get/delete/update examples are commented out. So once
# the SUBACK is printed, the platform publishes what it answers to such requests: an
# update_reply (reaching the demo without a SUBSCRIBE, through the SDK's topic handler), a
# get_reply (only through the demo's SUBSCRIBE) and a reply without `message` (upstream's
# contract: INVALID_RESPONSE). The demo must print both replies and the event. The run is
# bounded by SECONDS (default 30) and the demo is stopped when all three have been printed.
set -euo pipefail
demo=${1:?usage: scripts/upstream-devinfo-demo.sh DEVINFO_POSIX_DEMO.c [SECONDS]}
secs=${2:-30}
. "$(dirname "$0")/lib/upstream-demo-common.sh"
demo_tmp 'aiot_devinfo_init' devinfo_posix_demo.c

write_ca_loader "$tmp/local_settings.c"
device_settings 443 "$demo" > "$tmp/demo.c"
require_edits "$tmp/demo.c" 'a1TestPK001' 'getenv("AIOT_TLS_PORT")' '"localhost"'
build_demo "$tmp/demo.c" "$tmp/local_settings.c" "$tmp/demo"

write_waiting_runner "$tmp/run.sh" <<'RUN'
pk=$4 dn=$5
reply() { # LEAF PAYLOAD
  "$AIOT_PLATFORM" dm publish --state-dir "$AIOT_STATE_DIR" \
    --topic "/sys/$pk/$dn/thing/deviceinfo/$1" --payload "$2"
}
ok=0
if wait_for "suback, res: -0x0000"; then
  reply update_reply '{"id":"41","code":200,"message":"success","data":{}}' &&
  wait_for "msg id: 41" &&
  reply get_reply '{"id":"42","code":200,"message":"success","data":[{"attrKey":"testKey","attrValue":"testValue"}]}' &&
  wait_for "msg id: 42" &&
  reply delete_reply '{"id":"43","code":200,"data":{}}' &&
  wait_for AIOT_DEVINFOEVT_INVALID_RESPONSE && ok=1
fi
RUN
echo "== upstream devinfo_posix_demo.c against libaiot"
status=0
"$lib/aiot-platform" exec --timeout $((secs + 10)) -- "$tmp/run.sh" "$tmp/log" "$tmp/demo" "$secs" "$pk" "$dn" \
  || status=$?
strip_cr "$tmp/log"; cat "$tmp/log"
ok=1
[ "$status" = 0 ] || { echo "the run failed (status $status)"; ok=0; }
grep -a -q -E '^suback, res: -0x0000, packet id: [1-9][0-9]*, max qos: 0$' "$tmp/log" \
  || { echo "MISSING: the SUBACK of the get_reply subscription"; ok=0; }
grep -a -q -F "sub: /sys/$pk/$dn/thing/deviceinfo/get_reply" "$tmp/log" \
  || { echo "MISSING: the SUBSCRIBE to get_reply"; ok=0; }
grep -a -q -F "pk: $pk, dn: $dn, code: 200, msg id: 41, data: {}, message: success" "$tmp/log" \
  || { echo "MISSING: the update reply"; ok=0; }
grep -a -q -F "pk: $pk, dn: $dn, code: 200, msg id: 42, data: [{\"attrKey\":\"testKey\",\"attrValue\":\"testValue\"}], message: success" "$tmp/log" \
  || { echo "MISSING: the get reply"; ok=0; }
n=$(grep -a -c -F 'AIOT_DEVINFOEVT_' "$tmp/log" || true)
[ "$n" = 1 ] || { echo "want exactly one event (the reply without message), got $n"; ok=0; }
n=$(grep -a -c -F 'sub: ' "$tmp/log" || true)
[ "$n" = 1 ] || { echo "want exactly one SUBSCRIBE (get_reply), got $n"; ok=0; }
[ "$ok" = 1 ] && echo "upstream devinfo demo: SUBSCRIBE acknowledged, replies and the event printed" \
  || { echo "upstream devinfo demo: FAILED"; exit 1; }
