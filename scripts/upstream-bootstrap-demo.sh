#!/usr/bin/env bash
# Runs upstream Link SDK C's own bootstrap_posix_demo.c (bring your copy; nothing of it is in
# this repository, e.g. LinkSDK/demos/ of the 2023 snapshot) against libaiot and the local
# platform:
#
#   scripts/upstream-bootstrap-demo.sh /path/to/LinkSDK/demos/bootstrap_posix_demo.c [SECONDS]
#
# Only what a user sets is changed in a temporary copy: the device triple, and the bootstrap
# service's host and port (the demo keeps the global endpoint iot-auth-global.aliyuncs.com:443
# by default; two setopt lines after its USERDATA setopt point it at the platform's HTTPS
# endpoint instead). ali_ca_cert is the platform's test CA, from a separate file. The demo asks
# the service, prints "status code: 200" and "host: <h>, port: <p>", connects MQTT there and
# then sleeps forever: it runs SECONDS (default 8) under `timeout`, and 3 s in, `aiot-platform
# prov notify --cmd 3` pushes the bootstrap notify, whose reply the CLI must get. The log is
# judged: the POST went out, status 200, the platform's MQTT TLS endpoint, the MQTT connect,
# the notify with cmd 3, no SUBSCRIBE, no bootstrap event.
set -euo pipefail
demo=${1:?usage: scripts/upstream-bootstrap-demo.sh BOOTSTRAP_POSIX_DEMO.c [SECONDS]}
secs=${2:-8}
. "$(dirname "$0")/lib/upstream-demo-common.sh"
demo_tmp 'aiot_bootstrap_send_request' bootstrap_posix_demo.c

write_ca_loader "$tmp/local_settings.c"

# The user's settings: device triple; the service's host and port (inserted after USERDATA).
sed -E -e "s/(char \*product_key *= *)\"[^\"]*\"/\1\"$pk\"/" \
    -e "s/(char \*device_name *= *)\"[^\"]*\"/\1\"$dn\"/" \
    -e 's/(char \*device_secret *= *)"[^"]*"/\1"s3cr3tDeviceSecretForTests0001"/' \
    -e '/AIOT_BOOTSTRAPOPT_USERDATA, \(void \*\)&demo_info\);/a\
    aiot_bootstrap_setopt(bootstrap_handle, AIOT_BOOTSTRAPOPT_HOST, (void *)getenv("AIOT_AUTH_HOST"));\
    { uint16_t auth_port = (uint16_t)atoi(getenv("AIOT_AUTH_PORT")); aiot_bootstrap_setopt(bootstrap_handle, AIOT_BOOTSTRAPOPT_PORT, \&auth_port); }' \
    "$demo" > "$tmp/demo.c"
require_edits "$tmp/demo.c" "\"$pk\"" "\"$dn\"" 's3cr3tDeviceSecretForTests0001' 'AIOT_BOOTSTRAPOPT_HOST' 'AIOT_BOOTSTRAPOPT_PORT'
build_demo "$tmp/demo.c" "$tmp/local_settings.c" "$tmp/demo"

echo "== upstream bootstrap_posix_demo.c for $pk/$dn, ${secs} s, notify after 3 s"
# The demo never exits: `timeout` ends it; the log decides.
"$lib/aiot-platform" exec --timeout $((secs + 30)) -- sh -c '
  timeout '"$secs"' stdbuf -oL "$1" > "$2/log" 2>&1 &
  sleep 3
  "$AIOT_PLATFORM" prov notify --state-dir "$AIOT_STATE_DIR" --device '"$pk/$dn"' --cmd 3 > "$2/notify" 2>&1
  echo "notify exit $?" >> "$2/notify"
  echo "AIOT_TLS_PORT=$AIOT_TLS_PORT" > "$2/env"
  wait' sh "$tmp/demo" "$tmp" || true
tr -d "\r" < "$tmp/log" > "$tmp/log.txt"
cat "$tmp/log.txt"
echo "== aiot-platform prov notify:"
cat "$tmp/notify"
. "$tmp/env"
ok=1
want() { grep -a -q -E "$1" "$tmp/log.txt" || { echo "MISSING: $1"; ok=0; }; }
want '\[LK-040B\] > POST /auth/bootstrap HTTP/1\.1$'
want '^status code: 200$'
want "^host: localhost, port: $AIOT_TLS_PORT\$"
want '^AIOT_MQTTEVT_CONNECT$'
want '^AIOT_BOOTSTRAPRECV_NOTIFY, cmd: 3$'
want "pub: /sys/$pk/$dn/thing/bootstrap/notify_reply"
grep -q '^notify exit 0$' "$tmp/notify" || { echo "MISSING: the platform got no notify_reply"; ok=0; }
grep -q '"code":200' "$tmp/notify" || { echo "MISSING: code 200 in the notify_reply"; ok=0; }
if grep -a -q 'sub: ' "$tmp/log.txt"; then echo "UNEXPECTED: the demo subscribed"; ok=0; fi
if grep -a -q 'AIOT_BOOTSTRAPEVT_' "$tmp/log.txt"; then echo "UNEXPECTED: a bootstrap event"; ok=0; fi
[ "$ok" = 1 ] && echo "upstream bootstrap demo: endpoint, MQTT connect and notify reply against libaiot" \
  || { echo "upstream bootstrap demo: FAILED"; exit 1; }
