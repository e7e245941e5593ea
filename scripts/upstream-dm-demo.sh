#!/usr/bin/env bash
# Runs upstream Link SDK C's own data_model_basic_demo.c (bring your copy; nothing of it is in
# this repository) against libaiot and the local platform:
#
#   scripts/upstream-dm-demo.sh /path/to/LinkSDK/demos/data_model_basic_demo.c [SECONDS]
#
# Only what a user edits anyway is changed in a temporary copy: the device triple (also in
# the demo's batch/post_reply subscription, which is written with the placeholders), the host
# ("localhost") and the port (the platform's TLS port). ali_ca_cert is replaced by the
# platform's test CA from a separate file. The demo never exits (a property post every 5 s),
# so it runs for a bounded time under `aiot-platform exec`; then the platform's record of the
# device's uplinks is printed, and the log is judged: at least two property posts, each
# answered by a generic reply with code 200 and "success" whose id is that of a post the
# platform recorded, and no failed send.
set -euo pipefail
demo=${1:?usage: scripts/upstream-dm-demo.sh DATA_MODEL_BASIC_DEMO.c [SECONDS]}
secs=${2:-13}
. "$(dirname "$0")/lib/upstream-demo-common.sh"
demo_tmp

sed -e 's/\${YourProductKey}/a1TestPK001/g' \
    -e 's/\${YourDeviceName}/device1/g' \
    -e 's/\${YourDeviceSecret}/s3cr3tDeviceSecretForTests0001/g' \
    -e 's/"\${YourInstanceId}.mqtt.iothub.aliyuncs.com"/"localhost"/' \
    -e 's/uint16_t\( *\)port = 443;/uint16_t\1port = (uint16_t)atoi(getenv("AIOT_TLS_PORT"));/' \
    "$demo" > "$tmp/demo.c"
write_ca_loader "$tmp/local_settings.c"
build_demo "$tmp/demo.c" "$tmp/local_settings.c" "$tmp/demo"
# The demo runs for $secs seconds, then the platform lists what the device posted.
"$lib/aiot-platform" exec --timeout $((secs + 30)) -- sh -c '
  stdbuf -oL "$1" & pid=$!
  sleep "$2"; kill "$pid"; wait "$pid" 2>/dev/null
  echo "== the platform recorded:"
  "$AIOT_PLATFORM" dm show --state-dir "$AIOT_STATE_DIR"' sh "$tmp/demo" "$secs" > "$tmp/log" 2>&1 || true
cat "$tmp/log"
ok=1
replies=$(grep -a -o -E 'demo_dm_recv_generic_reply msg_id = [0-9]+, code = 200, data = \{\}, message = success' "$tmp/log" \
  | sed -E 's/.*msg_id = ([0-9]+),.*/\1/' || true)
n=$(printf '%s\n' "$replies" | grep -c . || true)
[ "$n" -ge 2 ] || { echo "MISSING: at least 2 property post replies with code 200 (got $n)"; ok=0; }
for id in $replies; do
  grep -a -q -E "thing/event/property/post\".*\\\\\"id\\\\\":\\\\\"$id\\\\\"" "$tmp/log" \
    || { echo "MISSING: the platform's record of post id $id"; ok=0; }
done
grep -a -q 'LK-0A08\] DM recv generic reply' "$tmp/log" || { echo "MISSING: LK-0A08 DM recv generic reply"; ok=0; }
if grep -a -q -E 'aiot_dm_send failed|aiot_mqtt_connect failed' "$tmp/log"; then echo "UNEXPECTED: a failed call"; ok=0; fi
[ "$ok" = 1 ] && echo "upstream data-model demo: $n property posts answered (ids $(echo $replies)) against libaiot" \
  || { echo "upstream data-model demo: FAILED"; exit 1; }
